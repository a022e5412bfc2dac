//! The overview of a flow: counts by state, a throughput chart, and the diagram with a
//! switchable heatmap (waiting, mean time, p95 time, SLA breaches) over a chosen time range.
//! Also the read-only embed of the same view.

use flowlens_core::{Overview, Span};
use leptos::prelude::*;
use leptos_router::components::A;
use leptos_router::hooks::{use_params_map, use_query_map};

use crate::api::{embed_overview, get_overview};
use crate::diagram::HeatDiagram;
use crate::live::subscribe;
use crate::parts::sentence;

const RANGES: [&str; 4] = ["15m", "1h", "24h", "7d"];

/// The range a page asks for: `from` and `to` dates from the form, an absolute `range`
/// (`2019-06-01..2019-06-30`), or one of the relative ones (the last hour when none).
fn chosen_range(query: &leptos_router::params::ParamsMap) -> String {
    let day = |name: &str| query.get(name).filter(|d| d.len() == 10 && d.as_bytes()[4] == b'-');
    if let (Some(from), Some(to)) = (day("from"), day("to")) {
        return format!("{from}..{to}");
    }
    query
        .get("range")
        .filter(|r| RANGES.contains(&r.as_str()) || (r.contains("..") && r.len() <= 64))
        .unwrap_or_else(|| "1h".into())
}

#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Heat {
    Waiting,
    Mean,
    P95,
    Breaches,
    Rework,
    Deviations,
}

impl Heat {
    const ALL: [Heat; 6] = [Heat::Waiting, Heat::Mean, Heat::P95, Heat::Breaches, Heat::Rework, Heat::Deviations];

    fn key(self) -> &'static str {
        match self {
            Heat::Waiting => "waiting",
            Heat::Mean => "mean",
            Heat::P95 => "p95",
            Heat::Breaches => "breaches",
            Heat::Rework => "rework",
            Heat::Deviations => "deviations",
        }
    }

    fn label(self) -> &'static str {
        match self {
            Heat::Waiting => "Waiting now",
            Heat::Mean => "Mean time",
            Heat::P95 => "p95 time",
            Heat::Breaches => "SLA breaches",
            Heat::Rework => "Rework",
            Heat::Deviations => "Deviations",
        }
    }

    fn parse(s: &str) -> Heat {
        Heat::ALL.into_iter().find(|h| h.key() == s).unwrap_or(Heat::Waiting)
    }
}

/// [`follow`] the figures of one flow, or of all when none is named.
pub(crate) fn follow_flow(flow: Option<String>, refetch: impl Fn() + Clone + 'static) {
    let stream = match flow {
        Some(f) => format!("/api/v1/stream?view=totals&flow={f}"),
        None => "/api/v1/stream?view=totals".into(),
    };
    follow(stream, refetch);
}

/// Refetches `data` when the server says the figures moved, at most every two seconds: a busy
/// flow changes many times a second and the overview is an aggregate.
fn follow(stream: String, refetch: impl Fn() + Clone + 'static) {
    let pending = StoredValue::new(false);
    let again = refetch.clone();
    subscribe(stream, "moved", move || refetch(), move |_: serde::de::IgnoredAny| {
        if pending.get_value() {
            return;
        }
        pending.set_value(true);
        let again = again.clone();
        set_timeout(
            move || {
                pending.set_value(false);
                again();
            },
            std::time::Duration::from_secs(2),
        );
    });
}

