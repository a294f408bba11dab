//! The flow table's bound counts only flows still open: 66,000 short flows per host (SYN then RST)
//! before the demo leave the demo's ALG verdicts intact, since ended flows leave the full table
//! (and are still reported); as many flows left open fill it, and the summary says so in words.

use std::path::{Path, PathBuf};
use std::process::Command;

use etherparse::PacketBuilder;
use pcap_file::pcap::{PcapHeader, PcapPacket, PcapReader, PcapWriter};

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn tempdir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("eipsim-flowtable-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// The demo's first timestamp.
fn demo_start() -> std::time::Duration {
    let f = std::fs::File::open(root().join("pcaps/demo.pcap")).unwrap();
    let mut r = PcapReader::new(f).unwrap();
    r.next_packet().unwrap().unwrap().timestamp
}

/// `flows` TCP flows from each of the demo's FTP and SIP hosts (eni-web0 172.16.0.10,
/// eni-web1 172.16.0.21) to Internet hosts: a SYN each, then a RST when `close`.
fn filler(path: &Path, flows: u32, close: bool) {
    let t = demo_start();
    let mut w =
        PcapWriter::with_header(std::fs::File::create(path).unwrap(), PcapHeader::default())
            .unwrap();
    let gw = [0xee, 0xff, 0xff, 0xff, 0xff, 0xff];
    for (mac, ip) in [
        ([0x00, 0x16, 0x3e, 0, 0, 0x10], [172, 16, 0, 10]),
        ([0x00, 0x16, 0x3e, 0, 0, 0x20], [172, 16, 0, 21]),
    ] {
        for i in 0..flows {
            let dst = [198, 18, (i >> 8) as u8, i as u8];
            let sport = 10000 + (i % 50000) as u16;
            for rst in [false, true] {
                if rst && !close {
                    continue;
                }
                let mut b = PacketBuilder::ethernet2(mac, gw)
                    .ipv4(ip, dst, 64)
                    .tcp(sport, 443, 1, 1000);
                b = if rst { b.rst() } else { b.syn() };
                let mut v = Vec::new();
                b.write(&mut v, &[]).unwrap();
                w.write_packet(&PcapPacket::new(t, v.len() as u32, &v))
                    .unwrap();
            }
        }
    }
}

fn replay(dir: &Path, close: bool) -> (serde_json::Value, String) {
    let fill = dir.join("filler.pcap");
    filler(&fill, 66_000, close);
    let out = dir.join("out");
    let o = Command::new(env!("CARGO_BIN_EXE_eipsim"))
        .args(["replay", "--no-progress", "--topology"])
        .arg(root().join("pcaps/demo-topology.toml"))
        .arg("--out")
        .arg(&out)
        .arg(&fill)
        .arg(root().join("pcaps/demo.pcap"))
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let r = serde_json::from_slice(&std::fs::read(out.join("report.json")).unwrap()).unwrap();
    (r, String::from_utf8(o.stdout).unwrap())
}

fn broken(r: &serde_json::Value) -> Vec<String> {
    let mut v: Vec<String> = r["flows"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["verdict"] == "alg-broken")
        .map(|f| f["alg_protocol"].as_str().unwrap().to_string())
        .collect();
    v.sort();
    v
}

#[test]
fn ended_flows_leave_the_full_table_and_alg_verdicts_survive() {
    let dir = tempdir("ended");
    let (r, summary) = replay(&dir, true);
    assert_eq!(broken(&r), ["ftp", "sip"], "{summary}");
    assert_eq!(r["flows_untracked_frames"], 0, "{summary}");
    // Every filler flow is still reported, once.
    let filler = r["flows"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["ports"][1] == 443)
        .count();
    assert_eq!(filler, 132_000);
    assert!(
        summary.contains("ended or went idle and left the full flow table"),
        "{summary}"
    );
    assert!(!summary.contains("the flow table was full"), "{summary}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn open_flows_fill_the_table_and_the_summary_says_so() {
    let dir = tempdir("open");
    let (r, summary) = replay(&dir, false);
    assert!(r["flows_untracked_frames"].as_u64().unwrap() > 0);
    assert!(
        summary.contains("note: the flow table was full"),
        "{summary}"
    );
    assert!(summary.contains("no ALG analysis"), "{summary}");
    let _ = std::fs::remove_dir_all(&dir);
}
