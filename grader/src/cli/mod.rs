//! Command-line arguments, parsed once into validated requests.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};
use datasets::SeedSource;

use crate::commands::variant::VariantRequest;
use crate::support::error::{GraderError, Result};

pub mod overrides;
mod ranges;

pub use overrides::OverrideArgs;
use ranges::{at_least, exercise_path, existing_dir, fresh_out, git_ref, kit_dir, percent, share, submission_path};

/// A command's arguments, parsed and checked: what the commands run on.
/// Every value is in range and every input path exists before any work
/// begins, so a bad argument exits 2 and creates nothing.
pub enum Request {
    Variant(VariantRequest),
    Grade { req: Box<crate::pipeline::grading::GradeRequest>, fail_under: Option<f64> },
    Batch(crate::batch::BatchRequest),
    Merge(crate::commands::merge::MergeRequest),
    Kit(crate::commands::kit::KitRequest),
    SelfCheck(crate::commands::self_check::SelfCheckRequest),
    Validate(crate::commands::validate::ValidateRequest),
    Probe { req: crate::pipeline::grading::ProbeRequest, fail_under: Option<f64> },
    Run(crate::commands::run::RunRequest),
    Clean(crate::commands::clean::CleanRequest),
    Review(crate::commands::review::Review),
}

impl Cli {
    /// The validated request of the command given.
    pub fn request(&self) -> Result<Request> {
        Ok(match &self.command {
            Command::Variant(a) => Request::Variant(a.request()?),
            Command::Grade(a) => {
                Request::Grade { req: Box::new(a.request()?), fail_under: percent("--fail-under", a.fail_under)? }
            }
            Command::Batch(a) => Request::Batch(a.request()?),
            Command::Review(a) => Request::Review(a.request()?),
            Command::Merge(a) => Request::Merge(a.request()?),
            Command::Kit(a) => Request::Kit(a.request()?),
            Command::SelfCheck(a) => Request::SelfCheck(a.request()?),
            Command::Validate(a) => Request::Validate(a.request()?),
            Command::Probe(a) => {
                Request::Probe { req: a.request()?, fail_under: percent("--fail-under", a.fail_under)? }
            }
            Command::Run(a) => Request::Run(a.request()?),
            Command::Clean(a) => Request::Clean(crate::commands::clean::CleanRequest {
                docker_host: a.docker_host.clone(),
                run: a.run.clone(),
            }),
        })
    }
}

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
    /// Record a reviewer's verdict on a candidate of a batch (a decision,
    /// check overrides with reasons), or report with --stats how the
    /// automated score agrees with the decisions.
    Review(ReviewArgs),
    /// Merge the results directories of a sharded batch (`batch --shard`)
    /// into one: candidates, leaderboard, summaries, batch.json.
    Merge(MergeArgs),
    /// Write a candidate's kit: the prompt, the practice data and what
    /// `self-check --kit` needs, and nothing that names a planted defect.
    Kit(KitArgs),
    /// For candidates: grade your submission on the practice variant of
    /// your kit (or an exercise's, for authors); hidden checks are counted.
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
    /// The submission: a folder with a Dockerfile at its top level, an
    /// archive of one (.zip, .tar, .tar.gz, .tgz), a git bundle (.bundle),
    /// or a folder that is a git repository (graded at a commit).
    #[arg(value_name = "SUBMISSION")]
    pub submission: PathBuf,
    /// The commit a git submission is graded at: a branch, tag or commit.
    #[arg(long = "ref", value_name = "REF", default_value = "HEAD")]
    pub reference: String,
    /// Exercise directory (or its exercise.toml).
    #[arg(long, value_name = "DIR")]
    pub exercise: PathBuf,
    #[command(flatten)]
    pub seed: SeedArgs,
    /// Results directory; must not exist or be empty.
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
    #[command(flatten)]
    pub overrides: OverrideArgs,
    /// Exit with 1 when the score is below this percentage.
    #[arg(long, value_name = "PERCENT")]
    pub fail_under: Option<f64>,
}

