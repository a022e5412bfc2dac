//! `flowlens replay` of event logs in each format, then the discovery the API shows, checked
//! against an independent computation of the process-mining definitions (pm4py's): traces
//! sorted by time with ties in file order, activity counts, start and end activities,
//! directly-follows counts and mean times, case durations, variants.

use crate::support;

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::process::Command;

use serde_json::{json, Value};
use support::*;

on_both_stores!(
    replayed_logs_give_the_discovery_process_mining_defines,
    a_bad_log_is_refused_with_its_place_and_nothing_is_stored,
    a_log_nobody_modelled_is_mined_as_a_discovered_flow,
    a_log_replayed_through_a_running_server_is_the_same_as_into_its_store,
    discovery_turned_off_and_on_again_is_computed_afresh,
    discovery_is_turned_on_for_a_topic_while_running
);

/// One log row: case, activity, time (ms).
#[derive(Clone, Debug)]
struct Row {
    case: String,
    activity: &'static str,
    at: i64,
}

const BASE: i64 = 1_560_000_000_000; // June 2019: history, far outside any relative range

/// Onboardings with what real logs have: the three checks requested and answered in any order
/// (parallel interleavings), address checks that fail and are redone after a correction (loops),
/// several events at the same millisecond, and some cases cut short (still running).
fn onboardings(cases: usize, seed: u64) -> Vec<Row> {
    let mut rng = fastrand::Rng::with_seed(seed);
    let mut rows = Vec::new();
    for c in 0..cases {
        let case = format!("r-{c}");
        let mut at = BASE + c as i64 * 3_600_000 + rng.i64(0..60_000);
        let mut push = |activity: &'static str, step: i64, rows: &mut Vec<Row>| {
            at += step;
            rows.push(Row { case: case.clone(), activity, at });
        };
        push("RegistrationRequested", 0, &mut rows);
        let mut checks = vec![("AddressCheckRequested", "AddressChecked"), ("CreditCheckRequested", "CreditChecked"), ("CriminalRecordCheckRequested", "CriminalRecordChecked")];
        rng.shuffle(&mut checks);
        for (request, _) in &checks {
            // Often at the same millisecond as the one before.
            push(request, if rng.bool() { 0 } else { rng.i64(1..5_000) }, &mut rows);
        }
        if c % 7 == 3 {
            continue; // still running
        }
        rng.shuffle(&mut checks);
        for (request, answer) in &checks {
            if *answer == "AddressChecked" {
                for _ in 0..[0, 0, 1, 2][rng.usize(0..4)] {
                    push("AddressCheckFailed", rng.i64(1_000..600_000), &mut rows);
                    push("AddressCorrectionRequested", rng.i64(0..3), &mut rows);
                    push("AddressCorrected", rng.i64(60_000..7_200_000), &mut rows);
                    push(request, rng.i64(0..3), &mut rows);
                }
            }
            push(answer, rng.i64(0..900_000), &mut rows);
        }
        push(if c % 5 == 0 { "RegistrationRejected" } else { "CustomerCreated" }, rng.i64(1..120_000), &mut rows);
    }
    rows
}

/// The figures as process mining defines them, computed here from the rows, independently of
/// Flowlens: group by case, sort each case stably by time (ties keep file order), then count.
#[derive(Debug, PartialEq)]
struct Expected {
    cases: u64,
    activities: BTreeMap<String, u64>,
    starts: BTreeMap<String, u64>,
    ends: BTreeMap<String, u64>,
    edges: BTreeMap<(String, String), (u64, f64)>,
    mean_case_ms: f64,
    variants: BTreeMap<Vec<String>, u64>,
}

fn expected(file_order: &[Row]) -> Expected {
    let mut by_case: HashMap<&str, Vec<&Row>> = HashMap::new();
    for r in file_order {
        by_case.entry(&r.case).or_default().push(r);
    }
    let mut e = Expected {
        cases: by_case.len() as u64,
        activities: BTreeMap::new(),
        starts: BTreeMap::new(),
        ends: BTreeMap::new(),
        edges: BTreeMap::new(),
        mean_case_ms: 0.0,
        variants: BTreeMap::new(),
    };
    let mut sums: BTreeMap<(String, String), i64> = BTreeMap::new();
    let mut durations = 0i64;
    for rows in by_case.values_mut() {
        rows.sort_by_key(|r| r.at); // stable
        for r in rows.iter() {
            *e.activities.entry(r.activity.into()).or_default() += 1;
        }
        *e.starts.entry(rows[0].activity.into()).or_default() += 1;
        *e.ends.entry(rows[rows.len() - 1].activity.into()).or_default() += 1;
        for w in rows.windows(2) {
            let key = (w[0].activity.to_string(), w[1].activity.to_string());
            e.edges.entry(key.clone()).or_default().0 += 1;
            *sums.entry(key).or_default() += w[1].at - w[0].at;
        }
        durations += rows[rows.len() - 1].at - rows[0].at;
        *e.variants.entry(rows.iter().map(|r| r.activity.to_string()).collect()).or_default() += 1;
    }
    for (key, (n, mean)) in e.edges.iter_mut() {
        *mean = sums[key] as f64 / *n as f64;
    }
    e.mean_case_ms = durations as f64 / e.cases as f64;
    e
}

