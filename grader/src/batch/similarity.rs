//! Similarity across a batch: submissions that look copied, for a person to
//! review; never a score change.
//!
//! Each submission's Python files and Dockerfiles are tokenised with names
//! and literals normalised (every identifier that is not a keyword is `V`,
//! every string `S`, every number `N`; comments and whitespace dropped), so
//! renaming variables or reformatting changes nothing. Fingerprints are
//! chosen by winnowing (Schleimer, Wilkerson and Aiken, 2003): the smallest
//! hash of every window of `WINDOW` consecutive `K`-token hashes, which
//! guarantees that any shared run of `K + WINDOW - 1` tokens is found, in
//! any order of functions. Fingerprints of a starter directory are removed
//! first. A pair's score is the share of the smaller submission's
//! fingerprints the other also has.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

/// Tokens per hashed k-gram (shorter runs are noise: idioms every solution shares).
pub const K: usize = 20;
/// Hashes per winnowing window: any shared run of K + WINDOW - 1 = 27 tokens is found.
pub const WINDOW: usize = 8;
/// Pairs at or above this score are flagged.
pub const THRESHOLD: f64 = 0.5;
/// A pair needs at least this many shared fingerprints to be flagged (two
/// tiny submissions share a large share of very little).
pub const MIN_SHARED: usize = 8;
/// What is read of one file, and how many files of one submission.
const MAX_FILE_BYTES: u64 = 1 << 20;
const MAX_FILES: usize = 2000;

const PY_KEYWORDS: &[&str] = &[
    "False", "None", "True", "and", "as", "assert", "async", "await", "break", "class", "continue", "def", "del",
    "elif", "else", "except", "finally", "for", "from", "global", "if", "import", "in", "is", "lambda", "nonlocal",
    "not", "or", "pass", "raise", "return", "try", "while", "with", "yield",
];

/// A token and the line it starts on.
type Token = (String, u32);

/// Python source as normalised tokens.
pub fn python_tokens(src: &str) -> Vec<Token> {
    let b: Vec<char> = src.chars().collect();
    let (mut i, mut line, mut out) = (0, 1u32, Vec::new());
    while i < b.len() {
        let c = b[i];
        if c == '\n' {
            line += 1;
            i += 1;
        } else if c.is_whitespace() || c == '\\' {
            i += 1;
        } else if c == '#' {
            while i < b.len() && b[i] != '\n' {
                i += 1;
            }
        } else if c == '"' || c == '\'' {
            let start = line;
            let triple = i + 2 < b.len() && b[i + 1] == c && b[i + 2] == c;
            i += if triple { 3 } else { 1 };
            while i < b.len() {
                if b[i] == '\\' {
                    i += 2;
                    continue;
                }
                if b[i] == '\n' {
                    line += 1;
                    if !triple {
                        break;
                    }
                }
                if b[i] == c && (!triple || (i + 2 < b.len() && b[i + 1] == c && b[i + 2] == c)) {
                    i += if triple { 3 } else { 1 };
                    break;
                }
                i += 1;
            }
            // A docstring or a literal: either way, not the code's shape.
            out.push(("S".into(), start));
        } else if c.is_ascii_digit() {
            while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == '.' || b[i] == '_') {
                i += 1;
            }
            out.push(("N".into(), line));
        } else if c.is_alphabetic() || c == '_' {
            let s = i;
            while i < b.len() && (b[i].is_alphanumeric() || b[i] == '_') {
                i += 1;
            }
            let word: String = b[s..i].iter().collect();
            // A string prefix (f"", r'', b"") belongs to the string that follows.
            if i < b.len()
                && (b[i] == '"' || b[i] == '\'')
                && word.len() <= 2
                && word.chars().all(|x| "rbfuRBFU".contains(x))
            {
                continue;
            }
            out.push((if PY_KEYWORDS.contains(&word.as_str()) { word } else { "V".into() }, line));
        } else {
            out.push((c.to_string(), line));
            i += 1;
        }
    }
    out
}

/// A Dockerfile as normalised tokens: instructions and flags kept, every
/// other word `A`, comments dropped.
pub fn dockerfile_tokens(src: &str) -> Vec<Token> {
    let mut out = Vec::new();
    for (n, raw) in src.lines().enumerate() {
        let l = raw.trim();
        if l.is_empty() || l.starts_with('#') {
            continue;
        }
        for (j, w) in l.split_whitespace().enumerate() {
            let t = if j == 0 && w.chars().all(|c| c.is_ascii_alphabetic()) && w.len() > 1 {
                w.to_ascii_uppercase()
            } else if w.starts_with('-') {
                w.split('=').next().unwrap_or(w).to_string()
            } else {
                "A".into()
            };
            out.push((t, n as u32 + 1));
        }
    }
    out
}

/// One fingerprint: the k-gram's hash, where it came from.
#[derive(Debug, Clone)]
pub struct Print {
    pub hash: u64,
    pub file: String,
    pub lines: (u32, u32),
}

fn hash(tokens: &[Token]) -> u64 {
    let mut h = Sha256::new();
    for (t, _) in tokens {
        h.update(t.as_bytes());
        h.update([0]);
    }
    u64::from_le_bytes(h.finalize()[..8].try_into().expect("8 bytes"))
}

