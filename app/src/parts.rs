//! Small pieces every page shares: state badges, times, SLA countdowns, errors as sentences.

use flowlens_core::{Millis, Span, Status};
use leptos::prelude::*;

pub(crate) fn status_badge(status: Status) -> impl IntoView {
    view! { <span class=format!("badge {}", status.as_str()) data-status=status.as_str()>{status.as_str()}</span> }
}

/// Whether an instance fits its flow or deviates from it (the deviations are on its page).
pub(crate) fn fit_badge(fits: bool) -> impl IntoView {
    let (class, text) = if fits { ("badge fits", "fits") } else { ("badge deviates", "deviates") };
    view! { <span class=class data-fits=fits.to_string() title="Whether its events follow the flow model">{text}</span> }
}

pub(crate) use crate::zone::{Ago, Time};

/// Time left until `due`, or how long it has been overdue (then the instance is stuck).
pub fn sla_text(due: Millis, now: Millis) -> String {
    let left = due.0 - now.0;
    if left >= 0 { format!("due in {}", Span(left).human()) } else { format!("overdue {}", Span(-left).human()) }
}

pub(crate) fn sla_clock(due: Option<Millis>, now: ReadSignal<Millis>) -> impl IntoView {
    due.map(|due| {
        let overdue = move || now.get() > due;
        view! {
            <span class="sla" class:overdue=overdue data-overdue=move || overdue().to_string()>
                {move || sla_text(due, now.get())}
            </span>
        }
    })
}

pub(crate) fn sentence(e: &ServerFnError) -> String {
    match e {
        ServerFnError::ServerError(m) => m.clone(),
        other => other.to_string(),
    }
}
