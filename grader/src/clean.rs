//! `grader clean`: remove leftovers by label.

use crate::error::Result;
use crate::sandbox::cleanup::{remove_all, remove_labelled, Removed};
use crate::sandbox::{docker, LABEL_RUN};

pub async fn run(host: Option<&str>, run: Option<&str>) -> Result<Removed> {
    let docker = docker::connect(host).await?;
    Ok(match run {
        Some(id) => remove_labelled(&docker, &format!("{LABEL_RUN}={id}"), true).await,
        None => remove_all(&docker).await,
    })
}