/// Winnowed fingerprints of one file's tokens.
pub fn winnow(file: &str, tokens: &[Token]) -> Vec<Print> {
    if tokens.len() < K {
        return Vec::new();
    }
    let grams: Vec<(u64, u32, u32)> = tokens.windows(K).map(|w| (hash(w), w[0].1, w[K - 1].1)).collect();
    let mut chosen: BTreeMap<usize, (u64, u32, u32)> = BTreeMap::new();
    for start in 0..grams.len().saturating_sub(WINDOW - 1).max(1) {
        let window = &grams[start..(start + WINDOW).min(grams.len())];
        // The rightmost minimum, as the paper does, so runs of equal hashes pick one.
        let (pos, g) = window.iter().enumerate().rev().min_by_key(|(_, g)| g.0).expect("non-empty");
        chosen.insert(start + pos, *g);
    }
    chosen.into_values().map(|(hash, a, b)| Print { hash, file: file.to_string(), lines: (a, b) }).collect()
}

/// Every fingerprint of a submission's Python files and Dockerfiles (links
/// not followed, sizes capped).
pub fn fingerprints(dir: &Path) -> Vec<Print> {
    let mut files = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else { continue };
        for e in entries.flatten() {
            let Ok(ty) = e.file_type() else { continue };
            let p = e.path();
            if ty.is_dir() {
                stack.push(p);
            } else if ty.is_file() && files.len() < MAX_FILES {
                files.push(p);
            }
        }
    }
    files.sort();
    let mut out = Vec::new();
    for p in files {
        let name = p.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        let kind = if name.ends_with(".py") {
            python_tokens as fn(&str) -> Vec<Token>
        } else if name == "Dockerfile" || name.starts_with("Dockerfile.") || name.ends_with(".Dockerfile") {
            dockerfile_tokens
        } else {
            continue;
        };
        let Ok(bytes) = crate::support::fs::read_no_follow(&p, MAX_FILE_BYTES) else { continue };
        let rel = p.strip_prefix(dir).unwrap_or(&p).to_string_lossy().into_owned();
        out.extend(winnow(&rel, &kind(&String::from_utf8_lossy(&bytes))));
    }
    out
}

/// A pair of submissions that look alike.
#[derive(Debug, Clone, PartialEq)]
pub struct Pair {
    pub a: String,
    pub b: String,
    /// Shared fingerprints over the smaller submission's.
    pub score: f64,
    pub shared: usize,
    /// `file:lines ~ file:lines`, merged, in order.
    pub spans: Vec<String>,
}

/// Every pair of `subs` (name, directory) at or above `threshold`, best
/// first; the starter's fingerprints count for no one.
pub fn compare(subs: &[(String, PathBuf)], starter: Option<&Path>, threshold: f64) -> Vec<Pair> {
    let boiler: BTreeSet<u64> =
        starter.map(|s| fingerprints(s).into_iter().map(|p| p.hash).collect()).unwrap_or_default();
    let prints: Vec<(String, Vec<Print>)> = subs
        .iter()
        .map(|(n, d)| (n.clone(), fingerprints(d).into_iter().filter(|p| !boiler.contains(&p.hash)).collect()))
        .collect();
    let mut pairs = Vec::new();
    for i in 0..prints.len() {
        for j in i + 1..prints.len() {
            let (na, pa) = &prints[i];
            let (nb, pb) = &prints[j];
            let ha: BTreeSet<u64> = pa.iter().map(|p| p.hash).collect();
            let hb: BTreeSet<u64> = pb.iter().map(|p| p.hash).collect();
            let shared: BTreeSet<u64> = ha.intersection(&hb).copied().collect();
            let smaller = ha.len().min(hb.len());
            if smaller == 0 {
                continue;
            }
            let score = shared.len() as f64 / smaller as f64;
            if score < threshold || shared.len() < MIN_SHARED {
                continue;
            }
            pairs.push(Pair {
                a: na.clone(),
                b: nb.clone(),
                score: (score * 1000.0).round() / 1000.0,
                shared: shared.len(),
                spans: spans(pa, pb, &shared),
            });
        }
    }
    pairs.sort_by(|x, y| y.score.total_cmp(&x.score).then(x.a.cmp(&y.a)).then(x.b.cmp(&y.b)));
    pairs
}

/// Shared fingerprints as merged line ranges, per pair of files.
fn spans(pa: &[Print], pb: &[Print], shared: &BTreeSet<u64>) -> Vec<String> {
    let first_b: BTreeMap<u64, &Print> = pb.iter().rev().map(|p| (p.hash, p)).collect();
    // (file, lines) in one submission and where the same prints sit in the other.
    type Span = (String, (u32, u32), String, (u32, u32));
    let mut out: Vec<Span> = Vec::new();
    for p in pa.iter().filter(|p| shared.contains(&p.hash)) {
        let q = first_b[&p.hash];
        match out.last_mut() {
            Some((fa, ra, fb, rb))
                if *fa == p.file
                    && *fb == q.file
                    && p.lines.0 <= ra.1 + 1
                    && q.lines.0 <= rb.1 + 1
                    && q.lines.1 + 1 >= rb.0 =>
            {
                ra.1 = ra.1.max(p.lines.1);
                rb.0 = rb.0.min(q.lines.0);
                rb.1 = rb.1.max(q.lines.1);
            }
            _ => out.push((p.file.clone(), p.lines, q.file.clone(), q.lines)),
        }
    }
    out.into_iter().map(|(fa, ra, fb, rb)| format!("{fa}:{}-{} ~ {fb}:{}-{}", ra.0, ra.1, rb.0, rb.1)).collect()
}

