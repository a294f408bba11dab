//! Golden tables for the forwarding rules of design.md section 5.
//!
//! Every case is (topology, input frame, expected output frame and egress, or expected drop
//! reason). Expected frames are built field by field with etherparse's `PacketBuilder`, which
//! computes every checksum in full; nothing here calls eipsim's checksum code. The input is built
//! with the original addresses and TTL, the expected output with the translated addresses, TTL - 1
//! and the rewritten MACs, and the two are compared byte for byte. A dropped frame must come back
//! unchanged.

use eipsim::dataplane::{
    Action, Dataplane, DropReason, Frame, IngressHint, Outcome, Port, Verdict,
};
use eipsim::model::Cloud;
use eipsim::wire::LinkType;
use etherparse::icmpv4::{DestUnreachableHeader, TimeExceededCode};
use etherparse::{
    ArpHardwareId, ArpOperation, ArpPacket, EtherType, Icmpv4Type, IpFragOffset, IpHeaders,
    IpNumber, Ipv4Header, Ipv4Options, LinuxSllPacketType, PacketBuilder, PacketBuilderStep,
    VlanId,
};

// ---------------------------------------------------------------------------------------------
// The topology: one ENI per situation the rules distinguish.

const TOPOLOGY: &str = r#"
region = "eu-central-1"

[account]
multi_eip_authorized = true
multi_eip_quota = 10

[vpc]
id = "vpc-main"
cidr = "172.16.0.0/12"
gateway_mac = "ee:ff:ff:ff:ff:ff"
internet_mac = "02:00:00:00:00:01"

[[instance]]
id = "i-web"
family = "ecs.g5"
dhcp = true

[[instance]]
id = "i-nodhcp"
family = "ecs.g5"
dhcp = false

[[instance]]
id = "i-multi"
family = "ecs.g5"

[[instance]]
id = "i-db"
family = "ecs.c5"

# 0: primary ENI, NAT eip-a on its primary IP
[[eni]]
id = "eni-web1"
kind = "primary"
mac = "00:16:3e:00:00:01"
primary_ip = "172.16.0.10"
instance = "i-web"

# 1: secondary ENI, NAT eip-b on 172.16.0.21; 172.16.0.20 and .22 have no EIP
[[eni]]
id = "eni-web2"
kind = "secondary"
mac = "00:16:3e:00:00:02"
primary_ip = "172.16.0.20"
secondary_ips = ["172.16.0.21", "172.16.0.22"]
instance = "i-web"

# 2: cut-through (BINDED) eip-c, instance with DHCP
[[eni]]
id = "eni-cut"
kind = "secondary"
mac = "00:16:3e:00:00:03"
primary_ip = "172.16.0.30"
instance = "i-web"

# 3: cut-through (BINDED) eip-d, instance without DHCP
[[eni]]
id = "eni-cut-nodhcp"
kind = "secondary"
mac = "00:16:3e:00:00:04"
primary_ip = "172.16.0.40"
instance = "i-nodhcp"

# 4: multi-EIP eip-e (configured) and eip-f (not configured by the OS)
[[eni]]
id = "eni-multi"
kind = "secondary"
mac = "00:16:3e:00:00:05"
primary_ip = "172.16.0.50"
instance = "i-multi"
static_eips = ["47.0.0.5"]

# 5: detached ENI with NAT eip-g
[[eni]]
id = "eni-detached"
kind = "secondary"
mac = "00:16:3e:00:00:06"
primary_ip = "172.16.0.60"

# 6: primary ENI without any EIP
[[eni]]
id = "eni-db"
kind = "primary"
mac = "00:16:3e:00:00:07"
primary_ip = "172.16.0.70"
instance = "i-db"

[[eip]]
id = "eip-a"
address = "47.0.0.1"

[[eip]]
id = "eip-b"
address = "47.0.0.2"

[[eip]]
id = "eip-c"
address = "47.0.0.3"

[[eip]]
id = "eip-d"
address = "47.0.0.4"

[[eip]]
id = "eip-e"
address = "47.0.0.5"

[[eip]]
id = "eip-f"
address = "47.0.0.6"

[[eip]]
id = "eip-g"
address = "47.0.0.7"

[[eip]]
id = "eip-free"
address = "47.0.0.9"

[[association]]
eip = "eip-a"
eni = "eni-web1"
mode = "NAT"

[[association]]
eip = "eip-b"
eni = "eni-web2"
mode = "NAT"
private_ip = "172.16.0.21"

[[association]]
eip = "eip-c"
eni = "eni-cut"
mode = "BINDED"

[[association]]
eip = "eip-d"
eni = "eni-cut-nodhcp"
mode = "BINDED"

[[association]]
eip = "eip-e"
eni = "eni-multi"
mode = "MULTI_BINDED"

[[association]]
eip = "eip-f"
eni = "eni-multi"
mode = "MULTI_BINDED"

[[association]]
eip = "eip-g"
eni = "eni-detached"
mode = "NAT"
"#;

const GW: [u8; 6] = [0xee, 0xff, 0xff, 0xff, 0xff, 0xff];
const INET: [u8; 6] = [0x02, 0, 0, 0, 0, 0x01];
/// The Internet router's MAC as the source of inbound frames (not an ENI's).
const PEER: [u8; 6] = [0x02, 0, 0, 0, 0, 0x99];
const MAC_WEB1: [u8; 6] = [0x00, 0x16, 0x3e, 0, 0, 0x01];
const MAC_WEB2: [u8; 6] = [0x00, 0x16, 0x3e, 0, 0, 0x02];
const MAC_CUT: [u8; 6] = [0x00, 0x16, 0x3e, 0, 0, 0x03];
const MAC_CUT_NODHCP: [u8; 6] = [0x00, 0x16, 0x3e, 0, 0, 0x04];
const MAC_MULTI: [u8; 6] = [0x00, 0x16, 0x3e, 0, 0, 0x05];
const MAC_DETACHED: [u8; 6] = [0x00, 0x16, 0x3e, 0, 0, 0x06];
const MAC_DB: [u8; 6] = [0x00, 0x16, 0x3e, 0, 0, 0x07];

const WEB1: Port = Port::Eni(0);
const WEB2: Port = Port::Eni(1);
const CUT: Port = Port::Eni(2);
const MULTI: Port = Port::Eni(4);
const DB: Port = Port::Eni(6);

const EIP_A: [u8; 4] = [47, 0, 0, 1]; // NAT -> 172.16.0.10 (eni-web1)
const EIP_B: [u8; 4] = [47, 0, 0, 2]; // NAT -> 172.16.0.21 (eni-web2)
const EIP_C: [u8; 4] = [47, 0, 0, 3]; // BINDED eni-cut
const EIP_D: [u8; 4] = [47, 0, 0, 4]; // BINDED eni-cut-nodhcp (no DHCP)
const EIP_E: [u8; 4] = [47, 0, 0, 5]; // MULTI_BINDED eni-multi, configured
const EIP_F: [u8; 4] = [47, 0, 0, 6]; // MULTI_BINDED eni-multi, not in static_eips
const EIP_G: [u8; 4] = [47, 0, 0, 7]; // NAT -> 172.16.0.60 (eni-detached)
const EIP_FREE: [u8; 4] = [47, 0, 0, 9]; // not associated

const WEB1_IP: [u8; 4] = [172, 16, 0, 10];
const WEB2_PRIMARY: [u8; 4] = [172, 16, 0, 20];
const WEB2_NAT: [u8; 4] = [172, 16, 0, 21];
const WEB2_NO_EIP: [u8; 4] = [172, 16, 0, 22];
const CUT_IP: [u8; 4] = [172, 16, 0, 30];
const CUT_NODHCP_IP: [u8; 4] = [172, 16, 0, 40];
const MULTI_IP: [u8; 4] = [172, 16, 0, 50];
const DETACHED_IP: [u8; 4] = [172, 16, 0, 60];
const DB_IP: [u8; 4] = [172, 16, 0, 70];
const VPC_NOBODY: [u8; 4] = [172, 16, 0, 99];

const REMOTE: [u8; 4] = [1, 2, 3, 4];
const DNS: [u8; 4] = [8, 8, 8, 8];
const NOT_OURS: [u8; 4] = [5, 5, 5, 5];

fn dataplane() -> Dataplane {
    Dataplane::new(&Cloud::from_toml(TOPOLOGY).expect("the golden topology loads"))
}

// ---------------------------------------------------------------------------------------------
// Frame construction (etherparse, full checksums)

#[derive(Clone, Copy, Debug)]
enum Link {
    Eth([u8; 6], [u8; 6]),
    Vlan([u8; 6], [u8; 6], u16),
    Raw,
    Sll,
}

impl Link {
    /// The same link with the MACs the gateway writes towards `to`.
    fn out(self, to: [u8; 6]) -> Link {
        match self {
            Link::Eth(..) => Link::Eth(GW, to),
            Link::Vlan(_, _, v) => Link::Vlan(GW, to, v),
            other => other,
        }
    }

