//! The `flowlens` command itself: `validate` prints every problem and sets its exit status;
//! `export-bpmn` writes a flow as BPMN.

use std::path::PathBuf;
use std::process::Command;

use crate::support;

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
        .env("FLOWLENS_ADMIN_PASSWORD", support::ADMIN_PASSWORD)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut logged = Vec::new();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut addr = None;
    for line in lines.by_ref() {
        let line = line.unwrap();
        if let Some(at) = line.strip_prefix("Flowlens is listening on http://") {
            // The address, for scripts: not a log line.
            addr = at.split_whitespace().next().map(str::to_string);
            continue;
        }
        let event: serde_json::Value = serde_json::from_str(&line).unwrap_or_else(|e| panic!("not a JSON log line ({e}): {line}"));
        let ready = event["fields"]["message"] == "ready";
        logged.push(event);
        if ready {
            break;
        }
    }
    // A request's lines carry its span: method and route.
    let addr = addr.expect("the address was printed");
    let form = format!("name=admin&password={}&next=%2F", support::ADMIN_PASSWORD);
    let mut conn = std::net::TcpStream::connect(&addr).unwrap();
    std::io::Write::write_all(
        &mut conn,
        format!("POST /auth/login HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{form}", form.len()).as_bytes(),
    )
    .unwrap();
    let signed_in = lines
        .map(|l| serde_json::from_str::<serde_json::Value>(&l.unwrap()).unwrap())
        .find(|e| e["fields"]["message"] == "signed in")
        .expect("the sign-in is logged");
    let request = signed_in["spans"].as_array().and_then(|s| s.iter().find(|s| s["name"] == "request")).unwrap_or_else(|| panic!("in the request's span: {signed_in}"));
    assert_eq!((request["method"].as_str(), request["route"].as_str()), (Some("POST"), Some("/auth/login")), "{signed_in}");
    let _ = child.kill();
    let _ = child.wait();
    let _ = std::fs::remove_dir_all(&dir);
    let ready = logged.last().expect("log lines");
    assert_eq!((ready["level"].as_str(), ready["target"].as_str()), (Some("INFO"), Some("flowlens::startup")), "{ready}");
    assert!(ready["timestamp"].is_string() && ready["fields"]["store"].as_str().is_some_and(|s| s.starts_with("sqlite://")), "{ready}");
    let (ok, _, err) = flowlens(&["serve", "--log-format", "xml"]);
    assert!(!ok && err.contains("xml") && err.contains("json"), "{err}");
}

/// `flowlens.toml`: a flag beats the environment, which beats the file, which beats the default;
/// secrets come from files and are masked; unknown keys are refused with file and line; `serve`
/// runs with what `config check` shows.
#[test]
fn the_settings_file_ranks_below_flags_and_environment_and_is_checked() {
    let dir = std::env::temp_dir().join(format!("flowlens-config-file-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("kafka-password"), "from-a-secret-file\n").unwrap();
    let file = dir.join("flowlens.toml");
    std::fs::write(
        &file,
        format!(
            "port = 4100\nhost = \"127.0.0.1\"\nlog-format = \"json\"\ndatabase-url = \"postgres://flowlens:db-secret@db.internal/flowlens\"\nflows = \"{flows}\"\n\n[kafka]\nbrokers = \"file-broker:9092\"\ntopics = [\"a\", \"b\"]\ngroup = \"from-file\"\nsasl-mechanism = \"SCRAM-SHA-512\"\nsasl-username = \"flowlens\"\nsasl-password-file = \"{pw}\"\n",
            flows = repo().join("flows").display(),
            pw = dir.join("kafka-password").display()
        ),
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_flowlens"))
        .args(["config", "check", "--config", &file.display().to_string(), "--port", "4200"])
        .env("FLOWLENS_KAFKA_GROUP", "from-env")
        .env_remove("FLOWLENS_PORT")
        .env_remove("DATABASE_URL")
        .output()
        .unwrap();
    let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "{stdout}{stderr}");
    let line = |name: &str| stdout.lines().find(|l| l.trim_start().starts_with(&format!("{name} ="))).unwrap_or_else(|| panic!("{name} in {stdout}")).to_string();
    assert!(line("port").contains("4200") && line("port").contains("(flag)"), "a flag beats the file: {}", line("port"));
    assert!(line("kafka-group").contains("from-env") && line("kafka-group").contains("environment FLOWLENS_KAFKA_GROUP"), "{}", line("kafka-group"));
    assert!(line("kafka-brokers").contains("file-broker:9092") && line("kafka-brokers").contains("flowlens.toml:8"), "the file, with its line: {}", line("kafka-brokers"));
    assert!(line("kafka-topics").contains("a,b"), "{}", line("kafka-topics"));
    assert!(line("demo-interval").contains("(default)"), "{}", line("demo-interval"));
    assert!(line("kafka-sasl-password-file").contains("kafka-password"), "{}", line("kafka-sasl-password-file"));
    assert!(line("database-url").contains("postgres://flowlens:***@db.internal/flowlens"), "{}", line("database-url"));
    assert!(!stdout.contains("db-secret") && !stdout.contains("from-a-secret-file"), "no secret printed: {stdout}");
    assert!(stdout.contains("ok: these settings would start"), "{stdout}");

    // A secret from the environment's *_FILE, and a typo refused with its place.
    std::fs::write(dir.join("bad.toml"), "port = 1\n[kafka]\nbrokres = \"x\"\n").unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_flowlens")).args(["config", "check", "--config", &dir.join("bad.toml").display().to_string()]).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && stderr.contains("bad.toml:3: unknown setting `brokres` in [kafka]"), "{stderr}");

    // serve takes the file too: it listens where the file says, with JSON logs.
    std::fs::write(dir.join("serve.toml"), format!("port = 0\nlog-format = \"json\"\nflows = \"{}\"\ndatabase-url = \"sqlite://{}\"\n", repo().join("flows").display(), dir.join("s.db").display())).unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_flowlens"))
        .args(["serve", "--config", &dir.join("serve.toml").display().to_string()])
        .env("FLOWLENS_ADMIN_PASSWORD_FILE", dir.join("kafka-password"))
        .env_remove("FLOWLENS_ADMIN_PASSWORD")
        .env("RUST_LOG", "info")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    use std::io::BufRead;
    let told = std::io::BufReader::new(child.stdout.take().unwrap()).lines().map(|l| l.unwrap()).find(|l| l.contains("settings read from the file"));
    let _ = child.kill();
    let _ = child.wait();
    let told: serde_json::Value = serde_json::from_str(&told.expect("serve says it read the file")).expect("a JSON log line, as the file asked");
    assert_eq!(told["fields"]["settings"], 5, "port, log format, flows, database URL, and the admin password from FLOWLENS_ADMIN_PASSWORD_FILE: {told}");
    let _ = std::fs::remove_dir_all(&dir);
}
