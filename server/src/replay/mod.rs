//! `flowlens replay FILE...`: event logs as process analysts have them (XES, CSV, JSON lines of
//! CloudEvents) into the store, through the same intake and ingest as every other source.
//!
//! A replay checks every file whole before it stores anything, so a bad row refuses the file
//! with its place and nothing is half-stored. Event ids come from the file's name and the row's
//! line, so replaying a file again (or after an interruption) stores only what is missing.

mod csv;
mod jsonl;
mod progress;
mod remote;
mod xes;

pub use remote::Remote;

use std::io::BufReader;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use flowlens_service::Origin;
use serde_json::Value;

use progress::Progress;

/// One thing a reader found at a line of its file.
#[derive(Debug)]
pub enum Read {
    /// An event, with CloudEvents names (`type`, `key`, `time`, `data`).
    Event { line: u64, value: Value },
    /// A row left out on purpose (a lifecycle transition other than `complete`).
    Skipped { line: u64 },
    /// What is wrong at this line; a reader that cannot go on says so and ends.
    Bad { line: u64, problem: String },
}

/// How a log's rows become events.
#[derive(Clone, Debug, clap::Args)]
pub struct LogOptions {
    /// The CSV column holding the case (the business key of an instance).
    #[arg(long, default_value = "case:concept:name")]
    pub case: String,
    /// The CSV column holding the activity (the event type).
    #[arg(long, default_value = "concept:name")]
    pub activity: String,
    /// The CSV column holding the time (ISO 8601; without a zone, UTC).
    #[arg(long, default_value = "time:timestamp")]
    pub timestamp: String,
    /// The CSV column holding the lifecycle transition, if the log has one.
    #[arg(long, default_value = "lifecycle:transition")]
    pub lifecycle: String,
    /// The CSV separator; guessed from the header (`,` `;` or tab) when not given.
    #[arg(long)]
    pub separator: Option<char>,
    /// Which lifecycle transitions to replay: `complete` (events without a transition count as
    /// complete) or `all` (other transitions become events of type `ACTIVITY/TRANSITION`).
    #[arg(long, default_value = "complete", value_parser = ["complete", "all"])]
    pub transitions: String,
}

impl LogOptions {
    /// The event of one log row: activity, case and time, and the other attributes as data.
    fn event(&self, activity: &str, case: &str, time: flowlens_core::Millis, transition: Option<&str>, data: serde_json::Map<String, Value>) -> Option<Value> {
        let ty = match transition.map(str::to_ascii_lowercase).as_deref() {
            None | Some("") | Some("complete") => activity.to_string(),
            Some(_) if self.transitions == "complete" => return None,
            Some(t) => format!("{activity}/{t}"),
        };
        Some(serde_json::json!({ "type": ty, "key": case, "subject": case, "time": time.0, "data": Value::Object(data) }))
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Format {
    Xes,
    Csv,
    JsonLines,
}

impl Format {
    fn of(path: &Path) -> Result<(Format, bool), String> {
        let name = path.file_name().map(|n| n.to_string_lossy().to_ascii_lowercase()).unwrap_or_default();
        let (stem, gz) = match name.strip_suffix(".gz") {
            Some(stem) => (stem.to_string(), true),
            None => (name.clone(), false),
        };
        let format = match stem.rsplit('.').next() {
            Some("xes") => Format::Xes,
            Some("csv") => Format::Csv,
            Some("jsonl" | "ndjson" | "json") => Format::JsonLines,
            _ => return Err(format!("{}: not an event log Flowlens reads (.xes, .xes.gz, .csv, .jsonl, each also gzipped)", path.display())),
        };
        Ok((format, gz))
    }
}

/// Counts the bytes read from a file, for the progress bar.
struct Counted<R> {
    inner: R,
    read: Arc<AtomicU64>,
}

impl<R: std::io::Read> std::io::Read for Counted<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.read.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }
}

