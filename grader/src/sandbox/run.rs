//! Running a built image: the candidate's container locked down with no
//! network at all, and a relay container sharing its network namespace that
//! exposes the service port as a unix socket for the grader.

use std::collections::HashMap;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use bollard::models::{
    ContainerCreateBody, HostConfig, HostConfigLogConfig, Mount, MountType, PortBinding, ResourcesUlimits,
    VolumeCreateRequest,
};
use bollard::query_parameters::{
    CreateContainerOptions, DownloadFromContainerOptions, LogsOptions, StopContainerOptions,
};
use bollard::Docker;
use futures_util::StreamExt;
use tempfile::TempDir;

use super::logbuf::LogBuffer;
use super::{Limits, RunId, SandboxError, CANDIDATE_USER};

const RELAY: &str = include_str!("relay.py");
const SOCKET: &str = "api.sock";
/// The relay's own liveness socket: it answers `ok` while its loop runs.
const CONTROL: &str = "relay.sock";

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
    sock_dir: TempDir,
    client: reqwest::Client,
    /// A client that opens a new connection for every request.
    fresh: reqwest::Client,
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
    let sock_dir = shared_dir("grader-sock-")?;
    let data = cfg.data_dir.canonicalize().map_err(|source| SandboxError::Io { path: cfg.data_dir.into(), source })?;
    let mb = |m: u64| (m * 1024 * 1024) as i64;
    // /output: a tmpfs of `output_mb` in a volume of the run's, so the cap
    // holds, whatever is written there goes with the volume (however deep
    // or odd its tree), and the grader reads it back through the engine.
    let output = format!("grader-{}-output", cfg.run);
    docker
        .create_volume(VolumeCreateRequest {
            name: Some(output.clone()),
            driver: Some("local".into()),
            driver_opts: Some(HashMap::from([
                ("type".to_string(), "tmpfs".to_string()),
                ("device".to_string(), "tmpfs".to_string()),
                (
                    "o".to_string(),
                    format!("size={}m,uid=10001,gid=10001,mode=0755,nosuid,nodev,noexec", limits.output_mb),
                ),
            ])),
            labels: Some(cfg.run.labels("output")),
            ..Default::default()
        })
        .await
        .map_err(SandboxError::docker("create the /output volume"))?;
    // Paths the image declares as volumes would get writable, uncapped
    // anonymous volumes: a small tmpfs goes over each instead (the
    // Dockerfile policy refuses VOLUME; an image could still carry one).
    let mut tmpfs = HashMap::from([("/tmp".to_string(), "rw,nosuid,nodev,size=256m,mode=1777".to_string())]);
    let image = docker.inspect_image(cfg.image).await.map_err(SandboxError::docker("inspect the image to run"))?;
    for path in image.config.and_then(|c| c.volumes).unwrap_or_default() {
        if path != "/output" {
            tmpfs.insert(path, "rw,nosuid,nodev,size=16m,mode=1777".to_string());
        }
    }

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
            binds: Some(vec![format!("{}:/data:ro", data.display())]),
            mounts: Some(vec![Mount {
                target: Some("/output".into()),
                source: Some(output.clone()),
                typ: Some(MountType::VOLUME),
                read_only: Some(false),
                ..Default::default()
            }]),
            tmpfs: Some(tmpfs),
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
    if let Err(e) = docker.start_container(&candidate_id, None).await {
        return Err(start_error(docker, &candidate_id, e).await);
    }

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
        let (client, fresh) = http_client(reqwest::Client::builder, limits, &PathBuf::from(&port_key))?;
        return Ok(Service {
            candidate: candidate_id,
            relay: None,
            sock_dir,
            client,
            fresh,
            base: format!("http://127.0.0.1:{host_port}"),
            limits: limits.clone(),
            started: Instant::now(),
        });
    }

    let relay = ContainerCreateBody {
        image: Some(limits.base_image.clone()),
        user: Some(CANDIDATE_USER.into()),
        cmd: Some(vec!["python3".into(), "-c".into(), RELAY.into()]),
        env: Some(vec![format!("TARGET_PORT={}", limits.port), format!("MAX_CONNECTIONS={RELAY_MAX_CONNECTIONS}")]),
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
    let relay_id =
        create(docker, relay, "relay", cfg.run).await.map_err(|e| SandboxError::Setup(format!("the relay: {e}")))?;
    if let Err(e) = docker.start_container(&relay_id, None).await {
        // Joining a namespace fails when the candidate has already exited:
        // that is the candidate's crash, not the relay's.
        let c = docker
            .inspect_container(&candidate_id, None)
            .await
            .map_err(SandboxError::docker("inspect candidate container"))?;
        let s = c.state.unwrap_or_default();
        if !s.running.unwrap_or(false) {
            return Err(if s.oom_killed.unwrap_or(false) {
                SandboxError::OomKilled { limit_mb: limits.memory_mb }
            } else {
                SandboxError::Exited(s.exit_code.unwrap_or(-1))
            });
        }
        return Err(SandboxError::Setup(format!("the relay container did not start: {e}")));
    }

    let socket = sock_dir.path().join(SOCKET);
    let (client, fresh) = http_client(|| reqwest::Client::builder().unix_socket(socket.clone()), limits, &socket)?;
    let service = Service {
        candidate: candidate_id,
        relay: Some(relay_id),
        sock_dir,
        client,
        fresh,
        // The host part is ignored: every connection goes to the socket.
        base: "http://candidate".into(),
        limits: limits.clone(),
        started: Instant::now(),
    };
    // The relay must answer before anything is judged through it.
    let relay_deadline = Instant::now() + Duration::from_secs(30);
    while !service.relay_alive(docker).await {
        let state = service.state(docker).await?;
        if !state.running {
            return Err(if state.oom_killed {
                SandboxError::OomKilled { limit_mb: limits.memory_mb }
            } else {
                SandboxError::Exited(state.exit_code.unwrap_or(-1))
            });
        }
        if Instant::now() > relay_deadline {
            return Err(SandboxError::Setup("the grader's relay did not come up within 30 s".into()));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Ok(service)
}

/// Connections the relay serves at once; more wait in its backlog. Above
/// the latency probe's in-flight cap, far below what its one thread holds.
pub const RELAY_MAX_CONNECTIONS: usize = 2048;

/// Creates a container. The engine refusing the image's own configuration
/// (no command, a bad user or working directory: a 4xx) is the
/// candidate's; anything else is the engine's.
async fn create(docker: &Docker, body: ContainerCreateBody, role: &str, run: &RunId) -> Result<String, SandboxError> {
    let options = CreateContainerOptions { name: Some(format!("grader-{run}-{role}")), ..Default::default() };
    match docker.create_container(Some(options), body).await {
        Ok(r) => Ok(r.id),
        Err(bollard::errors::Error::DockerResponseServerError { status_code, message })
            if status_code < 500 && role == "candidate" =>
        {
            Err(SandboxError::StartFailed(message))
        }
        Err(e) => Err(SandboxError::Docker { during: "create container", source: e }),
    }
}

/// Why the candidate's container did not start, by evidence: a 4xx, or a
/// start error the engine recorded on the container itself (its command
/// does not exist, …), is the candidate's; an engine that does not answer,
/// or fails without such a record, is infrastructure.
async fn start_error(docker: &Docker, id: &str, e: bollard::errors::Error) -> SandboxError {
    if let bollard::errors::Error::DockerResponseServerError { status_code, message } = &e {
        if *status_code < 500 {
            return SandboxError::StartFailed(message.clone());
        }
        if let Ok(c) = docker.inspect_container(id, None).await {
            let recorded = c.state.and_then(|s| s.error).filter(|s| !s.is_empty());
            if recorded.is_some() || message.contains("OCI runtime") {
                return SandboxError::StartFailed(recorded.unwrap_or_else(|| message.clone()));
            }
        }
    }
    SandboxError::Docker { during: "start candidate container", source: e }
}

/// The probes' clients: never a proxy (an HTTP_PROXY in the environment must
/// not route traffic off this machine), the contract's request timeout. The
/// first keeps connections alive; the second keeps none, so each request
/// gets a connection of its own (one bad request's aftermath, a connection
/// the service closed, cannot fail the next).
fn http_client(
    make: impl Fn() -> reqwest::ClientBuilder,
    limits: &Limits,
    at: &Path,
) -> Result<(reqwest::Client, reqwest::Client), SandboxError> {
    let build = |idle: usize| {
        make()
            .no_proxy()
            .timeout(limits.request_timeout)
            .pool_max_idle_per_host(idle)
            .build()
            .map_err(|e| SandboxError::Io { path: at.into(), source: std::io::Error::other(e) })
    };
    Ok((build(64)?, build(0)?))
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
    let dir = super::cleanup::removed_on_signal(dir);
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o777))
        .map_err(|source| SandboxError::Io { path: dir.path().into(), source })?;
    Ok(dir)
}

