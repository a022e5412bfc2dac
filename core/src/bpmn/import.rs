//! In: a BPMN 2.0 model (and its optional sidecar) as a [`Flow`].
//!
//! The XML is read with a namespace-aware reader, so prefixes do not matter (`bpmn:`, `bpmn2:`,
//! `semantic:` or none; `dc`/`omgdc` for diagram bounds). By default an element's name is the
//! event type of its completion (a start event's: the type that starts an instance; an end
//! event's: the type that ends it there); the sidecar maps anything else. What the tracking model
//! has no meaning for is refused with the file, the line, the element and what to do instead.

use std::collections::HashMap;

use quick_xml::events::Event;
use quick_xml::name::ResolveResult;
use quick_xml::NsReader;

use super::{BPMNDI, DC, DI, MODEL};
use crate::flow::{index_triggers, Flow, Node, NodeKind, Outcome, Task};
use crate::flow_file::{parse_sidecar, Sidecar};
use crate::layout::{Diagram, Edge, Shape};
use crate::time::Span;

/// An element of the document, its namespace resolved.
struct Elem {
    ns: String,
    name: String,
    attrs: Vec<(String, String)>,
    text: String,
    children: Vec<usize>,
    line: usize,
}

impl Elem {
    fn attr(&self, key: &str) -> Option<&str> {
        self.attrs.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
    }

    fn is(&self, ns: &str, name: &str) -> bool {
        self.ns == ns && self.name == name
    }
}

/// Reads the whole document into elements (index 0 is the root).
fn read(file: &str, xml: &str) -> Result<Vec<Elem>, Vec<String>> {
    let starts: Vec<usize> = std::iter::once(0).chain(xml.match_indices('\n').map(|(i, _)| i + 1)).collect();
    let line_of = |pos: usize| starts.partition_point(|&s| s <= pos);
    let mut reader = NsReader::from_str(xml);
    let mut elems: Vec<Elem> = Vec::new();
    let mut stack: Vec<usize> = Vec::new();
    loop {
        let pos = reader.buffer_position() as usize;
        let (ns, event) = match reader.read_resolved_event() {
            Ok(x) => x,
            Err(e) => {
                let at = line_of(reader.error_position() as usize);
                return Err(vec![format!("{file}:{at}: not well-formed XML: {e}")]);
            }
        };
        let ns = match ns {
            ResolveResult::Bound(n) => n.0.to_string(),
            _ => String::new(),
        };
        match event {
            Event::Start(ref e) | Event::Empty(ref e) => {
                let mut attrs = Vec::new();
                for a in e.attributes().flatten() {
                    let key = a.key.local_name().as_ref().to_string();
                    let value = a.normalized_value(quick_xml::XmlVersion::Implicit1_0).map(|v| v.into_owned()).unwrap_or_default();
                    attrs.push((key, value));
                }
                let i = elems.len();
                elems.push(Elem { ns, name: e.local_name().as_ref().to_string(), attrs, text: String::new(), children: Vec::new(), line: line_of(pos) });
                if let Some(&parent) = stack.last() {
                    elems[parent].children.push(i);
                }
                if matches!(event, Event::Start(_)) {
                    stack.push(i);
                }
            }
            Event::End(_) => {
                stack.pop();
            }
            Event::Text(t) => {
                if let Some(&top) = stack.last() {
                    elems[top].text.push_str(&t.xml10_content());
                }
            }
            Event::CData(t) => {
                if let Some(&top) = stack.last() {
                    elems[top].text.push_str(&t.into_inner());
                }
            }
            Event::GeneralRef(r) => {
                if let Some(&top) = stack.last() {
                    if let Ok(Some(c)) = r.resolve_char_ref() {
                        elems[top].text.push(c);
                    } else if let Some(s) = quick_xml::escape::resolve_predefined_entity(&r) {
                        elems[top].text.push_str(s);
                    }
                }
            }
            Event::Eof => break,
            _ => {}
        }
    }
    if elems.is_empty() {
        return Err(vec![format!("{file}: empty document: a BPMN file holds a <definitions> element")]);
    }
    Ok(elems)
}

