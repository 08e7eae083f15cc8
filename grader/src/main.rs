//! The `grader` binary: parse, run, and map errors to exit codes.

use std::process::ExitCode;

use clap::Parser;
use grader::cli::{Cli, Command};
use grader::error::Result;
use grader::exit::Exit;

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_tracing(cli.quiet);
    match run(&cli) {
        Ok(()) => ExitCode::from(Exit::Success.code()),
        Err(e) => {
            eprintln!("error: {e}");
            let mut source = std::error::Error::source(&e);
            while let Some(s) = source {
                eprintln!("  caused by: {s}");
                source = s.source();
            }
            ExitCode::from(e.exit().code())
        }
    }
}

fn run(cli: &Cli) -> Result<()> {
    match &cli.command {
        Command::Variant(args) => {
            let summary = grader::variant::run(&args.request()?)?;
            if cli.json {
                println!("{}", serde_json::to_string_pretty(&summary).expect("plain data"));
            } else if !cli.quiet {
                eprintln!("{}", summary.human());
            }
        }
        Command::Grade(args) => {
            let req = args.request()?;
            let out = req.out.clone();
            let progress = grader::progress::Progress::new(!cli.quiet && !cli.json);
            let result = runtime()?.block_on(grader::grade::grade(req, &progress))?;
            emit(cli, &result, &out);
            gate(&result, args.fail_under)?;
        }
        Command::Probe(args) => {
            let req = args.request()?;
            let out = req.out.clone();
            let progress = grader::progress::Progress::new(!cli.quiet && !cli.json);
            let result = runtime()?.block_on(grader::grade::probe(req, &progress))?;
            emit(cli, &result, &out);
            gate(&result, args.fail_under)?;
        }
        Command::Run(args) => {
            let req = args.request()?;
            let progress = grader::progress::Progress::new(!cli.quiet && !cli.json);
            let summary = runtime()?.block_on(grader::run_submission::run(req, &progress))?;
            if cli.json {
                println!("{}", serde_json::to_string_pretty(&summary).expect("plain data"));
            } else if !cli.quiet {
                eprintln!("{}", summary.human());
            }
            if let Some(class) = summary.failure_class {
                return Err(grader::error::GraderError::NotHealthy(class));
            }
        }
        Command::Clean(args) => {
            let rt = runtime()?;
            let removed = rt.block_on(grader::clean::run(args.docker_host.as_deref(), args.run.as_deref()))?;
            if cli.json {
                println!("{}", serde_json::to_string_pretty(&removed).expect("plain data"));
            } else if !cli.quiet {
                eprintln!(
                    "removed {} container(s), {} network(s), {} image(s)",
                    removed.containers, removed.networks, removed.images
                );
            }
            if !removed.errors.is_empty() {
                return Err(grader::error::GraderError::Cleanup(removed.errors));
            }
        }
    }
    Ok(())
}

/// Prints a grade: result.json on stdout with --json, a summary on stderr otherwise.
fn emit(cli: &Cli, r: &grader::report::GradeResult, out: &std::path::Path) {
    if cli.json {
        println!("{}", serde_json::to_string_pretty(r).expect("plain data"));
    } else if !cli.quiet {
        eprintln!("{}", grader::report::summary(r, out));
    }
}

fn gate(r: &grader::report::GradeResult, fail_under: Option<f64>) -> Result<()> {
    match fail_under {
        Some(t) if r.score.percent < t => Err(grader::error::GraderError::BelowThreshold { score: r.score.percent, threshold: t }),
        _ => Ok(()),
    }
}

fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| grader::error::GraderError::Usage(format!("cannot start the async runtime: {e}")))
}

fn init_tracing(quiet: bool) {
    let default = if quiet { "error" } else { "warn" };
    let filter = tracing_subscriber::EnvFilter::try_from_env("GRADER_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).init();
}