impl GradeArgs {
    pub fn request(&self) -> Result<crate::pipeline::grading::GradeRequest> {
        let overrides = self.overrides.validate()?;
        Ok(crate::pipeline::grading::GradeRequest {
            submission: submission_path("SUBMISSION", &self.submission)?,
            intake: crate::pipeline::grading::IntakeOptions {
                reference: Some(git_ref("--ref", &self.reference)?),
                area: None,
            },
            staged: None,
            source: crate::pipeline::material::Source::Exercise {
                path: exercise_path("--exercise", &self.exercise)?,
                seed: self.seed.resolve()?,
            },
            out: fresh_out("--out", &self.out)?,
            overrides,
            candidate: None,
            gate: None,
            blind: false,
        })
    }
}

#[derive(Debug, Args)]
pub struct BatchArgs {
    /// Directory with one submission per candidate, named by it (the
    /// candidate id): a folder, an archive (`alice.zip`, `.tar`, `.tar.gz`,
    /// `.tgz`), a git bundle (`alice.bundle`) or a git repository folder.
    #[arg(value_name = "SUBMISSIONS_DIR")]
    pub submissions: PathBuf,
    /// The commit git submissions are graded at: a branch, tag or commit.
    #[arg(long = "ref", value_name = "REF", default_value = "HEAD")]
    pub reference: String,
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
    /// Grade one shard of the candidates: `K/N` (1-based; CI matrices),
    /// `slurm` (a job array's SLURM_ARRAY_TASK_* variables) or `k8s/N` (a
    /// Kubernetes Indexed Job's JOB_COMPLETION_INDEX, N completions). A
    /// candidate's shard is a stable hash of their folder name.
    #[arg(long, value_name = "K/N|slurm|k8s/N")]
    pub shard: Option<String>,
    /// Blind review: name candidates by stable pseudonyms in every
    /// reviewer-facing output; identities.json alone maps them back.
    #[arg(long)]
    pub blind: bool,
    /// Starter code every candidate received: its fingerprints are not
    /// counted when looking for submissions that look alike.
    #[arg(long, value_name = "DIR")]
    pub starter: Option<PathBuf>,
    /// Pairs of submissions at least this similar (0-1) are listed in
    /// similarity.csv and summary.html for review (never a score change).
    #[arg(long, value_name = "SHARE", default_value_t = crate::batch::similarity::THRESHOLD)]
    pub similarity_threshold: f64,
    #[command(flatten)]
    pub overrides: OverrideArgs,
}

#[derive(Debug, Args)]
pub struct ReviewArgs {
    /// A batch's results directory (`grader batch --out`, or a merge).
    #[arg(value_name = "RESULTS")]
    pub results: PathBuf,
    /// The candidate as the batch names them (a pseudonym in a blind batch).
    #[arg(value_name = "CANDIDATE", required_unless_present = "stats")]
    pub candidate: Option<String>,
    /// The decision.
    #[arg(long, value_enum, conflicts_with = "stats")]
    pub decision: Option<crate::schema::Decision>,
    /// Why, in a sentence or two.
    #[arg(long, value_name = "TEXT", conflicts_with = "stats")]
    pub note: Option<String>,
    /// Set a check's points: CHECK=POINTS (repeatable; each with its --why).
    #[arg(long = "override", value_name = "CHECK=POINTS", conflicts_with = "stats")]
    pub overrides: Vec<String>,
    /// The reason for the --override at the same position (repeatable).
    #[arg(long = "why", value_name = "TEXT", conflicts_with = "stats")]
    pub whys: Vec<String>,
    /// Who is reviewing (default: $GRADER_REVIEWER, else $USER).
    #[arg(long, value_name = "NAME", conflicts_with = "stats")]
    pub reviewer: Option<String>,
    /// Report how the automated score agrees with the decisions so far.
    #[arg(long)]
    pub stats: bool,
}

impl ReviewArgs {
    pub fn request(&self) -> Result<crate::commands::review::Review> {
        let results = existing_dir("RESULTS", &self.results)?;
        if self.stats {
            return Ok(crate::commands::review::Review::Stats(results));
        }
        let overrides = self.overrides.iter().map(|o| crate::review::parse_override(o)).collect::<Result<Vec<_>>>()?;
        Ok(crate::commands::review::Review::Record(crate::review::ReviewRequest {
            results,
            candidate: self.candidate.clone().unwrap_or_default(),
            decision: self.decision,
            note: self.note.clone(),
            overrides,
            whys: self.whys.clone(),
            reviewer: crate::review::reviewer(self.reviewer.as_deref())?,
        }))
    }
}

