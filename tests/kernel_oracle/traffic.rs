//! The generated input of the kernel oracle: a deterministic capture (fixed seed) of a few
//! thousand frames between Internet hosts and the NAT-mode EIPs and private IPs of a small
//! topology. TCP sessions (SYN first, data both ways with consistent sequence numbers, FIN or
//! RST; MSS option on SYNs), UDP flows (some without checksums), ICMP echo, ICMP errors quoting
//! packets of those sessions, IPv4 fragments both ways, varied TTLs, IP ids, DF bits, DSCP and
//! ECN. Every frame is one eipsim forwards with a NAT action, and one a stateful Linux NAT
//! accepts.

use std::collections::VecDeque;

use super::rng::Rng;
use etherparse::icmpv4::{DestUnreachableHeader, TimeExceededCode};
use etherparse::{
    IcmpEchoHeader, Icmpv4Header, Icmpv4Type, IpDscp, IpEcn, IpFragOffset, IpNumber, Ipv4Header,
    TcpHeader, TcpOptionElement, UdpHeader,
};

/// The VPC's gateway MAC: the destination of every generated frame (and the kernel's
/// interfaces' MAC).
pub const GATEWAY_MAC: [u8; 6] = [0xee, 0xff, 0xff, 0xff, 0xff, 0xff];
/// The source MAC of the frames from the Internet.
pub const INTERNET_MAC: [u8; 6] = [0x02, 0, 0, 0, 0, 0xfe];

/// One NAT-mode association of the generated topology.
pub struct Nat {
    /// The EIP.
    pub eip: [u8; 4],
    /// The private IP it is translated to.
    pub private: [u8; 4],
    /// The ENI's MAC (source of the frames the instance sends).
    pub mac: [u8; 6],
}

/// The NAT-mode associations of [`TOPOLOGY`].
pub const NATS: [Nat; 4] = [
    Nat {
        eip: [47, 0, 0, 10],
        private: [172, 16, 0, 10],
        mac: [0x00, 0x16, 0x3e, 0, 0, 0x10],
    },
    Nat {
        eip: [47, 0, 0, 1],
        private: [172, 16, 0, 21],
        mac: [0x00, 0x16, 0x3e, 0, 0, 0x20],
    },
    Nat {
        eip: [47, 0, 0, 2],
        private: [172, 16, 0, 22],
        mac: [0x00, 0x16, 0x3e, 0, 0, 0x20],
    },
    Nat {
        eip: [47, 0, 0, 3],
        private: [172, 16, 1, 5],
        mac: [0x00, 0x16, 0x3e, 0, 1, 0x05],
    },
];

/// The topology eipsim replays the generated capture with: the associations of [`NATS`].
pub const TOPOLOGY: &str = include_str!("topology.toml");

/// Internet hosts the instances talk with.
const HOSTS: [[u8; 4]; 4] = [
    [198, 51, 100, 7],
    [203, 0, 113, 5],
    [192, 0, 2, 33],
    [198, 51, 100, 200],
];
/// A router on the Internet path: it sends time-exceeded and fragmentation-needed errors.
const ROUTER: [u8; 4] = [203, 0, 113, 254];

/// A generated frame: whether the VPC side sent it (else the Internet), its Ethernet bytes.
pub struct Frame {
    /// Sent by an instance (ingress: its ENI), else by the Internet.
    pub from_vpc: bool,
    /// The Ethernet frame.
    pub bytes: Vec<u8>,
}

/// The transport part of a packet.
#[derive(Clone)]
enum L4 {
    Tcp {
        sport: u16,
        dport: u16,
        seq: u32,
        ack: u32,
        /// SYN, ACK, FIN, RST, PSH.
        flags: [bool; 5],
        payload: Vec<u8>,
    },
    Udp {
        sport: u16,
        dport: u16,
        payload: Vec<u8>,
    },
    Echo {
        request: bool,
        id: u16,
        seq: u16,
        payload: Vec<u8>,
    },
    /// An ICMP error quoting `quoted` (the first `len` bytes of that datagram).
    Error {
        kind: Icmpv4Type,
        quoted: Box<Pkt>,
        len: usize,
    },
}

/// An IPv4 packet before it is laid out.
#[derive(Clone)]
struct Pkt {
    src: [u8; 4],
    dst: [u8; 4],
    ttl: u8,
    id: u16,
    df: bool,
    l4: L4,
}

