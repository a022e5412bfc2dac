//! `flowlens config check`: the settings `serve` would run with, checked as `serve` checks them
//! at start, and printed with where each came from. Secrets are masked.

use std::ffi::OsString;
use std::process::ExitCode;

use clap::parser::ValueSource;

use crate::config::Settings;
use crate::config_file::{mask_url, secret, Layered, Source};

pub fn check(settings: &Settings, layered: &Layered) -> ExitCode {
    // The flags after `config check`, parsed again to learn where every value came from.
    let args: Vec<OsString> = std::env::args_os().skip_while(|a| a != "check").skip(1).collect();
    let command = <Settings as clap::Args>::augment_args(clap::Command::new("check").no_binary_name(true));
    let matches = match command.clone().try_get_matches_from(args) {
        Ok(m) => m,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    match &layered.file {
        Some(file) => println!("settings file: {}", file.display()),
        None => println!("settings file: none (--config or FLOWLENS_CONFIG names one)"),
    }
    for arg in command.get_arguments() {
        let (Some(long), id) = (arg.get_long(), arg.get_id().as_str()) else { continue };
        let Some(values) = matches.get_raw(id) else { continue };
        let joined = values.map(|v| v.to_string_lossy().into_owned()).collect::<Vec<_>>().join(",");
        let shown = if long == "database-url" {
            mask_url(&joined)
        } else if secret(long) && !joined.is_empty() {
            "***".to_string()
        } else {
            joined
        };
        let env = arg.get_env().map(|e| e.to_string_lossy().into_owned()).unwrap_or_default();
        let from = match matches.value_source(id) {
            Some(ValueSource::CommandLine) => "flag".to_string(),
            Some(ValueSource::EnvVariable) => match layered.set.get(&env) {
                Some(Source::File(at)) => at.clone(),
                Some(Source::SecretFile(path)) => format!("secret file {}", path.display()),
                None => format!("environment {env}"),
            },
            _ => "default".to_string(),
        };
        println!("  {long} = {shown:<40}  ({from})");
    }
    let problems = problems(settings);
    if problems.is_empty() {
        println!("ok: these settings would start");
        ExitCode::SUCCESS
    } else {
        for p in &problems {
            eprintln!("problem: {p}");
        }
        ExitCode::FAILURE
    }
}

/// What `serve` would refuse at start, short of connecting anywhere.
fn problems(s: &Settings) -> Vec<String> {
    let mut found = match s.check() {
        Ok(checked) => {
            let mut found = Vec::new();
            for config in checked.kafka.iter().flat_map(|c| [c.config(crate::kafka::Role::Consumer), c.config(crate::kafka::Role::Producer)]) {
                // librdkafka checks property names and values when a client is made.
                if let Err(e) = config.create::<rdkafka::producer::BaseProducer>() {
                    found.push(format!("Kafka: {e}"));
                    break;
                }
            }
            found
        }
        Err(problems) => problems,
    };
    if flowlens_store::Backend::of_url(&s.database_url).is_none() {
        found.push(format!("database-url `{}`: expected sqlite://FILE or postgres://…", mask_url(&s.database_url)));
    }
    if let Err(p) = crate::startup::load_flows(&s.flows) {
        found.extend(p);
    }
    found
}
