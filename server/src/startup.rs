//! Builds the application from its settings: flows, store, ingest, push, HTTP and the web app.

use std::net::SocketAddr;
use std::path::Path;

use axum::Router;
use flowlens_app::api::OperationsHandle;
use flowlens_app::{shell, App};
use flowlens_core::{Flow, Flows};
use flowlens_store::Store;
use leptos::config::{Env, LeptosOptions};
use leptos::prelude::provide_context;
use leptos_axum::{generate_route_list, LeptosRoutes};
use tokio::net::TcpListener;

use crate::actions::{Actions, Publisher};
use crate::auth::{self, Auth};
use crate::headers::Framing;
use crate::operations::{Lag, PageOperations};
use crate::config::Settings;
use crate::http::{self, ApiState};
use crate::ingest::Ingest;
use crate::push::Push;

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
    Access(#[from] crate::auth::BootstrapError),
}

pub fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,sqlx=warn"));
    let _ = tracing_subscriber::fmt().with_env_filter(filter).try_init();
}

/// Reads and checks one flow file; problems name the file and the place.
pub fn load_flow(path: &Path) -> Result<Flow, Vec<String>> {
    let name = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|e| vec![format!("{name}: cannot read: {e}")])?;
    Flow::parse_toml(&name, &text)
}

/// Every `*.toml` in `dir`, all checked before any is used.
pub fn load_flows(dir: &Path) -> Result<Flows, Vec<String>> {
    let entries = std::fs::read_dir(dir).map_err(|e| vec![format!("{}: cannot read the flow directory: {e}", dir.display())])?;
    let mut paths: Vec<_> = entries.filter_map(Result::ok).map(|e| e.path()).filter(|p| p.extension().is_some_and(|x| x == "toml")).collect();
    paths.sort();
    if paths.is_empty() {
        return Err(vec![format!("{}: no flow definitions (*.toml) found", dir.display())]);
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

pub struct Application {
    consumer: Option<rdkafka::consumer::StreamConsumer>,
    lag: Lag,
    store: Store,
    commands: Option<tokio::sync::broadcast::Receiver<flowlens_core::Command>>,
    actions: Actions,
    listener: TcpListener,
    router: Router,
    ingest: Ingest,
    settings: Settings,
}

impl Application {
    pub async fn build(settings: Settings) -> Result<Application, StartupError> {
        let flows = load_flows(&settings.flows).map_err(StartupError::Flows)?;
        let store = Store::open(&settings.database_url, flows)
            .await
            .map_err(|source| StartupError::Store { url: settings.database_url.clone(), source })?;
        let ancestors = settings.access.frame_ancestors().map_err(StartupError::Config)?;
        if let Some(told) = auth::bootstrap(&store, settings.access.admin_password.as_deref(), &settings.access.admin_credential_file).await? {
            // On stderr: stdout's first line is the address, which scripts read.
            eprintln!("{told}");
            tracing::warn!("{told}");
        }
        // Only the local demo on a loopback address signs people in by itself.
        let auto_sign_in = settings.demo && settings.demo_sign_in && settings.host.is_loopback();
        let auth = Auth::new(store.clone(), auto_sign_in, settings.access.secure_cookies);
        let push = Push::default();
        let ingest = Ingest::new(store.clone(), push.clone());

        let consumer = if settings.kafka.enabled() { Some(crate::kafka::consumer(&settings.kafka)?) } else { None };
        let addr = SocketAddr::new(settings.host, settings.port);
        let listener = TcpListener::bind(addr).await.map_err(|source| StartupError::Bind { addr, source })?;
        let options = LeptosOptions::builder()
            .output_name("flowlens")
            .site_root(settings.site_root.display().to_string())
            .site_pkg_dir("pkg")
            .site_addr(listener.local_addr().map_err(StartupError::Serve)?)
            .env(Env::PROD)
            .build();
        let (publisher, commands) = if settings.kafka.enabled() {
            (Publisher::kafka(&settings.kafka.brokers)?, None)
        } else {
            // Without Kafka, commands reach the built-in demo services, when they run. With the
            // demo off nobody receives, and a retry says so instead of vanishing.
            let (tx, rx) = tokio::sync::broadcast::channel(256);
            (Publisher::Local(tx), settings.demo.then_some(rx))
        };
        let actions = Actions::new(ingest.clone(), publisher);
        let lag = Lag::default();
        let source = if settings.kafka.enabled() {
            format!("Kafka {}", settings.kafka.topics.join(", "))
        } else if settings.demo {
            "HTTP and the demo services".to_string()
        } else {
            "HTTP".to_string()
        };
        let page_operations = PageOperations { actions: actions.clone(), auth: auth.clone(), lag: lag.clone(), source };
        let operations: OperationsHandle = std::sync::Arc::new(page_operations.clone());
        let pages = generate_route_list(App);
        let page_context = {
            let store = store.clone();
            move || {
                provide_context(store.clone());
                provide_context(operations.clone());
            }
        };
        let web: Router = Router::new()
            .leptos_routes_with_context(&options, pages, page_context, {
                let options = options.clone();
                move || shell(options.clone())
            })
            .fallback(leptos_axum::file_and_error_handler(shell))
            .with_state(options);
        let router = http::router(ApiState { ingest: ingest.clone(), push, actions: actions.clone(), operations: page_operations })
            .merge(auth::router(auth.clone()))
            .merge(web)
            .layer(axum::middleware::from_fn_with_state(auth, auth::layer))
            .layer(axum::middleware::from_fn_with_state(Framing::new(&ancestors), crate::headers::layer));
        Ok(Application { consumer, lag, store, commands, actions, listener, router, ingest, settings })
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.listener.local_addr().expect("a bound listener has an address")
    }

    pub async fn run(self) -> Result<(), StartupError> {
        self.actions.spawn_sweeper();
        if self.settings.demo {
            let sink = crate::demo::Sink::Ingest(self.ingest.clone());
            crate::demo::spawn(sink.clone(), self.settings.demo_interval);
            if let Some(commands) = self.commands {
                crate::demo::spawn_services(sink, commands);
            }
        }
        // Replicas on one PostgreSQL database: show the changes the others make, too.
        let (store, push) = (self.store.clone(), self.ingest.push().clone());
        tokio::spawn(async move {
            while let Err(e) = store.follow_other_replicas(|change| push.publish(change)).await {
                tracing::warn!(error = %e, "replica fan-out: cannot listen; trying again in 5 s");
                tokio::time::sleep(std::time::Duration::from_secs(5)).await;
            }
        });
        if let Some(consumer) = self.consumer {
            tokio::spawn(crate::kafka::run(self.ingest.clone(), consumer, self.lag.clone()));
        }
        // The peer address decides whether the demo's automatic sign-in applies (loopback only).
        axum::serve(self.listener, self.router.into_make_service_with_connect_info::<SocketAddr>())
            .with_graceful_shutdown(async {
                let _ = tokio::signal::ctrl_c().await;
            })
            .await
            .map_err(StartupError::Serve)
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
