//! BPMN 2.0 in and out.
//!
//! In ([`Flow::parse_bpmn`](crate::Flow::parse_bpmn)): a BPMN model as bpmn.io, Camunda Modeler,
//! Signavio or process-mining tools write it becomes a flow, with its diagram interchange as the
//! diagram. Out ([`export`]): any flow as BPMN with diagram interchange, drawn as Flowlens draws it.

mod export;
mod import;

pub use export::export;

pub(crate) const MODEL: &str = "http://www.omg.org/spec/BPMN/20100524/MODEL";
pub(crate) const BPMNDI: &str = "http://www.omg.org/spec/BPMN/20100524/DI";
pub(crate) const DC: &str = "http://www.omg.org/spec/DD/20100524/DC";
pub(crate) const DI: &str = "http://www.omg.org/spec/DD/20100524/DI";