#[component]
pub fn OverviewPage() -> impl IntoView {
    let query = use_query_map();
    let flow = move || query.read().get("flow").filter(|f| !f.is_empty());
    let range = move || chosen_range(&query.read());
    let heat = move || Heat::parse(&query.read().get("heat").unwrap_or_default());
    let data = Resource::new(move || (flow(), range()), |(f, r)| get_overview(f, r));
    follow_flow(flow(), move || data.refetch());
    view! {
        <Transition fallback=|| view! { <p class="muted">"Loading…"</p> }>
            {move || Suspend::new(async move {
                match data.await {
                    Err(e) => view! { <p class="error">{sentence(&e)}</p> }.into_any(),
                    Ok(None) => view! { <p class="muted empty">"No such flow."</p> }.into_any(),
                    Ok(Some(o)) => {
                        let link = |flow: &str, range: &str, heat: Heat| format!("/?flow={flow}&range={range}&heat={}", heat.key());
                        let (f, r, h) = (o.flow_id.clone(), range(), heat());
                        let flows = o.flows.clone().into_iter().map(|(id, name)| {
                            let class = if id == f { "tab current" } else { "tab" };
                            view! { <A href=link(&id, &r, h) attr:class=class>{name}</A> }
                        }).collect_view();
                        let ranges = RANGES.map(|x| {
                            let class = if x == r { "tab current" } else { "tab" };
                            view! { <A href=link(&f, x, h) attr:class=class attr:data-range=x>{format!("last {x}")}</A> }
                        }).collect_view();
                        // Any window of history, by event time: a plain GET form, so it works before
                        // the page is interactive too.
                        let (day_from, day_to) = match r.split_once("..") {
                            Some((a, b)) => (a.get(..10).unwrap_or_default().to_string(), b.get(..10).unwrap_or_default().to_string()),
                            None => (o.from.to_rfc3339()[..10].to_string(), o.to.to_rfc3339()[..10].to_string()),
                        };
                        let absolute = r.contains("..");
                        let window = view! {
                            <form class=if absolute { "window current" } else { "window" } method="get" action="/" data-range-form="">
                                <input type="hidden" name="flow" value=f.clone()/>
                                <input type="hidden" name="heat" value=h.key()/>
                                <label>"From "<input type="date" name="from" value=day_from required=true/></label>
                                <label>" to "<input type="date" name="to" value=day_to required=true/></label>
                                <span class="muted small">" UTC "</span>
                                <button type="submit">"Show"</button>
                            </form>
                        };
                        let heats = Heat::ALL.map(|x| {
                            let class = if x == h { "tab current" } else { "tab" };
                            view! { <A href=link(&f, &r, x) attr:class=class attr:data-heat-mode=x.key()>{x.label()}</A> }
                        }).collect_view();
                        // The flow as BPMN 2.0, to open in bpmn.io or Camunda Modeler.
                        let bpmn = format!("/api/v1/flows/{f}/bpmn");
                        let download = (!o.discovered).then(|| view! {
                            <a class="tab download" href=bpmn download="" data-download="bpmn">"Download BPMN"</a>
                        });
                        view! {
                            <div class="tabs flows">
                                {flows}
                                <span class="spacer"></span>
                                {download}
                            </div>
                            <OverviewBody o heat=h/>
                            <div class="tabs">{ranges}{window}<span class="spacer"></span>{heats}</div>
                        }.into_any()
                    }
                }
            })}
        </Transition>
    }
}

/// Counts, throughput and heatmap; shared by the page and its embed.
#[component]
pub fn OverviewBody(o: Overview, heat: Heat) -> impl IntoView {
    let c = &o.counts;
    let list = |q: &str| format!("/instances?flow={}&{q}", o.flow_id);
    let cards = [
        ("running", c.running, list("status=running")),
        ("stuck", c.stuck, list("sla=overdue")),
        ("completed", c.completed, list("status=completed")),
        ("failed", c.failed, list("status=failed")),
        ("cancelled", c.cancelled, list("status=cancelled")),
        ("SLA breached", c.breached, list("sla=overdue")),
        ("deviating", c.deviating, list("fits=false")),
    ]
    .into_iter()
    .map(|(label, n, href)| {
        let class = format!("count {}", label.replace(' ', "-").to_lowercase());
        view! { <a class=class href=href data-count=label><span class="n">{n}</span><span class="what">{label}</span></a> }
    })
    .collect_view();
    let values: Vec<(String, Option<f64>, String)> = o
        .heat
        .iter()
        .map(|n| {
            let ms = |v: Option<i64>| v.map(|m| (Some(m as f64), Span(m).human())).unwrap_or((None, String::new()));
            let (v, text) = match heat {
                Heat::Waiting => (Some(n.waiting as f64).filter(|&w| w > 0.0), if n.waiting > 0 { format!("{} waiting", n.waiting) } else { String::new() }),
                Heat::Mean => ms(n.mean_ms),
                Heat::P95 => ms(n.p95_ms),
                Heat::Breaches => (Some(n.breaches as f64).filter(|&b| b > 0.0), if n.breaches > 0 { format!("{} late", n.breaches) } else { String::new() }),
                // The share of the instances started in the range that ran the step more than once.
                Heat::Rework if n.reached > 0 && n.reworked > 0 => {
                    let share = n.reworked as f64 / n.reached as f64;
                    (Some(share), format!("{:.0}% again", 100.0 * share))
                }
                Heat::Rework => (None, String::new()),
                // The share of the instances started in the range that deviate at the step.
                Heat::Deviations if n.reached > 0 && n.deviations > 0 => {
                    let share = n.deviations as f64 / n.reached as f64;
                    (Some(share), format!("{} deviate ({:.0}%)", n.deviations, 100.0 * share))
                }
                Heat::Deviations => (None, String::new()),
            };
            (n.id.clone(), v, text)
        })
        .collect();
    // A discovered flow has no model to heat: its process is the one mined from its events.
    let body = if o.discovered {
        let map = format!("/discovery?flow={}", o.flow_id);
        view! {
            <section class="card discovered" data-discovered="">
                <h2>"Mined, not modelled"</h2>
                <p>"This flow groups its events into cases without a model. "
                   <a href=map>"Its process map"</a>" shows what the cases do; save it as a flow there to track them against it."</p>
            </section>
        }.into_any()
    } else {
        view! {
            <section class="card heatmap" data-heat=heat.key()>
                <h2>{format!("Heatmap: {}", heat.label().to_lowercase())}</h2>
                <HeatDiagram diagram=o.diagram.clone() values/>
            </section>
        }.into_any()
    };
    // Conformance at a glance: how many of the instances started in the range fit the model;
    // their variants are on the discovery page.
    let started = c.running + c.completed + c.failed + c.cancelled;
    let fit = (started > 0 && !o.discovered).then(|| {
        let share = 100.0 * (started - c.deviating.min(started)) as f64 / started as f64;
        let variants = format!("/discovery?flow={}", o.flow_id);
        view! {
            <p class="muted small" data-fit-share=format!("{share:.0}")>
                {format!("{share:.0}% of the {started} instances started in the range fit the flow. ")}
                <a href=variants>"Their variants and process map"</a>
            </p>
        }
    });
    view! {
        <h1>{o.flow_name.clone()}</h1>
        <div class="counts">{cards}</div>
        {fit}
        <section class="card">
            <h2>"Throughput"</h2>
            <Throughput o=o.clone()/>
        </section>
        {body}
    }
}

