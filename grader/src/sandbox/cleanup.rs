//! Removing what the grader created: by label, always.
//!
//! A [`RunGuard`] is armed before the first object of a run is created. Its
//! `cleanup` removes every container, network and image labelled with the
//! run; if the guard is dropped without it (an error path, a panic), `Drop`
//! does the same synchronously. On SIGINT, SIGTERM or SIGHUP,
//! [`install_interrupt_handler`] stops new work, cleans every run still
//! registered, then exits with 130, 143 or 129.

use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};

pub use crate::schema::Removed;
use bollard::query_parameters::{
    ListContainersOptions, ListImagesOptions, ListNetworksOptions, ListVolumesOptions, RemoveContainerOptions,
    RemoveImageOptions, RemoveVolumeOptions,
};
use bollard::Docker;

use super::{RunId, LABEL_MANAGED};

/// Runs still holding objects, for the signal handler; `None` once the
/// handler has taken them (no run may register after that).
/// Runs by id: their engine and whether to keep their image.
type Active = Mutex<Option<HashMap<RunId, (Docker, bool)>>>;

fn active() -> &'static Active {
    static ACTIVE: OnceLock<Active> = OnceLock::new();
    ACTIVE.get_or_init(|| Mutex::new(Some(HashMap::new())))
}

/// Temporary directories of runs in progress (the variant, the intake
/// area, the relay's sockets): a `TempDir` removes itself on drop, but the
/// signal handler exits the process without dropping anything.
fn temp_dirs() -> &'static Mutex<Vec<std::path::PathBuf>> {
    static DIRS: OnceLock<Mutex<Vec<std::path::PathBuf>>> = OnceLock::new();
    DIRS.get_or_init(|| Mutex::new(Vec::new()))
}

/// Registers `dir` to be removed if a signal ends the process before it is
/// dropped; returns it. (A path already removed by its drop costs nothing.)
pub fn removed_on_signal(dir: tempfile::TempDir) -> tempfile::TempDir {
    let mut dirs = temp_dirs().lock().unwrap_or_else(|p| p.into_inner());
    dirs.retain(|d| d.exists());
    dirs.push(dir.path().to_path_buf());
    dir
}

fn unregister(run: &RunId) {
    if let Some(m) = active().lock().unwrap_or_else(|p| p.into_inner()).as_mut() {
        m.remove(run);
    }
}

pub struct RunGuard {
    docker: Docker,
    run: RunId,
    keep_image: bool,
    armed: bool,
}

impl RunGuard {
    /// Arms cleanup for `run`. With `keep_image`, the built image survives
    /// (still labelled, so `grader clean` finds it). Refused once a signal
    /// began the shutdown: no new run starts then.
    pub fn new(
        docker: &Docker,
        run: &RunId,
        keep_image: bool,
    ) -> Result<RunGuard, crate::support::shutdown::Interrupted> {
        match active().lock().unwrap_or_else(|p| p.into_inner()).as_mut() {
            Some(m) => {
                m.insert(run.clone(), (docker.clone(), keep_image));
            }
            None => return Err(crate::support::shutdown::Interrupted),
        }
        Ok(RunGuard { docker: docker.clone(), run: run.clone(), keep_image, armed: true })
    }

    pub fn run(&self) -> &RunId {
        &self.run
    }

    pub async fn cleanup(mut self) -> Removed {
        self.armed = false;
        unregister(&self.run);
        remove_labelled(&self.docker, &self.run.filter(), !self.keep_image).await
    }
}