fn shown(d: &Value) -> Expected {
    let count = |field: &str| -> BTreeMap<String, u64> {
        d["activities"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|a| a[field].as_u64().unwrap() > 0)
            .map(|a| (a["name"].as_str().unwrap().to_string(), a[field].as_u64().unwrap()))
            .collect()
    };
    Expected {
        cases: d["cases"].as_u64().unwrap(),
        activities: count("count"),
        starts: count("starts"),
        ends: count("ends"),
        edges: d["edges"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| ((e["from"].as_str().unwrap().into(), e["to"].as_str().unwrap().into()), (e["count"].as_u64().unwrap(), e["mean_ms"].as_f64().unwrap())))
            .collect(),
        mean_case_ms: d["case_mean_ms"].as_f64().unwrap(),
        variants: d["variants"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| (v["activities"].as_array().unwrap().iter().map(|a| a.as_str().unwrap().to_string()).collect(), v["count"].as_u64().unwrap()))
            .collect(),
    }
}

/// The value with every fraction rounded to nine significant digits.
fn rounded(v: &Value) -> Value {
    match v {
        Value::Number(n) if n.is_f64() => json!(format!("{:.9e}", n.as_f64().unwrap())),
        Value::Array(a) => Value::Array(a.iter().map(rounded).collect()),
        Value::Object(o) => Value::Object(o.iter().map(|(k, v)| (k.clone(), rounded(v))).collect()),
        other => other.clone(),
    }
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-6 * a.abs().max(1.0)
}

fn assert_matches(got: &Expected, want: &Expected) {
    assert_eq!((got.cases, &got.activities, &got.starts, &got.ends), (want.cases, &want.activities, &want.starts, &want.ends));
    assert_eq!(got.edges.keys().collect::<Vec<_>>(), want.edges.keys().collect::<Vec<_>>(), "the same directly-follows edges");
    for (k, (n, mean)) in &want.edges {
        let (gn, gmean) = got.edges[k];
        assert!(gn == *n && close(gmean, *mean), "edge {k:?}: got {gn} × {gmean} ms, want {n} × {mean} ms");
    }
    assert!(close(got.mean_case_ms, want.mean_case_ms), "mean case duration {} vs {}", got.mean_case_ms, want.mean_case_ms);
    assert_eq!(got.variants, want.variants);
}

/// ISO 8601 in a zone `offset_h` hours east of UTC, written the way the format's tools write it.
fn local(at: i64, offset_h: i64, sep: char, colon: bool) -> String {
    let utc = flowlens_core::Millis(at + offset_h * 3_600_000).to_rfc3339();
    let sign = if offset_h < 0 { '-' } else { '+' };
    let zone = if colon { format!("{sign}{:02}:00", offset_h.abs()) } else { format!("{sign}{:02}00", offset_h.abs()) };
    format!("{}{}", utc.trim_end_matches('Z').replacen('T', &sep.to_string(), 1), zone)
}

