//! Packet views: link layers (over etherparse's header slices), the IPv4 header, and Internet
//! checksums with RFC 1624 incremental updates.

pub mod checksum;
pub mod flags;
pub mod link;
pub mod rewrite;

pub use link::{LinkError, LinkType, ipv4_offset};

/// IP protocol numbers eipsim looks inside.
pub mod proto {
    /// ICMP.
    pub const ICMP: u8 = 1;
    /// TCP.
    pub const TCP: u8 = 6;
    /// UDP.
    pub const UDP: u8 = 17;
}

/// Offset of the checksum field inside a TCP header.
pub const TCP_CHECKSUM_AT: usize = 16;
/// Offset of the checksum field inside a UDP header.
pub const UDP_CHECKSUM_AT: usize = 6;
/// Offset of the checksum field inside an ICMP header.
pub const ICMP_CHECKSUM_AT: usize = 2;

/// Whether an ICMP type is an error message that quotes the offending packet (RFC 5508 sec. 4):
/// destination unreachable, source quench, redirect, time exceeded, parameter problem.
#[inline]
pub fn icmp_is_error(icmp_type: u8) -> bool {
    matches!(icmp_type, 3 | 4 | 5 | 11 | 12)
}

/// Whether an ICMP type is a query that carries an identifier at bytes 4..6.
#[inline]
pub fn icmp_has_identifier(icmp_type: u8) -> bool {
    matches!(icmp_type, 0 | 8 | 13 | 14 | 15 | 16 | 17 | 18)
}

/// The TCP or UDP payload of a frame (first fragments only), with the IP protocol and, for TCP,
/// the sequence number, as far as it was captured. `None` when the frame is not IPv4 TCP/UDP or
/// its L4 header is cut short.
pub fn l4_payload(link: LinkType, frame: &[u8]) -> Option<(u8, Option<u32>, &[u8])> {
    let l3 = ipv4_offset(link, frame).ok()?;
    let ip = etherparse::Ipv4HeaderSlice::from_slice(&frame[l3..]).ok()?;
    if ip.fragments_offset().value() != 0 {
        return None;
    }
    let start = l3 + ip.slice().len();
    let end = (l3 + usize::from(ip.total_len())).min(frame.len());
    let seg = frame.get(start..end)?;
    match ip.protocol().0 {
        proto::TCP => {
            let tcp = etherparse::TcpHeaderSlice::from_slice(seg).ok()?;
            Some((
                proto::TCP,
                Some(tcp.sequence_number()),
                &seg[tcp.slice().len()..],
            ))
        }
        proto::UDP => Some((proto::UDP, None, seg.get(8..)?)),
        _ => None,
    }
}
