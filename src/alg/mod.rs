//! ALG limitations, modelled per protocol. The provider's NAT mode has no ALG: the seeds name
//! H.323, SIP, DNS, RTSP (seeds 000-003) and TFTP (seed 004) as not supported, and FTP embeds
//! addresses too. This module identifies those protocols (a port table first, so that other
//! traffic pays one bit test) and finds the addresses and ports their payloads carry. Pure: no
//! I/O; the replay feeds it frames and keeps its findings per flow.
//!
//! Built so far: identification of all six protocols by port (SIP and RTSP also by payload), and
//! parsers for FTP, SIP/SDP, RTSP, DNS (with simple-dns), TFTP and H.323 (TPKT/Q.931 framing and
//! a pattern search for transport addresses, not PER decoding). The report links the flows the
//! control channels announce (`related-flow`). Not built yet: TCP reassembly, what-if
//! translation and the mode advisor.

pub mod dns;
mod field;
pub mod ftp;
pub mod h323;
pub mod rtsp;
pub mod seqadj;
pub mod sip;
pub mod stream;
pub mod tftp;
pub mod tracker;
pub mod translate;

use std::fmt;
use std::net::Ipv4Addr;

use serde::Serialize;

use crate::model::Ipv4Cidr;

pub use field::Field;

/// A protocol whose payload embeds addresses.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Protocol {
    /// FTP control channel (TCP 21).
    Ftp,
    /// TFTP (UDP 69).
    Tftp,
    /// DNS (53, UDP and TCP).
    Dns,
    /// SIP (5060/5061, or a payload that starts as a SIP message).
    Sip,
    /// RTSP (554, 8554).
    Rtsp,
    /// H.323: Q.931/H.225 over TPKT on TCP 1720, RAS on UDP 1719.
    H323,
}

impl Protocol {
    /// Lower-case name.
    pub fn as_str(self) -> &'static str {
        match self {
            Protocol::Ftp => "ftp",
            Protocol::Tftp => "tftp",
            Protocol::Dns => "dns",
            Protocol::Sip => "sip",
            Protocol::Rtsp => "rtsp",
            Protocol::H323 => "h323",
        }
    }

    /// Whether the seeds name the protocol as unsupported by the NAT-mode ALG, and where.
    pub fn documented(self) -> Option<&'static str> {
        match self {
            Protocol::H323 | Protocol::Sip | Protocol::Dns | Protocol::Rtsp => {
                Some("seeds 000-004: NAT mode does not support H.323, SIP, DNS or RTSP")
            }
            Protocol::Tftp => Some("seed 004: NAT mode has no ALG for TFTP"),
            Protocol::Ftp => None,
        }
    }
}

impl fmt::Display for Protocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An address and/or port carried in a payload.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Embedded {
    /// Where it is: `PORT`, `227`, `Via`, `sdp c=`, ...
    pub field: Field,
    /// The address, if the field carries one.
    pub addr: Option<Ipv4Addr>,
    /// The port, if the field carries one.
    pub port: Option<u16>,
    /// Byte offset in the payload (of the line or the value).
    pub offset: usize,
    /// Length of the line, when known (0 otherwise).
    pub len: usize,
}

impl Embedded {
    /// A new item.
    pub fn new(
        field: Field,
        addr: Option<Ipv4Addr>,
        port: Option<u16>,
        offset: usize,
        len: usize,
    ) -> Embedded {
        Embedded {
            field,
            addr,
            port,
            offset,
            len,
        }
    }

    /// `10.0.0.5`, `10.0.0.5:40000` or `:40000`, as the report gives it.
    pub fn value(&self) -> String {
        match (self.addr, self.port) {
            (Some(a), Some(p)) => format!("{a}:{p}"),
            (Some(a), None) => a.to_string(),
            (None, Some(p)) => format!(":{p}"),
            (None, None) => String::new(),
        }
    }
}

