//! One test per rule of instance tracking, on the shipped onboarding flow.

use super::*;
use crate::flow::Flow;
use crate::time::Span;

fn onboarding() -> Flow {
    Flow::parse_toml("customer-onboarding.toml", include_str!("../../../flows/customer-onboarding.toml")).unwrap()
}

fn status_of(flow: &Flow, inst: &Instance, id: &str) -> NodeStatus {
    inst.nodes(flow)[flow.node_index(id).unwrap()].status
}

/// Applies `types` in order, one second apart, with ids `e0`, `e1`, ...
fn run(flow: &Flow, types: &[&str]) -> Instance {
    let mut inst = Instance::new(flow);
    for (t, ty) in types.iter().enumerate() {
        inst.apply(flow, &format!("e{t}"), ty, Millis(t as i64 * 1000));
    }
    inst
}

const HAPPY: [&str; 8] = [
    "RegistrationRequested",
    "AddressCheckRequested",
    "CreditCheckRequested",
    "CriminalRecordCheckRequested",
    "AddressChecked",
    "CreditChecked",
    "CriminalRecordChecked",
    "CustomerCreated",
];

const MIN: i64 = 60_000;

#[test]
fn the_start_event_creates_a_running_instance_and_activates_the_checks() {
    let flow = onboarding();
    let inst = run(&flow, &HAPPY[..1]);
    assert_eq!(inst.status(&flow), Status::Running);
    assert_eq!(inst.started(), Some(Millis(0)));
    for check in ["address", "credit", "criminal"] {
        let st = &inst.nodes(&flow)[flow.node_index(check).unwrap()];
        assert_eq!(st.status, NodeStatus::Active, "{check}");
        assert_eq!(st.due, Some(Millis(10 * MIN)), "{check} is due 10 minutes after it started");
    }
    assert_eq!(status_of(&flow, &inst, "approved"), NodeStatus::NotReached);
}

#[test]
fn a_task_is_active_from_its_request_and_done_on_success() {
    let flow = onboarding();
    let mut inst = run(&flow, &HAPPY[..1]);
    inst.apply(&flow, "r", "AddressCheckRequested", Millis(5 * MIN));
    let address = &inst.nodes(&flow)[flow.node_index("address").unwrap()];
    assert_eq!((address.status, address.started, address.due), (NodeStatus::Active, Some(Millis(5 * MIN)), Some(Millis(15 * MIN))));
    inst.apply(&flow, "s", "AddressChecked", Millis(6 * MIN));
    let address = &inst.nodes(&flow)[flow.node_index("address").unwrap()];
    assert_eq!((address.status, address.finished), (NodeStatus::Done, Some(Millis(6 * MIN))));
}

#[test]
fn a_failure_outcome_fails_the_task() {
    let flow = onboarding();
    let inst = run(&flow, &["RegistrationRequested", "CreditCheckRequested", "CreditCheckFailed"]);
    assert_eq!(status_of(&flow, &inst, "credit"), NodeStatus::Failed);
    assert_eq!(inst.status(&flow), Status::Running, "a failed check does not end the instance by itself");
}

#[test]
fn the_parallel_join_waits_for_every_branch() {
    let flow = onboarding();
    let mut inst = run(&flow, &HAPPY[..6]);
    assert_eq!(status_of(&flow, &inst, "checked"), NodeStatus::NotReached);
    assert_eq!(status_of(&flow, &inst, "criminal"), NodeStatus::Active);
    inst.apply(&flow, "last", "CriminalRecordChecked", Millis(10_000));
    assert_eq!(status_of(&flow, &inst, "checked"), NodeStatus::Done);
}

#[test]
fn the_exclusive_gateway_waits_then_follows_the_branch_whose_event_arrived() {
    let flow = onboarding();
    let mut inst = run(&flow, &HAPPY[..7]);
    assert_eq!(status_of(&flow, &inst, "decision"), NodeStatus::Active, "the instance waits at the decision");
    inst.apply(&flow, "no", "RegistrationRejected", Millis(20_000));
    assert_eq!(status_of(&flow, &inst, "decision"), NodeStatus::Done);
    assert_eq!(status_of(&flow, &inst, "rejected"), NodeStatus::Done);
    assert_eq!(status_of(&flow, &inst, "approved"), NodeStatus::NotReached);
}

