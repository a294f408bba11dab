//! TCP flags of a frame, for flow accounting.

use super::{LinkType, ipv4_offset, proto};

/// The TCP flags byte (FIN 0x01, SYN 0x02, RST 0x04, ...) of an IPv4 TCP first fragment whose
/// flags were captured; 0 otherwise.
pub fn tcp_flags(link: LinkType, frame: &[u8]) -> u8 {
    let Ok(l3) = ipv4_offset(link, frame) else {
        return 0;
    };
    let Ok(ip) = etherparse::Ipv4HeaderSlice::from_slice(&frame[l3..]) else {
        return 0;
    };
    if ip.protocol().0 != proto::TCP || ip.fragments_offset().value() != 0 {
        return 0;
    }
    // The flags byte is the 14th of the TCP header.
    frame.get(l3 + ip.slice().len() + 13).copied().unwrap_or(0)
}
