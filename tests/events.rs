//! Timed events during a replay (`replay --events`): the failover demo (seed 004: "mask the
//! failure of the ECS instance by rapidly remapping the EIP"), pinned to the frame; tables
//! swapped whole between batches, with one worker or several; failing and unreached events;
//! an ENI created mid-replay gets its own output.

mod common;

use std::path::{Path, PathBuf};

use common::demo::failover;
use eipsim::replay::{self, ReplayOptions};

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn tempdir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("eipsim-events-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn run(out: &Path, events: Option<PathBuf>, workers: usize) -> serde_json::Value {
    let o = replay::run(&ReplayOptions {
        capture_point: Default::default(),
        respond: false,
        topology: root().join("pcaps/failover-topology.toml"),
        out: out.to_path_buf(),
        ingress: None,
        workers,
        inputs: vec![root().join("pcaps/failover.pcap")],
        progress: false,
        trace: Some(out.join("trace.tsv")),
        max_open_files: None,
        alg: true,
        alg_spec: None,
        events,
    })
    .unwrap();
    assert!(o.capture_error.is_none());
    serde_json::from_str(&std::fs::read_to_string(out.join("report.json")).unwrap()).unwrap()
}

/// (verdict, egress) per frame, from the trace.
fn trace(out: &Path) -> Vec<(String, String)> {
    std::fs::read_to_string(out.join("trace.tsv"))
        .unwrap()
        .lines()
        .skip(1)
        .map(|l| {
            let c: Vec<&str> = l.split('\t').collect();
            (c[3].to_string(), c[4].to_string())
        })
        .collect()
}

#[test]
fn committed_failover_files_match_the_generator() {
    let read = |f: &str| std::fs::read(root().join("pcaps").join(f)).unwrap();
    assert_eq!(
        read("failover-topology.toml"),
        failover::TOPOLOGY.as_bytes()
    );
    assert_eq!(read("failover-events.toml"), failover::EVENTS.as_bytes());
    assert!(
        read("failover.pcap") == failover::capture(),
        "run `cargo run --example gen_demo`"
    );
}

#[test]
fn failover_changes_egress_at_the_pinned_frame() {
    let events = Some(root().join("pcaps/failover-events.toml"));
    let out = tempdir("failover");
    let report = run(&out, events.clone(), 1);
    let fates = trace(&out);
    let expected = failover::frames();
    assert_eq!(fates.len(), expected.len());
    for (n, ((verdict, egress), f)) in fates.iter().zip(&expected).enumerate() {
        let got = if egress == "dropped" {
            format!("drop {verdict}")
        } else {
            format!("egress {egress}")
        };
        assert_eq!(got, f.expect, "frame {}", n + 1);
    }
    // The pins: frame 12 is the last answer through the active ENI, frame 13 (5.6 s) finds
    // the EIP unbound, frame 15 (6.0 s) is the first delivered to the standby.
    assert_eq!(fates[10].1, "eni-active");
    assert_eq!(fates[12].0, "eip-not-associated");
    assert_eq!(fates[13].0, "no-public-address");
    let first_standby = fates.iter().position(|f| f.1 == "eni-standby").unwrap() + 1;
    assert_eq!(first_standby, 15);
    // The timeline: where each event applied, and the counters around it.
    let t = report["timeline"].as_array().unwrap();
    assert_eq!(t.len(), 2);
    assert_eq!(
        (t[0]["frame"].as_u64(), t[1]["frame"].as_u64()),
        (Some(13), Some(15))
    );
    assert_eq!(t[0]["result"], "ok");
    assert_eq!(t[0]["before"]["egress"]["eni-active"], 6);
    assert_eq!(t[0]["before"]["forwarded"], 12);
    assert_eq!(t[0]["after"]["dropped"]["eip-not-associated"], 1);
    assert_eq!(t[0]["after"]["dropped"]["no-public-address"], 1);
    assert_eq!(t[1]["before"]["frames"], 2);
    assert_eq!(t[1]["after"]["egress"]["eni-standby"], 4);
    assert_eq!(t[1]["after"]["egress"]["internet"], 4);
    // Two workers: byte-identical outputs (the tables travel with each batch).
    let out2 = tempdir("failover-2w");
    run(&out2, events, 2);
    for f in [
        "internet.pcap",
        "eni-active.pcap",
        "eni-standby.pcap",
        "dropped.pcapng",
        "trace.tsv",
    ] {
        assert_eq!(
            std::fs::read(out.join(f)).unwrap(),
            std::fs::read(out2.join(f)).unwrap(),
            "{f}"
        );
    }
}

