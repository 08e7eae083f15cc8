//! The Dockerfile policy: every instruction is a request to the engine, not
//! only `RUN`, so the Dockerfile is parsed and checked before anything
//! reaches the engine, and rewritten so that every image the build makes,
//! intermediate ones included, carries the run's labels.
//!
//! The parser follows the engine's (moby's `frontend/dockerfile/parser`):
//! parser directives (`# escape=`, `# syntax=`) only before anything else,
//! comment lines (also between continuation lines), a line ending in the
//! escape character continues, instructions are case-insensitive, and
//! heredocs (`<<EOF`) are recognised so that the policy can refuse them: the
//! engine's builder here does not honour them, and would read their bodies
//! as instructions.

use std::fmt;

/// One instruction, with the lines it spans (1-based, inclusive).
#[derive(Debug, Clone, PartialEq)]
pub struct Instruction {
    pub line: usize,
    pub end_line: usize,
    /// Upper-cased keyword (`FROM`, `RUN`, …).
    pub keyword: String,
    /// Everything after the keyword, continuation lines joined.
    pub rest: String,
    /// Heredoc delimiters opened by this instruction, if any.
    pub heredocs: Vec<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Dockerfile {
    pub escape: char,
    /// `(line, name, value)` of every parser directive.
    pub directives: Vec<(usize, String, String)>,
    pub instructions: Vec<Instruction>,
}

/// Why a Dockerfile is refused: where, and a one-line reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    pub line: usize,
    pub reason: String,
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Dockerfile:{}: {}", self.line, self.reason)
    }
}

pub fn parse(text: &str) -> Dockerfile {
    let lines: Vec<&str> = text.lines().collect();
    let mut escape = '\\';
    let mut directives = Vec::new();
    let mut i = 0;
    // Parser directives: `# key=value` lines at the very top; the first
    // other line (comment, blank or instruction) ends them.
    while i < lines.len() {
        let Some((k, v)) = directive(lines[i]) else { break };
        if k == "escape" && (v == "`" || v == "\\") {
            escape = v.chars().next().expect("one char");
        }
        directives.push((i + 1, k, v));
        i += 1;
    }
    let mut instructions = Vec::new();
    while i < lines.len() {
        let start = i;
        let first = lines[i].trim_start();
        i += 1;
        if first.is_empty() || first.starts_with('#') {
            continue;
        }
        // Join continuation lines; comment lines inside are dropped (as the
        // engine does), blank ones too.
        let mut joined = String::new();
        let mut cur = first.to_string();
        loop {
            let t = cur.trim_end();
            if let Some(body) = t.strip_suffix(escape) {
                joined.push_str(body);
                joined.push(' ');
                // Next non-comment line continues it.
                let mut next = None;
                while i < lines.len() {
                    let l = lines[i];
                    i += 1;
                    if l.trim_start().starts_with('#') || l.trim().is_empty() {
                        continue;
                    }
                    next = Some(l.to_string());
                    break;
                }
                match next {
                    Some(n) => cur = n,
                    None => break,
                }
            } else {
                joined.push_str(t);
                break;
            }
        }
        let (keyword, rest) = match joined.split_once(char::is_whitespace) {
            Some((k, r)) => (k.to_ascii_uppercase(), r.trim().to_string()),
            None => (joined.trim().to_ascii_uppercase(), String::new()),
        };
        let heredocs =
            if matches!(keyword.as_str(), "RUN" | "COPY" | "ADD") { heredoc_words(&rest) } else { Vec::new() };
        // A heredoc's body runs to a line that is exactly its delimiter
        // (leading tabs allowed for `<<-`).
        for word in &heredocs {
            while i < lines.len() {
                let l = lines[i];
                i += 1;
                if l.trim_start_matches('\t') == word || l.trim() == word {
                    break;
                }
            }
        }
        instructions.push(Instruction { line: start + 1, end_line: i, keyword, rest, heredocs });
    }
    Dockerfile { escape, directives, instructions }
}

