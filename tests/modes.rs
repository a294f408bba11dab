//! The mode advisor (`eipsim modes`): on the bundled demo and on small topologies where a mode
//! is refused by a rule of the seeds.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use eipsim::advisor::modes::{self, Advice, ModesOptions};
use eipsim::replay::{self, ReplayOptions};
use etherparse::PacketBuilder;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn tempdir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("eipsim-modes-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn demo_advice(out: &Path) -> Advice {
    let (t, c) = (
        root().join("pcaps/demo-topology.toml"),
        root().join("pcaps/demo.pcap"),
    );
    modes::run(&ModesOptions {
        capture_point: Default::default(),
        topology: t,
        inputs: vec![c],
        out: out.to_path_buf(),
        ingress: None,
    })
    .unwrap()
    .advice
}

/// The verdict text of the flow of `eni` opened at `frame`, in `mode`.
fn cell(a: &Advice, eni: &str, frame: u64, mode: &str) -> String {
    let e = a
        .enis
        .iter()
        .find(|e| e.eni == eni)
        .expect("ENI in the advice");
    let r = e
        .flows
        .iter()
        .find(|r| r.flow.first_frame == frame)
        .unwrap_or_else(|| panic!("{eni}: no flow at frame {frame}"));
    r.modes[mode].text()
}