#[test]
fn end_events_decide_completed_or_failed() {
    let flow = onboarding();
    assert_eq!(run(&flow, &HAPPY).status(&flow), Status::Completed);
    let mut rejected = HAPPY;
    rejected[7] = "RegistrationRejected";
    assert_eq!(run(&flow, &rejected).status(&flow), Status::Failed);
}

#[test]
fn nothing_is_active_once_the_instance_ended() {
    let flow = onboarding();
    let inst = run(&flow, &["RegistrationRequested", "RegistrationRejected"]);
    assert!(inst.nodes(&flow).iter().all(|n| n.status != NodeStatus::Active));
}

#[test]
fn a_cancelled_instance_is_cancelled_whatever_comes_after() {
    let flow = onboarding();
    let mut inst = run(&flow, &HAPPY[..4]);
    inst.mark_cancelled(Millis(9_000));
    inst.apply(&flow, "late", "CustomerCreated", Millis(10_000));
    assert_eq!(inst.status(&flow), Status::Cancelled);
}

#[test]
fn an_event_id_seen_before_changes_nothing() {
    let flow = onboarding();
    let mut inst = run(&flow, &HAPPY[..2]);
    let before = inst.clone();
    // Same id, even with another type and time: it is the same event delivered again.
    assert_eq!(inst.apply(&flow, "e1", "AddressChecked", Millis(99_000)), Applied::Duplicate);
    assert_eq!(inst, before);
}

#[test]
fn an_outcome_before_its_request_ends_in_the_same_state() {
    let flow = onboarding();
    let in_order = run(&flow, &HAPPY);
    let mut reversed = Instance::new(&flow);
    for (t, ty) in HAPPY.iter().enumerate().rev() {
        reversed.apply(&flow, &format!("e{t}"), ty, Millis(t as i64 * 1000));
    }
    assert_eq!(in_order, reversed);
    assert_eq!(in_order.nodes(&flow), reversed.nodes(&flow));
}

#[test]
fn a_completion_before_the_start_still_completes() {
    let flow = onboarding();
    let mut inst = Instance::new(&flow);
    inst.apply(&flow, "end", "CustomerCreated", Millis(50_000));
    assert_eq!(inst.status(&flow), Status::Completed);
    inst.apply(&flow, "start", "RegistrationRequested", Millis(0));
    assert_eq!(inst.started(), Some(Millis(0)));
    assert_eq!(inst.status(&flow), Status::Completed);
}

#[test]
fn unknown_event_types_are_kept_as_deviations() {
    let flow = onboarding();
    let mut inst = run(&flow, &HAPPY[..1]);
    assert_eq!(inst.apply(&flow, "x", "NewsletterSent", Millis(1)), Applied::Unmapped);
    let devs = inst.deviations(&flow);
    assert_eq!(devs.len(), 1);
    assert!(devs[0].problem.contains("`NewsletterSent` is not part of this flow"), "{devs:?}");
}

#[test]
fn a_second_start_is_a_deviation() {
    let flow = onboarding();
    let inst = run(&flow, &["RegistrationRequested", "RegistrationRequested"]);
    let devs = inst.deviations(&flow);
    assert_eq!(devs, vec![Deviation { node: Some("registration".into()), problem: "2 start events; the first one counts".into() }]);
    assert_eq!(inst.started(), Some(Millis(0)));
}

#[test]
fn an_outcome_for_a_task_never_requested_is_a_deviation_until_the_request_arrives() {
    let flow = onboarding();
    let mut inst = run(&flow, &["RegistrationRequested", "CreditChecked"]);
    let devs = inst.deviations(&flow);
    assert_eq!(devs.len(), 1, "{devs:?}");
    assert_eq!(devs[0].node.as_deref(), Some("credit"));
    assert!(devs[0].problem.contains("`CreditCheckRequested` never did"));
    inst.apply(&flow, "late-request", "CreditCheckRequested", Millis(500));
    assert_eq!(inst.deviations(&flow), vec![]);
}

#[test]
fn contradicting_outcomes_and_two_ends_are_deviations() {
    let flow = onboarding();
    let inst = run(&flow, &["RegistrationRequested", "CreditCheckRequested", "CreditChecked", "CreditCheckFailed", "CustomerCreated", "RegistrationRejected"]);
    let problems: Vec<String> = inst.deviations(&flow).into_iter().map(|d| d.problem).collect();
    // The check succeeded, so the flow had left it when its failure came.
    assert!(problems.iter().any(|p| p.starts_with("`CreditCheckFailed` does not follow from where the instance was")), "{problems:?}");
    assert!(problems.iter().any(|p| p.contains("reached 2 end events")), "{problems:?}");
}

