//! The test topology, frame builders, and two ways to run frames: the frame pass without
//! writers ([`fates`], capture time 0) and a full replay with outputs ([`replay`]).

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use eipsim::advisor::QuietReplay;
use eipsim::dataplane::{Outcome, Port, Verdict};
use eipsim::model::Cloud;
use eipsim::replay::{self, ReplayOptions};
use eipsim::wire::LinkType;
use etherparse::icmpv4::{DestUnreachableHeader, TimeExceededCode};
use etherparse::{Icmpv4Type, PacketBuilder};
use pcap_file::pcap::{PcapHeader, PcapPacket, PcapWriter};

/// The gateway's MAC (destination of every frame the tests send).
pub const GW: [u8; 6] = [0xee, 0xff, 0xff, 0xff, 0xff, 0xff];
/// An Internet host's MAC (no ENI's: the frame comes from the Internet).
pub const INET: [u8; 6] = [0x02, 0, 0, 0, 0, 0x99];
/// An Internet client.
pub const CLIENT: [u8; 4] = [198, 51, 100, 7];
/// Another Internet client.
pub const CLIENT2: [u8; 4] = [203, 0, 113, 9];
/// An Internet router (sends ICMP errors).
pub const ROUTER: [u8; 4] = [192, 0, 2, 1];
/// Capture time of the first frame of a replay, seconds since the epoch.
pub const START: u64 = 1_700_000_000;

/// One ENI of [`BASE`]: its id, MAC, private IP and EIPs.
#[derive(Clone, Copy, Debug)]
pub struct Eni {
    /// Its id.
    pub id: &'static str,
    /// Its MAC.
    pub mac: [u8; 6],
    /// Its primary IP.
    pub ip: [u8; 4],
    /// Its EIP (the first, for a multi-EIP ENI), if any.
    pub eip: Option<[u8; 4]>,
}

const fn mac(n: u8) -> [u8; 6] {
    [0x00, 0x16, 0x3e, 0, 0, n]
}

/// Primary ENI of i-a (DHCP), NAT 47.0.0.1 on 172.16.0.10.
pub const NAT: Eni = Eni {
    id: "eni-nat",
    mac: mac(1),
    ip: [172, 16, 0, 10],
    eip: Some([47, 0, 0, 1]),
};
/// Secondary ENI of i-a, NAT 47.0.0.2 on 172.16.0.20.
pub const WEB: Eni = Eni {
    id: "eni-web",
    mac: mac(2),
    ip: [172, 16, 0, 20],
    eip: Some([47, 0, 0, 2]),
};
/// Primary ENI of i-b, no EIP; a secondary private IP, [`PEER_IP2`].
pub const PEER: Eni = Eni {
    id: "eni-peer",
    mac: mac(3),
    ip: [172, 16, 0, 30],
    eip: None,
};
/// Secondary ENI of i-b (DHCP), cut-through 47.0.0.4.
pub const CUT: Eni = Eni {
    id: "eni-cut",
    mac: mac(4),
    ip: [172, 16, 0, 40],
    eip: Some([47, 0, 0, 4]),
};
/// Secondary ENI of i-nodhcp (no DHCP), cut-through 47.0.0.5.
pub const CUT_NODHCP: Eni = Eni {
    id: "eni-cut-nodhcp",
    mac: mac(5),
    ip: [172, 16, 0, 50],
    eip: Some([47, 0, 0, 5]),
};
/// Secondary ENI of i-b (DHCP), multi-EIP 47.0.0.6 and 47.0.0.7.
pub const MULTI: Eni = Eni {
    id: "eni-multi",
    mac: mac(6),
    ip: [172, 16, 0, 60],
    eip: Some([47, 0, 0, 6]),
};
/// Secondary ENI of i-nodhcp (no DHCP), multi-EIP 47.0.0.8.
pub const MULTI_NODHCP: Eni = Eni {
    id: "eni-multi-nodhcp",
    mac: mac(7),
    ip: [172, 16, 0, 70],
    eip: Some([47, 0, 0, 8]),
};
/// A detached ENI, no EIP.
pub const DETACHED: Eni = Eni {
    id: "eni-detached",
    mac: mac(9),
    ip: [172, 16, 0, 90],
    eip: None,
};
/// The secondary private IP of [`PEER`].
pub const PEER_IP2: [u8; 4] = [172, 16, 0, 31];
/// Every ENI of [`BASE`].
pub const ALL: [Eni; 8] = [
    NAT,
    WEB,
    PEER,
    CUT,
    CUT_NODHCP,
    MULTI,
    MULTI_NODHCP,
    DETACHED,
];
/// The second multi-EIP address of [`MULTI`].
pub const MULTI_EIP2: [u8; 4] = [47, 0, 0, 7];
/// An EIP of the account with no association.
pub const FREE_EIP: [u8; 4] = [47, 0, 0, 9];

