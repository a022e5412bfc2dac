//! The tracking core of Flowlens.
//!
//! Flow models, how events find their instance, instance state and the diagram layout, with no IO:
//! no clock, no network, no database. Adapters (Kafka, HTTP, SQL, the UI) feed it events and times
//! and store or show what it returns, so everything here can be tested exhaustively and in isolation.

pub mod event;
pub mod flow;
pub mod instance;
pub mod layout;
pub mod registry;
pub mod time;
pub mod view;

pub use event::{DecodeError, Event};
pub use flow::{Flow, FlowError};
pub use instance::{Instance, NodeState, NodeStatus, Status};
pub use layout::{layout, Diagram};
pub use registry::{Flows, Route, RouteError};
pub use time::{Millis, Span};
pub use view::{EventRecord, InstanceChanged, InstanceDetail, InstanceSummary};