    fn start_ip(self, ip: IpHeaders) -> PacketBuilderStep<IpHeaders> {
        match self {
            Link::Eth(s, d) => PacketBuilder::ethernet2(s, d).ip(ip),
            Link::Vlan(s, d, v) => PacketBuilder::ethernet2(s, d)
                .single_vlan(VlanId::try_new(v).unwrap())
                .ip(ip),
            Link::Raw => PacketBuilder::ip(ip),
            Link::Sll => PacketBuilder::linux_sll(
                LinuxSllPacketType::HOST,
                6,
                [0x02, 0, 0, 0, 0, 0x99, 0, 0],
            )
            .ip(ip),
        }
    }
}

#[derive(Clone, Debug)]
enum L4 {
    Tcp(u16, u16),
    Udp(u16, u16),
    /// UDP with the checksum field sent as 0 ("no checksum").
    UdpNoChecksum(u16, u16),
    Echo(u16, u16),
    Icmp(Icmpv4Type),
}

fn ipv4_header(src: [u8; 4], dst: [u8; 4], ttl: u8) -> Ipv4Header {
    Ipv4Header {
        source: src,
        destination: dst,
        time_to_live: ttl,
        identification: 0x4a4b,
        dont_fragment: true,
        ..Default::default()
    }
}

fn build_with(link: Link, ip: Ipv4Header, l4: &L4, payload: &[u8]) -> Vec<u8> {
    let b = link.start_ip(IpHeaders::Ipv4(ip, Default::default()));
    let mut out = Vec::new();
    match l4 {
        L4::Tcp(s, d) => b
            .tcp(*s, *d, 0x0102_0304, 64240)
            .ack(0x0a0b_0c0d)
            .psh()
            .write(&mut out, payload),
        L4::Udp(s, d) | L4::UdpNoChecksum(s, d) => b.udp(*s, *d).write(&mut out, payload),
        L4::Echo(id, seq) => b.icmpv4_echo_request(*id, *seq).write(&mut out, payload),
        L4::Icmp(t) => b.icmpv4(t.clone()).write(&mut out, payload),
    }
    .unwrap();
    if let L4::UdpNoChecksum(..) = l4 {
        let at = udp_offset(&out, link);
        out[at + 6] = 0;
        out[at + 7] = 0;
    }
    out
}

fn build(link: Link, src: [u8; 4], dst: [u8; 4], ttl: u8, l4: &L4, payload: &[u8]) -> Vec<u8> {
    build_with(link, ipv4_header(src, dst, ttl), l4, payload)
}

/// An IPv4 packet (no link header), as quoted in an ICMP error.
fn ip_packet(src: [u8; 4], dst: [u8; 4], ttl: u8, l4: &L4, payload: &[u8]) -> Vec<u8> {
    build(Link::Raw, src, dst, ttl, l4, payload)
}

fn link_len(link: Link) -> usize {
    match link {
        Link::Eth(..) => 14,
        Link::Vlan(..) => 18,
        Link::Raw => 0,
        Link::Sll => 16,
    }
}

fn udp_offset(frame: &[u8], link: Link) -> usize {
    let l3 = link_len(link);
    l3 + usize::from(frame[l3] & 0x0f) * 4
}

fn hex(b: &[u8]) -> String {
    b.chunks(16)
        .map(|c| {
            c.iter()
                .map(|x| format!("{x:02x}"))
                .collect::<Vec<_>>()
                .join(" ")
        })
        .collect::<Vec<_>>()
        .join("\n")
}

// ---------------------------------------------------------------------------------------------
// Cases

enum Expect {
    Forward(Vec<u8>, Port, Action),
    Drop(DropReason),
}

struct Case {
    name: &'static str,
    link: LinkType,
    input: Vec<u8>,
    expect: Expect,
}

fn fwd(
    name: &'static str,
    link: LinkType,
    input: Vec<u8>,
    out: Vec<u8>,
    port: Port,
    action: Action,
) -> Case {
    Case {
        name,
        link,
        input,
        expect: Expect::Forward(out, port, action),
    }
}

fn drop(name: &'static str, link: LinkType, input: Vec<u8>, reason: DropReason) -> Case {
    Case {
        name,
        link,
        input,
        expect: Expect::Drop(reason),
    }
}

/// Runs every case through `process` and through `process_batch` (same result required) and
/// reports every failing case at once.
fn run(dp: &Dataplane, cases: &[Case]) -> Vec<Verdict> {
    let mut failures = Vec::new();
    let mut verdicts = Vec::new();
    for c in cases {
        let mut frame = c.input.clone();
        let v = dp.process(&mut frame, c.link);
        verdicts.push(v);
        match &c.expect {
            Expect::Forward(out, port, action) => {
                if v.outcome != Outcome::Forward(*port, *action) {
                    failures.push(format!(
                        "{}: outcome {:?}, expected Forward({port:?}, {action:?})",
                        c.name, v.outcome
                    ));
                } else if &frame != out {
                    failures.push(format!(
                        "{}: output frame differs\n got:\n{}\n expected:\n{}",
                        c.name,
                        hex(&frame),
                        hex(out)
                    ));
                }
            }
            Expect::Drop(reason) => {
                if v.outcome != Outcome::Drop(*reason) {
                    failures.push(format!(
                        "{}: outcome {:?}, expected Drop({reason:?})",
                        c.name, v.outcome
                    ));
                } else if frame != c.input {
                    failures.push(format!(
                        "{}: dropped frame was modified\n got:\n{}\n input:\n{}",
                        c.name,
                        hex(&frame),
                        hex(&c.input)
                    ));
                }
            }
        }
    }
    // The batch API gives the same verdicts and rewrites.
    let mut bufs: Vec<Vec<u8>> = cases.iter().map(|c| c.input.clone()).collect();
    let mut frames: Vec<Frame<'_>> = bufs
        .iter_mut()
        .zip(cases)
        .map(|(b, c)| Frame {
            data: b.as_mut_slice(),
            link: c.link,
        })
        .collect();
    let mut batch = vec![Verdict::early_drop(DropReason::Malformed, None); cases.len()];
    dp.process_batch(&mut frames, &mut batch);
    for (((c, v), b), single) in cases.iter().zip(&batch).zip(&bufs).zip(&verdicts) {
        let single = *single;
        if *v != single {
            failures.push(format!(
                "{}: batch verdict {v:?} != single {single:?}",
                c.name
            ));
        }
        let want = match &c.expect {
            Expect::Forward(out, ..) => out,
            Expect::Drop(_) => &c.input,
        };
        if b != want && v.outcome == single.outcome {
            failures.push(format!("{}: batch output differs", c.name));
        }
    }
    assert!(
        failures.is_empty(),
        "{} failing case(s):\n{}",
        failures.len(),
        failures.join("\n")
    );
    verdicts
}

const PAYLOAD: &[u8] = b"GET / HTTP/1.1\r\nHost: example\r\n\r\n";

fn inet() -> Link {
    Link::Eth(PEER, GW)
}
fn from(mac: [u8; 6]) -> Link {
    Link::Eth(mac, GW)
}
const ETH: LinkType = LinkType::Ethernet;

// ---------------------------------------------------------------------------------------------
// NAT mode

#[test]
fn dnat_inbound() {
    let tcp = L4::Tcp(40000, 80);
    let udp = L4::Udp(40001, 53);
    let echo = L4::Echo(0x1234, 7);
    run(
        &dataplane(),
        &[
            fwd(
                "dnat tcp to the primary ENI's default private IP",
                ETH,
                build(inet(), REMOTE, EIP_A, 64, &tcp, PAYLOAD),
                build(inet().out(MAC_WEB1), REMOTE, WEB1_IP, 63, &tcp, PAYLOAD),
                WEB1,
                Action::Dnat,
            ),
            fwd(
                "dnat udp to the mapped secondary private IP",
                ETH,
                build(inet(), REMOTE, EIP_B, 128, &udp, b"query"),
                build(inet().out(MAC_WEB2), REMOTE, WEB2_NAT, 127, &udp, b"query"),
                WEB2,
                Action::Dnat,
            ),
            fwd(
                "dnat icmp echo request",
                ETH,
                build(inet(), REMOTE, EIP_A, 2, &echo, b"abcdefgh"),
                build(inet().out(MAC_WEB1), REMOTE, WEB1_IP, 1, &echo, b"abcdefgh"),
                WEB1,
                Action::Dnat,
            ),
            fwd(
                "dnat tcp, odd payload length",
                ETH,
                build(inet(), REMOTE, EIP_B, 255, &tcp, b"odd"),
                build(inet().out(MAC_WEB2), REMOTE, WEB2_NAT, 254, &tcp, b"odd"),
                WEB2,
                Action::Dnat,
            ),
            fwd(
                "dnat tcp, empty payload",
                ETH,
                build(inet(), REMOTE, EIP_A, 64, &tcp, b""),
                build(inet().out(MAC_WEB1), REMOTE, WEB1_IP, 63, &tcp, b""),
                WEB1,
                Action::Dnat,
            ),
        ],
    );
}

#[test]
fn dnat_with_ipv4_options() {
    let udp = L4::Udp(1000, 2000);
    let opts = Ipv4Options::from([1u8, 1, 1, 0]); // NOP NOP NOP EOL: IHL 6
    let input = Ipv4Header {
        options: opts.clone(),
        ..ipv4_header(REMOTE, EIP_A, 64)
    };
    let output = Ipv4Header {
        options: opts,
        ..ipv4_header(REMOTE, WEB1_IP, 63)
    };
    run(
        &dataplane(),
        &[fwd(
            "dnat udp with IPv4 options (IHL 6)",
            ETH,
            build_with(inet(), input, &udp, b"options"),
            build_with(inet().out(MAC_WEB1), output, &udp, b"options"),
            WEB1,
            Action::Dnat,
        )],
    );
}

