//! The sandbox on the real Docker Engine: build, run, reach, lock down,
//! clean up. Every property is observed from inside a container.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use grader::sandbox::build::build;
use grader::sandbox::cleanup::RunGuard;
use grader::sandbox::context;
use grader::sandbox::run::{start, Access, RunConfig};
use grader::sandbox::{FailureClass, RunId, SandboxError};
use serde_json::Value;
use tempfile::TempDir;

use crate::support::{docker, fixture, fixture_copy, leftovers, limits, own_addresses, variant_in};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reference_submission_builds_runs_and_reports() {
    let docker = docker().await;
    let limits = limits(&docker).await;
    let t = TempDir::new().unwrap();
    let data = variant_in(t.path(), 3);
    let run = RunId::new();
    let guard = RunGuard::new(&docker, &run, false).unwrap();

    let image = build(&docker, &fixture("reference"), &run, &limits).await.expect("reference builds");
    let service = start(
        &docker,
        &RunConfig {
            image: &image.tag,
            data_dir: &data.join("public"),
            limits: &limits,
            run: &run,
            access: Access::Socket,
        },
    )
    .await
    .expect("reference starts");
    let ready = service.wait_ready(&docker).await;
    let report = service.read_output(&docker, "report.json", 1 << 20).await;
    // A prediction through the relay's socket, with rows from the public batch.
    let rows: Vec<Value> = {
        let csv = crate::support::Csv::read(&data.join("public/production.csv"));
        (0..3)
            .map(|i| {
                let mut row = serde_json::Map::new();
                for (h, col) in csv.header.iter().zip(&csv.columns) {
                    let v = match &col[i] {
                        None => Value::Null,
                        Some(s) => s.parse::<f64>().map(Value::from).unwrap_or_else(|_| Value::from(s.as_str())),
                    };
                    row.insert(h.clone(), v);
                }
                Value::Object(row)
            })
            .collect()
    };
    let predict =
        service.client().post(service.url("/predict")).json(&serde_json::json!({ "rows": rows })).send().await;
    let bad = service.client().post(service.url("/predict")).body("not json").send().await;
    let stopped = service.stop(&docker).await.unwrap();
    let removed = guard.cleanup().await;

    let after = ready.unwrap_or_else(|e| panic!("reference not ready: {e}\n{}", stopped.logs));
    assert!(after < limits.startup_timeout);
    let predict = predict.expect("predict reaches the service");
    assert_eq!(predict.status().as_u16(), 200);
    let body: Value = predict.json().await.unwrap();
    assert_eq!(body["predictions"].as_array().unwrap().len(), 3, "{body}");
    assert!(body["probabilities"].as_array().unwrap().iter().all(|p| (0.0..=1.0).contains(&p.as_f64().unwrap())));
    let bad = bad.unwrap();
    assert_eq!(bad.status().as_u16(), 400);
    assert!(bad.json::<Value>().await.unwrap()["error"].is_string());

    // report.json follows contract v1, and the reference finds what was planted.
    let report: Value = serde_json::from_slice(&report.expect("report.json written")).unwrap();
    let key = crate::support::json(&data.join("sealed/answer_key.json"));
    let flagged = |section: &str| -> Vec<(String, Option<String>)> {
        report[section]
            .as_array()
            .unwrap_or_else(|| panic!("report.json lacks {section}: {report}"))
            .iter()
            .map(|f| {
                assert!(f["evidence"].is_string(), "{f}");
                (f["kind"].as_str().unwrap().to_string(), f["feature"].as_str().map(String::from))
            })
            .collect()
    };
    let planted = |section: &str| -> Vec<(String, Option<String>)> {
        key[section]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| (f["kind"].as_str().unwrap().to_string(), f["feature"].as_str().map(String::from)))
            .collect()
    };
    let sorted = |mut v: Vec<(String, Option<String>)>| {
        v.sort();
        v
    };
    assert_eq!(sorted(flagged("leakage")), sorted(planted("leakage")));
    assert_eq!(sorted(flagged("drift")), sorted(planted("drift")));
    assert!(report["excluded_features"].is_array());

    assert!(stopped.logs.len() <= limits.log_bytes as usize + 200);
    assert!(removed.errors.is_empty(), "{removed:?}");
    assert_eq!(removed.containers, 2, "candidate and relay");
    assert_eq!(removed.images, 1);
    assert_eq!(leftovers(&docker, &run).await, 0);
}

