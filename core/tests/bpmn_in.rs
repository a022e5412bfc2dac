//! BPMN 2.0 in: models as the usual tools write them (prefixes and diagram namespaces vary), every
//! supported element, every refusal with its place and advice, and the round trip through export.

use flowlens_core::flow::{NodeKind, Outcome};
use flowlens_core::layout::ShapeKind;
use flowlens_core::{Flow, Instance, Millis, NodeStatus, Span, Status};

fn fixture(name: &str) -> String {
    std::fs::read_to_string(format!("{}/tests/bpmn/{name}", env!("CARGO_MANIFEST_DIR"))).unwrap()
}

fn claims() -> Flow {
    Flow::parse_bpmn("claims.bpmn", &fixture("claims.bpmn"), Some(("claims.bpmn.toml", &fixture("claims.bpmn.toml")))).unwrap_or_else(|e| panic!("{}", e.join("\n")))
}

fn node<'a>(flow: &'a Flow, id: &str) -> &'a flowlens_core::flow::Node {
    &flow.nodes[flow.node_index(id).unwrap_or_else(|| panic!("no node {id}"))]
}

#[test]
fn a_camunda_model_with_its_sidecar_becomes_a_flow() {
    let flow = claims();
    assert_eq!((flow.id.as_str(), flow.name.as_str(), flow.version), ("claims", "Compensation request", 1));
    assert_eq!(flow.sla, Some(Span(14 * 86_400_000)));
    assert_eq!(flow.cancel.as_ref().map(|c| c.command.as_str()), Some("WithdrawClaim"));
    let ids: Vec<&str> = flow.nodes.iter().map(|n| n.id.as_str()).collect();
    assert_eq!(ids, ["register", "again", "split", "examine", "ticket", "join", "decide", "outcome", "reinitiate", "pay", "reject"]);
    assert_eq!(node(&flow, "register").kind, NodeKind::Start { event: "register request".into() });
    // Names are the completion events; the sidecar adds a request, a failure, an SLA, a retry.
    let NodeKind::Task(examine) = &node(&flow, "examine").kind else { panic!() };
    assert_eq!((examine.request.as_deref(), examine.success.as_str(), examine.form.as_deref()), (Some("examination requested"), "examine thoroughly", Some("userTask")));
    assert_eq!(node(&flow, "examine").sla, Some(Span(2 * 3_600_000)), "the sidecar's SLA");
    assert!(examine.retry.is_some());
    let NodeKind::Task(ticket) = &node(&flow, "ticket").kind else { panic!() };
    assert_eq!(ticket.form, None, "a service task is the default");
    assert_eq!(node(&flow, "ticket").sla, Some(Span(3_600_000)), "the boundary timer's SLA");
    assert_eq!(ticket.on_failure, flow.node_index("reject"), "the error boundary event's path");
    assert!(matches!(node(&flow, "reject").kind, NodeKind::End { outcome: Outcome::Failure, .. }), "terminate end fails the instance");
    assert!(matches!(node(&flow, "pay").kind, NodeKind::End { outcome: Outcome::Success, .. }));
    let loop_back = (flow.node_index("reinitiate").unwrap(), flow.node_index("again").unwrap());
    assert_eq!(flow.back, vec![loop_back]);
}

#[test]
fn the_diagram_interchange_is_the_diagram() {
    let flow = claims();
    let d = flow.drawn.as_ref().expect("every node has a shape");
    let shape = |id: &str| d.nodes.iter().find(|s| s.id == id).unwrap();
    // Moved as a whole to the margin: the start event (x 152) and the examination (y 80) are the extremes.
    let (start, examine) = (shape("register"), shape("examine"));
    assert_eq!((start.x - start.w / 2.0, examine.y - examine.h / 2.0), (24.0, 24.0));
    assert_eq!((examine.x - start.x, examine.w, examine.h), (470.0 - 170.0, 100.0, 80.0));
    assert_eq!(shape("outcome").kind, ShapeKind::Exclusive);
    let back = d.edges.iter().find(|e| e.from == "reinitiate" && e.to == "again").unwrap();
    assert!(back.back);
    assert_eq!(back.points.len(), 3, "the modeller's waypoints");
    assert!(d.edges.iter().any(|e| e.from == "ticket" && e.to == "reject" && e.failure));
    assert_eq!(flowlens_core::layout::draw(&flow), *d);
}