#[derive(Debug, Args)]
pub struct MergeArgs {
    /// The shards' results directories (each written by `grader batch --shard`).
    #[arg(value_name = "SHARD_DIR", required = true)]
    pub shards: Vec<PathBuf>,
    /// Merged results directory; must not exist or be empty.
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
}

impl MergeArgs {
    pub fn request(&self) -> Result<crate::commands::merge::MergeRequest> {
        let shards = self.shards.iter().map(|s| existing_dir("SHARD_DIR", s)).collect::<Result<Vec<_>>>()?;
        Ok(crate::commands::merge::MergeRequest { shards, out: fresh_out("--out", &self.out)? })
    }
}

impl BatchArgs {
    pub fn request(&self) -> Result<crate::batch::BatchRequest> {
        if self.blind && self.shard.is_some() && self.secret.is_none() {
            return Err(GraderError::Usage(
                "--blind with --shard needs --secret: every shard must agree on the pseudonyms and on which \
                 candidates it holds, and only the team's secret can key both without naming anyone"
                    .into(),
            ));
        }
        let jobs = at_least("--jobs", self.jobs, 1)?;
        let host_jobs = at_least("--host-jobs", self.host_jobs.unwrap_or(jobs), 1)?;
        let overrides = self.overrides.validate()?;
        let similarity_threshold = share("--similarity-threshold", self.similarity_threshold)?;
        let starter = match &self.starter {
            Some(s) => Some(existing_dir("--starter", s)?),
            None => None,
        };
        Ok(crate::batch::BatchRequest {
            submissions: existing_dir("SUBMISSIONS_DIR", &self.submissions)?,
            reference: git_ref("--ref", &self.reference)?,
            exercise: exercise_path("--exercise", &self.exercise)?,
            seeds: match (&self.seed, &self.secret) {
                (Some(s), _) => crate::batch::Seeds::Fixed(*s),
                (None, Some(f)) => crate::batch::Seeds::Secret(ranges::readable_file("--secret", f)?),
                _ => return Err(GraderError::Usage("give --seed N or --secret FILE".into())),
            },
            out: self.out.clone(),
            jobs,
            regrade: self.regrade,
            hosts: overrides.docker_host.clone(),
            host_jobs,
            retries: self.retries,
            overrides,
            overlap_latency: self.overlap_latency,
            shard: match &self.shard {
                Some(spec) => Some(
                    crate::batch::shard::Shard::parse(spec, &|k| std::env::var(k).ok()).map_err(GraderError::Usage)?,
                ),
                None => None,
            },
            blind: self.blind,
            starter,
            similarity_threshold,
        })
    }
}

#[derive(Debug, Args)]
pub struct KitArgs {
    /// Exercise directory (with exercise.toml and the candidate's README.md).
    #[arg(value_name = "EXERCISE")]
    pub exercise: PathBuf,
    /// Kit directory to write; must not exist or be empty.
    #[arg(long, value_name = "KIT_DIR")]
    pub out: PathBuf,
    /// Also save the base image (`docker save`) into the kit, with its id.
    #[arg(long)]
    pub with_base_image: bool,
    /// Docker endpoint to save the base image from; default DOCKER_HOST or the local socket.
    #[arg(long, value_name = "URL")]
    pub docker_host: Option<String>,
}

impl KitArgs {
    pub fn request(&self) -> Result<crate::commands::kit::KitRequest> {
        Ok(crate::commands::kit::KitRequest {
            exercise: exercise_path("EXERCISE", &self.exercise)?,
            out: fresh_out("--out", &self.out)?,
            with_base_image: self.with_base_image,
            docker_host: self.docker_host.clone(),
        })
    }
}

#[derive(Debug, Args)]
pub struct SelfCheckArgs {
    /// Your submission directory (with its Dockerfile).
    #[arg(value_name = "DIR", default_value = ".")]
    pub submission: PathBuf,
    /// The kit your hiring contact sent (the folder with kit.json).
    #[arg(long, value_name = "KIT_DIR", conflicts_with = "exercise", required_unless_present = "exercise")]
    pub kit: Option<PathBuf>,
    /// For exercise authors: an exercise directory (its practice seed is used).
    #[arg(long, value_name = "DIR")]
    pub exercise: Option<PathBuf>,
    #[command(flatten)]
    pub overrides: OverrideArgs,
}