/// Writes `rows` as a CSV (times in +02:00 without colon, semicolons), an XES (times in UTC,
/// with a `start` transition before every answer, which the replay leaves out) and JSON lines
/// (epoch ms, zone -05:00 as RFC 3339, with explicit ids): each case wholly in one file.
fn write_logs(dir: &Path, rows: &[Row]) -> Vec<std::path::PathBuf> {
    let mut csv = String::from("case:concept:name;concept:name;time:timestamp;org:resource\n");
    let mut jsonl = String::new();
    let mut traces: Vec<(String, Vec<&Row>)> = Vec::new();
    for r in rows {
        let n: usize = r.case[2..].parse().unwrap();
        match n % 3 {
            0 => csv.push_str(&format!("{};{};{};clerk {}\n", r.case, r.activity, local(r.at, 2, ' ', false), n % 4)),
            1 => match traces.iter_mut().find(|(c, _)| *c == r.case) {
                Some((_, t)) => t.push(r),
                None => traces.push((r.case.clone(), vec![r])),
            },
            _ => {
                let line = jsonl.lines().count();
                jsonl.push_str(&json!({"id": format!("{:06}", line), "source": "/crm", "type": r.activity, "key": r.case, "time": local(r.at, -5, 'T', true), "data": {"n": n}}).to_string());
                jsonl.push('\n');
            }
        }
    }
    let mut xes = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<log xes.version=\"1849-2016\" xmlns=\"http://www.xes-standard.org/\">\n<global scope=\"event\"><string key=\"lifecycle:transition\" value=\"complete\"/></global>\n");
    for (case, events) in &traces {
        xes.push_str(&format!("<trace><string key=\"concept:name\" value=\"{case}\"/>\n"));
        for r in events {
            if r.activity.ends_with("Checked") {
                xes.push_str(&format!("<event><string key=\"concept:name\" value=\"{}\"/><string key=\"lifecycle:transition\" value=\"start\"/><date key=\"time:timestamp\" value=\"{}\"/></event>\n", r.activity, local(r.at - 1, 0, 'T', true)));
            }
            xes.push_str(&format!("<event><string key=\"concept:name\" value=\"{}\"/><date key=\"time:timestamp\" value=\"{}\"/></event>\n", r.activity, local(r.at, 0, 'T', true)));
        }
        xes.push_str("</trace>\n");
    }
    xes.push_str("</log>\n");
    let files = vec![dir.join("onboarding.csv"), dir.join("onboarding.xes"), dir.join("onboarding.jsonl")];
    std::fs::write(&files[0], csv).unwrap();
    std::fs::write(&files[1], xes).unwrap();
    std::fs::write(&files[2], jsonl).unwrap();
    files
}

fn replay(database_url: &str, files: &[&Path]) -> (bool, String, String) {
    replay_with(database_url, files, &repo().join("flows"))
}

fn replay_with(database_url: &str, files: &[&Path], flows: &Path) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_flowlens"))
        .arg("replay")
        .args(files)
        .args(["--database-url", database_url, "--flows"])
        .arg(flows)
        .output()
        .unwrap();
    (out.status.success(), String::from_utf8_lossy(&out.stdout).into_owned(), String::from_utf8_lossy(&out.stderr).into_owned())
}