#[test]
fn the_written_mode_column_is_the_plain_replay() {
    let out = tempdir("plain");
    let advice = demo_advice(&out);
    let o = replay::run(&ReplayOptions {
        capture_point: Default::default(),
        respond: false,
        topology: root().join("pcaps/demo-topology.toml"),
        out: out.join("replay"),
        ingress: None,
        workers: 1,
        inputs: vec![root().join("pcaps/demo.pcap")],
        progress: false,
        trace: None,
        max_open_files: None,
        alg: true,
        alg_spec: None,
        events: None,
    })
    .unwrap();
    assert!(o.capture_error.is_none());
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("replay/report.json")).unwrap())
            .unwrap();
    let verdicts: BTreeMap<u64, String> = report["flows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["first_frame"].as_u64().unwrap(),
                f["verdict"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let mut compared = 0;
    for e in &advice.enis {
        for r in &e.flows {
            for m in &e.current {
                assert_eq!(
                    r.modes[m].verdict, verdicts[&r.flow.first_frame],
                    "{} flow at frame {} in its written mode {m}",
                    e.eni, r.flow.first_frame
                );
                compared += 1;
            }
        }
    }
    assert!(compared >= 30, "{compared}");
    assert!(out.join("modes.json").exists());
}

#[test]
fn demo_matrix_cells() {
    let a = demo_advice(&tempdir("cells"));
    // SIP from a NAT ENI: broken in NAT, fine where the guest owns the EIP.
    assert_eq!(cell(&a, "eni-web1", 10, "NAT"), "alg-broken");
    assert_eq!(cell(&a, "eni-web1", 10, "BINDED"), "ok");
    assert_eq!(cell(&a, "eni-web1", 10, "MULTI_BINDED"), "ok");
    // DNS: documented, no evidence.
    assert_eq!(cell(&a, "eni-web1", 3, "NAT"), "alg-at-risk");
    // A primary ENI takes NAT only (seed 002): the other modes are refused by the rule.
    let web0 = a.enis.iter().find(|e| e.eni == "eni-web0").unwrap();
    for m in ["BINDED", "MULTI_BINDED"] {
        let av = &web0.availability[m];
        assert!(!av.available);
        assert!(av.note.contains("primary-eni-nat-only"), "{}", av.note);
        assert!(web0.flows.iter().all(|r| r.modes[m].verdict == "n/a"));
    }
    // Cut-through loses the private network; NAT and multi-EIP keep it. In NAT mode the guest
    // sends from 172.16.1.10, so this flow is also eni-web0's earlier frame to 172.16.1.10,
    // which eni-cut's security group drops (ingress: SSH only; eni-web0 is no member): the
    // advisor runs the groups in every cell. In multi-EIP mode the guest keeps sending from
    // the EIP, and the group lets its own traffic out (basic: egress accepted).
    let cut = a.enis.iter().find(|e| e.eni == "eni-cut").unwrap();
    let intra = cut
        .flows
        .iter()
        .find(|r| r.flow.addresses[1] == "172.16.0.10")
        .unwrap();
    assert_eq!(
        intra.modes["BINDED"].text(),
        "dropped (private-network-unavailable)"
    );
    assert_eq!(intra.modes["NAT"].text(), "dropped (security-group)");
    assert_eq!(intra.modes["MULTI_BINDED"].text(), "ok");
    // Without DHCP on the instance neither cut-through (the guest never learns the EIP) nor
    // multi-EIP (seed 003: "Otherwise, the multi-EIP to ENI mode does not take effect") works;
    // NAT needs no DHCP.
    let legacy = a.enis.iter().find(|e| e.eni == "eni-legacy-cut").unwrap();
    assert_eq!(
        legacy.flows[0].modes["BINDED"].text(),
        "dropped (guest-not-configured)"
    );
    assert_eq!(
        legacy.flows[0].modes["MULTI_BINDED"].text(),
        "dropped (guest-not-configured)"
    );
    assert_eq!(legacy.all_ok, ["NAT"]);
}

const REGION_TOPOLOGY: &str = r#"
region = "REGION"
[account]
multi_eip_authorized = AUTH
[vpc]
cidr = "172.16.0.0/12"
[[instance]]
id = "i-1"
family = "FAMILY"
[[eni]]
id = "eni-p"
kind = "primary"
mac = "00:16:3e:00:00:01"
primary_ip = "172.16.0.1"
instance = "i-1"
[[eni]]
id = "eni-s"
kind = "secondary"
mac = "00:16:3e:00:00:02"
primary_ip = "172.16.0.2"
instance = "i-1"
[[eip]]
id = "eip-1"
address = "47.0.0.1"
[[association]]
eip = "eip-1"
eni = "eni-s"
mode = "NAT"
"#;

/// A UDP frame out of `eni-s` and its answer to the EIP.
fn capture(path: &Path) {
    use pcap_file::pcap::{PcapHeader, PcapPacket, PcapWriter};
    let mut w = PcapWriter::with_header(
        std::fs::File::create(path).unwrap(),
        PcapHeader {
            datalink: pcap_file::DataLink::ETHERNET,
            ..Default::default()
        },
    )
    .unwrap();
    let mut frames = Vec::new();
    let mut b = Vec::new();
    PacketBuilder::ethernet2(
        [0, 0x16, 0x3e, 0, 0, 2],
        [0xee, 0xff, 0xff, 0xff, 0xff, 0xff],
    )
    .ipv4([172, 16, 0, 2], [198, 51, 100, 7], 64)
    .udp(7000, 7000)
    .write(&mut b, b"hello")
    .unwrap();
    frames.push(b);
    let mut b = Vec::new();
    PacketBuilder::ethernet2([2, 0, 0, 0, 0, 1], [0xee, 0xff, 0xff, 0xff, 0xff, 0xff])
        .ipv4([198, 51, 100, 7], [47, 0, 0, 1], 64)
        .udp(7000, 7000)
        .write(&mut b, b"world")
        .unwrap();
    frames.push(b);
    // A ping from the guest and its reply (ICMP: the advisor changes its source too).
    let mut b = Vec::new();
    PacketBuilder::ethernet2(
        [0, 0x16, 0x3e, 0, 0, 2],
        [0xee, 0xff, 0xff, 0xff, 0xff, 0xff],
    )
    .ipv4([172, 16, 0, 2], [198, 51, 100, 7], 64)
    .icmpv4_echo_request(7, 1)
    .write(&mut b, b"ping")
    .unwrap();
    frames.push(b);
    let mut b = Vec::new();
    PacketBuilder::ethernet2([2, 0, 0, 0, 0, 1], [0xee, 0xff, 0xff, 0xff, 0xff, 0xff])
        .ipv4([198, 51, 100, 7], [47, 0, 0, 1], 64)
        .icmpv4_echo_reply(7, 1)
        .write(&mut b, b"ping")
        .unwrap();
    frames.push(b);
    for (i, f) in frames.iter().enumerate() {
        w.write_packet(&PcapPacket::new(
            std::time::Duration::from_secs(i as u64),
            f.len() as u32,
            f,
        ))
        .unwrap();
    }
}

fn advise(name: &str, region: &str, family: &str, authorized: bool) -> Advice {
    let dir = tempdir(name);
    let topo = dir.join("t.toml");
    std::fs::write(
        &topo,
        REGION_TOPOLOGY
            .replace("REGION", region)
            .replace("FAMILY", family)
            .replace("AUTH", if authorized { "true" } else { "false" }),
    )
    .unwrap();
    let cap = dir.join("c.pcap");
    capture(&cap);
    modes::run(&ModesOptions {
        capture_point: Default::default(),
        topology: topo,
        inputs: vec![cap],
        out: dir.join("out"),
        ingress: None,
    })
    .unwrap()
    .advice
}

#[test]
fn refused_modes_name_their_rule() {
    // Frankfurt offers every mode, and ecs.g6 is not on seed 003's multi-EIP family list.
    let a = advise("family", "eu-central-1", "ecs.g6", true);
    assert_eq!(a.enis.len(), 1, "only eni-s has traffic");
    let e = &a.enis[0];
    assert_eq!(e.eni, "eni-s");
    assert!(e.availability["BINDED"].available);
    let m = &e.availability["MULTI_BINDED"];
    assert!(
        !m.available && m.note.contains("multi-eip-instance-family"),
        "{}",
        m.note
    );
    assert_eq!(e.all_ok, ["NAT", "BINDED"]);
    assert_eq!(a.frames, 4);
    // Without the authorisation multi-EIP mode takes no new applications (seed 003).
    let a = advise("auth", "eu-central-1", "ecs.g5", false);
    let m = &a.enis[0].availability["MULTI_BINDED"];
    assert!(m.note.contains("multi-eip-not-authorized"), "{}", m.note);
    // Tokyo offers neither cut-through nor multi-EIP (seeds 001 and 003 region lists).
    let a = advise("tokyo", "ap-northeast-1", "ecs.g5", true);
    for mode in ["BINDED", "MULTI_BINDED"] {
        let m = &a.enis[0].availability[mode];
        assert!(m.note.contains("mode-not-in-region"), "{mode}: {}", m.note);
    }
    assert_eq!(a.enis[0].all_ok, ["NAT"]);
    // The guest sends from its EIP in cut-through: both frames pass.
    let a = advise("binded", "eu-central-1", "ecs.g5", true);
    assert_eq!(a.enis[0].flows.len(), 2, "UDP and ICMP");
    for row in &a.enis[0].flows {
        for m in ["NAT", "BINDED", "MULTI_BINDED"] {
            assert_eq!(row.modes[m].forwarded, Some(2), "{} {m}", row.flow.protocol);
            assert_eq!(row.modes[m].verdict, "ok");
        }
    }
}