impl Drop for RunGuard {
    fn drop(&mut self) {
        if !self.armed {
            return;
        }
        unregister(&self.run);
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

/// Removes every container (forced, with anonymous volumes), network,
/// volume and, if `images`, image (intermediate ones included) carrying the
/// label `filter` (`key=value`), and the build cgroups of the run (or all
/// of the grader's). Lists again after removing, 300 ms apart, until a pass
/// finds nothing: a build step being committed as the first pass ran is
/// caught by a later one, and a container the engine is already removing
/// (409, as when a build's own `forcerm` races ours after the disk cap
/// killed its step) stays listed until the engine has deleted its layer,
/// which took over a second under load in CI. Gives up at a deadline, or
/// when a pass removed nothing and met a real error; what is still listed
/// then is reported in `errors`.
pub async fn remove_labelled(docker: &Docker, filter: &str, images: bool) -> Removed {
    let deadline = std::time::Instant::now() + REMOVAL_DEADLINE;
    let mut removed = Removed::default();
    loop {
        let before = (removed.containers, removed.networks, removed.volumes, removed.images);
        let mut errors = Vec::new();
        let found = remove_pass(docker, filter, images, &mut removed, &mut errors).await;
        if found == 0 {
            break;
        }
        let progress = (removed.containers, removed.networks, removed.volumes, removed.images) != before;
        let stuck = !progress && !errors.is_empty();
        if stuck || std::time::Instant::now() >= deadline {
            if errors.is_empty() {
                errors.push(format!("{found} object(s) labelled {filter} still listed after {REMOVAL_DEADLINE:?}"));
            }
            removed.errors = errors;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    }
    let run = filter.strip_prefix(&format!("{}=", super::LABEL_RUN));
    super::cgroup::remove_leftovers(run);
    removed
}

/// How long [`remove_labelled`] waits for objects the engine is still
/// removing or committing.
const REMOVAL_DEADLINE: std::time::Duration = std::time::Duration::from_secs(20);

/// One pass; returns how many objects it found.
async fn remove_pass(
    docker: &Docker,
    filter: &str,
    images: bool,
    removed: &mut Removed,
    errors: &mut Vec<String>,
) -> usize {
    let mut found = 0;
    let filters = HashMap::from([("label".to_string(), vec![filter.to_string()])]);
    match docker
        .list_containers(Some(ListContainersOptions {
            all: true,
            filters: Some(filters.clone()),
            ..Default::default()
        }))
        .await
    {
        Ok(list) => {
            for c in list {
                found += 1;
                let id = c.id.unwrap_or_default();
                let opts = RemoveContainerOptions { force: true, v: true, ..Default::default() };
                match docker.remove_container(&id, Some(opts)).await {
                    Ok(()) => removed.containers += 1,
                    Err(e) if is_gone(&e) => {}
                    Err(e) => errors.push(format!("container {id}: {e}")),
                }
            }
        }
        Err(e) => errors.push(format!("listing containers: {e}")),
    }
    match docker.list_networks(Some(ListNetworksOptions { filters: Some(filters.clone()) })).await {
        Ok(list) => {
            for n in list {
                found += 1;
                let id = n.id.unwrap_or_default();
                match docker.remove_network(&id).await {
                    Ok(()) => removed.networks += 1,
                    Err(e) if is_gone(&e) => {}
                    Err(e) => errors.push(format!("network {id}: {e}")),
                }
            }
        }
        Err(e) => errors.push(format!("listing networks: {e}")),
    }
    match docker.list_volumes(Some(ListVolumesOptions { filters: Some(filters.clone()) })).await {
        Ok(list) => {
            for v in list.volumes.unwrap_or_default() {
                found += 1;
                match docker.remove_volume(&v.name, Some(RemoveVolumeOptions { force: true })).await {
                    Ok(()) => removed.volumes += 1,
                    Err(e) if is_gone(&e) => {}
                    Err(e) => errors.push(format!("volume {}: {e}", v.name)),
                }
            }
        }
        Err(e) => errors.push(format!("listing volumes: {e}")),
    }
    if images {
        // `all`: intermediate images too (every step after the injected
        // LABEL carries the run's labels). Newest first: children before
        // their parents.
        match docker
            .list_images(Some(ListImagesOptions { all: true, filters: Some(filters), ..Default::default() }))
            .await
        {
            Ok(mut list) => {
                list.sort_by_key(|i| std::cmp::Reverse(i.created));
                for i in list {
                    found += 1;
                    let opts = RemoveImageOptions { force: true, ..Default::default() };
                    match docker.remove_image(&i.id, Some(opts), None).await {
                        Ok(_) => removed.images += 1,
                        Err(e) if is_gone(&e) => {}
                        Err(e) => errors.push(format!("image {}: {e}", i.id)),
                    }
                }
            }
            Err(e) => errors.push(format!("listing images: {e}")),
        }
    }
    found
}

/// Everything the grader ever created on this engine (`grader clean`).
pub async fn remove_all(docker: &Docker) -> Removed {
    remove_labelled(docker, &format!("{LABEL_MANAGED}=true"), true).await
}

/// 404: already gone; 409: the engine is removing it already (it may stay
/// listed a while: [`remove_labelled`] passes again).
fn is_gone(e: &bollard::errors::Error) -> bool {
    matches!(e, bollard::errors::Error::DockerResponseServerError { status_code: 404 | 409, .. })
}

/// On SIGINT, SIGTERM or SIGHUP: no new run starts and no result is
/// committed from then on ([`crate::support::shutdown`]), every registered run is
/// cleaned, then the process exits with 130, 143 or 129. Call once, inside
/// the runtime, before starting work.
pub fn install_interrupt_handler() {
    use tokio::signal::unix::{signal, SignalKind};
    static INSTALLED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
    if INSTALLED.swap(true, std::sync::atomic::Ordering::SeqCst) {
        return;
    }
    let kinds = [
        (SignalKind::interrupt(), libc::SIGINT),
        (SignalKind::terminate(), libc::SIGTERM),
        (SignalKind::hangup(), libc::SIGHUP),
    ];
    let mut streams = Vec::new();
    for (kind, number) in kinds {
        match signal(kind) {
            Ok(s) => streams.push((s, number)),
            Err(e) => tracing::warn!("cannot handle signal {number}: {e}"),
        }
    }
    tokio::spawn(async move {
        let waits = streams.iter_mut().map(|(s, n)| {
            let n = *n;
            Box::pin(async move {
                s.recv().await;
                n
            })
        });
        let (number, _, _) = futures_util::future::select_all(waits).await;
        crate::support::shutdown::begin(number);
        // On a thread and runtime of its own: the grade's runtime may be
        // torn down meanwhile (its work ends in errors once the shutdown
        // began), and `main` waits for this thread to exit the process.
        std::thread::spawn(move || {
            eprintln!(
                "interrupted (signal {number}): removing containers, volumes and images of the runs in progress…"
            );
            let runs: Vec<(RunId, (Docker, bool))> =
                active().lock().unwrap_or_else(|p| p.into_inner()).take().unwrap_or_default().into_iter().collect();
            if let Ok(rt) = tokio::runtime::Builder::new_current_thread().enable_all().build() {
                for (run, (docker, keep_image)) in &runs {
                    let removed = rt.block_on(remove_labelled(docker, &run.filter(), !keep_image));
                    eprintln!(
                        "  run {run}: removed {} container(s), {} volume(s), {} image(s){}",
                        removed.containers,
                        removed.volumes,
                        removed.images,
                        if removed.errors.is_empty() {
                            String::new()
                        } else {
                            format!("; errors: {:?}", removed.errors)
                        }
                    );
                }
                // A build the engine was finishing may still commit and tag
                // its image after the first sweep (seen once in CI): sweep
                // again until a sweep finds nothing (at most 3 more, 1 s apart).
                for _ in 0..3 {
                    std::thread::sleep(std::time::Duration::from_secs(1));
                    let late: usize = runs
                        .iter()
                        .map(|(run, (docker, keep_image))| {
                            let r = rt.block_on(remove_labelled(docker, &run.filter(), !keep_image));
                            r.containers + r.volumes + r.images
                        })
                        .sum();
                    if late == 0 {
                        break;
                    }
                    eprintln!("  removed {late} object(s) that appeared after the first sweep");
                }
            }
            for dir in temp_dirs().lock().unwrap_or_else(|p| p.into_inner()).iter() {
                let _ = std::fs::remove_dir_all(dir);
            }
            std::process::exit(crate::support::exit::Exit::from_signal(number).code() as i32);
        });
    });
}
