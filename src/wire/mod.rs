//! Packet views: link layers (over etherparse's header slices), the IPv4 header, and Internet
//! checksums with RFC 1624 incremental updates.

pub mod checksum;
pub mod link;

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