impl Pkt {
    /// The IPv4 datagram, checksums computed.
    fn datagram(&self) -> Vec<u8> {
        let (proto, l4) = match &self.l4 {
            L4::Tcp {
                sport,
                dport,
                seq,
                ack,
                flags,
                payload,
            } => {
                let mut t = TcpHeader::new(*sport, *dport, *seq, 65_535);
                t.acknowledgment_number = *ack;
                [t.syn, t.ack, t.fin, t.rst, t.psh] = *flags;
                if t.syn {
                    t.set_options(&[TcpOptionElement::MaximumSegmentSize(1460)])
                        .expect("an MSS option fits");
                }
                t.checksum = t
                    .calc_checksum_ipv4_raw(self.src, self.dst, payload)
                    .expect("a TCP segment of a frame's size");
                let mut v = t.to_bytes().to_vec();
                v.extend_from_slice(payload);
                (IpNumber::TCP, v)
            }
            L4::Udp {
                sport,
                dport,
                payload,
            } => {
                let mut u = UdpHeader {
                    source_port: *sport,
                    destination_port: *dport,
                    length: (8 + payload.len()) as u16,
                    checksum: 0,
                };
                // One flow in seven sends without UDP checksums (0: none).
                if !(sport ^ dport).is_multiple_of(7) {
                    u.checksum = u
                        .calc_checksum_ipv4_raw(self.src, self.dst, payload)
                        .expect("a UDP datagram under 64 KiB");
                }
                let mut v = u.to_bytes().to_vec();
                v.extend_from_slice(payload);
                (IpNumber::UDP, v)
            }
            L4::Echo {
                request,
                id,
                seq,
                payload,
            } => {
                let echo = IcmpEchoHeader { id: *id, seq: *seq };
                let kind = if *request {
                    Icmpv4Type::EchoRequest(echo)
                } else {
                    Icmpv4Type::EchoReply(echo)
                };
                (IpNumber::ICMP, icmp(kind, payload))
            }
            L4::Error { kind, quoted, len } => {
                let q = quoted.datagram();
                (IpNumber::ICMP, icmp(kind.clone(), &q[..q.len().min(*len)]))
            }
        };
        let mut h = Ipv4Header::new(l4.len() as u16, self.ttl, proto, self.src, self.dst)
            .expect("a datagram under 64 KiB");
        h.identification = self.id;
        h.dont_fragment = self.df;
        // One packet in five has a DSCP and ECN bits (taken from its IP id).
        if self.id.is_multiple_of(5) {
            h.dscp = IpDscp::try_new((self.id >> 10) as u8).expect("6 bits");
            h.ecn = IpEcn::try_new((self.id >> 8) as u8 & 3).expect("2 bits");
        }
        h.header_checksum = h.calc_header_checksum();
        let mut v = h.to_bytes().to_vec();
        v.extend_from_slice(&l4);
        v
    }
}

fn icmp(kind: Icmpv4Type, payload: &[u8]) -> Vec<u8> {
    let mut v = Icmpv4Header::with_checksum(kind, payload)
        .to_bytes()
        .to_vec();
    v.extend_from_slice(payload);
    v
}

/// Splits an IPv4 datagram into fragments of at most `chunk` payload bytes (a multiple of 8).
pub fn fragments(datagram: &[u8], chunk: usize) -> Vec<Vec<u8>> {
    let (h, payload) = Ipv4Header::from_slice(datagram).expect("a datagram built here");
    let mut out = Vec::new();
    for (i, part) in payload.chunks(chunk).enumerate() {
        let mut f = h.clone();
        f.fragment_offset =
            IpFragOffset::try_new((i * chunk / 8) as u16).expect("an offset under 64 KiB");
        f.more_fragments = (i + 1) * chunk < payload.len();
        f.total_len = (h.header_len() + part.len()) as u16;
        f.header_checksum = f.calc_header_checksum();
        let mut v = f.to_bytes().to_vec();
        v.extend_from_slice(part);
        out.push(v);
    }
    out
}

/// The packet as the other side of the gateway sees it: the NAT applied, the TTL one lower.
fn translated(p: &Pkt, nat: &Nat) -> Pkt {
    let swap = |a: [u8; 4]| match a {
        a if a == nat.private => nat.eip,
        a if a == nat.eip => nat.private,
        a => a,
    };
    Pkt {
        src: swap(p.src),
        dst: swap(p.dst),
        ttl: p.ttl - 1,
        ..p.clone()
    }
}

