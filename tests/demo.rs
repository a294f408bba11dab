//! The bundled demo: the committed files are what the generator makes, and every frame meets the
//! fate written beside it by hand.

mod common;

use std::path::Path;

use eipsim::dataplane::{Dataplane, Outcome, Port};
use eipsim::model::Cloud;
use eipsim::wire::LinkType;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

#[test]
fn committed_demo_matches_generator() {
    let topo = std::fs::read_to_string(root().join("pcaps/demo-topology.toml")).unwrap();
    assert_eq!(
        topo,
        common::demo::TOPOLOGY,
        "run `cargo run --example gen_demo`"
    );
    let pcap = std::fs::read(root().join("pcaps/demo.pcap")).unwrap();
    assert!(
        pcap == common::demo::capture(),
        "run `cargo run --example gen_demo`"
    );
}

#[test]
fn every_demo_frame_meets_its_expected_fate() {
    let cloud = Cloud::from_toml(common::demo::TOPOLOGY).unwrap();
    let dp = Dataplane::new(&cloud);
    // The frame pass: the core, then the security groups' stage.
    let mut pass = eipsim::advisor::QuietReplay::new(&cloud, None, Default::default());
    let mut reasons = std::collections::BTreeSet::new();
    for (i, f) in common::demo::frames().iter().enumerate() {
        let mut data = f.data.clone();
        let v = pass.push(&f.data, LinkType::Ethernet);
        let core = dp.process(&mut data, LinkType::Ethernet);
        if v.drop_reason().is_some() {
            // A dropped frame is left as it arrived.
            data = f.data.clone();
        }
        assert_eq!(
            v.outcome == core.outcome,
            v.drop_reason() != Some(eipsim::dataplane::DropReason::SecurityGroup),
            "frame {}: only the groups' stage changes the core's verdict",
            i + 1
        );
        let got = match v.outcome {
            Outcome::Forward(p, a) => {
                let egress = match p {
                    Port::Internet => "internet".to_string(),
                    Port::Eni(e) => cloud.enis[e as usize].id.clone(),
                };
                format!("{} {egress}", a.as_str())
            }
            Outcome::Drop(r) => {
                reasons.insert(r);
                assert_eq!(
                    data,
                    f.data,
                    "frame {}: a dropped frame is unchanged",
                    i + 1
                );
                format!("drop {r}")
            }
        };
        assert_eq!(got, f.expect, "frame {} ({})", i + 1, f.what);
    }
    // Every reason the frame pass gives (`unsupported-link` is the reader's, for a pcapng
    // interface).
    assert_eq!(
        reasons.len(),
        eipsim::dataplane::DropReason::COUNT - 1,
        "the demo shows every drop reason"
    );
    assert!(!reasons.contains(&eipsim::dataplane::DropReason::UnsupportedLink));
}

#[test]
fn demo_replay_writes_every_output() {
    let out = tempdir("demo-replay");
    let (topology, capture) = eipsim::replay::demo_paths();
    let opts = eipsim::replay::ReplayOptions {
        capture_point: Default::default(),
        respond: false,
        topology,
        out: out.clone(),
        ingress: None,
        workers: 1,
        inputs: vec![capture],
        progress: false,
        trace: Some(out.join("trace.tsv")),
        max_open_files: None,
        alg: true,
        alg_spec: None,
        events: None,
    };
    let o = eipsim::replay::run(&opts).unwrap();
    assert!(o.capture_error.is_none());
    let n = common::demo::frames().len() as u64;
    assert_eq!(o.stats.frames_in, n);
    assert_eq!(o.stats.forwarded + o.stats.dropped_total(), n);
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("report.json")).unwrap()).unwrap();
    assert_eq!(report["frames"]["in"], n);
    assert_eq!(
        report["frames"]["forwarded"].as_u64().unwrap()
            + report["frames"]["dropped"].as_u64().unwrap(),
        n
    );
    let by_reason: u64 = report["dropped"]
        .as_object()
        .unwrap()
        .values()
        .map(|v| v.as_u64().unwrap())
        .sum();
    assert_eq!(by_reason, report["frames"]["dropped"].as_u64().unwrap());
    for f in [
        "internet.pcap",
        "dropped.pcapng",
        "eni-web0.pcap",
        "report.json",
    ] {
        assert!(out.join(f).exists(), "{f} written");
    }
    // eni-spare (detached) received no frame: no file (its frames are in dropped.pcapng).
    assert_eq!(report["egress"]["eni-spare"], 0);
    assert!(!out.join("eni-spare.pcap").exists());
    // No temporary file is left behind.
    for e in std::fs::read_dir(&out).unwrap() {
        let name = e.unwrap().file_name().to_string_lossy().into_owned();
        assert!(!name.ends_with(".tmp"), "left behind: {name}");
    }
    // The trace agrees with the hand-written expectations.
    let trace = std::fs::read_to_string(out.join("trace.tsv")).unwrap();
    let frames = common::demo::frames();
    for (line, f) in trace.lines().skip(1).zip(frames.iter()) {
        let cols: Vec<&str> = line.split('\t').collect();
        let got = if cols[4] == "dropped" {
            format!("drop {}", cols[3])
        } else {
            format!("{} {}", cols[3], cols[4])
        };
        assert_eq!(got, f.expect, "trace line {line}");
    }
    // With one ENI file open at a time (suspend and append), the outputs are byte-identical.
    let out3 = tempdir("demo-replay-one-open");
    eipsim::replay::run(&eipsim::replay::ReplayOptions {
        capture_point: Default::default(),
        respond: false,
        out: out3.clone(),
        trace: None,
        max_open_files: Some(1),
        alg: true,
        alg_spec: None,
        events: None,
        ..opts.clone()
    })
    .unwrap();
    for f in [
        "internet.pcap",
        "eni-web0.pcap",
        "eni-web1.pcap",
        "eni-app0.pcap",
        "report.json",
    ] {
        assert_eq!(
            std::fs::read(out.join(f)).unwrap(),
            std::fs::read(out3.join(f)).unwrap(),
            "{f} differs with one open ENI file"
        );
    }
    // With several workers the outputs are byte-identical.
    let out2 = tempdir("demo-replay-workers");
    let o2 = eipsim::replay::run(&eipsim::replay::ReplayOptions {
        capture_point: Default::default(),
        respond: false,
        out: out2.clone(),
        workers: 3,
        trace: None,
        ..opts
    })
    .unwrap();
    assert_eq!(o2.stats.frames_in, n);
    for f in [
        "internet.pcap",
        "dropped.pcapng",
        "eni-web1.pcap",
        "report.json",
    ] {
        assert_eq!(
            std::fs::read(out.join(f)).unwrap(),
            std::fs::read(out2.join(f)).unwrap(),
            "{f} differs with 3 workers"
        );
    }
}

fn tempdir(name: &str) -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!("eipsim-test-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}
