//! Builds the application from its settings: flows, store, ingest, push, HTTP and the web app.

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use axum::Router;
use flowlens_app::{shell, App};
use flowlens_core::{Command, Flow, Flows};
use flowlens_service::{LocalServices, Publisher, Service};
use flowlens_store::Store;
use leptos::config::{Env, LeptosOptions};
use leptos::prelude::provide_context;
use leptos_axum::{generate_route_list, LeptosRoutes};
use tokio::net::TcpListener;
use tokio::time::Instant;

use crate::config::{Checked, Settings};
use crate::http::auth::{self, Auth};
use crate::http::headers::Framing;
use crate::shutdown::{Background, GRACE};

#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    #[error("refusing to start, the flow definitions have problems:\n{}", .0.join("\n"))]
    Flows(Vec<String>),
    #[error("cannot open the store at {url}: {source}")]
    Store { url: String, source: flowlens_store::StoreError },
    #[error("cannot listen on {addr}: {source}")]
    Bind { addr: SocketAddr, source: std::io::Error },
    #[error("server stopped: {0}")]
    Serve(std::io::Error),
    #[error("cannot set up the Kafka consumer: {0}")]
    Kafka(#[from] rdkafka::error::KafkaError),
    #[error("{0}")]
    Config(String),
    #[error("cannot set up sign-in: {0}")]
    Access(#[from] flowlens_service::BootstrapError),
}

pub fn init_logging(format: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,sqlx=warn"));
    let _ = match format {
        // One JSON object a line, with the span an event happened in and the spans around it.
        "json" => tracing_subscriber::fmt().json().with_current_span(true).with_span_list(true).with_env_filter(filter).try_init(),
        _ => tracing_subscriber::fmt().with_env_filter(filter).try_init(),
    };
}

/// Reads and checks one flow file: a flow file (`*.toml`), or a BPMN 2.0 model (`*.bpmn`) with
/// its sidecar `NAME.bpmn.toml` when there is one. Problems name the file and the place.
pub fn load_flow(path: &Path) -> Result<Flow, Vec<String>> {
    let name = path.display().to_string();
    let read = |p: &Path| std::fs::read_to_string(p).map_err(|e| vec![format!("{}: cannot read: {e}", p.display())]);
    let text = read(path)?;
    if path.extension().is_some_and(|x| x == "bpmn") {
        let sidecar_path = path.with_extension("bpmn.toml");
        let sidecar = match sidecar_path.exists() {
            true => Some((sidecar_path.display().to_string(), read(&sidecar_path)?)),
            false => None,
        };
        return Flow::parse_bpmn(&name, &text, sidecar.as_ref().map(|(n, t)| (n.as_str(), t.as_str())));
    }
    Flow::parse_toml(&name, &text)
}

/// Whether `path` is a flow of its own: `*.toml` (but not a BPMN model's sidecar) or `*.bpmn`.
fn is_flow(path: &Path) -> bool {
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or_default();
    name.ends_with(".bpmn") || name.ends_with(".toml") && !name.ends_with(".bpmn.toml")
}

/// Every flow in `dir` (`*.toml`, `*.bpmn`), all checked before any is used.
pub fn load_flows(dir: &Path) -> Result<Flows, Vec<String>> {
    let entries = std::fs::read_dir(dir).map_err(|e| vec![format!("{}: cannot read the flow directory: {e}", dir.display())])?;
    let mut paths: Vec<_> = entries.filter_map(Result::ok).map(|e| e.path()).filter(|p| is_flow(p)).collect();
    paths.sort();
    if paths.is_empty() {
        return Err(vec![format!("{}: no flow definitions (*.toml, *.bpmn) found", dir.display())]);
    }
    let mut flows = Vec::new();
    let mut problems = Vec::new();
    for path in &paths {
        match load_flow(path) {
            Ok(flow) => flows.push(flow),
            Err(p) => problems.extend(p),
        }
    }
    if !problems.is_empty() {
        return Err(problems);
    }
    Flows::new(flows).map_err(|e| vec![format!("{}: {e}", dir.display())])
}

/// The largest request body taken anywhere (a batch of events is the largest legitimate one).
pub const MAX_BODY: usize = 2 * 1024 * 1024;

pub struct Application {
    service: Service,
    consumer: Option<crate::kafka::KafkaConsumer>,
    /// Commands for the built-in demo services, when they run without Kafka.
    commands: Option<tokio::sync::broadcast::Receiver<Command>>,
    listener: TcpListener,
    router: Router,
    settings: Settings,
}

impl Application {
    pub async fn build(settings: Settings) -> Result<Application, StartupError> {
        // The settings first: a typo is refused before the database is touched.
        let Checked { frame_ancestors: ancestors, kafka: connection, alerts } = settings.check().map_err(|p| StartupError::Config(p.join("\n")))?;
        let flows = load_flows(&settings.flows).map_err(StartupError::Flows)?;
        let store = Store::open_with(&settings.database_url, flows, settings.discovery)
            .await
            .map_err(|source| StartupError::Store { url: settings.database_url.clone(), source })?;
        store.keep_hot_instances(settings.hot_instances);
        let (publisher, commands): (Box<dyn Publisher>, _) = if let Some(connection) = &connection {
            (Box::new(crate::kafka::KafkaPublisher::new(connection)?), None)
        } else {
            let (local, commands) = LocalServices::new();
            (Box::new(local), settings.demo.then_some(commands))
        };
        let source = if settings.kafka.enabled() {
            format!("Kafka {}", settings.kafka.topics.join(", "))
        } else if settings.demo {
            "HTTP and the demo services".to_string()
        } else {
            "HTTP".to_string()
        };
        let service = Service::new(store, publisher, flowlens_service::Settings { source, flows_dir: Some(settings.flows.clone()), alerts });
        if let Some(told) = service.bootstrap(settings.access.admin_password.as_deref(), &settings.access.admin_credential_file).await? {
            // On stderr: stdout's first line is the address, which scripts read.
            eprintln!("{told}");
            tracing::warn!("{told}");
        }
        let consumer = match &connection {
            Some(connection) => {
                tracing::info!(brokers = %connection.describe(), "kafka: consuming");
                let consumer = crate::kafka::consumer(connection, &settings.kafka)?;
                service.consumer().expect_brokers();
                Some(consumer)
            }
            None => None,
        };
        let addr = SocketAddr::new(settings.host, settings.port);
        let listener = TcpListener::bind(addr).await.map_err(|source| StartupError::Bind { addr, source })?;
        let port = listener.local_addr().map_err(StartupError::Serve)?.port();
        // Only the local demo on a loopback address signs people in by itself.
        let auto_sign_in = settings.demo && settings.demo_sign_in && settings.host.is_loopback();
        let metrics = auth::MetricsAccess::new(settings.access.metrics_token.as_deref(), settings.access.metrics_loopback);
        let auth = Auth::new(service.clone(), auto_sign_in, settings.access.secure_cookies, port, metrics);
        let options = LeptosOptions::builder()
            .output_name("flowlens")
            .site_root(settings.site_root.display().to_string())
            .site_pkg_dir("pkg")
            .site_addr(listener.local_addr().map_err(StartupError::Serve)?)
            .env(Env::PROD)
            .build();
        // The pages' server functions reach the same service as the API.
        let pages = generate_route_list(App);
        let page_context = {
            let service = service.clone();
            move || provide_context(service.clone())
        };
        let web: Router = Router::new()
            .leptos_routes_with_context(&options, pages, page_context.clone(), {
                let options = options.clone();
                move || shell(options.clone())
            })
            // Unknown paths render the app's "not found" page, with the same context as any page.
            .fallback(leptos_axum::file_and_error_handler_with_context(page_context, shell))
            .with_state(options)
            // The app's own files, gzipped when the browser takes it.
            .merge(crate::http::assets::router(settings.site_root.join("pkg")));
        let router = crate::http::router(service.clone(), auth.clone())
            .merge(web)
            .layer(axum::middleware::from_fn_with_state(auth, auth::layer))
            // Every body, the API's and the server functions', is refused above this with 413.
            .layer(tower_http::limit::RequestBodyLimitLayer::new(MAX_BODY))
            .layer(axum::middleware::from_fn_with_state(Framing::new(&ancestors), crate::http::headers::layer))
            // Outermost, so refusals and oversized bodies are timed too.
            .layer(axum::middleware::from_fn_with_state(service.clone(), crate::http::metrics::timed));
        Ok(Application { service, consumer, commands, listener, router, settings })
    }

    pub fn store(&self) -> &Store {
        self.service.store()
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.listener.local_addr().expect("a bound listener has an address")
    }

    /// Serves until SIGTERM or Ctrl-C, then stops cleanly.
    pub async fn run(self) -> Result<(), StartupError> {
        self.run_until(crate::shutdown::signal()).await
    }

    /// Serves until `signal` resolves, then stops: intake first (the Kafka consumer stores the
    /// batches in hand and commits their offsets), live streams end, open requests finish,
    /// background work winds down, all within a few seconds.
    pub async fn run_until(self, signal: impl std::future::Future<Output = ()>) -> Result<(), StartupError> {
        let Application { service, consumer, commands, listener, router, settings } = self;
        let stop = service.shutdown_token().clone();
        let mut background = Background::new(stop.clone());
        let sweeper = service.clone();
        let sweeping = background.stop();
        background.spawn("sla sweeper", async move {
            let mut tick = tokio::time::interval(Duration::from_secs(1));
            loop {
                tokio::select! {
                    _ = sweeping.cancelled() => return,
                    _ = tick.tick() => sweeper.sweep().await,
                }
            }
        });
        if settings.demo {
            let sink = crate::demo::Sink::Service(service.clone());
            background.spawn("demo registrations", crate::demo::run(sink.clone(), settings.demo_interval, background.stop()));
            if let Some(commands) = commands {
                background.spawn("demo services", crate::demo::answer_commands(sink, commands, background.stop()));
            }
        }
        // Replicas on one PostgreSQL database: show the changes the others make, too.
        let (fanout, following) = (service.clone(), background.stop());
        background.spawn("replica fan-out", async move {
            let follow = async {
                while let Err(e) = fanout.store().follow_other_replicas(|change| fanout.publish_change(change)).await {
                    tracing::warn!(error = %e, "replica fan-out: cannot listen; trying again in 5 s");
                    tokio::time::sleep(Duration::from_secs(5)).await;
                }
            };
            tokio::select! {
                _ = following.cancelled() => {}
                _ = follow => {}
            }
        });
        if let Some(consumer) = consumer {
            background.spawn("kafka consumer", crate::kafka::run(service.clone(), consumer, background.stop()));
        }
        // The peer address decides whether the demo's automatic sign-in applies (loopback only).
        let serving = axum::serve(listener, router.into_make_service_with_connect_info::<SocketAddr>())
            .with_graceful_shutdown(stop.clone().cancelled_owned());
        let mut serving = tokio::spawn(std::future::IntoFuture::into_future(serving));
        let finished = tokio::select! {
            _ = signal => None,
            served = &mut serving => Some(served),
        };
        stop.cancel();
        let deadline = Instant::now() + GRACE;
        let served = match finished {
            Some(served) => served,
            None => tokio::time::timeout_at(deadline, serving).await.unwrap_or_else(|_| {
                tracing::warn!("open connections did not close in time");
                Ok(Ok(()))
            }),
        };
        background.join(deadline).await;
        service.tasks().close();
        if tokio::time::timeout_at(deadline, service.tasks().wait()).await.is_err() {
            tracing::warn!(left = service.tasks().len(), "webhook deliveries still running at exit");
        }
        service.store().close().await;
        tracing::info!("stopped");
        served.map_err(|e| StartupError::Serve(std::io::Error::other(e)))?.map_err(StartupError::Serve)
    }
}

pub async fn serve(settings: Settings) -> Result<(), StartupError> {
    let app = Application::build(settings).await?;
    let addr = app.local_addr();
    let demo = if app.settings.demo { " with the demo services running" } else { "" };
    // Printed on stdout, and first, so scripts and tests can find a port chosen with --port 0.
    println!("Flowlens is listening on http://{addr}{demo}");
    tracing::info!(store = %app.settings.database_url, "ready");
    app.run().await
}
