//! Process discovery, kept as events arrive: the directly-follows graph of a flow's cases, its
//! activities, start and end activities, variants and case durations.
//!
//! The definitions are those of process mining as the common open-source library (pm4py)
//! computes them, so the figures can be checked against it:
//! - a case's *trace* is its events sorted by time, ties in the order they were logged;
//! - an activity's count is how many events of it there are; start (end) activities count the
//!   first (last) event of each trace;
//! - the edge `a → b` counts each place in a trace where `b` directly follows `a`; its time is
//!   the time between the two events (mean, and median and p95 from a histogram);
//! - a case's duration is its last event's time minus its first's;
//! - a variant is a distinct sequence of activities; its count is the cases that follow it.
//!
//! Nothing is recomputed by scanning: each case contributes its trace, and when a case changes
//! (a new event, a late one, a duplicate that changes nothing) its old contribution is taken
//! out and the new one put in, as a [`Delta`] the store adds to its running sums. The sums are
//! kept per day the cases started (UTC), so any window of days reads back as the sum of its days.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::instance::{Instance, What};
use crate::time::Millis;

/// Times are counted in log-linear buckets: exact below 4 ms, then four per power of two, so a
/// median or p95 read from them is within about 12 % of the true value whatever the scale.
pub fn bucket(ms: i64) -> u32 {
    let ms = ms.max(0) as u64;
    if ms < 4 {
        return ms as u32;
    }
    let e = 63 - ms.leading_zeros();
    4 + (e - 2) * 4 + ((ms >> (e - 2)) & 3) as u32
}

/// The times a bucket holds: `[low, high)` in milliseconds.
pub fn bucket_range(b: u32) -> (i64, i64) {
    if b < 4 {
        return (i64::from(b), i64::from(b) + 1);
    }
    let e = (b - 4) / 4 + 2;
    let sub = u64::from((b - 4) % 4);
    (((4 + sub) << (e - 2)) as i64, ((5 + sub) << (e - 2)) as i64)
}

/// The `q` quantile (0..=1) of a bucket histogram, as the middle of the bucket it falls in.
pub fn quantile(buckets: &BTreeMap<u32, i64>, q: f64) -> Option<i64> {
    let total: i64 = buckets.values().filter(|n| **n > 0).sum();
    if total == 0 {
        return None;
    }
    let rank = ((total as f64) * q).ceil().max(1.0) as i64;
    let mut seen = 0;
    for (&b, &n) in buckets.iter().filter(|(_, n)| **n > 0) {
        seen += n;
        if seen >= rank {
            let (lo, hi) = bucket_range(b);
            return Some(if hi - lo == 1 { lo } else { (lo + hi) / 2 });
        }
    }
    None
}

/// A case's events as process mining reads them: time order, ties in the order they were logged
/// (their ids: file lines and generated ids are zero-padded so that this is arrival order).
/// Retries Flowlens sent are not events of the case.
pub fn trace(instance: &Instance) -> Vec<(Millis, String)> {
    let mut events: Vec<(Millis, &str, &str)> = instance
        .log
        .iter()
        .filter_map(|e| match &e.what {
            What::Event(ty) => Some((e.at, e.id.as_str(), ty.as_str())),
            What::Retry(_) => None,
        })
        .chain(instance.unmapped.iter().map(|(at, id, ty)| (*at, id.as_str(), ty.as_str())))
        .collect();
    events.sort_unstable_by(|a, b| (a.0, a.1).cmp(&(b.0, b.1)));
    events.into_iter().map(|(at, _, ty)| (at, ty.to_string())).collect()
}

/// The name of a variant: its activities as a JSON array (no activity name can make two
/// variants look alike).
pub fn variant_name(activities: &[&str]) -> String {
    serde_json::to_string(activities).expect("strings serialise")
}

/// A short stable id of a variant name (FNV-1a, 64 bits), to key it by.
pub fn variant_id(name: &str) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in name.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    format!("{h:016x}")
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ActivityDelta {
    pub n: i64,
    pub starts: i64,
    pub ends: i64,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TimesDelta {
    pub n: i64,
    pub sum_ms: i64,
    pub buckets: BTreeMap<u32, i64>,
}

impl TimesDelta {
    fn add(&mut self, ms: i64, sign: i64) {
        self.n += sign;
        self.sum_ms += sign * ms;
        *self.buckets.entry(bucket(ms)).or_default() += sign;
    }
}

/// What a batch changes in one flow's discovery.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Delta {
    /// Case count and durations.
    pub cases: TimesDelta,
    pub activities: BTreeMap<String, ActivityDelta>,
    /// Directly-follows edges and their times.
    pub edges: BTreeMap<(String, String), TimesDelta>,
    /// Variants by name: cases and the sum of their durations.
    pub variants: BTreeMap<String, (i64, i64)>,
}