impl SelfCheckArgs {
    pub fn request(&self) -> Result<crate::commands::self_check::SelfCheckRequest> {
        use crate::commands::self_check::SelfCheckSource;
        let overrides = self.overrides.validate()?;
        let source = match (&self.kit, &self.exercise) {
            (Some(k), _) => SelfCheckSource::Kit(kit_dir("--kit", k)?),
            (None, Some(e)) => SelfCheckSource::Exercise(exercise_path("--exercise", e)?),
            (None, None) => return Err(GraderError::Usage("give --kit KIT_DIR (the kit you were sent)".into())),
        };
        Ok(crate::commands::self_check::SelfCheckRequest {
            submission: existing_dir("DIR", &self.submission)?,
            source,
            overrides,
        })
    }
}

/// Where probes and runs take their data from: a kit, or an exercise and a seed.
#[derive(Debug, Args)]
pub struct SourceArgs {
    /// A candidate's kit (the folder with kit.json): its practice variant.
    #[arg(long, value_name = "KIT_DIR", conflicts_with_all = ["exercise", "seed", "candidate", "secret"])]
    pub kit: Option<PathBuf>,
    /// Exercise directory (or its exercise.toml), with a seed.
    #[arg(long, value_name = "DIR")]
    pub exercise: Option<PathBuf>,
    #[command(flatten)]
    pub seed: SeedArgs,
}

impl SourceArgs {
    pub fn resolve(&self) -> Result<crate::pipeline::material::Source> {
        use crate::pipeline::material::Source;
        match (&self.kit, &self.exercise) {
            (Some(k), _) => Ok(Source::Kit(kit_dir("--kit", k)?)),
            (None, Some(e)) => {
                Ok(Source::Exercise { path: exercise_path("--exercise", e)?, seed: self.seed.resolve()? })
            }
            (None, None) => Err(GraderError::Usage("give --kit KIT_DIR, or --exercise DIR with a seed".into())),
        }
    }
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
    pub overrides: OverrideArgs,
}

impl ValidateArgs {
    pub fn request(&self) -> Result<crate::commands::validate::ValidateRequest> {
        Ok(crate::commands::validate::ValidateRequest {
            exercise: exercise_path("EXERCISE", &self.exercise)?,
            jobs: at_least("--jobs", self.jobs, 1)?,
            overrides: self.overrides.validate()?,
            parity: match self.parity {
                Some(n) => Some(at_least("--parity", n, 2)?),
                None => None,
            },
        })
    }
}

#[derive(Debug, Args)]
pub struct ProbeArgs {
    /// Base URL of the running service; loopback only (127.0.0.0/8, ::1, localhost).
    #[arg(long)]
    pub url: String,
    #[command(flatten)]
    pub source: SourceArgs,
    /// Results directory (result.json, report.md, …); must not exist or be
    /// empty. Without it nothing is written: the summary is printed.
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// The service's OUTPUT_DIR, to read report.json from (else not judged).
    #[arg(long, value_name = "DIR")]
    pub output: Option<PathBuf>,
    /// Wait up to this many seconds for /health to answer 200 first (a
    /// service that is still training).
    #[arg(long, value_name = "SECONDS")]
    pub wait: Option<u64>,
    /// Exit with 1 when the score is below this percentage.
    #[arg(long, value_name = "PERCENT")]
    pub fail_under: Option<f64>,
}

impl ProbeArgs {
    pub fn request(&self) -> Result<crate::pipeline::grading::ProbeRequest> {
        Ok(crate::pipeline::grading::ProbeRequest {
            url: self.url.clone(),
            source: self.source.resolve()?,
            out: match &self.out {
                Some(o) => Some(fresh_out("--out", o)?),
                None => None,
            },
            output: match &self.output {
                Some(o) => Some(existing_dir("--output", o)?),
                None => None,
            },
            wait: self.wait.map(std::time::Duration::from_secs),
        })
    }
}

#[derive(Debug, Args)]
pub struct RunArgs {
    /// Submission directory (with a Dockerfile at its top level).
    #[arg(value_name = "SUBMISSION")]
    pub submission: PathBuf,
    #[command(flatten)]
    pub source: SourceArgs,
    #[command(flatten)]
    pub overrides: OverrideArgs,
    /// Keep the service up after it is healthy, until Ctrl-C.
    #[arg(long)]
    pub serve: bool,
}

