//! A calibration server for the latency probe: a minimal HTTP/1.1
//! keep-alive server on 127.0.0.1 whose latency is known. Every request waits
//! `delay`; with a stall, a request arriving inside `[from, from + length)`
//! after start first waits for the stall to end. Answers one prediction.
//! Used by the probe's accuracy tests and benchmarks.

use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::time::Instant;

const BODY: &[u8] = br#"{"predictions":[0],"probabilities":[0.5]}"#;

/// Starts the server on a free loopback port; returns its base URL. It
/// runs as long as the runtime does (tests, benchmarks).
pub async fn serve(delay: Duration, stall: Option<(Duration, Duration)>) -> String {
    let (url, handle) = serve_scoped(delay, stall).await;
    std::mem::forget(handle);
    url
}

/// Stops accepting when dropped; open connections end with their clients.
pub struct Running(tokio::task::JoinHandle<()>);

impl Drop for Running {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// As [`serve`], stopped when the returned handle is dropped (the latency
/// probe's calibration: one per window, none left behind).
pub async fn serve_scoped(delay: Duration, stall: Option<(Duration, Duration)>) -> (String, Running) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind loopback");
    let addr = listener.local_addr().expect("bound");
    let start = Instant::now();
    let stall = Arc::new(stall.map(|(from, len)| (start + from, start + from + len)));
    let task = tokio::spawn(async move {
        while let Ok((sock, _)) = listener.accept().await {
            let _ = sock.set_nodelay(true);
            tokio::spawn(connection(sock, delay, stall.clone()));
        }
    });
    (format!("http://{addr}"), Running(task))
}

async fn connection(mut sock: tokio::net::TcpStream, delay: Duration, stall: Arc<Option<(Instant, Instant)>>) {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 8192];
    let response = {
        let mut r =
            format!("HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n", BODY.len())
                .into_bytes();
        r.extend_from_slice(BODY);
        r
    };
    loop {
        // One request: the head up to its blank line, then Content-Length bytes.
        let head_end = loop {
            if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break i + 4;
            }
            match sock.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
        };
        let head = String::from_utf8_lossy(&buf[..head_end]).to_ascii_lowercase();
        let len: usize = head
            .lines()
            .find_map(|l| l.strip_prefix("content-length:").and_then(|v| v.trim().parse().ok()))
            .unwrap_or(0);
        while buf.len() < head_end + len {
            match sock.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
        }
        buf.drain(..head_end + len);
        let mut ready = Instant::now();
        if let Some((from, to)) = *stall {
            if ready >= from && ready < to {
                ready = to;
            }
        }
        // Precisely, not to the timer's millisecond: this is the truth the
        // probe is measured against.
        super::clock::wait_until(ready + delay).await;
        if sock.write_all(&response).await.is_err() {
            return;
        }
    }
}
