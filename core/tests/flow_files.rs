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

#[test]
fn a_discovered_flow_is_grouping_only_and_takes_what_no_model_maps() {
    use flowlens_core::{Event, Flows};
    let onboarding = Path::new(env!("CARGO_MANIFEST_DIR")).join("../flows/customer-onboarding.toml");
    let model = Flow::parse_toml("onboarding.toml", &std::fs::read_to_string(onboarding).unwrap()).unwrap();
    let payments = Flow::parse_toml(
        "payments.toml",
        "id = \"payments\"\nname = \"Payments\"\nversion = 1\ncorrelation = { source = \"pointer\", pointer = \"/order\" }\n[discover]\nchannel = \"payments\"\n",
    )
    .unwrap();
    assert!(payments.is_discovered() && !model.is_discovered());
    let logs = Flow::parse_toml("logs.toml", "id = \"logs\"\nname = \"Logs\"\nversion = 1\ncorrelation = { source = \"key\" }\n[discover]\nchannel = \"logs.csv\"\ntypes = [\"A\", \"B\"]\n").unwrap();
    let flows = Flows::new(vec![model, payments.clone(), logs.clone()]).unwrap();
    let event = |ty: &str| Event::decode(serde_json::json!({ "type": ty, "key": "k-1", "data": { "order": 7 } })).unwrap();
    let on = |ty: &str, channel: &str| flows.route(&event(ty), channel).map(|r| (r.flow.id.clone(), r.key)).map_err(|e| e.to_string());
    // The model keeps its types whatever the channel; the discovered flow takes the rest of its channel.
    assert_eq!(on("RegistrationRequested", "payments").unwrap().0, "customer-onboarding");
    assert_eq!(on("Captured", "payments").unwrap(), ("payments".to_string(), "7".to_string()));
    assert_eq!(on("A", "logs.csv").unwrap(), ("logs".to_string(), "k-1".to_string()));
    assert!(on("C", "logs.csv").is_err(), "only its types");
    assert!(on("Captured", "elsewhere").unwrap_err().contains("no flow handles events of type `Captured`"));
    // Two discovered flows that could take one event, or one naming a modelled type, are refused.
    let any = Flow::parse_toml("any.toml", "id = \"any\"\nname = \"Any\"\nversion = 1\ncorrelation = { source = \"key\" }\n[discover]\n").unwrap();
    let err = Flows::new(vec![payments, any.clone()]).unwrap_err();
    assert!(err.contains("`any` and `payments` could both take one event") || err.contains("`payments` and `any`"), "{err}");
    let onboarding = Path::new(env!("CARGO_MANIFEST_DIR")).join("../flows/customer-onboarding.toml");
    let model = Flow::parse_toml("onboarding.toml", &std::fs::read_to_string(onboarding).unwrap()).unwrap();
    let greedy = Flow::parse_toml("g.toml", "id = \"g\"\nname = \"G\"\nversion = 1\ncorrelation = { source = \"key\" }\n[discover]\ntypes = [\"RegistrationRequested\"]\n").unwrap();
    assert!(Flows::new(vec![model, greedy]).unwrap_err().contains("which a modelled flow maps"));
    // Its instances never deviate: an event is all a discovered flow has.
    let mut case = flowlens_core::Instance::new(&logs);
    case.apply(&logs, "e1", "A", flowlens_core::Millis(1));
    assert!(case.deviations(&logs).is_empty());
    assert_eq!(flowlens_core::discovery::trace(&case).len(), 1);
}