#[test]
fn snat_outbound() {
    let tcp = L4::Tcp(51000, 443);
    let udp = L4::Udp(51001, 53);
    let echo = L4::Echo(0x0101, 1);
    let v = run(
        &dataplane(),
        &[
            fwd(
                "snat tcp from the mapped secondary private IP",
                ETH,
                build(from(MAC_WEB2), WEB2_NAT, DNS, 64, &tcp, PAYLOAD),
                build(from(MAC_WEB2).out(INET), EIP_B, DNS, 63, &tcp, PAYLOAD),
                Port::Internet,
                Action::Snat,
            ),
            fwd(
                "snat udp from the primary ENI",
                ETH,
                build(from(MAC_WEB1), WEB1_IP, DNS, 64, &udp, b"\x12\x34\x01\x00"),
                build(
                    from(MAC_WEB1).out(INET),
                    EIP_A,
                    DNS,
                    63,
                    &udp,
                    b"\x12\x34\x01\x00",
                ),
                Port::Internet,
                Action::Snat,
            ),
            fwd(
                "snat icmp echo request",
                ETH,
                build(from(MAC_WEB1), WEB1_IP, DNS, 64, &echo, b"ping"),
                build(from(MAC_WEB1).out(INET), EIP_A, DNS, 63, &echo, b"ping"),
                Port::Internet,
                Action::Snat,
            ),
        ],
    );
    assert_eq!(v[0].ingress, Some(WEB2));
    assert_eq!(v[1].ingress, Some(WEB1));
}

#[test]
fn udp_zero_checksum_stays_zero() {
    let udp = L4::UdpNoChecksum(7000, 7001);
    let out = build(
        inet().out(MAC_WEB2),
        REMOTE,
        WEB2_NAT,
        63,
        &udp,
        b"no checksum",
    );
    let at = udp_offset(&out, inet());
    assert_eq!(&out[at + 6..at + 8], &[0, 0]);
    run(
        &dataplane(),
        &[
            fwd(
                "dnat udp without checksum",
                ETH,
                build(inet(), REMOTE, EIP_B, 64, &udp, b"no checksum"),
                out,
                WEB2,
                Action::Dnat,
            ),
            fwd(
                "snat udp without checksum",
                ETH,
                build(from(MAC_WEB2), WEB2_NAT, DNS, 64, &udp, b"no checksum"),
                build(
                    from(MAC_WEB2).out(INET),
                    EIP_B,
                    DNS,
                    63,
                    &udp,
                    b"no checksum",
                ),
                Port::Internet,
                Action::Snat,
            ),
        ],
    );
}

/// One's-complement sum of big-endian words (a test-local helper, independent of eipsim).
fn ones_sum(data: &[u8]) -> u32 {
    let mut s: u32 = 0;
    for c in data.chunks(2) {
        let w = u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)]);
        s += u32::from(w);
        s = (s & 0xffff) + (s >> 16);
    }
    s
}

/// A UDP payload whose checksum, between `src` and `dst`, computes to 0 (sum 0xffff).
fn payload_with_zero_udp_checksum(src: [u8; 4], dst: [u8; 4], sport: u16, dport: u16) -> Vec<u8> {
    let mut payload = b"zero-sum!!".to_vec(); // even length; the last word is adjusted
    let n = payload.len();
    payload[n - 2] = 0;
    payload[n - 1] = 0;
    let len = (8 + n) as u16;
    let mut pseudo = Vec::new();
    pseudo.extend_from_slice(&src);
    pseudo.extend_from_slice(&dst);
    pseudo.extend_from_slice(&[0, 17]);
    pseudo.extend_from_slice(&len.to_be_bytes());
    pseudo.extend_from_slice(&sport.to_be_bytes());
    pseudo.extend_from_slice(&dport.to_be_bytes());
    pseudo.extend_from_slice(&len.to_be_bytes());
    pseudo.extend_from_slice(&[0, 0]);
    pseudo.extend_from_slice(&payload);
    let s = ones_sum(&pseudo);
    let w = 0xffff - s as u16; // s + w == 0xffff: the checksum ~0xffff == 0
    payload[n - 2..].copy_from_slice(&w.to_be_bytes());
    assert_eq!(
        ones_sum(&[pseudo, w.to_be_bytes().to_vec()].concat()),
        0xffff
    );
    payload
}

#[test]
fn udp_checksum_computing_to_zero_is_sent_as_ffff() {
    // Inbound: the translated datagram (REMOTE -> WEB2_NAT) sums to 0xffff.
    let udp = L4::Udp(3000, 4000);
    let p = payload_with_zero_udp_checksum(REMOTE, WEB2_NAT, 3000, 4000);
    let input = build(inet(), REMOTE, EIP_B, 64, &udp, &p);
    let out = build(inet().out(MAC_WEB2), REMOTE, WEB2_NAT, 63, &udp, &p);
    let at = udp_offset(&out, inet());
    assert_eq!(
        &out[at + 6..at + 8],
        &[0xff, 0xff],
        "etherparse sends 0 as 0xffff"
    );
    let at_in = udp_offset(&input, inet());
    assert_ne!(&input[at_in + 6..at_in + 8], &[0xff, 0xff]);

    // Outbound: the translated datagram (EIP_A -> DNS) sums to 0xffff.
    let p2 = payload_with_zero_udp_checksum(EIP_A, DNS, 3000, 4000);
    let out2 = build(from(MAC_WEB1).out(INET), EIP_A, DNS, 63, &udp, &p2);
    assert_eq!(&out2[at + 6..at + 8], &[0xff, 0xff]);
    run(
        &dataplane(),
        &[
            fwd(
                "dnat udp whose checksum computes to 0",
                ETH,
                input,
                out,
                WEB2,
                Action::Dnat,
            ),
            fwd(
                "snat udp whose checksum computes to 0",
                ETH,
                build(from(MAC_WEB1), WEB1_IP, DNS, 64, &udp, &p2),
                out2,
                Port::Internet,
                Action::Snat,
            ),
        ],
    );
}

// ---------------------------------------------------------------------------------------------
// Cut-through and multi-EIP

#[test]
fn binded_pass_through() {
    let tcp = L4::Tcp(40000, 22);
    run(
        &dataplane(),
        &[
            fwd(
                "binded inbound: address unchanged, TTL - 1, MACs rewritten",
                ETH,
                build(inet(), REMOTE, EIP_C, 64, &tcp, PAYLOAD),
                build(inet().out(MAC_CUT), REMOTE, EIP_C, 63, &tcp, PAYLOAD),
                CUT,
                Action::PassThrough,
            ),
            fwd(
                "binded outbound from the EIP",
                ETH,
                build(from(MAC_CUT), EIP_C, REMOTE, 64, &tcp, PAYLOAD),
                build(from(MAC_CUT).out(INET), EIP_C, REMOTE, 63, &tcp, PAYLOAD),
                Port::Internet,
                Action::PassThrough,
            ),
        ],
    );
}

#[test]
fn multi_binded_pass_through() {
    let udp = L4::Udp(5060, 5060);
    run(
        &dataplane(),
        &[
            fwd(
                "multi-eip inbound to a configured EIP",
                ETH,
                build(inet(), REMOTE, EIP_E, 64, &udp, b"INVITE"),
                build(inet().out(MAC_MULTI), REMOTE, EIP_E, 63, &udp, b"INVITE"),
                MULTI,
                Action::PassThrough,
            ),
            fwd(
                "multi-eip outbound from a configured EIP",
                ETH,
                build(from(MAC_MULTI), EIP_E, REMOTE, 64, &udp, b"200 OK"),
                build(
                    from(MAC_MULTI).out(INET),
                    EIP_E,
                    REMOTE,
                    63,
                    &udp,
                    b"200 OK",
                ),
                Port::Internet,
                Action::PassThrough,
            ),
            fwd(
                "multi-eip outbound from an EIP the ENI owns but the OS did not list",
                ETH,
                build(from(MAC_MULTI), EIP_F, REMOTE, 64, &udp, b"x"),
                build(from(MAC_MULTI).out(INET), EIP_F, REMOTE, 63, &udp, b"x"),
                Port::Internet,
                Action::PassThrough,
            ),
        ],
    );
}

#[test]
fn guest_not_configured() {
    let tcp = L4::Tcp(1, 2);
    run(
        &dataplane(),
        &[
            drop(
                "binded EIP of an instance without DHCP",
                ETH,
                build(inet(), REMOTE, EIP_D, 64, &tcp, b""),
                DropReason::GuestNotConfigured,
            ),
            drop(
                "multi-eip EIP not in static_eips",
                ETH,
                build(inet(), REMOTE, EIP_F, 64, &tcp, b""),
                DropReason::GuestNotConfigured,
            ),
        ],
    );
}

// ---------------------------------------------------------------------------------------------
// Drops on the Internet side and the ENI side

