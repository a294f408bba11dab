//! Capture point `instance` (`replay --capture-point instance`): a capture taken on the instance
//! shows the frames it received already translated (destination = its private IP). They are
//! turned back into the frames the Internet sent, replayed, and the frames delivered to the ENI
//! are then byte-identical to the captured ones.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use eipsim::dataplane::{Action, CapturePoint, Dataplane, Outcome, Port};
use eipsim::model::Cloud;
use eipsim::wire::LinkType;

fn tempdir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("eipsim-cp-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn demo() -> (Cloud, Dataplane) {
    let cloud = Cloud::from_toml(common::demo::TOPOLOGY).unwrap();
    let dp = Dataplane::new(&cloud);
    (cloud, dp)
}

/// RFC 1071 sum over `data` (checked independently of eipsim's checksum code).
fn sum16(initial: u32, data: &[u8]) -> u16 {
    let mut s = u64::from(initial);
    for c in data.chunks(2) {
        s += u64::from(u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)]));
    }
    while s >> 16 != 0 {
        s = (s & 0xffff) + (s >> 16);
    }
    s as u16
}

/// The demo's frames that the gateway delivered by DNAT: (gateway-view input, what the ENI got).
fn dnat_pairs(dp: &Dataplane) -> Vec<(Vec<u8>, Vec<u8>, u32)> {
    let mut out = Vec::new();
    for f in common::demo::frames() {
        let mut got = f.data.clone();
        let v = dp.process(&mut got, LinkType::Ethernet);
        if let Outcome::Forward(Port::Eni(e), Action::Dnat) = v.outcome {
            out.push((f.data.clone(), got, e));
        }
    }
    out
}

#[test]
fn restoring_a_delivered_frame_gives_back_the_internets_frame() {
    let (_, dp) = demo();
    let pairs = dnat_pairs(&dp);
    assert!(
        pairs.len() >= 5,
        "the demo has DNAT frames: {}",
        pairs.len()
    );
    let mut icmp_errors = 0;
    for (sent, got, _) in &pairs {
        let mut r = got.clone();
        assert!(
            dp.restore_received(&mut r, LinkType::Ethernet),
            "a DNAT'd frame from outside the VPC is restored"
        );
        // Everything but the MACs (the gateway's rewrite) is the Internet's frame again:
        // destination EIP, TTL one higher, every checksum as it was.
        assert_eq!(
            &r[12..],
            &sent[12..],
            "restored frame differs from the original"
        );
        let l3 = if sent[12..14] == [0x81, 0x00] { 18 } else { 14 };
        if sent[l3 + 9] == 1 && matches!(sent[l3 + 20], 3 | 11) {
            icmp_errors += 1;
        }
    }
    assert!(icmp_errors >= 1, "an ICMP error is among the DNAT frames");
}

#[test]
fn restore_then_core_delivers_the_captured_bytes() {
    let (_, dp) = demo();
    let mut inst = dp.clone();
    inst.set_capture_point(CapturePoint::Instance);
    for (_, got, eni) in dnat_pairs(&dp) {
        let mut r = got.clone();
        assert!(inst.restore_received(&mut r, LinkType::Ethernet));
        let v = inst.process(&mut r, LinkType::Ethernet);
        assert_eq!(v.outcome, Outcome::Forward(Port::Eni(eni), Action::Dnat));
        assert_eq!(
            r, got,
            "the frame delivered is byte-identical to the captured one"
        );
        // And it verifies: IPv4 header checksum.
        let l3 = if r[12..14] == [0x81, 0x00] { 18 } else { 14 };
        let ihl = usize::from(r[l3] & 0x0f) * 4;
        assert_eq!(sum16(0, &r[l3..l3 + ihl]), 0xffff);
    }
}

#[test]
fn frames_the_instance_sent_and_frames_from_inside_are_not_restored() {
    let (cloud, dp) = demo();
    let web0 = cloud.eni_index("eni-web0").unwrap() as u32;
    let mut untouched = 0;
    for f in common::demo::frames() {
        let mut probe = f.data.clone();
        let v = dp.process(&mut probe, LinkType::Ethernet);
        if v.ingress == Some(Port::Eni(web0)) {
            let mut r = f.data.clone();
            assert!(!dp.restore_received(&mut r, LinkType::Ethernet));
            assert_eq!(r, f.data, "a frame the instance sent is left as it is");
            untouched += 1;
        }
    }
    assert!(untouched >= 3);
    // A frame from an Internet MAC whose source is inside the VPC never crossed the gateway.
    let mut f = common::demo::frames()
        .into_iter()
        .map(|f| f.data)
        .find(|d| {
            let mut c = d.clone();
            matches!(
                dp.process(&mut c, LinkType::Ethernet).outcome,
                Outcome::Forward(Port::Eni(_), Action::Dnat)
            )
        })
        .unwrap();
    dp.process(&mut f, LinkType::Ethernet);
    // Source 172.16.9.9 (inside the VPC CIDR): checksum left wrong on purpose, nothing restored.
    f[14 + 12..14 + 16].copy_from_slice(&[172, 16, 9, 9]);
    let before = f.clone();
    assert!(!dp.restore_received(&mut f, LinkType::Ethernet));
    assert_eq!(f, before);
}

