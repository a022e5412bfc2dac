//! The clock of the use cases: SLA deadlines, audit times, session expiry. Behind a trait so the
//! one place that reads the wall clock can be swapped.

use flowlens_core::Millis;

pub trait Clock: Send + Sync + 'static {
    fn now(&self) -> Millis;
}

/// The system's wall clock.
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Millis {
        flowlens_store::now()
    }
}