async fn replayed_logs_give_the_discovery_process_mining_defines(db: Db) {
    let dir = scratch("replay");
    let s = settings(db, &dir).await;
    let url = s.database_url.clone();
    let rows = onboardings(90, 7);
    let files = write_logs(&dir, &rows);
    let paths: Vec<&Path> = files.iter().map(|f| f.as_path()).collect();
    let (ok, out, err) = replay(&url, &paths);
    assert!(ok, "{out}\n{err}");
    let answers = rows.iter().filter(|r| r.activity.ends_with("Checked") && (r.case[2..].parse::<usize>().unwrap() % 3 == 1)).count();
    assert!(out.contains(&format!("replayed {} events: {} stored", rows.len(), rows.len())), "{out}");
    assert!(out.contains(&format!("{answers} rows left out")), "the XES start transitions: {out}");

    let app = start(s).await;
    let addr = app.local_addr();
    let store = app.store().clone();
    tokio::spawn(app.run());
    let path = "/api/v1/flows/customer-onboarding/discovery?variants=1000";
    let (status, first) = get(addr, path).await;
    assert_eq!(status, 200, "{first}");
    let want = expected(&rows);
    assert_matches(&shown(&first), &want);
    assert_eq!(first["variant_count"].as_u64().unwrap(), want.variants.len() as u64);
    // A window of days: the cases that started in it, as if the log held only those.
    let day = |at: i64| at.div_euclid(86_400_000);
    let second = day(BASE) + 1;
    let starts: HashMap<&str, i64> = rows.iter().fold(HashMap::new(), |mut m, r| {
        let e = m.entry(r.case.as_str()).or_insert(r.at);
        *e = (*e).min(r.at);
        m
    });
    let in_window: Vec<Row> = rows.iter().filter(|r| day(starts[r.case.as_str()]) == second).cloned().collect();
    let date = flowlens_core::Millis(second * 86_400_000).to_rfc3339()[..10].to_string();
    let (status, windowed) = get(addr, &format!("/api/v1/flows/customer-onboarding/discovery?variants=1000&range={date}..{date}")).await;
    assert_eq!(status, 200, "{windowed}");
    assert!(!in_window.is_empty() && in_window.len() < rows.len());
    assert_matches(&shown(&windowed), &expected(&in_window));
    assert_eq!(get(addr, "/api/v1/flows/customer-onboarding/discovery?range=2019-13-01..2019-13-02").await.0, 400);
    // Exported as an event log (XES, CSV) and replayed into an empty store: the same process.
    for ext in ["xes", "csv"] {
        let path = format!("/api/v1/flows/customer-onboarding/events.{ext}");
        let (status, head, log) = exchange(addr, "GET", &path, None, &[("Authorization", &format!("Bearer {TOKEN}"))]).await;
        assert!(status == 200 && head.contains(&format!("customer-onboarding-events.{ext}")), "{status} {head}");
        let file = dir.join(format!("exported.{ext}"));
        std::fs::write(&file, dechunk(&log)).unwrap();
        let again = format!("sqlite://{}", dir.join(format!("again-{ext}.db")).display());
        let (ok, out, err) = replay(&again, &[file.as_path()]);
        assert!(ok && out.contains(&format!("{} stored", rows.len())), "{out}\n{err}");
        let flows = flowlens::startup::load_flows(&repo().join("flows")).unwrap();
        let reread = flowlens_store::Store::open(&again, flows).await.unwrap().discovery("customer-onboarding", 1000, None).await.unwrap();
        let reread = serde_json::to_value(reread).unwrap();
        assert_matches(&shown(&reread), &want);
        // Exactly equal but for the last digit of means, which JSON parsing may round either way.
        assert_eq!(rounded(&reread), rounded(&first), "{ext} round trip");
    }
    // Medians and p95s from the histograms are near the true ones.
    let edge = first["edges"].as_array().unwrap().iter().max_by_key(|e| e["count"].as_u64()).unwrap();
    assert!(edge["median_ms"].is_i64() && edge["p95_ms"].as_i64() >= edge["median_ms"].as_i64(), "{edge}");

    // History shows where it happened: the instances started in 2019.
    let (_, list) = get(addr, "/api/v1/instances?flow=customer-onboarding&limit=500").await;
    let list = list.as_array().unwrap();
    assert_eq!(list.len(), 90);
    assert!(list.iter().all(|i| i["started_at"].as_i64().unwrap() < BASE + 100 * 3_600_000), "{:?}", list[0]);

    // Again: nothing new, nothing changes.
    let (ok, out, err) = replay(&url, &paths);
    assert!(ok && out.contains(&format!("0 stored, {} already stored", rows.len())), "{out}\n{err}");
    assert_eq!(get(addr, path).await.1, first);

    // The JSON lines shuffled (their ids are their own): nothing changes either.
    let jsonl = std::fs::read_to_string(&files[2]).unwrap();
    let mut lines: Vec<&str> = jsonl.lines().collect();
    fastrand::Rng::with_seed(3).shuffle(&mut lines);
    let shuffled = dir.join("shuffled.jsonl");
    std::fs::write(&shuffled, lines.join("\n")).unwrap();
    let (ok, out, err) = replay(&url, &[shuffled.as_path()]);
    assert!(ok && out.contains(" 0 stored"), "{out}\n{err}");
    assert_eq!(get(addr, path).await.1, first);

    // The running sums equal a scan of every stored event.
    store.rebuild_discovery().await.unwrap();
    assert_eq!(get(addr, path).await.1, first);
    // Top 3 variants and the rest as "other".
    let (_, top) = get(addr, "/api/v1/flows/customer-onboarding/discovery?variants=3").await;
    let listed: u64 = top["variants"].as_array().unwrap().iter().map(|v| v["count"].as_u64().unwrap()).sum();
    assert_eq!((top["variants"].as_array().unwrap().len(), listed + top["other_cases"].as_u64().unwrap()), (3, 90));
    assert_eq!(get(addr, "/api/v1/flows/nope/discovery").await.0, 404);

    // History is not acted on: the cases cut short passed their four-hour SLA in 2019, and the flow
    // cancels on breach, but nothing is cancelled and no command goes out for them.
    tokio::time::sleep(std::time::Duration::from_secs(3)).await;
    let (_, running) = get(addr, "/api/v1/instances?flow=customer-onboarding&status=running&limit=500").await;
    assert_eq!(running.as_array().unwrap().len(), (0..90).filter(|c| c % 7 == 3).count(), "the cut-short cases stay running");
    let (_, actions) = get(addr, &format!("/api/v1/instances/{}/actions", running[0]["id"])).await;
    assert_eq!(actions.as_array().unwrap().len(), 0, "{actions}");
}