/// NAT, cut-through and multi-EIP ENIs, on instances with and without DHCP; no group.
pub const BASE: &str = include_str!("base.toml");

/// [`BASE`] with `members` (ENI id, its groups as a TOML list body such as `"sg-a", "sg-b"`)
/// and the `[[security_group]]` tables of `groups` appended.
pub fn topo(members: &[(&str, &str)], groups: &str) -> String {
    let mut t = BASE.to_string();
    for (eni, list) in members {
        let at = format!("id = \"{eni}\"\n");
        assert!(t.contains(&at), "no ENI {eni}");
        t = t.replacen(&at, &format!("{at}security_groups = [{list}]\n"), 1);
    }
    format!("{t}\n{groups}")
}

/// A `[[security_group]]` table: `kind` is `basic` or `enterprise`, `extra` more of its keys
/// (such as `inner_access = "drop"`), then its rules (each made by [`rule`] or written out).
pub fn group(id: &str, kind: &str, extra: &str, rules: &[String]) -> String {
    let mut s = format!("[[security_group]]\nid = \"{id}\"\ntype = \"{kind}\"\n{extra}\n");
    for r in rules {
        let _ = write!(s, "\n[[security_group.rule]]\n{r}\n");
    }
    s + "\n"
}

/// A rule: `dir` ingress|egress, `policy` accept|drop, `protocol`, `ports` ("80/80", "-1/-1"),
/// and `peer`, a CIDR (`"1.2.3.4/32"`) or a group (`"group:sg-x"`).
pub fn rule(
    dir: &str,
    policy: &str,
    priority: u8,
    protocol: &str,
    ports: &str,
    peer: &str,
) -> String {
    let peer = match peer.strip_prefix("group:") {
        Some(g) => format!("group = \"{g}\""),
        None => format!("cidr = \"{peer}\""),
    };
    format!(
        "direction = \"{dir}\"\npolicy = \"{policy}\"\npriority = {priority}\nprotocol = \"{protocol}\"\nport_range = \"{ports}\"\n{peer}"
    )
}

/// Loads a topology, naming it in the panic message when it is refused.
pub fn cloud(t: &str) -> Cloud {
    Cloud::from_toml(t).unwrap_or_else(|e| panic!("{e}\n{t}"))
}

/// A /32 CIDR of an address.
pub fn host(a: [u8; 4]) -> String {
    format!("{}.{}.{}.{}/32", a[0], a[1], a[2], a[3])
}

// ---------------------------------------------------------------------------------------------
// Frames (Ethernet, towards the gateway; `from` is the sender's MAC: an ENI's or INET).

/// A UDP datagram, TTL 64.
pub fn udp(from: [u8; 6], src: [u8; 4], sport: u16, dst: [u8; 4], dport: u16) -> Vec<u8> {
    let mut v = Vec::new();
    PacketBuilder::ethernet2(from, GW)
        .ipv4(src, dst, 64)
        .udp(sport, dport)
        .write(&mut v, b"payload")
        .unwrap();
    v
}

