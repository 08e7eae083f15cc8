//! Running a built image: the candidate's container locked down with no
//! network at all, and a relay container sharing its network namespace that
//! exposes the service port as a unix socket for the grader.

use std::collections::HashMap;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use bollard::models::{ContainerCreateBody, HostConfig, HostConfigLogConfig, PortBinding, ResourcesUlimits};
use bollard::query_parameters::{CreateContainerOptions, LogsOptions, StopContainerOptions};
use bollard::Docker;
use futures_util::StreamExt;
use tempfile::TempDir;

use super::logbuf::LogBuffer;
use super::{Limits, RunId, SandboxError, CANDIDATE_USER};

const RELAY: &str = include_str!("relay.py");
const SOCKET: &str = "api.sock";

/// How the grader reaches the service.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Access {
    /// Network mode `none` and a relay exposing the port as a unix socket:
    /// the service reaches nothing, not even this host. The default.
    #[default]
    Socket,
    /// Fallback for engines whose bind-mounted unix sockets the host cannot
    /// open (Docker Desktop's VM): the port is published on 127.0.0.1 only.
    /// The container then sits on the default bridge and CAN reach the
    /// network, so this is for a candidate's self-check on their own
    /// machine, never for grading others' code.
    LoopbackPort,
}

/// What to run.
pub struct RunConfig<'a> {
    pub image: &'a str,
    /// The variant's `public/` directory, mounted read-only at `/data`.
    pub data_dir: &'a Path,
    pub limits: &'a Limits,
    pub run: &'a RunId,
    pub access: Access,
}

/// A started service: its containers, its `/output`, and a client that
/// reaches it through the relay's socket.
pub struct Service {
    pub candidate: String,
    pub relay: Option<String>,
    output: TempDir,
    sock_dir: TempDir,
    client: reqwest::Client,
    base: String,
    limits: Limits,
    started: Instant,
}

/// The candidate container's final state and logs.
#[derive(Debug, Clone)]
pub struct Stopped {
    /// Whether it had exited on its own before the grader stopped it.
    pub exited_by_itself: bool,
    pub exit_code: Option<i64>,
    pub oom_killed: bool,
    pub logs: String,
    pub log_bytes_dropped: u64,
}

/// Live state of the candidate container.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct State {
    pub running: bool,
    pub exit_code: Option<i64>,
    pub oom_killed: bool,
}