fn write_pcap(path: &Path, frames: &[Vec<u8>]) {
    use pcap_file::pcap::{PcapHeader, PcapPacket, PcapWriter};
    let file = std::fs::File::create(path).unwrap();
    let mut w = PcapWriter::with_header(
        file,
        PcapHeader {
            snaplen: 65535,
            ..PcapHeader::default()
        },
    )
    .unwrap();
    for (i, f) in frames.iter().enumerate() {
        let ts = std::time::Duration::new(1_700_000_000, i as u32 * 1000);
        w.write_packet(&PcapPacket::new(ts, f.len() as u32, f))
            .unwrap();
    }
}

fn read_pcap(path: &Path) -> Vec<Vec<u8>> {
    let mut r = pcap_file::pcap::PcapReader::new(std::fs::File::open(path).unwrap()).unwrap();
    let mut v = Vec::new();
    while let Some(p) = r.next_packet() {
        v.push(p.unwrap().data.into_owned());
    }
    v
}

/// The capture eni-web1's instance would take: what it received (translated) and what it sent.
fn instance_capture(dp: &Dataplane, cloud: &Cloud) -> (Vec<Vec<u8>>, Vec<Vec<u8>>) {
    let web1 = cloud.eni_index("eni-web1").unwrap() as u32;
    let mut capture = Vec::new();
    let mut received = Vec::new();
    for f in common::demo::frames() {
        let mut got = f.data.clone();
        let v = dp.process(&mut got, LinkType::Ethernet);
        match v.outcome {
            Outcome::Forward(Port::Eni(e), _) if e == web1 => {
                capture.push(got.clone());
                received.push(got);
            }
            _ if v.ingress == Some(Port::Eni(web1)) && f.data.len() as u32 == f.orig_len => {
                capture.push(f.data.clone())
            }
            _ => {}
        }
    }
    (capture, received)
}

#[test]
fn replay_of_an_instance_capture() {
    let (cloud, dp) = demo();
    let (capture, received) = instance_capture(&dp, &cloud);
    assert!(received.len() >= 2 && capture.len() > received.len());
    let work = tempdir("replay");
    let topo = work.join("t.toml");
    std::fs::write(&topo, common::demo::TOPOLOGY).unwrap();
    let cap = work.join("inst.pcap");
    write_pcap(&cap, &capture);
    let run = |point: &str, out: &str| {
        Command::new(env!("CARGO_BIN_EXE_eipsim"))
            .args([
                "replay",
                "--no-progress",
                "--capture-point",
                point,
                "--topology",
            ])
            .arg(&topo)
            .arg("--out")
            .arg(work.join(out))
            .arg(&cap)
            .output()
            .unwrap()
    };
    // As a gateway capture: the received frames carry private destinations and are lost.
    let o = run("gateway", "gw");
    assert!(o.status.success());
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(
        text.contains("the capture looks taken on an instance")
            && text.contains("--capture-point instance"),
        "{text}"
    );
    let gw: serde_json::Value =
        serde_json::from_slice(&std::fs::read(work.join("gw/report.json")).unwrap()).unwrap();
    assert!(gw["dropped"]["unknown-destination"].as_u64().unwrap() >= received.len() as u64);
    assert_eq!(gw["capture_point"]["looks_like_instance_capture"], true);
    // As an instance capture: every received frame is delivered, byte for byte as captured.
    let o = run("instance", "inst");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(text.contains("capture point instance"), "{text}");
    assert!(!text.contains("looks taken on an instance"), "{text}");
    let rep: serde_json::Value =
        serde_json::from_slice(&std::fs::read(work.join("inst/report.json")).unwrap()).unwrap();
    assert_eq!(rep["dropped"]["unknown-destination"], 0);
    assert_eq!(rep["capture_point"]["point"], "instance");
    assert_eq!(
        rep["capture_point"]["restored"].as_u64(),
        Some(received.len() as u64)
    );
    let delivered = read_pcap(&work.join("inst/eni-web1.pcap"));
    assert_eq!(delivered, received);
    // And what the instance sent left as the gateway replay of the original capture sends it.
    let gw_internet = read_pcap(&work.join("gw/internet.pcap"));
    let inst_internet = read_pcap(&work.join("inst/internet.pcap"));
    assert_eq!(gw_internet, inst_internet);
}

#[test]
fn capture_point_is_checked_and_reaches_modes() {
    let o = Command::new(env!("CARGO_BIN_EXE_eipsim"))
        .args(["replay", "--capture-point", "router"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("gateway"));
    let (cloud, dp) = demo();
    let (capture, _) = instance_capture(&dp, &cloud);
    let work = tempdir("modes");
    let topo = work.join("t.toml");
    std::fs::write(&topo, common::demo::TOPOLOGY).unwrap();
    let cap = work.join("inst.pcap");
    write_pcap(&cap, &capture);
    let modes = |point: &str| {
        let o = Command::new(env!("CARGO_BIN_EXE_eipsim"))
            .args(["modes", "--capture-point", point, "--topology"])
            .arg(&topo)
            .arg("--out")
            .arg(work.join(point))
            .arg(&cap)
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        String::from_utf8_lossy(&o.stdout).into_owned()
    };
    let gw = modes("gateway");
    let inst = modes("instance");
    assert!(gw.contains("unknown-destination"), "{gw}");
    assert!(!inst.contains("unknown-destination"), "{inst}");
}
