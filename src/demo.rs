//! The bundled demo: a topology with all three binding modes and a capture whose frames walk
//! every forwarding rule and drop reason, ICMP errors, fragments, hairpin, a VLAN tag, a frame
//! cut short by the snap length, a SIP INVITE with SDP and an FTP PORT command from a NAT-mode
//! instance. `cargo run --example gen_demo` writes `pcaps/demo-topology.toml` and
//! `pcaps/demo.pcap`; a test checks that the committed files are what this module produces.
//!
//! Every frame carries the outcome it is meant to have, written by hand, so a test can replay the
//! demo and compare frame by frame.

use std::net::Ipv4Addr;

use etherparse::{
    EtherType, Ethernet2Header, Icmpv4Type, IpNumber, Ipv4Header, PacketBuilder, VlanId,
    icmpv4::{DestUnreachableHeader, TimeExceededCode},
};

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

[[instance]]
id = "i-app"
family = "ecs.g5"
dhcp = true

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

# Cut-through: the EIP replaces 172.16.1.10.
[[eni]]
id = "eni-cut"
kind = "secondary"
mac = "00:16:3e:00:01:10"
primary_ip = "172.16.1.10"
instance = "i-app"

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

const INTERNET_ROUTER: [u8; 6] = [0x02, 0, 0, 0, 0, 0xfe];
const GATEWAY: [u8; 6] = [0xee, 0xff, 0xff, 0xff, 0xff, 0xff];
const WEB0: [u8; 6] = [0x00, 0x16, 0x3e, 0, 0, 0x10];
const WEB1: [u8; 6] = [0x00, 0x16, 0x3e, 0, 0, 0x20];
const CUT: [u8; 6] = [0x00, 0x16, 0x3e, 0, 0x01, 0x10];
const MULTI: [u8; 6] = [0x00, 0x16, 0x3e, 0, 0x02, 0x10];
const SPARE: [u8; 6] = [0x00, 0x16, 0x3e, 0, 0x03, 0x10];

fn ip(s: &str) -> [u8; 4] {
    s.parse::<Ipv4Addr>().expect("demo address").octets()
}

const CLIENT: &str = "198.51.100.7";
const SERVER: &str = "203.0.113.5";

struct Builder {
    frames: Vec<DemoFrame>,
}

impl Builder {
    fn push(&mut self, data: Vec<u8>, what: &'static str, expect: &'static str) {
        let orig_len = data.len() as u32;
        self.frames.push(DemoFrame {
            data,
            orig_len,
            what,
            expect,
        });
    }

    fn udp(
        &mut self,
        macs: ([u8; 6], [u8; 6]),
        src: (&str, u16),
        dst: (&str, u16),
        ttl: u8,
        payload: &[u8],
    ) -> Vec<u8> {
        let b = PacketBuilder::ethernet2(macs.0, macs.1)
            .ipv4(ip(src.0), ip(dst.0), ttl)
            .udp(src.1, dst.1);
        let mut v = Vec::new();
        b.write(&mut v, payload).expect("demo frame");
        v
    }

    fn tcp(
        &mut self,
        macs: ([u8; 6], [u8; 6]),
        src: (&str, u16),
        dst: (&str, u16),
        ttl: u8,
        seq: u32,
        payload: &[u8],
    ) -> Vec<u8> {
        let b = PacketBuilder::ethernet2(macs.0, macs.1)
            .ipv4(ip(src.0), ip(dst.0), ttl)
            .tcp(src.1, dst.1, seq, 64240)
            .ack(1)
            .psh();
        let mut v = Vec::new();
        b.write(&mut v, payload).expect("demo frame");
        v
    }
}

/// The IPv4 packet (without link header) of an Ethernet frame built here.
fn l3(frame: &[u8]) -> &[u8] {
    &frame[14..]
}