/// `# key=value` (key lower-cased), or None for any other line.
fn directive(line: &str) -> Option<(String, String)> {
    let body = line.trim().strip_prefix('#')?.trim();
    let (k, v) = body.split_once('=')?;
    let k = k.trim();
    if k.is_empty() || !k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-') {
        return None;
    }
    Some((k.to_ascii_lowercase(), v.trim().to_string()))
}

/// Delimiters of heredocs in an instruction: whole words of the form
/// `<<EOF`, `<<-EOF`, `<<"EOF"` (optionally after a file descriptor), the
/// name starting with a letter or `_`, as BuildKit's parser has them.
fn heredoc_words(rest: &str) -> Vec<String> {
    rest.split_whitespace()
        .filter_map(|w| {
            let w = w.trim_start_matches(|c: char| c.is_ascii_digit()).strip_prefix("<<")?;
            let w = w.strip_prefix('-').unwrap_or(w);
            let w = w.trim_matches(|c| c == '"' || c == '\'');
            let mut cs = w.chars();
            let first = cs.next()?;
            ((first.is_ascii_alphabetic() || first == '_') && cs.all(|c| c.is_ascii_alphanumeric() || c == '_'))
                .then(|| w.to_string())
        })
        .collect()
}

/// The flags (`--name=value`) at the start of an instruction, and the rest.
fn flags(rest: &str) -> (Vec<(String, String)>, Vec<String>) {
    let mut flags = Vec::new();
    let args = words(rest);
    let mut it = args.into_iter().peekable();
    while let Some(a) = it.peek() {
        let Some(f) = a.strip_prefix("--") else { break };
        let (k, v) = f
            .split_once('=')
            .map(|(k, v)| (k.to_ascii_lowercase(), v.to_string()))
            .unwrap_or((f.to_ascii_lowercase(), String::new()));
        flags.push((k, v));
        it.next();
    }
    (flags, it.collect())
}

/// Arguments: the JSON array form, or whitespace-separated words.
fn words(rest: &str) -> Vec<String> {
    let t = rest.trim();
    if t.starts_with('[') {
        if let Ok(v) = serde_json::from_str::<Vec<String>>(t) {
            return v;
        }
    }
    t.split_whitespace().map(str::to_string).collect()
}

/// What the policy allows.
pub struct Policy<'a> {
    /// Images a stage may start from (the contract's base images).
    pub base_images: &'a [String],
}

/// Labels no Dockerfile may set: the grader's own, which cleanup relies on.
pub const RESERVED_LABEL_PREFIX: &str = "org.grader.";

const KNOWN: &[&str] = &[
    "FROM",
    "RUN",
    "CMD",
    "LABEL",
    "MAINTAINER",
    "EXPOSE",
    "ENV",
    "ADD",
    "COPY",
    "ENTRYPOINT",
    "VOLUME",
    "USER",
    "WORKDIR",
    "ARG",
    "ONBUILD",
    "STOPSIGNAL",
    "HEALTHCHECK",
    "SHELL",
];

fn is_remote(src: &str) -> bool {
    let l = src.to_ascii_lowercase();
    l.contains("://") || l.starts_with("git@") || l.ends_with(".git") || l.starts_with("github.com/")
}