#[test]
fn without_events_the_eip_stays_on_the_failed_instance() {
    let out = tempdir("noevents");
    let report = run(&out, None, 1);
    let fates = trace(&out);
    assert!(fates.iter().all(|f| f.1 != "eni-standby"));
    assert_eq!(fates[14].1, "eni-active");
    assert!(report.get("timeline").is_none());
}

#[test]
fn failing_unreached_and_creating_events() {
    let dir = tempdir("mixed");
    let events = dir.join("events.toml");
    std::fs::write(
        &events,
        r#"
# Refused: the EIP is already bound (an EIP is bound once); the tables stay as they are.
[[event]]
at = 1700000002
op = "AssociateEipAddress"
eip = "eip-svc"
eni = "eni-standby"
mode = "BINDED"

# A new ENI and EIP mid-capture: frames to the new EIP reach the new ENI's own output.
[[event]]
at = 1700000003.5
op = "CreateNetworkInterface"
id = "eni-new"
kind = "secondary"
mac = "00:16:3e:00:07:10"
primary_ip = "172.16.7.10"
instance = "i-standby"

[[event]]
at = "1700000003.5"
op = "UnassociateEipAddress"
eip = "eip-svc"

[[event]]
at = "1700000003.5"
op = "AssociateEipAddress"
eip = "eip-svc"
eni = "eni-new"

# After the last frame: reported, never applied.
[[event]]
at = 1800000000
op = "DetachNetworkInterface"
eni = "eni-new"
"#,
    )
    .unwrap();
    let out = dir.join("out");
    let report = run(&out, Some(events), 1);
    let t = report["timeline"].as_array().unwrap();
    assert_eq!(t.len(), 5);
    assert_eq!(t[0]["result"], "error");
    assert_eq!(t[0]["error_code"], "eip-associated-twice");
    assert_eq!(t[0]["frame"], 5, "the first frame at or after 2.0 s");
    assert!(
        t[1..4]
            .iter()
            .all(|e| e["frame"] == 9 && e["result"] == "ok")
    );
    assert!(t[4]["frame"].is_null());
    assert_eq!(t[4]["result"], "not-reached");
    let fates = trace(&out);
    // Frame 7 (3.0 s) still went to eni-active; frame 9 (4.0 s) to the new ENI.
    assert_eq!(fates[6].1, "eni-active");
    assert_eq!(fates[8].1, "eni-new");
    assert!(out.join("eni-new.pcap").exists());
    assert_eq!(report["egress"]["eni-new"], 7);
    let o = replay::run(&ReplayOptions {
        capture_point: Default::default(),
        respond: false,
        topology: root().join("pcaps/failover-topology.toml"),
        out: dir.join("bad-out"),
        ingress: None,
        workers: 1,
        inputs: vec![root().join("pcaps/failover.pcap")],
        progress: false,
        trace: None,
        max_open_files: None,
        alg: true,
        alg_spec: None,
        events: Some({
            let bad = dir.join("bad.toml");
            std::fs::write(&bad, "[[event]]\nat = 1\nop = \"DetachNetworkInterface\"\n").unwrap();
            bad
        }),
    });
    let e = o.expect_err("a malformed event is refused").to_string();
    assert!(e.contains("event 1") && e.contains("eni"), "{e}");
    assert!(!dir.join("bad-out/report.json").exists(), "nothing written");
}