/// An IPv4 fragment inside an Ethernet frame: `payload` is this fragment's share of the datagram.
/// `at` is (offset in 8-byte units, more fragments).
fn fragment(
    macs: ([u8; 6], [u8; 6]),
    (src, dst): (&str, &str),
    proto: IpNumber,
    id: u16,
    (offset_units, more): (u16, bool),
    payload: &[u8],
) -> Vec<u8> {
    let mut h = Ipv4Header::new(payload.len() as u16, 64, proto, ip(src), ip(dst)).expect("len");
    h.identification = id;
    h.more_fragments = more;
    h.fragment_offset = etherparse::IpFragOffset::try_new(offset_units).expect("offset");
    h.header_checksum = h.calc_header_checksum();
    let mut v = Vec::new();
    Ethernet2Header {
        source: macs.0,
        destination: macs.1,
        ether_type: EtherType::IPV4,
    }
    .write(&mut v)
    .expect("eth");
    h.write(&mut v).expect("ipv4");
    v.extend_from_slice(payload);
    v
}

/// Builds every demo frame, in capture order.
pub fn frames() -> Vec<DemoFrame> {
    let mut b = Builder { frames: Vec::new() };
    let inet = (INTERNET_ROUTER, GATEWAY);
    let from = |mac: [u8; 6]| (mac, GATEWAY);

    // --- NAT mode: DNAT in, SNAT out -----------------------------------------------------
    let f = b.tcp(
        inet,
        (CLIENT, 40000),
        ("47.0.0.10", 80),
        57,
        1000,
        b"GET / HTTP/1.1\r\nHost: demo\r\n\r\n",
    );
    b.push(
        f,
        "HTTP request from the Internet to NAT EIP 47.0.0.10",
        "dnat eni-web0",
    );
    let f = b.tcp(
        from(WEB0),
        ("172.16.0.10", 80),
        (CLIENT, 40000),
        64,
        5000,
        b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n",
    );
    b.push(
        f,
        "its reply from 172.16.0.10 leaves as 47.0.0.10",
        "snat internet",
    );
    let f = b.udp(
        from(WEB1),
        ("172.16.0.21", 5353),
        ("8.8.8.8", 53),
        64,
        &dns_query(),
    );
    b.push(
        f,
        "DNS query from secondary private IP 172.16.0.21 (EIP 47.0.0.1)",
        "snat internet",
    );
    let f = b.udp(
        inet,
        ("8.8.8.8", 53),
        ("47.0.0.1", 5353),
        118,
        &dns_answer(),
    );
    b.push(
        f,
        "DNS answer to 47.0.0.1 reaches 172.16.0.21",
        "dnat eni-web1",
    );
    let mut f = b.udp(inet, (CLIENT, 7000), ("47.0.0.2", 7000), 60, b"no checksum");
    f[14 + 20 + 6] = 0;
    f[14 + 20 + 7] = 0;
    b.push(
        f,
        "UDP without checksum (0) to 47.0.0.2 stays without checksum",
        "dnat eni-web1",
    );
    let mut f = Vec::new();
    PacketBuilder::ethernet2(inet.0, inet.1)
        .ipv4(ip(CLIENT), ip("47.0.0.1"), 55)
        .icmpv4_echo_request(0x1234, 1)
        .write(&mut f, b"ping payload")
        .expect("icmp");
    b.push(f, "ICMP echo request to 47.0.0.1", "dnat eni-web1");
    let mut f = Vec::new();
    PacketBuilder::ethernet2(WEB1, GATEWAY)
        .ipv4(ip("172.16.0.21"), ip(CLIENT), 64)
        .icmpv4_echo_reply(0x1234, 1)
        .write(&mut f, b"ping payload")
        .expect("icmp");
    b.push(f, "ICMP echo reply from 172.16.0.21", "snat internet");
    let mut f = Vec::new();
    PacketBuilder::ethernet2(inet.0, inet.1)
        .single_vlan(VlanId::try_new(100).expect("vid"))
        .ipv4(ip(CLIENT), ip("47.0.0.10"), 50)
        .udp(9000, 9001)
        .write(&mut f, b"tagged")
        .expect("vlan");
    b.push(
        f,
        "802.1Q VLAN 100 frame to 47.0.0.10: the tag is kept",
        "dnat eni-web0",
    );
    let full = b.tcp(
        inet,
        (CLIENT, 40001),
        ("47.0.0.10", 443),
        57,
        7,
        &[0x16u8; 1200],
    );
    let mut cut = full.clone();
    cut.truncate(96);
    b.frames.push(DemoFrame {
        orig_len: full.len() as u32,
        data: cut,
        what: "TCP segment cut to 96 bytes by the snap length: translated from the bytes present",
        expect: "dnat eni-web0",
    });

    // --- ALG: SIP and FTP embed the private address (no ALG in NAT mode) ------------------
    let sdp = "v=0\r\no=- 1 1 IN IP4 172.16.0.21\r\ns=call\r\nc=IN IP4 172.16.0.21\r\nt=0 0\r\nm=audio 30000 RTP/AVP 0\r\na=rtcp:30001\r\n";
    let invite = format!(
        "INVITE sip:bob@{SERVER} SIP/2.0\r\nVia: SIP/2.0/UDP 172.16.0.21:5060;branch=z9hG4bK1\r\nFrom: <sip:alice@172.16.0.21>;tag=1\r\nTo: <sip:bob@{SERVER}>\r\nCall-ID: demo-1@172.16.0.21\r\nCSeq: 1 INVITE\r\nContact: <sip:alice@172.16.0.21:5060>\r\nContent-Type: application/sdp\r\nContent-Length: {}\r\n\r\n{sdp}",
        sdp.len()
    );
    let f = b.udp(
        from(WEB1),
        ("172.16.0.21", 5060),
        (SERVER, 5060),
        64,
        invite.as_bytes(),
    );
    b.push(
        f,
        "SIP INVITE from a NAT-mode instance: SDP c= carries 172.16.0.21",
        "snat internet",
    );
    let f = b.udp(
        from(WEB1),
        ("172.16.0.21", 30000),
        (SERVER, 40000),
        64,
        &[0x80, 0, 0, 1, 0, 0, 0, 160, 0, 0, 0, 1],
    );
    b.push(f, "RTP from the announced port 30000", "snat internet");
    let f = b.tcp(
        from(WEB0),
        ("172.16.0.10", 50000),
        (SERVER, 21),
        64,
        100,
        b"PORT 172,16,0,10,195,80\r\n",
    );
    b.push(
        f,
        "FTP PORT command from a NAT-mode instance carries 172.16.0.10",
        "snat internet",
    );
    let f = b.tcp(
        inet,
        (SERVER, 21),
        ("47.0.0.10", 50000),
        52,
        900,
        b"200 PORT command successful\r\n",
    );
    b.push(f, "FTP reply", "dnat eni-web0");

    // --- Cut-through and multi-EIP: pass-through -----------------------------------------
    let f = b.tcp(
        inet,
        (CLIENT, 40002),
        ("47.0.0.20", 22),
        57,
        1,
        b"SSH-2.0-client\r\n",
    );
    b.push(
        f,
        "to cut-through EIP 47.0.0.20: unchanged",
        "pass-through eni-cut",
    );
    let f = b.tcp(
        from(CUT),
        ("47.0.0.20", 22),
        (CLIENT, 40002),
        64,
        1,
        b"SSH-2.0-server\r\n",
    );
    b.push(
        f,
        "from the cut-through ENI with its EIP as source",
        "pass-through internet",
    );
    let f = b.udp(inet, (CLIENT, 6000), ("47.0.0.31", 6000), 57, b"multi");
    b.push(
        f,
        "to multi-EIP 47.0.0.31 (configured in the OS)",
        "pass-through eni-multi",
    );
    let f = b.udp(
        from(MULTI),
        ("47.0.0.31", 6000),
        (CLIENT, 6000),
        64,
        b"multi back",
    );
    b.push(
        f,
        "from the multi-EIP ENI with EIP source",
        "pass-through internet",
    );

    // --- Inside the VPC ------------------------------------------------------------------
    let f = b.tcp(
        from(WEB0),
        ("172.16.0.10", 33000),
        ("172.16.1.5", 3306),
        64,
        1,
        b"query",
    );
    b.push(
        f,
        "intra-VPC to eni-app0: unchanged, TTL kept",
        "intra-vpc eni-app0",
    );
    let f = b.udp(
        from(MULTI),
        ("172.16.2.10", 5000),
        ("172.16.1.5", 5000),
        64,
        b"private",
    );
    b.push(
        f,
        "multi-EIP ENI keeps its private network",
        "intra-vpc eni-app0",
    );
    let f = b.tcp(
        from(WEB0),
        ("172.16.0.10", 33001),
        ("47.0.0.1", 8080),
        64,
        1,
        b"hairpin",
    );
    b.push(
        f,
        "hairpin: 172.16.0.10 to EIP 47.0.0.1 (SNAT to 47.0.0.10, DNAT to 172.16.0.21)",
        "hairpin eni-web1",
    );

    // --- ICMP errors (RFC 5508) ----------------------------------------------------------
    let probe = b.udp(
        from(WEB1),
        ("172.16.0.21", 40400),
        (SERVER, 33434),
        64,
        b"probe",
    );
    b.push(probe, "UDP probe to a closed port", "snat internet");
    let quoted = b.udp(inet, ("47.0.0.1", 40400), (SERVER, 33434), 63, b"probe");
    let mut f = Vec::new();
    PacketBuilder::ethernet2(inet.0, inet.1)
        .ipv4(ip(SERVER), ip("47.0.0.1"), 50)
        .icmpv4(Icmpv4Type::DestinationUnreachable(
            DestUnreachableHeader::Port,
        ))
        .write(&mut f, l3(&quoted))
        .expect("icmp");
    b.push(
        f,
        "ICMP port unreachable quoting the SNATed probe: outer and quoted addresses translated",
        "dnat eni-web1",
    );
    let quoted = b.tcp(inet, ("47.0.0.10", 80), (CLIENT, 40000), 1, 5000, b"");
    let mut f = Vec::new();
    PacketBuilder::ethernet2(inet.0, inet.1)
        .ipv4(ip("192.0.2.1"), ip("47.0.0.10"), 250)
        .icmpv4(Icmpv4Type::TimeExceeded(
            TimeExceededCode::TtlExceededInTransit,
        ))
        .write(&mut f, &l3(&quoted)[..28])
        .expect("icmp");
    b.push(
        f,
        "ICMP time exceeded from a router, quoting 28 bytes of a TCP segment",
        "dnat eni-web0",
    );
    let quoted = b.udp(inet, (CLIENT, 41000), ("172.16.0.10", 161), 56, b"snmp");
    let mut f = Vec::new();
    PacketBuilder::ethernet2(WEB0, GATEWAY)
        .ipv4(ip("172.16.0.10"), ip(CLIENT), 64)
        .icmpv4(Icmpv4Type::DestinationUnreachable(
            DestUnreachableHeader::Port,
        ))
        .write(&mut f, l3(&quoted))
        .expect("icmp");
    b.push(
        f,
        "ICMP error sent by the instance: source and quoted destination become 47.0.0.10",
        "snat internet",
    );

    // --- Fragments -----------------------------------------------------------------------
    let mut echo = Vec::new();
    PacketBuilder::ipv4(ip(CLIENT), ip("47.0.0.1"), 64)
        .icmpv4_echo_request(0x4321, 7)
        .write(&mut echo, &[0xabu8; 1400])
        .expect("echo");
    let icmp = &echo[20..];
    let f = fragment(
        inet,
        (CLIENT, "47.0.0.1"),
        IpNumber::ICMP,
        77,
        (0, true),
        &icmp[..800],
    );
    b.push(
        f,
        "first fragment of a 1408-byte ICMP echo",
        "dnat eni-web1",
    );
    let f = fragment(
        inet,
        (CLIENT, "47.0.0.1"),
        IpNumber::ICMP,
        77,
        (100, false),
        &icmp[800..],
    );
    b.push(
        f,
        "second fragment: only the IP header changes",
        "dnat eni-web1",
    );
    let mut dgram = Vec::new();
    PacketBuilder::ipv4(ip("172.16.0.21"), ip(SERVER), 64)
        .udp(4500, 4500)
        .write(&mut dgram, &[0x5au8; 1600])
        .expect("udp");
    let udp = &dgram[20..];
    let f = fragment(
        from(WEB1),
        ("172.16.0.21", SERVER),
        IpNumber::UDP,
        78,
        (0, true),
        &udp[..1200],
    );
    b.push(
        f,
        "first fragment of an outbound UDP datagram: UDP checksum updated",
        "snat internet",
    );
    let f = fragment(
        from(WEB1),
        ("172.16.0.21", SERVER),
        IpNumber::UDP,
        78,
        (150, false),
        &udp[1200..],
    );
    b.push(f, "its second fragment", "snat internet");

    // --- Every drop reason ---------------------------------------------------------------
    let f = b.udp(inet, (CLIENT, 1), ("47.0.0.200", 1), 60, b"x");
    b.push(
        f,
        "to an address that is no EIP",
        "drop unknown-destination",
    );
    let f = b.udp(from(WEB0), ("172.16.0.10", 1), ("172.16.9.9", 1), 64, b"x");
    b.push(
        f,
        "to a VPC address nobody owns",
        "drop unknown-destination",
    );
    let f = b.udp(inet, (CLIENT, 1), ("47.0.0.99", 1), 60, b"x");
    b.push(
        f,
        "to an EIP with no association",
        "drop eip-not-associated",
    );
    let f = b.udp(inet, (CLIENT, 1), ("47.0.0.40", 1), 60, b"x");
    b.push(f, "to the NAT EIP of a detached ENI", "drop eni-detached");
    let f = b.udp(from(SPARE), ("172.16.3.10", 1), (SERVER, 1), 64, b"x");
    b.push(f, "from a detached ENI's MAC", "drop eni-detached");
    let f = b.udp(from(WEB0), ("172.16.0.21", 1), (SERVER, 1), 64, b"spoof");
    b.push(
        f,
        "from eni-web0 with eni-web1's address as source",
        "drop source-check",
    );
    let f = b.udp(from(CUT), ("172.16.1.10", 1), (SERVER, 1), 64, b"x");
    b.push(
        f,
        "from the cut-through ENI with its former private IP",
        "drop source-check",
    );
    let f = b.udp(from(WEB1), ("172.16.0.20", 1), (SERVER, 1), 64, b"x");
    b.push(
        f,
        "from a private IP without a NAT EIP to the Internet",
        "drop no-public-address",
    );
    let f = b.udp(from(MULTI), ("172.16.2.10", 1), (SERVER, 1), 64, b"x");
    b.push(
        f,
        "from the multi-EIP ENI's private IP to the Internet",
        "drop no-public-address",
    );
    let f = b.udp(from(WEB0), ("172.16.0.10", 1), ("172.16.1.10", 1), 64, b"x");
    b.push(
        f,
        "to the cut-through ENI's former private IP",
        "drop private-network-unavailable",
    );
    let f = b.udp(from(CUT), ("47.0.0.20", 1), ("172.16.0.10", 1), 64, b"x");
    b.push(
        f,
        "from the cut-through ENI into the VPC",
        "drop private-network-unavailable",
    );
    let f = b.udp(inet, (CLIENT, 1), ("47.0.0.50", 1), 60, b"x");
    b.push(
        f,
        "to a cut-through EIP whose instance has no DHCP",
        "drop guest-not-configured",
    );
    let f = b.udp(inet, (CLIENT, 1), ("47.0.0.32", 1), 60, b"x");
    b.push(
        f,
        "to a multi-EIP the OS did not configure",
        "drop guest-not-configured",
    );
    let f = b.udp(inet, (CLIENT, 1), ("47.0.0.10", 1), 1, b"x");
    b.push(f, "TTL 1 at the gateway", "drop ttl-expired");
    let f = b.udp(from(WEB0), ("172.16.0.10", 1), ("172.16.1.5", 1), 1, b"x");
    b.push(
        f,
        "TTL 1 inside the VPC: no gateway, delivered",
        "intra-vpc eni-app0",
    );
    let mut f = b.udp(inet, (CLIENT, 1), ("47.0.0.10", 1), 60, b"x");
    f[14] = 0x44;
    b.push(f, "IPv4 header with IHL 4", "drop malformed");
    b.push(
        vec![0x00, 0x16, 0x3e, 0, 0, 0x10, 0x02, 0, 0],
        "Ethernet header cut short",
        "drop malformed",
    );
    let mut f = Vec::new();
    PacketBuilder::ethernet2(inet.0, inet.1)
        .ipv6(
            [0x20, 1, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1],
            [0x20, 1, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2],
            64,
        )
        .udp(1, 1)
        .write(&mut f, b"v6")
        .expect("v6");
    b.push(f, "IPv6", "drop not-ipv4");
    let mut arp = vec![0xff; 6];
    arp.extend_from_slice(&INTERNET_ROUTER);
    arp.extend_from_slice(&[0x08, 0x06, 0, 1, 8, 0, 6, 4, 0, 1]);
    arp.extend_from_slice(&INTERNET_ROUTER);
    arp.extend_from_slice(&ip(CLIENT));
    arp.extend_from_slice(&[0; 6]);
    arp.extend_from_slice(&ip("47.0.0.10"));
    b.push(arp, "ARP request", "drop not-ipv4");
    b.frames
}