/// Checks `df` against the policy; every violation, in file order.
pub fn check(df: &Dockerfile, policy: &Policy) -> Vec<Violation> {
    let mut out = Vec::new();
    let mut v = |line: usize, reason: String| out.push(Violation { line, reason });
    for (line, k, value) in &df.directives {
        if k == "syntax" {
            v(*line, format!("the `# syntax={value}` directive makes the engine fetch a front-end image; remove it"));
        }
    }
    let mut stages: Vec<Option<String>> = Vec::new();
    for ins in &df.instructions {
        let line = ins.line;
        if !ins.heredocs.is_empty() {
            v(line, format!("heredoc (<<{}) is not supported by this grader's builder; put the file in the submission and COPY it", ins.heredocs[0]));
            continue;
        }
        if !KNOWN.contains(&ins.keyword.as_str()) {
            v(line, format!("unknown instruction {}", ins.keyword));
            continue;
        }
        if stages.is_empty() && !matches!(ins.keyword.as_str(), "FROM" | "ARG") {
            v(line, format!("{} before the first FROM", ins.keyword));
            continue;
        }
        let (fl, args) = flags(&ins.rest);
        match ins.keyword.as_str() {
            "FROM" => {
                if let Some((f, _)) = fl.first() {
                    v(line, format!("FROM --{f} is not allowed"));
                }
                let image = args.first().cloned().unwrap_or_default();
                let name = match (args.get(1).map(|s| s.to_ascii_lowercase()), args.get(2)) {
                    (Some(a), Some(n)) if a == "as" => Some(n.to_ascii_lowercase()),
                    _ => None,
                };
                if image.contains('$') {
                    v(line, format!("FROM {image}: variables in FROM are not allowed; name the base image"));
                } else if image.is_empty() {
                    v(line, "FROM without an image".into());
                } else if !stages.iter().flatten().any(|s| *s == image.to_ascii_lowercase())
                    && !policy.base_images.contains(&image)
                    && image != "scratch"
                {
                    v(line, format!("FROM {image}: only the base image{} {} or an earlier stage of this file may be used",
                        if policy.base_images.len() == 1 { "" } else { "s" }, policy.base_images.join(", ")));
                }
                stages.push(name);
            }
            "ADD" | "COPY" => {
                for (f, val) in &fl {
                    match f.as_str() {
                        "from" => {
                            let earlier = match val.parse::<usize>() {
                                Ok(n) => n + 1 < stages.len(),
                                Err(_) => stages[..stages.len() - 1].iter().flatten().any(|s| *s == val.to_ascii_lowercase()),
                            };
                            if val.contains('$') || !earlier {
                                v(line, format!("{} --from={val}: only an earlier stage of this file may be copied from", ins.keyword));
                            }
                        }
                        "chown" | "chmod" | "link" => {}
                        other => v(line, format!("{} --{other} is not allowed", ins.keyword)),
                    }
                }
                let srcs = &args[..args.len().saturating_sub(1)];
                for s in srcs {
                    if is_remote(s) {
                        v(line, format!("{} {s}: URLs and git references are not allowed; everything comes from the submission", ins.keyword));
                    } else if s.contains('$') {
                        v(line, format!("{} {s}: variables in sources are not allowed", ins.keyword));
                    }
                }
            }
            "RUN" => {
                for (f, val) in &fl {
                    match f.as_str() {
                        "mount" => {
                            let kv: Vec<(&str, &str)> = val.split(',').map(|p| p.split_once('=').unwrap_or((p, ""))).collect();
                            let ty = kv.iter().find(|(k, _)| *k == "type").map(|(_, t)| *t).unwrap_or("bind");
                            let refers = kv.iter().any(|(k, _)| matches!(*k, "from" | "source" | "src"));
                            if !matches!(ty, "cache" | "tmpfs") || refers {
                                v(line, format!("RUN --mount={val}: only type=cache or type=tmpfs mounts of the build's own are allowed"));
                            }
                        }
                        other => v(line, format!("RUN --{other} is not allowed")),
                    }
                }
            }
            "ONBUILD" => v(line, "ONBUILD is not allowed".into()),
            "VOLUME" => v(line, "VOLUME is not allowed: it would give the read-only container unmetered disk (write to /tmp or /output)".into()),
            "LABEL"
                if ins.rest.to_ascii_lowercase().contains(RESERVED_LABEL_PREFIX) => {
                    v(line, format!("labels starting with {RESERVED_LABEL_PREFIX} are the grader's own"));
                }
            _ => {}
        }
    }
    if stages.is_empty() {
        out.push(Violation { line: 1, reason: "no FROM instruction".into() });
    }
    out
}

