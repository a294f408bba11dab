//! Flows that ended and left the full flow table go to spill files in the output directory, a
//! bounded buffer of them in memory: `report.json` is the same whatever the buffer (one run per
//! few flows or everything in memory) and whatever `--workers`, and no spill file stays in the
//! output directory, after a replay that succeeded or one that failed.

use std::path::{Path, PathBuf};

use eipsim::replay::{self, ReplayOptions};
use etherparse::PacketBuilder;
use pcap_file::pcap::{PcapHeader, PcapPacket, PcapReader, PcapWriter};

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn tempdir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("eipsim-spill-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// 66,000 TCP flows (SYN, then RST) from the demo's FTP host to Internet hosts, at the demo's
/// first timestamp: more than the flow table holds, so ended flows leave it.
fn filler(path: &Path) {
    let f = std::fs::File::open(root().join("pcaps/demo.pcap")).unwrap();
    let t = PcapReader::new(f)
        .unwrap()
        .next_packet()
        .unwrap()
        .unwrap()
        .timestamp;
    let mut w =
        PcapWriter::with_header(std::fs::File::create(path).unwrap(), PcapHeader::default())
            .unwrap();
    let mac = [0x00, 0x16, 0x3e, 0, 0, 0x10];
    let gw = [0xee, 0xff, 0xff, 0xff, 0xff, 0xff];
    for i in 0..66_000u32 {
        let dst = [198, 18, (i >> 8) as u8, i as u8];
        for rst in [false, true] {
            let b = PacketBuilder::ethernet2(mac, gw)
                .ipv4([172, 16, 0, 10], dst, 64)
                .tcp(10000 + (i % 50000) as u16, 443, 1, 1000);
            let b = if rst { b.rst() } else { b.syn() };
            let mut v = Vec::new();
            b.write(&mut v, &[]).unwrap();
            w.write_packet(&PcapPacket::new(t, v.len() as u32, &v))
                .unwrap();
        }
    }
}

fn opts(out: &Path, fill: &Path, workers: usize) -> ReplayOptions {
    ReplayOptions {
        topology: root().join("pcaps/demo-topology.toml"),
        out: out.to_path_buf(),
        ingress: None,
        workers,
        inputs: vec![fill.to_path_buf(), root().join("pcaps/demo.pcap")],
        progress: false,
        trace: None,
        max_open_files: None,
        alg: true,
        alg_spec: None,
        events: None,
        capture_point: Default::default(),
        respond: false,
    }
}

/// The hidden files of `dir` whose name says spill.
fn spill_files(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains("spill"))
        .collect()
}

#[test]
fn the_report_does_not_depend_on_the_spill_buffer_nor_on_workers() {
    let dir = tempdir("buffer");
    let fill = dir.join("filler.pcap");
    filler(&fill);
    // Everything in memory: the report as it always was.
    let all = dir.join("memory");
    let o = replay::run_spilling(&opts(&all, &fill, 1), usize::MAX).unwrap();
    let archived = o.stats.flows_archived();
    assert!(archived > 60_000, "{}", o.summary);
    let expected = std::fs::read(all.join("report.json")).unwrap();
    // Buffers of 1,000 (dozens of runs), 4,096 (the default) and 1 (a run per flow).
    for (buffer, workers) in [(1000, 1), (1000, 4), (4096, 2), (1, 1)] {
        let out = dir.join(format!("spill-{buffer}-{workers}"));
        let o = replay::run_spilling(&opts(&out, &fill, workers), buffer).unwrap();
        assert_eq!(o.stats.flows_archived(), archived);
        assert!(
            o.summary.contains(&format!(
                "{archived} of them ended or went idle and left the full flow table"
            )),
            "{}",
            o.summary
        );
        let got = std::fs::read(out.join("report.json")).unwrap();
        assert!(
            got == expected,
            "report.json differs with a buffer of {buffer} and {workers} workers"
        );
        assert_eq!(
            spill_files(&out),
            Vec::<String>::new(),
            "{buffer} {workers}"
        );
    }
    // Every filler flow is reported once, in first-frame order.
    let r: serde_json::Value = serde_json::from_slice(&expected).unwrap();
    let flows = r["flows"].as_array().unwrap();
    assert_eq!(
        flows.iter().filter(|f| f["ports"][1] == 443).count(),
        66_000
    );
    let firsts: Vec<u64> = flows
        .iter()
        .map(|f| f["first_frame"].as_u64().unwrap())
        .collect();
    assert!(firsts.windows(2).all(|w| w[0] < w[1]));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn no_spill_file_stays_after_a_failed_replay_nor_from_a_dead_one() {
    let dir = tempdir("failed");
    let fill = dir.join("filler.pcap");
    filler(&fill);
    let out = dir.join("out");
    std::fs::create_dir_all(&out).unwrap();
    // The spill file of a run that was killed (another process id): removed by the next run.
    let stale = out.join(".flows-3.spill.4000000000.tmp");
    std::fs::write(&stale, b"left by a killed run").unwrap();
    // report.json cannot be written: its temporary name is taken by a directory.
    let blocker = out.join(format!(".report.json.{}.tmp", std::process::id()));
    std::fs::create_dir_all(&blocker).unwrap();
    let e = replay::run_spilling(&opts(&out, &fill, 2), 500).unwrap_err();
    assert!(e.to_string().contains("report.json"), "{e}");
    assert!(!stale.exists());
    assert_eq!(spill_files(&out), Vec::<String>::new());
    assert!(!out.join("report.json").exists());
    // The same replay once the way is clear: outputs, and still no spill file.
    std::fs::remove_dir(&blocker).unwrap();
    let o = replay::run_spilling(&opts(&out, &fill, 2), 500).unwrap();
    assert!(o.stats.flows_archived() > 500);
    assert!(out.join("report.json").is_file());
    assert_eq!(spill_files(&out), Vec::<String>::new());
    let _ = std::fs::remove_dir_all(&dir);
}