/// A listener on every one of this machine's own non-loopback addresses;
/// counts the connections it accepts.
async fn listener() -> (u16, Arc<AtomicUsize>) {
    let l = tokio::net::TcpListener::bind("0.0.0.0:0").await.unwrap();
    let port = l.local_addr().unwrap().port();
    let hits = Arc::new(AtomicUsize::new(0));
    let h = hits.clone();
    tokio::spawn(async move {
        while let Ok((_s, _)) = l.accept().await {
            h.fetch_add(1, Ordering::SeqCst);
        }
    });
    (port, hits)
}

/// A UDP listener like [`listener`]: counts datagrams (a stand-in resolver).
async fn udp_listener(port_hint: u16) -> (u16, Arc<AtomicUsize>) {
    let sock = tokio::net::UdpSocket::bind(("0.0.0.0", port_hint))
        .await
        .unwrap_or(tokio::net::UdpSocket::bind("0.0.0.0:0").await.unwrap());
    let port = sock.local_addr().unwrap().port();
    let hits = Arc::new(AtomicUsize::new(0));
    let h = hits.clone();
    tokio::spawn(async move {
        let mut buf = [0u8; 512];
        while sock.recv_from(&mut buf).await.is_ok() {
            h.fetch_add(1, Ordering::SeqCst);
        }
    });
    (port, hits)
}

/// What the hostile prober observed from inside its container, and what
/// this machine's listeners saw meanwhile.
struct Prober {
    seen: Value,
    hosts: Vec<std::net::Ipv4Addr>,
    tcp_hits_from_container: usize,
    udp_hits_from_container: usize,
    nofile: u64,
}

const PROBER_SEED: u64 = 8_675_309_012_345;

