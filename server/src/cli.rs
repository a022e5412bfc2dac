//! The `flowlens` command and its subcommands.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::config::Settings;
use crate::startup;

#[derive(Parser)]
#[command(name = "flowlens", version, about = "Process tracking for event-driven microservices")]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the server: ingest events, track instances, serve the dashboard.
    Serve(Settings),
    /// Run the demo services of the shipped flows on Kafka: they produce onboarding and order
    /// events, and answer the retry commands Flowlens publishes.
    Simulate(crate::simulate::SimulateSettings),
    /// Write a flow as BPMN 2.0 XML with its diagram (opens in bpmn.io or Camunda Modeler), to
    /// standard output: FLOW is a flow file, or a flow id in the flow directory.
    ExportBpmn {
        flow: String,
        /// Directory of flow definitions, to find FLOW by id.
        #[arg(long, env = "FLOWLENS_FLOWS", default_value = "flows")]
        flows: PathBuf,
    },
    /// Replay event logs into the store: XES (.xes, .xes.gz), CSV (.csv) and JSON lines of
    /// CloudEvents (.jsonl), each also gzipped. Every file is checked whole first; a problem
    /// refuses the replay with file and line, and nothing is stored. Replaying again stores only
    /// what is missing (ids come from file name and line). Into the store of a stopped server,
    /// or with `--server` through a running one's API.
    Replay {
        #[arg(required = true)]
        files: Vec<PathBuf>,
        #[command(flatten)]
        options: crate::replay::LogOptions,
        /// A running server to replay through (`http://host:port`) instead of a store.
        #[arg(long, env = "FLOWLENS_SERVER")]
        server: Option<String>,
        /// A bearer token of an operator of that server.
        #[arg(long, env = "FLOWLENS_TOKEN", hide_env_values = true, default_value = "")]
        token: String,
        #[arg(long, env = "DATABASE_URL", default_value = "sqlite://flowlens.db")]
        database_url: String,
        /// Directory of flow definitions: events go to the flow that handles their type.
        #[arg(long, env = "FLOWLENS_FLOWS", default_value = "flows")]
        flows: PathBuf,
    },
    /// Bring the database to this version's schema and exit (what `serve` does at start), so a
    /// deployment can migrate before it rolls out the servers.
    Migrate {
        #[arg(long, env = "DATABASE_URL", default_value = "sqlite://flowlens.db")]
        database_url: String,
    },
    /// The settings: `flowlens config check` validates them (file, environment, flags) and prints
    /// what takes effect and from where, secrets masked.
    Config {
        #[command(subcommand)]
        action: ConfigAction,
    },
    /// Check flow definition files; prints every problem and exits non-zero if there is one.
    Validate {
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
}

#[derive(Subcommand)]
enum ConfigAction {
    /// Checks the settings `flowlens serve` would run with (the same flags), and prints them.
    Check(Box<Settings>),
}

impl Cli {
    pub async fn run(self, layered: crate::config_file::Layered) -> ExitCode {
        match self.command {
            Command::Config { action: ConfigAction::Check(settings) } => crate::config_check::check(&settings, &layered),
            Command::Serve(settings) => {
                startup::init_logging(&settings.log_format);
                if let Some(file) = &layered.file {
                    tracing::info!(file = %file.display(), settings = layered.set.len(), "settings read from the file");
                }
                match startup::serve(settings).await {
                    Ok(()) => ExitCode::SUCCESS,
                    Err(e) => {
                        eprintln!("flowlens: {e}");
                        ExitCode::FAILURE
                    }
                }
            }
            Command::Simulate(settings) => {
                startup::init_logging("text");
                match crate::simulate::run(settings).await {
                    Ok(()) => ExitCode::SUCCESS,
                    Err(e) => {
                        eprintln!("flowlens simulate: {e}");
                        ExitCode::FAILURE
                    }
                }
            }
            Command::ExportBpmn { flow, flows } => match export_bpmn(&flow, &flows) {
                Ok(xml) => {
                    println!("{xml}");
                    ExitCode::SUCCESS
                }
                Err(problems) => {
                    eprintln!("{problems}");
                    ExitCode::FAILURE
                }
            },
            Command::Replay { files, options, server, token, database_url, flows } => match replay(&files, &options, server.as_deref(), &token, &database_url, &flows).await {
                Ok(summary) => {
                    println!("{summary}");
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("flowlens replay: {e}");
                    ExitCode::FAILURE
                }
            },
            Command::Migrate { database_url } => match flowlens_store::Store::migrate(&database_url).await {
                Ok(ran) if ran.is_empty() => {
                    println!("{database_url}: up to date, no migration to run");
                    ExitCode::SUCCESS
                }
                Ok(ran) => {
                    println!("{database_url}: ran {} migrations:\n  {}", ran.len(), ran.join("\n  "));
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("flowlens migrate: {database_url}: {e}");
                    ExitCode::FAILURE
                }
            },
            Command::Validate { files } => {
                let mut failed = false;
                for file in &files {
                    match startup::load_flow(file) {
                        Ok(flow) => println!("{}: ok (flow `{}` version {})", file.display(), flow.id, flow.version),
                        Err(problems) => {
                            failed = true;
                            for p in problems {
                                eprintln!("{p}");
                            }
                        }
                    }
                }
                if failed { ExitCode::FAILURE } else { ExitCode::SUCCESS }
            }
        }
    }
}

async fn replay(
    files: &[PathBuf],
    options: &crate::replay::LogOptions,
    server: Option<&str>,
    token: &str,
    database_url: &str,
    flows: &std::path::Path,
) -> Result<crate::replay::Summary, String> {
    use crate::replay::{replay, Remote, Sink};
    if let Some(url) = server {
        let mut sink = Sink::Remote(Remote::new(url, token)?);
        return replay(&mut sink, files, options).await.map_err(|e| e.to_string());
    }
    let flows = startup::load_flows(flows).map_err(|p| p.join("\n"))?;
    let store = flowlens_store::Store::open(database_url, flows).await.map_err(|e| format!("the store at {database_url}: {e}"))?;
    let (publisher, _) = flowlens_service::LocalServices::new();
    let service = flowlens_service::Service::new(store, Box::new(publisher), flowlens_service::Settings { source: "replay".into(), flows_dir: None, alerts: Default::default() });
    replay(&mut Sink::Local(&service), files, options).await.map_err(|e| e.to_string())
}

/// The flow in the file `flow`, or with the id `flow` in the directory `dir`, as BPMN XML.
fn export_bpmn(flow: &str, dir: &std::path::Path) -> Result<String, String> {
    let path = std::path::Path::new(flow);
    let found = if path.is_file() {
        startup::load_flow(path).map_err(|p| p.join("\n"))?
    } else {
        let flows = startup::load_flows(dir).map_err(|p| p.join("\n"))?;
        let newest = flows.newest_of(flow).cloned();
        match newest {
            Some(f) => (*f).clone(),
            None => {
                let known: Vec<&str> = flows.newest().map(|f| f.id.as_str()).collect();
                return Err(format!("{flow}: no such file, and no flow with this id in {} (there are: {})", dir.display(), known.join(", ")));
            }
        }
    };
    if found.is_discovered() {
        return Err(format!("{flow}: `{}` is mined, not modelled, so it has no model to export; save its process map as a flow on the Discovery page", found.id));
    }
    Ok(flowlens_core::bpmn::export(&found, &flowlens_core::layout::draw(&found)))
}
