//! Shared helpers: run the real binary, read what it wrote.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The workspace root (this file lives in `tests/e2e/`).
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("workspace root").to_path_buf()
}

pub fn churn() -> PathBuf {
    root().join("exercises/churn")
}

/// `grader ARGS…`, capturing output.
pub fn grader(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_grader"))
        .args(args)
        .env_remove("GRADER_LOG")
        .output()
        .expect("run grader")
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Runs `grader variant` for a seed into `out`, asserting success.
pub fn variant(seed: u64, out: &Path) {
    let o = grader(&[
        "variant",
        "--exercise",
        churn().to_str().unwrap(),
        "--seed",
        &seed.to_string(),
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "grader variant failed: {}", stderr(&o));
}

/// Every file under `dir`, by relative path, with its bytes.
pub fn files(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    fn walk(base: &Path, dir: &Path, out: &mut BTreeMap<String, Vec<u8>>) {
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                walk(base, &p, out);
            } else {
                let rel = p.strip_prefix(base).unwrap().to_string_lossy().into_owned();
                out.insert(rel, std::fs::read(&p).unwrap());
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(dir, dir, &mut out);
    out
}

/// A CSV file as columns of optional strings (empty field = missing).
pub struct Csv {
    pub header: Vec<String>,
    pub columns: Vec<Vec<Option<String>>>,
}

impl Csv {
    pub fn read(path: &Path) -> Csv {
        let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let mut lines = text.lines();
        let header: Vec<String> = lines.next().unwrap().split(',').map(str::to_string).collect();
        let mut columns = vec![Vec::new(); header.len()];
        for line in lines {
            let fields: Vec<&str> = line.split(',').collect();
            assert_eq!(fields.len(), header.len(), "ragged row in {}: {line}", path.display());
            for (c, f) in columns.iter_mut().zip(fields) {
                c.push(if f.is_empty() { None } else { Some(f.to_string()) });
            }
        }
        Csv { header, columns }
    }

    pub fn rows(&self) -> usize {
        self.columns.first().map_or(0, Vec::len)
    }

    pub fn col(&self, name: &str) -> &[Option<String>] {
        let i = self.header.iter().position(|h| h == name).unwrap_or_else(|| panic!("no column {name}"));
        &self.columns[i]
    }

    pub fn num(&self, name: &str) -> Vec<Option<f64>> {
        self.col(name).iter().map(|v| v.as_ref().map(|s| s.parse::<f64>().unwrap())).collect()
    }

    pub fn labels(&self, name: &str) -> Vec<bool> {
        self.col(name).iter().map(|v| v.as_deref() == Some("1")).collect()
    }
}

pub fn json(path: &Path) -> serde_json::Value {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap()
}

/// A Parquet file in the same shape as [`Csv`] (values rendered as strings).
pub fn parquet(path: &Path) -> Csv {
    use polars::prelude::*;
    let file = std::fs::File::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let df = ParquetReader::new(file).finish().unwrap();
    let header: Vec<String> = df.get_column_names().iter().map(|s| s.to_string()).collect();
    let columns = df
        .columns()
        .iter()
        .map(|c| {
            let s = c.cast(&DataType::String).unwrap();
            s.str().unwrap().iter().map(|v| v.map(str::to_string)).collect()
        })
        .collect();
    Csv { header, columns }
}
