//! A byte-capped log: keeps the head and the tail, drops the middle, so a
//! flooding container can neither exhaust the grader's memory nor hide the
//! lines that explain a failure (which are usually last).

#[derive(Debug, Clone)]
pub struct LogBuffer {
    cap: usize,
    head: Vec<u8>,
    tail: std::collections::VecDeque<u8>,
    dropped: u64,
}

impl LogBuffer {
    /// Keeps at most `cap` bytes: a quarter from the start, the rest from the end.
    pub fn new(cap: usize) -> LogBuffer {
        LogBuffer { cap, head: Vec::new(), tail: Default::default(), dropped: 0 }
    }

    pub fn push(&mut self, bytes: &[u8]) {
        let head_cap = self.cap / 4;
        let mut rest = bytes;
        if self.head.len() < head_cap {
            let n = rest.len().min(head_cap - self.head.len());
            self.head.extend_from_slice(&rest[..n]);
            rest = &rest[n..];
        }
        let tail_cap = self.cap - head_cap;
        if rest.len() >= tail_cap {
            self.dropped += (self.tail.len() + rest.len() - tail_cap) as u64;
            self.tail.clear();
            self.tail.extend(&rest[rest.len() - tail_cap..]);
            return;
        }
        let overflow = (self.tail.len() + rest.len()).saturating_sub(tail_cap);
        self.tail.drain(..overflow);
        self.dropped += overflow as u64;
        self.tail.extend(rest);
    }

    pub fn dropped(&self) -> u64 {
        self.dropped
    }

    pub fn len(&self) -> usize {
        self.head.len() + self.tail.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The kept text, with a marker where bytes were dropped.
    pub fn text(&self) -> String {
        let mut out = String::from_utf8_lossy(&self.head).into_owned();
        if self.dropped > 0 {
            out.push_str(&format!("\n[… {} bytes dropped by the grader's log cap …]\n", self.dropped));
        }
        let (a, b) = self.tail.as_slices();
        out.push_str(&String::from_utf8_lossy(&[a, b].concat()));
        out
    }

    /// The last `n` lines of the kept text (for error messages and reports).
    pub fn tail_lines(&self, n: usize) -> String {
        last_lines(&self.text(), n)
    }
}

/// The last `n` lines of `text`.
pub fn last_lines(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_head_and_tail_within_the_cap() {
        let mut b = LogBuffer::new(200);
        for i in 0..1000 {
            b.push(format!("line {i}\n").as_bytes());
        }
        assert!(b.len() <= 200, "{}", b.len());
        let t = b.text();
        assert!(t.starts_with("line 0\nline 1\n"), "{t}");
        assert!(t.ends_with("line 999\n"), "{t}");
        assert!(t.contains("bytes dropped"));
        assert_eq!(b.dropped() as usize + b.len(), (0..1000).map(|i| format!("line {i}\n").len()).sum::<usize>());
    }

    #[test]
    fn small_logs_are_kept_whole() {
        let mut b = LogBuffer::new(1000);
        b.push(b"hello\n");
        b.push(b"world\n");
        assert_eq!(b.text(), "hello\nworld\n");
        assert_eq!(b.tail_lines(1), "world");
    }

    #[test]
    fn one_huge_chunk_is_capped() {
        let mut b = LogBuffer::new(100);
        b.push(&vec![b'x'; 1_000_000]);
        assert_eq!(b.len(), 100);
        assert_eq!(b.dropped(), 1_000_000 - 100);
    }
}