async fn a_bad_log_is_refused_with_its_place_and_nothing_is_stored(db: Db) {
    let dir = scratch("replay-bad");
    let s = settings(db, &dir).await;
    let url = s.database_url.clone();
    let good = dir.join("good.csv");
    std::fs::write(&good, "case:concept:name,concept:name,time:timestamp\nb-1,RegistrationRequested,2019-06-08T10:00:00Z\n").unwrap();
    let cases: Vec<(&str, &str, &str)> = vec![
        ("bad.csv", "case:concept:name,concept:name,time:timestamp\nb-2,RegistrationRequested,2019-06-08T10:00:00Z\nb-2,CreditCheckRequested,08/06/2019\n", "bad.csv:3: `time:timestamp`: `08/06/2019` is not a time"),
        ("cols.csv", "case,activity,time\nb-3,RegistrationRequested,2019-06-08T10:00:00Z\n", "cols.csv:1: the header has no column `case:concept:name`"),
        ("empty-case.csv", "case:concept:name,concept:name,time:timestamp\n,RegistrationRequested,2019-06-08T10:00:00Z\n", "empty-case.csv:2: `case:concept:name` is empty"),
        ("cut.xes", "<log><trace><string key=\"concept:name\" value=\"b-4\"/>\n<event><string key=\"concept:name\" value=\"RegistrationRequested\"/>", "cut.xes:2: the file ends inside an element"),
        ("bad.jsonl", "{\"type\":\"RegistrationRequested\",\"key\":\"b-5\"}\n{\"type\": 5}\n", "bad.jsonl:2: `type` must be a string"),
        ("log.txt", "whatever", "not an event log Flowlens reads"),
    ];
    for (name, text, why) in &cases {
        let bad = dir.join(name);
        std::fs::write(&bad, text).unwrap();
        let (ok, out, err) = replay(&url, &[good.as_path(), bad.as_path()]);
        assert!(!ok, "{name} was taken: {out}");
        assert!(err.contains(why) && err.contains("nothing was stored"), "{name}: the refusal should say {why:?}: {err}");
        assert_eq!(stored_events(&url).await, 0, "{name}: nothing of the good file either");
    }
    // Events no flow handles are not a problem of the file: they are dead-lettered with the place.
    let unknown = dir.join("unknown.csv");
    std::fs::write(&unknown, "case:concept:name,concept:name,time:timestamp\nb-6,InvoicePaid,2019-06-08T10:00:00Z\n").unwrap();
    let (ok, out, err) = replay(&url, &[good.as_path(), unknown.as_path()]);
    assert!(ok && out.contains("1 stored") && out.contains("1 dead-lettered"), "{out}\n{err}");
    let addr = spawn_app_on(s).await;
    let (_, letters) = get(addr, "/api/v1/dead-letters").await;
    assert_eq!(letters[0]["origin"], "file:unknown.csv:0000000002", "{letters}");
}

async fn spawn_app_on(s: flowlens::config::Settings) -> std::net::SocketAddr {
    let app = start(s).await;
    let addr = app.local_addr();
    tokio::spawn(app.run());
    addr
}

