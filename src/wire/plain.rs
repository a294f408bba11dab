//! The plain frame: an untagged Ethernet II frame carrying a whole, unfragmented IPv4 datagram
//! without options whose payload is a TCP or UDP header with its ports and checksum. Most
//! frames of a gateway's traffic are plain. Seen through a fixed-size array, a plain frame's
//! fields are read and written without a bounds check each: the forwarding core's fast path
//! uses this view and hands every other frame to the general views ([`super::ipv4`],
//! [`super::tcp`], [`super::udp`]), which handle tags, options, fragments and frames cut by
//! the snap length. A frame the fast path rewrites comes out byte for byte as the general
//! path would write it (the core's tests compare both).

use super::checksum::Delta;
use super::ipv4::{self, field as ip};
use super::link::ethernet;
use super::{proto, tcp, udp};

/// Where the IPv4 header starts.
pub const L3: usize = ethernet::HEADER_LEN;
/// Where the L4 header starts (an IPv4 header without options).
pub const L4: usize = L3 + ipv4::HEADER_LEN;
/// The bytes the view covers: up to the end of a TCP header's checksum (past a UDP header).
pub const LEN: usize = L4 + tcp::field::CHECKSUM.end;
/// The IPv4 version and header length of a header without options.
const VER_IHL_PLAIN: u8 = 0x45;

/// A plain frame (see the module documentation), rewritten in place.
#[derive(Debug)]
pub struct PlainFrame<'a> {
    b: &'a mut [u8; LEN],
    /// The IP protocol: [`proto::TCP`] or [`proto::UDP`].
    protocol: u8,
}

