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

use crate::sandbox::context::{self, Caps};

/// Tokens per hashed k-gram (shorter runs are noise: idioms every solution shares).
pub const K: usize = 20;
/// Hashes per winnowing window: any shared run of K + WINDOW - 1 = 27 tokens is found.
pub const WINDOW: usize = 8;
/// Pairs at or above this score are flagged.
pub const THRESHOLD: f64 = 0.5;
/// A pair needs at least this many shared fingerprints to be flagged (two
/// tiny submissions share a large share of very little).
pub const MIN_SHARED: usize = 8;
/// What is read of one file.
const MAX_FILE_BYTES: u64 = 1 << 20;
/// Per submission, what is read at most: code files (Python and
/// Dockerfiles; other files do not count towards it, so junk files cannot
/// crowd the code out), their bytes, and the fingerprints kept. With a
/// fingerprint kept once per distinct hash and file (about 24 bytes each),
/// one submission costs at most a few MB, whatever it holds.
pub const MAX_CODE_FILES: usize = 2000;
pub const MAX_CODE_BYTES: u64 = 16 << 20;
pub const MAX_PRINTS: usize = 200_000;

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

/// One fingerprint: the k-gram's hash, where it came from (an index into
/// the submission's file names: a name is not copied per fingerprint).
#[derive(Debug, Clone)]
pub struct Print {
    pub hash: u64,
    pub file: u32,
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

/// Winnowed fingerprints of one file's tokens, each distinct hash once (its
/// first place): repetitive input yields few prints, not one per token.
pub fn winnow(file: u32, tokens: &[Token]) -> Vec<Print> {
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
    let mut seen = std::collections::HashSet::new();
    chosen.into_values().filter(|g| seen.insert(g.0)).map(|(hash, a, b)| Print { hash, file, lines: (a, b) }).collect()
}

/// A submission's fingerprints and the files they come from.
#[derive(Debug, Clone, Default)]
pub struct Fingerprints {
    pub prints: Vec<Print>,
    pub files: Vec<String>,
    /// Set when a per-submission cap stopped the reading (what was read counts).
    pub truncated: Option<String>,
}

/// A tokeniser for one kind of code file.
type Tokenise = fn(&str) -> Vec<Token>;

fn code_kind(name: &str) -> Option<Tokenise> {
    if name.ends_with(".py") {
        Some(python_tokens)
    } else if name == "Dockerfile" || name.starts_with("Dockerfile.") || name.ends_with(".Dockerfile") {
        Some(dockerfile_tokens)
    } else {
        None
    }
}

/// Every fingerprint of the Python files and Dockerfiles a build of `dir`
/// would read: its context as `.dockerignore` filters it, under the build's
/// caps (a file the build never sees is no one's code), links not followed,
/// and the per-submission caps above. `Err`: the context could not be read
/// (over the caps, a link out of it: the reason says which, with the
/// directory as `<submission>`); the build refuses such a submission too.
/// A submission without a Dockerfile at its top is still read: the build
/// refuses it, but a reviewer may want to know whose code it holds.
pub fn fingerprints(dir: &Path, caps: Caps) -> Result<Fingerprints, String> {
    let plan = context::scan_tree(dir, caps)
        .map_err(|e| e.to_string().replace(dir.display().to_string().as_str(), "<submission>"))?;
    let mut code: Vec<(String, PathBuf, Tokenise)> = plan
        .regular_files()
        .filter_map(|(rel, full)| {
            let name = rel.file_name()?.to_string_lossy().into_owned();
            code_kind(&name).map(|k| (rel.to_string_lossy().into_owned(), full, k))
        })
        .collect();
    code.sort_by(|a, b| a.0.cmp(&b.0));
    let mut out = Fingerprints::default();
    if code.len() > MAX_CODE_FILES {
        out.truncated = Some(format!("{} code files, the first {MAX_CODE_FILES} read", code.len()));
        code.truncate(MAX_CODE_FILES);
    }
    let mut read = 0u64;
    for (rel, full, kind) in code {
        let Ok(bytes) = crate::support::fs::read_no_follow(&full, MAX_FILE_BYTES) else { continue };
        read += bytes.len() as u64;
        if read > MAX_CODE_BYTES {
            out.truncated = Some(format!("over {} MiB of code, the rest not read", MAX_CODE_BYTES >> 20));
            break;
        }
        let file = out.files.len() as u32;
        out.files.push(rel);
        out.prints.extend(winnow(file, &kind(&String::from_utf8_lossy(&bytes))));
        if out.prints.len() > MAX_PRINTS {
            out.prints.truncate(MAX_PRINTS);
            out.truncated = Some(format!("over {MAX_PRINTS} fingerprints, the rest not read"));
            break;
        }
    }
    Ok(out)
}

/// What the similarity check found: flagged pairs, and the submissions it
/// could not read in full (with why), which a summary shows.
#[derive(Debug, Clone, Default)]
pub struct Similarity {
    pub pairs: Vec<Pair>,
    /// `name: why` for a submission left out or read in part.
    pub notes: Vec<String>,
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

/// [`check`] under default caps, the pairs alone (tests, benchmarks).
pub fn compare(subs: &[(String, PathBuf)], starter: Option<&Path>, threshold: f64) -> Vec<Pair> {
    check(subs, starter, threshold, DEFAULT_CAPS).pairs
}

/// Caps of a build context when no exercise says otherwise.
pub const DEFAULT_CAPS: Caps = Caps { bytes: 50 << 20, entries: 10_000 };

/// Every pair of `subs` (name, directory) at or above `threshold`, best
/// first; the starter's fingerprints count for no one. Submissions are
/// read one at a time, each under its caps; one that cannot be read is
/// left out and named in the notes.
pub fn check(subs: &[(String, PathBuf)], starter: Option<&Path>, threshold: f64, caps: Caps) -> Similarity {
    let mut notes = Vec::new();
    let boiler: BTreeSet<u64> = match starter.map(|s| fingerprints(s, caps)) {
        Some(Ok(f)) => f.prints.into_iter().map(|p| p.hash).collect(),
        Some(Err(why)) => {
            notes.push(format!("the starter: {why} (not subtracted)"));
            BTreeSet::new()
        }
        None => BTreeSet::new(),
    };
    let mut prints: Vec<(String, Fingerprints)> = Vec::new();
    for (n, d) in subs {
        match fingerprints(d, caps) {
            Ok(mut f) => {
                if let Some(t) = &f.truncated {
                    notes.push(format!("{n}: {t}"));
                }
                f.prints.retain(|p| !boiler.contains(&p.hash));
                prints.push((n.clone(), f));
            }
            Err(why) => notes.push(format!("{n}: not compared: {why}")),
        }
    }
    let sets: Vec<BTreeSet<u64>> = prints.iter().map(|(_, f)| f.prints.iter().map(|p| p.hash).collect()).collect();
    let mut pairs = Vec::new();
    for i in 0..prints.len() {
        for j in i + 1..prints.len() {
            let ((na, fa), (nb, fb)) = (&prints[i], &prints[j]);
            let (ha, hb) = (&sets[i], &sets[j]);
            let shared: BTreeSet<u64> = ha.intersection(hb).copied().collect();
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
                spans: spans(fa, fb, &shared),
            });
        }
    }
    pairs.sort_by(|x, y| y.score.total_cmp(&x.score).then(x.a.cmp(&y.a)).then(x.b.cmp(&y.b)));
    Similarity { pairs, notes }
}

