//! XES (IEEE 1849) event logs, streamed: `<log>` of `<trace>`s of `<event>`s, each with typed
//! attributes (`<string key="concept:name" value="…"/>`, `<date key="time:timestamp" …/>`).
//! Event-scope `<global>` attributes give defaults (often `lifecycle:transition`). A trace's
//! events are held until the trace ends, since its name may come after them.

use std::cell::Cell;
use std::collections::VecDeque;
use std::io::BufRead;
use std::rc::Rc;

use flowlens_core::Millis;
use quick_xml::events::{BytesStart, Event};
use serde_json::{Map, Value};

use super::{LogOptions, Read};

/// Counts the newlines the XML reader has consumed, so problems can name their line.
struct Lines<R> {
    inner: R,
    newlines: Rc<Cell<u64>>,
}

impl<R: BufRead> std::io::Read for Lines<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.newlines.set(self.newlines.get() + buf[..n].iter().filter(|&&b| b == b'\n').count() as u64);
        Ok(n)
    }
}

impl<R: BufRead> BufRead for Lines<R> {
    fn fill_buf(&mut self) -> std::io::Result<&[u8]> {
        self.inner.fill_buf()
    }
    fn consume(&mut self, amt: usize) {
        if let Ok(buf) = self.inner.fill_buf() {
            let n = buf[..amt.min(buf.len())].iter().filter(|&&b| b == b'\n').count() as u64;
            self.newlines.set(self.newlines.get() + n);
        }
        self.inner.consume(amt);
    }
}

/// An event of the trace being read.
struct Pending {
    line: u64,
    attributes: Map<String, Value>,
}

pub struct Reader<R: BufRead> {
    xml: quick_xml::Reader<Lines<R>>,
    newlines: Rc<Cell<u64>>,
    buf: Vec<u8>,
    options: LogOptions,
    out: VecDeque<Read>,
    done: bool,
    /// Where we are: `log`, `global`, `trace`, `event`, plus nested attribute elements.
    stack: Vec<String>,
    /// Event-scope defaults from `<global scope="event">`.
    defaults: Map<String, Value>,
    in_event_global: bool,
    trace: Option<(u64, Option<String>)>,
    events: Vec<Pending>,
}

impl<R: BufRead> Reader<R> {
    pub fn new(input: R, options: LogOptions) -> Reader<R> {
        let newlines = Rc::new(Cell::new(0));
        let xml = quick_xml::Reader::from_reader(Lines { inner: input, newlines: newlines.clone() });
        Reader {
            xml,
            newlines,
            buf: Vec::with_capacity(1024),
            options,
            out: VecDeque::new(),
            done: false,
            stack: Vec::new(),
            defaults: Map::new(),
            in_event_global: false,
            trace: None,
            events: Vec::new(),
        }
    }

    fn fail(&mut self, line: u64, problem: String) {
        self.out.push_back(Read::Bad { line, problem });
        self.done = true;
    }

    /// Reads XML until something is ready to hand out.
    fn advance(&mut self) {
        while self.out.is_empty() && !self.done {
            let line = self.newlines.get() + 1;
            self.buf.clear();
            let event = match self.xml.read_event_into(&mut self.buf) {
                Ok(e) => e.into_owned(),
                Err(e) => {
                    let line = self.newlines.get() + 1;
                    return self.fail(line, format!("not well-formed XML: {e}"));
                }
            };
            match event {
                Event::Start(e) => {
                    self.open(&e, line);
                    self.stack.push(e.local_name().as_ref().to_string());
                }
                Event::Empty(e) => {
                    self.open(&e, line);
                    self.stack.push(e.local_name().as_ref().to_string());
                    self.close();
                }
                Event::End(_) => self.close(),
                Event::Eof => {
                    if self.stack.is_empty() && self.trace.is_none() {
                        self.done = true;
                    } else {
                        self.fail(line, "the file ends inside an element: is it cut short?".into());
                    }
                }
                _ => {}
            }
        }
    }

    fn open(&mut self, e: &BytesStart, line: u64) {
        let name = e.local_name();
        let name = name.as_ref();
        let parent = self.stack.last().map(String::as_str);
        match (parent, name) {
            (None, "log") => {}
            (None, _) => self.fail(line, format!("not an XES log: the root element is <{}>, not <log>", name)),
            (Some("log"), "global") => self.in_event_global = attr(e, "scope").as_deref() == Some("event"),
            (Some("log"), "trace") => self.trace = Some((line, None)),
            (Some("trace"), "event") => self.events.push(Pending { line, attributes: self.defaults.clone() }),
            (Some("global"), _) if self.in_event_global => {
                if let Some((key, value)) = typed(e, name) {
                    self.defaults.insert(key, value);
                }
            }
            (Some("trace"), _) => {
                if let (Some((key, Value::String(v))), Some(trace)) = (typed(e, name), self.trace.as_mut()) {
                    if key == "concept:name" {
                        trace.1 = Some(v);
                    }
                }
            }
            (Some("event"), _) => {
                if let (Some((key, value)), Some(event)) = (typed(e, name), self.events.last_mut()) {
                    event.attributes.insert(key, value);
                }
            }
            // Log attributes, extensions, classifiers, nested attributes: not needed to track.
            _ => {}
        }
    }

    fn close(&mut self) {
        let Some(name) = self.stack.pop() else { return };
        match name.as_str() {
            "global" => self.in_event_global = false,
            "trace" => self.end_trace(),
            _ => {}
        }
    }