/// A log of a process nobody modelled (the onboardings under other names, in a file of its own):
/// with a discovered flow for its channel, every row is a case's event and the discovery is the
/// same process mining computes; rows of the same types from another file are not taken.
async fn a_log_nobody_modelled_is_mined_as_a_discovered_flow(db: Db) {
    let dir = scratch("replay-mined");
    let mut s = settings(db, &dir).await;
    let flows = dir.join("flows");
    std::fs::create_dir_all(&flows).unwrap();
    for shipped in std::fs::read_dir(repo().join("flows")).unwrap() {
        let shipped = shipped.unwrap().path();
        std::fs::copy(&shipped, flows.join(shipped.file_name().unwrap())).unwrap();
    }
    std::fs::write(flows.join("claims.toml"), "id = \"claims\"\nname = \"Claims (mined)\"\nversion = 1\ncorrelation = { source = \"key\" }\n\n[discover]\nchannel = \"claims.csv\"\n").unwrap();
    s.flows = flows.clone();
    let url = s.database_url.clone();
    let rename = |a: &str| -> &'static str { Box::leak(a.replace("Registration", "Claim").replace("Customer", "Payout").replace("Address", "Document").replace("Credit", "Fraud").replace("CriminalRecord", "Policy").into_boxed_str()) };
    let rows: Vec<Row> = onboardings(60, 11).into_iter().map(|r| Row { activity: rename(r.activity), ..r }).collect();
    let mut csv = String::from("case:concept:name,concept:name,time:timestamp\n");
    for r in &rows {
        csv.push_str(&format!("{},{},{}\n", r.case, r.activity, local(r.at, 1, 'T', true)));
    }
    let claims = dir.join("claims.csv");
    std::fs::write(&claims, &csv).unwrap();
    let elsewhere = dir.join("other.csv");
    std::fs::write(&elsewhere, "case:concept:name,concept:name,time:timestamp\nx-1,ClaimRequested,2019-06-08T10:00:00Z\n").unwrap();
    let (ok, out, err) = replay_with(&url, &[claims.as_path(), elsewhere.as_path()], &flows);
    assert!(ok && out.contains(&format!("{} stored", rows.len())) && out.contains("1 dead-lettered"), "{out}\n{err}");

    let addr = spawn_app_on(s.clone()).await;
    let (status, mined) = get(addr, "/api/v1/flows/claims/discovery?variants=1000").await;
    assert_eq!(status, 200, "{mined}");
    let want = expected(&rows);
    assert_matches(&shown(&mined), &want);
    // Its cases are listed like any instance, none deviating: there is no model to deviate from.
    let (_, list) = get(addr, "/api/v1/instances?flow=claims&limit=500").await;
    assert_eq!(list.as_array().unwrap().len(), 60);
    let (_, deviating) = get(addr, "/api/v1/instances?flow=claims&fits=false").await;
    assert_eq!(deviating.as_array().unwrap().len(), 0, "{deviating}");
    let (status, no_model) = get(addr, "/api/v1/flows/claims/bpmn").await;
    assert!(status == 409 && no_model.to_string().contains("mined, not modelled"), "{status} {no_model}");

    // Save as flow: a model of what the cases did, in BPMN for a modeler and as a flow file...
    let (status, head, bpmn) = exchange(addr, "GET", "/api/v1/flows/claims/mined.bpmn", None, &[("Authorization", &format!("Bearer {TOKEN}"))]).await;
    assert!(status == 200 && head.contains("filename=\"claims.bpmn\"") && bpmn.contains("<bpmn:definitions"), "{status} {head}");
    assert_eq!(bpmn.matches("<bpmn:serviceTask ").count(), want.activities.len(), "a task per activity");
    let (status, saved) = call(addr, "GET", "/api/v1/flows/claims/mined.toml", None).await;
    assert_eq!(status, 200, "{saved}");
    assert!(saved.contains("version = 2"), "{saved}");
    assert_eq!(call(addr, "GET", "/api/v1/flows/claims/mined.toml?hide=101", None).await.0, 400);
    // ...which, put beside the discovered flow, tracks new cases: the most frequent way fits, a
    // way none of the cases went deviates; the mined history stays as it was.
    std::fs::write(flows.join("claims-model.toml"), &saved).unwrap();
    let tracked = spawn_app_on(flowlens::config::Settings { flows: flows.clone(), ..s }).await;
    let (top, _) = want.variants.iter().max_by_key(|(_, n)| **n).unwrap();
    let odd = ["ClaimRequested", "ClaimRejected", "FraudCheckRequested"];
    for (case, trace) in [("new-1", top.iter().map(String::as_str).collect::<Vec<_>>()), ("new-2", odd.to_vec())] {
        let events: Vec<Value> = trace.iter().enumerate().map(|(i, ty)| json!({"type": ty, "key": case, "id": format!("{case}-{i:03}"), "time": flowlens_core::Millis(1_800_000_000_000i64 + i as i64 * 1000).to_rfc3339()})).collect();
        let (status, body) = post(tracked, &json!(events)).await;
        assert_eq!(status, 200, "{body}");
    }
    let (_, fits) = get(tracked, "/api/v1/instances?flow=claims&fits=true&limit=500").await;
    let fits: Vec<&str> = fits.as_array().unwrap().iter().map(|i| i["key"].as_str().unwrap()).collect();
    assert!(fits.contains(&"new-1") && !fits.contains(&"new-2") && fits.len() == 61, "{fits:?}");
    let (_, new) = get(tracked, "/api/v1/instances?flow=claims&key=new-1").await;
    assert_eq!(new[0]["flow_version"], 2, "{new}");
    assert_matches(&shown(&get(tracked, "/api/v1/flows/claims/discovery?variants=1000").await.1), &{
        let mut more = rows.clone();
        let at = |i: usize| 1_800_000_000_000i64 + i as i64 * 1000;
        more.extend(top.iter().enumerate().map(|(i, a)| Row { case: "new-1".into(), activity: Box::leak(a.clone().into_boxed_str()), at: at(i) }));
        more.extend(odd.iter().enumerate().map(|(i, a)| Row { case: "new-2".into(), activity: a, at: at(i) }));
        expected(&more)
    });
}