/// A session being generated: its frames, in order.
struct Session<'a> {
    nat: &'a Nat,
    frames: VecDeque<Frame>,
}

impl Session<'_> {
    /// Appends `p`, sent by the instance (`from_vpc`) or the Internet; fragmented in `chunk`
    /// byte pieces when given (in reverse order when `reverse`).
    fn push(&mut self, p: &Pkt, from_vpc: bool, chunk: Option<usize>, reverse: bool) {
        let d = p.datagram();
        let mut parts = match chunk {
            Some(c) => fragments(&d, c),
            None => vec![d],
        };
        if reverse {
            parts.reverse();
        }
        let (src, dst) = if from_vpc {
            (self.nat.mac, GATEWAY_MAC)
        } else {
            (INTERNET_MAC, GATEWAY_MAC)
        };
        for ip in parts {
            let mut bytes = Vec::with_capacity(14 + ip.len());
            bytes.extend_from_slice(&dst);
            bytes.extend_from_slice(&src);
            bytes.extend_from_slice(&[0x08, 0x00]);
            bytes.extend_from_slice(&ip);
            self.frames.push_back(Frame { from_vpc, bytes });
        }
    }
}

/// Per-session counters that keep tuples unique (conntrack would otherwise remap clashes).
struct Ids {
    port: u16,
    echo: u16,
}

/// A TCP session between an instance and an Internet host, opened from either side.
fn tcp<'a>(rng: &mut Rng, nat: &'a Nat, ids: &mut Ids) -> Session<'a> {
    let mut s = Session {
        nat,
        frames: VecDeque::new(),
    };
    let remote = HOSTS[rng.below(4) as usize];
    let inbound = rng.chance(50);
    ids.port += 1;
    let server_port = [80, 443, 8080, 22][rng.below(4) as usize];
    // (instance side, Internet side): the instance's address and port, the remote's.
    let (inst_port, rem_port) = if inbound {
        (server_port, ids.port)
    } else {
        (ids.port, server_port)
    };
    let mut seq = [rng.next() as u32, rng.next() as u32]; // [instance, remote]
    let ttl_in = rng.range(2, 255) as u8;
    let ttl_out = [64, 128, 255, 3][rng.below(4) as usize];
    let df = rng.chance(70);
    // One segment from side `inst` (true: the instance) with `flags` and `len` bytes of data.
    let mut seg = |rng: &mut Rng, s: &mut Session, inst: bool, flags: [bool; 5], len: usize| {
        let (i, o) = if inst { (0, 1) } else { (1, 0) };
        let payload = rng.bytes(len);
        let p = Pkt {
            src: if inst { nat.private } else { remote },
            dst: if inst { remote } else { nat.eip },
            ttl: if inst { ttl_out } else { ttl_in },
            id: rng.next() as u16,
            df,
            l4: L4::Tcp {
                sport: if inst { inst_port } else { rem_port },
                dport: if inst { rem_port } else { inst_port },
                seq: seq[i],
                ack: if flags[1] { seq[o] } else { 0 },
                flags,
                payload,
            },
        };
        seq[i] = seq[i].wrapping_add(len as u32 + u32::from(flags[0] || flags[2]));
        s.push(&p, inst, None, false);
        p
    };
    const SYN: [bool; 5] = [true, false, false, false, false];
    const SYNACK: [bool; 5] = [true, true, false, false, false];
    const ACK: [bool; 5] = [false, true, false, false, false];
    const DATA: [bool; 5] = [false, true, false, false, true];
    const FIN: [bool; 5] = [false, true, true, false, false];
    const RST: [bool; 5] = [false, true, false, true, false];
    seg(rng, &mut s, !inbound, SYN, 0);
    seg(rng, &mut s, inbound, SYNACK, 0);
    seg(rng, &mut s, !inbound, ACK, 0);
    for _ in 0..rng.range(2, 9) {
        let inst = rng.chance(50);
        let len = rng.range(1, 1200) as usize;
        let p = seg(rng, &mut s, inst, DATA, len);
        if inst && rng.chance(12) {
            // A router on the way answers the instance's segment (as it left the gateway).
            let out = translated(&p, nat);
            let (kind, quoted) = if rng.chance(50) {
                let mut q = out.clone();
                q.ttl = 1;
                (
                    Icmpv4Type::TimeExceeded(TimeExceededCode::TtlExceededInTransit),
                    q,
                )
            } else {
                let mut q = out.clone();
                q.df = true;
                (
                    Icmpv4Type::DestinationUnreachable(
                        DestUnreachableHeader::FragmentationNeeded { next_hop_mtu: 1400 },
                    ),
                    q,
                )
            };
            let err = Pkt {
                src: ROUTER,
                dst: nat.eip,
                ttl: rng.range(2, 255) as u8,
                id: rng.next() as u16,
                df: false,
                l4: L4::Error {
                    kind,
                    quoted: Box::new(quoted),
                    len: [28, 40, 548][rng.below(3) as usize],
                },
            };
            s.push(&err, false, None, false);
        }
    }
    if rng.chance(70) {
        let first = rng.chance(50);
        seg(rng, &mut s, first, FIN, 0);
        seg(rng, &mut s, !first, FIN, 0);
        seg(rng, &mut s, first, ACK, 0);
    } else {
        let side = rng.chance(50);
        seg(rng, &mut s, side, RST, 0);
    }
    s
}

