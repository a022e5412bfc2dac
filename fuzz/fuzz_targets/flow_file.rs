//! Any text given as a flow file (or, when it looks like XML, as a BPMN model) is either a flow
//! that lays out, or problems that each name the file (and a place where there is one): never a
//! panic, never silence. The shipped flows, TOML and BPMN, are the seeds.
#![no_main]

use flowlens_core::{layout, Flow};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|text: &str| {
    let (file, parsed) = if text.trim_start().starts_with('<') {
        ("fuzz.bpmn", Flow::parse_bpmn("fuzz.bpmn", text, None))
    } else {
        ("fuzz.toml", Flow::parse_toml("fuzz.toml", text))
    };
    match parsed {
        Ok(flow) => {
            let diagram = layout::draw(&flow);
            assert_eq!(diagram.nodes.len(), flow.nodes.len(), "every node is placed");
            assert!(diagram.width.is_finite() && diagram.height.is_finite(), "the diagram has a size");
        }
        Err(problems) => {
            assert!(!problems.is_empty(), "a refusal lists its problems");
            for p in &problems {
                assert!(p.starts_with(file), "a problem names the file: {p}");
            }
        }
    }
});
