//! Building a submission's image: no network, a deadline, a capped log.

use std::path::Path;

use bollard::query_parameters::BuildImageOptions;
use bollard::Docker;
use futures_util::StreamExt;

use super::logbuf::LogBuffer;
use super::{context, Limits, RunId, SandboxError};

/// A built image.
#[derive(Debug, Clone)]
pub struct BuiltImage {
    pub id: String,
    pub tag: String,
    pub log: String,
}

/// Packs and builds `dir`. The image is labelled with the run, so cleanup by
/// label removes it; a refused or failed build leaves nothing behind.
pub async fn build(docker: &Docker, dir: &Path, run: &RunId, limits: &Limits) -> Result<BuiltImage, SandboxError> {
    let ctx = context::pack(dir, limits.max_context_bytes)?;
    tracing::info!(files = ctx.files, bytes = ctx.bytes, "build context packed");
    let tag = format!("grader-submission:{run}");
    let options = BuildImageOptions {
        dockerfile: "Dockerfile".into(),
        t: Some(tag.clone()),
        rm: true,
        forcerm: true,
        // No layer cache: one candidate's layers are never reused for
        // another's build, and a concurrent run's cleanup can never remove
        // a cached parent from under this build.
        nocache: true,
        // Everything must come from the base image or the directory.
        networkmode: Some("none".into()),
        labels: Some(run.labels("image")),
        ..Default::default()
    };
    let mut log = LogBuffer::new(limits.log_bytes as usize);
    let mut failure: Option<String> = None;
    let stream = docker.build_image(options, None, Some(bollard::body_full(ctx.tar.into())));
    let consume = async {
        futures_util::pin_mut!(stream);
        while let Some(item) = stream.next().await {
            match item {
                Ok(info) => {
                    if let Some(s) = &info.stream {
                        log.push(s.as_bytes());
                    }
                    if let Some(e) = info.error_detail.and_then(|d| d.message) {
                        log.push(format!("{e}\n").as_bytes());
                        failure = Some(e);
                    }
                }
                Err(bollard::errors::Error::DockerStreamError { error }) => {
                    log.push(format!("{error}\n").as_bytes());
                    failure = Some(error);
                }
                Err(e) => return Err(SandboxError::Docker { during: "build", source: e }),
            }
        }
        Ok(())
    };
    match tokio::time::timeout(limits.build_timeout, consume).await {
        Err(_) => return Err(SandboxError::BuildTimeout(limits.build_timeout, log.text())),
        Ok(Err(SandboxError::Docker { source, .. })) if is_build_error(&source) => {
            return Err(SandboxError::BuildFailed { message: source.to_string(), log: log.text() })
        }
        Ok(Err(e)) => return Err(e),
        Ok(Ok(())) => {}
    }
    if let Some(message) = failure {
        return Err(SandboxError::BuildFailed { message, log: log.text() });
    }
    let image = docker
        .inspect_image(&tag)
        .await
        .map_err(SandboxError::docker("inspect built image"))?;
    Ok(BuiltImage { id: image.id.unwrap_or_default(), tag, log: log.text() })
}

/// Errors the engine reports about the Dockerfile itself (a bad instruction,
/// an unknown base image) rather than about the engine.
fn is_build_error(e: &bollard::errors::Error) -> bool {
    matches!(e, bollard::errors::Error::DockerResponseServerError { status_code, .. } if *status_code < 500)
}