/// Makes the translated datagram of `p` (a UDP datagram with checksums and an even payload)
/// have a computed UDP checksum of 0, sent as 0xffff (`udp`: through the payload's last two
/// bytes), or else an IPv4 header checksum of 0x0000 (through the IP id).
fn edge(p: &mut Pkt, nat: &Nat, udp: bool) {
    let word = |d: &[u8], at: usize| u16::from_be_bytes([d[at], d[at + 1]]);
    if udp {
        let L4::Udp { payload, .. } = &mut p.l4 else {
            return;
        };
        let n = payload.len();
        payload[n - 2..].fill(0);
        // Adding the checksum itself as a word makes the sum all ones: the checksum 0.
        let c = word(&translated(p, nat).datagram(), 26);
        if let L4::Udp { payload, .. } = &mut p.l4 {
            payload[n - 2..].copy_from_slice(&c.to_be_bytes());
        }
    } else if let Some(id) = (0..=u16::MAX).find(|&id| {
        let mut t = translated(p, nat);
        t.id = id;
        word(&t.datagram(), 10) == 0
    }) {
        p.id = id;
    }
}

/// Picks a payload length and, for large ones, the fragment size (a multiple of 8).
fn sizes(rng: &mut Rng, big_percent: u64) -> (usize, Option<usize>) {
    if rng.chance(big_percent) {
        let len = rng.range(1500, 3500) as usize;
        (len, Some([1480, 1024, 512][rng.below(3) as usize]))
    } else {
        (rng.range(0, 900) as usize, None)
    }
}

/// A UDP flow started from either side, sometimes ending in a port unreachable.
fn udp<'a>(rng: &mut Rng, nat: &'a Nat, ids: &mut Ids) -> Session<'a> {
    let mut s = Session {
        nat,
        frames: VecDeque::new(),
    };
    let remote = HOSTS[rng.below(4) as usize];
    let inbound = rng.chance(50);
    ids.port += 1;
    let service = 7000 + rng.below(2000) as u16;
    let (inst_port, rem_port) = if inbound {
        (service, ids.port)
    } else {
        (ids.port, service)
    };
    let ttl_in = rng.range(2, 255) as u8;
    let mut last: [Option<Pkt>; 2] = [None, None]; // the last unfragmented [instance, remote]
    // Some flows carry two datagrams made so that the translation's checksums land on the
    // edge of one's complement arithmetic (see `edge`).
    let edges = rng.chance(20) && !(inst_port ^ rem_port).is_multiple_of(7);
    for k in 0..rng.range(2, 8) {
        let inst = if k == 0 { !inbound } else { rng.chance(50) };
        let (len, chunk) = match sizes(rng, 15) {
            _ if edges && k < 2 => (32, None),
            s => s,
        };
        let payload = rng.bytes(len);
        let mut p = Pkt {
            src: if inst { nat.private } else { remote },
            dst: if inst { remote } else { nat.eip },
            ttl: if inst { 64 } else { ttl_in },
            id: rng.next() as u16,
            df: chunk.is_none() && rng.chance(30),
            l4: L4::Udp {
                sport: if inst { inst_port } else { rem_port },
                dport: if inst { rem_port } else { inst_port },
                payload,
            },
        };
        if edges && k < 2 {
            edge(&mut p, nat, k == 0);
        }
        s.push(&p, inst, chunk, chunk.is_some() && rng.chance(20));
        if chunk.is_none() {
            last[usize::from(!inst)] = Some(p);
        }
    }
    if rng.chance(25) {
        let len = [28, 100, 548][rng.below(3) as usize];
        let unreachable = Icmpv4Type::DestinationUnreachable(DestUnreachableHeader::Port);
        if let Some(q) = last[1].as_ref().filter(|_| inbound) {
            // The instance refuses the remote's datagram (as the instance received it).
            let err = Pkt {
                src: nat.private,
                dst: remote,
                ttl: 64,
                id: rng.next() as u16,
                df: false,
                l4: L4::Error {
                    kind: unreachable,
                    quoted: Box::new(translated(q, nat)),
                    len,
                },
            };
            s.push(&err, true, None, false);
        } else if let Some(q) = last[0].as_ref().filter(|_| !inbound) {
            // The remote refuses the instance's datagram (as it left the gateway).
            let err = Pkt {
                src: remote,
                dst: nat.eip,
                ttl: ttl_in,
                id: rng.next() as u16,
                df: false,
                l4: L4::Error {
                    kind: unreachable,
                    quoted: Box::new(translated(q, nat)),
                    len,
                },
            };
            s.push(&err, false, None, false);
        }
    }
    s
}