/// The task types BPMN has; all track the same way.
const TASKS: [&str; 8] = ["task", "serviceTask", "userTask", "sendTask", "receiveTask", "manualTask", "scriptTask", "businessRuleTask"];

/// Elements that carry no behaviour Flowlens tracks: read past.
const IGNORED: [&str; 16] = [
    "documentation", "extensionElements", "laneSet", "lane", "dataObject", "dataObjectReference", "dataStoreReference",
    "textAnnotation", "association", "group", "category", "property", "ioSpecification", "dataInputAssociation",
    "dataOutputAssociation", "incoming",
];

/// What to do instead, for elements the model refuses.
fn instead(name: &str) -> &'static str {
    match name {
        "subProcess" | "adHocSubProcess" | "transaction" => "draw its steps in the main process (expanded), or track the subprocess as a flow of its own",
        "callActivity" => "track the called process as a flow of its own, and this step as a task whose events say it started and ended",
        "eventBasedGateway" => "use an exclusive gateway: Flowlens follows the branch whose event arrives first",
        "complexGateway" => "use an inclusive or exclusive gateway",
        "messageFlow" => "model each pool as its own flow file; events correlate them by key",
        _ => "leave it out of the model, or map it to a task or event",
    }
}

/// A flow node as read, before it becomes a [`Node`].
struct Read {
    elem: usize,
    id: String,
    name: String,
    kind: ReadKind,
}

enum ReadKind {
    Start,
    End { failure: bool },
    Task { form: String },
    Exclusive,
    Parallel,
    Inclusive,
    Intermediate { throw: bool },
}

/// An ISO 8601 duration as BPMN timers write it: `PT10M`, `P1DT2H`, `PT0.5S`.
pub(crate) fn parse_iso_duration(text: &str) -> Option<Span> {
    let rest = text.trim().strip_prefix('P')?;
    let (days, time) = match rest.split_once('T') {
        Some((d, t)) => (d, t),
        None => (rest, ""),
    };
    let mut ms = 0f64;
    let mut take = |part: &str, units: &[(char, f64)]| -> Option<()> {
        let mut num = String::new();
        for c in part.chars() {
            if c.is_ascii_digit() || c == '.' {
                num.push(c);
            } else {
                let factor = units.iter().find(|(u, _)| *u == c)?.1;
                ms += num.parse::<f64>().ok()? * factor;
                num.clear();
            }
        }
        num.is_empty().then_some(())
    };
    take(days, &[('W', 604_800_000.0), ('D', 86_400_000.0)])?;
    take(time, &[('H', 3_600_000.0), ('M', 60_000.0), ('S', 1_000.0)])?;
    (ms >= 1.0 && (days.len() + time.len()) > 0).then_some(Span(ms.round() as i64))
}

