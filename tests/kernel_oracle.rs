//! Linux NAT as a second oracle (root only): the same frames go through a network namespace
//! doing 1:1 NAT with nftables (conntrack `dnat`/`snat` per NAT-mode EIP) and through
//! `eipsim replay`, and the IP bytes that come out of each side are compared datagram by
//! datagram (fragments reassembled on both sides). Two inputs: the frames of the bundled demo
//! that eipsim forwards with a NAT action, and a generated capture of a few thousand frames
//! (kernel_oracle/traffic.rs). Every difference must fall in a class explained in
//! docs/kernel-oracle.md; the table of counts is printed.
//!
//! Skipped, with a message, when not root (`netns::skip`; under `CI` as root it must run).
//! Run it under the machine-wide namespace lock:
//! `flock /tmp/eipsim-netns.lock cargo test --test kernel_oracle -- --nocapture`.

#[path = "kernel_oracle/compare.rs"]
mod compare;
#[path = "kernel_oracle/kernel.rs"]
mod kernel;
#[allow(dead_code)]
#[path = "live/netns.rs"]
mod netns;
#[path = "kernel_oracle/rng.rs"]
mod rng;
#[path = "kernel_oracle/traffic.rs"]
mod traffic;

use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use pcap_file::pcap::{PcapHeader, PcapPacket, PcapReader, PcapWriter};

/// The seed of the generated capture.
const SEED: u64 = 0x5eed_0e1b;
/// Sessions in the generated capture (about 2,900 frames).
const SESSIONS: usize = 330;

/// The difference classes explained in docs/kernel-oracle.md (each named there in backticks).
/// Any other class fails the test.
const EXPLAINED: &[&str] = &[
    "identical",
    "df-of-fragments",
    "conntrack-invalid",
    "eipsim-only-truncated",
];

/// A fresh scratch folder under the target's temporary folder.
fn scratch() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("kernel-oracle");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("scratch dir");
    dir
}

/// Writes `frames` (Ethernet) as a pcap file, 1 ms apart.
fn write_pcap(path: &Path, frames: &[(bool, Vec<u8>)]) {
    let f = std::fs::File::create(path).expect("capture created");
    let mut w = PcapWriter::with_header(f, PcapHeader::default()).expect("pcap header");
    for (i, (_, bytes)) in frames.iter().enumerate() {
        let ts = Duration::from_millis(1_000 + i as u64);
        w.write_packet(&PcapPacket::new(ts, bytes.len() as u32, bytes))
            .expect("frame written");
    }
}

/// The IP bytes of an Ethernet frame, after any 802.1Q/802.1ad tags.
fn ip_bytes(frame: &[u8]) -> &[u8] {
    let mut at = 12;
    while frame.len() >= at + 6 && matches!(frame[at..at + 2], [0x81, 0x00] | [0x88, 0xa8]) {
        at += 4;
    }
    &frame[(at + 2).min(frame.len())..]
}

/// The frame without its VLAN tags (the kernel's namespace has no VLAN interfaces: the tag is
/// link layer, which the comparison leaves out).
fn untagged(frame: &[u8]) -> Vec<u8> {
    let ip = ip_bytes(frame);
    let mut v = frame[..12].to_vec();
    v.extend_from_slice(&frame[frame.len() - ip.len() - 2..]);
    v
}

/// The frames of a pcap file.
fn read_pcap(path: &Path) -> Vec<Vec<u8>> {
    let f = std::fs::File::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut r = PcapReader::new(f).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut out = Vec::new();
    while let Some(p) = r.next_packet() {
        out.push(p.expect("a record").data.into_owned());
    }
    out
}

/// Runs `eipsim replay` of `capture` through `topology` into `out`, with a trace; returns the
/// trace's (verdict, egress) per frame.
fn replay(topology: &Path, capture: &Path, out: &Path) -> Vec<(String, String)> {
    let trace = out.with_extension("tsv");
    let o = Command::new(env!("CARGO_BIN_EXE_eipsim"))
        .args(["replay", "--no-progress", "--topology"])
        .arg(topology)
        .arg(capture)
        .arg("--out")
        .arg(out)
        .arg("--trace")
        .arg(&trace)
        .output()
        .expect("eipsim runs");
    assert!(
        o.status.success(),
        "eipsim replay failed: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    std::fs::read_to_string(&trace)
        .expect("trace written")
        .lines()
        .skip(1)
        .map(|l| {
            let c: Vec<&str> = l.split('\t').collect();
            (c[3].to_string(), c[4].to_string())
        })
        .collect()
}

/// eipsim's output of a replay into `out`: the IP bytes towards the Internet, and towards the
/// ENIs (every `<eni-id>.pcap`).
fn eipsim_sent(out: &Path) -> (Vec<Vec<u8>>, Vec<Vec<u8>>) {
    let strip = |v: Vec<Vec<u8>>| v.into_iter().map(|f| ip_bytes(&f).to_vec()).collect();
    let internet = strip(read_pcap(&out.join("internet.pcap")));
    let mut enis: Vec<PathBuf> = std::fs::read_dir(out)
        .expect("out dir")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "pcap") && !p.ends_with("internet.pcap"))
        .collect();
    enis.sort();
    let vpc = enis.iter().flat_map(|p| strip(read_pcap(p))).collect();
    (internet, vpc)
}

