//! Probes of a serving API (contract v1). Each probe returns typed metrics;
//! `score` turns metrics into checks. Probes never see the answer key except
//! where they must (which rows to send, which labels to compare with).

pub mod clock;
pub mod contract;
pub mod correctness;
pub mod drift;
pub mod latency;
pub mod loopback;
pub mod replay;
pub mod robustness;
pub mod service;

use std::time::Duration;

use serde_json::Value;

/// A service to probe: a client and a base URL. Built from a sandbox
/// [`crate::sandbox::run::Service`] (unix socket) or from `--url`.
#[derive(Clone)]
pub struct Target {
    pub client: reqwest::Client,
    /// Opens a new connection for every request (robustness cases).
    fresh: reqwest::Client,
    base: String,
    /// Responses larger than this are cut off and count as errors.
    pub max_response_bytes: usize,
    pub timeout: Duration,
}

/// Why a request got no usable answer.
#[derive(Debug, Clone, PartialEq)]
pub enum Failure {
    Timeout,
    Connection(String),
    TooLarge(usize),
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Failure::Timeout => write!(f, "timed out"),
            Failure::Connection(e) => write!(f, "no answer: {e}"),
            Failure::TooLarge(n) => write!(f, "response larger than {n} bytes"),
        }
    }
}

/// A response: status and (capped) body.
#[derive(Debug, Clone)]
pub struct Answer {
    pub status: u16,
    pub body: Vec<u8>,
}

impl Answer {
    pub fn json(&self) -> Option<Value> {
        serde_json::from_slice(&self.body).ok()
    }
}

impl Target {
    pub fn new(
        client: reqwest::Client,
        base: impl Into<String>,
        max_response_bytes: usize,
        timeout: Duration,
    ) -> Target {
        Target {
            fresh: client.clone(),
            client,
            base: base.into().trim_end_matches('/').to_string(),
            max_response_bytes,
            timeout,
        }
    }

    /// Requests through [`Target::fresh`] go over `client`, which must keep
    /// no idle connection.
    pub fn with_fresh_connections(mut self, client: reqwest::Client) -> Target {
        self.fresh = client;
        self
    }

    /// This target, with every request on a connection of its own.
    pub fn fresh(&self) -> Target {
        Target { client: self.fresh.clone(), ..self.clone() }
    }

    /// A target for a service at `url` (no Docker): loopback only.
    pub fn for_url(url: &str, max_response_bytes: usize, timeout: Duration) -> Result<Target, String> {
        let parsed = reqwest::Url::parse(url).map_err(|e| format!("--url {url:?}: {e}"))?;
        let host = parsed.host_str().unwrap_or_default();
        let local = host == "localhost"
            || host.parse::<std::net::IpAddr>().map(|ip| ip.is_loopback()).unwrap_or(false)
            || host
                .trim_matches(|c| c == '[' || c == ']')
                .parse::<std::net::Ipv6Addr>()
                .map(|ip| ip.is_loopback())
                .unwrap_or(false);
        if !local {
            return Err(format!(
                "--url {url:?}: only services on this machine's loopback (127.0.0.0/8, ::1, localhost) are probed"
            ));
        }
        let build = |idle: usize| {
            reqwest::Client::builder()
                .no_proxy()
                .tcp_nodelay(true)
                .timeout(timeout)
                .pool_max_idle_per_host(idle)
                .build()
                .map_err(|e| e.to_string())
        };
        let (client, fresh) = (build(64)?, build(0)?);
        Ok(Target::new(client, url, max_response_bytes, timeout).with_fresh_connections(fresh))
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub async fn get(&self, path: &str) -> Result<Answer, Failure> {
        self.send(self.client.get(self.url(path))).await
    }

    pub async fn post(&self, path: &str, body: Vec<u8>) -> Result<Answer, Failure> {
        self.send(self.client.post(self.url(path)).header("content-type", "application/json").body(body)).await
    }

    /// Sends and reads the body chunk by chunk, stopping at the cap, all
    /// within the timeout (a trickling server cannot hold a probe forever).
    pub async fn send(&self, req: reqwest::RequestBuilder) -> Result<Answer, Failure> {
        let max = self.max_response_bytes;
        let work = async {
            let mut resp = req.send().await.map_err(|e| {
                if e.is_timeout() {
                    Failure::Timeout
                } else {
                    Failure::Connection(root_cause(&e))
                }
            })?;
            let status = resp.status().as_u16();
            let mut body = Vec::new();
            while let Some(chunk) = resp.chunk().await.map_err(|e| {
                if e.is_timeout() {
                    Failure::Timeout
                } else {
                    Failure::Connection(root_cause(&e))
                }
            })? {
                if body.len() + chunk.len() > max {
                    return Err(Failure::TooLarge(max));
                }
                body.extend_from_slice(&chunk);
            }
            Ok(Answer { status, body })
        };
        tokio::time::timeout(self.timeout, work).await.unwrap_or(Err(Failure::Timeout))
    }
}

fn root_cause(e: &dyn std::error::Error) -> String {
    let mut cur = e;
    while let Some(next) = cur.source() {
        cur = next;
    }
    cur.to_string()
}

/// Checks a `/predict` answer for `n` rows: 200, both lists of length `n`,
/// predictions 0 or 1, probabilities in [0, 1]. Returns the probabilities.
pub fn parse_predictions(answer: &Answer, n: usize) -> Result<Vec<f64>, String> {
    if answer.status != 200 {
        return Err(format!("status {} (expected 200): {}", answer.status, excerpt(&answer.body)));
    }
    let v = answer.json().ok_or_else(|| format!("body is not JSON: {}", excerpt(&answer.body)))?;
    let list = |k: &str| {
        v.get(k).and_then(Value::as_array).ok_or_else(|| format!("no `{k}` list in {}", excerpt(&answer.body)))
    };
    let preds = list("predictions")?;
    let probs = list("probabilities")?;
    if preds.len() != n || probs.len() != n {
        return Err(format!("{} predictions and {} probabilities for {n} rows", preds.len(), probs.len()));
    }
    if let Some(p) = preds.iter().find(|p| !matches!(p.as_f64(), Some(x) if x == 0.0 || x == 1.0)) {
        return Err(format!("prediction {p} is not 0 or 1"));
    }
    probs
        .iter()
        .map(|p| match p.as_f64() {
            Some(x) if (0.0..=1.0).contains(&x) => Ok(x),
            _ => Err(format!("probability {p} is not a number in [0, 1]")),
        })
        .collect()
}

/// The first 200 characters of a body, for evidence messages.
pub fn excerpt(body: &[u8]) -> String {
    let s = String::from_utf8_lossy(body);
    let s: String = s.chars().take(200).collect();
    s.replace('\n', " ")
}

/// `{"rows": [...]}` as bytes.
pub fn predict_body(rows: &[datasets::sealed::Row]) -> Vec<u8> {
    serde_json::to_vec(&serde_json::json!({ "rows": rows })).expect("rows serialise")
}
