//! The bundled demo: a topology with all three binding modes and a capture whose frames walk
//! every forwarding rule and drop reason, ICMP errors, fragments, hairpin, a VLAN tag, a frame
//! cut short by the snap length, a SIP INVITE with SDP and an FTP PORT command from a NAT-mode
//! instance. `cargo run --example gen_demo` writes `pcaps/demo-topology.toml` and
//! `pcaps/demo.pcap`; a test checks that the committed files are what this module produces.
//!
//! Every frame carries the outcome it is meant to have, written by hand, so a test can replay the
//! demo and compare frame by frame.

mod build;
pub mod failover;
mod frames;

pub use frames::frames;

/// The demo topology (TOML).
pub const TOPOLOGY: &str = r#"# eipsim demo topology: every binding mode and every drop reason has a frame in demo.pcap.
region = "eu-central-1"            # Germany (Frankfurt): offers NAT, BINDED and MULTI_BINDED

[account]
multi_eip_authorized = true
multi_eip_quota = 10

[vpc]
id = "vpc-demo"
cidr = "172.16.0.0/12"
gateway_mac = "ee:ff:ff:ff:ff:ff"
internet_mac = "02:00:00:00:00:01"

[[instance]]
id = "i-web"
family = "ecs.g5"
dhcp = true
# What the guest answers with `replay --respond` (default: ICMP echo only).
services = ["tcp/80", "tcp/443", "udp/5060", "icmp"]

[[instance]]
id = "i-app"
family = "ecs.g5"
dhcp = true
services = ["tcp/22", "tcp/80", "udp/6000", "icmp"]
# With --respond the guest opens this connection from its cut-through EIP; the source rule
# sends it out of the cut-through NIC (without it, the primary NIC: source-check).
connect = ["tcp/198.51.100.7:443 from 47.0.0.20"]
rules = ["from 47.0.0.20 lookup eni-cut"]

[[instance]]
id = "i-legacy"
family = "ecs.g5"
dhcp = false                       # cut-through needs DHCP: its EIP is not configured

# NAT mode, primary ENI: one EIP.
[[eni]]
id = "eni-web0"
kind = "primary"
mac = "00:16:3e:00:00:10"
primary_ip = "172.16.0.10"
instance = "i-web"

# NAT mode, secondary ENI: one EIP per private IP (seed 004); 172.16.0.20 has none.
[[eni]]
id = "eni-web1"
kind = "secondary"
mac = "00:16:3e:00:00:20"
primary_ip = "172.16.0.20"
secondary_ips = ["172.16.0.21", "172.16.0.22"]
instance = "i-web"

[[eni]]
id = "eni-app0"
kind = "primary"
mac = "00:16:3e:00:01:05"
primary_ip = "172.16.1.5"
instance = "i-app"

# Cut-through: the EIP replaces 172.16.1.10. Its security group lets only SSH in.
[[eni]]
id = "eni-cut"
kind = "secondary"
mac = "00:16:3e:00:01:10"
primary_ip = "172.16.1.10"
instance = "i-app"
security_groups = ["sg-cut"]

# Multi-EIP: two EIPs, the OS configured only the first.
[[eni]]
id = "eni-multi"
kind = "secondary"
mac = "00:16:3e:00:02:10"
primary_ip = "172.16.2.10"
instance = "i-app"
static_eips = ["47.0.0.31"]

# A detached secondary ENI with a NAT EIP.
[[eni]]
id = "eni-spare"
kind = "secondary"
mac = "00:16:3e:00:03:10"
primary_ip = "172.16.3.10"

[[eni]]
id = "eni-legacy0"
kind = "primary"
mac = "00:16:3e:00:04:05"
primary_ip = "172.16.4.5"
instance = "i-legacy"

[[eni]]
id = "eni-legacy-cut"
kind = "secondary"
mac = "00:16:3e:00:04:10"
primary_ip = "172.16.4.10"
instance = "i-legacy"