/// One input through both: the per-class counts over both sides, and an example per class.
fn differential(
    name: &str,
    dir: &Path,
    topology: &Path,
    frames: &[(bool, Vec<u8>)],
    maps: &[kernel::Mapping],
) -> BTreeMap<String, usize> {
    let capture = dir.join(format!("{name}.pcap"));
    write_pcap(&capture, frames);
    let out = dir.join(format!("{name}-eipsim"));
    let trace = replay(topology, &capture, &out);
    for (i, (verdict, _)) in trace.iter().enumerate() {
        assert!(
            verdict == "snat" || verdict == "dnat",
            "{name} frame {}: eipsim's verdict is {verdict}, not a NAT action",
            i + 1
        );
    }
    let (e_inet, e_vpc) = eipsim_sent(&out);

    kernel::setup(maps, dir);
    let untagged: Vec<(bool, Vec<u8>)> = frames.iter().map(|(v, b)| (*v, untagged(b))).collect();
    let refs: Vec<(bool, &[u8])> = untagged.iter().map(|(v, b)| (*v, b.as_slice())).collect();
    let t = Instant::now();
    let sent = kernel::forward(&refs);
    let (invalid, forwarded) = (kernel::counter("ct_invalid"), kernel::counter("passed"));
    kernel::teardown();
    println!(
        "{name}: {} frames in; kernel forwarded {forwarded} datagrams, dropped {invalid} INVALID, \
         sent {} + {} packets in {:.1?}",
        frames.len(),
        sent.internet.len(),
        sent.vpc.len(),
        t.elapsed()
    );

    let mut total = BTreeMap::new();
    for (side, e, k) in [
        ("internet", e_inet, sent.internet),
        ("vpc", e_vpc, sent.vpc),
    ] {
        let (e, k) = (compare::reassemble(&e), compare::reassemble(&k));
        for (who, s) in [("eipsim", &e), ("kernel", &k)] {
            if s.bad_header_checksums > 0 {
                *total
                    .entry(format!("{who}-fragment-header-checksum"))
                    .or_insert(0) += s.bad_header_checksums;
            }
            if s.incomplete > 0 {
                *total.entry(format!("{who}-incomplete")).or_insert(0) += s.incomplete;
            }
        }
        let (counts, examples) = compare::compare(&e.datagrams, &k.datagrams);
        for (class, n) in counts {
            if class != "identical" {
                println!("  {name} {side}: {n} x {class}, e.g. {}", examples[&class]);
            }
            *total.entry(class).or_insert(0) += n;
        }
    }
    // Datagrams the kernel dropped as conntrack INVALID are the ones only eipsim sent, when
    // their number is the INVALID counter's.
    if invalid > 0 && total.get("eipsim-only").copied() == Some(invalid as usize) {
        total.remove("eipsim-only");
        total.insert("conntrack-invalid".into(), invalid as usize);
    }
    total
}

/// The demo's frames that eipsim forwards with a NAT action, with their side.
fn demo_nat_frames(dir: &Path) -> Vec<(bool, Vec<u8>)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("pcaps");
    let demo = root.join("demo.pcap");
    let trace = replay(
        &root.join("demo-topology.toml"),
        &demo,
        &dir.join("demo-all"),
    );
    read_pcap(&demo)
        .into_iter()
        .zip(trace)
        .filter(|(_, (v, _))| v == "snat" || v == "dnat")
        .map(|(f, (v, _))| (v == "snat", f))
        .collect()
}

fn mapping(eip: [u8; 4], private: [u8; 4], mac: [u8; 6]) -> kernel::Mapping {
    kernel::Mapping {
        eip: Ipv4Addr::from(eip),
        private: Ipv4Addr::from(private),
        mac,
    }
}

