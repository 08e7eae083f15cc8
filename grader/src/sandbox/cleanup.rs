//! Removing what the grader created: by label, always.
//!
//! A [`RunGuard`] is armed before the first object of a run is created. Its
//! `cleanup` removes every container, network and image labelled with the
//! run; if the guard is dropped without it (an error path, a panic), `Drop`
//! does the same synchronously. On Ctrl-C, [`install_interrupt_handler`]
//! cleans every run still registered, then exits with code 130.

use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};

use bollard::query_parameters::{
    ListContainersOptions, ListImagesOptions, ListNetworksOptions, RemoveContainerOptions, RemoveImageOptions,
};
use bollard::Docker;
use serde::Serialize;

use super::{RunId, LABEL_MANAGED};

/// What a cleanup removed.
#[derive(Debug, Default, Clone, Serialize, PartialEq)]
pub struct Removed {
    pub containers: usize,
    pub networks: usize,
    pub images: usize,
    /// Objects that could not be removed, with the engine's reason.
    pub errors: Vec<String>,
}

/// Runs still holding objects, for the Ctrl-C handler.
fn active() -> &'static Mutex<HashMap<RunId, (Docker, bool)>> {
    static ACTIVE: OnceLock<Mutex<HashMap<RunId, (Docker, bool)>>> = OnceLock::new();
    ACTIVE.get_or_init(Default::default)
}

pub struct RunGuard {
    docker: Docker,
    run: RunId,
    keep_image: bool,
    armed: bool,
}

impl RunGuard {
    /// Arms cleanup for `run`. With `keep_image`, the built image survives
    /// (still labelled, so `grader clean` finds it).
    pub fn new(docker: &Docker, run: &RunId, keep_image: bool) -> RunGuard {
        active().lock().unwrap_or_else(|p| p.into_inner()).insert(run.clone(), (docker.clone(), keep_image));
        RunGuard { docker: docker.clone(), run: run.clone(), keep_image, armed: true }
    }

    pub fn run(&self) -> &RunId {
        &self.run
    }

    pub async fn cleanup(mut self) -> Removed {
        self.armed = false;
        active().lock().unwrap_or_else(|p| p.into_inner()).remove(&self.run);
        remove_labelled(&self.docker, &self.run.filter(), !self.keep_image).await
    }
}

impl Drop for RunGuard {
    fn drop(&mut self) {
        if !self.armed {
            return;
        }
        active().lock().unwrap_or_else(|p| p.into_inner()).remove(&self.run);
        let (docker, filter, images) = (self.docker.clone(), self.run.filter(), !self.keep_image);
        // A fresh runtime on its own thread: Drop may run inside (or outside)
        // a runtime, during a panic, where blocking this thread is fine.
        let done = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().ok()?;
            Some(rt.block_on(remove_labelled(&docker, &filter, images)))
        })
        .join();
        if let Ok(Some(removed)) = done {
            tracing::warn!(run = %self.run, ?removed, "run cleaned up on drop");
        }
    }
}

/// Removes every container (forced, with anonymous volumes), network and,
/// if `images`, image carrying the label `filter` (`key=value`).
pub async fn remove_labelled(docker: &Docker, filter: &str, images: bool) -> Removed {
    let mut removed = Removed::default();
    let filters = HashMap::from([("label".to_string(), vec![filter.to_string()])]);
    match docker
        .list_containers(Some(ListContainersOptions { all: true, filters: Some(filters.clone()), ..Default::default() }))
        .await
    {
        Ok(list) => {
            for c in list {
                let id = c.id.unwrap_or_default();
                let opts = RemoveContainerOptions { force: true, v: true, ..Default::default() };
                match docker.remove_container(&id, Some(opts)).await {
                    Ok(()) => removed.containers += 1,
                    Err(e) if is_gone(&e) => {}
                    Err(e) => removed.errors.push(format!("container {id}: {e}")),
                }
            }
        }
        Err(e) => removed.errors.push(format!("listing containers: {e}")),
    }
    match docker.list_networks(Some(ListNetworksOptions { filters: Some(filters.clone()) })).await {
        Ok(list) => {
            for n in list {
                let id = n.id.unwrap_or_default();
                match docker.remove_network(&id).await {
                    Ok(()) => removed.networks += 1,
                    Err(e) if is_gone(&e) => {}
                    Err(e) => removed.errors.push(format!("network {id}: {e}")),
                }
            }
        }
        Err(e) => removed.errors.push(format!("listing networks: {e}")),
    }
    if images {
        match docker
            .list_images(Some(ListImagesOptions { all: false, filters: Some(filters), ..Default::default() }))
            .await
        {
            Ok(list) => {
                for i in list {
                    let opts = RemoveImageOptions { force: true, ..Default::default() };
                    match docker.remove_image(&i.id, Some(opts), None).await {
                        Ok(_) => removed.images += 1,
                        Err(e) if is_gone(&e) => {}
                        Err(e) => removed.errors.push(format!("image {}: {e}", i.id)),
                    }
                }
            }
            Err(e) => removed.errors.push(format!("listing images: {e}")),
        }
    }
    removed
}

/// Everything the grader ever created on this engine (`grader clean`).
pub async fn remove_all(docker: &Docker) -> Removed {
    remove_labelled(docker, &format!("{LABEL_MANAGED}=true"), true).await
}

fn is_gone(e: &bollard::errors::Error) -> bool {
    matches!(e, bollard::errors::Error::DockerResponseServerError { status_code: 404 | 409, .. })
}

/// On Ctrl-C: clean every registered run, then exit with 130. Call once,
/// inside the runtime, before starting work.
pub fn install_interrupt_handler() {
    static INSTALLED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
    if INSTALLED.swap(true, std::sync::atomic::Ordering::SeqCst) {
        return;
    }
    tokio::spawn(async {
        if tokio::signal::ctrl_c().await.is_err() {
            return;
        }
        eprintln!("interrupted: removing containers and images of the runs in progress…");
        let runs: Vec<(RunId, (Docker, bool))> =
            active().lock().unwrap_or_else(|p| p.into_inner()).drain().collect();
        for (run, (docker, keep_image)) in runs {
            let removed = remove_labelled(&docker, &run.filter(), !keep_image).await;
            eprintln!(
                "  run {run}: removed {} container(s), {} image(s){}",
                removed.containers,
                removed.images,
                if removed.errors.is_empty() { String::new() } else { format!("; errors: {:?}", removed.errors) }
            );
        }
        std::process::exit(crate::exit::Exit::Interrupted.code() as i32);
    });
}