impl Delta {
    /// Adds (`sign` 1) or takes out (`sign` -1) one case's trace.
    pub fn add(&mut self, trace: &[(Millis, String)], sign: i64) {
        let (Some(first), Some(last)) = (trace.first(), trace.last()) else { return };
        let duration = last.0 .0 - first.0 .0;
        self.cases.add(duration, sign);
        for (i, (at, activity)) in trace.iter().enumerate() {
            let a = self.activities.entry(activity.clone()).or_default();
            a.n += sign;
            if i == 0 {
                a.starts += sign;
            }
            if i + 1 == trace.len() {
                a.ends += sign;
            }
            if let Some((next_at, next)) = trace.get(i + 1) {
                self.edges.entry((activity.clone(), next.clone())).or_default().add(next_at.0 - at.0, sign);
            }
        }
        let names: Vec<&str> = trace.iter().map(|(_, a)| a.as_str()).collect();
        let v = self.variants.entry(variant_name(&names)).or_default();
        v.0 += sign;
        v.1 += sign * duration;
    }

    /// A case went from `before` to `after`.
    pub fn change(&mut self, before: &[(Millis, String)], after: &[(Millis, String)]) {
        if before != after {
            self.add(before, -1);
            self.add(after, 1);
        }
    }

    /// Drops what adds up to nothing, so only real changes are written.
    pub fn prune(&mut self) {
        self.cases.buckets.retain(|_, n| *n != 0);
        self.activities.retain(|_, a| *a != ActivityDelta::default());
        self.edges.retain(|_, e| {
            e.buckets.retain(|_, n| *n != 0);
            *e != TimesDelta::default()
        });
        self.variants.retain(|_, v| *v != (0, 0));
    }

    pub fn is_empty(&self) -> bool {
        self.cases == TimesDelta::default() && self.activities.is_empty() && self.edges.is_empty() && self.variants.is_empty()
    }
}

/// A day, as discovery keeps its sums: days since 1970-01-01, UTC.
pub const DAY_MS: i64 = 86_400_000;

/// The day a trace started (its first event), which its contribution is kept under.
pub fn start_day(trace: &[(Millis, String)]) -> Option<i64> {
    trace.first().map(|(at, _)| at.0.div_euclid(DAY_MS))
}

/// What a batch changes, per flow and per day the changed cases started. A case whose first
/// event arrives late moves from one day to another: taken out of one, put in the other.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Deltas(pub BTreeMap<(String, i64), Delta>);

impl Deltas {
    /// A case of `flow` went from `before` to `after`.
    pub fn change(&mut self, flow: &str, before: &[(Millis, String)], after: &[(Millis, String)]) {
        if before != after {
            self.add(flow, before, -1);
            self.add(flow, after, 1);
        }
    }

    /// Adds (`sign` 1) or takes out (`sign` -1) one case's trace, under the day it started.
    pub fn add(&mut self, flow: &str, trace: &[(Millis, String)], sign: i64) {
        if let Some(day) = start_day(trace) {
            self.0.entry((flow.to_string(), day)).or_default().add(trace, sign);
        }
    }
}