#[test]
fn unknown_destination() {
    let udp = L4::Udp(1, 2);
    run(
        &dataplane(),
        &[
            drop(
                "internet to an address that is not an EIP",
                ETH,
                build(inet(), REMOTE, NOT_OURS, 64, &udp, b"x"),
                DropReason::UnknownDestination,
            ),
            drop(
                "internet to a private IP",
                ETH,
                build(inet(), REMOTE, WEB1_IP, 64, &udp, b"x"),
                DropReason::UnknownDestination,
            ),
            drop(
                "ENI to a VPC address nobody owns",
                ETH,
                build(from(MAC_WEB1), WEB1_IP, VPC_NOBODY, 64, &udp, b"x"),
                DropReason::UnknownDestination,
            ),
        ],
    );
}

#[test]
fn eip_not_associated() {
    let udp = L4::Udp(1, 2);
    run(
        &dataplane(),
        &[
            drop(
                "internet to an unassociated EIP",
                ETH,
                build(inet(), REMOTE, EIP_FREE, 64, &udp, b"x"),
                DropReason::EipNotAssociated,
            ),
            drop(
                "hairpin to an unassociated EIP",
                ETH,
                build(from(MAC_WEB1), WEB1_IP, EIP_FREE, 64, &udp, b"x"),
                DropReason::EipNotAssociated,
            ),
        ],
    );
}

#[test]
fn eni_detached() {
    let udp = L4::Udp(1, 2);
    run(
        &dataplane(),
        &[
            drop(
                "internet to the NAT EIP of a detached ENI",
                ETH,
                build(inet(), REMOTE, EIP_G, 64, &udp, b"x"),
                DropReason::EniDetached,
            ),
            drop(
                "from a detached ENI's MAC",
                ETH,
                build(from(MAC_DETACHED), DETACHED_IP, DNS, 64, &udp, b"x"),
                DropReason::EniDetached,
            ),
            drop(
                "intra-VPC to a detached ENI's private IP",
                ETH,
                build(from(MAC_WEB1), WEB1_IP, DETACHED_IP, 64, &udp, b"x"),
                DropReason::EniDetached,
            ),
            drop(
                "hairpin to the EIP of a detached ENI",
                ETH,
                build(from(MAC_WEB1), WEB1_IP, EIP_G, 64, &udp, b"x"),
                DropReason::EniDetached,
            ),
        ],
    );
}

#[test]
fn source_check() {
    let udp = L4::Udp(1, 2);
    run(
        &dataplane(),
        &[
            drop(
                "another ENI's private IP",
                ETH,
                build(from(MAC_WEB1), WEB2_NAT, DNS, 64, &udp, b"x"),
                DropReason::SourceCheck,
            ),
            drop(
                "a public address",
                ETH,
                build(from(MAC_WEB1), REMOTE, DNS, 64, &udp, b"x"),
                DropReason::SourceCheck,
            ),
            drop(
                "the ENI's own NAT EIP (the OS does not hold it)",
                ETH,
                build(from(MAC_WEB1), EIP_A, DNS, 64, &udp, b"x"),
                DropReason::SourceCheck,
            ),
            drop(
                "a BINDED ENI's former private IP",
                ETH,
                build(from(MAC_CUT), CUT_IP, DNS, 64, &udp, b"x"),
                DropReason::SourceCheck,
            ),
            drop(
                "another ENI's BINDED EIP",
                ETH,
                build(from(MAC_WEB1), EIP_C, DNS, 64, &udp, b"x"),
                DropReason::SourceCheck,
            ),
            drop(
                "another ENI's multi-EIP",
                ETH,
                build(from(MAC_CUT), EIP_E, DNS, 64, &udp, b"x"),
                DropReason::SourceCheck,
            ),
            drop(
                "a BINDED ENI's former private IP, intra-VPC",
                ETH,
                build(from(MAC_CUT_NODHCP), CUT_NODHCP_IP, WEB1_IP, 64, &udp, b"x"),
                DropReason::SourceCheck,
            ),
        ],
    );
}

#[test]
fn no_public_address() {
    let udp = L4::Udp(1, 2);
    run(
        &dataplane(),
        &[
            drop(
                "secondary private IP without NAT EIP",
                ETH,
                build(from(MAC_WEB2), WEB2_NO_EIP, DNS, 64, &udp, b"x"),
                DropReason::NoPublicAddress,
            ),
            drop(
                "primary IP of an ENI whose EIP maps another IP",
                ETH,
                build(from(MAC_WEB2), WEB2_PRIMARY, DNS, 64, &udp, b"x"),
                DropReason::NoPublicAddress,
            ),
            drop(
                "primary ENI without EIP",
                ETH,
                build(from(MAC_DB), DB_IP, DNS, 64, &udp, b"x"),
                DropReason::NoPublicAddress,
            ),
            drop(
                "multi-eip ENI's private IP",
                ETH,
                build(from(MAC_MULTI), MULTI_IP, DNS, 64, &udp, b"x"),
                DropReason::NoPublicAddress,
            ),
        ],
    );
}

#[test]
fn intra_vpc() {
    let tcp = L4::Tcp(33000, 5432);
    run(
        &dataplane(),
        &[
            fwd(
                "intra-VPC: TTL unchanged, addresses unchanged, MACs rewritten",
                ETH,
                build(from(MAC_WEB1), WEB1_IP, DB_IP, 64, &tcp, PAYLOAD),
                build(
                    from(MAC_WEB1).out(MAC_DB),
                    WEB1_IP,
                    DB_IP,
                    64,
                    &tcp,
                    PAYLOAD,
                ),
                DB,
                Action::IntraVpc,
            ),
            fwd(
                "intra-VPC from a private IP without EIP",
                ETH,
                build(from(MAC_WEB2), WEB2_NO_EIP, WEB1_IP, 64, &tcp, b""),
                build(
                    from(MAC_WEB2).out(MAC_WEB1),
                    WEB2_NO_EIP,
                    WEB1_IP,
                    64,
                    &tcp,
                    b"",
                ),
                WEB1,
                Action::IntraVpc,
            ),
            fwd(
                "intra-VPC between private IPs of a multi-EIP ENI and a NAT ENI",
                ETH,
                build(from(MAC_MULTI), MULTI_IP, WEB2_NAT, 64, &tcp, b""),
                build(
                    from(MAC_MULTI).out(MAC_WEB2),
                    MULTI_IP,
                    WEB2_NAT,
                    64,
                    &tcp,
                    b"",
                ),
                WEB2,
                Action::IntraVpc,
            ),
        ],
    );
}

#[test]
fn private_network_unavailable() {
    let udp = L4::Udp(1, 2);
    run(
        &dataplane(),
        &[
            drop(
                "from a BINDED ENI to a private IP",
                ETH,
                build(from(MAC_CUT), EIP_C, WEB1_IP, 64, &udp, b"x"),
                DropReason::PrivateNetworkUnavailable,
            ),
            drop(
                "to a BINDED ENI's private IP",
                ETH,
                build(from(MAC_WEB1), WEB1_IP, CUT_IP, 64, &udp, b"x"),
                DropReason::PrivateNetworkUnavailable,
            ),
        ],
    );
}

#[test]
fn hairpin() {
    let tcp = L4::Tcp(45000, 8080);
    run(
        &dataplane(),
        &[
            fwd(
                "NAT to NAT: SNAT then DNAT, TTL - 1 once",
                ETH,
                build(from(MAC_WEB1), WEB1_IP, EIP_B, 64, &tcp, PAYLOAD),
                build(
                    from(MAC_WEB1).out(MAC_WEB2),
                    EIP_A,
                    WEB2_NAT,
                    63,
                    &tcp,
                    PAYLOAD,
                ),
                WEB2,
                Action::Hairpin,
            ),
            fwd(
                "NAT to BINDED: SNAT only",
                ETH,
                build(from(MAC_WEB2), WEB2_NAT, EIP_C, 64, &tcp, PAYLOAD),
                build(from(MAC_WEB2).out(MAC_CUT), EIP_B, EIP_C, 63, &tcp, PAYLOAD),
                CUT,
                Action::Hairpin,
            ),
            fwd(
                "BINDED to NAT: DNAT only",
                ETH,
                build(from(MAC_CUT), EIP_C, EIP_A, 64, &tcp, PAYLOAD),
                build(
                    from(MAC_CUT).out(MAC_WEB1),
                    EIP_C,
                    WEB1_IP,
                    63,
                    &tcp,
                    PAYLOAD,
                ),
                WEB1,
                Action::Hairpin,
            ),
            fwd(
                "NAT to its own EIP",
                ETH,
                build(from(MAC_WEB1), WEB1_IP, EIP_A, 64, &tcp, b""),
                build(from(MAC_WEB1).out(MAC_WEB1), EIP_A, WEB1_IP, 63, &tcp, b""),
                WEB1,
                Action::Hairpin,
            ),
            fwd(
                "multi-EIP to multi-EIP of the same ENI",
                ETH,
                build(from(MAC_MULTI), EIP_E, EIP_E, 64, &tcp, b""),
                build(from(MAC_MULTI).out(MAC_MULTI), EIP_E, EIP_E, 63, &tcp, b""),
                MULTI,
                Action::Hairpin,
            ),
            drop(
                "hairpin to a BINDED EIP without DHCP",
                ETH,
                build(from(MAC_WEB1), WEB1_IP, EIP_D, 64, &tcp, b""),
                DropReason::GuestNotConfigured,
            ),
            drop(
                "hairpin to an unconfigured multi-EIP",
                ETH,
                build(from(MAC_WEB1), WEB1_IP, EIP_F, 64, &tcp, b""),
                DropReason::GuestNotConfigured,
            ),
        ],
    );
}