/// A TCP segment (`syn`: a SYN, else an ACK with data), TTL 64.
pub fn tcp(
    from: [u8; 6],
    src: [u8; 4],
    sport: u16,
    dst: [u8; 4],
    dport: u16,
    syn: bool,
) -> Vec<u8> {
    let b = PacketBuilder::ethernet2(from, GW)
        .ipv4(src, dst, 64)
        .tcp(sport, dport, 1000, 64240);
    let mut v = Vec::new();
    if syn {
        b.syn().write(&mut v, b"").unwrap();
    } else {
        b.ack(1).psh().write(&mut v, b"data").unwrap();
    }
    v
}

/// An ICMP echo request (or reply), TTL 64.
pub fn ping(from: [u8; 6], src: [u8; 4], dst: [u8; 4], id: u16, reply: bool) -> Vec<u8> {
    let b = PacketBuilder::ethernet2(from, GW).ipv4(src, dst, 64);
    let mut v = Vec::new();
    if reply {
        b.icmpv4_echo_reply(id, 1).write(&mut v, b"ping").unwrap();
    } else {
        b.icmpv4_echo_request(id, 1).write(&mut v, b"ping").unwrap();
    }
    v
}

/// An ICMP error (`port`: port unreachable, else TTL exceeded) from `src` to `dst` quoting the
/// UDP datagram `qsrc:qsport -> qdst:qdport` whole.
pub fn icmp_error(
    from: [u8; 6],
    (src, dst): ([u8; 4], [u8; 4]),
    port: bool,
    (qsrc, qsport): ([u8; 4], u16),
    (qdst, qdport): ([u8; 4], u16),
) -> Vec<u8> {
    let mut q = Vec::new();
    PacketBuilder::ipv4(qsrc, qdst, 1)
        .udp(qsport, qdport)
        .write(&mut q, b"probe")
        .unwrap();
    icmp_error_quoting(from, (src, dst), port, &q)
}

/// An ICMP error (`port`: port unreachable, else TTL exceeded) from `src` to `dst` quoting the
/// bytes `quoted` (an IPv4 packet, whole or cut).
pub fn icmp_error_quoting(
    from: [u8; 6],
    (src, dst): ([u8; 4], [u8; 4]),
    port: bool,
    quoted: &[u8],
) -> Vec<u8> {
    let t = if port {
        Icmpv4Type::DestinationUnreachable(DestUnreachableHeader::Port)
    } else {
        Icmpv4Type::TimeExceeded(TimeExceededCode::TtlExceededInTransit)
    };
    let mut v = Vec::new();
    PacketBuilder::ethernet2(from, GW)
        .ipv4(src, dst, 64)
        .icmpv4(t)
        .write(&mut v, quoted)
        .unwrap();
    v
}

/// A UDP datagram of 64 bytes of payload in two IPv4 fragments (40 bytes of UDP at offset 0,
/// then the rest), TTL 64.
pub fn fragments(
    from: [u8; 6],
    src: [u8; 4],
    sport: u16,
    dst: [u8; 4],
    dport: u16,
) -> [Vec<u8>; 2] {
    let mut whole = Vec::new();
    PacketBuilder::ethernet2(from, GW)
        .ipv4(src, dst, 64)
        .udp(sport, dport)
        .write(&mut whole, &[7u8; 64])
        .unwrap();
    let ip = 14;
    let mut second = whole[..ip + 20].to_vec();
    second.extend_from_slice(&whole[ip + 20 + 40..]);
    let mut first = whole;
    first.truncate(ip + 20 + 40);
    let fix = |f: &mut Vec<u8>, off: u16, more: bool| {
        let len = (f.len() - ip) as u16;
        f[ip + 2..ip + 4].copy_from_slice(&len.to_be_bytes());
        f[ip + 4..ip + 6].copy_from_slice(&0x4242u16.to_be_bytes());
        let fo = (off / 8) | if more { 0x2000 } else { 0 };
        f[ip + 6..ip + 8].copy_from_slice(&fo.to_be_bytes());
    };
    fix(&mut first, 0, true);
    fix(&mut second, 40, false);
    // The header checksums: through `ttl`, which recomputes them.
    [ttl(first, 64), ttl(second, 64)]
}