[[eip]]
id = "eip-web"
address = "47.0.0.10"

[[eip]]
id = "eip-a"
address = "47.0.0.1"

[[eip]]
id = "eip-b"
address = "47.0.0.2"

[[eip]]
id = "eip-cut"
address = "47.0.0.20"

[[eip]]
id = "eip-m1"
address = "47.0.0.31"

[[eip]]
id = "eip-m2"
address = "47.0.0.32"

[[eip]]
id = "eip-spare"
address = "47.0.0.40"

[[eip]]
id = "eip-legacy"
address = "47.0.0.50"

[[eip]]
id = "eip-free"                    # allocated, never associated
address = "47.0.0.99"

[[association]]
eip = "eip-web"
eni = "eni-web0"
mode = "NAT"

[[association]]
eip = "eip-a"
eni = "eni-web1"
mode = "NAT"
private_ip = "172.16.0.21"

[[association]]
eip = "eip-b"
eni = "eni-web1"
mode = "NAT"
private_ip = "172.16.0.22"

[[association]]
eip = "eip-cut"
eni = "eni-cut"
mode = "BINDED"

[[association]]
eip = "eip-m1"
eni = "eni-multi"
mode = "MULTI_BINDED"

[[association]]
eip = "eip-m2"
eni = "eni-multi"
mode = "MULTI_BINDED"

[[association]]
eip = "eip-spare"
eni = "eni-spare"
mode = "NAT"

[[association]]
eip = "eip-legacy"
eni = "eni-legacy-cut"
mode = "BINDED"

# A basic group: ingress dropped unless a rule accepts it, egress accepted, replies to accepted
# connections let through (stateful). The other ENIs have no group: they are not filtered.
[[security_group]]
id = "sg-cut"
type = "basic"

[[security_group.rule]]
direction = "ingress"
policy = "accept"
priority = 1
protocol = "tcp"
port_range = "22/22"
cidr = "0.0.0.0/0"

[[security_group.rule]]
direction = "ingress"
policy = "drop"
priority = 1
protocol = "icmp"
port_range = "-1/-1"
cidr = "0.0.0.0/0"
"#;

/// Timestamp of the first demo frame (seconds since the epoch).
pub const START: u32 = 1_700_000_000;

/// One demo frame: bytes as captured, length on the wire, what it shows, and its expected fate
/// (`"<action> <egress>"` such as `"dnat eni-web0"`, or `"drop <reason>"`).
#[derive(Clone, Debug)]
pub struct DemoFrame {
    /// Captured bytes.
    pub data: Vec<u8>,
    /// Original length on the wire (larger than `data` when cut by the snap length).
    pub orig_len: u32,
    /// What the frame shows.
    pub what: &'static str,
    /// Expected outcome.
    pub expect: &'static str,
}

/// The demo capture as pcap bytes (Ethernet, microseconds, one frame per millisecond).
pub fn capture() -> Vec<u8> {
    let frames = frames();
    pcap_bytes(frames.iter().enumerate().map(|(i, f)| {
        let ts = std::time::Duration::new(u64::from(START), (i as u32) * 1_000_000);
        (ts, f.orig_len, f.data.as_slice())
    }))
}

/// Little-endian microsecond Ethernet pcap bytes of (timestamp, original length, bytes).
fn pcap_bytes<'a>(frames: impl Iterator<Item = (std::time::Duration, u32, &'a [u8])>) -> Vec<u8> {
    use pcap_file::pcap::{PcapHeader, PcapPacket, PcapWriter};
    let header = PcapHeader {
        snaplen: 65535,
        endianness: pcap_file::Endianness::Little,
        ..PcapHeader::default()
    };
    let mut w = PcapWriter::with_header(Vec::new(), header).expect("pcap header");
    for (ts, orig_len, data) in frames {
        w.write_packet(&PcapPacket::new(ts, orig_len, data))
            .expect("pcap record");
    }
    w.into_writer()
}
