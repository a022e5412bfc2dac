//! "Save as flow": a discovered process written as a flow file, to start tracking it.
//!
//! The directly-follows graph (as the discovery map shows it, rare paths hidden) becomes a model
//! every trace of it replays without a deviation: each activity a task its event completes; where
//! the cases went different ways after a step, a decision, which the tracking resolves by the
//! event that comes next; the start begins an instance with whichever start activity comes first;
//! activities cases ended with lead to the end. It is a draft: steps get no SLA or command, and a
//! case that may end or go on waits at its decision until something comes.

use std::fmt::Write;

use crate::discovery::{mined, Discovery};
use crate::flow::{unique_ids, Correlation, Flow, NodeKind};

/// The flow file of `flow`'s process as discovered, with what is rarer than `hide_below` % of
/// the most frequent activity or edge left out. It keeps the flow's id and correlation and takes
/// the next version: put beside the flow, new cases are tracked against it and the history stays.
pub fn flow_file(flow: &Flow, d: &Discovery, hide_below: u32) -> String {
    let m = mined(d, hide_below);
    let nodes = m.nodes;
    let end = nodes.len() - 1;

    let ids = unique_ids(
        nodes.iter().enumerate().map(|(i, n)| match i {
            0 => "start".to_string(),
            i if i == end => "end".to_string(),
            _ => slug(&n.name),
        }),
        '-',
    );

    let mut out = String::new();
    let hidden = if m.hide_below == 0 { String::new() } else { format!(", leaving out what is rarer than {}% of the most frequent", m.hide_below) };
    let _ = writeln!(out, "# {}: the process its events show, mined by Flowlens from {} cases{hidden}.", flow.name, d.cases);
    let _ = writeln!(out, "# Each activity is a step its event completes; where cases went different ways, a decision.");
    let _ = writeln!(out, "# A draft: give steps SLAs, requests and commands (docs/flows.md), then put it in the flows directory.");
    let _ = writeln!(out, "id = {}", quote(&flow.id));
    let _ = writeln!(out, "name = {}", quote(flow.name.trim_end_matches(" (mined)")));
    let _ = writeln!(out, "version = {}", flow.version + 1);
    let correlation = match &flow.correlation {
        Correlation::Key => "{ source = \"key\" }".to_string(),
        Correlation::Attribute(a) => format!("{{ source = \"attribute\", attribute = {} }}", quote(a)),
        Correlation::Pointer(p) => format!("{{ source = \"pointer\", pointer = {} }}", quote(p)),
    };
    let _ = writeln!(out, "correlation = {correlation}");
    if let Some(e) = &flow.envelope {
        let _ = writeln!(out, "\n[envelope]");
        for (key, value) in [("type", &e.type_field), ("id", &e.id), ("key", &e.key), ("time", &e.time), ("data", &e.data), ("source", &e.source)] {
            let _ = writeln!(out, "{key} = {}", quote(value));
        }
    }
    for (i, n) in nodes.iter().enumerate() {
        let next: Vec<&str> = n.next.iter().map(|&j| ids[j].as_str()).collect();
        // Several ways on: a decision after the step.
        let (own_next, decision) = if next.len() > 1 { (vec![format!("{}-then", ids[i])], Some(next)) } else { (next.iter().map(|s| s.to_string()).collect(), None) };
        let _ = writeln!(out, "\n[[nodes]]\nid = {}", quote(&ids[i]));
        match &n.kind {
            NodeKind::Start { .. } => out.push_str("kind = \"start\"\n"),
            NodeKind::End { .. } => out.push_str("kind = \"end\"\n"),
            _ => {
                let _ = writeln!(out, "kind = \"task\"\nname = {}\nsuccess = {}", quote(&n.name), quote(&n.name));
            }
        }
        if !own_next.is_empty() {
            let _ = writeln!(out, "next = [{}]", own_next.iter().map(|s| quote(s)).collect::<Vec<_>>().join(", "));
        }
        if let Some(ways) = decision {
            let _ = writeln!(out, "\n[[nodes]]\nid = {}\nkind = \"exclusive\"", quote(&own_next[0]));
            let _ = writeln!(out, "next = [{}]", ways.iter().map(|s| quote(s)).collect::<Vec<_>>().join(", "));
        }
    }
    out
}

/// A readable node id: the name in lower case, words joined by `-`.
fn slug(name: &str) -> String {
    let mut s = String::new();
    for c in name.chars() {
        if c.is_alphanumeric() {
            s.extend(c.to_lowercase());
        } else if !s.ends_with('-') && !s.is_empty() {
            s.push('-');
        }
    }
    let s = s.trim_end_matches('-').to_string();
    if s.is_empty() {
        "step".to_string()
    } else {
        s
    }
}