/// The frame with its IPv4 TTL set (header checksum recomputed).
pub fn ttl(mut f: Vec<u8>, ttl: u8) -> Vec<u8> {
    f[14 + 8] = ttl;
    f[14 + 10..14 + 12].copy_from_slice(&[0, 0]);
    let c = etherparse::Ipv4HeaderSlice::from_slice(&f[14..])
        .unwrap()
        .to_header()
        .calc_header_checksum();
    f[14 + 10..14 + 12].copy_from_slice(&c.to_be_bytes());
    f
}

// ---------------------------------------------------------------------------------------------
// Running frames

/// A verdict as text: `"<action> <egress>"` (such as `"dnat eni-nat"`) or `"drop <reason>"`.
pub fn fate(cloud: &Cloud, v: &Verdict) -> String {
    match v.outcome {
        Outcome::Forward(Port::Internet, a) => format!("{} internet", a.as_str()),
        Outcome::Forward(Port::Eni(x), a) => {
            format!("{} {}", a.as_str(), cloud.enis[x as usize].id)
        }
        Outcome::Drop(r) => format!("drop {}", r.as_str()),
    }
}

/// The fates of `frames` pushed in order through one frame pass (core and groups) over the
/// topology `t`, without writers and at capture time 0.
pub fn fates(t: &str, frames: &[Vec<u8>]) -> Vec<String> {
    let c = cloud(t);
    let mut q = QuietReplay::new(&c, None, Default::default());
    frames
        .iter()
        .map(|f| fate(&c, &q.push(f, LinkType::Ethernet)))
        .collect()
}

/// The fate of one frame pushed alone.
pub fn fate_of(t: &str, frame: Vec<u8>) -> String {
    fates(t, &[frame]).remove(0)
}

