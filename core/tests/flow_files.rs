//! Flow files: the shipped flows are valid, and every kind of mistake gets its precise message.
//!
//! Each file in `bad-flows/` starts with `# expect:` lines; each must appear among the problems
//! reported for that file.

use std::path::Path;

use flowlens_core::Flow;

#[test]
fn the_shipped_flows_are_valid() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../flows");
    let mut ids = Vec::new();
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let name = path.display().to_string();
        let text = std::fs::read_to_string(&path).unwrap();
        let flow = if name.ends_with(".bpmn.toml") {
            continue; // a BPMN model's sidecar, read with its model
        } else if name.ends_with(".bpmn") {
            let sidecar = std::fs::read_to_string(format!("{name}.toml")).unwrap();
            Flow::parse_bpmn(&name, &text, Some((&format!("{name}.toml"), &sidecar)))
        } else {
            Flow::parse_toml(&name, &text)
        };
        let flow = flow.unwrap_or_else(|e| panic!("{}", e.join("\n")));
        ids.push(flow.id);
    }
    ids.sort();
    assert_eq!(ids, ["customer-onboarding", "retail-order"]);
}

#[test]
fn every_kind_of_mistake_is_named_with_file_line_and_column() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/bad-flows");
    let mut checked = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_str().unwrap().to_string();
        let text = std::fs::read_to_string(&path).unwrap();
        let expected: Vec<&str> = text.lines().filter_map(|l| l.strip_prefix("# expect: ")).collect();
        assert!(!expected.is_empty(), "{name} says nothing about what to expect");
        let problems = Flow::parse_toml(&name, &text).err().unwrap_or_else(|| panic!("{name} was accepted")).join("\n");
        for e in expected {
            assert!(problems.contains(e), "{name}: expected\n  {e}\namong\n{problems}");
        }
        checked += 1;
    }
    assert!(checked >= 9, "only {checked} bad flows checked");
}
