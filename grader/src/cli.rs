//! Command-line arguments, parsed once into validated requests.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};
use datasets::SeedSource;

use crate::error::{GraderError, Result};
use crate::variant::VariantRequest;

#[derive(Debug, Parser)]
#[command(name = "grader", version, about = "Automated grader for MLOps take-home exercises")]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
    /// Print machine-readable JSON on stdout instead of a human summary.
    #[arg(long, global = true)]
    pub json: bool,
    /// Print nothing but errors on stderr.
    #[arg(long, short, global = true)]
    pub quiet: bool,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Generate a seeded exercise variant: public data for the candidate and a
    /// sealed answer key for the grader.
    Variant(VariantArgs),
    /// Grade a submission: build and run it in the sandbox against a variant,
    /// probe its API, score its findings, and write results to --out.
    Grade(GradeArgs),
    /// Grade every candidate folder of a directory: parallel, resumable,
    /// with a leaderboard and an HTML summary.
    Batch(BatchArgs),
    /// For candidates: grade your submission on the exercise's public
    /// practice variant; hidden checks show only how many passed.
    SelfCheck(SelfCheckArgs),
    /// For the exercises repository's CI: certify the declared seeds, grade
    /// every declared fixture, and check each score band.
    Validate(ValidateArgs),
    /// The same probes against a service already running on this machine
    /// (no Docker): for a candidate who runs the service directly.
    Probe(ProbeArgs),
    /// Build and start one submission in the sandbox against a variant, wait
    /// until /health answers, show its report.json, then stop and clean up.
    Run(RunArgs),
    /// Remove every container, network and image the grader created
    /// (found by label), e.g. after a crash or a killed run.
    Clean(CleanArgs),
}

#[derive(Debug, Args)]
pub struct GradeArgs {
    /// Submission directory (with a Dockerfile at its top level).
    #[arg(value_name = "SUBMISSION")]
    pub submission: PathBuf,
    /// Exercise directory (or its exercise.toml).
    #[arg(long, value_name = "DIR")]
    pub exercise: PathBuf,
    #[command(flatten)]
    pub seed: SeedArgs,
    /// Results directory; must not exist or be empty.
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
    #[command(flatten)]
    pub overrides: crate::session::Overrides,
    /// Exit with 1 when the score is below this percentage.
    #[arg(long, value_name = "PERCENT")]
    pub fail_under: Option<f64>,
}

impl GradeArgs {
    pub fn request(&self) -> Result<crate::grade::GradeRequest> {
        Ok(crate::grade::GradeRequest {
            submission: self.submission.clone(),
            exercise: self.exercise.clone(),
            seed: self.seed.resolve()?,
            out: self.out.clone(),
            overrides: self.overrides.clone(),
            candidate: None,
            gate: None,
        })
    }
}

#[derive(Debug, Args)]
pub struct BatchArgs {
    /// Directory with one submission folder per candidate (the folder name is the candidate id).
    #[arg(value_name = "SUBMISSIONS_DIR")]
    pub submissions: PathBuf,
    /// Exercise directory (or its exercise.toml).
    #[arg(long, value_name = "DIR")]
    pub exercise: PathBuf,
    /// One variant for everyone.
    #[arg(long, conflicts_with = "secret", required_unless_present = "secret")]
    pub seed: Option<u64>,
    /// A variant per candidate: seeds derived from folder names and this secret file.
    #[arg(long)]
    pub secret: Option<PathBuf>,
    /// Results directory: created, or resumed when it holds this batch.
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
    /// Gradings at once.
    #[arg(long, default_value_t = 2)]
    pub jobs: usize,
    /// Gradings at once on one Docker engine.
    #[arg(long, value_name = "N")]
    pub host_jobs: Option<usize>,
    /// Grade candidates again even when they have results.
    #[arg(long)]
    pub regrade: bool,
    /// Retries of a grading after an infrastructure failure.
    #[arg(long, default_value_t = 2)]
    pub retries: u32,
    /// For benchmarks: let latency windows overlap other gradings' work
    /// (by default each window runs alone and idle neighbours are paused).
    #[arg(long)]
    pub overlap_latency: bool,
    #[command(flatten)]
    pub overrides: crate::session::Overrides,
}

impl BatchArgs {
    pub fn request(&self) -> Result<crate::batch::BatchRequest> {
        if self.jobs == 0 {
            return Err(GraderError::Usage("--jobs must be at least 1".into()));
        }
        Ok(crate::batch::BatchRequest {
            submissions: self.submissions.clone(),
            exercise: self.exercise.clone(),
            seeds: match (&self.seed, &self.secret) {
                (Some(s), _) => crate::batch::Seeds::Fixed(*s),
                (None, Some(f)) => crate::batch::Seeds::Secret(f.clone()),
                _ => return Err(GraderError::Usage("give --seed N or --secret FILE".into())),
            },
            out: self.out.clone(),
            jobs: self.jobs,
            regrade: self.regrade,
            hosts: self.overrides.docker_host.clone(),
            host_jobs: self.host_jobs.unwrap_or(self.jobs),
            retries: self.retries,
            overrides: self.overrides.clone(),
            overlap_latency: self.overlap_latency,
        })
    }
}

