//! CSV event logs as process-mining tools write them: a header row, one event per row, columns
//! `case:concept:name`, `concept:name`, `time:timestamp` (or others, named by options).

use std::io::BufRead;

use flowlens_core::Millis;
use serde_json::{Map, Value};

use super::{LogOptions, Read};

/// The rows of a CSV log. A header without the case, activity or time column ends it at line 1.
pub fn reader(mut input: impl BufRead + 'static, options: LogOptions) -> impl Iterator<Item = Read> {
    let separator = options.separator.map(|c| c as u8).unwrap_or_else(|| guess_separator(&mut input));
    let mut csv = ::csv::ReaderBuilder::new().delimiter(separator).flexible(true).has_headers(true).from_reader(input);
    let header: Result<Vec<String>, String> = match csv.headers() {
        Ok(h) => Ok(h.iter().map(|c| c.trim_start_matches('\u{feff}').trim().to_string()).collect()),
        Err(e) => Err(format!("the header row cannot be read: {e}")),
    };
    let columns = header.and_then(|h| {
        let find = |name: &str, flag: &str| {
            h.iter().position(|c| c == name).ok_or_else(|| {
                format!("the header has no column `{name}` (it has {}); name the right one with {flag}", h.iter().map(|c| format!("`{c}`")).collect::<Vec<_>>().join(", "))
            })
        };
        Ok((find(&options.case, "--case")?, find(&options.activity, "--activity")?, find(&options.timestamp, "--timestamp")?, h.iter().position(|c| *c == options.lifecycle), h))
    });
    let mut failed = false;
    let mut records = csv.into_records();
    std::iter::from_fn(move || {
        if failed {
            return None;
        }
        let (case, activity, timestamp, lifecycle, header) = match &columns {
            Ok(c) => c,
            Err(problem) => {
                failed = true;
                return Some(Read::Bad { line: 1, problem: problem.clone() });
            }
        };
        let record = match records.next()? {
            Ok(r) => r,
            Err(e) => {
                failed = true;
                let line = e.position().map(|p| p.line()).unwrap_or(0);
                return Some(Read::Bad { line, problem: format!("not CSV: {e}") });
            }
        };
        let line = record.position().map(|p| p.line()).unwrap_or(0);
        let cell = |i: usize| record.get(i).map(str::trim).unwrap_or("");
        let bad = |problem: String| Some(Read::Bad { line, problem });
        for (i, name) in [(*case, &options.case), (*activity, &options.activity), (*timestamp, &options.timestamp)] {
            if cell(i).is_empty() {
                return bad(format!("`{name}` is empty"));
            }
        }
        let time = match Millis::parse_log_time(cell(*timestamp)) {
            Ok(t) => t,
            Err(e) => return bad(format!("`{}`: {e}", options.timestamp)),
        };
        let mut data = Map::new();
        for (i, name) in header.iter().enumerate() {
            if ![*case, *activity, *timestamp].contains(&i) && Some(i) != *lifecycle && !cell(i).is_empty() {
                data.insert(name.clone(), Value::String(cell(i).to_string()));
            }
        }
        Some(match options.event(cell(*activity), cell(*case), time, lifecycle.map(cell), data) {
            Some(value) => Read::Event { line, value },
            None => Read::Skipped { line },
        })
    })
}

/// The separator the header uses most: `,`, `;` or a tab.
fn guess_separator(input: &mut impl BufRead) -> u8 {
    let head = input.fill_buf().unwrap_or_default();
    let first = head.split(|&b| b == b'\n').next().unwrap_or_default();
    [b',', b';', b'\t'].into_iter().max_by_key(|s| first.iter().filter(|b| *b == s).count()).unwrap_or(b',')
}

#[cfg(test)]
mod tests {
    use super::super::{defaults, reads_of, Read};
    use serde_json::json;

    #[test]
    fn rows_become_events_with_the_other_columns_as_data() {
        let log = "case:concept:name;concept:name;time:timestamp;org:resource;lifecycle:transition\n\
                   c1;Register;2024-03-01 10:00:00+01:00;Ann;complete\n\
                   c1;Check;2024-03-01T10:30:00Z;;start\n\
                   \"c;2\";\"Check, twice\";2024-03-01 11:00:00;Bob;\n";
        let reads = reads_of("log.csv", log, &defaults());
        let Read::Event { line: 2, value } = &reads[0] else { panic!("{reads:?}") };
        assert_eq!(value["type"], "Register");
        assert_eq!(value["key"], "c1");
        assert_eq!(value["time"], json!(1_709_283_600_000i64));
        assert_eq!(value["data"], json!({"org:resource": "Ann"}));
        assert!(matches!(reads[1], Read::Skipped { line: 3 }), "{reads:?}");
        let Read::Event { line: 4, value } = &reads[2] else { panic!("{reads:?}") };
        assert_eq!((value["type"].as_str(), value["key"].as_str()), (Some("Check, twice"), Some("c;2")));
    }

    #[test]
    fn other_transitions_become_their_own_types_when_asked() {
        let log = "case:concept:name,concept:name,time:timestamp,lifecycle:transition\nc1,Check,2024-03-01T10:30:00Z,start\n";
        let all = super::super::LogOptions { transitions: "all".into(), ..defaults() };
        let Read::Event { value, .. } = &reads_of("log.csv", log, &all)[0] else { panic!() };
        assert_eq!(value["type"], "Check/start");
    }

    #[test]
    fn problems_name_the_line() {
        let missing = reads_of("log.csv", "case,activity,time\nc1,A,2024-03-01T10:00:00Z\n", &defaults());
        let Read::Bad { line: 1, problem } = &missing[0] else { panic!("{missing:?}") };
        assert!(problem.contains("no column `case:concept:name`") && problem.contains("`case`, `activity`, `time`") && problem.contains("--case"), "{problem}");
        let log = "case:concept:name,concept:name,time:timestamp\nc1,A,2024-03-01T10:00:00Z\nc1,,2024-03-01T10:00:00Z\nc1,B,last tuesday\n";
        let reads = reads_of("log.csv", log, &defaults());
        assert!(matches!(&reads[1], Read::Bad { line: 3, problem } if problem.contains("`concept:name` is empty")), "{reads:?}");
        assert!(matches!(&reads[2], Read::Bad { line: 4, problem } if problem.contains("`last tuesday` is not a time")), "{reads:?}");
    }
}
