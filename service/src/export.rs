//! Exports for other tools: the instance list as CSV, every row matching the filter (not just a
//! page), streamed a keyset page at a time so memory stays flat whatever the size.

use flowlens_core::{Caller, InstanceSummary, ListParams};
use futures_util::stream::{self, Stream, StreamExt};

use crate::{Error, Service};

const INSTANCE_COLUMNS: &str = "id,flow,version,key,status,waiting_at,started_at,updated_at,events,due_at,reworked\r\n";

/// One CSV field (RFC 4180), and never a formula: a spreadsheet opening the file runs none of what
/// a sender put in a key.
fn csv_field(s: &str) -> String {
    let s = if s.starts_with(['=', '+', '-', '@', '\t', '\r']) { format!("'{s}") } else { s.to_string() };
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s
    }
}

fn row(r: &InstanceSummary) -> String {
    let time = |m: Option<flowlens_core::Millis>| m.map(|m| m.to_rfc3339()).unwrap_or_default();
    [
        r.id.to_string(),
        csv_field(&r.flow_id),
        r.flow_version.to_string(),
        csv_field(&r.key),
        r.status.as_str().to_string(),
        csv_field(&r.waiting_at.join(" ")),
        time(r.started_at),
        r.updated_at.to_rfc3339(),
        r.events.to_string(),
        time(r.due),
        r.reworked.to_string(),
    ]
    .join(",")
        + "\r\n"
}

impl Service {
    /// Every instance matching `params`, as CSV text in chunks (a header, then a page of rows
    /// per chunk). The filter is checked before anything is sent: a bad one is an error, not a
    /// broken download.
    #[tracing::instrument(skip(self, caller))]
    pub fn export_instances(&self, caller: &Caller, params: &ListParams) -> Result<impl Stream<Item = Result<String, Error>> + Send + 'static, Error> {
        let pages = self.all_pages(caller, params)?;
        let header = stream::once(async { Ok(INSTANCE_COLUMNS.to_string()) });
        Ok(header.chain(pages.map(|rows| rows.map(|rows| rows.iter().map(row).collect()))))
    }
}

#[cfg(test)]
mod tests {
    use super::csv_field;

    #[test]
    fn fields_are_quoted_and_never_formulas() {
        assert_eq!(csv_field("plain"), "plain");
        assert_eq!(csv_field("a,b"), "\"a,b\"");
        assert_eq!(csv_field("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(csv_field("=HYPERLINK(\"x\")"), "\"'=HYPERLINK(\"\"x\"\")\"");
        assert_eq!(csv_field("-1"), "'-1");
    }
}