/// `text` with a `LABEL` of the grader's after every `FROM`, so that every
/// image the build commits (intermediate ones of every stage included)
/// carries them and cleanup by label finds it. `labels` are `key=value`
/// pairs of plain characters.
pub fn with_labels(text: &str, df: &Dockerfile, labels: &[(String, String)]) -> String {
    let label = format!("LABEL {}", labels.iter().map(|(k, v)| format!("{k}=\"{v}\"")).collect::<Vec<_>>().join(" "));
    let ends: Vec<usize> = df.instructions.iter().filter(|i| i.keyword == "FROM").map(|i| i.end_line).collect();
    let mut out = String::with_capacity(text.len() + ends.len() * (label.len() + 1));
    for (n, line) in text.lines().enumerate() {
        out.push_str(line);
        out.push('\n');
        if ends.contains(&(n + 1)) {
            out.push_str(&label);
            out.push('\n');
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy_check(text: &str) -> Vec<Violation> {
        let base = vec!["grader-py-ml:bookworm-2".to_string()];
        check(&parse(text), &Policy { base_images: &base })
    }

    #[test]
    fn continuation_comments_and_lower_case() {
        let df =
            parse("from grader-py-ml:bookworm-2\nrun echo a \\\n  # a comment inside\n  && echo b\n\nCOPY . /app\n");
        let k: Vec<_> = df.instructions.iter().map(|i| (i.keyword.as_str(), i.line, i.end_line)).collect();
        assert_eq!(k, vec![("FROM", 1, 1), ("RUN", 2, 4), ("COPY", 6, 6)]);
        assert_eq!(df.instructions[1].rest, "echo a    && echo b");
    }

    #[test]
    fn escape_directive_changes_the_continuation_character() {
        let df = parse("# escape=`\nFROM x\nRUN echo `\n  hi\nCOPY a\\ b\n");
        assert_eq!(df.escape, '`');
        assert_eq!(df.instructions.len(), 3);
        assert_eq!(df.instructions[1].rest, "echo    hi");
        assert_eq!(df.instructions[2].rest, "a\\ b", "a backslash is plain text under escape=`");
    }

    #[test]
    fn directives_only_at_the_top() {
        let df = parse("FROM x\n# syntax=docker/dockerfile:1\n");
        assert!(df.directives.is_empty());
        let df = parse("# syntax=docker/dockerfile:1\nFROM grader-py-ml:bookworm-2\n");
        assert_eq!(df.directives.len(), 1);
        let v = check(&df, &Policy { base_images: &["grader-py-ml:bookworm-2".into()] });
        assert_eq!(v.len(), 1, "{v:?}");
        assert!(v[0].reason.contains("syntax"));
    }

    #[test]
    fn heredoc_bodies_are_not_instructions_and_are_refused() {
        assert!(parse("FROM x\nRUN python3 -c 'print(1<<2)' && cat <<< hi\nCMD x\n")
            .instructions
            .iter()
            .all(|i| i.heredocs.is_empty()));
        let df = parse("FROM x\nRUN <<EOF\nADD http://10.0.0.1/x /x\nEOF\nCMD [\"a\"]\n");
        let k: Vec<_> = df.instructions.iter().map(|i| i.keyword.as_str()).collect();
        assert_eq!(k, vec!["FROM", "RUN", "CMD"]);
        assert_eq!(df.instructions[1].heredocs, vec!["EOF"]);
        let v = policy_check("FROM grader-py-ml:bookworm-2\nRUN <<-\"END\"\n\techo hi\n\tEND\n");
        assert_eq!(v.len(), 1, "{v:?}");
        assert_eq!(v[0].line, 2);
        assert!(v[0].reason.contains("heredoc"));
    }

    #[test]
    fn the_reference_style_dockerfile_passes() {
        let v = policy_check(
            "FROM grader-py-ml:bookworm-2 AS build\nWORKDIR /app\nCOPY --chown=10001 app/ /app/\nRUN python3 -m compileall .\n\
             FROM grader-py-ml:bookworm-2\nCOPY --from=build /app /app\nCOPY --from=0 /app /app2\nENV PYTHONUNBUFFERED=1\nUSER 10001\n\
             EXPOSE 8080\nHEALTHCHECK CMD true\nRUN --mount=type=cache,target=/root/.cache true\nCMD [\"python3\", \"-m\", \"app.main\"]\n",
        );
        assert!(v.is_empty(), "{v:?}");
    }

    #[test]
    fn every_refused_case_names_its_line() {
        let cases: &[(&str, &str)] = &[
            ("ADD http://127.0.0.1:9/x /x", "URLs"),
            ("add HTTPS://example.invalid/x /x", "URLs"),
            ("ADD [\"http://h/x\", \"/x\"]", "URLs"),
            ("ADD git@github.com:a/b.git /src", "git"),
            ("COPY --from=other-image:1 /a /a", "earlier stage"),
            ("COPY --from=5 /a /a", "earlier stage"),
            ("COPY --from=$X /a /a", "earlier stage"),
            ("ADD $URL /x", "variables"),
            ("ONBUILD RUN true", "ONBUILD"),
            ("RUN --network=host true", "--network"),
            ("RUN --mount=type=bind,source=/,target=/h true", "--mount"),
            ("RUN --mount=type=secret,id=x true", "--mount"),
            ("RUN --mount=type=cache,from=img,target=/c true", "--mount"),
            ("RUN --security=insecure true", "--security"),
            ("VOLUME /scratch", "VOLUME"),
            ("LABEL org.grader.run=other", "grader's own"),
            ("FROB x", "unknown instruction"),
            ("ADD --checksum=sha256:0 a /a", "--checksum"),
        ];
        for (ins, why) in cases {
            let v = policy_check(&format!("FROM grader-py-ml:bookworm-2\n{ins}\n"));
            assert_eq!(v.len(), 1, "{ins}: {v:?}");
            assert_eq!(v[0].line, 2, "{ins}");
            assert!(v[0].reason.contains(why), "{ins}: {}", v[0].reason);
        }
    }

    #[test]
    fn only_the_base_image_or_an_earlier_stage_may_be_a_parent() {
        for from in [
            "FROM localhost:5000/x",
            "FROM 127.0.0.1:5000/img:1",
            "FROM python:3.11",
            "FROM grader-submission:abc",
            "FROM ${BASE}",
            "FROM --platform=linux/amd64 grader-py-ml:bookworm-2",
            "FROM later",
        ] {
            let v = policy_check(&format!("ARG BASE=x\n{from}\nFROM grader-py-ml:bookworm-2 AS later\n"));
            assert_eq!(v.len(), 1, "{from}: {v:?}");
            assert_eq!(v[0].line, 2, "{from}");
        }
        assert!(
            policy_check("FROM grader-py-ml:bookworm-2 AS a\nFROM a AS b\nFROM B\n").is_empty(),
            "stage names are case-insensitive"
        );
        assert!(policy_check("FROM scratch\n").is_empty());
        assert_eq!(policy_check("# nothing\n")[0].reason, "no FROM instruction");
        assert_eq!(policy_check("RUN true\nFROM grader-py-ml:bookworm-2\n")[0].reason, "RUN before the first FROM");
    }

    #[test]
    fn labels_follow_every_from_even_a_continued_one() {
        let text = "FROM grader-py-ml:bookworm-2 \\\n  AS a\nRUN true\nFROM a\nCMD x\n";
        let out = with_labels(text, &parse(text), &[("org.grader.run".into(), "r1".into())]);
        assert_eq!(out, "FROM grader-py-ml:bookworm-2 \\\n  AS a\nLABEL org.grader.run=\"r1\"\nRUN true\nFROM a\nLABEL org.grader.run=\"r1\"\nCMD x\n");
        assert!(
            check(&parse(&out), &Policy { base_images: &["grader-py-ml:bookworm-2".into()] }).len() == 2,
            "the injected labels are reserved for the grader"
        );
    }
}
