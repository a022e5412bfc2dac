//! The `flowlens` command itself: `validate` prints every problem and sets its exit status;
//! `export-bpmn` writes a flow as BPMN.

use std::path::PathBuf;
use std::process::Command;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn flowlens(args: &[&str]) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_flowlens")).args(args).current_dir(repo()).output().unwrap();
    (out.status.success(), String::from_utf8_lossy(&out.stdout).into_owned(), String::from_utf8_lossy(&out.stderr).into_owned())
}

#[test]
fn validate_accepts_the_shipped_flows() {
    let (ok, stdout, stderr) = flowlens(&["validate", "flows/customer-onboarding.toml", "flows/retail-order.bpmn"]);
    assert!(ok, "{stderr}");
    assert!(stdout.contains("flows/customer-onboarding.toml: ok (flow `customer-onboarding` version 1)"), "{stdout}");
    assert!(stdout.contains("flows/retail-order.bpmn: ok (flow `retail-order` version 1)"), "{stdout}");
}

#[test]
fn validate_prints_every_problem_of_every_file_and_fails() {
    let (ok, stdout, stderr) = flowlens(&[
        "validate",
        "core/tests/bad-flows/bad-duration.toml",
        "flows/retail-order.bpmn",
        "core/tests/bad-flows/unknown-edge.toml",
        "no/such/file.toml",
    ]);
    assert!(!ok, "a bad file makes validate fail");
    assert!(stdout.contains("flows/retail-order.bpmn: ok"), "good files are still reported: {stdout}");
    for expected in [
        "core/tests/bad-flows/bad-duration.toml:8:12: instance sla: bad duration",
        "core/tests/bad-flows/bad-duration.toml:20:7: node `work` sla: bad duration",
        "core/tests/bad-flows/unknown-edge.toml:12:18: node `start`: `next` names `chek`",
        "no/such/file.toml: cannot read:",
    ] {
        assert!(stderr.contains(expected), "expected {expected:?} in:\n{stderr}");
    }
}

#[test]
fn export_bpmn_writes_a_file_or_a_flow_by_id_and_says_what_is_missing() {
    let (ok, by_file, stderr) = flowlens(&["export-bpmn", "flows/retail-order.bpmn"]);
    assert!(ok, "{stderr}");
    assert!(by_file.starts_with("<?xml") && by_file.contains("<bpmndi:BPMNDiagram"), "{by_file}");
    let (ok, by_id, _) = flowlens(&["export-bpmn", "retail-order", "--flows", "flows"]);
    assert!(ok);
    assert_eq!(by_id, by_file, "the same flow, found by id");
    let (ok, _, stderr) = flowlens(&["export-bpmn", "no-such-flow", "--flows", "flows"]);
    assert!(!ok);
    assert!(stderr.contains("no-such-flow: no such file, and no flow with this id in flows (there are: customer-onboarding, retail-order)"), "{stderr}");
    let mined = std::env::temp_dir().join(format!("flowlens-mined-{}.toml", std::process::id()));
    std::fs::write(&mined, "id = \"claims\"\nname = \"Claims\"\nversion = 1\ncorrelation = { source = \"key\" }\n[discover]\n").unwrap();
    let (ok, _, stderr) = flowlens(&["export-bpmn", mined.to_str().unwrap()]);
    let _ = std::fs::remove_file(&mined);
    assert!(!ok && stderr.contains("`claims` is mined, not modelled"), "a discovered flow has no model: {stderr}");
    let (ok, _, stderr) = flowlens(&["export-bpmn", "core/tests/bad-flows/unknown-edge.toml"]);
    assert!(!ok, "a bad flow file is refused with its problems");
    assert!(stderr.contains("unknown-edge.toml:12:18"), "{stderr}");
}

#[test]
fn migrate_brings_a_database_to_the_schema_and_says_what_it_ran() {
    let dir = std::env::temp_dir().join(format!("flowlens-migrate-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let url = format!("sqlite://{}", dir.join("m.db").display());
    let (ok, out, err) = flowlens(&["migrate", "--database-url", &url]);
    assert!(ok, "{err}");
    let ran: usize = out.split("ran ").nth(1).and_then(|r| r.split(' ').next()).and_then(|n| n.parse().ok()).unwrap_or(0);
    let shipped = std::fs::read_dir(repo().join("migrations/sqlite")).unwrap().count();
    assert_eq!(ran, shipped, "every migration, once: {out}");
    assert!(out.contains("20261130000014 discovery days"), "{out}");
    let (ok, again, _) = flowlens(&["migrate", "--database-url", &url]);
    assert!(ok && again.contains("up to date"), "{again}");
    let (ok, _, err) = flowlens(&["migrate", "--database-url", "mysql://nowhere/db"]);
    assert!(!ok && err.contains("flowlens migrate: mysql://nowhere/db"), "{err}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn serve_writes_json_logs_when_asked() {
    use std::io::{BufRead, BufReader};
    let dir = std::env::temp_dir().join(format!("flowlens-json-logs-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let url = format!("sqlite://{}", dir.join("j.db").display());
    let mut child = Command::new(env!("CARGO_BIN_EXE_flowlens"))
        .args(["serve", "--port", "0", "--log-format", "json", "--database-url", &url, "--flows", "flows"])
        .arg("--admin-credential-file")
        .arg(dir.join("admin.txt"))
        .current_dir(repo())
        .env("RUST_LOG", "info")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut logged = Vec::new();
    for line in BufReader::new(child.stdout.take().unwrap()).lines() {
        let line = line.unwrap();
        if line.starts_with("Flowlens is listening on") {
            continue; // the address, for scripts: not a log line
        }
        let event: serde_json::Value = serde_json::from_str(&line).unwrap_or_else(|e| panic!("not a JSON log line ({e}): {line}"));
        let ready = event["fields"]["message"] == "ready";
        logged.push(event);
        if ready {
            break;
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    let _ = std::fs::remove_dir_all(&dir);
    let ready = logged.last().expect("log lines");
    assert_eq!((ready["level"].as_str(), ready["target"].as_str()), (Some("INFO"), Some("flowlens::startup")), "{ready}");
    assert!(ready["timestamp"].is_string() && ready["fields"]["store"].as_str().is_some_and(|s| s.starts_with("sqlite://")), "{ready}");
    let (ok, _, err) = flowlens(&["serve", "--log-format", "xml"]);
    assert!(!ok && err.contains("xml") && err.contains("json"), "{err}");
}