pub async fn start(docker: &Docker, cfg: &RunConfig<'_>) -> Result<Service, SandboxError> {
    let limits = cfg.limits;
    let output = shared_dir("grader-output-")?;
    let sock_dir = shared_dir("grader-sock-")?;
    let data = cfg.data_dir.canonicalize().map_err(|source| SandboxError::Io { path: cfg.data_dir.into(), source })?;
    let mb = |m: u64| (m * 1024 * 1024) as i64;

    let candidate = ContainerCreateBody {
        image: Some(cfg.image.to_string()),
        user: Some(CANDIDATE_USER.into()),
        env: Some(vec![
            format!("PORT={}", limits.port),
            "DATA_DIR=/data".into(),
            "OUTPUT_DIR=/output".into(),
            "HOME=/tmp".into(),
        ]),
        labels: Some(cfg.run.labels("candidate")),
        host_config: Some(HostConfig {
            binds: Some(vec![
                format!("{}:/data:ro", data.display()),
                format!("{}:/output:rw", output.path().display()),
            ]),
            tmpfs: Some(HashMap::from([("/tmp".to_string(), "rw,nosuid,nodev,size=256m,mode=1777".to_string())])),
            readonly_rootfs: Some(true),
            cap_drop: Some(vec!["ALL".into()]),
            security_opt: Some(vec!["no-new-privileges:true".into()]),
            memory: Some(mb(limits.memory_mb)),
            memory_swap: Some(mb(limits.memory_mb)),
            nano_cpus: Some((limits.cpus * 1e9) as i64),
            pids_limit: Some(limits.pids),
            ulimits: Some(vec![ResourcesUlimits {
                name: Some("nofile".into()),
                soft: Some(limits.nofile as i64),
                hard: Some(limits.nofile as i64),
            }]),
            log_config: Some(log_config(limits.log_bytes)),
            // No interface but loopback: neither other hosts nor this host.
            network_mode: Some("none".into()),
            ..Default::default()
        }),
        ..Default::default()
    };
    let port_key = format!("{}/tcp", limits.port);
    let mut candidate = candidate;
    if cfg.access == Access::LoopbackPort {
        let hc = candidate.host_config.as_mut().expect("set above");
        hc.network_mode = Some("bridge".into());
        hc.port_bindings = Some(HashMap::from([(
            port_key.clone(),
            Some(vec![PortBinding { host_ip: Some("127.0.0.1".into()), host_port: None }]),
        )]));
        candidate.exposed_ports = Some(vec![port_key.clone()]);
    }
    let candidate_id = create(docker, candidate, "candidate", cfg.run).await?;
    docker
        .start_container(&candidate_id, None)
        .await
        .map_err(SandboxError::docker("start candidate container"))?;

    if cfg.access == Access::LoopbackPort {
        let info = docker
            .inspect_container(&candidate_id, None)
            .await
            .map_err(SandboxError::docker("inspect candidate container"))?;
        let host_port = info
            .network_settings
            .and_then(|n| n.ports)
            .and_then(|p| p.get(&port_key).cloned().flatten())
            .and_then(|b| b.into_iter().find_map(|b| b.host_port))
            .ok_or_else(|| SandboxError::Io {
                path: PathBuf::from(&port_key),
                source: std::io::Error::other("the engine published no host port"),
            })?;
        let client = http_client(reqwest::Client::builder(), limits, &PathBuf::from(&port_key))?;
        return Ok(Service {
            candidate: candidate_id,
            relay: None,
            output,
            sock_dir,
            client,
            base: format!("http://127.0.0.1:{host_port}"),
            limits: limits.clone(),
            started: Instant::now(),
        });
    }

    let relay = ContainerCreateBody {
        image: Some(limits.base_image.clone()),
        user: Some(CANDIDATE_USER.into()),
        cmd: Some(vec!["python3".into(), "-c".into(), RELAY.into()]),
        env: Some(vec![format!("TARGET_PORT={}", limits.port)]),
        labels: Some(cfg.run.labels("relay")),
        host_config: Some(HostConfig {
            network_mode: Some(format!("container:{candidate_id}")),
            binds: Some(vec![format!("{}:/sock:rw", sock_dir.path().display())]),
            readonly_rootfs: Some(true),
            cap_drop: Some(vec!["ALL".into()]),
            security_opt: Some(vec!["no-new-privileges:true".into()]),
            memory: Some(mb(128)),
            memory_swap: Some(mb(128)),
            pids_limit: Some(256),
            log_config: Some(log_config(1024 * 1024)),
            ..Default::default()
        }),
        ..Default::default()
    };
    let relay_id = create(docker, relay, "relay", cfg.run).await?;
    docker.start_container(&relay_id, None).await.map_err(SandboxError::docker("start relay container"))?;

    let socket = sock_dir.path().join(SOCKET);
    let client = http_client(reqwest::Client::builder().unix_socket(socket.clone()), limits, &socket)?;
    Ok(Service {
        candidate: candidate_id,
        relay: Some(relay_id),
        output,
        sock_dir,
        client,
        // The host part is ignored: every connection goes to the socket.
        base: "http://candidate".into(),
        limits: limits.clone(),
        started: Instant::now(),
    })
}

async fn create(docker: &Docker, body: ContainerCreateBody, role: &str, run: &RunId) -> Result<String, SandboxError> {
    let options = CreateContainerOptions { name: Some(format!("grader-{run}-{role}")), ..Default::default() };
    Ok(docker
        .create_container(Some(options), body)
        .await
        .map_err(SandboxError::docker("create container"))?
        .id)
}

/// The probes' client: never a proxy (an HTTP_PROXY in the environment must
/// not route traffic off this machine), the contract's request timeout.
fn http_client(b: reqwest::ClientBuilder, limits: &Limits, at: &Path) -> Result<reqwest::Client, SandboxError> {
    b.no_proxy()
        .timeout(limits.request_timeout)
        .pool_max_idle_per_host(64)
        .build()
        .map_err(|e| SandboxError::Io { path: at.into(), source: std::io::Error::other(e) })
}

fn log_config(bytes: u64) -> HostConfigLogConfig {
    HostConfigLogConfig {
        typ: Some("json-file".into()),
        config: Some(HashMap::from([
            ("max-size".to_string(), bytes.max(1024).to_string()),
            ("max-file".to_string(), "1".to_string()),
        ])),
    }
}

/// A host directory the container's unprivileged user may write to.
fn shared_dir(prefix: &str) -> Result<TempDir, SandboxError> {
    let dir = tempfile::Builder::new()
        .prefix(prefix)
        .tempdir()
        .map_err(|source| SandboxError::Io { path: std::env::temp_dir(), source })?;
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o777))
        .map_err(|source| SandboxError::Io { path: dir.path().into(), source })?;
    Ok(dir)
}

