//! Text a candidate controls (logs, names, messages, evidence) on its way to
//! a terminal or into Markdown. Pure functions: nothing the candidate wrote
//! may move the operator's cursor, retitle their terminal, close a code
//! fence or forge a heading or a table row.

use std::borrow::Cow;

/// Characters that steer a terminal or reorder text: C0 controls (but
/// newline and tab), DEL, C1 controls, and Unicode bidirectional overrides.
fn steers(c: char) -> bool {
    (c.is_control() && c != '\n' && c != '\t') || matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

fn escaped(c: char) -> String {
    match c {
        '\r' => "\\r".into(),
        '\n' => "\\n".into(),
        '\t' => "\\t".into(),
        c if (c as u32) < 0x100 => format!("\\x{:02x}", c as u32),
        c => format!("\\u{{{:x}}}", c as u32),
    }
}

/// Text for a terminal: lines and tabs kept, every other control or
/// escape sequence shown as `\x1b` etc., so it prints but does nothing.
pub fn terminal(s: &str) -> Cow<'_, str> {
    if !s.chars().any(steers) {
        return Cow::Borrowed(s);
    }
    Cow::Owned(s.chars().map(|c| if steers(c) { escaped(c) } else { c.to_string() }).collect())
}

/// One line for a terminal (a name, a cell): newlines and tabs escaped too.
pub fn terminal_line(s: &str) -> Cow<'_, str> {
    if !s.chars().any(|c| steers(c) || c == '\n' || c == '\t') {
        return Cow::Borrowed(s);
    }
    Cow::Owned(
        s.chars().map(|c| if steers(c) || c == '\n' || c == '\t' { escaped(c) } else { c.to_string() }).collect(),
    )
}

/// Inline Markdown (a table cell, a list item): one line, every character
/// with a meaning in Markdown backslash-escaped, no raw HTML.
pub fn md_inline(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in terminal_line(s).chars() {
        if matches!(
            c,
            '\\' | '`'
                | '*'
                | '_'
                | '['
                | ']'
                | '<'
                | '>'
                | '#'
                | '|'
                | '!'
                | '~'
                | '&'
                | '{'
                | '}'
                | '('
                | ')'
                | '+'
                | '-'
                | '.'
                | '='
                | '"'
                | '\''
                | '^'
                | '$'
                | ':'
                | '@'
        ) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// A fenced code block holding `s` verbatim (controls escaped): the fence
/// is longer than any run of backticks in it, so no line can close it.
pub fn md_code_block(s: &str) -> String {
    let body = terminal(s);
    let mut longest = 0;
    let mut run = 0;
    for c in body.chars() {
        if c == '`' {
            run += 1;
            longest = longest.max(run);
        } else {
            run = 0;
        }
    }
    let fence = "`".repeat((longest + 1).max(3));
    let nl = if body.ends_with('\n') || body.is_empty() { "" } else { "\n" };
    format!("{fence}text\n{body}{nl}{fence}\n")
}

/// A CSV cell a spreadsheet will not run: text starting with `=`, `+`, `-`,
/// `@`, a tab or a carriage return gets a leading `'` (OWASP's advice), and
/// so does every part after a `,` or `;` inside it: a spreadsheet that
/// guesses another separator (`;` in many locales) splits the cell there.
/// Quoting is the CSV writer's job.
pub fn csv_text(s: &str) -> String {
    let s = terminal_line(s);
    let mut out = String::with_capacity(s.len() + 1);
    let mut starts_a_cell = true;
    for c in s.chars() {
        if starts_a_cell && matches!(c, '=' | '+' | '-' | '@' | '\t' | '\r') {
            out.push('\'');
        }
        out.push(c);
        starts_a_cell = matches!(c, ',' | ';');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escape_sequences_are_shown_not_obeyed() {
        let hostile = "ok\x1b]0;owned\x07\x1b[2J\rline\u{9b}31m\u{202e}txt\nnext\ttab";
        let t = terminal(hostile);
        assert!(!t.chars().any(steers), "{t:?}");
        assert_eq!(t, "ok\\x1b]0;owned\\x07\\x1b[2J\\rline\\x9b31m\\u{202e}txt\nnext\ttab");
        assert_eq!(terminal("plain\ntext"), "plain\ntext");
        assert!(matches!(terminal("plain"), Cow::Borrowed(_)));
        assert_eq!(terminal_line("a\nb\tc"), "a\\nb\\tc");
    }

    #[test]
    fn markdown_cells_cannot_break_the_table_or_inject_html() {
        let cell = md_inline("a|b\n# head <script>x</script> [l](http://x)");
        assert!(!cell.contains('\n'));
        let chars: Vec<char> = cell.chars().collect();
        for (i, c) in chars.iter().enumerate() {
            if matches!(c, '|' | '<' | '>' | '[' | ']' | '(' | '#') {
                assert_eq!(chars[i - 1], '\\', "unescaped {c} at {i} in {cell}");
            }
        }
        assert_eq!(md_inline("|"), "\\|");
    }

    #[test]
    fn a_log_cannot_close_its_fence() {
        let block = md_code_block("before\n```\n# Forged heading\n````\nafter");
        let fence = block.lines().next().unwrap().trim_end_matches("text");
        assert_eq!(fence, "`````");
        let inner: Vec<&str> = block.lines().skip(1).collect();
        assert_eq!(inner.iter().filter(|l| l.starts_with(fence)).count(), 1, "only the closing fence: {block}");
        assert!(block.ends_with("`````\n"));
    }

    #[test]
    fn formulas_are_neutralised() {
        assert_eq!(csv_text("=HYPERLINK(\"x\")"), "'=HYPERLINK(\"x\")");
        assert_eq!(csv_text("+1"), "'+1");
        assert_eq!(csv_text("@SUM"), "'@SUM");
        assert_eq!(csv_text("alice"), "alice");
    }
}
