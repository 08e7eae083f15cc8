//! The `grader` binary: parse, validate, run, and map errors to exit codes.

use std::process::ExitCode;

use clap::Parser;
use grader::cli::Cli;
use grader::commands::Ui;
use grader::support::exit::Exit;
use grader::support::sanitize::terminal;

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_tracing(cli.quiet);
    let ui = Ui { json: cli.json, quiet: cli.quiet };
    // Every argument is checked before any work: a bad one writes nothing.
    let outcome = cli.request().and_then(|req| grader::commands::execute(req, ui));
    if grader::support::shutdown::is_shutting_down() {
        // A signal began the shutdown: its cleanup thread exits the
        // process with the signal's code once everything is removed.
        loop {
            std::thread::park();
        }
    }
    match outcome {
        Ok(()) => ExitCode::from(Exit::Success.code()),
        Err(e) => {
            // Messages can carry a candidate's text (a build log line, a
            // Docker message naming their command): never raw to a terminal.
            eprintln!("error: {}", terminal(&e.to_string()));
            let mut source = std::error::Error::source(&e);
            while let Some(s) = source {
                eprintln!("  caused by: {}", terminal(&s.to_string()));
                source = s.source();
            }
            ExitCode::from(e.exit().code())
        }
    }
}

fn init_tracing(quiet: bool) {
    let default = if quiet { "error" } else { "warn" };
    let filter = tracing_subscriber::EnvFilter::try_from_env("GRADER_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).init();
}