/// A flow's discovered process, as the API and the discovery page show it.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Discovery {
    pub flow_id: String,
    /// The window of case starts it covers, `[from, to)` in whole UTC days; every case when none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub window: Option<(Millis, Millis)>,
    pub cases: u64,
    /// Mean case duration (last event minus first), ms.
    pub case_mean_ms: Option<f64>,
    pub case_median_ms: Option<i64>,
    pub case_p95_ms: Option<i64>,
    pub activities: Vec<ActivityStat>,
    pub edges: Vec<EdgeStat>,
    /// The most frequent variants, most cases first.
    pub variants: Vec<VariantStat>,
    /// How many distinct variants there are in all.
    pub variant_count: u64,
    /// Cases of the variants not listed.
    pub other_cases: u64,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ActivityStat {
    pub name: String,
    pub count: u64,
    pub starts: u64,
    pub ends: u64,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EdgeStat {
    pub from: String,
    pub to: String,
    pub count: u64,
    pub mean_ms: f64,
    pub median_ms: Option<i64>,
    pub p95_ms: Option<i64>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct VariantStat {
    pub activities: Vec<String>,
    pub count: u64,
    pub mean_ms: f64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(feature = "layout")]
    #[test]
    fn a_flow_without_cases_still_has_a_map() {
        let m = map(&Discovery { flow_id: "f".into(), ..Discovery::default() }, 0);
        assert_eq!((m.diagram.nodes.len(), m.diagram.edges.len()), (2, 1), "a start, an end and the way between");
    }

    #[test]
    fn a_case_is_kept_under_the_day_it_started_and_moves_when_an_earlier_event_comes() {
        let mut d = Deltas::default();
        let day = |n: i64| n * DAY_MS;
        d.change("f", &[], &t(&[(day(3) + 5, "a"), (day(4) + 1, "b")]));
        assert_eq!(d.0.keys().collect::<Vec<_>>(), vec![&("f".to_string(), 3)], "one day: the first event's");
        // A late event from the day before: out of day 3, into day 2.
        let mut late = Deltas::default();
        late.change("f", &t(&[(day(3) + 5, "a"), (day(4) + 1, "b")]), &t(&[(day(2) + 9, "z"), (day(3) + 5, "a"), (day(4) + 1, "b")]));
        assert_eq!(late.0[&("f".to_string(), 3)].cases.n, -1);
        assert_eq!(late.0[&("f".to_string(), 2)].cases.n, 1);
        assert_eq!(start_day(&t(&[(-1, "before 1970")])), Some(-1));
    }

    fn t(steps: &[(i64, &str)]) -> Vec<(Millis, String)> {
        steps.iter().map(|(at, a)| (Millis(*at), a.to_string())).collect()
    }

    #[test]
    fn buckets_cover_every_time_once_and_in_order() {
        let mut last = 0;
        for b in 0..160 {
            let (lo, hi) = bucket_range(b);
            assert_eq!(lo, last, "bucket {b} starts where {} ended", b.saturating_sub(1));
            assert!(hi > lo);
            assert_eq!((bucket(lo), bucket(hi - 1)), (b, b));
            last = hi;
        }
        assert_eq!(bucket(-5), 0);
    }

    #[test]
    fn quantiles_are_close() {
        let mut h = BTreeMap::new();
        for ms in 1..=1000 {
            *h.entry(bucket(ms * 1000)).or_default() += 1;
        }
        let median = quantile(&h, 0.5).unwrap() as f64;
        let p95 = quantile(&h, 0.95).unwrap() as f64;
        assert!((median / 500_000.0 - 1.0).abs() < 0.13, "{median}");
        assert!((p95 / 950_000.0 - 1.0).abs() < 0.13, "{p95}");
        assert_eq!(quantile(&BTreeMap::new(), 0.5), None);
    }

    #[test]
    fn a_trace_adds_its_activities_edges_and_variant_and_taking_it_out_leaves_nothing() {
        let trace = t(&[(0, "a"), (10, "b"), (30, "b"), (60, "c")]);
        let mut d = Delta::default();
        d.add(&trace, 1);
        assert_eq!((d.cases.n, d.cases.sum_ms), (1, 60));
        assert_eq!(d.activities["b"], ActivityDelta { n: 2, starts: 0, ends: 0 });
        assert_eq!((d.activities["a"].starts, d.activities["c"].ends), (1, 1));
        assert_eq!((d.edges[&("b".into(), "b".into())].n, d.edges[&("b".into(), "b".into())].sum_ms), (1, 20));
        assert_eq!(d.variants[r#"["a","b","b","c"]"#], (1, 60));
        d.add(&trace, -1);
        d.prune();
        assert!(d.is_empty(), "{d:?}");
    }

    #[test]
    fn a_late_event_moves_the_case_from_one_variant_to_another() {
        let mut d = Delta::default();
        d.change(&t(&[(0, "a"), (20, "c")]), &t(&[(0, "a"), (10, "b"), (20, "c")]));
        d.prune();
        assert_eq!(d.variants[r#"["a","c"]"#], (-1, -20));
        assert_eq!(d.variants[r#"["a","b","c"]"#], (1, 20));
        assert_eq!(d.edges[&("a".into(), "c".into())].n, -1);
        assert_eq!(d.edges[&("a".into(), "b".into())].n, 1);
        assert_eq!(d.cases.n, 0, "the same case, still one");
        let mut same = Delta::default();
        same.change(&t(&[(0, "a")]), &t(&[(0, "a")]));
        assert!(same.is_empty());
    }

    #[cfg(feature = "layout")]
    #[test]
    fn the_map_hides_what_is_rare_and_draws_loops_returning() {
        let mut d = Delta::default();
        for _ in 0..9 {
            d.add(&t(&[(0, "a"), (10, "b"), (20, "c")]), 1);
        }
        d.add(&t(&[(0, "a"), (10, "b"), (20, "x"), (30, "b"), (40, "c")]), 1);
        let discovery = Discovery {
            flow_id: "f".into(),
            activities: d.activities.iter().map(|(n, a)| ActivityStat { name: n.clone(), count: a.n as u64, starts: a.starts as u64, ends: a.ends as u64 }).collect(),
            edges: d.edges.iter().map(|((f, to), e)| EdgeStat { from: f.clone(), to: to.clone(), count: e.n as u64, mean_ms: 0.0, median_ms: None, p95_ms: None }).collect(),
            ..Discovery::default()
        };
        let all = map(&discovery, 0);
        assert_eq!(all.activities.len(), 4);
        assert_eq!(all.diagram.nodes.len(), 6, "the activities, a start and an end");
        assert!(all.diagram.edges.iter().any(|e| e.back && e.from == "x" && e.to == "b"), "{:?}", all.diagram.edges);
        let main = map(&discovery, 50);
        assert_eq!(main.activities, vec!["a", "b", "c"]);
        assert!(main.edges.iter().all(|(f, t)| f != "x" && t != "x"));
        let xs: Vec<f32> = ["a", "b", "c"].iter().map(|id| main.diagram.nodes.iter().find(|n| n.id == *id).unwrap().x).collect();
        assert!(xs[0] < xs[1] && xs[1] < xs[2], "left to right: {xs:?}");
    }

    #[test]
    fn variant_ids_are_stable_and_names_unambiguous() {
        assert_eq!(variant_id("[]"), variant_id("[]"));
        assert_ne!(variant_name(&["a,b"]), variant_name(&["a", "b"]));
    }
}

/// What a discovery map shows at a detail level: the activities and edges kept.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DiscoveryMap {
    /// Hidden below this share (percent) of the most frequent activity and edge.
    pub hide_below: u32,
    pub activities: Vec<String>,
    pub edges: Vec<(String, String)>,
    pub diagram: crate::layout::Diagram,
}

/// What the discovery page shows: the figures, the map at its detail level, and the flows to
/// switch between.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DiscoveryView {
    pub discovery: Discovery,
    pub map: DiscoveryMap,
    pub flows: Vec<(String, String)>,
}

/// The ids of the map's start and end, which no activity can have (activities are event types).
pub const MAP_START: &str = " start";
pub const MAP_END: &str = " end";

/// The directly-follows graph as flow nodes: node 0 a start before the start activities, then
/// the activities kept, then an end after the end activities; activities and edges below
/// `hide_below` percent of the most frequent ones left out. What the map draws and what "save as
/// flow" writes.
pub struct Mined<'a> {
    /// The percentage applied, 0 to 100.
    pub hide_below: u32,
    pub activities: Vec<&'a ActivityStat>,
    /// Most frequent first, so the main path is the one laid out left to right.
    pub edges: Vec<&'a EdgeStat>,
    /// Linked (`prev` filled in).
    pub nodes: Vec<crate::flow::Node>,
}

pub fn mined(d: &Discovery, hide_below: u32) -> Mined<'_> {
    use crate::flow::{Node, NodeKind, Task};
    let hide_below = hide_below.min(100);
    let top_activity = d.activities.iter().map(|a| a.count).max().unwrap_or(0);
    let top_edge = d.edges.iter().map(|e| e.count).max().unwrap_or(0);
    let kept = |count: u64, top: u64| count * 100 >= u64::from(hide_below) * top;
    let activities: Vec<&ActivityStat> = d.activities.iter().filter(|a| kept(a.count, top_activity)).collect();
    let at: std::collections::HashMap<&str, usize> = activities.iter().enumerate().map(|(i, a)| (a.name.as_str(), i + 1)).collect();
    let mut edges: Vec<&EdgeStat> = d.edges.iter().filter(|e| kept(e.count, top_edge) && at.contains_key(e.from.as_str()) && at.contains_key(e.to.as_str())).collect();
    edges.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| (&a.from, &a.to).cmp(&(&b.from, &b.to))));
    let end = activities.len() + 1;
    let node = |id: &str, name: &str, kind: NodeKind| Node { id: id.into(), name: name.into(), kind, sla: None, next: vec![], prev: vec![], layer: None, row: None };
    let mut nodes = vec![node(MAP_START, "start", NodeKind::Start { event: String::new() })];
    for a in &activities {
        let task = Task { request: None, success: a.name.clone(), failure: None, retry: None, compensation: None, on_failure: None, form: None };
        nodes.push(node(&a.name, &a.name, NodeKind::Task(task)));
    }
    nodes.push(node(MAP_END, "end", NodeKind::End { event: String::new(), outcome: crate::flow::Outcome::Success }));
    for (k, a) in activities.iter().enumerate() {
        if a.starts > 0 {
            nodes[0].next.push(k + 1);
        }
    }
    // No cases yet: the start leads straight to the end, so there is still a map to draw.
    if activities.is_empty() {
        nodes[0].next.push(end);
    }
    for e in &edges {
        nodes[at[e.from.as_str()]].next.push(at[e.to.as_str()]);
    }
    for (k, a) in activities.iter().enumerate() {
        if a.ends > 0 {
            nodes[k + 1].next.push(end);
        }
    }
    // Activities nothing leads to at this level (their edges hidden) hang off the start, and
    // those that lead nowhere go to the end, so every one is drawn in a column.
    for i in 1..end {
        if !nodes.iter().any(|n| n.next.contains(&i)) {
            nodes[0].next.push(i);
        }
        if nodes[i].next.is_empty() {
            nodes[i].next.push(end);
        }
    }
    // A loop whose ways in (or out) are all hidden would float apart, and as a flow hold a case
    // for ever: it hangs off the start (and leads to the end) too.
    // One walk per node tied on (forwards from the start, backwards from the end), not one per
    // node looked at: the map is drawn on every read of the page.
    loop {
        let from_start = crate::graph::reachable(&nodes, 0, |_, _| true);
        let Some(i) = (1..end).find(|&i| !from_start[i]) else { break };
        nodes[0].next.push(i);
    }
    loop {
        let to_end = reaching(&nodes, end);
        let Some(i) = (1..end).find(|&i| !to_end[i]) else { break };
        nodes[i].next.push(end);
    }
    crate::graph::link(&mut nodes);
    Mined { hide_below, activities, edges, nodes }
}

/// Which nodes lead to `target` (`prev` is not linked yet, so the edges are turned round here).
fn reaching(nodes: &[crate::flow::Node], target: usize) -> Vec<bool> {
    let mut into = vec![Vec::new(); nodes.len()];
    for (i, n) in nodes.iter().enumerate() {
        for &j in &n.next {
            into[j].push(i);
        }
    }
    let mut seen = vec![false; nodes.len()];
    seen[target] = true;
    let mut stack = vec![target];
    while let Some(j) = stack.pop() {
        for &i in &into[j] {
            if !std::mem::replace(&mut seen[i], true) {
                stack.push(i);
            }
        }
    }
    seen
}

/// Draws the directly-follows graph with the flows' layout engine (see [`mined`]). Loops return
/// below, as in a flow.
#[cfg(feature = "layout")]
pub fn map(d: &Discovery, hide_below: u32) -> DiscoveryMap {
    use crate::flow::{Correlation, Flow, OnBreach};
    let Mined { hide_below, activities, edges, nodes } = mined(d, hide_below);
    let shape = crate::graph::walk(&nodes, 0);
    let flow = Flow {
        id: d.flow_id.clone(),
        name: d.flow_id.clone(),
        version: 1,
        correlation: Correlation::Key,
        sla: None,
        on_breach: OnBreach::Mark,
        webhook: None,
        webhook_format: Default::default(),
        cancel: None,
        envelope: None,
        topo: shape.topo,
        nodes,
        back: shape.back,
        triggers: Default::default(),
        drawn: None,
        discover: None,
    };
    DiscoveryMap {
        hide_below,
        activities: activities.iter().map(|a| a.name.clone()).collect(),
        edges: edges.iter().map(|e| (e.from.clone(), e.to.clone())).collect(),
        diagram: crate::layout::layout(&flow),
    }
}
