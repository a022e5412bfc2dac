//! The discovery page: the process as the events show it, whatever the model says. The
//! directly-follows graph drawn by the flows' layout engine with a frequency or time heat, a
//! slider that hides rare activities and edges, and the figures behind it (activities, edges
//! with their times, variants).

use flowlens_core::discovery::{DiscoveryView, MAP_END, MAP_START};
use flowlens_core::Span;
use leptos::prelude::*;
use leptos_router::components::A;
use leptos_router::hooks::{use_navigate, use_query_map};

use crate::api::get_discovery;
use crate::diagram::HeatDiagram;
use crate::parts::sentence;

fn duration(ms: f64) -> String {
    if ms < 1000.0 {
        format!("{ms:.0} ms")
    } else {
        Span(ms.round() as i64).human()
    }
}

#[component]
pub fn DiscoveryPage() -> impl IntoView {
    let query = use_query_map();
    let flow = move || query.read().get("flow").filter(|f| !f.is_empty());
    let hide = move || query.read().get("hide").and_then(|h| h.parse::<u32>().ok()).unwrap_or(0).min(100);
    let time = move || query.read().get("heat").as_deref() == Some("time");
    // A window of case starts: the From/To form's dates, or `range=FROM..TO`; every case without.
    let range = move || {
        let q = query.read();
        let day = |name: &str| q.get(name).filter(|d| d.len() == 10 && d.as_bytes()[4] == b'-');
        match (day("from"), day("to")) {
            (Some(from), Some(to)) => Some(format!("{from}..{to}")),
            _ => q.get("range").filter(|r| r.contains("..") && r.len() <= 64),
        }
    };
    let data = Resource::new(move || (flow(), hide(), range()), |(f, h, r)| get_discovery(f, h, r));
    // Kept at ingest, so the map moves with the events: refetched on pushed changes, at most
    // every two seconds.
    crate::overview::follow_flow(flow(), move || data.refetch());
    view! {
        <Transition fallback=|| view! { <p class="muted">"Loading…"</p> }>
            {move || Suspend::new(async move {
                match data.await {
                    Err(e) => view! { <p class="error">{sentence(&e)}</p> }.into_any(),
                    Ok(None) => view! { <p class="muted empty">"No such flow."</p> }.into_any(),
                    Ok(Some(v)) => view! { <DiscoveryBody v hide=hide() time=time() range=range()/> }.into_any(),
                }
            })}
        </Transition>
        <TurnOn/>
    }
}

/// For admins: mine the events of a channel that no flow models, from the next event on.
#[component]
fn TurnOn() -> impl IntoView {
    let session = expect_context::<crate::session::Session>();
    let add = ServerAction::<crate::api::DiscoverChannel>::new();
    view! {
        <Suspense fallback=|| ()>
            {move || Suspend::new(async move {
                let me = session.me().await;
                if !crate::session::can(&me, flowlens_core::Role::Admin) {
                    return ().into_any();
                }
                let csrf = me.map(|m| m.csrf).unwrap_or_default();
                let outcome = move || add.value().get().map(|r| match r {
                    Ok(id) => view! {
                        <p class="outcome ok" data-discovering=id.clone()>
                            "Discovering " <b>{id.clone()}</b> ": from the next event on, its events go there (saved in the flows directory). "
                            <a href=format!("/discovery?flow={id}")>"Open its map"</a>
                        </p>
                    }.into_any(),
                    Err(e) => view! { <p class="outcome error">{sentence(&e)}</p> }.into_any(),
                });
                view! {
                    <section class="card" data-turn-on="">
                        <h2>"Mine events nobody modelled"</h2>
                        <p class="muted">"Events of a topic that no flow maps are dead-lettered. Turn discovery on for the topic and they are grouped into cases by their key and mined here, with no model. (The server must consume the topic; a replayed file's name or " <code>"http"</code> " work as channels too.)"</p>
                        <ActionForm action=add attr:class="filters">
                            <label>"Topic " <input name="channel" placeholder="payments" required/></label>
                            <label>"Business key " <input name="key" placeholder="key, subject or /orderId" value="key" required/></label>
                            <label>"Flow id " <input name="id" placeholder="payments" required/></label>
                            <label>"Name " <input name="name" placeholder="Payments (mined)" required/></label>
                            <input type="hidden" name="csrf" value=csrf/>
                            <button class="op primary" type="submit">"Turn on"</button>
                        </ActionForm>
                        {outcome}
                    </section>
                }.into_any()
            })}
        </Suspense>
    }
}

