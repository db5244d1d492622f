//! The `footprint` binary: parse the command line and configuration, start logging, run.

use std::process::ExitCode;

use footprint::cli::{Cli, run};
use footprint::config::Config;

fn main() -> ExitCode {
    let cli = Cli::parse_args();
    let config = match Config::load(cli.config.as_deref(), &|name| std::env::var(name).ok()) {
        Ok(config) => config,
        Err(error) => {
            eprintln!("footprint: {error}");
            return ExitCode::from(2);
        }
    };
    footprint::kernel::telemetry::init_logging(&config.log);
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("footprint: cannot start the async runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli, config)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("footprint: {error:#}");
            ExitCode::FAILURE
        }
    }
}
