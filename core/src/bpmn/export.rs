//! Out: any flow as BPMN XML with diagram interchange (shapes and edge waypoints), laid
//! out as Flowlens draws it, so it opens in bpmn.io or Camunda Modeler as it looks here.
//!
//! What BPMN has no place for (which event type moves which step, commands, correlation) stays in
//! the flow file; the diagram carries names, kinds, sequence flows, and each step's SLA as a
//! boundary timer with an ISO 8601 duration.

use std::collections::HashMap;
use std::io;

use quick_xml::events::{BytesDecl, BytesText, Event};
use quick_xml::Writer;

use crate::flow::{Flow, NodeKind, Outcome, Task};
use crate::layout::Diagram;

use super::{BPMNDI, DC, DI, MODEL};

/// An XML id (NCName) for `raw`: letters, digits, `-`, `_`, `.`; starting with a letter or `_`.
pub(super) fn xml_id(raw: &str) -> String {
    let mut id: String = raw.chars().map(|c| if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') { c } else { '_' }).collect();
    if !id.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_') {
        id.insert(0, '_');
    }
    id
}

/// An SLA as an ISO 8601 duration, e.g. `PT10M`, `PT4H`, `PT0.5S`.
pub(super) fn iso_duration(millis: i64) -> String {
    let (h, rest) = (millis / 3_600_000, millis % 3_600_000);
    let (m, rest) = (rest / 60_000, rest % 60_000);
    let mut out = String::from("PT");
    if h > 0 {
        out.push_str(&format!("{h}H"));
    }
    if m > 0 {
        out.push_str(&format!("{m}M"));
    }
    if rest > 0 || out == "PT" {
        if rest % 1000 == 0 {
            out.push_str(&format!("{}S", rest / 1000));
        } else {
            out.push_str(&format!("{}S", rest as f64 / 1000.0));
        }
    }
    out
}

fn num(v: f32) -> String {
    format!("{}", (v * 10.0).round() / 10.0)
}

/// The flow as BPMN 2.0 XML, drawn at `diagram`'s coordinates.
pub fn export(flow: &Flow, diagram: &Diagram) -> String {
    let mut writer = Writer::new_with_indent(Vec::new(), b' ', 2);
    write(&mut writer, flow, diagram).expect("writing to memory does not fail");
    String::from_utf8(writer.into_inner()).expect("the writer writes UTF-8")
}

