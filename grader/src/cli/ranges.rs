//! The checks arguments go through once, each naming its flag and what is
//! allowed: numbers in range, inputs that exist, outputs that hold nothing.

use std::path::{Path, PathBuf};

use crate::support::error::{GraderError, Result};

fn usage(s: String) -> GraderError {
    GraderError::Usage(s)
}

pub fn at_least<T: PartialOrd + std::fmt::Display>(flag: &str, v: T, min: T) -> Result<T> {
    if v < min {
        return Err(usage(format!("{flag} {v} is below {min} (allowed: {min} or more)")));
    }
    Ok(v)
}

/// A share in [0, 1].
pub fn share(flag: &str, v: f64) -> Result<f64> {
    if !(0.0..=1.0).contains(&v) {
        return Err(usage(format!("{flag} {v} is outside [0, 1]")));
    }
    Ok(v)
}

/// A percentage in [0, 100], when given.
pub fn percent(flag: &str, v: Option<f64>) -> Result<Option<f64>> {
    match v {
        Some(p) if !(0.0..=100.0).contains(&p) => Err(usage(format!("{flag} {p} is outside [0, 100]"))),
        v => Ok(v),
    }
}

pub fn existing_dir(what: &str, p: &Path) -> Result<PathBuf> {
    if !p.is_dir() {
        let why = if p.exists() { "not a directory" } else { "no such directory" };
        return Err(usage(format!("{what} {}: {why}", p.display())));
    }
    Ok(p.to_path_buf())
}

/// A submission: a folder, or a file the intake reads (an archive, a bundle).
pub fn submission_path(what: &str, p: &Path) -> Result<PathBuf> {
    if p.is_dir() {
        return Ok(p.to_path_buf());
    }
    if !p.exists() {
        return Err(usage(format!("{what} {}: no such file or directory", p.display())));
    }
    match p.file_name().and_then(crate::intake::archive_kind) {
        Some(_) if p.is_file() => Ok(p.to_path_buf()),
        _ => Err(usage(format!(
            "{what} {}: not a folder, nor an archive grader reads (.zip, .tar, .tar.gz, .tgz, .bundle)",
            p.display()
        ))),
    }
}

/// A git reference as given to `--ref`: a name git could take, never an
/// option (it is passed after `--end-of-options` as well).
pub fn git_ref(what: &str, r: &str) -> Result<String> {
    let ok =
        !r.is_empty() && !r.starts_with('-') && r.len() <= 256 && r.bytes().all(|b| b.is_ascii_graphic() && b != b'\\');
    if !ok {
        return Err(usage(format!("{what} {r:?}: not a branch, tag or commit name")));
    }
    Ok(r.to_string())
}

pub fn readable_file(what: &str, p: &Path) -> Result<PathBuf> {
    if !p.is_file() {
        return Err(usage(format!("{what} {}: no such file", p.display())));
    }
    Ok(p.to_path_buf())
}

/// An exercise directory holding exercise.toml, or the file itself.
pub fn exercise_path(what: &str, p: &Path) -> Result<PathBuf> {
    if p.is_file() || p.join("exercise.toml").is_file() {
        return Ok(p.to_path_buf());
    }
    Err(usage(format!(
        "{what} {}: no exercise.toml there (give an exercise directory or its exercise.toml)",
        p.display()
    )))
}

/// A candidate's kit: a directory holding kit.json.
pub fn kit_dir(what: &str, p: &Path) -> Result<PathBuf> {
    existing_dir(what, p)?;
    if !p.join(crate::pipeline::kit::MANIFEST).is_file() {
        return Err(usage(format!(
            "{what} {}: no {} there (a kit is the folder `grader kit` writes)",
            p.display(),
            crate::pipeline::kit::MANIFEST
        )));
    }
    Ok(p.to_path_buf())
}

/// An output directory that does not exist yet, or is empty.
pub fn fresh_out(what: &str, p: &Path) -> Result<PathBuf> {
    crate::support::fs::check_out_dir(p).map_err(|e| usage(format!("{what}: {e}")))?;
    Ok(p.to_path_buf())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_name_the_flag_and_what_is_allowed() {
        assert!(at_least("--jobs", 0usize, 1).unwrap_err().to_string().contains("--jobs 0 is below 1"));
        assert_eq!(at_least("--jobs", 3usize, 1).unwrap(), 3);
        assert!(share("--similarity-threshold", 1.5).unwrap_err().to_string().contains("outside [0, 1]"));
        assert!(percent("--fail-under", Some(101.0)).unwrap_err().to_string().contains("--fail-under 101"));
        assert_eq!(percent("--fail-under", Some(50.0)).unwrap(), Some(50.0));
        let d = tempfile::tempdir().unwrap();
        assert!(existing_dir("SUBMISSION", &d.path().join("nope"))
            .unwrap_err()
            .to_string()
            .contains("no such directory"));
        assert!(exercise_path("--exercise", d.path()).unwrap_err().to_string().contains("no exercise.toml"));
        std::fs::write(d.path().join("x"), "").unwrap();
        assert!(fresh_out("--out", d.path()).unwrap_err().to_string().starts_with("--out: "));
    }
}