impl Flow {
    /// Reads a BPMN 2.0 model (`file` names it in problems) and its sidecar, if any: `(file,
    /// text)` of `NAME.bpmn.toml`. Every problem names the file, the line, and the element.
    pub fn parse_bpmn(file: &str, xml: &str, sidecar: Option<(&str, &str)>) -> Result<Flow, Vec<String>> {
        let side = match sidecar {
            Some((name, text)) => parse_sidecar(name, text)?,
            None => Sidecar::none(),
        };
        let elems = read(file, xml)?;
        let mut problems: Vec<String> = Vec::new();
        let at = |e: &Elem| format!("{file}:{}", e.line);
        let root = &elems[0];
        if !root.is(MODEL, "definitions") {
            return Err(vec![format!(
                "{}: the root element is <{}> ({}), not a BPMN 2.0 <definitions>",
                at(root),
                root.name,
                if root.ns.is_empty() { "no namespace".to_string() } else { root.ns.clone() }
            )]);
        }

        // Pools: one process with content; message flows between pools have no meaning here.
        let mut processes = Vec::new();
        for &c in &root.children {
            let e = &elems[c];
            if e.is(MODEL, "process") {
                processes.push(c);
            } else if e.is(MODEL, "collaboration") {
                for &m in &e.children {
                    if elems[m].is(MODEL, "messageFlow") {
                        let id = elems[m].attr("id").unwrap_or("?");
                        problems.push(format!("{}: message flow `{id}` between pools is not supported: {}", at(&elems[m]), instead("messageFlow")));
                    }
                }
            }
        }
        let with_content: Vec<usize> = processes.iter().copied().filter(|&p| !elems[p].children.is_empty()).collect();
        let process = match with_content.as_slice() {
            [p] => *p,
            [] => {
                problems.push(format!("{}: no process with steps in it", at(root)));
                return Err(problems);
            }
            [_, second, ..] => {
                let id = elems[*second].attr("id").unwrap_or("?");
                problems.push(format!(
                    "{}: a second process `{id}` (another pool): a flow is one process; {}",
                    at(&elems[*second]),
                    instead("messageFlow")
                ));
                return Err(problems);
            }
        };

        // Flow nodes, boundary events and sequence flows, in document order (lanes hold only references).
        let mut read_nodes: Vec<Read> = Vec::new();
        let mut boundaries: Vec<usize> = Vec::new();
        let mut flows: Vec<usize> = Vec::new();
        for &c in &elems[process].children {
            let e = &elems[c];
            if e.ns != MODEL {
                continue; // another vendor's extension
            }
            let id = e.attr("id").unwrap_or_default().to_string();
            let name = e.attr("name").unwrap_or_default().trim().to_string();
            let has = |def: &str| e.children.iter().any(|&d| elems[d].is(MODEL, def));
            let kind = match e.name.as_str() {
                "startEvent" => Some(ReadKind::Start),
                "endEvent" => Some(ReadKind::End { failure: has("terminateEventDefinition") || has("errorEventDefinition") }),
                t if TASKS.contains(&t) => Some(ReadKind::Task { form: t.to_string() }),
                "exclusiveGateway" => Some(ReadKind::Exclusive),
                "parallelGateway" => Some(ReadKind::Parallel),
                "inclusiveGateway" => Some(ReadKind::Inclusive),
                "intermediateCatchEvent" => Some(ReadKind::Intermediate { throw: false }),
                "intermediateThrowEvent" => Some(ReadKind::Intermediate { throw: true }),
                "boundaryEvent" => {
                    boundaries.push(c);
                    None
                }
                "sequenceFlow" => {
                    flows.push(c);
                    None
                }
                n if IGNORED.contains(&n) => None,
                other => {
                    problems.push(format!("{}: element `{id}`: <{other}> is not supported: {}", at(e), instead(other)));
                    None
                }
            };
            if let Some(kind) = kind {
                if id.is_empty() {
                    problems.push(format!("{}: a <{}> without an id", at(e), e.name));
                }
                read_nodes.push(Read { elem: c, id, name, kind });
            }
        }
        let index: HashMap<&str, usize> = read_nodes.iter().enumerate().map(|(i, r)| (r.id.as_str(), i)).collect();

        // Boundary events: a timer is the step's SLA; an error is where its failure goes.
        let mut sla: HashMap<usize, Span> = HashMap::new();
        let mut error_of: HashMap<&str, usize> = HashMap::new(); // boundary id -> task
        for &b in &boundaries {
            let e = &elems[b];
            let id = e.attr("id").unwrap_or("?");
            let Some(&task) = e.attr("attachedToRef").and_then(|t| index.get(t)) else {
                problems.push(format!("{}: boundary event `{id}` is attached to no step of this process", at(e)));
                continue;
            };
            let defs: Vec<&Elem> = e.children.iter().map(|&d| &elems[d]).filter(|d| d.ns == MODEL && d.name.ends_with("EventDefinition")).collect();
            let outgoing = flows.iter().filter(|&&f| elems[f].attr("sourceRef") == Some(id)).count();
            match defs.as_slice() {
                [d] if d.name == "timerEventDefinition" => {
                    let duration = d.children.iter().map(|&x| &elems[x]).find(|x| x.is(MODEL, "timeDuration"));
                    match duration.map(|x| (x, parse_iso_duration(&x.text))) {
                        Some((_, Some(span))) if outgoing == 0 => {
                            sla.insert(task, span);
                        }
                        Some((_, Some(_))) => problems.push(format!(
                            "{}: timer `{id}` leads somewhere: a path taken on timeout is not supported; Flowlens marks a late step as an SLA breach (drop the timer's outgoing flow)",
                            at(e)
                        )),
                        Some((x, None)) => problems.push(format!("{}: timer `{id}`: `{}` is not an ISO 8601 duration such as PT10M", at(x), x.text.trim())),
                        None => problems.push(format!("{}: timer `{id}` has no <timeDuration>: a step SLA is a duration (a date or a cycle is not)", at(e))),
                    }
                }
                [d] if d.name == "errorEventDefinition" => {
                    if outgoing == 1 {
                        error_of.insert(id, task);
                    } else {
                        problems.push(format!("{}: error event `{id}` needs exactly one outgoing flow: where the failed step goes on", at(e)));
                    }
                }
                [d] => problems.push(format!(
                    "{}: boundary event `{id}` of kind <{}> is not supported: a timer is a step SLA, an error is where a failure goes",
                    at(e),
                    d.name
                )),
                _ => problems.push(format!("{}: boundary event `{id}` needs one event definition: a timer (the step's SLA) or an error", at(e))),
            }
        }

        // Sequence flows; those from an error boundary event are the task's failure path.
        let mut next: Vec<Vec<usize>> = vec![Vec::new(); read_nodes.len()];
        let mut on_failure: HashMap<usize, usize> = HashMap::new();
        let mut flow_ids: Vec<(String, usize, usize, bool)> = Vec::new();
        for &f in &flows {
            let e = &elems[f];
            let id = e.attr("id").unwrap_or("?");
            let (source, target) = (e.attr("sourceRef").unwrap_or_default(), e.attr("targetRef").unwrap_or_default());
            let Some(&to) = index.get(target) else {
                problems.push(format!("{}: sequence flow `{id}` goes to `{target}`, which is no step of this process", at(e)));
                continue;
            };
            if let Some(&task) = error_of.get(source) {
                on_failure.insert(task, to);
                flow_ids.push((id.to_string(), task, to, true));
            } else if let Some(&from) = index.get(source) {
                next[from].push(to);
                flow_ids.push((id.to_string(), from, to, false));
            } else if !boundaries.iter().any(|&b| elems[b].attr("id") == Some(source)) {
                problems.push(format!("{}: sequence flow `{id}` comes from `{source}`, which is no step of this process", at(e)));
            }
        }

        // The sidecar's word on each element, by id.
        let mapped: HashMap<&str, &crate::flow_file::SidecarNode> = side.nodes.iter().map(|n| (n.id.as_str(), n)).collect();
        for n in &side.nodes {
            if !index.contains_key(n.id.as_str()) {
                problems.push(format!("{}: `{}` is no element of {file}", n.place, n.id));
            }
        }
        let mut nodes: Vec<Node> = Vec::with_capacity(read_nodes.len());
        for (i, r) in read_nodes.iter().enumerate() {
            let e = &elems[r.elem];
            let m = mapped.get(r.id.as_str());
            let pick = |from_side: Option<&Option<String>>, default: &str| -> String {
                from_side.and_then(|v| v.clone()).unwrap_or_else(|| default.to_string())
            };
            let kind = match &r.kind {
                ReadKind::Start => NodeKind::Start { event: pick(m.map(|m| &m.event), &r.name) },
                ReadKind::End { failure } => NodeKind::End {
                    event: pick(m.map(|m| &m.event), &r.name),
                    outcome: if *failure { Outcome::Failure } else { Outcome::Success },
                },
                ReadKind::Intermediate { throw } => NodeKind::Intermediate { event: pick(m.map(|m| &m.event), &r.name), throw: *throw },
                ReadKind::Exclusive => NodeKind::Exclusive,
                ReadKind::Parallel => NodeKind::Parallel,
                ReadKind::Inclusive => NodeKind::Inclusive,
                ReadKind::Task { form } => {
                    let success = pick(m.map(|m| &m.success), &r.name);
                    if success.is_empty() {
                        problems.push(format!(
                            "{}: task `{}` has no name: name it after the event type that completes it, or map it in the sidecar (`success = \"...\"`)",
                            at(e),
                            r.id
                        ));
                    }
                    NodeKind::Task(Task {
                        request: m.and_then(|m| m.request.clone()),
                        success,
                        failure: m.and_then(|m| m.failure.clone()),
                        retry: m.and_then(|m| m.retry.clone()),
                        compensation: m.and_then(|m| m.compensation.clone()),
                        on_failure: on_failure.get(&i).copied(),
                        form: (form != "serviceTask").then(|| form.clone()),
                    })
                }
            };
            if let (NodeKind::Task(t), true) = (&kind, on_failure.contains_key(&i)) {
                if t.failure.is_none() {
                    problems.push(format!(
                        "{}: task `{}` has an error event but no failure event type: set `failure = \"...\"` for it in the sidecar",
                        at(e),
                        r.id
                    ));
                }
            }
            let side_name = m.and_then(|m| m.name.clone());
            let name = side_name.unwrap_or_else(|| if r.name.is_empty() { r.id.clone() } else { r.name.clone() });
            let node_sla = m.and_then(|m| m.sla).or_else(|| sla.get(&i).copied());
            if node_sla.is_some() && !matches!(kind, NodeKind::Task(_)) {
                problems.push(format!("{}: `{}` has an SLA, but only tasks have one", at(e), r.id));
            }
            nodes.push(Node { id: r.id.clone(), name, kind, sla: node_sla, next: next[i].clone(), prev: Vec::new(), layer: None, row: None });
        }
        crate::graph::link(&mut nodes);
        let (triggers, twice) = index_triggers(&nodes);
        for (ty, at_nodes) in twice {
            let names: Vec<String> = at_nodes.iter().map(|&i| format!("`{}`", nodes[i].id)).collect();
            problems.push(format!(
                "{}: event type `{ty}` is mapped more than once (elements {}): name them apart, or map them in the sidecar",
                at(&elems[read_nodes[at_nodes[1]].elem]),
                names.join(", ")
            ));
        }
        let shape = match crate::graph::check(&nodes) {
            Ok(shape) => Some(shape),
            Err(found) => {
                for g in found {
                    match g.node {
                        Some(i) => problems.push(format!("{}: {}", at(&elems[read_nodes[i].elem]), g.problem)),
                        None => problems.push(format!("{file}: {}", g.problem)),
                    }
                }
                None
            }
        };
        if !problems.is_empty() {
            return Err(problems);
        }
        let shape = shape.expect("no problems, so the graph was checked");
        let proc = &elems[process];
        // A model Flowlens exported says which flow and version it is.
        let exported = proc
            .children
            .iter()
            .map(|&c| &elems[c])
            .find(|c| c.is(MODEL, "documentation"))
            .and_then(|d| {
                let rest = d.text.trim().strip_prefix("Flowlens flow `")?;
                let (id, rest) = rest.split_once("` version ")?;
                Some((id.to_string(), rest.trim().parse::<u32>().ok()?))
            });
        let version = match (&exported, sidecar.is_some()) {
            (Some((_, v)), false) => *v,
            _ => side.version,
        };
        let mut flow = Flow {
            id: side.id.clone().or_else(|| exported.map(|e| e.0)).unwrap_or_else(|| proc.attr("id").unwrap_or("flow").to_string()),
            name: side.name.clone().or_else(|| proc.attr("name").map(str::to_string)).unwrap_or_else(|| proc.attr("id").unwrap_or("flow").to_string()),
            version,
            correlation: side.correlation.clone(),
            sla: side.sla,
            on_breach: side.on_breach,
            webhook: side.webhook.clone(),
            webhook_format: side.webhook_format,
            cancel: side.cancel.clone(),
            envelope: side.envelope.clone(),
            nodes,
            topo: shape.topo,
            back: shape.back,
            triggers,
            drawn: None,
            discover: None,
        };
        flow.drawn = drawn(&elems, &flow, &flow_ids);
        Ok(flow)
    }
}