#[test]
fn a_task_active_past_its_sla_is_stuck_and_breached() {
    let flow = onboarding();
    let inst = run(&flow, &HAPPY[..2]);
    let address = inst.nodes(&flow)[flow.node_index("address").unwrap()].clone();
    let due = address.due.unwrap();
    assert!(!address.stuck(due));
    assert!(address.stuck(Millis(due.0 + 1)));
    let sla = inst.sla(&flow, Millis(due.0 + 5_000));
    let breach = sla.breaches.iter().find(|b| b.node.as_deref() == Some("address")).expect("address breached");
    assert_eq!((breach.over_by, breach.open), (Span(5_000), true));
}

#[test]
fn a_task_done_late_is_a_closed_breach() {
    let flow = onboarding();
    let mut inst = run(&flow, &HAPPY[..2]);
    inst.apply(&flow, "late", "AddressChecked", Millis(1_000 + 12 * MIN));
    let sla = inst.sla(&flow, Millis(20 * MIN));
    let breach = sla.breaches.iter().find(|b| b.node.as_deref() == Some("address")).expect("address breached");
    assert_eq!((breach.over_by, breach.open), (Span(2 * MIN), false));
}

#[test]
fn the_instance_sla_is_breached_after_four_hours() {
    let flow = onboarding();
    let inst = run(&flow, &HAPPY[..7]);
    let four_hours = 4 * 60 * MIN;
    assert_eq!(inst.sla(&flow, Millis(four_hours)).instance_due, Some(Millis(four_hours)));
    assert!(!inst.sla(&flow, Millis(four_hours)).breaches.iter().any(|b| b.node.is_none()));
    let late = inst.sla(&flow, Millis(four_hours + 1));
    assert!(late.breaches.iter().any(|b| b.node.is_none() && b.open));
}

#[test]
fn the_next_deadline_is_the_earliest_open_one() {
    let flow = onboarding();
    let mut inst = run(&flow, &HAPPY[..1]);
    inst.apply(&flow, "a", "AddressCheckRequested", Millis(2 * MIN));
    // Credit and criminal-record checks are due at 10 min (from the start), address at 12 min.
    assert_eq!(inst.sla(&flow, Millis(0)).next_deadline, Some(Millis(10 * MIN)));
    assert_eq!(inst.sla(&flow, Millis(10 * MIN + 1)).next_deadline, Some(Millis(12 * MIN)));
    assert_eq!(inst.sla(&flow, Millis(13 * MIN)).next_deadline, Some(Millis(4 * 60 * MIN)), "then the instance SLA");
    let done = run(&flow, &HAPPY);
    assert_eq!(done.sla(&flow, Millis(0)).next_deadline, None, "a finished instance has no deadline");
}

#[test]
fn retry_resends_the_request_payload_with_a_reference() {
    let flow = onboarding();
    let inst = run(&flow, &HAPPY[..3]);
    let data = serde_json::json!({"customerId": "c-1", "bureau": "north"});
    let cmd = inst.retry(&flow, "c-1", "credit", Some(&data)).unwrap();
    assert_eq!((cmd.topic.as_str(), cmd.command_type.as_str(), cmd.key.as_str()), ("onboarding-commands", "CheckCredit", "c-1"));
    assert_eq!(cmd.payload, data);
    assert_eq!(cmd.cause, crate::Cause::Retry { node: "credit".into(), retries: Some("e2".into()) });
    assert_eq!(inst.request_event(&flow, "credit"), Some("e2".to_string()));
}

#[test]
fn retry_is_refused_when_there_is_nothing_to_retry() {
    let flow = onboarding();
    let inst = run(&flow, &HAPPY[..5]);
    let err = inst.retry(&flow, "c", "address", None).unwrap_err();
    assert_eq!(err.to_string(), "task `address` is done; only an active or failed task of a running instance can be retried");
    assert_eq!(inst.retry(&flow, "c", "checks", None).unwrap_err(), crate::ActionError::NotATask("checks".into()));
    assert_eq!(inst.retry(&flow, "c", "nope", None).unwrap_err(), crate::ActionError::UnknownNode("nope".into()));
}

