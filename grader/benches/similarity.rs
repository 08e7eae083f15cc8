//! Memory and time of the similarity check on hostile input: three
//! submissions of 49 MiB of dense Python each (one line, the densest tokens),
//! beside a 200 MiB file each build would ignore. Prints a Markdown table
//! for BENCHMARKS.md (`scripts/bench`). The process's peak RSS is the
//! figure: the check runs first, with nothing else loaded.

use std::path::PathBuf;
use std::time::Instant;

use grader::batch::similarity::{check, DEFAULT_CAPS, THRESHOLD};

fn peak_rss_mb() -> f64 {
    let mut u: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut u) };
    u.ru_maxrss as f64 / 1024.0
}

fn main() {
    let dir = tempfile::tempdir().unwrap();
    let mut subs = Vec::new();
    for i in 0..3 {
        let d = dir.path().join(format!("sub-{i}"));
        std::fs::create_dir(&d).unwrap();
        std::fs::write(d.join("Dockerfile"), "FROM scratch\nCOPY . /app\n").unwrap();
        // 49 files of 1 MiB of `a=(b,c);` repeated: single-character
        // tokens on one line, the densest Python there is.
        let unit = format!("a{i}=(b,c);");
        let dense = unit.repeat((1 << 20) / unit.len());
        for f in 0..49 {
            std::fs::write(d.join(format!("dense_{f}.py")), &dense).unwrap();
        }
        // A file the build never sees (.dockerignore): sparse, no disk used.
        std::fs::File::create(d.join("ignored.py")).unwrap().set_len(200 << 20).unwrap();
        std::fs::write(d.join(".dockerignore"), "ignored.py\n").unwrap();
        subs.push((format!("sub-{i}"), d));
    }
    let subs: Vec<(String, PathBuf)> = subs;
    let before = peak_rss_mb();
    let t = Instant::now();
    let found = check(&subs, None, THRESHOLD, DEFAULT_CAPS);
    let elapsed = t.elapsed().as_secs_f64();
    let peak = peak_rss_mb();
    println!("\n### Similarity on hostile input (3 submissions × 49 MiB of dense Python in 1 MiB files, each beside a 200 MiB file .dockerignore excludes)\n");
    println!("| figure | measured | target | |");
    println!("|---|---|---|---|");
    let ok = |b: bool| if b { "met" } else { "missed" };
    println!(
        "| peak RSS of the process | {peak:.0} MB (before the check: {before:.0} MB) | ≤ 200 MB | {} |",
        ok(peak <= 200.0)
    );
    println!("| time | {elapsed:.1} s | ≤ 60 s | {} |", ok(elapsed <= 60.0));
    println!(
        "| notes in the summary | {} | each capped submission named | {} |",
        found.notes.len(),
        ok(found.notes.len() == 3)
    );
}