#[test]
fn ttl_expired() {
    let udp = L4::Udp(1, 2);
    run(
        &dataplane(),
        &[
            drop(
                "dnat, TTL 1",
                ETH,
                build(inet(), REMOTE, EIP_A, 1, &udp, b"x"),
                DropReason::TtlExpired,
            ),
            drop(
                "dnat, TTL 0",
                ETH,
                build(inet(), REMOTE, EIP_A, 0, &udp, b"x"),
                DropReason::TtlExpired,
            ),
            drop(
                "snat, TTL 1",
                ETH,
                build(from(MAC_WEB1), WEB1_IP, DNS, 1, &udp, b"x"),
                DropReason::TtlExpired,
            ),
            drop(
                "snat, TTL 0",
                ETH,
                build(from(MAC_WEB1), WEB1_IP, DNS, 0, &udp, b"x"),
                DropReason::TtlExpired,
            ),
            drop(
                "binded inbound, TTL 1",
                ETH,
                build(inet(), REMOTE, EIP_C, 1, &udp, b"x"),
                DropReason::TtlExpired,
            ),
            drop(
                "binded outbound, TTL 1",
                ETH,
                build(from(MAC_CUT), EIP_C, REMOTE, 1, &udp, b"x"),
                DropReason::TtlExpired,
            ),
            drop(
                "hairpin, TTL 1",
                ETH,
                build(from(MAC_WEB1), WEB1_IP, EIP_B, 1, &udp, b"x"),
                DropReason::TtlExpired,
            ),
            fwd(
                "intra-VPC, TTL 1: delivered, TTL kept",
                ETH,
                build(from(MAC_WEB1), WEB1_IP, DB_IP, 1, &udp, b"x"),
                build(from(MAC_WEB1).out(MAC_DB), WEB1_IP, DB_IP, 1, &udp, b"x"),
                DB,
                Action::IntraVpc,
            ),
            fwd(
                "intra-VPC, TTL 0: delivered, TTL kept",
                ETH,
                build(from(MAC_WEB1), WEB1_IP, DB_IP, 0, &udp, b"x"),
                build(from(MAC_WEB1).out(MAC_DB), WEB1_IP, DB_IP, 0, &udp, b"x"),
                DB,
                Action::IntraVpc,
            ),
            fwd(
                "dnat, TTL 2: delivered with TTL 1",
                ETH,
                build(inet(), REMOTE, EIP_A, 2, &udp, b"x"),
                build(inet().out(MAC_WEB1), REMOTE, WEB1_IP, 1, &udp, b"x"),
                WEB1,
                Action::Dnat,
            ),
        ],
    );
}

/// Several reasons apply; the first in design.md section 5's order names the drop: malformed,
/// not-ipv4, eni-detached (ingress), source-check, unknown-destination, eip-not-associated,
/// private-network-unavailable, no-public-address, eni-detached (destination), ttl-expired,
/// guest-not-configured.
#[test]
fn drop_precedence() {
    let udp = L4::Udp(1, 2);
    let mut ihl4 = build(from(MAC_DETACHED), REMOTE, EIP_FREE, 1, &udp, b"x");
    ihl4[14] = 0x44;
    let ipv6_from_detached = {
        let mut out = Vec::new();
        PacketBuilder::ethernet2(MAC_DETACHED, GW)
            .ipv6([0xfd; 16], [0x20; 16], 1)
            .udp(1, 2)
            .write(&mut out, b"x")
            .unwrap();
        out
    };
    run(
        &dataplane(),
        &[
            drop(
                "malformed over eni-detached, source-check, ttl",
                ETH,
                ihl4,
                DropReason::Malformed,
            ),
            drop(
                "not-ipv4 over eni-detached",
                ETH,
                ipv6_from_detached,
                DropReason::NotIpv4,
            ),
            drop(
                "eni-detached (ingress) over source-check and ttl-expired",
                ETH,
                build(from(MAC_DETACHED), REMOTE, EIP_FREE, 0, &udp, b"x"),
                DropReason::EniDetached,
            ),
            drop(
                "source-check over unknown-destination",
                ETH,
                build(from(MAC_WEB1), WEB2_NAT, VPC_NOBODY, 64, &udp, b"x"),
                DropReason::SourceCheck,
            ),
            drop(
                "source-check over no-public-address and ttl-expired",
                ETH,
                build(from(MAC_WEB1), WEB2_NO_EIP, DNS, 1, &udp, b"x"),
                DropReason::SourceCheck,
            ),
            drop(
                "source-check over eip-not-associated (hairpin)",
                ETH,
                build(from(MAC_WEB1), REMOTE, EIP_FREE, 64, &udp, b"x"),
                DropReason::SourceCheck,
            ),
            drop(
                "unknown-destination over ttl-expired",
                ETH,
                build(inet(), REMOTE, NOT_OURS, 1, &udp, b"x"),
                DropReason::UnknownDestination,
            ),
            drop(
                "unknown-destination over private-network-unavailable",
                ETH,
                build(from(MAC_CUT), EIP_C, VPC_NOBODY, 64, &udp, b"x"),
                DropReason::UnknownDestination,
            ),
            drop(
                "eip-not-associated over ttl-expired",
                ETH,
                build(inet(), REMOTE, EIP_FREE, 0, &udp, b"x"),
                DropReason::EipNotAssociated,
            ),
            drop(
                "eip-not-associated over no-public-address (hairpin)",
                ETH,
                build(from(MAC_WEB2), WEB2_NO_EIP, EIP_FREE, 64, &udp, b"x"),
                DropReason::EipNotAssociated,
            ),
            drop(
                "private-network-unavailable over eni-detached",
                ETH,
                build(from(MAC_CUT), EIP_C, DETACHED_IP, 64, &udp, b"x"),
                DropReason::PrivateNetworkUnavailable,
            ),
            drop(
                "no-public-address over eni-detached (hairpin)",
                ETH,
                build(from(MAC_WEB2), WEB2_NO_EIP, EIP_G, 64, &udp, b"x"),
                DropReason::NoPublicAddress,
            ),
            drop(
                "no-public-address over guest-not-configured and ttl (hairpin)",
                ETH,
                build(from(MAC_WEB2), WEB2_NO_EIP, EIP_D, 1, &udp, b"x"),
                DropReason::NoPublicAddress,
            ),
            drop(
                "eni-detached over ttl-expired",
                ETH,
                build(inet(), REMOTE, EIP_G, 1, &udp, b"x"),
                DropReason::EniDetached,
            ),
            drop(
                "eni-detached over ttl-expired (hairpin)",
                ETH,
                build(from(MAC_WEB1), WEB1_IP, EIP_G, 1, &udp, b"x"),
                DropReason::EniDetached,
            ),
            drop(
                "ttl-expired over guest-not-configured (binded, no DHCP)",
                ETH,
                build(inet(), REMOTE, EIP_D, 1, &udp, b"x"),
                DropReason::TtlExpired,
            ),
            drop(
                "ttl-expired over guest-not-configured (multi-EIP)",
                ETH,
                build(inet(), REMOTE, EIP_F, 0, &udp, b"x"),
                DropReason::TtlExpired,
            ),
            drop(
                "ttl-expired over guest-not-configured (hairpin)",
                ETH,
                build(from(MAC_WEB1), WEB1_IP, EIP_F, 1, &udp, b"x"),
                DropReason::TtlExpired,
            ),
        ],
    );
}

// ---------------------------------------------------------------------------------------------
// Link layers

#[test]
fn vlan_tag_kept() {
    let tcp = L4::Tcp(40000, 80);
    let udp = L4::Udp(53, 5353);
    let vin = Link::Vlan(PEER, GW, 100);
    let vout = Link::Vlan(MAC_WEB2, GW, 4000);
    run(
        &dataplane(),
        &[
            fwd(
                "dnat behind an 802.1Q tag",
                ETH,
                build(vin, REMOTE, EIP_A, 64, &tcp, PAYLOAD),
                build(vin.out(MAC_WEB1), REMOTE, WEB1_IP, 63, &tcp, PAYLOAD),
                WEB1,
                Action::Dnat,
            ),
            fwd(
                "snat behind an 802.1Q tag",
                ETH,
                build(vout, WEB2_NAT, DNS, 64, &udp, b"resp"),
                build(vout.out(INET), EIP_B, DNS, 63, &udp, b"resp"),
                Port::Internet,
                Action::Snat,
            ),
            drop(
                "tagged frame dropped unchanged",
                ETH,
                build(vin, REMOTE, EIP_FREE, 64, &udp, b"x"),
                DropReason::EipNotAssociated,
            ),
        ],
    );
}