#[test]
fn cancel_publishes_the_cancel_and_compensates_completed_steps() {
    let flow = onboarding();
    let inst = run(&flow, &HAPPY[..6]);
    let cmds = inst.cancel(&flow, "c-7").unwrap();
    let kinds: Vec<(&str, &crate::Cause)> = cmds.iter().map(|c| (c.command_type.as_str(), &c.cause)).collect();
    assert_eq!(
        kinds,
        vec![
            ("CancelRegistration", &crate::Cause::Cancel),
            ("WithdrawCreditInquiry", &crate::Cause::Compensation { node: "credit".into() })
        ]
    );
    let done = run(&flow, &HAPPY);
    assert_eq!(done.cancel(&flow, "c").unwrap_err(), crate::ActionError::NotRunning(Status::Completed));
}

#[test]
fn the_instance_sla_breach_escalates_to_a_cancel() {
    let flow = onboarding();
    let inst = run(&flow, &HAPPY[..4]);
    assert_eq!(inst.escalation(&flow, "c", Millis(60 * MIN)), None);
    let cmds = inst.escalation(&flow, "c", Millis(4 * 60 * MIN + 1)).expect("cancels after 4 h");
    assert_eq!(cmds[0].command_type, "CancelRegistration");
}

/// The compensation-request process of the process-mining literature: register, examine, check
/// the ticket (in parallel), decide; "reinitiate request" sends the case back to the examination.
const COMPENSATION: &str = r#"
id = "compensation"
name = "Compensation request"
version = 1
correlation = { source = "key" }

[[nodes]]
id = "register"
kind = "start"
event = "register request"
next = ["again"]

[[nodes]]
id = "again"
kind = "exclusive"
next = ["split"]

[[nodes]]
id = "split"
kind = "parallel"
next = ["examine", "ticket"]

[[nodes]]
id = "examine"
kind = "task"
success = "examine"
sla = "1h"
next = ["join"]

[[nodes]]
id = "ticket"
kind = "task"
success = "check ticket"
next = ["join"]

[[nodes]]
id = "join"
kind = "parallel"
next = ["decide"]

[[nodes]]
id = "decide"
kind = "task"
success = "decide"
next = ["outcome"]

[[nodes]]
id = "outcome"
kind = "exclusive"
next = ["reinitiate", "pay", "reject"]

[[nodes]]
id = "reinitiate"
kind = "task"
success = "reinitiate request"
next = ["again"]

[[nodes]]
id = "pay"
kind = "end"
event = "pay compensation"

[[nodes]]
id = "reject"
kind = "end"
event = "reject request"
outcome = "failure"
"#;

fn compensation() -> Flow {
    Flow::parse_toml("compensation.toml", COMPENSATION).unwrap_or_else(|e| panic!("{e:?}"))
}

fn visits(flow: &Flow, inst: &Instance, id: &str) -> usize {
    inst.nodes(flow)[flow.node_index(id).unwrap()].visits.len()
}

#[test]
fn a_loop_back_to_an_earlier_step_counts_every_visit() {
    let flow = compensation();
    assert_eq!(flow.back.len(), 1, "the reinitiation closes one loop");
    let inst = run(
        &flow,
        &["register request", "examine", "check ticket", "decide", "reinitiate request", "check ticket", "examine", "decide", "pay compensation"],
    );
    assert_eq!(inst.status(&flow), Status::Completed);
    assert_eq!(inst.deviations(&flow), vec![]);
    for (node, n) in [("register", 1), ("examine", 2), ("ticket", 2), ("decide", 2), ("reinitiate", 1), ("pay", 1), ("join", 2)] {
        assert_eq!(visits(&flow, &inst, node), n, "{node}");
    }
    assert!(inst.reworked(&flow));
    // The second examination ran from the reinitiation (4 s) until it was done (6 s).
    let examine = &inst.nodes(&flow)[flow.node_index("examine").unwrap()].visits[1];
    assert_eq!((examine.started, examine.finished), (Millis(4_000), Some(Millis(6_000))));
}