impl Service {
    /// HTTP client that reaches the service (through the relay's socket).
    pub fn client(&self) -> &reqwest::Client {
        &self.client
    }

    /// The same, but a new connection for every request.
    pub fn fresh_client(&self) -> &reqwest::Client {
        &self.fresh
    }

    /// URL of `path` on the service.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// The relay's socket, when reached through one.
    pub fn socket(&self) -> Option<PathBuf> {
        self.relay.as_ref().map(|_| self.sock_dir.path().join(SOCKET))
    }

    /// Whether the relay is up and its loop answers (always true without one).
    pub async fn relay_alive(&self, docker: &Docker) -> bool {
        let Some(relay) = &self.relay else { return true };
        let running = docker
            .inspect_container(relay, None)
            .await
            .ok()
            .and_then(|c| c.state)
            .and_then(|s| s.running)
            .unwrap_or(false);
        if !running {
            return false;
        }
        let ctl = self.sock_dir.path().join(CONTROL);
        let ask = async {
            use tokio::io::AsyncReadExt;
            let mut s = tokio::net::UnixStream::connect(&ctl).await.ok()?;
            let mut buf = [0u8; 2];
            s.read_exact(&mut buf).await.ok()?;
            Some(&buf == b"ok")
        };
        matches!(tokio::time::timeout(Duration::from_secs(2), ask).await, Ok(Some(true)))
    }