impl RunArgs {
    pub fn request(&self) -> Result<crate::commands::run::RunRequest> {
        let overrides = self.overrides.validate()?;
        Ok(crate::commands::run::RunRequest {
            submission: existing_dir("SUBMISSION", &self.submission)?,
            source: self.source.resolve()?,
            overrides,
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
            _ => Err(GraderError::Usage("give a seed: --seed N, or --candidate ID --secret FILE".into())),
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
        Ok(VariantRequest {
            exercise: exercise_path("--exercise", &self.exercise)?,
            seed: self.seed.resolve()?,
            out: fresh_out("--out", &self.out)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::Cli;

    /// `grader …` commands a Markdown file shows: every line of a code block
    /// that starts with `grader ` (with `\` continuations joined and `#`
    /// comments dropped), and every inline code span that does (`true`: a
    /// span, which may name a command or a flag without a whole command line).
    fn commands(markdown: &str) -> Vec<(String, bool)> {
        let mut out = Vec::new();
        let mut in_block = false;
        let mut pending = String::new();
        for line in markdown.lines() {
            if line.trim_start().starts_with("```") {
                in_block = !in_block;
                continue;
            }
            if in_block {
                let line = line.trim();
                if pending.is_empty() && !line.starts_with("grader ") {
                    continue;
                }
                let code = line.split(" #").next().unwrap_or("").trim_end();
                match code.strip_suffix('\\') {
                    Some(head) => pending += &format!("{head} "),
                    None => out.push((std::mem::take(&mut pending) + code, false)),
                }
            } else {
                for (i, span) in line.split('`').enumerate() {
                    if i % 2 == 1 && span.starts_with("grader ") {
                        out.push((span.to_string(), true));
                    }
                }
            }
        }
        out
    }

    /// Words as a POSIX shell would split them (quotes, no expansion).
    fn words(command: &str) -> Vec<String> {
        let (mut out, mut cur, mut quote, mut any) = (Vec::new(), String::new(), None, false);
        for c in command.chars() {
            match (quote, c) {
                (None, '"' | '\'') => (quote, any) = (Some(c), true),
                (Some(q), c) if c == q => quote = None,
                (None, c) if c.is_whitespace() => {
                    if any || !cur.is_empty() {
                        out.push(std::mem::take(&mut cur));
                        any = false;
                    }
                }
                (_, c) => cur.push(c),
            }
        }
        if any || !cur.is_empty() {
            out.push(cur);
        }
        out
    }

    #[test]
    fn every_grader_command_the_readmes_show_parses_with_this_cli() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let mut checked = 0;
        for file in ["README.md", "exercises/churn/README.md", "exercises/fraud/README.md"] {
            let text = std::fs::read_to_string(root.join(file)).unwrap();
            for (command, span) in commands(&text) {
                let argv = words(&command);
                if let Err(e) = Cli::try_parse_from(&argv) {
                    use clap::error::ErrorKind::*;
                    // A span in prose may name a command, or a flag, alone:
                    // its subcommand and flags must exist all the same.
                    let fragment = span && matches!(e.kind(), MissingRequiredArgument | InvalidValue);
                    if !fragment && !matches!(e.kind(), DisplayHelp | DisplayVersion) {
                        panic!("{file}: `{command}` does not parse:\n{e}");
                    }
                }
                checked += 1;
            }
        }
        assert!(checked >= 15, "only {checked} commands found: is the extraction broken?");
    }

    #[test]
    fn the_extraction_finds_commands_in_blocks_spans_and_continuations() {
        let md = "text `grader kit X --out Y` and `ls`\n```sh\ndocker ps\ngrader probe --kit . \\\n  --url http://127.0.0.1:8080   # comment\n```\n";
        let found: Vec<(Vec<String>, bool)> = commands(md).into_iter().map(|(c, span)| (words(&c), span)).collect();
        let w = |s: &str| s.split(' ').map(String::from).collect::<Vec<_>>();
        assert_eq!(
            found,
            vec![(w("grader kit X --out Y"), true), (w("grader probe --kit . --url http://127.0.0.1:8080"), false)]
        );
        assert_eq!(words("a \"b c\" 'd'"), vec!["a", "b c", "d"]);
        assert!(
            Cli::try_parse_from(words("grader probe --kit . --exercise x --url http://127.0.0.1:1")).is_err(),
            "conflicting flags parse"
        );
    }
}