#[test]
fn inside_a_loop_the_instance_is_where_the_latest_visit_is() {
    let flow = compensation();
    let inst = run(&flow, &["register request", "examine", "check ticket", "decide", "reinitiate request", "examine"]);
    assert_eq!(inst.status(&flow), Status::Running);
    assert_eq!(status_of(&flow, &inst, "examine"), NodeStatus::Done);
    assert_eq!(status_of(&flow, &inst, "ticket"), NodeStatus::Active, "the second ticket check runs");
    assert_eq!(status_of(&flow, &inst, "decide"), NodeStatus::Done, "its latest visit, the first one, was done");
    assert_eq!(visits(&flow, &inst, "examine"), 2);
}

#[test]
fn a_decision_after_a_loop_waits_for_its_branch() {
    let flow = compensation();
    let inst = run(&flow, &["register request", "examine", "check ticket", "decide"]);
    assert_eq!(status_of(&flow, &inst, "outcome"), NodeStatus::Active);
    let inst = run(&flow, &["register request", "examine", "check ticket", "decide", "reject request"]);
    assert_eq!(inst.status(&flow), Status::Failed);
    assert_eq!(status_of(&flow, &inst, "outcome"), NodeStatus::Done);
}

#[test]
fn every_visit_has_its_own_sla_clock() {
    let flow = compensation();
    let hour = 3_600_000;
    let mut inst = Instance::new(&flow);
    for (k, (ty, at)) in [("register request", 0), ("check ticket", 1), ("examine", 2 * hour), ("decide", 2 * hour), ("reinitiate request", 2 * hour)]
        .into_iter()
        .enumerate()
    {
        inst.apply(&flow, &format!("e{k}"), ty, Millis(at));
    }
    // The first examination was an hour late; the second one runs and is due an hour after the reinitiation.
    let sla = inst.sla(&flow, Millis(2 * hour + 10));
    let late: Vec<(u32, bool)> = sla.breaches.iter().filter(|b| b.node.as_deref() == Some("examine")).map(|b| (b.visit, b.open)).collect();
    assert_eq!(late, vec![(0, false)]);
    assert_eq!(sla.next_deadline, Some(Millis(3 * hour)));
    let sla = inst.sla(&flow, Millis(3 * hour + 5));
    let late: Vec<(u32, bool)> = sla.breaches.iter().filter(|b| b.node.as_deref() == Some("examine")).map(|b| (b.visit, b.open)).collect();
    assert_eq!(late, vec![(0, false), (1, true)]);
}

const REWORK: &str = r#"
id = "rework"
name = "Rework of one step"
version = 1
correlation = { source = "key" }
[cancel]
command = "Cancel"
topic = "t"

[[nodes]]
id = "start"
kind = "start"
event = "Started"
next = ["pay"]

[[nodes]]
id = "pay"
kind = "task"
request = "PaymentRequested"
success = "Paid"
failure = "PaymentFailed"
on_failure = "again"
retry = { command = "Pay", topic = "t" }
compensation = { command = "Refund", topic = "t" }
next = ["done"]

[[nodes]]
id = "again"
kind = "exclusive"
name = "Card updated?"
next = ["pay", "given-up"]

[[nodes]]
id = "given-up"
kind = "end"
event = "GivenUp"
outcome = "failure"

[[nodes]]
id = "done"
kind = "end"
event = "Finished"
"#;

fn rework() -> Flow {
    Flow::parse_toml("rework.toml", REWORK).unwrap_or_else(|e| panic!("{e:?}"))
}

#[test]
fn a_loop_around_one_task_reworks_it_until_it_succeeds() {
    let flow = rework();
    let inst = run(&flow, &["Started", "PaymentRequested", "PaymentFailed"]);
    assert_eq!(status_of(&flow, &inst, "again"), NodeStatus::Active, "waits for the customer to decide");
    assert_eq!(status_of(&flow, &inst, "pay"), NodeStatus::Failed);
    let inst = run(&flow, &["Started", "PaymentRequested", "PaymentFailed", "PaymentRequested", "PaymentFailed", "PaymentRequested", "Paid", "Finished"]);
    assert_eq!(inst.status(&flow), Status::Completed);
    assert_eq!(inst.deviations(&flow), vec![]);
    let outcomes: Vec<VisitOutcome> = inst.nodes(&flow)[1].visits.iter().map(|v| v.outcome).collect();
    assert_eq!(outcomes, vec![VisitOutcome::Failed, VisitOutcome::Failed, VisitOutcome::Done]);
    let inst = run(&flow, &["Started", "PaymentRequested", "PaymentFailed", "GivenUp"]);
    assert_eq!(inst.status(&flow), Status::Failed);
}