impl<'a> PlainFrame<'a> {
    /// The view, when `frame` is plain: at least [`LEN`] bytes; EtherType IPv4; version 4
    /// with a 20-byte header; neither a fragment nor the first of several (offset 0, More
    /// Fragments clear); TCP with a total length of at least 40 or UDP with at least 28, so the
    /// L4 header's ports and checksum are inside the datagram; and the whole datagram
    /// captured (its total length within the frame; Ethernet padding may follow).
    #[inline(always)]
    pub fn new(frame: &'a mut [u8]) -> Option<PlainFrame<'a>> {
        let total_captured = frame.len() - L3.min(frame.len());
        let b: &mut [u8; LEN] = frame.first_chunk_mut()?;
        if b[ethernet::ETHER_TYPE] != ethernet::IPV4 || b[L3 + ip::VER_IHL] != VER_IHL_PLAIN {
            return None;
        }
        let flg_off = be16(b, L3 + ip::FLG_OFF.start);
        if flg_off & (ipv4::MORE_FRAGMENTS | ipv4::OFFSET_MASK) != 0 {
            return None;
        }
        let total = usize::from(be16(b, L3 + ip::TOTAL_LEN.start));
        let protocol = b[L3 + ip::PROTOCOL];
        let l4_min = match protocol {
            proto::TCP => tcp::HEADER_LEN,
            proto::UDP => udp::HEADER_LEN,
            _ => return None,
        };
        if total < ipv4::HEADER_LEN + l4_min || total > total_captured {
            return None;
        }
        Some(PlainFrame { b, protocol })
    }

    /// The source MAC address.
    #[inline(always)]
    pub fn src_mac(&self) -> &[u8; 6] {
        self.b[ethernet::SRC_ADDR]
            .first_chunk()
            .expect("a fixed range of a fixed array")
    }

    /// The IP protocol: [`proto::TCP`] or [`proto::UDP`].
    #[inline(always)]
    pub fn protocol(&self) -> u8 {
        self.protocol
    }

    /// The time to live.
    #[inline(always)]
    pub fn ttl(&self) -> u8 {
        self.b[L3 + ip::TTL]
    }

    /// The IPv4 source address (host order).
    #[inline(always)]
    pub fn src_addr(&self) -> u32 {
        be32(self.b, L3 + ip::SRC_ADDR.start)
    }

    /// The IPv4 destination address (host order).
    #[inline(always)]
    pub fn dst_addr(&self) -> u32 {
        be32(self.b, L3 + ip::DST_ADDR.start)
    }

    /// The source and destination ports.
    #[inline(always)]
    pub fn ports(&self) -> (u16, u16) {
        (
            be16(self.b, L4 + udp::field::SRC_PORT.start),
            be16(self.b, L4 + udp::field::DST_PORT.start),
        )
    }

    /// What a gateway does to a frame it translates inbound (DNAT) and sends on: destination
    /// address `new_dst`, TTL one lower (the caller checked it is above 1), the IPv4 and the
    /// TCP or UDP checksum updated (RFC 1624; a UDP checksum of 0 stays 0, and one that comes
    /// to 0 is sent as 0xffff, RFC 768), destination MAC `dst_mac`, source MAC `src_mac`.
    #[inline(always)]
    pub fn dnat_and_send(&mut self, new_dst: u32, dst_mac: &[u8; 6], src_mac: &[u8; 6]) {
        let old_dst = self.dst_addr();
        let ttl = self.ttl();
        debug_assert!(ttl > 1, "the caller checks the TTL");
        let addr = Delta::ZERO.addr32(old_dst, new_dst);
        let ttl_word = u16::from_be_bytes([ttl, self.protocol]);
        let ip_delta = addr.word(ttl_word, ttl_word - 0x0100);
        self.b[L3 + ip::DST_ADDR.start..L3 + ip::DST_ADDR.end]
            .copy_from_slice(&new_dst.to_be_bytes());
        self.b[L3 + ip::TTL] = ttl - 1;
        let c = be16(self.b, L3 + ip::CHECKSUM.start);
        put16(self.b, L3 + ip::CHECKSUM.start, ip_delta.apply(c));
        if self.protocol == proto::TCP {
            let at = L4 + tcp::field::CHECKSUM.start;
            put16(self.b, at, addr.apply(be16(self.b, at)));
        } else {
            let at = L4 + udp::field::CHECKSUM.start;
            let c = be16(self.b, at);
            if c != 0 {
                let n = addr.apply(c);
                put16(self.b, at, if n == 0 { 0xffff } else { n });
            }
        }
        self.b[ethernet::DST_ADDR].copy_from_slice(dst_mac);
        self.b[ethernet::SRC_ADDR].copy_from_slice(src_mac);
    }
}

#[inline(always)]
fn be16(b: &[u8; LEN], at: usize) -> u16 {
    u16::from_be_bytes([b[at], b[at + 1]])
}

#[inline(always)]
fn be32(b: &[u8; LEN], at: usize) -> u32 {
    u32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

#[inline(always)]
fn put16(b: &mut [u8; LEN], at: usize, v: u16) {
    b[at..at + 2].copy_from_slice(&v.to_be_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;

    fn udp_frame(total: u16, flg_off: u16) -> Vec<u8> {
        let mut f = vec![0u8; 64];
        f[ethernet::ETHER_TYPE].copy_from_slice(&ethernet::IPV4);
        f[L3] = VER_IHL_PLAIN;
        f[L3 + 2..L3 + 4].copy_from_slice(&total.to_be_bytes());
        f[L3 + 6..L3 + 8].copy_from_slice(&flg_off.to_be_bytes());
        f[L3 + ip::PROTOCOL] = proto::UDP;
        f
    }

    /// What is plain and what is not.
    #[test]
    fn plain_frames_are_recognised_and_others_refused() {
        assert!(PlainFrame::new(&mut udp_frame(28, 0)).is_some());
        // Don't Fragment is no fragment.
        assert!(PlainFrame::new(&mut udp_frame(50, 0x4000)).is_some());
        // The whole datagram within the 64 bytes, 14 of them the Ethernet header.
        assert!(PlainFrame::new(&mut udp_frame(51, 0)).is_none());
        assert!(PlainFrame::new(&mut udp_frame(27, 0)).is_none());
        assert!(PlainFrame::new(&mut udp_frame(40, 0x2000)).is_none());
        assert!(PlainFrame::new(&mut udp_frame(40, 0x0001)).is_none());
        let mut short = udp_frame(28, 0);
        short.truncate(LEN - 1);
        assert!(PlainFrame::new(&mut short).is_none());
        let mut options = udp_frame(40, 0);
        options[L3] = 0x46;
        assert!(PlainFrame::new(&mut options).is_none());
        let mut tcp = udp_frame(39, 0);
        tcp[L3 + ip::PROTOCOL] = proto::TCP;
        assert!(PlainFrame::new(&mut tcp).is_none());
        tcp[L3 + 2..L3 + 4].copy_from_slice(&40u16.to_be_bytes());
        assert!(PlainFrame::new(&mut tcp).is_some());
        let mut icmp = udp_frame(40, 0);
        icmp[L3 + ip::PROTOCOL] = proto::ICMP;
        assert!(PlainFrame::new(&mut icmp).is_none());
        let mut vlan = udp_frame(40, 0);
        vlan[ethernet::ETHER_TYPE].copy_from_slice(&[0x81, 0x00]);
        assert!(PlainFrame::new(&mut vlan).is_none());
    }
}
