//! Packet views: link layers (over etherparse's header slices); zero-copy views of the IPv4,
//! TCP, UDP and ICMP headers in the manner of smoltcp's `wire` module, which also work on
//! frames cut by a capture's snap length (each module says why smoltcp's or etherparse's own
//! views do not serve); a fixed-offset view of the commonest frame for the core's fast path
//! ([`plain`]); where the headers of a frame are ([`Layout`]); Internet checksums with
//! RFC 1624 incremental updates; and the rewriter used outside the forwarding core.

pub mod checksum;
pub mod icmp;
pub mod ipv4;
mod layout;
pub mod link;
pub mod plain;
pub mod rewrite;
pub mod tcp;
pub mod udp;

pub use layout::{Layout, ipv4_packet};
pub use link::{LinkError, LinkType, ipv4_offset};

/// A header is cut short or its length fields are inconsistent (a view's `check_len` failed).
#[derive(Clone, Copy, PartialEq, Eq, Debug, thiserror::Error)]
#[error("header cut short or with inconsistent lengths")]
pub struct HeaderError;

/// IP protocol numbers eipsim looks inside.
pub mod proto {
    /// ICMP.
    pub const ICMP: u8 = 1;
    /// TCP.
    pub const TCP: u8 = 6;
    /// UDP.
    pub const UDP: u8 = 17;
}

/// The source and destination ports of a TCP or UDP header cut anywhere ([`tcp::ports`] and
/// [`udp::ports`] in one: both protocols put them at the same place); `None` unless both
/// were captured.
#[inline]
pub fn l4_ports(seg: &[u8]) -> Option<(u16, u16)> {
    debug_assert_eq!(tcp::field::SRC_PORT, udp::field::SRC_PORT);
    debug_assert_eq!(tcp::field::DST_PORT, udp::field::DST_PORT);
    tcp::ports(seg)
}

/// The TCP or UDP payload of a frame (first fragments only), with the IP protocol and, for TCP,
/// the sequence number, as far as it was captured. `None` when the frame is not IPv4 TCP/UDP or
/// its L4 header is cut short. A frame the core has seen has this in its verdict's layout:
/// [`Layout::l4_payload`] gives the same answer without parsing the frame again.
pub fn l4_payload(link: LinkType, frame: &[u8]) -> Option<(u8, Option<u32>, &[u8])> {
    Layout::parse(link, frame).l4_payload(frame)
}
