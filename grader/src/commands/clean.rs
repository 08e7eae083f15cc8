//! `grader clean`: remove leftovers by label.

use crate::sandbox::cleanup::{remove_all, remove_labelled, Removed};
use crate::sandbox::{docker, LABEL_RUN};
use crate::support::error::Result;

pub async fn run(host: Option<&str>, run: Option<&str>) -> Result<Removed> {
    let docker = docker::connect(host).await?;
    let mut removed = match run {
        Some(id) => remove_labelled(&docker, &format!("{LABEL_RUN}={id}"), true).await,
        None => remove_all(&docker).await,
    };
    removed.schema_version = crate::schema::CLEAN_VERSION;
    Ok(removed)
}

/// `grader clean`'s arguments.
pub struct CleanRequest {
    pub docker_host: Option<String>,
    pub run: Option<String>,
}

pub fn execute(req: &CleanRequest, ui: super::Ui) -> Result<()> {
    let removed = super::runtime()?.block_on(run(req.docker_host.as_deref(), req.run.as_deref()))?;
    if ui.json {
        ui.print_json(&removed);
    } else if !ui.quiet {
        eprintln!(
            "removed {} container(s), {} network(s), {} image(s)",
            removed.containers, removed.networks, removed.images
        );
    }
    if !removed.errors.is_empty() {
        return Err(crate::support::error::GraderError::Cleanup(removed.errors));
    }
    Ok(())
}