#[test]
fn a_bpmn_flow_tracks_its_loop() {
    let flow = claims();
    let mut inst = Instance::new(&flow);
    let events = ["register request", "examination requested", "check ticket", "examine thoroughly", "decide", "reinitiate request",
        "examination requested", "examine thoroughly", "check ticket", "decide", "pay compensation"];
    for (i, ty) in events.iter().enumerate() {
        inst.apply(&flow, &format!("e{i}"), ty, Millis(i as i64 * 1000));
    }
    assert_eq!(inst.status(&flow), Status::Completed);
    assert_eq!(inst.deviations(&flow), vec![]);
    let nodes = inst.nodes(&flow);
    assert_eq!(nodes[flow.node_index("examine").unwrap()].visits.len(), 2);
    let mut failed = Instance::new(&flow);
    for (i, ty) in ["register request", "examination requested", "ticket invalid", "reject request"].iter().enumerate() {
        failed.apply(&flow, &format!("f{i}"), ty, Millis(i as i64));
    }
    assert_eq!(failed.status(&flow), Status::Failed);
    assert_eq!(failed.nodes(&flow)[flow.node_index("ticket").unwrap()].status, NodeStatus::Failed);
}

/// Signavio and others: the model namespace as the default (no prefix), `omgdc`/`omgdi` for the
/// diagram; inclusive gateways, intermediate events, every task type.
const SIGNAVIO: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<definitions xmlns="http://www.omg.org/spec/BPMN/20100524/MODEL" xmlns:bpmndi="http://www.omg.org/spec/BPMN/20100524/DI" xmlns:omgdc="http://www.omg.org/spec/DD/20100524/DC" xmlns:omgdi="http://www.omg.org/spec/DD/20100524/DI" xmlns:signavio="http://www.signavio.com" id="sid-1" targetNamespace="http://www.signavio.com">
  <process id="sid-order" name="Order" isExecutable="false">
    <laneSet id="ls"><lane id="lane1" name="Shop"><flowNodeRef>start</flowNodeRef></lane></laneSet>
    <startEvent id="start" name="OrderPlaced"/>
    <sendTask id="confirm" name="ConfirmationSent"/>
    <inclusiveGateway id="or-split"/>
    <receiveTask id="pay" name="PaymentReceived"/>
    <scriptTask id="invoice" name="InvoiceWritten"/>
    <inclusiveGateway id="or-join"/>
    <intermediateCatchEvent id="wait" name="GoodsArrived"><messageEventDefinition/></intermediateCatchEvent>
    <intermediateThrowEvent id="note"/>
    <manualTask id="pack" name="Packed"/>
    <task id="ship" name="Shipped"/>
    <endEvent id="end"/>
    <sequenceFlow id="f1" sourceRef="start" targetRef="confirm"/>
    <sequenceFlow id="f2" sourceRef="confirm" targetRef="or-split"/>
    <sequenceFlow id="f3" sourceRef="or-split" targetRef="pay"/>
    <sequenceFlow id="f4" sourceRef="or-split" targetRef="invoice"/>
    <sequenceFlow id="f5" sourceRef="pay" targetRef="or-join"/>
    <sequenceFlow id="f6" sourceRef="invoice" targetRef="or-join"/>
    <sequenceFlow id="f7" sourceRef="or-join" targetRef="wait"/>
    <sequenceFlow id="f8" sourceRef="wait" targetRef="note"/>
    <sequenceFlow id="f9" sourceRef="note" targetRef="pack"/>
    <sequenceFlow id="f10" sourceRef="pack" targetRef="ship"/>
    <sequenceFlow id="f11" sourceRef="ship" targetRef="end"/>
  </process>
  <bpmndi:BPMNDiagram id="d"><bpmndi:BPMNPlane id="p" bpmnElement="sid-order">
    <bpmndi:BPMNShape id="s1" bpmnElement="start"><omgdc:Bounds x="-30" y="100" width="30" height="30"/></bpmndi:BPMNShape>
    <bpmndi:BPMNShape id="s2" bpmnElement="confirm"><omgdc:Bounds x="40" y="75" width="100" height="80"/></bpmndi:BPMNShape>
    <bpmndi:BPMNShape id="s3" bpmnElement="or-split"><omgdc:Bounds x="180" y="95" width="40" height="40"/></bpmndi:BPMNShape>
    <bpmndi:BPMNShape id="s4" bpmnElement="pay"><omgdc:Bounds x="260" y="0" width="100" height="80"/></bpmndi:BPMNShape>
    <bpmndi:BPMNShape id="s5" bpmnElement="invoice"><omgdc:Bounds x="260" y="150" width="100" height="80"/></bpmndi:BPMNShape>
    <bpmndi:BPMNShape id="s6" bpmnElement="or-join"><omgdc:Bounds x="400" y="95" width="40" height="40"/></bpmndi:BPMNShape>
    <bpmndi:BPMNShape id="s7" bpmnElement="wait"><omgdc:Bounds x="480" y="100" width="30" height="30"/></bpmndi:BPMNShape>
    <bpmndi:BPMNShape id="s8" bpmnElement="note"><omgdc:Bounds x="550" y="100" width="30" height="30"/></bpmndi:BPMNShape>
    <bpmndi:BPMNShape id="s9" bpmnElement="pack"><omgdc:Bounds x="620" y="75" width="100" height="80"/></bpmndi:BPMNShape>
    <bpmndi:BPMNShape id="s10" bpmnElement="ship"><omgdc:Bounds x="760" y="75" width="100" height="80"/></bpmndi:BPMNShape>
    <bpmndi:BPMNShape id="s11" bpmnElement="end"><omgdc:Bounds x="900" y="100" width="28" height="28"/></bpmndi:BPMNShape>
    <bpmndi:BPMNEdge id="e1" bpmnElement="f1"><omgdi:waypoint x="0" y="115"/><omgdi:waypoint x="40" y="115"/></bpmndi:BPMNEdge>
  </bpmndi:BPMNPlane></bpmndi:BPMNDiagram>