#[test]
fn raw_ip_ingress_by_source_owner() {
    let tcp = L4::Tcp(40000, 80);
    let raw = LinkType::RawIp;
    let v = run(
        &dataplane(),
        &[
            fwd(
                "raw: from the Internet (source not owned), DNAT",
                raw,
                build(Link::Raw, REMOTE, EIP_A, 64, &tcp, PAYLOAD),
                build(Link::Raw, REMOTE, WEB1_IP, 63, &tcp, PAYLOAD),
                WEB1,
                Action::Dnat,
            ),
            fwd(
                "raw: from the ENI owning the private source, SNAT",
                raw,
                build(Link::Raw, WEB2_NAT, DNS, 64, &tcp, PAYLOAD),
                build(Link::Raw, EIP_B, DNS, 63, &tcp, PAYLOAD),
                Port::Internet,
                Action::Snat,
            ),
            fwd(
                "raw: from the ENI owning the BINDED source",
                raw,
                build(Link::Raw, EIP_C, REMOTE, 64, &tcp, b""),
                build(Link::Raw, EIP_C, REMOTE, 63, &tcp, b""),
                Port::Internet,
                Action::PassThrough,
            ),
            fwd(
                "raw: intra-VPC, unchanged",
                raw,
                build(Link::Raw, WEB1_IP, DB_IP, 64, &tcp, b""),
                build(Link::Raw, WEB1_IP, DB_IP, 64, &tcp, b""),
                DB,
                Action::IntraVpc,
            ),
            drop(
                "raw: from a detached ENI's private IP",
                raw,
                build(Link::Raw, DETACHED_IP, DNS, 64, &tcp, b""),
                DropReason::EniDetached,
            ),
            fwd(
                "LINKTYPE_IPV4: DNAT",
                LinkType::Ipv4,
                build(Link::Raw, REMOTE, EIP_B, 64, &tcp, PAYLOAD),
                build(Link::Raw, REMOTE, WEB2_NAT, 63, &tcp, PAYLOAD),
                WEB2,
                Action::Dnat,
            ),
        ],
    );
    assert_eq!(v[0].ingress, Some(Port::Internet));
    assert_eq!(v[1].ingress, Some(WEB2));
    assert_eq!(v[2].ingress, Some(CUT));
    assert_eq!(v[3].ingress, Some(WEB1));
    assert_eq!(v[4].ingress, Some(Port::Eni(5)));
}

#[test]
fn linux_sll() {
    let udp = L4::Udp(40000, 53);
    let sll = LinkType::LinuxSll;
    let v = run(
        &dataplane(),
        &[
            fwd(
                "sll: DNAT, link header kept",
                sll,
                build(Link::Sll, REMOTE, EIP_A, 64, &udp, b"q"),
                build(Link::Sll, REMOTE, WEB1_IP, 63, &udp, b"q"),
                WEB1,
                Action::Dnat,
            ),
            fwd(
                "sll: SNAT by source owner",
                sll,
                build(Link::Sll, WEB1_IP, DNS, 64, &udp, b"q"),
                build(Link::Sll, EIP_A, DNS, 63, &udp, b"q"),
                Port::Internet,
                Action::Snat,
            ),
            drop(
                "sll: unknown destination",
                sll,
                build(Link::Sll, REMOTE, NOT_OURS, 64, &udp, b"q"),
                DropReason::UnknownDestination,
            ),
        ],
    );
    assert_eq!(v[1].ingress, Some(WEB1));
}

#[test]
fn ingress_override() {
    let udp = L4::Udp(40000, 53);
    let mut dp = dataplane();
    dp.set_ingress(IngressHint::Fixed(Port::Internet));
    // With every frame from the Internet, a frame from a private source is not SNATed: its
    // destination is not an EIP.
    run(
        &dp,
        &[
            drop(
                "forced Internet ingress",
                LinkType::RawIp,
                build(Link::Raw, WEB1_IP, DNS, 64, &udp, b"q"),
                DropReason::UnknownDestination,
            ),
            fwd(
                "forced Internet ingress, ENI source MAC ignored",
                ETH,
                build(from(MAC_WEB1), REMOTE, EIP_A, 64, &udp, b"q"),
                build(
                    from(MAC_WEB1).out(MAC_WEB1),
                    REMOTE,
                    WEB1_IP,
                    63,
                    &udp,
                    b"q",
                ),
                WEB1,
                Action::Dnat,
            ),
        ],
    );
    dp.set_ingress(IngressHint::Fixed(WEB2));
    run(
        &dp,
        &[fwd(
            "forced ENI ingress on a raw frame",
            LinkType::RawIp,
            build(Link::Raw, WEB2_NAT, DNS, 64, &udp, b"q"),
            build(Link::Raw, EIP_B, DNS, 63, &udp, b"q"),
            Port::Internet,
            Action::Snat,
        )],
    );
}

// ---------------------------------------------------------------------------------------------
// Malformed and non-IPv4

#[test]
fn malformed() {
    let udp = L4::Udp(1, 2);
    let good = build(inet(), REMOTE, EIP_A, 64, &udp, b"payload");
    let mut ihl4 = good.clone();
    ihl4[14] = 0x44;
    let mut ihl0 = good.clone();
    ihl0[14] = 0x40;
    let mut short_total = good.clone();
    short_total[16..18].copy_from_slice(&16u16.to_be_bytes());
    let mut version5 = good.clone();
    version5[14] = 0x55;
    let mut ihl_beyond_capture = good[..14 + 20].to_vec();
    ihl_beyond_capture[14] = 0x46; // IHL 6 but only 20 bytes captured
    let raw = build(Link::Raw, REMOTE, EIP_A, 64, &udp, b"payload");
    let mut raw_v5 = raw.clone();
    raw_v5[0] = 0x55;
    let vlan = build(Link::Vlan(PEER, GW, 7), REMOTE, EIP_A, 64, &udp, b"payload");
    let sll = build(Link::Sll, REMOTE, EIP_A, 64, &udp, b"payload");
    run(
        &dataplane(),
        &[
            drop(
                "short Ethernet (10 bytes)",
                ETH,
                good[..10].to_vec(),
                DropReason::Malformed,
            ),
            drop(
                "Ethernet header only",
                ETH,
                good[..14].to_vec(),
                DropReason::Malformed,
            ),
            drop(
                "IPv4 header cut short",
                ETH,
                good[..14 + 12].to_vec(),
                DropReason::Malformed,
            ),
            drop("IHL 4", ETH, ihl4, DropReason::Malformed),
            drop("IHL 0", ETH, ihl0, DropReason::Malformed),
            drop(
                "total length < header",
                ETH,
                short_total,
                DropReason::Malformed,
            ),
            drop("version 5", ETH, version5, DropReason::Malformed),
            drop(
                "options cut short",
                ETH,
                ihl_beyond_capture,
                DropReason::Malformed,
            ),
            drop(
                "VLAN tag cut short",
                ETH,
                vlan[..16].to_vec(),
                DropReason::Malformed,
            ),
            drop(
                "raw: empty",
                LinkType::RawIp,
                Vec::new(),
                DropReason::Malformed,
            ),
            drop(
                "raw: version 5",
                LinkType::RawIp,
                raw_v5,
                DropReason::Malformed,
            ),
            drop(
                "raw: header cut short",
                LinkType::RawIp,
                raw[..19].to_vec(),
                DropReason::Malformed,
            ),
            drop(
                "sll: header cut short",
                LinkType::LinuxSll,
                sll[..10].to_vec(),
                DropReason::Malformed,
            ),
            drop(
                "sll: IPv4 header cut short",
                LinkType::LinuxSll,
                sll[..16 + 8].to_vec(),
                DropReason::Malformed,
            ),
            drop("empty Ethernet", ETH, Vec::new(), DropReason::Malformed),
        ],
    );
}

#[test]
fn not_ipv4() {
    let mut v6 = Vec::new();
    PacketBuilder::ethernet2(PEER, GW)
        .ipv6(
            [0x20, 1, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1],
            [0x20; 16],
            64,
        )
        .tcp(1, 2, 3, 4)
        .write(&mut v6, b"v6")
        .unwrap();
    let mut arp = Vec::new();
    PacketBuilder::ethernet2(MAC_WEB1, [0xff; 6])
        .arp(
            ArpPacket::new(
                ArpHardwareId::ETHERNET,
                EtherType::IPV4,
                ArpOperation::REQUEST,
                &MAC_WEB1,
                &WEB1_IP,
                &[0; 6],
                &DB_IP,
            )
            .unwrap(),
        )
        .write(&mut arp)
        .unwrap();
    assert_eq!(&arp[12..14], &[0x08, 0x06]);
    let mut raw6 = Vec::new();
    PacketBuilder::ipv6([0xfd; 16], [0x20; 16], 64)
        .udp(1, 2)
        .write(&mut raw6, b"v6")
        .unwrap();
    let mut sll6 = Vec::new();
    PacketBuilder::linux_sll(LinuxSllPacketType::HOST, 6, [2, 0, 0, 0, 0, 0x99, 0, 0])
        .ipv6([0xfd; 16], [0x20; 16], 64)
        .udp(1, 2)
        .write(&mut sll6, b"v6")
        .unwrap();
    let mut vlan6 = Vec::new();
    PacketBuilder::ethernet2(PEER, GW)
        .single_vlan(VlanId::try_new(5).unwrap())
        .ipv6([0xfd; 16], [0x20; 16], 64)
        .udp(1, 2)
        .write(&mut vlan6, b"v6")
        .unwrap();
    run(
        &dataplane(),
        &[
            drop("IPv6 over Ethernet", ETH, v6, DropReason::NotIpv4),
            drop("ARP", ETH, arp, DropReason::NotIpv4),
            drop("raw IPv6", LinkType::RawIp, raw6, DropReason::NotIpv4),
            drop("sll IPv6", LinkType::LinuxSll, sll6, DropReason::NotIpv4),
            drop("IPv6 behind a VLAN tag", ETH, vlan6, DropReason::NotIpv4),
        ],
    );
}