/// One address a what-if translation rewrote in a payload.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Change {
    /// The field: `PORT`, `Via`, `sdp c=`, ...
    pub field: Field,
    /// The address before.
    pub from: Ipv4Addr,
    /// The address after.
    pub to: Ipv4Addr,
    /// Byte offset of the line (or value) in the payload before the change.
    pub offset: usize,
}

/// One bit per TCP/UDP port: set where an ALG protocol listens.
#[derive(Clone, Debug)]
pub struct PortTable {
    bits: Vec<u64>,
}

const ALG_PORTS: [u16; 9] = [21, 69, 53, 5060, 5061, 554, 8554, 1720, 1719];

impl Default for PortTable {
    fn default() -> Self {
        let mut bits = vec![0u64; 1024];
        for p in ALG_PORTS {
            bits[usize::from(p >> 6)] |= 1 << (p & 63);
        }
        PortTable { bits }
    }
}

impl PortTable {
    /// Whether either port is an ALG port.
    #[inline]
    pub fn hit(&self, sport: u16, dport: u16) -> bool {
        let t = |p: u16| self.bits[usize::from(p >> 6)] & (1 << (p & 63)) != 0;
        t(sport) || t(dport)
    }
}

/// Identifies the protocol of a TCP (`proto` 6) or UDP (17) payload from its ports, and SIP also
/// from its payload on any port.
pub fn identify(proto: u8, sport: u16, dport: u16, payload: &[u8]) -> Option<Protocol> {
    let by_port = |p: u16| -> Option<Protocol> {
        match (proto, p) {
            (6, 21) => Some(Protocol::Ftp),
            (17, 69) => Some(Protocol::Tftp),
            (6 | 17, 53) => Some(Protocol::Dns),
            (6 | 17, 5060 | 5061) => Some(Protocol::Sip),
            (6 | 17, 554 | 8554) => Some(Protocol::Rtsp),
            (6, 1720) | (17, 1719) => Some(Protocol::H323),
            _ => None,
        }
    };
    by_port(dport)
        .or_else(|| by_port(sport))
        .or_else(|| sip::looks_like_sip(payload).then_some(Protocol::Sip))
        .or_else(|| (proto == 6 && rtsp::looks_like_rtsp(payload)).then_some(Protocol::Rtsp))
}

/// What a scan needs beyond the payload.
#[derive(Clone, Copy, Debug)]
pub struct ScanContext {
    /// The payload came over TCP (DNS then has a length prefix).
    pub tcp: bool,
    /// The VPC CIDR (H.323's pattern search looks for its addresses).
    pub vpc: Ipv4Cidr,
}

/// The addresses and ports a payload of `protocol` carries. TFTP carries none.
pub fn scan(protocol: Protocol, payload: &[u8], ctx: ScanContext) -> Vec<Embedded> {
    match protocol {
        Protocol::Ftp => ftp::scan(payload),
        Protocol::Sip => sip::scan(payload),
        Protocol::Rtsp => rtsp::scan(payload),
        Protocol::Dns => dns::scan(payload, ctx.tcp),
        Protocol::H323 => h323::scan(payload, ctx.vpc),
        Protocol::Tftp => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ports_and_payloads() {
        let t = PortTable::default();
        assert!(t.hit(40000, 21) && t.hit(5060, 1) && !t.hit(80, 443));
        assert_eq!(identify(6, 40000, 21, b""), Some(Protocol::Ftp));
        assert_eq!(identify(17, 69, 40000, b""), Some(Protocol::Tftp));
        assert_eq!(
            identify(17, 40000, 9999, b"SIP/2.0 200 OK\r\n"),
            Some(Protocol::Sip)
        );
        assert_eq!(identify(17, 40000, 9999, b"hello"), None);
        assert_eq!(identify(6, 1, 1720, b""), Some(Protocol::H323));
        assert!(Protocol::Ftp.documented().is_none());
        assert!(Protocol::Tftp.documented().is_some());
    }
}