/// `similarity.csv`: one row per flagged pair (through the csv writer, with
/// spreadsheet formulas defused like every other CSV the grader writes).
pub fn csv(pairs: &[Pair]) -> String {
    use crate::support::sanitize::csv_text;
    let mut w = csv::WriterBuilder::new().quote_style(csv::QuoteStyle::Necessary).from_writer(Vec::new());
    w.write_record(["candidate_a", "candidate_b", "score", "shared_fingerprints", "matched_spans"]).expect("in memory");
    for p in pairs {
        let spans: Vec<String> = p.spans.iter().take(50).cloned().collect();
        w.write_record([
            csv_text(&p.a),
            csv_text(&p.b),
            p.score.to_string(),
            p.shared.to_string(),
            csv_text(&spans.join("; ")),
        ])
        .expect("in memory");
    }
    String::from_utf8(w.into_inner().expect("in memory")).expect("utf-8 in, utf-8 out")
}

#[cfg(test)]
mod tests {
    use super::*;

    const ORIGINAL: &str = r#"
import json

def load(path):
    """Reads the rows."""
    with open(path) as f:
        rows = json.load(f)
    return [r for r in rows if r["amount"] > 10]

def score(rows, weight=0.5):
    total = 0
    for r in rows:
        total += r["amount"] * weight  # weighted
    return total / max(len(rows), 1)

def main():
    rows = load("/data/x.json")
    print(score(rows))
"#;

    /// Renamed names, other literals and comments, functions reordered.
    const DISGUISED: &str = r#"
import json

def compute(items, w=0.25):
    acc = 0
    for it in items:
        acc += it['value'] * w
    return acc / max(len(items), 1)

# entry point
def run():
    items = read_items('/in/y.json')
    print(compute(items))

def read_items(p):
    with open(p) as fh:
        items = json.load(fh)
    return [i for i in items if i['value'] > 99]
"#;

    #[test]
    fn renaming_reformatting_and_reordering_keep_the_fingerprints() {
        let a: BTreeSet<u64> = winnow("a.py", &python_tokens(ORIGINAL)).into_iter().map(|p| p.hash).collect();
        let b: BTreeSet<u64> = winnow("b.py", &python_tokens(DISGUISED)).into_iter().map(|p| p.hash).collect();
        assert!(!a.is_empty());
        let shared = a.intersection(&b).count() as f64 / a.len().min(b.len()) as f64;
        // Short functions lose the k-grams that spanned their old order;
        // still above the flagging threshold.
        assert!(shared >= THRESHOLD, "a disguised copy shares only {shared:.2}");
        let other = "class Model:\n    def __init__(self):\n        self.k = {}\n    def fit(self, xs, ys):\n        for x, y in zip(xs, ys):\n            self.k.setdefault(x, []).append(y)\n        return self\n    def predict(self, x):\n        v = self.k.get(x)\n        return sum(v) / len(v) if v else None\n";
        let c: BTreeSet<u64> = winnow("c.py", &python_tokens(other)).into_iter().map(|p| p.hash).collect();
        assert_eq!(a.intersection(&c).count(), 0, "unrelated code shares fingerprints");
    }

    #[test]
    fn tokens_ignore_comments_whitespace_names_and_literals() {
        let t = |s: &str| python_tokens(s).into_iter().map(|(t, _)| t).collect::<Vec<_>>();
        assert_eq!(t("x = 1  # one\n"), t("total=42\n"));
        assert_eq!(t("s = f\"a{b}\" + 'c'"), vec!["V", "=", "S", "+", "S"]);
        assert_eq!(
            t("def f():\n    '''doc\n    more'''\n    return None"),
            vec!["def", "V", "(", ")", ":", "S", "return", "None"]
        );
        let d = dockerfile_tokens("# c\nFROM base:1\nRUN --network=none pip install x\ncopy a b\n");
        assert_eq!(
            d.into_iter().map(|(t, _)| t).collect::<Vec<_>>(),
            vec!["FROM", "A", "RUN", "--network", "A", "A", "A", "COPY", "A", "A"]
        );
    }

    #[test]
    fn the_csv_defuses_formulas_in_names() {
        let p = Pair {
            a: "=HYPERLINK(\"x\")".into(),
            b: "b".into(),
            score: 0.9,
            shared: 12,
            spans: vec!["a.py:1-9 ~ b.py:3-11".into()],
        };
        let text = csv(&[p]);
        assert!(text.contains("'=HYPERLINK"), "{text}");
    }
}