/// Shared fingerprints as merged line ranges, per pair of files.
fn spans(a: &Fingerprints, b: &Fingerprints, shared: &BTreeSet<u64>) -> Vec<String> {
    let (pa, pb) = (&a.prints, &b.prints);
    let first_b: BTreeMap<u64, &Print> = pb.iter().rev().map(|p| (p.hash, p)).collect();
    // (file, lines) in one submission and where the same prints sit in the other.
    type Span = (String, (u32, u32), String, (u32, u32));
    let mut out: Vec<Span> = Vec::new();
    let (name_a, name_b) = (|p: &Print| a.files[p.file as usize].clone(), |p: &Print| b.files[p.file as usize].clone());
    for p in pa.iter().filter(|p| shared.contains(&p.hash)) {
        let q = first_b[&p.hash];
        match out.last_mut() {
            Some((fa, ra, fb, rb))
                if *fa == a.files[p.file as usize]
                    && *fb == b.files[q.file as usize]
                    && p.lines.0 <= ra.1 + 1
                    && q.lines.0 <= rb.1 + 1
                    && q.lines.1 + 1 >= rb.0 =>
            {
                ra.1 = ra.1.max(p.lines.1);
                rb.0 = rb.0.min(q.lines.0);
                rb.1 = rb.1.max(q.lines.1);
            }
            _ => out.push((name_a(p), p.lines, name_b(q), q.lines)),
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
    use std::path::{Path, PathBuf};

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
        let a: BTreeSet<u64> = winnow(0, &python_tokens(ORIGINAL)).into_iter().map(|p| p.hash).collect();
        let b: BTreeSet<u64> = winnow(0, &python_tokens(DISGUISED)).into_iter().map(|p| p.hash).collect();
        assert!(!a.is_empty());
        let shared = a.intersection(&b).count() as f64 / a.len().min(b.len()) as f64;
        // Short functions lose the k-grams that spanned their old order;
        // still above the flagging threshold.
        assert!(shared >= THRESHOLD, "a disguised copy shares only {shared:.2}");
        let other = "class Model:\n    def __init__(self):\n        self.k = {}\n    def fit(self, xs, ys):\n        for x, y in zip(xs, ys):\n            self.k.setdefault(x, []).append(y)\n        return self\n    def predict(self, x):\n        v = self.k.get(x)\n        return sum(v) / len(v) if v else None\n";
        let c: BTreeSet<u64> = winnow(0, &python_tokens(other)).into_iter().map(|p| p.hash).collect();
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

    /// A submission directory with a Dockerfile and `files` (name, text).
    fn submission(root: &Path, name: &str, files: &[(&str, String)]) -> PathBuf {
        let d = root.join(name);
        std::fs::create_dir_all(&d).unwrap();
        std::fs::write(d.join("Dockerfile"), "FROM scratch\nCOPY . /app\n").unwrap();
        for (f, text) in files {
            std::fs::write(d.join(f), text).unwrap();
        }
        d
    }

    #[test]
    fn only_what_the_build_reads_is_read() {
        let t = tempfile::tempdir().unwrap();
        let d = submission(
            t.path(),
            "a",
            &[
                ("model.py", ORIGINAL.into()),
                ("vendored.py", DISGUISED.into()),
                (".dockerignore", "vendored.py\n".into()),
            ],
        );
        let f = fingerprints(&d, DEFAULT_CAPS).unwrap();
        assert!(
            f.files.contains(&"model.py".to_string()) && !f.files.contains(&"vendored.py".to_string()),
            "{:?}",
            f.files
        );
        // A context the build would refuse is not compared either, and says why.
        let tiny = Caps { bytes: 1500, entries: 10_000 };
        let why = check(&[("a".into(), d.clone()), ("b".into(), d)], None, THRESHOLD, tiny).notes;
        assert!(why.len() == 2 && why[0].contains("not compared") && why[0].contains("larger than"), "{why:?}");
    }

    #[test]
    fn junk_files_do_not_hide_a_copy_and_dense_input_stays_small() {
        let t = tempfile::tempdir().unwrap();
        let code = ORIGINAL.repeat(3);
        let original = submission(t.path(), "original", &[("solution.py", code.clone())]);
        let copy = submission(t.path(), "copy", &[("solution.py", code)]);
        for i in 0..(MAX_CODE_FILES + 1) {
            std::fs::write(copy.join(format!("junk_{i:05}.txt")), "").unwrap();
        }
        let found = check(&[("original".into(), original), ("copy".into(), copy)], None, THRESHOLD, DEFAULT_CAPS);
        assert_eq!(found.pairs.len(), 1, "{found:?}");
        // One fingerprint per distinct hash: a MiB of one repeated statement
        // is a handful of prints, not one per token.
        let dense = submission(t.path(), "dense", &[("d.py", "a=(b,c);".repeat(130_000))]);
        let f = fingerprints(&dense, DEFAULT_CAPS).unwrap();
        assert!(f.prints.len() < 50, "{} prints", f.prints.len());
        // Past the per-submission caps, reading stops and says so.
        let many: Vec<(String, String)> =
            (0..30).map(|i| (format!("m{i}.py"), format!("x{i} = 1\n").repeat(100_000))).collect();
        let many: Vec<(&str, String)> = many.iter().map(|(n, t)| (n.as_str(), t.clone())).collect();
        let big = submission(t.path(), "big", &many);
        let f = fingerprints(&big, Caps { bytes: 64 << 20, entries: 10_000 }).unwrap();
        assert!(f.truncated.as_deref().is_some_and(|t| t.contains("MiB of code")), "{:?}", f.truncated);
    }
}
