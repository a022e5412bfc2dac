//! The tracking core of Flowlens.
//!
//! Flow models, how events find their instance, instance state, SLAs, the commands a retry or a
//! cancel publishes, and the diagram layout, with no IO: no clock, no network, no database.
//! Adapters (Kafka, HTTP, SQL, the UI) feed it events and times and store or show what it returns,
//! so everything here can be tested exhaustively and in isolation.

pub mod access;
pub mod actions;
#[cfg(feature = "bpmn")]
pub mod bpmn;
pub mod discovery;
#[cfg(feature = "files")]
pub mod draft;
pub mod envelope;
pub mod event;
pub mod flow;
pub mod graph;
pub mod histogram;
#[cfg(feature = "files")]
pub(crate) mod flow_file;
pub mod instance;
pub mod layout;
pub mod live_list;
pub mod query;
pub mod registry;
pub mod time;
pub mod view;

pub use access::{authorize, Caller, Credential, Me, EmbedScope, Need, Principal, Refusal, Role};
pub use actions::{ActionError, Cause, Command};
pub use envelope::{decode_message, EnvelopeFields, Message};
pub use event::{Data, DataForm, DecodeError, Event, MediaType};
pub use flow::Flow;
pub use instance::{Applied, Breach, Deviation, Instance, NodeState, NodeStatus, SlaState, Status};
#[cfg(feature = "layout")]
pub use layout::layout;
pub use layout::Diagram;
pub use query::{Cursor, ListParams, ListQuery, Page, SlaFilter, Sort};
pub use registry::{Flows, Route, RouteError};
pub use time::{Millis, Span};
pub use view::{ActionKind, ActionResult, ActionView, DeadLetterView, EventRecord, InstanceChanged, InstanceDetail, InstanceSummary, TokenInfo, Counts, NodeHeat, Bucket, Overview, StatusInfo, BrokerProblem, BrokerTrouble};