/// A scratch folder for one test, emptied.
pub fn tempdir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("eipsim-sg-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// Writes `frames` (milliseconds after [`START`], bytes) to an Ethernet pcap (microsecond
/// timestamps).
pub fn write_pcap(path: &Path, frames: &[(u64, Vec<u8>)]) {
    write_pcap_link(path, frames, pcap_file::DataLink::ETHERNET);
}

/// Writes `frames` (milliseconds after [`START`], bytes) to a pcap of link type `link`.
pub fn write_pcap_link(path: &Path, frames: &[(u64, Vec<u8>)], link: pcap_file::DataLink) {
    let header = PcapHeader {
        datalink: link,
        ..PcapHeader::default()
    };
    let mut w = PcapWriter::with_header(std::fs::File::create(path).unwrap(), header).unwrap();
    for (ms, f) in frames {
        let t = std::time::Duration::from_millis(START * 1000 + ms);
        w.write_packet(&PcapPacket::new(t, f.len() as u32, f))
            .unwrap();
    }
}

/// What a replay wrote.
pub struct Run {
    /// Per input frame, its fate as in [`fate`] (from the trace).
    pub fates: Vec<String>,
    /// Per input frame: for a dropped frame, its comment and bytes in `dropped.pcapng`.
    pub drops: Vec<Option<(String, Vec<u8>)>>,
    /// `report.json`.
    pub report: serde_json::Value,
    /// The folder of the run: `topology.toml`, `capture.pcap`, `events.toml` (if any) and the
    /// outputs in `out` (trace: `out.tsv`).
    pub dir: PathBuf,
}

impl Run {
    /// The comment of dropped frame `n` (0-based input index).
    pub fn comment(&self, n: usize) -> &str {
        match &self.drops[n] {
            Some((c, _)) => c,
            None => panic!("frame {} was not dropped: {}", n + 1, self.fates[n]),
        }
    }
}

/// Options of a replay of `inputs` over `topology` into `out`.
pub fn options(
    topology: &Path,
    out: &Path,
    inputs: Vec<PathBuf>,
    events: Option<PathBuf>,
    workers: usize,
) -> ReplayOptions {
    ReplayOptions {
        capture_point: Default::default(),
        respond: false,
        topology: topology.to_path_buf(),
        out: out.to_path_buf(),
        ingress: None,
        workers,
        inputs,
        progress: false,
        trace: Some(out.with_extension("tsv")),
        max_open_files: None,
        alg: true,
        alg_spec: None,
        events,
    }
}

/// Replays `frames` (ms after [`START`], bytes) over topology `t`, with the events file text
/// `events` if given, in a fresh folder named after `name`; reads the trace, the drops and
/// the report back.
pub fn replay(name: &str, t: &str, frames: &[(u64, Vec<u8>)], events: Option<&str>) -> Run {
    let dir = tempdir(name);
    let topology = dir.join("topology.toml");
    std::fs::write(&topology, t).unwrap();
    let capture = dir.join("capture.pcap");
    write_pcap(&capture, frames);
    let events = events.map(|e| {
        let p = dir.join("events.toml");
        std::fs::write(&p, e).unwrap();
        p
    });
    let out = dir.join("out");
    let o = replay::run(&options(&topology, &out, vec![capture], events, 1)).unwrap();
    assert!(o.capture_error.is_none());
    let fates: Vec<String> = std::fs::read_to_string(out.with_extension("tsv"))
        .unwrap()
        .lines()
        .skip(1)
        .map(|l| {
            let c: Vec<&str> = l.split('\t').collect();
            if c[4] == "dropped" {
                format!("drop {}", c[3])
            } else {
                format!("{} {}", c[3], c[4])
            }
        })
        .collect();
    assert_eq!(fates.len(), frames.len(), "one trace line per frame");
    let mut dropped = read_drops(&out.join("dropped.pcapng")).into_iter();
    let drops = fates
        .iter()
        .map(|f| {
            f.starts_with("drop ")
                .then(|| dropped.next().expect("a dropped frame per drop"))
        })
        .collect();
    assert!(dropped.next().is_none(), "as many dropped frames as drops");
    let report =
        serde_json::from_str(&std::fs::read_to_string(out.join("report.json")).unwrap()).unwrap();
    Run {
        fates,
        drops,
        report,
        dir,
    }
}

/// The frames of a `dropped.pcapng`: (comment, bytes), in order.
pub fn read_drops(path: &Path) -> Vec<(String, Vec<u8>)> {
    use pcap_file::pcapng::blocks::enhanced_packet::EnhancedPacketOption;
    let mut r = pcap_file::pcapng::PcapNgReader::new(std::fs::File::open(path).unwrap()).unwrap();
    let mut seen = Vec::new();
    while let Some(b) = r.next_block() {
        if let pcap_file::pcapng::Block::EnhancedPacket(p) = b.unwrap() {
            let comment = p
                .options
                .iter()
                .find_map(|o| match o {
                    EnhancedPacketOption::Comment(c) => Some(c.to_string()),
                    _ => None,
                })
                .unwrap_or_default();
            seen.push((comment, p.data.to_vec()));
        }
    }
    seen
}

/// Every output file of a folder (and its trace next to it): (name, bytes), by name. The
/// replay's hidden lock file (`.eipsim.lock`) is no output.
pub fn outputs(out: &Path) -> Vec<(String, Vec<u8>)> {
    let mut files: Vec<(String, Vec<u8>)> = std::fs::read_dir(out)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| !p.file_name().unwrap().to_string_lossy().starts_with('.'))
        .map(|p| {
            (
                p.file_name().unwrap().to_string_lossy().into_owned(),
                std::fs::read(&p).unwrap(),
            )
        })
        .collect();
    files.push((
        "trace".into(),
        std::fs::read(out.with_extension("tsv")).unwrap(),
    ));
    files.sort();
    files
}
