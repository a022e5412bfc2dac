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
    /// Check flow definition files; prints every problem and exits non-zero if there is one.
    Validate {
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
}

impl Cli {
    pub async fn run(self) -> ExitCode {
        match self.command {
            Command::Serve(settings) => {
                startup::init_logging();
                match startup::serve(settings).await {
                    Ok(()) => ExitCode::SUCCESS,
                    Err(e) => {
                        eprintln!("flowlens: {e}");
                        ExitCode::FAILURE
                    }
                }
            }
            Command::Simulate(settings) => {
                startup::init_logging();
                match crate::simulate::run(settings).await {
                    Ok(()) => ExitCode::SUCCESS,
                    Err(e) => {
                        eprintln!("flowlens simulate: {e}");
                        ExitCode::FAILURE
                    }
                }
            }
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
