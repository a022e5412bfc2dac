//! How fast the list and the overview answer with many instances in the store.
//!
//! Seeds N instances (default 1 000 000; `FLOWLENS_BENCH_INSTANCES`) of the onboarding flow
//! straight into a fresh SQLite file (and PostgreSQL when `FLOWLENS_BENCH_POSTGRES` is set), with
//! their node visits and per-minute counters, then times the list (several filters and sorts,
//! first page and a deep keyset page) and the overview, and prints p50 and p95 of each.
//!
//!     cargo bench -p flowlens-store --bench reads

use std::time::Instant;

use flowlens_core::{Flow, Flows, ListParams, ListQuery, Millis};
use flowlens_store::Store;

const RUNS: usize = 60;

fn percentile(sorted: &[f64], p: f64) -> f64 {
    sorted[((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len()) - 1]
}

async fn time<F, Fut>(label: &str, mut f: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    f().await; // warm the cache
    let mut ms: Vec<f64> = Vec::with_capacity(RUNS);
    for _ in 0..RUNS {
        let t = Instant::now();
        f().await;
        ms.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    ms.sort_by(f64::total_cmp);
    println!("  {label:<48} p50 {:>7.2} ms   p95 {:>7.2} ms   (target p95 ≤ 50 ms)", percentile(&ms, 0.5), percentile(&ms, 0.95));
}

async fn seed(url: &str, n: usize, now: Millis) -> Store {
    let repo = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let text = std::fs::read_to_string(repo.join("flows/customer-onboarding.toml")).unwrap();
    let flow = Flow::parse_toml("customer-onboarding.toml", &text).unwrap();
    let store = Store::open(url, Flows::new(vec![flow]).unwrap()).await.unwrap();
    let started = Instant::now();
    store.seed_for_bench(n, now).await.unwrap();
    println!("  seeded {n} instances in {:.1} s", started.elapsed().as_secs_f64());
    store
}

async fn measure(name: &str, store: &Store, now: Millis) {
    println!("{name}:");
    let shapes: [(&str, ListParams); 5] = [
        ("list: all, recently updated", ListParams::default()),
        ("list: running", ListParams { status: Some("running".into()), ..Default::default() }),
        ("list: stuck (SLA overdue)", ListParams { sla: Some("overdue".into()), ..Default::default() }),
        ("list: waiting at the address check", ListParams { node: Some("Address check".into()), ..Default::default() }),
        ("list: one key", ListParams { key: Some("c-777777".into()), ..Default::default() }),
    ];
    for (label, p) in shapes {
        let q = ListQuery::parse(&p, now).unwrap();
        time(label, || async { store.list(&q, now).await.unwrap(); }).await;
    }
    // Page 50 of the default list, reached by keyset.
    let mut q = ListQuery::parse(&ListParams::default(), now).unwrap();
    for _ in 0..50 {
        let page = store.list(&q, now).await.unwrap();
        q.after = page.next.as_deref().and_then(flowlens_core::Cursor::parse);
    }
    time("list: page 51 by keyset cursor", || async { store.list(&q, now).await.unwrap(); }).await;
    for range in [3_600_000i64, 86_400_000] {
        let label = format!("overview: last {}", flowlens_core::Span(range).human());
        time(&label, || async { store.overview("customer-onboarding", Millis(now.0 - range), now).await.unwrap(); }).await;
    }
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let n: usize = std::env::var("FLOWLENS_BENCH_INSTANCES").ok().and_then(|v| v.parse().ok()).unwrap_or(1_000_000);
    let now = flowlens_store::now();
    let dir = std::env::temp_dir().join(format!("flowlens-reads-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let sqlite = seed(&format!("sqlite://{}", dir.join("reads.db").display()), n, now).await;
    measure("SQLite", &sqlite, now).await;
    if let Ok(url) = std::env::var("FLOWLENS_BENCH_POSTGRES") {
        let pg = seed(&url, n, now).await;
        measure("PostgreSQL", &pg, now).await;
    }
    let _ = std::fs::remove_dir_all(&dir);
}