/// `flowlens replay --server`: the same log through a running server's API stores the same
/// events under the same ids as a replay into its store, checks the whole log first, names the
/// file's channel for discovered flows, and says why when the server refuses.
async fn a_log_replayed_through_a_running_server_is_the_same_as_into_its_store(db: Db) {
    let dir = scratch("replay-remote");
    let mut s = settings(db, &dir).await;
    let claims = "id = \"claims\"\nname = \"Claims\"\nversion = 1\ncorrelation = { source = \"key\" }\n[discover]\nchannel = \"claims.csv\"\n";
    let flows = flows_dir(&dir, &[("customer-onboarding.toml", &onboarding()), ("claims.toml", claims)]);
    s.flows = flows.clone();
    let url = s.database_url.clone();
    let addr = spawn_app_on(s).await;
    let server = format!("http://{addr}");
    let through = |files: Vec<std::path::PathBuf>, token: &'static str| {
        let server = server.clone();
        async move {
            let out = tokio::task::spawn_blocking(move || {
                Command::new(env!("CARGO_BIN_EXE_flowlens")).arg("replay").args(&files).args(["--server", &server, "--token", token]).output().unwrap()
            })
            .await
            .unwrap();
            (out.status.success(), String::from_utf8_lossy(&out.stdout).into_owned(), String::from_utf8_lossy(&out.stderr).into_owned())
        }
    };
    let rows = onboardings(40, 5);
    let files = write_logs(&dir, &rows);
    let claims = dir.join("claims.csv");
    std::fs::write(&claims, "case:concept:name,concept:name,time:timestamp\nk-1,Filed,2019-06-08T10:00:00Z\nk-1,Paid,2019-06-09T10:00:00Z\nk-2,Filed,2019-06-08T11:00:00Z\n").unwrap();
    let mut all = files.clone();
    all.push(claims.clone());

    let (ok, out, err) = through(all.clone(), TOKEN).await;
    assert!(ok && out.contains(&format!("{} stored", rows.len() + 3)), "{out}\n{err}");
    assert_matches(&shown(&get(addr, "/api/v1/flows/customer-onboarding/discovery?variants=1000").await.1), &expected(&rows));
    let (_, mined) = get(addr, "/api/v1/flows/claims/discovery").await;
    assert_eq!((mined["cases"].as_u64(), mined["edges"][0]["from"].as_str()), (Some(2), Some("Filed")), "the file's name is its channel: {mined}");
    // Again, through the server or into its store: the same ids, nothing new.
    let (ok, out, _) = through(all.clone(), TOKEN).await;
    assert!(ok && out.contains(&format!("0 stored, {} already stored", rows.len() + 3)), "{out}");
    let paths: Vec<&Path> = all.iter().map(|f| f.as_path()).collect();
    let (ok, out, err) = replay_with(&url, &paths, &flows);
    assert!(ok && out.contains(&format!("0 stored, {} already stored", rows.len() + 3)), "{out}\n{err}");

    // A log with an event the server cannot take is refused whole, with its place.
    let bad = dir.join("bad.jsonl");
    std::fs::write(&bad, "{\"type\":\"RegistrationRequested\",\"key\":\"z-1\"}\n{\"type\":\"CreditCheckRequested\"}\n").unwrap();
    let (ok, _, err) = through(vec![bad], TOKEN).await;
    assert!(!ok && err.contains("bad.jsonl:2: ") && err.contains("business key") && err.contains("nothing was stored"), "{err}");
    let (_, z) = get(addr, "/api/v1/instances?key=z-1").await;
    assert_eq!(z.as_array().unwrap().len(), 0, "nothing of it stored");
    let (ok, _, err) = through(vec![claims], "flt_wrong").await;
    assert!(!ok && err.contains("the token was not accepted"), "{err}");
}