fn dns_query() -> Vec<u8> {
    let mut q = vec![0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0];
    q.extend_from_slice(b"\x04demo\x07example\x00\x00\x01\x00\x01");
    q
}

fn dns_answer() -> Vec<u8> {
    let mut a = vec![0x12, 0x34, 0x81, 0x80, 0, 1, 0, 1, 0, 0, 0, 0];
    a.extend_from_slice(b"\x04demo\x07example\x00\x00\x01\x00\x01");
    a.extend_from_slice(&[
        0xc0, 0x0c, 0, 1, 0, 1, 0, 0, 0x0e, 0x10, 0, 4, 203, 0, 113, 80,
    ]);
    a
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

/// The failover demo (seed 004: "mask the failure of the ECS instance by rapidly remapping the
/// EIP"): `pcaps/failover-topology.toml`, `pcaps/failover.pcap` and
/// `pcaps/failover-events.toml`. A client asks the service EIP once a second; at 5.5 s the
/// EIP is unbound from the failed instance's ENI, at 5.8 s bound to the standby's.
pub mod failover {
    use etherparse::PacketBuilder;

    /// The topology: two instances, each with a secondary ENI; the EIP on the active one.
    pub const TOPOLOGY: &str = r#"# eipsim failover demo: one EIP remapped from eni-active to eni-standby mid-capture
# (pcaps/failover-events.toml), as seed 004 suggests to mask an instance failure.
region = "eu-central-1"

[vpc]
id = "vpc-failover"
cidr = "172.16.0.0/12"
gateway_mac = "ee:ff:ff:ff:ff:ff"
internet_mac = "02:00:00:00:00:01"

[[instance]]
id = "i-active"
family = "ecs.g5"

[[instance]]
id = "i-standby"
family = "ecs.g5"

[[eni]]
id = "eni-active"
kind = "secondary"
mac = "00:16:3e:00:05:10"
primary_ip = "172.16.5.10"
instance = "i-active"

[[eni]]
id = "eni-standby"
kind = "secondary"
mac = "00:16:3e:00:06:10"
primary_ip = "172.16.6.10"
instance = "i-standby"

[[eip]]
id = "eip-svc"
address = "47.0.0.100"

[[association]]
eip = "eip-svc"
eni = "eni-active"
mode = "NAT"
"#;

    /// The events: unbind at 5.5 s, bind to the standby at 5.8 s (capture time).
    pub const EVENTS: &str = r#"# Timed operations for pcaps/failover.pcap (eipsim replay --events): the EIP leaves the
# failed instance's ENI and is bound to the standby's 0.3 s later.
[[event]]
at = "1700000005.5"
op = "UnassociateEipAddress"
eip = "eip-svc"

[[event]]
at = "1700000005.8"
op = "AssociateEipAddress"
eip = "eip-svc"
eni = "eni-standby"
mode = "NAT"
"#;

    /// Capture start, seconds since the epoch.
    pub const T0: u64 = 1_700_000_000;

    const CLIENT: [u8; 4] = [198, 51, 100, 7];
    const EIP: [u8; 4] = [47, 0, 0, 100];
    const ACTIVE: ([u8; 6], [u8; 4]) = ([0x00, 0x16, 0x3e, 0, 0x05, 0x10], [172, 16, 5, 10]);
    const STANDBY: ([u8; 6], [u8; 4]) = ([0x00, 0x16, 0x3e, 0, 0x06, 0x10], [172, 16, 6, 10]);
    const GATEWAY: [u8; 6] = [0xee, 0xff, 0xff, 0xff, 0xff, 0xff];
    const ROUTER: [u8; 6] = [0x02, 0, 0, 0, 0, 0xfe];

    /// One frame: time after T0 in milliseconds, bytes, and its expected fate.
    pub struct Frame {
        /// Milliseconds after [`T0`].
        pub ms: u64,
        /// Ethernet frame.
        pub data: Vec<u8>,
        /// `egress <port>` or `drop <reason>`.
        pub expect: &'static str,
    }

    fn udp(
        macs: ([u8; 6], [u8; 6]),
        src: [u8; 4],
        dst: [u8; 4],
        sport: u16,
        dport: u16,
    ) -> Vec<u8> {
        let mut v = Vec::new();
        PacketBuilder::ethernet2(macs.0, macs.1)
            .ipv4(src, dst, 64)
            .udp(sport, dport)
            .write(&mut v, b"health?")
            .expect("failover frame");
        v
    }

    /// The frames, in capture order.
    pub fn frames() -> Vec<Frame> {
        let mut v = Vec::new();
        let request = |n: u16| udp((ROUTER, GATEWAY), CLIENT, EIP, 40000 + n, 8080);
        let reply =
            |who: ([u8; 6], [u8; 4]), n: u16| udp((who.0, GATEWAY), who.1, CLIENT, 8080, 40000 + n);
        for n in 0..6u16 {
            let ms = u64::from(n) * 1000;
            v.push(Frame {
                ms,
                data: request(n),
                expect: "egress eni-active",
            });
            v.push(Frame {
                ms: ms + 1,
                data: reply(ACTIVE, n),
                expect: "egress internet",
            });
        }
        // Between the two events: the EIP is bound to nothing.
        v.push(Frame {
            ms: 5600,
            data: request(56),
            expect: "drop eip-not-associated",
        });
        // The failed instance answers late: its private IP has no EIP any more.
        v.push(Frame {
            ms: 5700,
            data: reply(ACTIVE, 5),
            expect: "drop no-public-address",
        });
        for n in 6..10u16 {
            let ms = u64::from(n) * 1000;
            v.push(Frame {
                ms,
                data: request(n),
                expect: "egress eni-standby",
            });
            v.push(Frame {
                ms: ms + 1,
                data: reply(STANDBY, n),
                expect: "egress internet",
            });
        }
        v
    }

    /// The capture as pcap bytes (Ethernet, microseconds).
    pub fn capture() -> Vec<u8> {
        let frames = frames();
        super::pcap_bytes(frames.iter().map(|f| {
            let ts = std::time::Duration::from_millis(T0 * 1000 + f.ms);
            (ts, f.data.len() as u32, f.data.as_slice())
        }))
    }
}
