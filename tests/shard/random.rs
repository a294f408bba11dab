//! A seeded random capture over the demo topology: every kind of frame the gateway meets
//! (NAT, BINDED and MULTI_BINDED traffic both ways, intra-VPC and hairpin, unknown
//! destinations, FTP PORT and SIP INVITE payloads naming private addresses, IP fragments,
//! TTL 1, ARP, truncated frames), in an order no shard boundary respects.

use std::path::Path;

use etherparse::PacketBuilder;
use pcap_file::pcap::{PcapHeader, PcapPacket, PcapWriter};

/// xorshift64*: the same frames for the same seed, everywhere.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed.max(1))
    }
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    pub fn pick<'a, T>(&mut self, v: &'a [T]) -> &'a T {
        &v[self.below(v.len() as u64) as usize]
    }
}

/// (address, MAC) of the demo's private addresses.
const PRIVATE: &[([u8; 4], [u8; 6])] = &[
    ([172, 16, 0, 10], [0, 0x16, 0x3e, 0, 0, 0x10]),
    ([172, 16, 0, 20], [0, 0x16, 0x3e, 0, 0, 0x20]),
    ([172, 16, 0, 21], [0, 0x16, 0x3e, 0, 0, 0x20]),
    ([172, 16, 0, 22], [0, 0x16, 0x3e, 0, 0, 0x20]),
    ([172, 16, 1, 5], [0, 0x16, 0x3e, 0, 1, 0x05]),
    ([172, 16, 1, 10], [0, 0x16, 0x3e, 0, 1, 0x10]),
    ([172, 16, 2, 10], [0, 0x16, 0x3e, 0, 2, 0x10]),
    ([172, 16, 3, 10], [0, 0x16, 0x3e, 0, 3, 0x10]),
    ([172, 16, 4, 5], [0, 0x16, 0x3e, 0, 4, 0x05]),
    ([172, 16, 4, 10], [0, 0x16, 0x3e, 0, 4, 0x10]),
];
const EIPS: &[[u8; 4]] = &[
    [47, 0, 0, 10],
    [47, 0, 0, 1],
    [47, 0, 0, 2],
    [47, 0, 0, 20],
    [47, 0, 0, 31],
    [47, 0, 0, 32],
    [47, 0, 0, 40],
    [47, 0, 0, 50],
    [47, 0, 0, 99],
];
const INTERNET: &[[u8; 4]] = &[
    [198, 51, 100, 7],
    [203, 0, 113, 9],
    [8, 8, 8, 8],
    [1, 1, 1, 1],
];
const GATEWAY: [u8; 6] = [0xee, 0xff, 0xff, 0xff, 0xff, 0xff];
const INTERNET_MAC: [u8; 6] = [2, 0, 0, 0, 0, 1];

fn payload(rng: &mut Rng, src: [u8; 4], dport: u16) -> Vec<u8> {
    let ip = std::net::Ipv4Addr::from(src);
    match (dport, rng.below(3)) {
        (21, 0) => {
            let p = 20000 + rng.below(2000) as u16;
            let o = src;
            format!(
                "PORT {},{},{},{},{},{}\r\n",
                o[0],
                o[1],
                o[2],
                o[3],
                p >> 8,
                p & 0xff
            )
            .into_bytes()
        }
        (5060, 0) => {
            let sdp = format!(
                "v=0\r\no=- 1 1 IN IP4 {ip}\r\ns=-\r\nc=IN IP4 {ip}\r\nt=0 0\r\nm=audio {} RTP/AVP 0\r\n",
                30000 + 2 * rng.below(100)
            );
            format!(
                "INVITE sip:bob@example.net SIP/2.0\r\nVia: SIP/2.0/UDP {ip}:5060;branch=z9hG4bK{n}\r\nFrom: <sip:a@example.net>;tag={n}\r\nTo: <sip:bob@example.net>\r\nCall-ID: {n}@{ip}\r\nCSeq: 1 INVITE\r\nContact: <sip:a@{ip}:5060>\r\nContent-Type: application/sdp\r\nContent-Length: {}\r\n\r\n{sdp}",
                sdp.len(),
                n = rng.below(1000),
            )
            .into_bytes()
        }
        _ => vec![rng.below(256) as u8; rng.below(80) as usize],
    }
}