/// `--discovery false`: ingest keeps no sums and the API says discovery is off; started with it
/// again, the figures are computed afresh from the stored events (none missed meanwhile).
async fn discovery_turned_off_and_on_again_is_computed_afresh(db: Db) {
    let dir = scratch("no-discovery");
    let mut s = settings(db, &dir).await;
    s.discovery = false;
    let off = spawn_app_on(s.clone()).await;
    let rows = onboardings(12, 9);
    let events: Vec<Value> = rows
        .iter()
        .enumerate()
        .map(|(i, r)| json!({"id": format!("n-{i:05}"), "type": r.activity, "key": r.case, "time": flowlens_core::Millis(r.at).to_rfc3339()}))
        .collect();
    let (status, body) = post(off, &json!(events)).await;
    assert_eq!(status, 200, "{body}");
    let (status, said) = get(off, "/api/v1/flows/customer-onboarding/discovery").await;
    assert!(status == 409 && said.to_string().contains("discovery is turned off"), "{status} {said}");
    let on = spawn_app_on(flowlens::config::Settings { discovery: true, ..s }).await;
    let (status, found) = get(on, "/api/v1/flows/customer-onboarding/discovery?variants=1000").await;
    assert_eq!(status, 200, "{found}");
    assert_matches(&shown(&found), &expected(&rows));
}

/// `POST /api/v1/flows` (the Discovery page's "Mine events nobody modelled"): from the next event
/// on, a topic's unmapped events are a discovered flow's cases; the flow is saved in the flows
/// directory, so a restart keeps it; what could not be tracked is refused with the reason.
async fn discovery_is_turned_on_for_a_topic_while_running(db: Db) {
    let dir = scratch("turn-on");
    let mut s = settings(db, &dir).await;
    let flows = flows_dir(&dir, &[("customer-onboarding.toml", &onboarding())]);
    s.flows = flows.clone();
    let addr = spawn_app_on(s.clone()).await;
    let on_payments = |events: Value| async move {
        let (status, text) = call(addr, "POST", "/api/v1/events?channel=payments", Some(events.to_string().as_bytes())).await;
        assert_eq!(status, 200, "{text}");
        serde_json::from_str::<Value>(&text).unwrap()
    };
    let before = on_payments(json!([{"id": "p0", "type": "PaymentTaken", "key": "p-1", "time": "2026-11-01T10:00:00Z"}])).await;
    assert_eq!(before["dead_lettered"].as_array().unwrap().len(), 1, "nobody mines it yet: {before}");

    let add = |body: Value| async move { call(addr, "POST", "/api/v1/flows", Some(body.to_string().as_bytes())).await };
    let (status, text) = add(json!({"id": "payments", "name": "Payments (mined)", "channel": "payments", "key": "key"})).await;
    assert_eq!(status, 201, "{text}");
    assert!(std::fs::read_to_string(flows.join("payments.toml")).unwrap().contains("channel = \"payments\""));
    let (status, text) = add(json!({"id": "payments", "name": "Again", "channel": "other", "key": "key"})).await;
    assert!(status == 409 && text.contains("there is a flow `payments` already"), "{status} {text}");
    let (status, text) = add(json!({"id": "pay-2", "name": "Twice", "channel": "payments", "key": "key"})).await;
    assert!(status == 409 && text.contains("could both take one event"), "{status} {text}");
    let (status, text) = add(json!({"id": "a b", "name": "Spaces", "channel": "x", "key": "key"})).await;
    assert!(status == 400 && text.contains("letters, digits"), "{status} {text}");
    let (status, text) = add(json!({"id": "anything", "name": "Every channel", "key": "key"})).await;
    assert!(status == 409 && text.contains("could both take one event"), "any channel overlaps payments: {status} {text}");
    assert!(!flows.join("anything.toml").exists(), "nothing saved when refused");

    let after = on_payments(json!([
        {"id": "p1", "type": "PaymentTaken", "key": "p-2", "time": "2026-11-01T10:00:00Z"},
        {"id": "p2", "type": "PaymentCaptured", "key": "p-2", "time": "2026-11-01T10:05:00Z"},
    ]))
    .await;
    assert_eq!((after["stored"].as_u64(), after["dead_lettered"].as_array().unwrap().len()), (Some(2), 0), "{after}");
    let (_, mined) = get(addr, "/api/v1/flows/payments/discovery").await;
    assert_eq!((mined["cases"].as_u64(), mined["edges"][0]["to"].as_str()), (Some(1), Some("PaymentCaptured")), "{mined}");
    // Restarted, it is still there (read from the flows directory), and its cases with it.
    let again = spawn_app_on(s).await;
    let (status, kept) = get(again, "/api/v1/flows/payments/discovery").await;
    assert_eq!((status, kept["cases"].as_u64()), (200, Some(1)), "{kept}");
}