#[test]
fn a_retry_opens_a_new_visit_and_its_outcome_closes_it() {
    let flow = onboarding();
    let mut inst = run(&flow, &HAPPY[..2]);
    inst.mark_retried(&flow, "address", Millis(60_000), "retry-1");
    let address = &inst.nodes(&flow)[flow.node_index("address").unwrap()];
    assert_eq!(address.visits.len(), 2);
    assert_eq!(address.visits[0].outcome, VisitOutcome::Replaced);
    assert!(address.visits[1].retried);
    assert_eq!(address.due, Some(Millis(60_000 + 10 * MIN)), "the retried visit has its own clock");
    inst.apply(&flow, "ok", "AddressChecked", Millis(61_000));
    let address = &inst.nodes(&flow)[flow.node_index("address").unwrap()];
    assert_eq!((address.status, address.visits[1].outcome), (NodeStatus::Done, VisitOutcome::Done));
    assert_eq!(inst.deviations(&flow), vec![], "the retry asked for the work: no missing request");
}

#[test]
fn a_failed_task_may_be_retried_and_a_retried_request_payload_is_the_original() {
    let flow = onboarding();
    let mut inst = run(&flow, &["RegistrationRequested", "AddressCheckRequested", "AddressCheckFailed"]);
    assert!(inst.retry(&flow, "c", "address", None).is_ok());
    inst.mark_retried(&flow, "address", Millis(9_000), "retry-1");
    assert_eq!(inst.request_event(&flow, "address"), Some("e1".to_string()));
}

#[test]
fn compensations_go_out_once_per_completed_visit_latest_first() {
    // After a payment, a review may send the order back to be paid again.
    let text = REWORK.replace("next = [\"done\"]", "next = [\"review\"]")
        + "[[nodes]]\nid = \"review\"\nkind = \"exclusive\"\nnext = [\"done\", \"pay\"]\n";
    let flow = Flow::parse_toml("paid-twice.toml", &text).unwrap_or_else(|e| panic!("{e:?}"));
    let once = run(&flow, &["Started", "PaymentRequested", "PaymentFailed", "PaymentRequested", "Paid"]);
    let refunds = |inst: &Instance| inst.cancel(&flow, "k").unwrap().into_iter().filter(|c| c.command_type == "Refund").count();
    assert_eq!(refunds(&once), 1, "a failed visit is not undone");
    let twice = run(&flow, &["Started", "PaymentRequested", "Paid", "PaymentRequested", "Paid"]);
    assert_eq!(visits(&flow, &twice, "pay"), 2);
    let commands = twice.cancel(&flow, "k").unwrap();
    let kinds: Vec<&str> = commands.iter().map(|c| c.command_type.as_str()).collect();
    assert_eq!(kinds, vec!["Cancel", "Refund", "Refund"]);
}

#[test]
fn a_cycle_with_no_way_out_is_refused_with_its_nodes() {
    let text = REWORK.replace("next = [\"pay\", \"given-up\"]", "next = [\"pay\"]").replace(
        "[[nodes]]\nid = \"given-up\"\nkind = \"end\"\nevent = \"GivenUp\"\noutcome = \"failure\"\n",
        "",
    );
    let text = text.replace("next = [\"done\"]", "next = [\"again\"]").replace("on_failure = \"again\"\n", "on_failure = \"again\"\n");
    let problems = Flow::parse_toml("loop.toml", &text).unwrap_err();
    assert!(problems.iter().any(|p| p.contains("the loop through `pay`, `again` has no way out")), "{problems:?}");
    assert!(problems.iter().any(|p| p.starts_with("loop.toml:")), "{problems:?}");
}

#[test]
fn a_stored_instance_is_its_log_and_reads_back_the_same() {
    let flow = compensation();
    let inst = run(&flow, &["register request", "examine", "check ticket", "decide", "reinitiate request", "examine"]);
    let text = serde_json::to_string(&inst).unwrap();
    assert!(!text.contains("visits"), "the replay is not stored: {text}");
    let mut back: Instance = serde_json::from_str(&text).unwrap();
    assert_ne!(back, inst, "read back, it has not been replayed yet");
    assert_eq!(back.nodes(&flow), inst.nodes(&flow), "but reads the same");
    back.restore(&flow);
    assert_eq!(back, inst);
}
