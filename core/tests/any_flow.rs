//! Properties over generated flows with loops, parallel branches and decisions:
//! 1. the law: however events arrive (any order, any of them twice), the instance's state equals
//!    that of the same events applied once in time order (ties by id);
//! 2. a run that follows its flow, replayed in order, completes without deviations and counts
//!    every visit of every task.

use std::collections::HashMap;

use flowlens_core::{Flow, Instance, Millis, Status};
use proptest::prelude::*;

/// A block-structured process: how generated flows are built.
#[derive(Clone, Debug)]
enum Block {
    /// A task; `true` when it has a request event besides its outcome.
    Task(bool),
    Seq(Box<Block>, Box<Block>),
    Choice(Vec<Block>),
    Parallel(Vec<Block>),
    /// `body`, then a decision: leave, or run `redo` and `body` again.
    Loop(Box<Block>, Box<Block>),
}

fn block() -> impl Strategy<Value = Block> {
    let leaf = any::<bool>().prop_map(Block::Task);
    leaf.prop_recursive(4, 16, 3, |inner| {
        prop_oneof![
            (inner.clone(), inner.clone()).prop_map(|(a, b)| Block::Seq(Box::new(a), Box::new(b))),
            prop::collection::vec(inner.clone(), 2..4).prop_map(Block::Choice),
            prop::collection::vec(inner.clone(), 2..4).prop_map(Block::Parallel),
            (inner.clone(), inner).prop_map(|(a, b)| Block::Loop(Box::new(a), Box::new(b))),
        ]
    })
}

/// Writes a block as flow-file nodes; knows each task's event types.
#[derive(Default)]
struct Writer {
    toml: String,
    count: usize,
    /// Task id → (request type, success type).
    tasks: HashMap<String, (Option<String>, String)>,
}

impl Writer {
    fn id(&mut self, prefix: &str) -> String {
        self.count += 1;
        format!("{prefix}{}", self.count)
    }

    fn node(&mut self, id: &str, kind: &str, extra: &str, next: &[String]) {
        let next: Vec<String> = next.iter().map(|n| format!("\"{n}\"")).collect();
        self.toml += &format!("[[nodes]]\nid = \"{id}\"\nkind = \"{kind}\"\n{extra}next = [{}]\n\n", next.join(", "));
    }

    /// Writes `b` leading to `next`; returns the id of its first node and the tasks in it.
    fn write(&mut self, b: &Block, next: &str) -> String {
        match b {
            Block::Task(requested) => {
                let id = self.id("t");
                let request = requested.then(|| format!("{id}Requested"));
                let success = format!("{id}Done");
                let extra = match &request {
                    Some(r) => format!("request = \"{r}\"\nsuccess = \"{success}\"\n"),
                    None => format!("success = \"{success}\"\n"),
                };
                self.node(&id, "task", &extra, &[next.to_string()]);
                self.tasks.insert(id.clone(), (request, success));
                id
            }
            Block::Seq(a, b) => {
                let second = self.write(b, next);
                self.write(a, &second)
            }
            Block::Choice(branches) | Block::Parallel(branches) => {
                let kind = if matches!(b, Block::Choice(_)) { "exclusive" } else { "parallel" };
                let merge = self.id("m");
                self.node(&merge, kind, "", &[next.to_string()]);
                let entries: Vec<String> = branches.iter().map(|br| self.write(br, &merge)).collect();
                let split = self.id("s");
                self.node(&split, kind, "", &entries);
                split
            }
            Block::Loop(body, redo) => {
                let merge = self.id("lm");
                let decide = self.id("ld");
                let redo_entry = self.write(redo, &merge);
                self.node(&decide, "exclusive", "", &[next.to_string(), redo_entry]);
                let body_entry = self.write(body, &decide);
                self.node(&merge, "exclusive", "", &[body_entry]);
                merge
            }
        }
    }
}

