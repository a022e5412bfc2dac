//! Any text given as a flow file is either a flow that lays out, or problems that each name the
//! file (and a place where there is one): never a panic, never silence.
#![no_main]

use flowlens_core::{layout, Flow};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|text: &str| {
    match Flow::parse_toml("fuzz.toml", text) {
        Ok(flow) => {
            let diagram = layout(&flow);
            assert_eq!(diagram.nodes.len(), flow.nodes.len(), "every node is placed");
            assert!(diagram.width.is_finite() && diagram.height.is_finite(), "the diagram has a size");
        }
        Err(problems) => {
            assert!(!problems.is_empty(), "a refusal lists its problems");
            for p in &problems {
                assert!(p.starts_with("fuzz.toml"), "a problem names the file: {p}");
            }
        }
    }
});