/// Events per bucket as bars, completions as a line: a glance tells whether the flow is moving.
#[component]
fn Throughput(o: Overview) -> impl IntoView {
    let zone = crate::zone::current();
    let (w, h, pad) = (720.0f64, 120.0f64, 22.0f64);
    let n = o.throughput.len().max(1) as f64;
    let max = o.throughput.iter().map(|b| b.events.max(b.completed)).max().unwrap_or(0).max(1) as f64;
    let bw = (w - pad) / n;
    let bars = o
        .throughput
        .iter()
        .enumerate()
        .map(|(i, b)| {
            let bh = (h - pad) * b.events as f64 / max;
            let x = pad + i as f64 * bw;
            view! {
                <rect class="bar" x=format!("{:.1}", x + 1.0) y=format!("{:.1}", h - pad - bh) width=format!("{:.1}", (bw - 2.0).max(1.0)) height=format!("{bh:.1}")>
                    <title>{let (start, events, completed) = (b.start, b.events, b.completed); move || format!("{}: {events} events, {completed} completed", crate::zone::show(start, zone.get()))}</title>
                </rect>
            }
        })
        .collect_view();
    let line = o
        .throughput
        .iter()
        .enumerate()
        .map(|(i, b)| format!("{:.1},{:.1}", pad + (i as f64 + 0.5) * bw, h - pad - (h - pad) * b.completed as f64 / max))
        .collect::<Vec<_>>()
        .join(" ");
    let total: u64 = o.throughput.iter().map(|b| b.events).sum();
    let done: u64 = o.throughput.iter().map(|b| b.completed).sum();
    let per = Span(o.bucket_ms).human();
    view! {
        <svg class="chart" viewBox=format!("0 0 {w} {h}") role="img" aria-label="events per interval">
            <text class="axis" x="0" y="12">{format!("{}", max as u64)}</text>
            <text class="axis" x="0" y=h - pad>"0"</text>
            {bars}
            <polyline class="completed" points=line/>
        </svg>
        <p class="muted small" data-total-events=total.to_string()>
            {format!("{total} events, {done} completed; bars are events per {per}, the line completions.")}
        </p>
    }
}

/// `/embed/flows/:flow?token=…`: the overview, read-only, for a wiki iframe.
#[component]
pub fn EmbedOverview() -> impl IntoView {
    let params = use_params_map();
    let query = use_query_map();
    let flow = move || params.read().get("flow").unwrap_or_default();
    let token = move || query.read().get("token").unwrap_or_default();
    let range = move || chosen_range(&query.read());
    let heat = move || Heat::parse(&query.read().get("heat").unwrap_or_default());
    let data = Resource::new(move || (token(), flow(), range()), |(t, f, r)| embed_overview(t, f, r));
    follow(format!("/api/v1/stream?view=totals&flow={}&token={}", flow(), token()), move || data.refetch());
    view! {
        <Transition fallback=|| view! { <p class="muted">"Loading…"</p> }>
            {move || Suspend::new(async move {
                match data.await {
                    Err(e) => view! { <p class="error">{sentence(&e)}</p> }.into_any(),
                    Ok(None) => view! { <p class="muted">"No such flow."</p> }.into_any(),
                    Ok(Some(o)) => view! { <OverviewBody o heat=heat()/> }.into_any(),
                }
            })}
        </Transition>
    }
}