    pub async fn state(&self, docker: &Docker) -> Result<State, SandboxError> {
        // The engine learns of an OOM kill from an event that can land just
        // after the exit it caused: a container killed by SIGKILL (137) is
        // asked again for up to a second before it counts as a plain crash.
        let mut asked = 0;
        loop {
            let c = docker
                .inspect_container(&self.candidate, None)
                .await
                .map_err(SandboxError::docker("inspect candidate container"))?;
            let s = c.state.unwrap_or_default();
            let state = State {
                running: s.running.unwrap_or(false),
                exit_code: s.exit_code,
                oom_killed: s.oom_killed.unwrap_or(false),
            };
            asked += 1;
            if state.running || state.oom_killed || state.exit_code != Some(137) || asked > 4 {
                return Ok(state);
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }

    /// Polls `GET /health` until it answers 200, the container exits, or
    /// the startup deadline (which covers training) passes.
    pub async fn wait_ready(&self, docker: &Docker) -> Result<Duration, SandboxError> {
        use crate::support::health::{poll, Ending, Seen};
        use std::sync::atomic::{AtomicU32, Ordering};
        let deadline = self.started + self.limits.startup_timeout;
        // The last status other than 200 (0: none yet).
        let last_status = AtomicU32::new(0);
        let last = &last_status;
        let polled = poll(
            Duration::from_millis(250),
            deadline,
            || async move {
                match self.state(docker).await {
                    Err(e) => Some(e),
                    Ok(s) if s.running => None,
                    Ok(s) if s.oom_killed => Some(SandboxError::OomKilled { limit_mb: self.limits.memory_mb }),
                    Ok(s) => Some(SandboxError::Exited(s.exit_code.unwrap_or(-1))),
                }
            },
            || async move {
                match self.client.get(self.url("/health")).timeout(Duration::from_secs(2)).send().await {
                    Ok(resp) if resp.status().as_u16() == 200 => Seen::Healthy,
                    Ok(resp) => Seen::Status(resp.status().as_u16()),
                    Err(e) => Seen::NoAnswer(e.to_string()),
                }
            },
            |seen| async move {
                match seen {
                    Seen::Status(status) => {
                        last.store(status as u32, Ordering::SeqCst);
                        None
                    }
                    // No answer: the relay's own health decides whose it is.
                    Seen::NoAnswer(_) if !self.relay_alive(docker).await => match self.state(docker).await {
                        Err(e) => Some(e),
                        Ok(s) if s.running => {
                            Some(SandboxError::Setup("the grader's relay to the service stopped answering".into()))
                        }
                        Ok(_) => None,
                    },
                    _ => None,
                }
            },
        )
        .await;
        match polled {
            Ok(()) => Ok(self.started.elapsed()),
            Err(Ending::Stopped(e)) => Err(e),
            Err(Ending::Deadline(_)) => Err(match last_status.into_inner() {
                0 => SandboxError::StartupTimeout(self.limits.startup_timeout),
                status => SandboxError::Unhealthy { status: status as u16, after: self.limits.startup_timeout },
            }),
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
        let options =
            LogsOptions { stdout: true, stderr: true, follow: false, tail: "all".into(), ..Default::default() };
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
    /// through the engine's archive API: a regular file only (a link is
    /// refused, never followed), and the archive is read no further than
    /// the cap.
    pub async fn read_output(&self, docker: &Docker, name: &str, max: u64) -> std::io::Result<Vec<u8>> {
        let opts = DownloadFromContainerOptions { path: format!("/output/{name}") };
        let mut stream = docker.download_from_container(&self.candidate, Some(opts));
        // The tar header, then the file: read at most the cap and a header.
        let mut tar = Vec::new();
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(|e| std::io::Error::new(std::io::ErrorKind::NotFound, e.to_string()))?;
            tar.extend_from_slice(&chunk);
            if tar.len() as u64 > max + 1024 {
                break;
            }
        }
        let mut archive = tar::Archive::new(tar.as_slice());
        let mut entries = archive.entries()?;
        let mut entry =
            entries.next().ok_or_else(|| std::io::Error::new(std::io::ErrorKind::NotFound, "empty archive"))??;
        if entry.header().entry_type() != tar::EntryType::Regular {
            return Err(std::io::Error::new(std::io::ErrorKind::InvalidInput, "not a regular file"));
        }
        if entry.header().size()? > max {
            return Err(std::io::Error::new(std::io::ErrorKind::InvalidData, format!("larger than {max} bytes")));
        }
        let mut buf = Vec::new();
        std::io::Read::read_to_end(&mut entry, &mut buf)?;
        Ok(buf)
    }
}
