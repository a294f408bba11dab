//! Replays every real capture in `../shared/pcaps` (present where .ci/run runs; run with
//! `cargo test --test shared_captures -- --ignored`). Each capture either replays with
//! `in == forwarded + dropped`, or fails with an error naming the file; nothing panics.

use std::path::{Path, PathBuf};

use eipsim::advisor;
use eipsim::replay::{self, ReplayOptions};

fn shared() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/pcaps")
}

fn captures(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).expect("../shared/pcaps must exist for this test") {
        let p = e.unwrap().path();
        if p.is_dir() {
            captures(&p, out);
        } else if p.extension().is_some_and(|x| x == "pcap" || x == "pcapng") {
            out.push(p);
        }
    }
}

#[test]
#[ignore = "needs ../shared/pcaps; run by .ci/run with --ignored"]
fn every_shared_capture_replays_or_fails_clearly() {
    let mut caps = Vec::new();
    captures(&shared(), &mut caps);
    caps.sort();
    assert!(caps.len() >= 40, "found only {} captures", caps.len());
    let work = std::env::temp_dir().join(format!("eipsim-shared-{}", std::process::id()));
    let mut replayed = 0;
    for (i, cap) in caps.iter().enumerate() {
        let name = cap.file_name().unwrap().to_string_lossy().into_owned();
        let topo_text = match advisor::suggest::topology_for(std::slice::from_ref(cap)) {
            Ok(t) => t,
            Err(e) => {
                assert!(e.to_string().contains(&name), "{e}");
                continue;
            }
        };
        let dir = work.join(format!("{i}"));
        std::fs::create_dir_all(&dir).unwrap();
        let topo = dir.join("topology.toml");
        std::fs::write(&topo, topo_text).unwrap();
        let opts = ReplayOptions {
            capture_point: Default::default(),
            respond: false,
            topology: topo,
            out: dir.join("out"),
            ingress: None,
            workers: 1,
            inputs: vec![cap.clone()],
            progress: false,
            trace: None,
            max_open_files: None,
            alg: true,
            alg_spec: None,
            events: None,
        };
        match replay::run(&opts) {
            Ok(o) => {
                replayed += 1;
                assert_eq!(
                    o.stats.frames_in,
                    o.stats.forwarded + o.stats.dropped_total(),
                    "{name}"
                );
                let report: serde_json::Value = serde_json::from_str(
                    &std::fs::read_to_string(dir.join("out/report.json")).unwrap(),
                )
                .unwrap();
                assert_eq!(report["frames"]["in"].as_u64().unwrap(), o.stats.frames_in);
                if let Some(e) = &o.capture_error {
                    assert!(
                        cap.to_string_lossy().contains("malformed"),
                        "{name}: unexpected error {e}"
                    );
                    assert!(e.to_string().contains(&name) && e.record.is_some(), "{e}");
                }
            }
            Err(e) => {
                assert!(
                    cap.to_string_lossy().contains("malformed"),
                    "{name}: unexpected error {e}"
                );
                assert!(e.to_string().contains(&name), "{e}");
            }
        }
    }
    assert!(replayed >= 40, "replayed {replayed}");
}

#[test]
#[ignore = "needs ../shared/pcaps; run by .ci/run with --ignored"]
fn formats_and_link_types_are_read() {
    let cases: &[(&str, u64)] = &[
        ("rtsp/nDPI_rtsp.pcap", 568),                 // pcapng named .pcap
        ("sll/tcpdump_tcp-handshake-nano.pcap", 3),   // nanosecond pcap
        ("variants/tcpdump_pptp-bigendian.pcap", 23), // big-endian pcap
        ("pcapng/nDPI_dns-google-nsid.pcapng", 14),   // 3 interfaces
        ("sll2/zeek_linux_dlt_sll2.pcap", 6),         // SLL2
        ("rawip/tcpdump_LINKTYPE_IPV4.pcap", 1),      // 228
        ("malformed/tcpdump_empty.pcap", 0),          // header only
    ];
    for (rel, frames) in cases {
        let cap = shared().join(rel);
        let mut r = eipsim::replay::input::CaptureReader::open(&cap).unwrap();
        let mut buf = Vec::new();
        let mut n = 0;
        while r.next_frame(&mut buf).unwrap().is_some() {
            n += 1;
        }
        assert_eq!(n, *frames, "{rel}");
    }
    // A corrupt record header (16 MB caplen): the record is named.
    let cap = shared().join("malformed/sv_bug-6875-01_fuzz.pcap");
    let mut r = eipsim::replay::input::CaptureReader::open(&cap).unwrap();
    let mut buf = Vec::new();
    let err = loop {
        match r.next_frame(&mut buf) {
            Ok(Some(_)) => {}
            Ok(None) => panic!("expected an error"),
            Err(e) => break e,
        }
    };
    assert_eq!(err.record, Some(2), "{err}");
}

#[test]
#[ignore = "needs ../shared/pcaps; run by .ci/run with --ignored"]
fn pcapng_input_gives_pcapng_output_with_its_interfaces() {
    let cap = shared().join("pcapng/nDPI_dns-google-nsid.pcapng");
    let dir = std::env::temp_dir().join(format!("eipsim-ng-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let topo = dir.join("t.toml");
    std::fs::write(
        &topo,
        advisor::suggest::topology_for(std::slice::from_ref(&cap)).unwrap(),
    )
    .unwrap();
    let o = replay::run(&ReplayOptions {
        capture_point: Default::default(),
        respond: false,
        topology: topo,
        out: dir.join("out"),
        ingress: None,
        workers: 1,
        inputs: vec![cap],
        progress: false,
        trace: None,
        max_open_files: None,
        alg: true,
        alg_spec: None,
        events: None,
    })
    .unwrap();
    assert!(o.stats.forwarded > 0);
    let bytes = std::fs::read(dir.join("out/internet.pcap")).unwrap();
    assert_eq!(
        &bytes[..4],
        &[0x0a, 0x0d, 0x0d, 0x0a],
        "pcapng in, pcapng out"
    );
}