// ---------------------------------------------------------------------------------------------
// Truncated frames and fragments

#[test]
fn truncated_by_snaplen() {
    let tcp = L4::Tcp(40000, 80);
    let udp = L4::Udp(40000, 9999);
    let big = vec![0x5au8; 400];
    let tin = build(inet(), REMOTE, EIP_A, 64, &tcp, &big);
    let tout = build(inet().out(MAC_WEB1), REMOTE, WEB1_IP, 63, &tcp, &big);
    let uin = build(from(MAC_WEB2), WEB2_NAT, DNS, 64, &udp, &big);
    let uout = build(from(MAC_WEB2).out(INET), EIP_B, DNS, 63, &udp, &big);
    let cut = |f: &Vec<u8>, n: usize| f[..n].to_vec();
    run(
        &dataplane(),
        &[
            fwd(
                "tcp cut inside the payload: translated, L4 checksum updated",
                ETH,
                cut(&tin, 14 + 20 + 20 + 30),
                cut(&tout, 14 + 20 + 20 + 30),
                WEB1,
                Action::Dnat,
            ),
            fwd(
                "tcp cut at the end of the TCP header",
                ETH,
                cut(&tin, 14 + 20 + 20),
                cut(&tout, 14 + 20 + 20),
                WEB1,
                Action::Dnat,
            ),
            fwd(
                "tcp cut before the TCP checksum field: IP header only",
                ETH,
                cut(&tin, 14 + 20 + 10),
                cut(&tout, 14 + 20 + 10),
                WEB1,
                Action::Dnat,
            ),
            fwd(
                "tcp cut right after the IP header",
                ETH,
                cut(&tin, 14 + 20),
                cut(&tout, 14 + 20),
                WEB1,
                Action::Dnat,
            ),
            fwd(
                "udp cut inside the payload",
                ETH,
                cut(&uin, 14 + 20 + 8 + 3),
                cut(&uout, 14 + 20 + 8 + 3),
                Port::Internet,
                Action::Snat,
            ),
            fwd(
                "udp cut before the UDP checksum field",
                ETH,
                cut(&uin, 14 + 20 + 6),
                cut(&uout, 14 + 20 + 6),
                Port::Internet,
                Action::Snat,
            ),
        ],
    );
    // Half a checksum field cannot be updated (the carry from the missing byte is unknown):
    // every other byte is translated exactly.
    let dp = dataplane();
    let n = 14 + 20 + 7;
    let mut f = cut(&uin, n);
    let v = dp.process(&mut f, ETH);
    assert_eq!(v.outcome, Outcome::Forward(Port::Internet, Action::Snat));
    assert_eq!(f[..n - 1], uout[..n - 1]);
}

/// Builds the two fragments of one UDP datagram: the first carries `split` bytes of the UDP
/// segment (header included), the second the rest.
fn udp_fragments(
    link: Link,
    src: [u8; 4],
    dst: [u8; 4],
    ttl: u8,
    payload: &[u8],
    split: usize,
) -> (Vec<u8>, Vec<u8>) {
    assert_eq!(split % 8, 0);
    let whole = ip_packet(src, dst, ttl, &L4::Udp(6000, 6001), payload);
    let seg = &whole[20..];
    let hdr = |mf: bool, off: u16| Ipv4Header {
        source: src,
        destination: dst,
        time_to_live: ttl,
        identification: 0x7777,
        dont_fragment: false,
        more_fragments: mf,
        fragment_offset: IpFragOffset::try_new(off).unwrap(),
        ..Default::default()
    };
    let mut first = Vec::new();
    link.start_ip(IpHeaders::Ipv4(hdr(true, 0), Default::default()))
        .write(&mut first, IpNumber::UDP, &seg[..split])
        .unwrap();
    let mut second = Vec::new();
    link.start_ip(IpHeaders::Ipv4(
        hdr(false, (split / 8) as u16),
        Default::default(),
    ))
    .write(&mut second, IpNumber::UDP, &seg[split..])
    .unwrap();
    (first, second)
}

#[test]
fn fragments() {
    // The second fragment's first bytes look like a UDP header whose checksum field (bytes 6..8)
    // must not be touched.
    let payload: Vec<u8> = (0..72u8).map(|i| i.wrapping_mul(37) ^ 0xa5).collect();
    let (in1, in2) = udp_fragments(inet(), REMOTE, EIP_B, 64, &payload, 40);
    let (out1, out2) = udp_fragments(inet().out(MAC_WEB2), REMOTE, WEB2_NAT, 63, &payload, 40);
    let (sin1, sin2) = udp_fragments(from(MAC_WEB1), WEB1_IP, DNS, 64, &payload, 16);
    let (sout1, sout2) = udp_fragments(from(MAC_WEB1).out(INET), EIP_A, DNS, 63, &payload, 16);
    // The later fragment's bytes beyond the IP header are the same before and after.
    assert_eq!(in2[34..], out2[34..]);
    run(
        &dataplane(),
        &[
            fwd("dnat first fragment", ETH, in1, out1, WEB2, Action::Dnat),
            fwd("dnat later fragment", ETH, in2, out2, WEB2, Action::Dnat),
            fwd(
                "snat first fragment",
                ETH,
                sin1,
                sout1,
                Port::Internet,
                Action::Snat,
            ),
            fwd(
                "snat later fragment",
                ETH,
                sin2,
                sout2,
                Port::Internet,
                Action::Snat,
            ),
        ],
    );
}

// ---------------------------------------------------------------------------------------------
// ICMP errors (RFC 5508)

fn unreachable() -> L4 {
    L4::Icmp(Icmpv4Type::DestinationUnreachable(
        DestUnreachableHeader::Port,
    ))
}

#[test]
fn icmp_error_inbound() {
    let udp = L4::Udp(5000, 53);
    let query = b"\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00";
    // What the instance sent, as it left the gateway (SNATed), and as the instance sent it.
    let sent_public = ip_packet(EIP_B, DNS, 63, &udp, query);
    let sent_private = ip_packet(WEB2_NAT, DNS, 63, &udp, query);
    let tcp_public = ip_packet(EIP_A, DNS, 1, &L4::Tcp(41000, 443), b"");
    let tcp_private = ip_packet(WEB1_IP, DNS, 1, &L4::Tcp(41000, 443), b"");
    let echo_public = ip_packet(EIP_A, DNS, 1, &L4::Echo(9, 9), b"ping");
    let echo_private = ip_packet(WEB1_IP, DNS, 1, &L4::Echo(9, 9), b"ping");
    let nock = L4::UdpNoChecksum(5000, 53);
    let nock_public = ip_packet(EIP_B, DNS, 63, &nock, query);
    let nock_private = ip_packet(WEB2_NAT, DNS, 63, &nock, query);
    assert_eq!(&nock_private[26..28], &[0, 0]);
    let time_exceeded = L4::Icmp(Icmpv4Type::TimeExceeded(
        TimeExceededCode::TtlExceededInTransit,
    ));
    run(
        &dataplane(),
        &[
            fwd(
                "port unreachable quoting the whole SNATed UDP datagram",
                ETH,
                build(inet(), DNS, EIP_B, 60, &unreachable(), &sent_public),
                build(
                    inet().out(MAC_WEB2),
                    DNS,
                    WEB2_NAT,
                    59,
                    &unreachable(),
                    &sent_private,
                ),
                WEB2,
                Action::Dnat,
            ),
            fwd(
                "port unreachable quoting IP header + 8 bytes",
                ETH,
                build(inet(), DNS, EIP_B, 60, &unreachable(), &sent_public[..28]),
                build(
                    inet().out(MAC_WEB2),
                    DNS,
                    WEB2_NAT,
                    59,
                    &unreachable(),
                    &sent_private[..28],
                ),
                WEB2,
                Action::Dnat,
            ),
            fwd(
                "time exceeded quoting a TCP header (quoted TCP checksum)",
                ETH,
                build(inet(), REMOTE, EIP_A, 250, &time_exceeded, &tcp_public),
                build(
                    inet().out(MAC_WEB1),
                    REMOTE,
                    WEB1_IP,
                    249,
                    &time_exceeded,
                    &tcp_private,
                ),
                WEB1,
                Action::Dnat,
            ),
            fwd(
                "time exceeded quoting an echo request (quoted ICMP checksum unchanged)",
                ETH,
                build(inet(), REMOTE, EIP_A, 250, &time_exceeded, &echo_public),
                build(
                    inet().out(MAC_WEB1),
                    REMOTE,
                    WEB1_IP,
                    249,
                    &time_exceeded,
                    &echo_private,
                ),
                WEB1,
                Action::Dnat,
            ),
            fwd(
                "port unreachable quoting UDP without checksum (stays 0)",
                ETH,
                build(inet(), DNS, EIP_B, 60, &unreachable(), &nock_public),
                build(
                    inet().out(MAC_WEB2),
                    DNS,
                    WEB2_NAT,
                    59,
                    &unreachable(),
                    &nock_private,
                ),
                WEB2,
                Action::Dnat,
            ),
            fwd(
                "port unreachable to a BINDED EIP: passed through, quote unchanged",
                ETH,
                build(
                    inet(),
                    DNS,
                    EIP_C,
                    60,
                    &unreachable(),
                    &ip_packet(EIP_C, DNS, 63, &udp, query),
                ),
                build(
                    inet().out(MAC_CUT),
                    DNS,
                    EIP_C,
                    59,
                    &unreachable(),
                    &ip_packet(EIP_C, DNS, 63, &udp, query),
                ),
                CUT,
                Action::PassThrough,
            ),
        ],
    );
}