</definitions>"#;

#[test]
fn a_model_without_prefixes_reads_the_same_with_every_element_kind() {
    let flow = Flow::parse_bpmn("order.bpmn", SIGNAVIO, None).unwrap_or_else(|e| panic!("{}", e.join("\n")));
    assert_eq!((flow.id.as_str(), flow.version), ("sid-order", 1), "without a sidecar: the process id, version 1");
    assert_eq!(flow.correlation, flowlens_core::flow::Correlation::Key);
    let forms: Vec<Option<&str>> = ["confirm", "pay", "invoice", "pack", "ship"]
        .iter()
        .map(|id| match &node(&flow, id).kind {
            NodeKind::Task(t) => t.form.as_deref(),
            k => panic!("{id} is {k:?}"),
        })
        .collect();
    assert_eq!(forms, [Some("sendTask"), Some("receiveTask"), Some("scriptTask"), Some("manualTask"), Some("task")]);
    assert_eq!(node(&flow, "or-split").kind, NodeKind::Inclusive);
    assert_eq!(node(&flow, "wait").kind, NodeKind::Intermediate { event: "GoodsArrived".into(), throw: false });
    assert_eq!(node(&flow, "note").kind, NodeKind::Intermediate { event: String::new(), throw: true });
    assert_eq!(node(&flow, "end").kind, NodeKind::End { event: String::new(), outcome: Outcome::Success });
    let d = flow.drawn.as_ref().expect("drawn from omgdc bounds");
    assert_eq!(d.nodes[0].x - d.nodes[0].w / 2.0, 24.0, "negative coordinates moved in");
    assert_eq!(d.edges.len(), 11, "flows without waypoints are drawn straight");

    // Tracked: both branches of the inclusive split run, the join waits for them; the untyped
    // throw event and end are passed when the flow gets there.
    let mut inst = Instance::new(&flow);
    for (i, ty) in ["OrderPlaced", "ConfirmationSent", "PaymentReceived", "InvoiceWritten", "GoodsArrived", "Packed", "Shipped"].iter().enumerate() {
        inst.apply(&flow, &format!("e{i}"), ty, Millis(i as i64));
    }
    assert_eq!(inst.deviations(&flow), vec![]);
    assert_eq!(inst.status(&flow), Status::Completed);
    // One branch only: the join goes on with it.
    let mut one = Instance::new(&flow);
    for (i, ty) in ["OrderPlaced", "ConfirmationSent", "PaymentReceived", "GoodsArrived"].iter().enumerate() {
        one.apply(&flow, &format!("e{i}"), ty, Millis(i as i64));
    }
    assert_eq!(one.deviations(&flow), vec![]);
    assert_eq!(one.nodes(&flow)[flow.node_index("pack").unwrap()].status, NodeStatus::Active);
}