/// ICMP echo requests and their replies, from either side, some fragmented.
fn echo<'a>(rng: &mut Rng, nat: &'a Nat, ids: &mut Ids) -> Session<'a> {
    let mut s = Session {
        nat,
        frames: VecDeque::new(),
    };
    let remote = HOSTS[rng.below(4) as usize];
    let inbound = rng.chance(50);
    ids.echo += 1;
    let ttl_in = rng.range(2, 255) as u8;
    for seq in 1..=rng.range(1, 3) as u16 {
        let (len, chunk) = sizes(rng, 20);
        let payload = rng.bytes(len.max(8));
        for request in [true, false] {
            let inst = request != inbound;
            let p = Pkt {
                src: if inst { nat.private } else { remote },
                dst: if inst { remote } else { nat.eip },
                ttl: if inst { 64 } else { ttl_in },
                id: rng.next() as u16,
                df: chunk.is_none() && rng.chance(50),
                l4: L4::Echo {
                    request,
                    id: ids.echo,
                    seq,
                    payload: payload.clone(),
                },
            };
            s.push(&p, inst, chunk, false);
            if request && inst && chunk.is_none() && rng.chance(25) {
                // A router on the way: time exceeded, quoting the request as it left.
                let mut q = translated(&p, nat);
                q.ttl = 1;
                let err = Pkt {
                    src: ROUTER,
                    dst: nat.eip,
                    ttl: rng.range(2, 255) as u8,
                    id: rng.next() as u16,
                    df: false,
                    l4: L4::Error {
                        kind: Icmpv4Type::TimeExceeded(TimeExceededCode::TtlExceededInTransit),
                        quoted: Box::new(q),
                        len: [28, 548][rng.below(2) as usize],
                    },
                };
                s.push(&err, false, None, false);
            }
        }
    }
    s
}

/// The generated capture: `sessions` sessions (TCP, UDP and echo in turn, over the
/// associations in turn), interleaved eight at a time, the same for a given `seed`.
pub fn capture(seed: u64, sessions: usize) -> Vec<Frame> {
    let mut rng = Rng(seed);
    let mut ids = Ids {
        port: 20_000,
        echo: 0x100,
    };
    let mut pending: VecDeque<Session> = (0..sessions)
        .map(|i| {
            let nat = &NATS[i % NATS.len()];
            match i % 3 {
                0 => tcp(&mut rng, nat, &mut ids),
                1 => udp(&mut rng, nat, &mut ids),
                _ => echo(&mut rng, nat, &mut ids),
            }
        })
        .collect();
    let mut active: Vec<Session> = Vec::new();
    let mut out = Vec::new();
    loop {
        while active.len() < 8 {
            match pending.pop_front() {
                Some(s) => active.push(s),
                None => break,
            }
        }
        if active.is_empty() {
            return out;
        }
        let i = rng.below(active.len() as u64) as usize;
        match active[i].frames.pop_front() {
            Some(f) => out.push(f),
            None => {
                active.swap_remove(i);
            }
        }
    }
}
