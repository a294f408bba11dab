//! The demo's addresses and frame builders.

use std::net::Ipv4Addr;

use etherparse::{EtherType, Ethernet2Header, IpNumber, Ipv4Header, PacketBuilder};

use super::DemoFrame;

pub(super) const INTERNET_ROUTER: [u8; 6] = [0x02, 0, 0, 0, 0, 0xfe];
pub(super) const GATEWAY: [u8; 6] = [0xee, 0xff, 0xff, 0xff, 0xff, 0xff];
pub(super) const WEB0: [u8; 6] = [0x00, 0x16, 0x3e, 0, 0, 0x10];
pub(super) const WEB1: [u8; 6] = [0x00, 0x16, 0x3e, 0, 0, 0x20];
pub(super) const CUT: [u8; 6] = [0x00, 0x16, 0x3e, 0, 0x01, 0x10];
pub(super) const MULTI: [u8; 6] = [0x00, 0x16, 0x3e, 0, 0x02, 0x10];
pub(super) const SPARE: [u8; 6] = [0x00, 0x16, 0x3e, 0, 0x03, 0x10];

pub(super) fn ip(s: &str) -> [u8; 4] {
    s.parse::<Ipv4Addr>().expect("demo address").octets()
}

pub(super) const CLIENT: &str = "198.51.100.7";
pub(super) const SERVER: &str = "203.0.113.5";

pub(super) struct Builder {
    pub(super) frames: Vec<DemoFrame>,
}

impl Builder {
    pub(super) fn push(&mut self, data: Vec<u8>, what: &'static str, expect: &'static str) {
        let orig_len = data.len() as u32;
        self.frames.push(DemoFrame {
            data,
            orig_len,
            what,
            expect,
        });
    }

    pub(super) fn udp(
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

    pub(super) fn tcp(
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
pub(super) fn l3(frame: &[u8]) -> &[u8] {
    &frame[14..]
}

/// An IPv4 fragment inside an Ethernet frame: `payload` is this fragment's share of the datagram.
/// `at` is (offset in 8-byte units, more fragments).
pub(super) fn fragment(
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

pub(super) fn dns_query() -> Vec<u8> {
    let mut q = vec![0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0];
    q.extend_from_slice(b"\x04demo\x07example\x00\x00\x01\x00\x01");
    q
}

pub(super) fn dns_answer() -> Vec<u8> {
    let mut a = vec![0x12, 0x34, 0x81, 0x80, 0, 1, 0, 1, 0, 0, 0, 0];
    a.extend_from_slice(b"\x04demo\x07example\x00\x00\x01\x00\x01");
    a.extend_from_slice(&[
        0xc0, 0x0c, 0, 1, 0, 1, 0, 0, 0x0e, 0x10, 0, 4, 203, 0, 113, 80,
    ]);
    a
}
