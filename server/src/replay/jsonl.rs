//! JSON lines: one event per line, with CloudEvents names (`type`, `id`, `source`, `key` or
//! `subject`, `time`, `data`), as `POST /api/v1/events` takes them.

use std::io::BufRead;

use serde_json::Value;

use super::Read;

pub fn reader(input: impl BufRead + 'static) -> impl Iterator<Item = Read> {
    let mut lines = input.split(b'\n');
    let mut line = 0u64;
    let mut failed = false;
    std::iter::from_fn(move || loop {
        if failed {
            return None;
        }
        line += 1;
        let bytes = match lines.next()? {
            Ok(b) => b,
            Err(e) => {
                failed = true;
                return Some(Read::Bad { line, problem: format!("cannot be read: {e}") });
            }
        };
        let text = match std::str::from_utf8(&bytes) {
            Ok(t) => t.trim(),
            Err(e) => return Some(Read::Bad { line, problem: format!("not UTF-8 text (invalid byte at offset {})", e.valid_up_to()) }),
        };
        if text.is_empty() {
            continue;
        }
        return Some(match serde_json::from_str::<Value>(text) {
            Ok(value) => Read::Event { line, value },
            Err(e) => Read::Bad { line, problem: format!("not JSON: {e}") },
        });
    })
}

#[cfg(test)]
mod tests {
    use super::super::{defaults, reads_of, Read};

    #[test]
    fn each_line_is_an_event_and_blank_lines_are_nothing() {
        let reads = reads_of("events.jsonl", "{\"type\":\"A\",\"key\":\"k\"}\n\n{\"type\":\n", &defaults());
        assert!(matches!(&reads[0], Read::Event { line: 1, value } if value["type"] == "A"), "{reads:?}");
        assert!(matches!(&reads[1], Read::Bad { line: 3, problem } if problem.starts_with("not JSON")), "{reads:?}");
        assert_eq!(reads.len(), 2);
    }
}