async fn run_prober() -> Prober {
    let docker = docker().await;
    let mut limits = limits(&docker).await;
    limits.pids = 48;
    limits.memory_mb = 512;
    limits.startup_timeout = Duration::from_secs(120);
    let t = TempDir::new().unwrap();
    let data = variant_in(t.path(), PROBER_SEED);

    // Listeners on every one of this machine's own addresses, each proven
    // reachable from the host itself first.
    let (port, tcp_hits) = listener().await;
    let (dns_port, udp_hits) = udp_listener(0).await;
    let hosts = own_addresses();
    assert!(!hosts.is_empty(), "no non-loopback address on this machine to test isolation against");
    for h in &hosts {
        tokio::net::TcpStream::connect((*h, port))
            .await
            .unwrap_or_else(|e| panic!("host cannot reach its own {h}:{port}: {e}"));
        let u = tokio::net::UdpSocket::bind("0.0.0.0:0").await.unwrap();
        u.send_to(b"ping", (*h, dns_port)).await.unwrap();
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (tcp_before, udp_before) = (tcp_hits.load(Ordering::SeqCst), udp_hits.load(Ordering::SeqCst));
    assert_eq!((tcp_before, udp_before), (hosts.len(), hosts.len()), "the listeners must hear this machine itself");

    let spec_hash = crate::support::json(&data.join("sealed/answer_key.json"))["exercise"]["spec_sha256"]
        .as_str()
        .unwrap()
        .to_string();
    let sub = fixture_copy("hostile/prober", t.path());
    let target = serde_json::json!({
        "hosts": hosts.iter().map(|h| h.to_string()).collect::<Vec<_>>(),
        "port": port,
        "dns_port": dns_port,
        "secrets": [PROBER_SEED.to_string(), spec_hash],
        "forbidden_names": ["answer_key.json", "holdout_serving.parquet", "holdout_offline.parquet", "holdout_truth.parquet", "traffic.parquet", "latency.parquet"],
        "fork_attempts": 200,
    });
    std::fs::write(sub.join("target.json"), target.to_string()).unwrap();

    let run = RunId::new();
    let guard = RunGuard::new(&docker, &run, false).unwrap();
    let image = build(&docker, &sub, &run, &limits).await.expect("prober builds");
    let service = start(
        &docker,
        &RunConfig {
            image: &image.tag,
            data_dir: &data.join("public"),
            limits: &limits,
            run: &run,
            access: Access::Socket,
        },
    )
    .await
    .unwrap();
    let ready = service.wait_ready(&docker).await;
    let report = service.read_output(&docker, "report.json", 4 << 20).await;
    let stopped = service.stop(&docker).await.unwrap();
    guard.cleanup().await;
    ready.unwrap_or_else(|e| panic!("prober not ready: {e}\n{}", stopped.logs));
    assert_eq!(leftovers(&docker, &run).await, 0);
    let report: Value = serde_json::from_slice(&report.unwrap()).unwrap();
    Prober {
        seen: report["sandbox"].clone(),
        hosts,
        tcp_hits_from_container: tcp_hits.load(Ordering::SeqCst) - tcp_before,
        udp_hits_from_container: udp_hits.load(Ordering::SeqCst) - udp_before,
        nofile: limits.nofile,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sandbox_properties_hold_inside_the_container() {
    let p = run_prober().await;
    let s = &p.seen;
    assert_eq!(s["uid"], 10001, "not root");
    assert_eq!(s["write_root"]["ok"], false, "{}", s["write_root"]);
    assert_eq!(s["write_root"]["errno"], 30, "EROFS: read-only root filesystem");
    assert_eq!(s["write_usr"]["ok"], false);
    assert_eq!(s["write_data"]["ok"], false, "/data is read-only");
    assert_eq!(s["write_output"]["ok"], true, "/output is writable");
    assert_eq!(s["write_tmp"]["ok"], true, "/tmp is writable");
    assert_eq!(s["interfaces"], serde_json::json!(["lo"]), "no network interface but loopback");
    assert_eq!(s["cap_eff"], "0000000000000000", "every capability dropped");
    assert_eq!(s["no_new_privs"], "1");
    assert_eq!(s["memory_limit"], (512u64 << 20).to_string());
    assert_eq!(s["memsw_limit"], (512u64 << 20).to_string(), "swap equals memory");
    assert_eq!(s["pids_max"], "48");
    assert_eq!(s["nofile"], serde_json::json!([p.nofile, p.nofile]));
    let forked = s["forked"].as_u64().unwrap();
    assert!(forked < 48, "forked {forked} processes under a cap of 48");
    assert_eq!(s["fork_error"], "EAGAIN", "{s}");
    let mounts: Vec<&str> = s["mounts"].as_array().unwrap().iter().map(|v| v.as_str().unwrap()).collect();
    assert!(mounts.contains(&"/data") && mounts.contains(&"/output"), "{mounts:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn egress_to_this_machine_and_name_resolution_fail_from_inside() {
    let p = run_prober().await;
    let s = &p.seen;
    for h in &p.hosts {
        let c = &s["connect"][h.to_string()];
        assert_eq!(c["ok"], false, "the container reached this machine's {h} over TCP: {c}");
        let d = &s["dns"][h.to_string()];
        assert_eq!(d["ok"], false, "the container sent a DNS query to this machine's {h}: {d}");
    }
    assert_eq!(p.tcp_hits_from_container, 0, "the TCP listener saw a connection from the container");
    assert_eq!(p.udp_hits_from_container, 0, "the UDP listener saw a datagram from the container");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_answer_key_hunt_finds_nothing() {
    let p = run_prober().await;
    let s = &p.seen;
    assert_eq!(s["found_forbidden_names"], serde_json::json!([]), "sealed files visible");
    assert_eq!(s["found_secrets"], serde_json::json!([]), "seed or key hash visible");
    let env: Vec<&str> = s["environment"].as_array().unwrap().iter().map(|v| v.as_str().unwrap()).collect();
    assert!(!env.iter().any(|e| e.to_lowercase().contains("seed") || e.to_lowercase().contains("key")), "{env:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_contexts_never_reach_the_engine() {
    let t = TempDir::new().unwrap();
    // A symlink leaving the directory.
    let sub = fixture_copy("naive", t.path());
    std::os::unix::fs::symlink("/etc/passwd", sub.join("passwd")).unwrap();
    let caps = |bytes: u64| context::Caps { bytes, entries: 10_000 };
    let err = context::scan(&sub, caps(50 << 20)).err().expect("refused");
    assert_eq!(err.class(), FailureClass::BuildRejected);
    assert!(err.to_string().contains("passwd") && err.to_string().contains("outside"), "{err}");
    // Too large.
    let big = fixture_copy("reference", &t.path().join("big"));
    std::fs::write(big.join("blob.bin"), vec![0u8; 2 << 20]).unwrap();
    let err = context::scan(&big, caps(1 << 20)).err().expect("refused");
    assert!(err.to_string().contains("larger than the 1 MB limit"), "{err}");
    // ... unless .dockerignore leaves the large file out.
    std::fs::write(big.join(".dockerignore"), "blob.bin\n").unwrap();
    let plan = context::scan(&big, caps(1 << 20)).unwrap();
    let expected = plan.bytes;
    let tar = crate::support::streamed(plan, b"FROM x\n".to_vec()).await;
    assert_eq!(tar.len() as u64, expected, "the scan counts the tar exactly as streamed");
    let names: Vec<String> = tar::Archive::new(&tar[..])
        .entries()
        .unwrap()
        .map(|e| e.unwrap().path().unwrap().to_string_lossy().into_owned())
        .collect();
    assert!(names.iter().any(|n| n == "Dockerfile") && names.iter().any(|n| n == "app/main.py"), "{names:?}");
    assert!(!names.iter().any(|n| n.contains("blob.bin")), "{names:?}");
    // No Dockerfile.
    let empty = t.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    assert!(matches!(context::scan(&empty, caps(1 << 20)), Err(SandboxError::NoDockerfile(_))));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_build_that_needs_the_network_fails_with_its_log() {
    let docker = docker().await;
    let limits = limits(&docker).await;
    let t = TempDir::new().unwrap();
    let sub = t.path().join("netbuild");
    std::fs::create_dir(&sub).unwrap();
    // Name resolution inside the build: there is no network, so it fails
    // locally (the build container has no interface but loopback).
    std::fs::write(
        sub.join("Dockerfile"),
        format!(
            "FROM {}\nRUN python3 -c \"import socket; socket.getaddrinfo('pypi.invalid', 443)\"\n",
            limits.base_image
        ),
    )
    .unwrap();
    let run = RunId::new();
    let guard = RunGuard::new(&docker, &run, false).unwrap();
    let err = build(&docker, &sub, &run, &limits).await.expect_err("build fails");
    guard.cleanup().await;
    assert_eq!(err.class(), FailureClass::BuildFailed, "{err}");
    let SandboxError::BuildFailed { log, .. } = &err else { unreachable!() };
    assert!(log.contains("gaierror") || log.contains("Temporary failure"), "{log}");
    assert_eq!(leftovers(&docker, &run).await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dropped_guard_still_removes_everything() {
    let docker = docker().await;
    let limits = limits(&docker).await;
    let t = TempDir::new().unwrap();
    let data = variant_in(t.path(), 1);
    let run = RunId::new();
    {
        let _guard = RunGuard::new(&docker, &run, false).unwrap();
        let image = build(&docker, &fixture("naive"), &run, &limits).await.unwrap();
        let _service = start(
            &docker,
            &RunConfig {
                image: &image.tag,
                data_dir: &data.join("public"),
                limits: &limits,
                run: &run,
                access: Access::Socket,
            },
        )
        .await
        .unwrap();
        assert!(leftovers(&docker, &run).await >= 3, "image, candidate and relay exist");
        // Dropped here without cleanup(), as on an early return or a panic.
    }
    assert_eq!(leftovers(&docker, &run).await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_loopback_fallback_publishes_on_127_0_0_1_only() {
    let docker = docker().await;
    let limits = limits(&docker).await;
    let t = TempDir::new().unwrap();
    let data = variant_in(t.path(), 2);
    let run = RunId::new();
    let guard = RunGuard::new(&docker, &run, false).unwrap();
    let image = build(&docker, &fixture("naive"), &run, &limits).await.unwrap();
    let config = RunConfig {
        image: &image.tag,
        data_dir: &data.join("public"),
        limits: &limits,
        run: &run,
        access: Access::LoopbackPort,
    };
    let service = start(&docker, &config).await.unwrap();
    let ready = service.wait_ready(&docker).await;
    let url = service.url("/health");
    let info = docker.inspect_container(&service.candidate, None).await.unwrap();
    service.stop(&docker).await.unwrap();
    guard.cleanup().await;
    ready.unwrap();
    assert!(url.starts_with("http://127.0.0.1:"), "{url}");
    assert!(service.socket().is_none() && service.relay.is_none());
    let bindings = info.host_config.unwrap().port_bindings.unwrap();
    for b in bindings.values().flatten().flatten() {
        assert_eq!(b.host_ip.as_deref(), Some("127.0.0.1"), "published beyond loopback: {b:?}");
    }
    assert_eq!(leftovers(&docker, &run).await, 0);
}

#[test]
fn grader_run_reports_a_healthy_submission_and_leaves_nothing() {
    let o = crate::support::grader(&[
        "run",
        crate::support::fixture("reference").to_str().unwrap(),
        "--exercise",
        crate::support::churn().to_str().unwrap(),
        "--seed",
        "5",
        "--json",
    ]);
    assert!(o.status.success(), "{}", crate::support::stderr(&o));
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["ready"], true);
    assert!(v["report"]["leakage"].as_array().is_some_and(|a| !a.is_empty()), "{v}");
    let run = v["run"].as_str().unwrap();
    let left = std::process::Command::new("docker")
        .args(["ps", "-aq", "--filter", &format!("label=org.grader.run={run}")])
        .output()
        .unwrap();
    assert!(left.stdout.is_empty(), "containers left: {}", String::from_utf8_lossy(&left.stdout));
}

#[test]
fn grader_run_classifies_a_missing_dockerfile_as_bad_input() {
    let t = TempDir::new().unwrap();
    let o = crate::support::grader(&[
        "run",
        t.path().to_str().unwrap(),
        "--exercise",
        crate::support::churn().to_str().unwrap(),
        "--seed",
        "1",
    ]);
    assert_eq!(o.status.code(), Some(2), "{}", crate::support::stderr(&o));
    assert!(crate::support::stderr(&o).contains("no Dockerfile"), "{}", crate::support::stderr(&o));
}

#[test]
fn an_unreachable_docker_engine_is_an_infrastructure_error_naming_the_endpoint() {
    let t = TempDir::new().unwrap();
    let sock = t.path().join("no-engine.sock");
    let host = format!("unix://{}", sock.display());
    for args in [vec!["clean", "--docker-host", host.as_str()], vec!["clean"]] {
        let o = std::process::Command::new(env!("CARGO_BIN_EXE_grader"))
            .args(&args)
            .env("DOCKER_HOST", &host)
            .output()
            .unwrap();
        let err = crate::support::stderr(&o);
        assert_eq!(o.status.code(), Some(5), "{err}");
        assert!(err.contains(sock.to_str().unwrap()) && err.contains("DOCKER_HOST"), "{err}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grader_clean_removes_leftovers_by_label() {
    let docker = docker().await;
    let limits = limits(&docker).await;
    let run = RunId::new();
    // A leftover, as a killed grader would leave it.
    let body = bollard::models::ContainerCreateBody {
        image: Some(limits.base_image.clone()),
        cmd: Some(vec!["sleep".into(), "300".into()]),
        labels: Some(run.labels("candidate")),
        host_config: Some(bollard::models::HostConfig { network_mode: Some("none".into()), ..Default::default() }),
        ..Default::default()
    };
    let id = docker.create_container(None, body).await.unwrap().id;
    docker.start_container(&id, None).await.unwrap();
    assert_eq!(leftovers(&docker, &run).await, 1);
    let o = crate::support::grader(&["clean", "--run", run.as_str(), "--json"]);
    assert!(o.status.success(), "{}", crate::support::stderr(&o));
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["containers"], 1);
    assert_eq!(leftovers(&docker, &run).await, 0);
}