/// A TOML basic string: JSON's escapes are TOML's.
fn quote(s: &str) -> String {
    serde_json::to_string(s).expect("strings serialise")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::discovery::{ActivityStat, EdgeStat};
    use crate::{Instance, Millis};

    /// The figures the draft is written from, counted from traces as the store keeps them.
    fn discovery(traces: &[&[&str]]) -> Discovery {
        let mut d = Discovery { flow_id: "claims".into(), cases: traces.len() as u64, ..Discovery::default() };
        for t in traces {
            for (i, a) in t.iter().enumerate() {
                let stat = match d.activities.iter_mut().find(|s| s.name == *a) {
                    Some(s) => s,
                    None => {
                        d.activities.push(ActivityStat { name: a.to_string(), count: 0, starts: 0, ends: 0 });
                        d.activities.last_mut().unwrap()
                    }
                };
                stat.count += 1;
                stat.starts += u64::from(i == 0);
                stat.ends += u64::from(i == t.len() - 1);
                if let Some(b) = t.get(i + 1) {
                    match d.edges.iter_mut().find(|e| e.from == *a && e.to == *b) {
                        Some(e) => e.count += 1,
                        None => d.edges.push(EdgeStat { from: a.to_string(), to: b.to_string(), count: 1, mean_ms: 0.0, median_ms: None, p95_ms: None }),
                    }
                }
            }
        }
        d.activities.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.name.cmp(&b.name)));
        d
    }

    fn discovered() -> Flow {
        Flow::parse_toml("claims.toml", "id = \"claims\"\nname = \"Claims (mined)\"\nversion = 1\ncorrelation = { source = \"pointer\", pointer = \"/claim\" }\n[discover]\n").unwrap()
    }

    fn replay(flow: &Flow, trace: &[&str]) -> Instance {
        let mut case = Instance::new(flow);
        for (i, a) in trace.iter().enumerate() {
            case.apply(flow, &format!("e{i:03}"), a, Millis(i as i64 * 1_000));
        }
        case
    }

    const LOG: &[&[&str]] = &[
        &["Claim filed", "Assess", "Pay", "Close"],
        &["Claim filed", "Assess", "Ask for documents", "Assess", "Ask for documents", "Assess", "Pay", "Close"],
        &["Claim filed", "Assess", "Reject"],
        &["Claim reported by phone", "Assess", "Reject"],
        &["Claim filed", "Assess", "Pay", "Pay", "Close"],
    ];

    #[test]
    fn every_trace_it_was_mined_from_fits_the_saved_flow() {
        let text = flow_file(&discovered(), &discovery(LOG), 0);
        let flow = Flow::parse_toml("saved.toml", &text).unwrap_or_else(|e| panic!("{}\n{text}", e.join("\n")));
        assert_eq!((flow.id.as_str(), flow.name.as_str(), flow.version), ("claims", "Claims", 2));
        assert_eq!(flow.correlation, Correlation::Pointer("/claim".into()));
        assert!(!flow.is_discovered() && !flow.back.is_empty(), "a model, with the rework loop:\n{text}");
        for trace in LOG {
            let case = replay(&flow, trace);
            assert_eq!(case.deviations(&flow), vec![], "{trace:?}\n{text}");
        }
        let done = replay(&flow, LOG[0]);
        assert_eq!(done.status(&flow), crate::Status::Completed, "Close only ever ends a case");
        // What the log never did deviates.
        let odd = replay(&flow, &["Claim filed", "Pay", "Close"]);
        assert!(!odd.deviations(&flow).is_empty(), "paid without assessment\n{text}");
    }

    #[test]
    fn what_the_slider_hides_is_left_out_and_loops_keep_a_way_out() {
        // The documents loop seen once among many: hidden at 30 %, and the flow still loads.
        let mut log: Vec<&[&str]> = vec![&["Claim filed", "Assess", "Pay", "Close"]; 8];
        log.push(&["Claim filed", "Assess", "Ask for documents", "Assess", "Pay", "Close"]);
        let text = flow_file(&discovered(), &discovery(&log), 30);
        assert!(!text.contains("Ask for documents") && text.contains("rarer than 30%"), "{text}");
        Flow::parse_toml("saved.toml", &text).unwrap_or_else(|e| panic!("{}\n{text}", e.join("\n")));
        // A loop whose exits are hidden: A ⇄ B seen often, the ways out rarely.
        let mut log: Vec<&[&str]> = vec![&["Go", "A", "B", "A", "B", "A", "B", "A", "B", "A", "B", "A", "B", "Done"]; 3];
        log.push(&["Go", "Done"]);
        let d = discovery(&log);
        let text = flow_file(&discovered(), &d, 60);
        Flow::parse_toml("saved.toml", &text).unwrap_or_else(|e| panic!("{}\n{text}", e.join("\n")));
    }

    #[test]
    fn names_become_ids_and_strings_are_escaped() {
        assert_eq!(slug("Ask for documents (2nd)"), "ask-for-documents-2nd");
        assert_eq!(slug("→"), "step");
        let log: &[&[&str]] = &[&["Start", "Say \"hi\"\\n", "start"]];
        let text = flow_file(&discovered(), &discovery(log), 0);
        let flow = Flow::parse_toml("saved.toml", &text).unwrap_or_else(|e| panic!("{}\n{text}", e.join("\n")));
        assert!(flow.handles("Say \"hi\"\\n") && flow.handles("start") && flow.handles("Start"), "{text}");
    }
}