/// The reads of one file, in file order.
fn reader(path: &Path, options: &LogOptions, read: Arc<AtomicU64>) -> Result<Box<dyn Iterator<Item = Read>>, String> {
    let (format, gz) = Format::of(path)?;
    let file = std::fs::File::open(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let counted = Counted { inner: file, read };
    let input: Box<dyn std::io::Read> = if gz { Box::new(flate2::read::MultiGzDecoder::new(counted)) } else { Box::new(counted) };
    let input = BufReader::with_capacity(256 * 1024, input);
    Ok(match format {
        Format::Xes => Box::new(xes::Reader::new(input, options.clone())),
        Format::Csv => Box::new(csv::reader(input, options.clone())),
        Format::JsonLines => Box::new(jsonl::reader(input)),
    })
}

/// What a replay did, for its summary.
#[derive(Debug, Default)]
pub struct Summary {
    pub rows: u64,
    pub stored: u64,
    pub duplicates: u64,
    pub dead_lettered: u64,
    pub skipped: u64,
}

/// A refused replay: every problem found, each with its file and line (at most 20 shown).
#[derive(Debug)]
pub struct Refused(pub Vec<String>);

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for p in self.0.iter().take(20) {
            writeln!(f, "{p}")?;
        }
        if self.0.len() > 20 {
            writeln!(f, "… and {} more problems", self.0.len() - 20)?;
        }
        write!(f, "nothing was stored")
    }
}

const MAX_PROBLEMS: usize = 1000;
const BATCH: usize = 1000;

/// Where a replay goes: into a store here, or through a running server's API.
pub enum Sink<'a> {
    Local(&'a flowlens_service::Service),
    Remote(Remote),
}

impl Sink<'_> {
    /// What is wrong with a batch of `path`'s rows (`(line, event)`), each as `file:line: problem`.
    async fn check(&mut self, path: &Path, batch: Vec<(u64, Value)>) -> Result<Vec<String>, Refused> {
        let name = display_name(path);
        match self {
            Sink::Local(service) => Ok(batch
                .into_iter()
                .filter_map(|(line, value)| service.check(&origin(&name, line), value).err().map(|reason| format!("{}:{line}: {reason}", path.display())))
                .collect()),
            Sink::Remote(remote) => {
                let (lines, events) = with_ids(&name, batch);
                match remote.send(&name, &events, true).await.map_err(|e| Refused(vec![e]))? {
                    remote::Reply::Taken(_) => Ok(Vec::new()),
                    remote::Reply::Refused(problems) => Ok(placed(path, &lines, problems)),
                }
            }
        }
    }

    /// Stores a batch of `path`'s rows in one transaction.
    async fn store(&mut self, path: &Path, batch: Vec<(u64, Value)>, summary: &mut Summary) -> Result<(), Refused> {
        if batch.is_empty() {
            return Ok(());
        }
        summary.rows += batch.len() as u64;
        let name = display_name(path);
        match self {
            Sink::Local(service) => {
                let events = batch.into_iter().map(|(line, value)| (origin(&name, line), value));
                let report = service.submit_from(events).await.map_err(|e| Refused(vec![format!("{}: {e}", path.display())]))?;
                summary.stored += report.stored as u64;
                summary.duplicates += report.duplicates as u64;
                summary.dead_lettered += report.dead_lettered.len() as u64;
            }
            Sink::Remote(remote) => {
                let (lines, events) = with_ids(&name, batch);
                match remote.send(&name, &events, false).await.map_err(|e| Refused(vec![e]))? {
                    remote::Reply::Taken(t) => {
                        summary.stored += t.stored;
                        summary.duplicates += t.duplicates;
                        summary.dead_lettered += t.dead_lettered.len() as u64;
                    }
                    // The server's flows changed since the check.
                    remote::Reply::Refused(problems) => return Err(Refused(placed(path, &lines, problems))),
                }
            }
        }
        Ok(())
    }
}

/// The events as posted, and the line each came from: each with the id a local replay gives it
/// (file name and line), unless it has its own, so both ways store a row once.
fn with_ids(name: &str, batch: Vec<(u64, Value)>) -> (Vec<u64>, Vec<Value>) {
    batch
        .into_iter()
        .map(|(line, mut value)| {
            if let Some(event) = value.as_object_mut() {
                if !event.contains_key("id") {
                    let place = origin(name, line).place().expect("a file row has a place");
                    event.insert("id".into(), Value::String(place));
                }
            }
            (line, value)
        })
        .unzip()
}

/// The server's `event INDEX: problem` as `file:line: problem`, `lines` being the batch's.
fn placed(path: &Path, lines: &[u64], problems: Vec<String>) -> Vec<String> {
    problems
        .into_iter()
        .map(|p| {
            let at = p.strip_prefix("event ").and_then(|rest| rest.split_once(": ")).and_then(|(i, why)| Some((*lines.get(i.parse::<usize>().ok()?)?, why)));
            match at {
                Some((line, why)) => format!("{}:{line}: {why}", path.display()),
                None => format!("{}: {p}", path.display()),
            }
        })
        .collect()
}