    fn end_trace(&mut self) {
        let Some((trace_line, case)) = self.trace.take() else { return };
        let events = std::mem::take(&mut self.events);
        let Some(case) = case.filter(|c| !c.trim().is_empty()) else {
            return self.fail(trace_line, "the trace has no `concept:name` (its case id)".into());
        };
        for mut pending in events {
            let line = pending.line;
            let Some(Value::String(activity)) = pending.attributes.remove("concept:name") else {
                return self.fail(line, "the event has no `concept:name` (its activity)".into());
            };
            let time = match pending.attributes.remove("time:timestamp") {
                Some(Value::String(t)) => match Millis::parse_log_time(&t) {
                    Ok(t) => t,
                    Err(e) => return self.fail(line, format!("`time:timestamp`: {e}")),
                },
                _ => return self.fail(line, "the event has no `time:timestamp`".into()),
            };
            let transition = match pending.attributes.remove("lifecycle:transition") {
                Some(Value::String(t)) => Some(t),
                _ => None,
            };
            self.out.push_back(match self.options.event(&activity, &case, time, transition.as_deref(), pending.attributes) {
                Some(value) => Read::Event { line, value },
                None => Read::Skipped { line },
            });
        }
    }
}

/// The `key` attribute of an element.
fn attr(e: &BytesStart, key: &str) -> Option<String> {
    e.attributes()
        .flatten()
        .find(|a| a.key.local_name().as_ref() == key)
        .and_then(|a| a.normalized_value(quick_xml::XmlVersion::Implicit1_0).ok().map(|v| v.into_owned()))
}

/// A typed XES attribute as a key and a JSON value (numbers and booleans as such).
fn typed(e: &BytesStart, element: &str) -> Option<(String, Value)> {
    let key = attr(e, "key")?;
    let value = attr(e, "value").unwrap_or_default();
    let value = match element {
        "int" => value.parse::<i64>().map(Value::from).unwrap_or(Value::String(value)),
        "float" => value.parse::<f64>().ok().and_then(|f| serde_json::Number::from_f64(f).map(Value::Number)).unwrap_or(Value::String(value)),
        "boolean" => value.parse::<bool>().map(Value::Bool).unwrap_or(Value::String(value)),
        "string" | "date" | "id" => Value::String(value),
        _ => return None,
    };
    Some((key, value))
}

impl<R: BufRead> Iterator for Reader<R> {
    type Item = Read;
    fn next(&mut self) -> Option<Read> {
        self.advance();
        self.out.pop_front()
    }
}

#[cfg(test)]
mod tests {
    use super::super::{defaults, reads_of, Read};
    use serde_json::json;

    const LOG: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<log xes.version="1.0" xmlns="http://www.xes-standard.org/">
  <extension name="Concept" prefix="concept" uri="http://www.xes-standard.org/concept.xesext"/>
  <global scope="event"><string key="lifecycle:transition" value="complete"/></global>
  <string key="concept:name" value="claims"/>
  <trace>
    <event>
      <string key="concept:name" value="Register &amp; check"/>
      <date key="time:timestamp" value="2024-03-01T10:00:00.000+01:00"/>
      <int key="amount" value="120"/>
      <list key="items"><values><string key="x" value="y"/></values></list>
    </event>
    <event>
      <string key="concept:name" value="Review"/>
      <string key="lifecycle:transition" value="start"/>
      <date key="time:timestamp" value="2024-03-01T10:05:00Z"/>
    </event>
    <string key="concept:name" value="case-1"/>
  </trace>
</log>
"#;

    #[test]
    fn traces_and_events_with_typed_attributes_and_global_defaults() {
        let reads = reads_of("log.xes", LOG, &defaults());
        let Read::Event { line: 7, value } = &reads[0] else { panic!("{reads:?}") };
        assert_eq!((value["type"].as_str(), value["key"].as_str()), (Some("Register & check"), Some("case-1")));
        assert_eq!(value["time"], json!(1_709_283_600_000i64));
        assert_eq!(value["data"], json!({"amount": 120}));
        assert!(matches!(reads[1], Read::Skipped { line: 13 }), "the start transition is left out: {reads:?}");
        assert_eq!(reads.len(), 2);
    }

    #[test]
    fn gzipped_logs_read_the_same() {
        use std::io::Write;
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(LOG.as_bytes()).unwrap();
        let dir = std::env::temp_dir().join(format!("flowlens-xes-{}", fastrand::u64(..)));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("log.xes.gz"), gz.finish().unwrap()).unwrap();
        let reads: Vec<Read> = super::super::reader(&dir.join("log.xes.gz"), &defaults(), Default::default()).unwrap().collect();
        assert!(matches!(&reads[0], Read::Event { value, .. } if value["key"] == "case-1"), "{reads:?}");
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn problems_name_the_line() {
        let cut = &LOG[..LOG.find("<event>\n      <string key=\"concept:name\" value=\"Review\"").unwrap()];
        let reads = reads_of("cut.xes", cut, &defaults());
        assert!(matches!(reads.last(), Some(Read::Bad { problem, .. }) if problem.contains("cut short")), "{reads:?}");
        let no_time = LOG.replace(r#"<date key="time:timestamp" value="2024-03-01T10:05:00Z"/>"#, "");
        let reads = reads_of("t.xes", &no_time, &defaults());
        assert!(matches!(&reads[1], Read::Bad { line: 13, problem } if problem.contains("no `time:timestamp`")), "{reads:?}");
        let reads = reads_of("x.xes", "<log><trace><event></trace></log>", &defaults());
        assert!(matches!(&reads[0], Read::Bad { line: 1, problem } if problem.contains("not well-formed")), "{reads:?}");
        let reads = reads_of("y.xes", "<html/>", &defaults());
        assert!(matches!(&reads[0], Read::Bad { problem, .. } if problem.contains("not <log>")), "{reads:?}");
    }
}
