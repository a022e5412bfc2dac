//! Flow files (TOML): parsing and every check that makes a [`Flow`] safe to track against.
//!
//! Problems are collected, not stopped at: a person fixing a flow file wants the whole list, each
//! with the file, the line and column, and what is wrong.

use std::ops::Range;

use serde::Deserialize;
use toml::Spanned;

use crate::flow::{index_triggers, CommandSpec, Correlation, Flow, Node, NodeKind, OnBreach, Outcome, Task};
use crate::time::Span;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FlowDef {
    id: Spanned<String>,
    name: String,
    version: Spanned<u32>,
    correlation: Option<CorrelationDef>,
    sla: Option<SlaDef>,
    cancel: Option<CommandSpecDef>,
    envelope: Option<crate::envelope::EnvelopeFields>,
    /// A discovered flow: no nodes, events grouped and mined.
    discover: Option<Spanned<DiscoverDef>>,
    #[serde(default)]
    nodes: Vec<NodeDef>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DiscoverDef {
    channel: Option<String>,
    #[serde(default)]
    types: Vec<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CorrelationDef {
    source: Spanned<String>,
    attribute: Option<String>,
    pointer: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SlaDef {
    instance: Option<Spanned<String>>,
    #[serde(default)]
    on_breach: OnBreach,
    webhook: Option<Spanned<String>>,
    #[serde(default)]
    webhook_format: crate::flow::WebhookFormat,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CommandSpecDef {
    command: String,
    topic: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LayoutDef {
    layer: Option<u32>,
    row: Option<u32>,
}

#[derive(Deserialize, Clone, Copy, PartialEq, Eq, Debug)]
#[serde(rename_all = "snake_case")]
enum KindDef {
    Start,
    Task,
    Parallel,
    Exclusive,
    Inclusive,
    /// An intermediate event.
    Event,
    End,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NodeDef {
    id: Spanned<String>,
    kind: Spanned<KindDef>,
    name: Option<String>,
    event: Option<Spanned<String>>,
    outcome: Option<Outcome>,
    request: Option<Spanned<String>>,
    success: Option<Spanned<String>>,
    failure: Option<Spanned<String>>,
    sla: Option<Spanned<String>>,
    retry: Option<CommandSpecDef>,
    compensation: Option<CommandSpecDef>,
    /// Where a failed task goes on (instead of waiting to be retried).
    on_failure: Option<Spanned<String>>,
    #[serde(default)]
    next: Vec<Spanned<String>>,
    layout: Option<LayoutDef>,
}

impl From<CommandSpecDef> for CommandSpec {
    fn from(d: CommandSpecDef) -> Self {
        CommandSpec { command: d.command, topic: d.topic }
    }
}

/// Collects problems with the place they were found.
struct Problems<'a> {
    file: &'a str,
    text: &'a str,
    found: Vec<String>,
}

impl Problems<'_> {
    /// The text as TOML of shape `T`, or the one problem that stops reading it.
    fn read<T: serde::de::DeserializeOwned>(&mut self) -> Result<T, Vec<String>> {
        toml::from_str(self.text).map_err(|e| {
            self.at(e.span(), e.message().trim_end());
            std::mem::take(&mut self.found)
        })
    }

    fn at(&mut self, span: Option<Range<usize>>, problem: impl std::fmt::Display) {
        let place = match span {
            Some(span) => {
                let (line, col) = line_col(self.text, span.start);
                format!("{}:{line}:{col}", self.file)
            }
            None => self.file.to_string(),
        };
        self.found.push(format!("{place}: {problem}"));
    }
}

fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let col = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, col)
}

impl Flow {
    /// Parses and checks a flow file. Every problem is reported as `file:line:column: problem`
    /// (or `file: problem` where there is no single place).
    pub fn parse_toml(file: &str, text: &str) -> Result<Flow, Vec<String>> {
        let mut problems = Problems { file, text, found: Vec::new() };
        let def: FlowDef = problems.read()?;
        match build(def, &mut problems) {
            Some(flow) if problems.found.is_empty() => Ok(flow),
            _ => Err(problems.found),
        }
    }
}

fn duration(s: &Spanned<String>, what: &str, problems: &mut Problems) -> Option<Span> {
    Span::parse(s.get_ref()).map_err(|e| problems.at(Some(s.span()), format!("{what}: bad duration {e}"))).ok()
}

/// The flow-wide keys, checked: shared by flow files and BPMN sidecars.
pub(crate) struct Header {
    pub correlation: Option<Correlation>,
    pub sla: Option<Span>,
    pub on_breach: OnBreach,
    pub webhook: Option<String>,
    pub webhook_format: crate::flow::WebhookFormat,
}

/// `required`: whether a missing correlation is a problem (a flow file) or the message key (a sidecar).
fn header(correlation: Option<CorrelationDef>, sla_def: Option<SlaDef>, cancel: &Option<CommandSpecDef>, required: bool, p: &mut Problems) -> Header {
    let correlation = match correlation {
        None if !required => Some(Correlation::Key),
        None => {
            p.at(None, "no correlation: say where the business key is, e.g. `correlation = { source = \"key\" }`");
            None
        }
        Some(c) => match (c.source.get_ref().as_str(), c.attribute, c.pointer) {
            ("key", None, None) => Some(Correlation::Key),
            ("attribute", Some(a), None) if !a.is_empty() => Some(Correlation::Attribute(a)),
            ("pointer", None, Some(ptr)) if ptr.starts_with('/') => Some(Correlation::Pointer(ptr)),
            ("pointer", None, Some(ptr)) => {
                p.at(Some(c.source.span()), format!("correlation pointer `{ptr}` must start with `/`, as in `/customerId`"));
                None
            }
            (src @ ("key" | "attribute" | "pointer"), ..) => {
                let needs = match src {
                    "key" => "no other field",
                    "attribute" => "`attribute` (a CloudEvents attribute name) and nothing else",
                    _ => "`pointer` (a JSON pointer into the data) and nothing else",
                };
                p.at(Some(c.source.span()), format!("correlation source `{src}` takes {needs}"));
                None
            }
            (other, ..) => {
                p.at(Some(c.source.span()), format!("unknown correlation source `{other}`; use key, attribute or pointer"));
                None
            }
        },
    };
    let (sla, on_breach, webhook, webhook_format) = match sla_def {
        Some(s) => (s.instance.as_ref().and_then(|d| duration(d, "instance sla", p)), s.on_breach, s.webhook, s.webhook_format),
        None => (None, OnBreach::Mark, None, Default::default()),
    };
    if let Some(url) = &webhook {
        let text = url.get_ref();
        let ok = text.strip_prefix("https://").or_else(|| text.strip_prefix("http://")).is_some_and(|rest| !rest.is_empty() && !rest.starts_with('/') && !rest.contains(char::is_whitespace));
        if !ok {
            p.at(Some(url.span()), &format!("`sla.webhook = \"{text}\"` must be an http:// or https:// URL"));
        }
        if sla.is_none() {
            p.at(Some(url.span()), "`sla.webhook` needs `sla.instance`: the alert goes out when that SLA passes");
        }
    }
    let webhook = webhook.map(|w| w.into_inner());
    if on_breach == OnBreach::Cancel && cancel.is_none() {
        p.at(None, "`sla.on_breach = \"cancel\"` needs a `[cancel]` command");
    }

    Header { correlation, sla, on_breach, webhook, webhook_format }
}

fn build(def: FlowDef, p: &mut Problems) -> Option<Flow> {
    if def.id.get_ref().trim().is_empty() {
        p.at(Some(def.id.span()), "the flow id is empty");
    }
    if *def.version.get_ref() == 0 {
        p.at(Some(def.version.span()), "versions start at 1");
    }
    // What only a model has, named if a discovered flow says it.
    let model_only: Vec<&str> = [("[[nodes]]", !def.nodes.is_empty()), ("[sla]", def.sla.is_some()), ("[cancel]", def.cancel.is_some())]
        .into_iter()
        .filter_map(|(key, given)| given.then_some(key))
        .collect();
    let Header { correlation, sla, on_breach, webhook, webhook_format } = header(def.correlation, def.sla, &def.cancel, true, p);
    if let Some(discover) = def.discover {
        let head = (def.id.into_inner(), def.name, def.version.into_inner());
        return discovered(head, correlation, def.envelope, &model_only, discover, p);
    }
    let ids: Vec<String> = def.nodes.iter().map(|n| n.id.get_ref().clone()).collect();
    let index_of = |id: &str| ids.iter().position(|x| x == id);
    for (i, n) in def.nodes.iter().enumerate() {
        if ids[..i].contains(n.id.get_ref()) {
            p.at(Some(n.id.span()), format!("a second node with id `{}`", n.id.get_ref()));
        }
    }

    let mut nodes = Vec::with_capacity(def.nodes.len());
    let mut spans = Vec::with_capacity(def.nodes.len());
    for n in def.nodes {
        let id = n.id.get_ref().clone();
        let kind = *n.kind.get_ref();
        let mut need = |field: Option<&Spanned<String>>, name: &str| -> String {
            match field {
                Some(v) if !v.get_ref().trim().is_empty() => v.get_ref().clone(),
                Some(v) => {
                    p.at(Some(v.span()), format!("node `{id}`: `{name}` is empty"));
                    String::new()
                }
                None => {
                    p.at(Some(n.kind.span()), format!("node `{id}`: a {kind:?} node needs `{name}`").to_lowercase());
                    String::new()
                }
            }
        };
        let node_kind = match kind {
            // Without an event, a start begins an instance with the first event of any step
            // after it, and an end is reached as soon as the flow gets there (as in BPMN).
            KindDef::Start => NodeKind::Start { event: n.event.as_ref().map(|e| need(Some(e), "event")).unwrap_or_default() },
            KindDef::End => NodeKind::End {
                event: n.event.as_ref().map(|e| need(Some(e), "event")).unwrap_or_default(),
                outcome: n.outcome.unwrap_or(Outcome::Success),
            },
            KindDef::Event => NodeKind::Intermediate { event: need(n.event.as_ref(), "event"), throw: false },
            KindDef::Task => NodeKind::Task(Task {
                request: n.request.as_ref().map(|r| r.get_ref().clone()),
                success: need(n.success.as_ref(), "success"),
                failure: n.failure.as_ref().map(|f| f.get_ref().clone()),
                retry: n.retry.map(Into::into),
                compensation: n.compensation.map(Into::into),
                on_failure: n.on_failure.as_ref().and_then(|target| match index_of(target.get_ref()) {
                    Some(j) => Some(j),
                    None => {
                        p.at(Some(target.span()), format!("node `{id}`: `on_failure` names `{}`, which is no node of this flow", target.get_ref()));
                        None
                    }
                }),
                form: None,
            }),
            KindDef::Parallel => NodeKind::Parallel,
            KindDef::Exclusive => NodeKind::Exclusive,
            KindDef::Inclusive => NodeKind::Inclusive,
        };
        if let (Some(_), None) = (&n.on_failure, &n.failure) {
            p.at(Some(n.kind.span()), format!("node `{id}`: `on_failure` needs a `failure` event type to follow"));
        }
        let misplaced: [(&str, bool); 5] = [
            ("event", n.event.is_some() && !matches!(kind, KindDef::Start | KindDef::End | KindDef::Event)),
            ("on_failure", n.on_failure.is_some() && kind != KindDef::Task),
            ("outcome", n.outcome.is_some() && kind != KindDef::End),
            ("request/success/failure", (n.request.is_some() || n.success.is_some() || n.failure.is_some()) && kind != KindDef::Task),
            ("sla", n.sla.is_some() && kind != KindDef::Task),
        ];
        for (field, wrong) in misplaced {
            if wrong {
                p.at(Some(n.kind.span()), format!("node `{id}`: a {kind:?} node has no `{field}`").to_lowercase());
            }
        }
        let sla = n.sla.as_ref().and_then(|d| duration(d, &format!("node `{id}` sla"), p));
        let mut next = Vec::new();
        for target in &n.next {
            match index_of(target.get_ref()) {
                Some(j) => next.push(j),
                None => p.at(Some(target.span()), format!("node `{id}`: `next` names `{}`, which is no node of this flow", target.get_ref())),
            }
        }
        // Every event type a node maps, with where it is written, to find types mapped twice.
        let mapped: Vec<(String, Range<usize>)> = [&n.event, &n.request, &n.success, &n.failure]
            .into_iter()
            .flatten()
            .map(|s| (s.get_ref().clone(), s.span()))
            .collect();
        spans.push((n.id.span(), mapped));
        let (layer, row) = n.layout.map_or((None, None), |l| (l.layer, l.row));
        nodes.push(Node { name: n.name.unwrap_or_else(|| id.clone()), id, kind: node_kind, sla, next, prev: Vec::new(), layer, row });
    }
    crate::graph::link(&mut nodes);

    let (triggers, twice) = index_triggers(&nodes);
    for (ty, at) in twice {
        let names: Vec<String> = at.iter().map(|&i| format!("`{}`", nodes[i].id)).collect();
        let second = spans[at[1]].1.iter().rev().find(|(t, _)| *t == ty).map(|(_, s)| s.clone());
        p.at(second, format!("event type `{ty}` is mapped more than once (nodes {})", names.join(", ")));
    }

    let shape = match crate::graph::check(&nodes) {
        Ok(shape) => shape,
        Err(found) => {
            for problem in found {
                p.at(problem.node.map(|i| spans[i].0.clone()), problem.problem);
            }
            return None;
        }
    };
    Some(Flow {
        id: def.id.into_inner(),
        name: def.name,
        version: def.version.into_inner(),
        correlation: correlation?,
        sla,
        on_breach,
        webhook,
        webhook_format,
        cancel: def.cancel.map(Into::into),
        envelope: def.envelope,
        nodes,
        topo: shape.topo,
        back: shape.back,
        triggers,
        drawn: None,
        discover: None,
    })
}

/// A discovered flow: only what groups its events; the model is a bare start every event passes by.
fn discovered(
    (id, name, version): (String, String, u32),
    correlation: Option<Correlation>,
    envelope: Option<crate::envelope::EnvelopeFields>,
    model_only: &[&str],
    def: Spanned<DiscoverDef>,
    p: &mut Problems,
) -> Option<Flow> {
    let span = def.span();
    let def = def.into_inner();
    if !model_only.is_empty() {
        p.at(
            Some(span.clone()),
            format!("a flow with `[discover]` is mined from its events and has no model: drop {} or `[discover]`", model_only.join(", ")),
        );
    }
    if def.channel.as_deref().is_some_and(|c| c.trim().is_empty()) {
        p.at(Some(span.clone()), "`discover.channel` is empty; leave it out to take events from every channel");
    }
    let mut types: Vec<String> = Vec::new();
    for t in def.types {
        if t.get_ref().trim().is_empty() {
            p.at(Some(t.span()), "`discover.types` holds an empty type");
        } else if types.contains(t.get_ref()) {
            p.at(Some(t.span()), format!("`discover.types` names `{}` twice", t.get_ref()));
        } else {
            types.push(t.into_inner());
        }
    }
    let start = Node { id: "start".into(), name: "Start".into(), kind: NodeKind::Start { event: String::new() }, sla: None, next: vec![], prev: vec![], layer: None, row: None };
    Some(Flow {
        id,
        name,
        version,
        correlation: correlation?,
        sla: None,
        on_breach: OnBreach::Mark,
        webhook: None,
        webhook_format: Default::default(),
        cancel: None,
        envelope,
        nodes: vec![start],
        topo: vec![0],
        back: vec![],
        triggers: Default::default(),
        drawn: None,
        discover: Some(crate::flow::Discover { channel: def.channel, types }),
    })
}

/// What a BPMN model's sidecar (`NAME.bpmn.toml`) says: the flow file's keys for what BPMN has no
/// place for, and per element (by its BPMN id) the event types, SLA and commands.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SidecarDef {
    id: Option<Spanned<String>>,
    name: Option<String>,
    version: Option<Spanned<u32>>,
    correlation: Option<CorrelationDef>,
    sla: Option<SlaDef>,
    cancel: Option<CommandSpecDef>,
    envelope: Option<crate::envelope::EnvelopeFields>,
    #[serde(default)]
    nodes: Vec<SidecarNodeDef>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SidecarNodeDef {
    id: Spanned<String>,
    name: Option<String>,
    event: Option<String>,
    request: Option<String>,
    success: Option<String>,
    failure: Option<String>,
    sla: Option<Spanned<String>>,
    retry: Option<CommandSpecDef>,
    compensation: Option<CommandSpecDef>,
}

/// A checked sidecar.
pub(crate) struct Sidecar {
    pub id: Option<String>,
    pub name: Option<String>,
    pub version: u32,
    pub correlation: Correlation,
    pub sla: Option<Span>,
    pub on_breach: OnBreach,
    pub webhook: Option<String>,
    pub webhook_format: crate::flow::WebhookFormat,
    pub cancel: Option<CommandSpec>,
    pub envelope: Option<crate::envelope::EnvelopeFields>,
    pub nodes: Vec<SidecarNode>,
}

pub(crate) struct SidecarNode {
    pub id: String,
    /// `file:line:column` of its `id`.
    pub place: String,
    pub name: Option<String>,
    pub event: Option<String>,
    pub request: Option<String>,
    pub success: Option<String>,
    pub failure: Option<String>,
    pub sla: Option<Span>,
    pub retry: Option<CommandSpec>,
    pub compensation: Option<CommandSpec>,
}

impl Sidecar {
    /// No sidecar: an instance's key is the message key, version 1.
    pub(crate) fn none() -> Sidecar {
        Sidecar {
            id: None,
            name: None,
            version: 1,
            correlation: Correlation::Key,
            sla: None,
            on_breach: OnBreach::Mark,
            webhook: None,
            webhook_format: Default::default(),
            cancel: None,
            envelope: None,
            nodes: Vec::new(),
        }
    }
}

pub(crate) fn parse_sidecar(file: &str, text: &str) -> Result<Sidecar, Vec<String>> {
    let mut p = Problems { file, text, found: Vec::new() };
    let def: SidecarDef = p.read()?;
    if let Some(v) = &def.version {
        if *v.get_ref() == 0 {
            p.at(Some(v.span()), "versions start at 1");
        }
    }
    // Without a word on correlation, the key is the message key, as for a model with no sidecar.
    let h = header(def.correlation, def.sla, &def.cancel, false, &mut p);
    let correlation = h.correlation.unwrap_or(Correlation::Key);
    let nodes = def
        .nodes
        .into_iter()
        .map(|n| {
            let sla = n.sla.as_ref().and_then(|d| duration(d, &format!("node `{}` sla", n.id.get_ref()), &mut p));
            let (line, col) = line_col(text, n.id.span().start);
            SidecarNode {
                id: n.id.into_inner(),
                place: format!("{file}:{line}:{col}"),
                name: n.name,
                event: n.event,
                request: n.request,
                success: n.success,
                failure: n.failure,
                sla,
                retry: n.retry.map(Into::into),
                compensation: n.compensation.map(Into::into),
            }
        })
        .collect();
    if !p.found.is_empty() {
        return Err(p.found);
    }
    Ok(Sidecar {
        id: def.id.map(Spanned::into_inner),
        name: def.name,
        version: def.version.map_or(1, Spanned::into_inner),
        correlation,
        sla: h.sla,
        on_breach: h.on_breach,
        webhook: h.webhook,
        webhook_format: h.webhook_format,
        cancel: def.cancel.map(Into::into),
        envelope: def.envelope,
        nodes,
    })
}