/// The model's own diagram, when its diagram interchange has a shape for every node; sequence
/// flows without waypoints are drawn straight between their shapes.
fn drawn(elems: &[Elem], flow: &Flow, flow_ids: &[(String, usize, usize, bool)]) -> Option<Diagram> {
    const MARGIN: f32 = 24.0;
    // Coordinates a drawing could have: a shape without them (or with `NaN`, `1e40`) is as good
    // as missing, and the flow is laid out instead.
    let num = |e: &Elem, k: &str| e.attr(k).and_then(|v| v.trim().parse::<f32>().ok()).filter(|v| v.is_finite() && v.abs() <= 1.0e6);
    let mut bounds: HashMap<&str, (f32, f32, f32, f32)> = HashMap::new();
    let mut waypoints: HashMap<&str, Vec<(f32, f32)>> = HashMap::new();
    for e in elems {
        if e.is(BPMNDI, "BPMNShape") {
            let Some(element) = e.attr("bpmnElement") else { continue };
            let b = e.children.iter().map(|&c| &elems[c]).find(|c| c.is(DC, "Bounds"));
            if let Some(b) = b {
                if let (Some(x), Some(y), Some(w), Some(h)) = (num(b, "x"), num(b, "y"), num(b, "width"), num(b, "height")) {
                    bounds.insert(element, (x, y, w, h));
                }
            }
        } else if e.is(BPMNDI, "BPMNEdge") {
            let Some(element) = e.attr("bpmnElement") else { continue };
            let points: Vec<(f32, f32)> =
                e.children.iter().map(|&c| &elems[c]).filter(|c| c.is(DI, "waypoint")).filter_map(|w| Some((num(w, "x")?, num(w, "y")?))).collect();
            waypoints.insert(element, points);
        }
    }
    let mut shapes = Vec::with_capacity(flow.nodes.len());
    for node in &flow.nodes {
        let &(x, y, w, h) = bounds.get(node.id.as_str())?;
        let kind = crate::layout::shape_kind(&node.kind);
        shapes.push(Shape { id: node.id.clone(), label: crate::layout::label_of(node), kind, x: x + w / 2.0, y: y + h / 2.0, w, h });
    }
    let mut edges = Vec::new();
    for (id, from, to, failure) in flow_ids {
        let (a, b) = (&shapes[*from], &shapes[*to]);
        let points = match waypoints.get(id.as_str()) {
            Some(p) if p.len() >= 2 => p.clone(),
            _ => vec![(a.x + a.w / 2.0, a.y), (b.x - b.w / 2.0, b.y)],
        };
        edges.push(Edge { from: a.id.clone(), to: b.id.clone(), points, back: flow.is_back_edge(*from, *to), failure: *failure });
    }
    // Modellers place diagrams anywhere (often well away from 0,0): move it to the margin.
    let xs = shapes.iter().map(|s| s.x - s.w / 2.0).chain(edges.iter().flat_map(|e| e.points.iter().map(|p| p.0)));
    let ys = shapes.iter().map(|s| s.y - s.h / 2.0).chain(edges.iter().flat_map(|e| e.points.iter().map(|p| p.1)));
    let (min_x, min_y) = (xs.fold(f32::INFINITY, f32::min), ys.fold(f32::INFINITY, f32::min));
    let (dx, dy) = (MARGIN - min_x, MARGIN - min_y);
    for s in &mut shapes {
        s.x += dx;
        s.y += dy;
    }
    for e in &mut edges {
        for p in &mut e.points {
            p.0 += dx;
            p.1 += dy;
        }
    }
    // Room below shapes for the labels of events and gateways.
    let width = shapes.iter().map(|s| s.x + s.w / 2.0).chain(edges.iter().flat_map(|e| e.points.iter().map(|p| p.0))).fold(0.0, f32::max) + MARGIN;
    let height =
        shapes.iter().map(|s| s.y + s.h / 2.0 + 22.0).chain(edges.iter().flat_map(|e| e.points.iter().map(|p| p.1))).fold(0.0, f32::max) + MARGIN;
    Some(Diagram { width, height, nodes: shapes, edges })
}
