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