/// Process-mining tools write `semantic:` (or `bpmn2:`) and often no diagram at all; an unnamed
/// start event means the instance starts with the first event of a step after it.
fn mined(prefix: &str) -> String {
    format!(
        r#"<{p}:definitions xmlns:{p}="http://www.omg.org/spec/BPMN/20100524/MODEL" id="d">
  <{p}:process id="mined">
    <{p}:startEvent id="s"/>
    <{p}:task id="a" name="register"/>
    <{p}:exclusiveGateway id="x"/>
    <{p}:task id="b" name="examine"/>
    <{p}:exclusiveGateway id="y"/>
    <{p}:endEvent id="e"/>
    <{p}:sequenceFlow id="1" sourceRef="s" targetRef="a"/>
    <{p}:sequenceFlow id="2" sourceRef="a" targetRef="x"/>
    <{p}:sequenceFlow id="3" sourceRef="x" targetRef="b"/>
    <{p}:sequenceFlow id="4" sourceRef="b" targetRef="y"/>
    <{p}:sequenceFlow id="5" sourceRef="y" targetRef="x"/>
    <{p}:sequenceFlow id="6" sourceRef="y" targetRef="e"/>
  </{p}:process>
</{p}:definitions>"#,
        p = prefix
    )
}

#[test]
fn mined_models_without_a_diagram_are_laid_out_and_start_with_their_first_step() {
    for prefix in ["semantic", "bpmn2"] {
        let flow = Flow::parse_bpmn("mined.bpmn", &mined(prefix), None).unwrap_or_else(|e| panic!("{prefix}: {}", e.join("\n")));
        assert!(flow.drawn.is_none(), "no diagram interchange: laid out");
        assert_eq!(flow.back.len(), 1);
        let mut inst = Instance::new(&flow);
        for (i, ty) in ["register", "examine", "examine", "examine"].iter().enumerate() {
            inst.apply(&flow, &format!("e{i}"), ty, Millis(1000 + i as i64));
        }
        assert_eq!(inst.started(), Some(Millis(1000)), "started with its first step");
        assert_eq!(inst.deviations(&flow), vec![], "{prefix}");
        assert_eq!(inst.nodes(&flow)[flow.node_index("b").unwrap()].visits.len(), 3);
        assert_eq!(inst.status(&flow), Status::Running, "the untyped end is reached when an event shows it");
    }
}

#[test]
fn a_bpmn_flow_round_trips_through_export() {
    let first = claims();
    let xml = flowlens_core::bpmn::export(&first, &flowlens_core::layout::draw(&first));
    let again = Flow::parse_bpmn("exported.bpmn", &xml, Some(("claims.bpmn.toml", &fixture("claims.bpmn.toml"))))
        .unwrap_or_else(|e| panic!("{}\n{xml}", e.join("\n")));
    assert_eq!(again, first);
    let signavio = Flow::parse_bpmn("order.bpmn", SIGNAVIO, None).unwrap();
    let xml = flowlens_core::bpmn::export(&signavio, &flowlens_core::layout::draw(&signavio));
    assert_eq!(Flow::parse_bpmn("order-again.bpmn", &xml, None).unwrap(), signavio);
}

/// A minimal model with `body` inside the process, around a start and an end.
fn with(body: &str) -> String {
    format!(
        r#"<?xml version="1.0"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" id="d">
  <bpmn:process id="p">
    <bpmn:startEvent id="start" name="Go"/>
    <bpmn:task id="work" name="Worked"/>
    <bpmn:endEvent id="end" name="Done"/>
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="work"/>
    <bpmn:sequenceFlow id="f2" sourceRef="work" targetRef="end"/>
{body}
  </bpmn:process>
</bpmn:definitions>"#
    )
}

