use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    // The settings file becomes environment variables before any thread exists.
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    let layered = match flowlens::config_file::apply(&args) {
        Ok(layered) => layered,
        Err(problems) => {
            eprintln!("flowlens: the settings file is refused:\n{problems}");
            return ExitCode::from(2);
        }
    };
    let cli = flowlens::cli::Cli::parse();
    match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(runtime) => runtime.block_on(cli.run(layered)),
        Err(e) => {
            eprintln!("flowlens: cannot start the runtime: {e}");
            ExitCode::FAILURE
        }
    }
}