#[test]
fn linux_nat_and_eipsim_send_the_same_bytes() {
    if netns::skip(&["nft", "ethtool"]) {
        return;
    }
    let _one = netns::lock();
    netns::Cleanup::remove_namespaces(); // debris of an earlier run
    let _guard = netns::Cleanup {
        children: Vec::new(),
    };
    let dir = scratch();
    let started = Instant::now();

    // (a) the demo's NAT-mode frames, through the demo topology's NAT associations.
    let demo = demo_nat_frames(&dir);
    assert!(demo.len() >= 20, "the demo has {} NAT frames", demo.len());
    let demo_maps = [
        mapping(
            [47, 0, 0, 10],
            [172, 16, 0, 10],
            [0, 0x16, 0x3e, 0, 0, 0x10],
        ),
        mapping([47, 0, 0, 1], [172, 16, 0, 21], [0, 0x16, 0x3e, 0, 0, 0x20]),
        mapping([47, 0, 0, 2], [172, 16, 0, 22], [0, 0x16, 0x3e, 0, 0, 0x20]),
        mapping(
            [47, 0, 0, 40],
            [172, 16, 3, 10],
            [0, 0x16, 0x3e, 0, 3, 0x10],
        ),
    ];
    let demo_topology = Path::new(env!("CARGO_MANIFEST_DIR")).join("pcaps/demo-topology.toml");
    let a = differential("demo", &dir, &demo_topology, &demo, &demo_maps);

    // (b) the generated capture, through a topology of its own.
    let generated: Vec<(bool, Vec<u8>)> = traffic::capture(SEED, SESSIONS)
        .into_iter()
        .map(|f| (f.from_vpc, f.bytes))
        .collect();
    assert!(generated.len() > 2_000, "{} frames", generated.len());
    let topology = dir.join("generated-topology.toml");
    std::fs::write(&topology, traffic::TOPOLOGY).expect("topology written");
    let maps: Vec<kernel::Mapping> = traffic::NATS
        .iter()
        .map(|n| mapping(n.eip, n.private, n.mac))
        .collect();
    let b = differential("generated", &dir, &topology, &generated, &maps);

    // The table, then the verdict.
    let classes: std::collections::BTreeSet<&String> = a.keys().chain(b.keys()).collect();
    println!("\n{:<60} {:>8} {:>10}", "class", "demo", "generated");
    for c in &classes {
        let n = |m: &BTreeMap<String, usize>| m.get(*c).copied().unwrap_or(0);
        println!("{c:<60} {:>8} {:>10}", n(&a), n(&b));
    }
    let differing = |m: &BTreeMap<String, usize>| {
        m.iter()
            .filter(|(c, _)| *c != "identical")
            .map(|(_, n)| n)
            .sum::<usize>()
    };
    println!(
        "differing: demo {} of {} frames in, generated {} of {} frames in ({:.1?})",
        differing(&a),
        demo.len(),
        differing(&b),
        generated.len(),
        started.elapsed()
    );
    let docs = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/kernel-oracle.md"),
    )
    .expect("docs/kernel-oracle.md");
    for c in &classes {
        assert!(
            EXPLAINED.contains(&c.as_str()),
            "difference class `{c}` is not explained (docs/kernel-oracle.md)"
        );
        assert!(
            docs.contains(&format!("`{c}`")),
            "docs/kernel-oracle.md does not explain `{c}`"
        );
    }
    assert!(a.get("identical").copied().unwrap_or(0) >= 15, "{a:?}");
    assert!(b.get("identical").copied().unwrap_or(0) >= 1_500, "{b:?}");
}

/// The comparison itself (no root needed): reassembly gives back the datagram, and a changed
/// TTL, a changed quoted checksum and a wrong checksum are each found and named.
#[test]
fn the_comparison_finds_and_names_differences() {
    let frames = traffic::capture(SEED, 60);
    let ip: Vec<Vec<u8>> = frames.iter().map(|f| ip_bytes(&f.bytes).to_vec()).collect();
    let side = compare::reassemble(&ip);
    assert_eq!(side.incomplete, 0);
    assert_eq!(side.bad_header_checksums, 0);
    assert!(
        side.datagrams.iter().any(|d| d.1),
        "some datagrams were fragmented"
    );
    let (counts, _) = compare::compare(&side.datagrams, &side.datagrams);
    assert_eq!(counts.keys().collect::<Vec<_>>(), ["identical"]);
    // A TTL one lower, the header checksum updated: `ttl` only.
    let d = side
        .datagrams
        .iter()
        .find(|d| !d.1)
        .expect("a datagram")
        .0
        .clone();
    let mut t = d.clone();
    t[8] -= 1;
    let sum = u16::from_be_bytes([t[10], t[11]]).wrapping_add(0x0100);
    t[10..12].copy_from_slice(&sum.to_be_bytes());
    assert_eq!(compare::differences(&d, &t), ["ttl"]);
    // The same without the checksum update: the kernel's checksum is wrong.
    let mut w = d.clone();
    w[8] -= 1;
    assert_eq!(
        compare::differences(&d, &w),
        ["ttl", "ip-checksum-wrong-kernel"]
    );
    // An ICMP error whose quoted transport checksum differs.
    let e = side
        .datagrams
        .iter()
        .map(|d| &d.0)
        .find(|d| d[9] == 1 && matches!(d[20], 3 | 11) && d.len() >= 20 + 8 + 28)
        .expect("an ICMP error");
    let mut q = e.clone();
    let at = 20 + 8 + 20 + if q[20 + 8 + 9] == 6 { 16 } else { 6 };
    q[at] ^= 0xff;
    let d = compare::differences(e, &q);
    assert!(d.contains(&"quoted-l4-checksum".to_string()), "{d:?}");
    assert!(d.contains(&"l4-checksum-wrong-kernel".to_string()), "{d:?}");
}