#[component]
fn DiscoveryBody(v: DiscoveryView, hide: u32, time: bool, range: Option<String>) -> impl IntoView {
    let d = &v.discovery;
    let f = d.flow_id.clone();
    let window = range.as_ref().map(|r| format!("&range={r}")).unwrap_or_default();
    let link = {
        let window = window.clone();
        move |flow: &str, hide: u32, time: bool| format!("/discovery?flow={flow}&hide={hide}&heat={}{window}", heat_word(time))
    };
    let flows = v
        .flows
        .clone()
        .into_iter()
        .map(|(id, name)| {
            let class = if id == f { "tab current" } else { "tab" };
            view! { <A href=link(&id, hide, time) attr:class=class>{name}</A> }
        })
        .collect_view();
    let heats = [(false, "Frequency"), (true, "Time")]
        .map(|(t, label)| {
            let class = if t == time { "tab current" } else { "tab" };
            view! { <A href=link(&f, hide, t) attr:class=class attr:data-heat-mode=heat_word(t)>{label}</A> }
        })
        .collect_view();
    // Frequency: how many events of the activity. Time: the mean wait before it (over the edges
    // that lead to it), the figure a bottleneck shows in.
    let values: Vec<(String, Option<f64>, String)> = v
        .map
        .activities
        .iter()
        .map(|name| {
            let a = d.activities.iter().find(|a| a.name == *name);
            if time {
                let incoming: Vec<_> = d.edges.iter().filter(|e| e.to == *name && v.map.edges.contains(&(e.from.clone(), e.to.clone()))).collect();
                let n: u64 = incoming.iter().map(|e| e.count).sum();
                let mean = (n > 0).then(|| incoming.iter().map(|e| e.mean_ms * e.count as f64).sum::<f64>() / n as f64);
                (name.clone(), mean, mean.map(|m| format!("waits {}", duration(m))).unwrap_or_default())
            } else {
                let n = a.map(|a| a.count).unwrap_or(0);
                (name.clone(), Some(n as f64), format!("{n}×"))
            }
        })
        .chain([(MAP_START.to_string(), None, String::new()), (MAP_END.to_string(), None, String::new())])
        .collect();
    let navigate = use_navigate();
    let to_level = {
        let f = f.clone();
        move |ev: leptos::ev::Event| {
            let level = event_target_value(&ev).parse::<u32>().unwrap_or(0);
            navigate(&link(&f, level, time), Default::default());
        }
    };
    let summary = format!(
        "{} cases, {} variants; a case takes {} on average (median {}, p95 {}).",
        d.cases,
        d.variant_count,
        d.case_mean_ms.map(duration).unwrap_or_else(|| "–".into()),
        d.case_median_ms.map(|m| duration(m as f64)).unwrap_or_else(|| "–".into()),
        d.case_p95_ms.map(|m| duration(m as f64)).unwrap_or_else(|| "–".into()),
    );
    let shown = format!("{} of {} activities, {} of {} edges", v.map.activities.len(), d.activities.len(), v.map.edges.len(), d.edges.len());
    let activities = d
        .activities
        .iter()
        .map(|a| view! { <tr data-activity=a.name.clone()><td>{a.name.clone()}</td><td class="num">{a.count}</td><td class="num">{a.starts}</td><td class="num">{a.ends}</td></tr> })
        .collect_view();
    let edges = d
        .edges
        .iter()
        .take(30)
        .map(|e| {
            let ms = |m: Option<i64>| m.map(|m| duration(m as f64)).unwrap_or_default();
            view! {
                <tr data-edge=format!("{} → {}", e.from, e.to)>
                    <td>{format!("{} → {}", e.from, e.to)}</td>
                    <td class="num">{e.count}</td>
                    <td class="num">{duration(e.mean_ms)}</td>
                    <td class="num">{ms(e.median_ms)}</td>
                    <td class="num">{ms(e.p95_ms)}</td>
                </tr>
            }
        })
        .collect_view();
    let variants = d
        .variants
        .iter()
        .enumerate()
        .map(|(i, var)| {
            let share = if d.cases > 0 { 100.0 * var.count as f64 / d.cases as f64 } else { 0.0 };
            view! {
                <tr class="variant">
                    <td class="num">{i + 1}</td>
                    <td class="num">{var.count}</td>
                    <td>
                        <span class="bar" style=format!("width: {:.1}%", share)></span>
                        {format!("{:.1}%", share)}
                    </td>
                    <td class="num">{duration(var.mean_ms)}</td>
                    <td class="steps">{var.activities.join(" → ")}</td>
                </tr>
            }
        })
        .collect_view();
    let other = (d.other_cases > 0).then(|| {
        let rest = d.variant_count.saturating_sub(d.variants.len() as u64);
        view! { <tr class="variant other"><td></td><td class="num">{d.other_cases}</td><td colspan="3">{format!("in {rest} other variants")}</td></tr> }
    });
    // Which cases: all, or those started in a window of days (a plain GET form, so it works
    // before the page is interactive too).
    let (day_from, day_to) = match d.window {
        Some((from, to)) => (from.to_rfc3339()[..10].to_string(), flowlens_core::Millis(to.0 - 1).to_rfc3339()[..10].to_string()),
        None => (String::new(), String::new()),
    };
    let all = format!("/discovery?flow={f}&hide={hide}&heat={}", heat_word(time));
    let cases = view! {
        <div class="tabs">
            <A href=all attr:class=if d.window.is_none() { "tab current" } else { "tab" } attr:data-range="all">"All cases"</A>
            <form class=if d.window.is_some() { "window current" } else { "window" } method="get" action="/discovery" data-range-form="">
                <input type="hidden" name="flow" value=f.clone()/>
                <input type="hidden" name="hide" value=hide.to_string()/>
                <input type="hidden" name="heat" value=heat_word(time)/>
                <span class="muted small">"Cases started "</span>
                <label>"from "<input type="date" name="from" value=day_from required=true/></label>
                <label>" to "<input type="date" name="to" value=day_to required=true/></label>
                <span class="muted small">" UTC "</span>
                <button type="submit">"Show"</button>
            </form>
        </div>
    };
    view! {
        <div class="tabs flows">{flows}</div>
        <h1>"Discovered process"</h1>
        {cases}
        <p class="lede" data-summary="">{summary}</p>
        <section class="card">
            <div class="tabs">
                <label class="slider">
                    "Hide below "
                    <input type="range" min="0" max="100" step="5" value=hide.to_string() name="hide" data-hide-slider="" on:change=to_level/>
                    <span data-hide=hide.to_string()>{format!("{hide}% of the most frequent")}</span>
                </label>
                <span class="muted small" data-shown="">{shown}</span>
                <span class="spacer"></span>
                {heats}
            </div>
            <div class="discovery-map">
                <HeatDiagram diagram=v.map.diagram.clone() values/>
            </div>
            <div class="tabs save">
                <span class="muted small">"Save what is shown as a flow, to track its cases against it: "</span>
                <a class="tab download" href=format!("/api/v1/flows/{f}/mined.toml?hide={hide}{window}") download="" data-save="toml">"Flow file (TOML)"</a>
                <a class="tab download" href=format!("/api/v1/flows/{f}/mined.bpmn?hide={hide}{window}") download="" data-save="bpmn">"BPMN"</a>
                <span class="spacer"></span>
                <span class="muted small">"Its events, for other process-mining tools: "</span>
                <a class="tab download" href=format!("/api/v1/flows/{f}/events.xes") download="" data-download="xes">"XES"</a>
                <a class="tab download" href=format!("/api/v1/flows/{f}/events.csv") download="" data-download="events-csv">"CSV"</a>
            </div>
        </section>
        <section class="card">
            <h2>"Variants"</h2>
            <table class="variants">
                <thead><tr><th>"#"</th><th>"Cases"</th><th>"Share"</th><th>"Mean duration"</th><th>"Activities"</th></tr></thead>
                <tbody>{variants}{other}</tbody>
            </table>
        </section>
        <div class="columns">
            <section class="card">
                <h2>"Activities"</h2>
                <table class="activities">
                    <thead><tr><th>"Activity"</th><th>"Events"</th><th>"Starts"</th><th>"Ends"</th></tr></thead>
                    <tbody>{activities}</tbody>
                </table>
            </section>
            <section class="card">
                <h2>"Directly follows"</h2>
                <table class="edges">
                    <thead><tr><th>"Edge"</th><th>"Count"</th><th>"Mean"</th><th>"Median"</th><th>"p95"</th></tr></thead>
                    <tbody>{edges}</tbody>
                </table>
            </section>
        </div>
    }
}

/// The map's heat as the page's address says it.
fn heat_word(time: bool) -> &'static str {
    if time { "time" } else { "frequency" }
}