impl Service {
    /// HTTP client that reaches the service (through the relay's socket).
    pub fn client(&self) -> &reqwest::Client {
        &self.client
    }

    /// URL of `path` on the service.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// The relay's socket, when reached through one.
    pub fn socket(&self) -> Option<PathBuf> {
        self.relay.as_ref().map(|_| self.sock_dir.path().join(SOCKET))
    }

    /// The host directory mounted at `/output`.
    pub fn output_dir(&self) -> &Path {
        self.output.path()
    }

    pub async fn state(&self, docker: &Docker) -> Result<State, SandboxError> {
        let c = docker
            .inspect_container(&self.candidate, None)
            .await
            .map_err(SandboxError::docker("inspect candidate container"))?;
        let s = c.state.unwrap_or_default();
        Ok(State {
            running: s.running.unwrap_or(false),
            exit_code: s.exit_code,
            oom_killed: s.oom_killed.unwrap_or(false),
        })
    }

    /// Polls `GET /health` until it answers 200, the container exits, or
    /// the startup deadline (which covers training) passes.
    pub async fn wait_ready(&self, docker: &Docker) -> Result<Duration, SandboxError> {
        let deadline = self.started + self.limits.startup_timeout;
        let mut last_status = None;
        loop {
            let state = self.state(docker).await?;
            if !state.running {
                return Err(if state.oom_killed {
                    SandboxError::OomKilled { limit_mb: self.limits.memory_mb }
                } else {
                    SandboxError::Exited(state.exit_code.unwrap_or(-1))
                });
            }
            let probe = self.client.get(self.url("/health")).timeout(Duration::from_secs(2)).send();
            if let Ok(resp) = probe.await {
                if resp.status().as_u16() == 200 {
                    return Ok(self.started.elapsed());
                }
                last_status = Some(resp.status().as_u16());
            }
            if Instant::now() >= deadline {
                return Err(match last_status {
                    Some(status) => SandboxError::Unhealthy { status, after: self.limits.startup_timeout },
                    None => SandboxError::StartupTimeout(self.limits.startup_timeout),
                });
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }

    /// Stops the candidate at once (SIGKILL: a server that is PID 1 often
    /// ignores SIGTERM, and grading needs its logs, not a graceful exit),
    /// and returns its final state and capped logs. The relay goes with the
    /// cleanup.
    pub async fn stop(&self, docker: &Docker) -> Result<Stopped, SandboxError> {
        let before = self.state(docker).await?;
        if before.running {
            let _ = docker
                .stop_container(&self.candidate, Some(StopContainerOptions { t: Some(0), ..Default::default() }))
                .await;
        }
        let after = self.state(docker).await?;
        let mut log = LogBuffer::new(self.limits.log_bytes as usize);
        let options = LogsOptions { stdout: true, stderr: true, follow: false, tail: "all".into(), ..Default::default() };
        let mut logs = docker.logs(&self.candidate, Some(options));
        while let Some(chunk) = logs.next().await {
            match chunk {
                Ok(out) => log.push(&out.into_bytes()),
                Err(e) => {
                    log.push(format!("[grader: log stream ended: {e}]\n").as_bytes());
                    break;
                }
            }
        }
        Ok(Stopped {
            exited_by_itself: !before.running,
            exit_code: after.exit_code,
            oom_killed: after.oom_killed,
            logs: log.text(),
            log_bytes_dropped: log.dropped(),
        })
    }

    /// Reads a file the candidate wrote to `/output`, at most `max` bytes,
    /// refusing symlinks (the candidate controls that directory; a link to a
    /// host file must not be followed by the grader).
    pub fn read_output(&self, name: &str, max: u64) -> std::io::Result<Vec<u8>> {
        read_no_follow(&self.output.path().join(name), max)
    }
}

/// Opens `path` without following a final symlink and reads at most `max` bytes.
pub fn read_no_follow(path: &Path, max: u64) -> std::io::Result<Vec<u8>> {
    use std::io::Read;
    use std::os::unix::fs::OpenOptionsExt;
    let file = std::fs::OpenOptions::new().read(true).custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK).open(path)?;
    let meta = file.metadata()?;
    if !meta.is_file() {
        return Err(std::io::Error::new(std::io::ErrorKind::InvalidInput, "not a regular file"));
    }
    let mut buf = Vec::new();
    file.take(max).read_to_end(&mut buf)?;
    Ok(buf)
}