fn flow_of(b: &Block) -> (Flow, HashMap<String, (Option<String>, String)>) {
    let mut w = Writer::default();
    w.toml = "id = \"gen\"\nname = \"Generated\"\nversion = 1\ncorrelation = { source = \"key\" }\n\n".into();
    w.node("end", "end", "event = \"Finished\"\n", &[]);
    let first = w.write(b, "end");
    w.node("start", "start", "event = \"Started\"\n", &[first]);
    // The writer emits `next = []` for the end; the format wants none.
    let text = w.toml.replace("event = \"Finished\"\nnext = []\n", "event = \"Finished\"\n");
    let flow = Flow::parse_toml("gen.toml", &text).unwrap_or_else(|e| panic!("{e:?}\n{text}"));
    (flow, w.tasks)
}

/// A run that follows the block: event types in an order the flow allows. `choices` drives the
/// decisions, loop counts and interleavings.
fn simulate(b: &Block, ids: &mut std::slice::Iter<'_, String>, tasks: &HashMap<String, (Option<String>, String)>, choices: &mut impl Iterator<Item = u8>) -> Vec<String> {
    match b {
        Block::Task(_) => {
            let id = ids.next().expect("one id per task");
            let (request, success) = &tasks[id];
            request.iter().cloned().chain([success.clone()]).collect()
        }
        Block::Seq(a, b) => {
            let mut out = simulate(a, ids, tasks, choices);
            out.extend(simulate(b, ids, tasks, choices));
            out
        }
        Block::Choice(branches) => {
            let pick = choices.next().unwrap_or(0) as usize % branches.len();
            let mut out = Vec::new();
            for (k, br) in branches.iter().enumerate() {
                // Every branch consumes its task ids; only the picked one runs.
                let events = simulate(br, ids, tasks, choices);
                if k == pick {
                    out = events;
                }
            }
            out
        }
        Block::Parallel(branches) => {
            let mut runs: Vec<std::collections::VecDeque<String>> =
                branches.iter().map(|br| simulate(br, ids, tasks, choices).into()).collect();
            let mut out = Vec::new();
            while runs.iter().any(|r| !r.is_empty()) {
                let open: Vec<usize> = (0..runs.len()).filter(|&i| !runs[i].is_empty()).collect();
                let k = open[choices.next().unwrap_or(0) as usize % open.len()];
                out.push(runs[k].pop_front().expect("not empty"));
            }
            out
        }
        Block::Loop(body, redo) => {
            // Ids are handed out in writing order: redo before body.
            let redo_ids: Vec<String> = ids.clone().take(count(redo)).cloned().collect();
            for _ in 0..count(redo) {
                ids.next();
            }
            let body_ids: Vec<String> = ids.clone().take(count(body)).cloned().collect();
            for _ in 0..count(body) {
                ids.next();
            }
            let rounds = choices.next().unwrap_or(0) % 3;
            let mut out = simulate(body, &mut body_ids.iter(), tasks, choices);
            for _ in 0..rounds {
                out.extend(simulate(redo, &mut redo_ids.iter(), tasks, choices));
                out.extend(simulate(body, &mut body_ids.iter(), tasks, choices));
            }
            out
        }
    }
}

fn count(b: &Block) -> usize {
    match b {
        Block::Task(_) => 1,
        Block::Seq(a, b) | Block::Loop(a, b) => count(a) + count(b),
        Block::Choice(bs) | Block::Parallel(bs) => bs.iter().map(count).sum(),
    }
}

/// Task ids in the order the writer numbered them.
fn writing_order(b: &Block, counter: &mut usize, out: &mut Vec<String>) {
    match b {
        Block::Task(_) => {
            *counter += 1;
            out.push(format!("t{counter}"));
        }
        Block::Seq(a, b) => {
            let (mut first, mut second) = (Vec::new(), Vec::new());
            writing_order(b, counter, &mut second);
            writing_order(a, counter, &mut first);
            out.extend(first);
            out.extend(second);
        }
        Block::Choice(bs) | Block::Parallel(bs) => {
            *counter += 1; // the merge
            for br in bs {
                writing_order(br, counter, out);
            }
            *counter += 1; // the split
        }
        Block::Loop(body, redo) => {
            *counter += 2; // merge and decision
            writing_order(redo, counter, out);
            writing_order(body, counter, out);
        }
    }
}