/// Checks every file, then stores them, with a progress bar on standard error.
pub async fn replay(sink: &mut Sink<'_>, files: &[PathBuf], options: &LogOptions) -> Result<Summary, Refused> {
    let total_bytes: u64 = files.iter().filter_map(|f| std::fs::metadata(f).ok()).map(|m| m.len()).sum();
    // Pass 1: every row read and taken apart, nothing stored.
    let mut problems = Vec::new();
    let mut rows_total = 0u64;
    let read = Arc::new(AtomicU64::new(0));
    let mut bar = Progress::new("checking", total_bytes);
    for path in files {
        let rows = match reader(path, options, read.clone()) {
            Ok(rows) => rows,
            Err(e) => {
                problems.push(e);
                continue;
            }
        };
        let mut batch = Vec::with_capacity(BATCH);
        for item in rows {
            match item {
                Read::Event { line, value } => {
                    rows_total += 1;
                    batch.push((line, value));
                }
                Read::Skipped { .. } => {}
                Read::Bad { line, problem } => problems.push(format!("{}:{line}: {problem}", path.display())),
            }
            if batch.len() == BATCH {
                problems.extend(sink.check(path, std::mem::take(&mut batch)).await?);
                bar.tick(read.load(Ordering::Relaxed), rows_total);
            }
            if problems.len() >= MAX_PROBLEMS {
                break;
            }
        }
        problems.extend(sink.check(path, batch).await?);
    }
    bar.finish(read.load(Ordering::Relaxed), rows_total);
    if !problems.is_empty() {
        return Err(Refused(problems));
    }

    // Pass 2: stored in batches, each one transaction.
    let mut summary = Summary::default();
    read.store(0, Ordering::Relaxed);
    let mut bar = Progress::new("storing", total_bytes);
    let started = Instant::now();
    for path in files {
        let rows = reader(path, options, read.clone()).map_err(|e| Refused(vec![e]))?;
        let mut batch = Vec::with_capacity(BATCH);
        for item in rows {
            match item {
                Read::Event { line, value } => batch.push((line, value)),
                Read::Skipped { .. } => summary.skipped += 1,
                // The file changed since it was checked.
                Read::Bad { line, problem } => return Err(Refused(vec![format!("{}:{line}: {problem}", path.display())])),
            }
            if batch.len() == BATCH {
                sink.store(path, std::mem::take(&mut batch), &mut summary).await?;
                bar.tick(read.load(Ordering::Relaxed), summary.rows);
            }
        }
        sink.store(path, batch, &mut summary).await?;
    }
    bar.finish(read.load(Ordering::Relaxed), summary.rows);
    tracing::info!(rows = summary.rows, stored = summary.stored, seconds = started.elapsed().as_secs_f64(), "replayed");
    Ok(summary)
}

/// Ids derive from the file's name (not its path: the same log replayed from elsewhere is the
/// same log) and the row's line.
fn display_name(path: &Path) -> String {
    path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| path.display().to_string())
}

fn origin(name: &str, line: u64) -> Origin {
    Origin::File { path: name.to_string(), line }
}

/// Everything a reader finds in `text` written to a file named `format_name`, for tests.
#[cfg(test)]
pub(crate) fn reads_of(format_name: &str, text: &str, options: &LogOptions) -> Vec<Read> {
    let dir = std::env::temp_dir().join(format!("flowlens-replay-{}-{}", std::process::id(), fastrand::u64(..)));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(format_name);
    std::fs::write(&path, text).unwrap();
    let out: Vec<Read> = reader(&path, options, Arc::new(AtomicU64::new(0))).unwrap().collect();
    let _ = std::fs::remove_dir_all(&dir);
    out
}

/// The options as the command line gives them when none is named.
#[cfg(test)]
pub(crate) fn defaults() -> LogOptions {
    #[derive(clap::Parser)]
    struct Cli {
        #[command(flatten)]
        options: LogOptions,
    }
    <Cli as clap::Parser>::parse_from(["replay"]).options
}

impl std::fmt::Display for Summary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "replayed {} events: {} stored, {} already stored, {} dead-lettered (no flow handles their type), {} rows left out (lifecycle transitions other than complete)",
            self.rows, self.stored, self.duplicates, self.dead_lettered, self.skipped
        )
    }
}
