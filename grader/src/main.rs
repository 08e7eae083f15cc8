//! The `grader` binary: parse, run, and map errors to exit codes.

use std::process::ExitCode;

use clap::Parser;
use grader::cli::{Cli, Command};
use grader::error::Result;
use grader::exit::Exit;

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_tracing(cli.quiet);
    let outcome = run(&cli);
    if grader::shutdown::is_shutting_down() {
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
            eprintln!("error: {}", grader::sanitize::terminal(&e.to_string()));
            let mut source = std::error::Error::source(&e);
            while let Some(s) = source {
                eprintln!("  caused by: {}", grader::sanitize::terminal(&s.to_string()));
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
            let progress = progress(cli);
            let result = runtime()?.block_on(grader::grade::grade(req, &progress))?;
            emit(cli, &result, Some(&out));
            gate(&result, args.fail_under)?;
        }
        Command::Batch(args) => {
            let req = args.request()?;
            let summary = runtime()?.block_on(grader::batch::run(req, cli.quiet || cli.json))?;
            if cli.json {
                println!("{}", serde_json::to_string_pretty(&summary).expect("plain data"));
            } else if !cli.quiet {
                eprintln!("summary: {}", summary.out.join("summary.html").display());
            }
            let ungraded: Vec<String> = summary
                .candidates
                .iter()
                .filter(|c| c.state == grader::batch::State::Ungraded)
                .map(|c| grader::sanitize::terminal_line(&c.name).into_owned())
                .collect();
            let unpublished: Vec<String> =
                summary.candidates.iter().filter(|c| c.publish_failed).filter_map(|c| c.error.clone()).collect();
            if !unpublished.is_empty() {
                return Err(grader::error::GraderError::Unpublished(unpublished));
            }
            if !ungraded.is_empty() {
                return Err(grader::error::GraderError::Infrastructure(format!(
                    "{} candidate(s) ungraded after retries: {}; run the batch again to grade them",
                    ungraded.len(),
                    ungraded.join(", ")
                )));
            }
        }
        Command::Kit(args) => {
            let req = args.request();
            let progress = progress(cli);
            let manifest = runtime()?.block_on(grader::kit::write(&req, &progress))?;
            if cli.json {
                println!("{}", serde_json::to_string_pretty(&manifest).expect("plain data"));
            } else if !cli.quiet {
                eprintln!("{}", manifest.human(&req.out));
            }
        }
        Command::Merge(args) => {
            let m = grader::batch::merge::run(&args.shards, &args.out)?;
            if cli.json {
                println!("{}", serde_json::to_string_pretty(&m).expect("plain data"));
            } else if !cli.quiet {
                eprintln!("{}", m.human());
            }
            if !m.complete() {
                return Err(grader::error::GraderError::Incomplete(format!(
                    "the merge is incomplete: {} shard(s) missing, {} candidate(s) missing, {} graded twice",
                    m.missing_shards.len(), m.missing.len(), m.duplicated.len()
                )));
            }
            if !m.ungraded.is_empty() {
                return Err(grader::error::GraderError::Infrastructure(format!(
                    "{} candidate(s) ungraded in their shard: run those shards again, then merge again", m.ungraded.len()
                )));
            }
        }
        Command::SelfCheck(args) => {
            let req = args.request()?;
            let progress = progress(cli);
            let report = runtime()?.block_on(grader::selfcheck::run(req, &progress))?;
            if cli.json {
                println!("{}", serde_json::to_string_pretty(&report).expect("plain data"));
            } else {
                println!("{}", grader::sanitize::terminal(&report.human()));
            }
        }
        Command::Validate(args) => {
            let req = grader::validate::ValidateRequest {
                exercise: args.exercise.clone(),
                jobs: args.jobs,
                overrides: args.overrides.clone(),
                parity: args.parity,
            };
            let progress = progress(cli);
            let v = runtime()?.block_on(grader::validate::run(req, &progress))?;
            if cli.json {
                println!("{}", serde_json::to_string_pretty(&v).expect("plain data"));
            } else if !cli.quiet {
                eprint!("{}", v.human());
            }
            if v.violations > 0 {
                return Err(grader::error::GraderError::BandsViolated(v.violations));
            }
        }
        Command::Probe(args) => {
            let req = args.request()?;
            let out = req.out.clone();
            let kit = args.source.kit.clone();
            let progress = progress(cli);
            let result = runtime()?.block_on(grader::grade::probe(req, &progress))?;
            match &kit {
                // A candidate probing their own service: the self-check's view.
                Some(dir) => {
                    let terms = grader::kit::Kit::manifest(dir)?.terms;
                    let hints = grader::selfcheck::Hints { submission: "YOUR_DIR".into(), source: format!("--kit {}", dir.display()) };
                    let view = grader::selfcheck::redact(&result, &terms, &hints);
                    if cli.json {
                        println!("{}", serde_json::to_string_pretty(&view).expect("plain data"));
                    } else if !cli.quiet {
                        println!("{}", grader::sanitize::terminal(&view.human()));
                        if let Some(out) = &out {
                            eprintln!("results: {}", grader::sanitize::terminal_line(&out.display().to_string()));
                        }
                    }
                }
                None => emit(cli, &result, out.as_deref()),
            }
            gate(&result, args.fail_under)?;
        }
        Command::Run(args) => {
            let req = args.request()?;
            let progress = progress(cli);
            let summary = runtime()?.block_on(grader::run_submission::run(req, &progress))?;
            if cli.json {
                println!("{}", serde_json::to_string_pretty(&summary).expect("plain data"));
            } else if !cli.quiet {
                eprintln!("{}", grader::sanitize::terminal(&summary.human()));
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
fn emit(cli: &Cli, r: &grader::report::GradeResult, out: Option<&std::path::Path>) {
    if cli.json {
        println!("{}", serde_json::to_string_pretty(r).expect("plain data"));
    } else if !cli.quiet {
        eprintln!("{}", grader::sanitize::terminal(&grader::report::summary(r, out)));
    }
}

fn gate(r: &grader::report::GradeResult, fail_under: Option<f64>) -> Result<()> {
    match fail_under {
        Some(t) if r.score.percent < t => Err(grader::error::GraderError::BelowThreshold { score: r.score.percent, threshold: t }),
        _ => Ok(()),
    }
}

/// Progress lines on stderr unless --quiet or --json.
fn progress(cli: &Cli) -> grader::progress::Progress {
    grader::progress::Progress::new(!cli.quiet && !cli.json)
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