fn write(w: &mut Writer<Vec<u8>>, flow: &Flow, diagram: &Diagram) -> io::Result<()> {
    // Node ids made XML-safe and unique; sequence flows named after their ends.
    let ids = crate::flow::unique_ids(flow.nodes.iter().map(|n| xml_id(&n.id)), '_');
    let index: HashMap<&str, usize> = flow.nodes.iter().enumerate().map(|(i, n)| (n.id.as_str(), i)).collect();
    let edges: Vec<(usize, usize, String)> = flow
        .nodes
        .iter()
        .enumerate()
        .flat_map(|(i, n)| n.next.iter().map(move |&j| (i, j)))
        .map(|(i, j)| (i, j, format!("Flow_{}_{}", ids[i], ids[j])))
        .collect();
    let process = format!("Process_{}", xml_id(&flow.id));

    w.write_event(Event::Decl(BytesDecl::new("1.0", Some("UTF-8"), None)))?;
    w.create_element("bpmn:definitions")
        .with_attributes([
            ("xmlns:bpmn", MODEL),
            ("xmlns:bpmndi", BPMNDI),
            ("xmlns:dc", DC),
            ("xmlns:di", DI),
            ("id", &format!("Definitions_{}", xml_id(&flow.id))),
            ("targetNamespace", "https://flowlens.dev/flows"),
            ("exporter", "Flowlens"),
            ("exporterVersion", env!("CARGO_PKG_VERSION")),
        ])
        .write_inner_content(|w| {
            w.create_element("bpmn:process")
                .with_attributes([("id", process.as_str()), ("name", &flow.name), ("isExecutable", "false")])
                .write_inner_content(|w| {
                    w.create_element("bpmn:documentation")
                        .write_text_content(BytesText::new(&format!("Flowlens flow `{}` version {}", flow.id, flow.version)))?;
                    for (i, node) in flow.nodes.iter().enumerate() {
                        let tag = match &node.kind {
                            NodeKind::Start { .. } => "bpmn:startEvent".to_string(),
                            NodeKind::End { .. } => "bpmn:endEvent".to_string(),
                            NodeKind::Task(t) => format!("bpmn:{}", t.form.as_deref().unwrap_or("serviceTask")),
                            NodeKind::Parallel => "bpmn:parallelGateway".to_string(),
                            NodeKind::Exclusive => "bpmn:exclusiveGateway".to_string(),
                            NodeKind::Inclusive => "bpmn:inclusiveGateway".to_string(),
                            NodeKind::Intermediate { throw: true, .. } => "bpmn:intermediateThrowEvent".to_string(),
                            NodeKind::Intermediate { throw: false, .. } => "bpmn:intermediateCatchEvent".to_string(),
                        };
                        // A step's name is what people read (and, read back, its event type); an
                        // event or gateway named only by its id has no name.
                        let named = matches!(node.kind, NodeKind::Task(_)) || node.name != node.id;
                        let mut element = w.create_element(tag.as_str()).with_attribute(("id", ids[i].as_str()));
                        if named {
                            element = element.with_attribute(("name", node.name.as_str()));
                        }
                        element.write_inner_content(|w| {
                            for (_, _, id) in edges.iter().filter(|(_, to, _)| *to == i) {
                                w.create_element("bpmn:incoming").write_text_content(BytesText::new(id))?;
                            }
                            for (j, from) in flow.nodes.iter().enumerate() {
                                if let NodeKind::Task(Task { on_failure: Some(to), .. }) = &from.kind {
                                    if *to == i {
                                        let id = format!("Flow_{}_failed_{}", ids[j], ids[i]);
                                        w.create_element("bpmn:incoming").write_text_content(BytesText::new(&id))?;
                                    }
                                }
                            }
                            for (_, _, id) in edges.iter().filter(|(from, _, _)| *from == i) {
                                w.create_element("bpmn:outgoing").write_text_content(BytesText::new(id))?;
                            }
                            if let NodeKind::End { outcome: Outcome::Failure, .. } = node.kind {
                                w.create_element("bpmn:terminateEventDefinition")
                                    .with_attribute(("id", format!("{}_terminate", ids[i]).as_str()))
                                    .write_empty()?;
                            }
                            Ok(())
                        })?;
                    }
                    for (from, to, id) in &edges {
                        w.create_element("bpmn:sequenceFlow")
                            .with_attributes([("id", id.as_str()), ("sourceRef", &ids[*from]), ("targetRef", &ids[*to])])
                            .write_empty()?;
                    }
                    // Where a failure goes: an error event on the task's border, and a flow from it.
                    for (i, node) in flow.nodes.iter().enumerate() {
                        let NodeKind::Task(Task { on_failure: Some(to), .. }) = &node.kind else { continue };
                        let boundary = format!("{}_failed", ids[i]);
                        let flow_id = format!("Flow_{boundary}_{}", ids[*to]);
                        w.create_element("bpmn:boundaryEvent")
                            .with_attributes([("id", boundary.as_str()), ("name", "failed"), ("attachedToRef", &ids[i])])
                            .write_inner_content(|w| {
                                w.create_element("bpmn:outgoing").write_text_content(BytesText::new(&flow_id))?;
                                w.create_element("bpmn:errorEventDefinition").with_attribute(("id", format!("{boundary}_error").as_str())).write_empty()?;
                                Ok(())
                            })?;
                        w.create_element("bpmn:sequenceFlow")
                            .with_attributes([("id", flow_id.as_str()), ("sourceRef", &boundary), ("targetRef", &ids[*to])])
                            .write_empty()?;
                    }
                    // A step's SLA: a non-interrupting timer on its border.
                    for (i, node) in flow.nodes.iter().enumerate() {
                        let (NodeKind::Task(_), Some(sla)) = (&node.kind, node.sla) else { continue };
                        w.create_element("bpmn:boundaryEvent")
                            .with_attributes([
                                ("id", format!("{}_sla", ids[i]).as_str()),
                                ("name", &format!("SLA {}", sla.human())),
                                ("attachedToRef", &ids[i]),
                                ("cancelActivity", "false"),
                            ])
                            .write_inner_content(|w| {
                                w.create_element("bpmn:timerEventDefinition")
                                    .with_attribute(("id", format!("{}_sla_timer", ids[i]).as_str()))
                                    .write_inner_content(|w| {
                                        w.create_element("bpmn:timeDuration")
                                            .with_attribute(("xsi:type", "bpmn:tFormalExpression"))
                                            .with_attribute(("xmlns:xsi", "http://www.w3.org/2001/XMLSchema-instance"))
                                            .write_text_content(BytesText::new(&iso_duration(sla.0)))?;
                                        Ok(())
                                    })?;
                                Ok(())
                            })?;
                    }
                    Ok(())
                })?;
            w.create_element("bpmndi:BPMNDiagram").with_attribute(("id", format!("Diagram_{}", xml_id(&flow.id)).as_str())).write_inner_content(
                |w| {
                    w.create_element("bpmndi:BPMNPlane")
                        .with_attributes([("id", format!("Plane_{}", xml_id(&flow.id)).as_str()), ("bpmnElement", &process)])
                        .write_inner_content(|w| {
                            for shape in &diagram.nodes {
                                let Some(&i) = index.get(shape.id.as_str()) else { continue };
                                let (x, y) = (shape.x - shape.w / 2.0, shape.y - shape.h / 2.0);
                                bounds(w, &format!("{}_di", ids[i]), &ids[i], x, y, shape.w, shape.h)?;
                                if let (NodeKind::Task(_), Some(_)) = (&flow.nodes[i].kind, flow.nodes[i].sla) {
                                    // The timer sits on the task's lower right corner.
                                    let sla = format!("{}_sla", ids[i]);
                                    bounds(w, &format!("{sla}_di"), &sla, x + shape.w - 28.0, y + shape.h - 18.0, 36.0, 36.0)?;
                                }
                                if let NodeKind::Task(Task { on_failure: Some(_), .. }) = &flow.nodes[i].kind {
                                    // The error event sits on the task's lower left corner.
                                    let failed = format!("{}_failed", ids[i]);
                                    bounds(w, &format!("{failed}_di"), &failed, x + 10.0, y + shape.h - 18.0, 36.0, 36.0)?;
                                }
                            }
                            for edge in &diagram.edges {
                                let (Some(&from), Some(&to)) = (index.get(edge.from.as_str()), index.get(edge.to.as_str())) else { continue };
                                let id = if edge.failure { format!("Flow_{}_failed_{}", ids[from], ids[to]) } else { format!("Flow_{}_{}", ids[from], ids[to]) };
                                w.create_element("bpmndi:BPMNEdge")
                                    .with_attributes([("id", format!("{id}_di").as_str()), ("bpmnElement", &id)])
                                    .write_inner_content(|w| {
                                        for (x, y) in &edge.points {
                                            w.create_element("di:waypoint").with_attributes([("x", num(*x).as_str()), ("y", &num(*y))]).write_empty()?;
                                        }
                                        Ok(())
                                    })?;
                            }
                            Ok(())
                        })?;
                    Ok(())
                },
            )?;
            Ok(())
        })?;
    Ok(())
}

