//! Connecting to the Docker Engine, with an error that says where we looked.

use std::time::Duration;

use bollard::Docker;

use super::SandboxError;

/// The endpoint `connect` uses: `DOCKER_HOST`, or the local socket.
pub fn endpoint(host: Option<&str>) -> String {
    host.map(str::to_string)
        .or_else(|| std::env::var("DOCKER_HOST").ok().filter(|h| !h.is_empty()))
        .unwrap_or_else(|| "unix:///var/run/docker.sock".to_string())
}

/// Refuses an engine the grader cannot share a filesystem with. A grading
/// bind-mounts the variant's data and a unix socket of the grader's own (the
/// relay to the candidate's service) into the container: only an engine on
/// this machine sees them. Scaling out is one grader per engine, each on a
/// shard (`grader batch --shard`), not one grader driving remote engines.
pub fn shares_filesystem(endpoint: &str) -> Result<(), String> {
    if endpoint.starts_with("unix://") {
        return Ok(());
    }
    let rest = endpoint.strip_prefix("tcp://").or_else(|| endpoint.strip_prefix("http://"));
    let host = rest.map(|r| r.split('/').next().unwrap_or(""));
    let host = host.map(|h| match h.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or(""),
        None => h.rsplit_once(':').map_or(h, |(name, _)| name),
    });
    match host {
        Some(h) if h == "localhost" || h.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback()) => Ok(()),
        _ => Err(format!(
            "Docker endpoint {endpoint}: the grader bind-mounts the data and a unix socket of its own into the candidate's \
             container, so it needs an engine on this machine (unix:// or tcp:// on loopback). To grade on several machines, \
             run one grader per machine on a shard of the batch (`grader batch --shard K/N`, or `slurm`, `k8s/N`) and \
             `grader merge` the shards (README: Scale-out)"
        )),
    }
}

/// Connects and pings the engine (5 s), so an absent daemon is reported up
/// front as an infrastructure error rather than halfway through a build.
pub async fn connect(host: Option<&str>) -> Result<Docker, SandboxError> {
    let ep = endpoint(host);
    let unreachable = |message: String| SandboxError::Unreachable { endpoint: ep.clone(), message };
    let docker = if let Some(path) = ep.strip_prefix("unix://") {
        Docker::connect_with_socket(path, 600, bollard::API_DEFAULT_VERSION)
    } else if ep.starts_with("tcp://") || ep.starts_with("http://") {
        Docker::connect_with_http(&ep, 600, bollard::API_DEFAULT_VERSION)
    } else {
        return Err(unreachable(format!("unsupported endpoint scheme in {ep:?} (use unix:// or tcp://)")));
    }
    .map_err(|e| unreachable(e.to_string()))?;
    match tokio::time::timeout(Duration::from_secs(5), docker.ping()).await {
        Ok(Ok(_)) => Ok(docker),
        Ok(Err(e)) => Err(unreachable(e.to_string())),
        Err(_) => Err(unreachable("no answer within 5 s".into())),
    }
}

#[cfg(test)]
mod tests {
    use super::shares_filesystem;

    #[test]
    fn only_engines_on_this_machine_are_accepted() {
        for ok in [
            "unix:///var/run/docker.sock",
            "tcp://127.0.0.1:2375",
            "tcp://localhost:2375",
            "http://[::1]:2375",
            "tcp://127.1.2.3:1",
        ] {
            assert!(shares_filesystem(ok).is_ok(), "{ok}");
        }
        for remote in [
            "tcp://10.0.0.5:2376",
            "tcp://build-host:2375",
            "ssh://user@host",
            "http://192.0.2.1:2375",
            "npipe:////./pipe/docker_engine",
        ] {
            let e = shares_filesystem(remote).unwrap_err();
            assert!(e.contains("--shard") && e.contains(remote), "{e}");
        }
    }
}
