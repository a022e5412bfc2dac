//! Exports for other tools: the instance list as CSV, every row matching the filter (not just a
//! page), and a flow's events as an event log (XES or CSV) for process-mining tools; both
//! streamed a keyset page at a time so memory stays flat whatever the size.

use flowlens_core::{Caller, InstanceSummary, ListParams, Need};
use flowlens_store::Case;
use futures_util::stream::{self, Stream, StreamExt};

use crate::{Error, Service};

/// Cases per page of an event-log export.
const CASES_PER_PAGE: u32 = 500;

/// An event log's format.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogForm {
    /// IEEE 1849 XES: a trace per case, an event per event, `complete` transitions.
    Xes,
    /// The columns process-mining tools read by default: `case:concept:name`, `concept:name`,
    /// `time:timestamp`, and the event's id.
    Csv,
}

/// Text for an XML attribute value.
fn xml(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            // Control characters other than tab and line breaks cannot appear in XML 1.0 at all.
            c if (c as u32) < 0x20 && !matches!(c, '\t' | '\n' | '\r') => out.push('\u{fffd}'),
            c => out.push(c),
        }
    }
    out
}

fn xes_head(flow_name: &str) -> String {
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<log xes.version=\"1849-2016\" xes.features=\"\" xmlns=\"http://www.xes-standard.org/\">\n\
         <extension name=\"Concept\" prefix=\"concept\" uri=\"http://www.xes-standard.org/concept.xesext\"/>\n\
         <extension name=\"Time\" prefix=\"time\" uri=\"http://www.xes-standard.org/time.xesext\"/>\n\
         <extension name=\"Lifecycle\" prefix=\"lifecycle\" uri=\"http://www.xes-standard.org/lifecycle.xesext\"/>\n\
         <classifier name=\"Activity\" keys=\"concept:name\"/>\n\
         <string key=\"concept:name\" value=\"{}\"/>\n",
        xml(flow_name)
    )
}

fn xes_cases(cases: &[Case]) -> String {
    let mut out = String::new();
    for case in cases {
        out.push_str(&format!("<trace><string key=\"concept:name\" value=\"{}\"/>\n", xml(&case.key)));
        for (at, id, ty) in &case.events {
            out.push_str(&format!(
                "<event><string key=\"concept:name\" value=\"{}\"/><date key=\"time:timestamp\" value=\"{}\"/><string key=\"lifecycle:transition\" value=\"complete\"/><string key=\"id\" value=\"{}\"/></event>\n",
                xml(ty),
                at.to_rfc3339(),
                xml(id)
            ));
        }
        out.push_str("</trace>\n");
    }
    out
}

const LOG_COLUMNS: &str = "case:concept:name,concept:name,time:timestamp,id\r\n";

fn csv_cases(cases: &[Case]) -> String {
    let mut out = String::new();
    for case in cases {
        for (at, id, ty) in &case.events {
            out.push_str(&format!("{},{},{},{}\r\n", csv_field(&case.key), csv_field(ty), at.to_rfc3339(), csv_field(id)));
        }
    }
    out
}

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

impl Service {
    /// Every event of `flow`'s cases (all its versions) as an event log, case by case in key
    /// order, each case's events in trace order; none when there is no such flow.
    #[tracing::instrument(skip(self, caller))]
    pub fn export_events(&self, caller: &Caller, flow: &str, form: LogForm) -> Result<Option<impl Stream<Item = Result<String, Error>> + Send + 'static>, Error> {
        caller.allow(&Need::Read)?;
        let Some(found) = self.store().newest_flow(flow) else { return Ok(None) };
        let head = match form {
            LogForm::Xes => xes_head(&found.name),
            LogForm::Csv => LOG_COLUMNS.to_string(),
        };
        let (service, flow) = (self.clone(), flow.to_string());
        // The key of the last case sent; none before the first page, and the stream ends
        // after a short page.
        let pages = stream::unfold(Some(None::<String>), move |state| {
            let (service, flow) = (service.clone(), flow.clone());
            async move {
                let after = state?;
                match service.store().cases(&flow, after.as_deref(), CASES_PER_PAGE).await {
                    Err(e) => Some((Err(Error::from(e)), None)),
                    Ok(cases) if cases.is_empty() => None,
                    Ok(cases) => {
                        let next = (cases.len() == CASES_PER_PAGE as usize).then(|| cases.last().map(|c| c.key.clone()));
                        let text = match form {
                            LogForm::Xes => xes_cases(&cases),
                            LogForm::Csv => csv_cases(&cases),
                        };
                        Some((Ok(text), next))
                    }
                }
            }
        });
        let tail = stream::iter((form == LogForm::Xes).then(|| Ok("</log>\n".to_string())));
        Ok(Some(stream::once(async move { Ok(head) }).chain(pages).chain(tail)))
    }
}

#[cfg(test)]
mod tests {
    use super::{csv_field, xml};

    #[test]
    fn xml_values_are_escaped_and_never_invalid() {
        assert_eq!(xml("a<b & \"c\" 'd'>"), "a&lt;b &amp; &quot;c&quot; &apos;d&apos;&gt;");
        assert_eq!(xml("bell\u{7}"), "bell\u{fffd}");
    }

    #[test]
    fn fields_are_quoted_and_never_formulas() {
        assert_eq!(csv_field("plain"), "plain");
        assert_eq!(csv_field("a,b"), "\"a,b\"");
        assert_eq!(csv_field("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(csv_field("=HYPERLINK(\"x\")"), "\"'=HYPERLINK(\"\"x\"\")\"");
        assert_eq!(csv_field("-1"), "'-1");
    }
}