#[derive(Debug, Args)]
pub struct SelfCheckArgs {
    /// Your submission directory (with its Dockerfile).
    #[arg(value_name = "DIR", default_value = ".")]
    pub submission: PathBuf,
    /// Exercise directory (or its exercise.toml).
    #[arg(long, value_name = "DIR")]
    pub exercise: PathBuf,
    #[command(flatten)]
    pub overrides: crate::session::Overrides,
}

#[derive(Debug, Args)]
pub struct ValidateArgs {
    /// Exercise directory (or its exercise.toml) with a [validate] section.
    #[arg(value_name = "EXERCISE")]
    pub exercise: PathBuf,
    /// Gradings at once.
    #[arg(long, default_value_t = 2)]
    pub jobs: usize,
    /// Also grade [validate.parity]'s careful and careless fixtures on N
    /// certified seeds (at least 2) and check the spread of their scores.
    #[arg(long, value_name = "N")]
    pub parity: Option<usize>,
    #[command(flatten)]
    pub overrides: crate::session::Overrides,
}

#[derive(Debug, Args)]
pub struct ProbeArgs {
    /// Base URL of the running service; loopback only (127.0.0.0/8, ::1, localhost).
    #[arg(long)]
    pub url: String,
    /// Exercise directory (or its exercise.toml).
    #[arg(long, value_name = "DIR")]
    pub exercise: PathBuf,
    #[command(flatten)]
    pub seed: SeedArgs,
    /// Results directory; must not exist or be empty.
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
    /// The service's OUTPUT_DIR, to read report.json from (else not judged).
    #[arg(long, value_name = "DIR")]
    pub output: Option<PathBuf>,
    /// Exit with 1 when the score is below this percentage.
    #[arg(long, value_name = "PERCENT")]
    pub fail_under: Option<f64>,
}

impl ProbeArgs {
    pub fn request(&self) -> Result<crate::grade::ProbeRequest> {
        Ok(crate::grade::ProbeRequest {
            url: self.url.clone(),
            exercise: self.exercise.clone(),
            seed: self.seed.resolve()?,
            out: self.out.clone(),
            output: self.output.clone(),
        })
    }
}

#[derive(Debug, Args)]
pub struct RunArgs {
    /// Submission directory (with a Dockerfile at its top level).
    #[arg(value_name = "SUBMISSION")]
    pub submission: PathBuf,
    /// Exercise directory (or its exercise.toml).
    #[arg(long, value_name = "DIR")]
    pub exercise: PathBuf,
    #[command(flatten)]
    pub seed: SeedArgs,
    #[command(flatten)]
    pub overrides: crate::session::Overrides,
    /// Keep the service up after it is healthy, until Ctrl-C.
    #[arg(long)]
    pub serve: bool,
}

impl RunArgs {
    pub fn request(&self) -> Result<crate::run_submission::RunRequest> {
        Ok(crate::run_submission::RunRequest {
            submission: self.submission.clone(),
            exercise: self.exercise.clone(),
            seed: self.seed.resolve()?,
            overrides: self.overrides.clone(),
            serve: self.serve,
        })
    }
}

#[derive(Debug, Args)]
pub struct CleanArgs {
    /// Only the objects of this run id.
    #[arg(long)]
    pub run: Option<String>,
    /// Docker endpoint (unix:///path or tcp://host:port); default DOCKER_HOST
    /// or the local socket.
    #[arg(long, value_name = "URL")]
    pub docker_host: Option<String>,
}


/// Where a seed comes from: `--seed N`, or `--candidate ID --secret FILE`.
#[derive(Debug, Args)]
pub struct SeedArgs {
    /// Seed of the variant.
    #[arg(long, conflicts_with_all = ["candidate", "secret"])]
    pub seed: Option<u64>,
    /// Candidate id to derive the seed from (with --secret).
    #[arg(long, requires = "secret")]
    pub candidate: Option<String>,
    /// File whose bytes key the seed derivation (HMAC-SHA256); at least 16 bytes.
    #[arg(long, requires = "candidate")]
    pub secret: Option<PathBuf>,
}

impl SeedArgs {
    pub fn resolve(&self) -> Result<SeedSource> {
        match (&self.seed, &self.candidate, &self.secret) {
            (Some(s), _, _) => Ok(SeedSource::given(*s)),
            (None, Some(c), Some(f)) => Ok(SeedSource::derive(c, f)?),
            _ => Err(GraderError::Usage(
                "give a seed: --seed N, or --candidate ID --secret FILE".into(),
            )),
        }
    }
}

#[derive(Debug, Args)]
pub struct VariantArgs {
    /// Exercise directory (or its exercise.toml).
    #[arg(long, value_name = "DIR")]
    pub exercise: PathBuf,
    #[command(flatten)]
    pub seed: SeedArgs,
    /// Output directory; must not exist or be empty.
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
}

impl VariantArgs {
    pub fn request(&self) -> Result<VariantRequest> {
        Ok(VariantRequest { exercise: self.exercise.clone(), seed: self.seed.resolve()?, out: self.out.clone() })
    }
}
