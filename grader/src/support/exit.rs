//! The exit-code contract, in one place. README.md documents the same table;
//! scripts and CI rely on it, so codes are never reused for something else.

/// Process exit codes of `grader`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Exit {
    /// The command did what was asked.
    Success = 0,
    /// The command ran, and its verdict is negative (reserved for gates such as
    /// a score band in `grader validate`).
    Failed = 1,
    /// Bad input: command-line usage, a malformed or invalid exercise file, a
    /// bad secret, an output directory that is not empty.
    Usage = 2,
    /// The exercise cannot produce a certified variant for the seed.
    Uncertifiable = 3,
    /// Reading or writing files failed.
    Io = 4,
    /// The infrastructure failed (Docker Engine unreachable, …): not the
    /// candidate's fault.
    Infrastructure = 5,
    /// Interrupted (SIGINT, Ctrl-C); cleanup ran.
    Interrupted = 130,
    /// Terminated (SIGTERM: CI cancelling a job, `timeout`, systemd); cleanup ran.
    Terminated = 143,
    /// Hung up (SIGHUP: the terminal closed); cleanup ran.
    HungUp = 129,
}

impl Exit {
    pub fn code(self) -> u8 {
        self as u8
    }

    /// The exit after cleanup for a signal: 128 + its number, as shells report.
    pub fn from_signal(signal: i32) -> Exit {
        match signal {
            libc::SIGTERM => Exit::Terminated,
            libc::SIGHUP => Exit::HungUp,
            _ => Exit::Interrupted,
        }
    }
}