#[test]
fn icmp_error_outbound() {
    let udp = L4::Udp(53, 5000);
    // What the instance received (DNATed) and what the Internet host had sent.
    let got_private = ip_packet(DNS, WEB2_NAT, 59, &udp, b"reply");
    let got_public = ip_packet(DNS, EIP_B, 59, &udp, b"reply");
    let tcp_private = ip_packet(REMOTE, WEB1_IP, 50, &L4::Tcp(80, 40000), b"data");
    let tcp_public = ip_packet(REMOTE, EIP_A, 50, &L4::Tcp(80, 40000), b"data");
    run(
        &dataplane(),
        &[
            fwd(
                "port unreachable from the instance quoting the DNATed datagram",
                ETH,
                build(
                    from(MAC_WEB2),
                    WEB2_NAT,
                    DNS,
                    64,
                    &unreachable(),
                    &got_private,
                ),
                build(
                    from(MAC_WEB2).out(INET),
                    EIP_B,
                    DNS,
                    63,
                    &unreachable(),
                    &got_public,
                ),
                Port::Internet,
                Action::Snat,
            ),
            fwd(
                "host unreachable quoting IP header + 8 bytes of TCP",
                ETH,
                build(
                    from(MAC_WEB1),
                    WEB1_IP,
                    REMOTE,
                    64,
                    &L4::Icmp(Icmpv4Type::DestinationUnreachable(
                        DestUnreachableHeader::Host,
                    )),
                    &tcp_private[..28],
                ),
                build(
                    from(MAC_WEB1).out(INET),
                    EIP_A,
                    REMOTE,
                    63,
                    &L4::Icmp(Icmpv4Type::DestinationUnreachable(
                        DestUnreachableHeader::Host,
                    )),
                    &tcp_public[..28],
                ),
                Port::Internet,
                Action::Snat,
            ),
        ],
    );
}

#[test]
fn icmp_error_hairpin() {
    // eni-web1 reports to 47.0.0.2 (eni-web2's EIP) that a datagram 47.0.0.2 -> 47.0.0.1 (which
    // reached eni-web1 as 47.0.0.2 -> 172.16.0.10) was undeliverable. Both sides are translated:
    // outer 172.16.0.10 -> 47.0.0.2 becomes 47.0.0.1 -> 172.16.0.21, the quote
    // 47.0.0.2 -> 172.16.0.10 becomes 172.16.0.21 -> 47.0.0.1.
    let udp = L4::Udp(7000, 7001);
    let quoted_in = ip_packet(EIP_B, WEB1_IP, 62, &udp, b"hello");
    let quoted_out = ip_packet(WEB2_NAT, EIP_A, 62, &udp, b"hello");
    run(
        &dataplane(),
        &[fwd(
            "hairpin ICMP error",
            ETH,
            build(
                from(MAC_WEB1),
                WEB1_IP,
                EIP_B,
                64,
                &unreachable(),
                &quoted_in,
            ),
            build(
                from(MAC_WEB1).out(MAC_WEB2),
                EIP_A,
                WEB2_NAT,
                63,
                &unreachable(),
                &quoted_out,
            ),
            WEB2,
            Action::Hairpin,
        )],
    );
}

#[test]
fn verdict_metadata() {
    let dp = dataplane();
    let tcp = L4::Tcp(40000, 80);
    let mut f = build(inet(), REMOTE, EIP_B, 64, &tcp, b"");
    let v = dp.process(&mut f, ETH);
    assert_eq!(v.ingress, Some(Port::Internet));
    assert_eq!(v.eni, Some(1));
    assert_eq!(v.mode, Some(eipsim::model::Mode::Nat));
    assert_eq!(v.eip, Some(u32::from_be_bytes(EIP_B)));
    assert_eq!(v.tuple.dst, u32::from_be_bytes(EIP_B));
    assert_eq!(v.inside().dst, u32::from_be_bytes(WEB2_NAT));
    assert_eq!((v.tuple.sport, v.tuple.dport), (40000, 80));
    assert_eq!(v.tuple.proto, 6);
}

#[test]
fn ethernet_padding_kept_and_not_checksummed() {
    // A short datagram in a minimum-size Ethernet frame: the bytes after the IP total length
    // are link padding, kept as they are and outside every checksum.
    let udp = L4::Udp(1234, 53);
    let pad = |mut f: Vec<u8>| {
        while f.len() < 60 {
            f.push(0xa5);
        }
        f
    };
    let tcp = L4::Tcp(40000, 80);
    run(
        &dataplane(),
        &[
            fwd(
                "dnat udp with Ethernet padding",
                ETH,
                pad(build(inet(), REMOTE, EIP_A, 64, &udp, b"x")),
                pad(build(inet().out(MAC_WEB1), REMOTE, WEB1_IP, 63, &udp, b"x")),
                WEB1,
                Action::Dnat,
            ),
            fwd(
                "snat tcp with Ethernet padding",
                ETH,
                pad(build(from(MAC_WEB2), WEB2_NAT, DNS, 64, &tcp, b"")),
                pad(build(from(MAC_WEB2).out(INET), EIP_B, DNS, 63, &tcp, b"")),
                Port::Internet,
                Action::Snat,
            ),
        ],
    );
}

#[test]
fn double_vlan_tags_kept() {
    let qinq = |s: [u8; 6], d: [u8; 6], src, dst, ttl| {
        let mut out = Vec::new();
        PacketBuilder::ethernet2(s, d)
            .double_vlan(VlanId::try_new(10).unwrap(), VlanId::try_new(20).unwrap())
            .ipv4(src, dst, ttl)
            .tcp(40000, 80, 0x0102_0304, 64240)
            .ack(0x0a0b_0c0d)
            .psh()
            .write(&mut out, PAYLOAD)
            .unwrap();
        out
    };
    run(
        &dataplane(),
        &[fwd(
            "dnat behind 802.1ad + 802.1Q tags",
            ETH,
            qinq(PEER, GW, REMOTE, EIP_A, 64),
            qinq(GW, MAC_WEB1, REMOTE, WEB1_IP, 63),
            WEB1,
            Action::Dnat,
        )],
    );
}

#[test]
fn other_link_headers_kept() {
    let udp = L4::Udp(40000, 53);
    let with = |hdr: &[u8], src, dst, ttl| {
        let mut f = hdr.to_vec();
        f.extend_from_slice(&ip_packet(src, dst, ttl, &udp, b"q"));
        f
    };
    let sll2: [u8; 20] = [
        0x08, 0x00, 0, 0, 0, 0, 0, 3, 0, 1, 0, 6, 2, 0, 0, 0, 0, 0x99, 0, 0,
    ];
    let null_le = [2u8, 0, 0, 0];
    let null_be = [0u8, 0, 0, 2];
    let mut sll2_v6 = sll2;
    sll2_v6[0..2].copy_from_slice(&[0x86, 0xdd]);
    run(
        &dataplane(),
        &[
            fwd(
                "sll2: DNAT",
                LinkType::LinuxSll2,
                with(&sll2, REMOTE, EIP_A, 64),
                with(&sll2, REMOTE, WEB1_IP, 63),
                WEB1,
                Action::Dnat,
            ),
            fwd(
                "sll2: SNAT by source owner",
                LinkType::LinuxSll2,
                with(&sll2, WEB2_NAT, DNS, 64),
                with(&sll2, EIP_B, DNS, 63),
                Port::Internet,
                Action::Snat,
            ),
            fwd(
                "null (host order LE): DNAT",
                LinkType::Null,
                with(&null_le, REMOTE, EIP_B, 64),
                with(&null_le, REMOTE, WEB2_NAT, 63),
                WEB2,
                Action::Dnat,
            ),
            fwd(
                "null (BE): SNAT",
                LinkType::Null,
                with(&null_be, WEB1_IP, DNS, 64),
                with(&null_be, EIP_A, DNS, 63),
                Port::Internet,
                Action::Snat,
            ),
            fwd(
                "loop: DNAT",
                LinkType::Loop,
                with(&null_be, REMOTE, EIP_C, 64),
                with(&null_be, REMOTE, EIP_C, 63),
                CUT,
                Action::PassThrough,
            ),
            drop(
                "sll2 carrying IPv6",
                LinkType::LinuxSll2,
                with(&sll2_v6, REMOTE, EIP_A, 64),
                DropReason::NotIpv4,
            ),
            drop(
                "null with AF 24 (IPv6)",
                LinkType::Null,
                with(&[24, 0, 0, 0], REMOTE, EIP_A, 64),
                DropReason::NotIpv4,
            ),
            drop(
                "sll2 cut short",
                LinkType::LinuxSll2,
                sll2[..12].to_vec(),
                DropReason::Malformed,
            ),
            drop(
                "null cut short",
                LinkType::Null,
                vec![2, 0],
                DropReason::Malformed,
            ),
        ],
    );
}