/// One random frame.
fn frame(rng: &mut Rng, alg_inside: bool) -> Vec<u8> {
    let kind = rng.below(100);
    if kind < 2 {
        // ARP: not IPv4.
        let mut v = vec![0xff; 6];
        v.extend_from_slice(&INTERNET_MAC);
        v.extend_from_slice(&[0x08, 0x06]);
        v.extend_from_slice(&[0u8; 28]);
        return v;
    }
    // Who talks to whom: out from the VPC, in from the Internet, inside the VPC.
    let way = rng.below(3);
    let intra = way == 2;
    let (src, smac, dst) = match way {
        0 => {
            let (a, m) = *rng.pick(PRIVATE);
            let d = if rng.below(5) == 0 {
                *rng.pick(EIPS)
            } else {
                *rng.pick(INTERNET)
            };
            (a, m, d)
        }
        1 => {
            let d = if rng.below(6) == 0 {
                rng.pick(PRIVATE).0
            } else {
                *rng.pick(EIPS)
            };
            (*rng.pick(INTERNET), INTERNET_MAC, d)
        }
        _ => {
            let (a, m) = *rng.pick(PRIVATE);
            (a, m, rng.pick(PRIVATE).0)
        }
    };
    let ttl = if rng.below(40) == 0 { 1 } else { 64 };
    let mut v = Vec::new();
    let b = PacketBuilder::ethernet2(smac, GATEWAY).ipv4(src, dst, ttl);
    // Intra-VPC flows stay off the ALG ports when `alg_inside` is off: their two inside
    // endpoints may fall to two shards, and an announcement they carry would link flows of both.
    let ports: &[u16] = if intra && !alg_inside {
        &[80, 443, 25, 53]
    } else {
        &[21, 5060, 80, 443, 25, 53, 20]
    };
    let (sport, dport) = if rng.below(2) == 0 {
        (1024 + rng.below(64) as u16, *rng.pick(ports))
    } else {
        (*rng.pick(ports), 1024 + rng.below(64) as u16)
    };
    match rng.below(3) {
        0 => {
            let p = payload(rng, src, dport);
            let mut t = b.tcp(sport, dport, rng.below(1 << 31) as u32, 64240);
            match rng.below(3) {
                0 => t = t.syn(),
                1 => t = t.ack(1).psh(),
                _ => t = t.ack(1),
            }
            t.write(&mut v, &p).unwrap();
        }
        1 => {
            let p = payload(rng, src, dport);
            b.udp(sport, dport).write(&mut v, &p).unwrap();
        }
        _ => b
            .icmpv4_echo_request(1, rng.below(100) as u16)
            .write(&mut v, b"ping")
            .unwrap(),
    }
    match kind {
        2..=4 => v.truncate(14 + rng.below(20) as usize), // malformed
        5..=7 if v.len() > 14 + 20 + 16 => {
            // A first fragment (more fragments, offset 0): its IP header says so.
            v[14 + 6] = 0x20;
            v.truncate(14 + 20 + 16);
            let len = (v.len() - 14) as u16;
            v[16..18].copy_from_slice(&len.to_be_bytes());
            v[24..26].copy_from_slice(&[0, 0]);
            let c = etherparse::Ipv4HeaderSlice::from_slice(&v[14..])
                .unwrap()
                .to_header()
                .calc_header_checksum();
            v[24..26].copy_from_slice(&c.to_be_bytes());
        }
        _ => {}
    }
    v
}

/// Writes `frames` random frames (seed `seed`) to `cap`; gives the capture time of frame
/// `mark` (1-based), in seconds with 3 decimals, for an events file. `alg_inside`: intra-VPC
/// flows use the ALG ports too.
pub fn capture(cap: &Path, seed: u64, frames: usize, mark: usize, alg_inside: bool) -> String {
    capture_with(cap, PcapHeader::default(), seed, frames, mark, alg_inside)
}

/// [`capture`] with the pcap header `header` (e.g. nanosecond time stamps).
pub fn capture_with(
    cap: &Path,
    header: PcapHeader,
    seed: u64,
    frames: usize,
    mark: usize,
    alg_inside: bool,
) -> String {
    let mut rng = Rng::new(seed);
    let mut w = PcapWriter::with_header(std::fs::File::create(cap).unwrap(), header).unwrap();
    let mut ms = 1_700_000_000_000u64;
    let mut at = String::new();
    for n in 1..=frames {
        ms += rng.below(7);
        if n == mark {
            at = format!("{}.{:03}", ms / 1000, ms % 1000);
        }
        let f = frame(&mut rng, alg_inside);
        w.write_packet(&PcapPacket::new(
            std::time::Duration::from_millis(ms),
            f.len() as u32,
            &f,
        ))
        .unwrap();
    }
    at
}