fn bounds(w: &mut Writer<Vec<u8>>, id: &str, element: &str, x: f32, y: f32, width: f32, height: f32) -> io::Result<()> {
    w.create_element("bpmndi:BPMNShape").with_attributes([("id", id), ("bpmnElement", element)]).write_inner_content(|w| {
        w.create_element("dc:Bounds")
            .with_attributes([("x", num(x).as_str()), ("y", &num(y)), ("width", &num(width)), ("height", &num(height))])
            .write_empty()?;
        Ok(())
    })?;
    Ok(())
}

#[cfg(all(test, feature = "files"))]
mod tests {
    use super::*;

    fn onboarding() -> Flow {
        let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../flows/customer-onboarding.toml")).unwrap();
        Flow::parse_toml("onboarding", &text).unwrap()
    }

    #[test]
    fn every_node_and_edge_is_in_the_model_and_the_diagram() {
        let flow = onboarding();
        let xml = export(&flow, &crate::layout(&flow));
        for node in &flow.nodes {
            assert!(xml.contains(&format!("id=\"{}\"", node.id)), "{}", node.id);
            assert!(xml.contains(&format!("bpmnElement=\"{}\"", node.id)), "a shape for {}", node.id);
        }
        // Every sequence flow, and the flow from the address check's failure to the correction.
        let edges: usize = (0..flow.nodes.len()).map(|i| flow.successors(i).count()).sum();
        assert_eq!(xml.matches("<bpmn:sequenceFlow ").count(), edges);
        assert_eq!(xml.matches("<bpmndi:BPMNEdge ").count(), edges);
        assert!(xml.contains("<bpmn:errorEventDefinition"), "a failure leaves the task by an error event");
        assert!(xml.contains("PT10M"), "the checks' 10-minute SLA as a boundary timer");
    }

    #[test]
    fn names_are_escaped_and_ids_are_xml_names() {
        assert_eq!(xml_id("1st check"), "_1st_check");
        assert_eq!(xml_id("credit"), "credit");
        let mut flow = onboarding();
        flow.name = "Onboarding <\"&'> & more".into();
        let xml = export(&flow, &crate::layout(&flow));
        assert!(xml.contains("name=\"Onboarding &lt;&quot;&amp;&apos;&gt; &amp; more\""), "{}", &xml[..600]);
    }

    #[test]
    fn durations_are_iso_8601() {
        assert_eq!(iso_duration(600_000), "PT10M");
        assert_eq!(iso_duration(4 * 3_600_000), "PT4H");
        assert_eq!(iso_duration(3_600_000 + 90_000), "PT1H1M30S");
        assert_eq!(iso_duration(500), "PT0.5S");
        assert_eq!(iso_duration(0), "PT0S");
    }
}