#[test]
fn what_is_not_supported_is_refused_with_file_line_element_and_advice() {
    let cases: Vec<(String, &str)> = vec![
        (with(r#"    <bpmn:subProcess id="sub"/>"#), "m.bpmn:9: element `sub`: <subProcess> is not supported: draw its steps in the main process"),
        (with(r#"    <bpmn:callActivity id="call"/>"#), "m.bpmn:9: element `call`: <callActivity> is not supported: track the called process as a flow of its own"),
        (with(r#"    <bpmn:eventBasedGateway id="ebg"/>"#), "m.bpmn:9: element `ebg`: <eventBasedGateway> is not supported: use an exclusive gateway"),
        (with(r#"    <bpmn:boundaryEvent id="msg" attachedToRef="work"><bpmn:messageEventDefinition/></bpmn:boundaryEvent>"#), "m.bpmn:9: boundary event `msg` of kind <messageEventDefinition> is not supported"),
        (
            with(r#"    <bpmn:boundaryEvent id="t" attachedToRef="work"><bpmn:timerEventDefinition><bpmn:timeDuration>PT5M</bpmn:timeDuration></bpmn:timerEventDefinition></bpmn:boundaryEvent>
    <bpmn:sequenceFlow id="f3" sourceRef="t" targetRef="end"/>"#),
            "m.bpmn:9: timer `t` leads somewhere: a path taken on timeout is not supported",
        ),
        (
            with(r#"    <bpmn:boundaryEvent id="t" attachedToRef="work"><bpmn:timerEventDefinition><bpmn:timeDuration>soon</bpmn:timeDuration></bpmn:timerEventDefinition></bpmn:boundaryEvent>"#),
            "m.bpmn:9: timer `t`: `soon` is not an ISO 8601 duration",
        ),
        (with(r#"    <bpmn:task id="nameless"/><bpmn:sequenceFlow id="f4" sourceRef="work" targetRef="nameless"/><bpmn:sequenceFlow id="f5" sourceRef="nameless" targetRef="end"/>"#), "m.bpmn:9: task `nameless` has no name"),
        (with(r#"    <bpmn:sequenceFlow id="f6" sourceRef="work" targetRef="nowhere"/>"#), "m.bpmn:9: sequence flow `f6` goes to `nowhere`, which is no step of this process"),
        (with(r#"    <bpmn:task id="loop" name="Looped"/><bpmn:sequenceFlow id="f7" sourceRef="work" targetRef="loop"/><bpmn:sequenceFlow id="f8" sourceRef="loop" targetRef="loop"/>"#), "the loop through `loop` has no way out"),
        (with(r#"    <bpmn:task id="twin" name="Worked"/><bpmn:sequenceFlow id="f9" sourceRef="work" targetRef="twin"/><bpmn:sequenceFlow id="f10" sourceRef="twin" targetRef="end"/>"#), "m.bpmn:9: event type `Worked` is mapped more than once"),
        ("<notbpmn/>".to_string(), "m.bpmn:1: the root element is <notbpmn> (no namespace), not a BPMN 2.0 <definitions>"),
        ("<bpmn:definitions xmlns:bpmn=\"http://www.omg.org/spec/BPMN/20100524/MODEL\">\n<bpmn:process id=\"p\">\n</bpmn:definitions>".to_string(), "m.bpmn:3: not well-formed XML"),
    ];
    for (xml, expected) in cases {
        let problems = Flow::parse_bpmn("m.bpmn", &xml, None).err().unwrap_or_else(|| panic!("accepted:\n{xml}")).join("\n");
        assert!(problems.contains(expected), "expected\n  {expected}\namong\n{problems}");
    }
    let pools = r#"<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL">
  <bpmn:collaboration id="c">
    <bpmn:participant id="a" processRef="p"/>
    <bpmn:messageFlow id="mf" sourceRef="a" targetRef="a"/>
  </bpmn:collaboration>
  <bpmn:process id="p"><bpmn:startEvent id="s" name="S"/></bpmn:process>
</bpmn:definitions>"#;
    let problems = Flow::parse_bpmn("pools.bpmn", pools, None).unwrap_err().join("\n");
    assert!(problems.contains("pools.bpmn:4: message flow `mf` between pools is not supported: model each pool as its own flow file"), "{problems}");
}

#[test]
fn sidecar_mistakes_name_the_sidecar_and_its_place() {
    let xml = fixture("claims.bpmn");
    let problems = Flow::parse_bpmn("claims.bpmn", &xml, Some(("claims.bpmn.toml", "[[nodes]]\nid = \"examin\"\nsuccess = \"x\"\n"))).unwrap_err();
    assert!(problems.iter().any(|p| p == "claims.bpmn.toml:2:6: `examin` is no element of claims.bpmn"), "{problems:?}");
    let problems = Flow::parse_bpmn("claims.bpmn", &xml, Some(("claims.bpmn.toml", "version = 0\nbogus = 1\n"))).unwrap_err();
    assert!(problems.iter().any(|p| p.starts_with("claims.bpmn.toml:2:1: unknown field `bogus`")), "{problems:?}");
}

#[test]
fn coordinates_no_drawing_could_have_fall_back_to_the_layout() {
    let xml = fixture("claims.bpmn").replace(r#"<dc:Bounds x="660" y="160""#, r#"<dc:Bounds x="1e40" y="NaN""#);
    let flow = Flow::parse_bpmn("claims.bpmn", &xml, Some(("claims.bpmn.toml", &fixture("claims.bpmn.toml")))).unwrap();
    assert!(flow.drawn.is_none(), "one shape without usable bounds: laid out instead");
    let d = flowlens_core::layout::draw(&flow);
    assert!(d.width.is_finite() && d.height.is_finite());
}