fn run_of(b: &Block, tasks: &HashMap<String, (Option<String>, String)>, choices: Vec<u8>) -> Vec<String> {
    let mut order = Vec::new();
    writing_order(b, &mut 0, &mut order);
    let mut events = vec!["Started".to_string()];
    events.extend(simulate(b, &mut order.iter(), tasks, &mut choices.into_iter().cycle()));
    events.push("Finished".into());
    events
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, ..ProptestConfig::default() })]

    #[test]
    fn any_order_and_duplicates_give_the_in_order_state(
        b in block(),
        choices in prop::collection::vec(any::<u8>(), 1..24),
        noise in prop::collection::vec((0usize..64, 0i64..40), 0..6),
        times in prop::collection::vec(0i64..40, 64),
        order_seed in prop::collection::vec(any::<prop::sample::Index>(), 64),
        dups in prop::collection::vec(any::<prop::sample::Index>(), 0..6),
        now in 0i64..100,
    ) {
        let (flow, tasks) = flow_of(&b);
        let mut types = run_of(&b, &tasks, choices);
        // Noise: events of the flow at places the flow does not lead to.
        let all: Vec<String> = tasks.values().flat_map(|(r, s)| r.iter().cloned().chain([s.clone()])).collect();
        for (k, _) in &noise {
            types.push(all[k % all.len()].clone());
        }
        // Times from a small range, so ties (broken by id) happen.
        let events: Vec<(String, String, i64)> = types.into_iter().enumerate().map(|(i, ty)| (format!("e{i:03}"), ty, times[i % times.len()])).collect();
        let mut sorted = events.clone();
        sorted.sort_by_key(|(id, _, t)| (*t, id.clone()));
        let mut in_order = Instance::new(&flow);
        for (id, ty, t) in &sorted {
            in_order.apply(&flow, id, ty, Millis(*t));
        }
        let mut arrival: Vec<usize> = (0..events.len()).collect();
        for (i, ix) in order_seed.iter().enumerate().take(events.len()) {
            let j = ix.index(events.len());
            arrival.swap(i, j);
        }
        arrival.extend(dups.iter().map(|ix| ix.index(events.len())));
        let mut shuffled = Instance::new(&flow);
        for &i in &arrival {
            let (id, ty, t) = &events[i];
            shuffled.apply(&flow, id, ty, Millis(*t));
        }
        prop_assert_eq!(&shuffled, &in_order);
        prop_assert_eq!(shuffled.nodes(&flow), in_order.nodes(&flow));
        prop_assert_eq!(shuffled.deviations(&flow), in_order.deviations(&flow));
        prop_assert_eq!(shuffled.sla(&flow, Millis(now)), in_order.sla(&flow, Millis(now)));
    }

    #[test]
    fn a_run_that_follows_its_flow_completes_with_every_visit_counted(
        b in block(),
        choices in prop::collection::vec(any::<u8>(), 1..24),
    ) {
        let (flow, tasks) = flow_of(&b);
        let types = run_of(&b, &tasks, choices);
        let mut inst = Instance::new(&flow);
        for (i, ty) in types.iter().enumerate() {
            inst.apply(&flow, &format!("e{i:03}"), ty, Millis(i as i64 * 1000));
        }
        prop_assert_eq!(inst.deviations(&flow), vec![], "events: {:?}", types);
        prop_assert_eq!(inst.status(&flow), Status::Completed);
        let nodes = inst.nodes(&flow);
        for (id, (_, success)) in &tasks {
            let ran = types.iter().filter(|t| *t == success).count();
            let state = &nodes[flow.node_index(id).unwrap()];
            prop_assert_eq!(state.visits.len(), ran, "task {} in {:?}", id, types);
        }
    }
}
