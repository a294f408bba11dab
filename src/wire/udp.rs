//! A zero-copy view of a UDP header and the captured part of its datagram.
//!
//! [`UdpPacket::check_len`] is the one length check: the 8-byte header is captured. Unlike
//! smoltcp's, it does not require the datagram the length field describes to be captured too
//! (a capture's snap length cuts it), so smoltcp's view cannot serve. [`adjust_checksum`] works
//! on a header cut anywhere, as the forwarding core needs for frames cut inside it.

use super::HeaderError;
use super::checksum::{self, Delta};

/// The fields of the UDP header (RFC 768): byte ranges from the start of the header.
pub mod field {
    use std::ops::Range;

    /// Source port.
    pub const SRC_PORT: Range<usize> = 0..2;
    /// Destination port.
    pub const DST_PORT: Range<usize> = 2..4;
    /// Length of header and payload.
    pub const LENGTH: Range<usize> = 4..6;
    /// Checksum (0: none).
    pub const CHECKSUM: Range<usize> = 6..8;
}

/// Length of the header.
pub const HEADER_LEN: usize = field::CHECKSUM.end;

/// A view of a UDP datagram (header first, payload possibly cut short).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UdpPacket<T> {
    buffer: T,
}

impl<T: AsRef<[u8]>> UdpPacket<T> {
    /// A view without any check: call [`UdpPacket::check_len`] before the accessors.
    #[inline]
    pub const fn new_unchecked(buffer: T) -> UdpPacket<T> {
        UdpPacket { buffer }
    }

    /// [`UdpPacket::new_unchecked`] then [`UdpPacket::check_len`].
    #[inline]
    pub fn new_checked(buffer: T) -> Result<UdpPacket<T>, HeaderError> {
        let p = UdpPacket::new_unchecked(buffer);
        p.check_len()?;
        Ok(p)
    }

    /// Checks that the header is captured. After this no accessor panics.
    #[inline]
    pub fn check_len(&self) -> Result<(), HeaderError> {
        if self.buffer.as_ref().len() < HEADER_LEN {
            return Err(HeaderError);
        }
        Ok(())
    }

    #[inline]
    fn fixed(&self) -> &[u8; HEADER_LEN] {
        self.buffer.as_ref()[..HEADER_LEN]
            .try_into()
            .expect("check_len: the header is captured")
    }

    /// The source port.
    #[inline]
    pub fn src_port(&self) -> u16 {
        let f = self.fixed();
        u16::from_be_bytes([f[0], f[1]])
    }

    /// The destination port.
    #[inline]
    pub fn dst_port(&self) -> u16 {
        let f = self.fixed();
        u16::from_be_bytes([f[2], f[3]])
    }

    /// The length field.
    #[inline]
    pub fn len(&self) -> u16 {
        let f = self.fixed();
        u16::from_be_bytes([f[4], f[5]])
    }

    /// Whether the length field is 0 (never valid: it counts the header).
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The checksum field (0: the sender computed none).
    #[inline]
    pub fn checksum(&self) -> u16 {
        let f = self.fixed();
        u16::from_be_bytes([f[6], f[7]])
    }

    /// The captured payload.
    #[inline]
    pub fn payload(&self) -> &[u8] {
        &self.buffer.as_ref()[HEADER_LEN..]
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> UdpPacket<T> {
    #[inline]
    fn fixed_mut(&mut self) -> &mut [u8; HEADER_LEN] {
        (&mut self.buffer.as_mut()[..HEADER_LEN])
            .try_into()
            .expect("check_len: the header is captured")
    }

    /// Sets the length field.
    #[inline]
    pub fn set_len(&mut self, len: u16) {
        self.fixed_mut()[field::LENGTH].copy_from_slice(&len.to_be_bytes());
    }

    /// Sets the checksum field.
    #[inline]
    pub fn set_checksum(&mut self, c: u16) {
        self.fixed_mut()[field::CHECKSUM].copy_from_slice(&c.to_be_bytes());
    }

    /// Applies an incremental change to the checksum (RFC 1624; 0 stays 0, a result of 0 is
    /// sent as 0xffff).
    #[inline]
    pub fn adjust_checksum(&mut self, delta: Delta) {
        checksum::apply_udp_at(self.fixed_mut(), field::CHECKSUM.start, delta);
    }

    /// Recomputes the checksum in full over the buffer, which must be the whole datagram, with
    /// the pseudo-header of `src` and `dst`; a datagram sent without a checksum (0) keeps none.
    pub fn fill_checksum(&mut self, src: [u8; 4], dst: [u8; 4]) {
        let had = self.checksum() != 0;
        self.set_checksum(0);
        if had {
            let mut c = checksum::l4_checksum(src, dst, super::proto::UDP, self.buffer.as_ref());
            if c == 0 {
                c = 0xffff;
            }
            self.set_checksum(c);
        }
    }
}

/// The ports of a UDP header cut anywhere; `None` unless both were captured.
#[inline]
pub fn ports(seg: &[u8]) -> Option<(u16, u16)> {
    let p = seg.get(field::SRC_PORT.start..field::DST_PORT.end)?;
    Some((
        u16::from_be_bytes([p[0], p[1]]),
        u16::from_be_bytes([p[2], p[3]]),
    ))
}

/// Applies `delta` to the checksum of a UDP header cut anywhere, if the checksum was captured
/// (0 stays 0); returns the old and new checksum words.
#[inline]
pub fn adjust_checksum(seg: &mut [u8], delta: Delta) -> Option<(u16, u16)> {
    checksum::apply_udp_at(seg, field::CHECKSUM.start, delta)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_agree_with_smoltcp_and_cut_datagrams_are_readable() {
        let mut d = [0u8; 8 + 4];
        d[0..2].copy_from_slice(&5060u16.to_be_bytes());
        d[2..4].copy_from_slice(&5061u16.to_be_bytes());
        d[4..6].copy_from_slice(&12u16.to_be_bytes());
        d[6] = 1;
        d[8..].copy_from_slice(b"INVI");
        let mut v = UdpPacket::new_checked(&mut d[..]).unwrap();
        v.fill_checksum([10, 0, 0, 1], [8, 8, 8, 8]);
        let o = smoltcp::wire::UdpPacket::new_checked(&d[..]).unwrap();
        let ip = smoltcp::wire::IpAddress::v4;
        assert!(o.verify_checksum(&ip(10, 0, 0, 1), &ip(8, 8, 8, 8)));
        let v = UdpPacket::new_checked(&d[..]).unwrap();
        assert_eq!(
            (v.src_port(), v.dst_port(), v.len()),
            (o.src_port(), o.dst_port(), o.len())
        );
        assert_eq!(v.payload(), o.payload());
        // Cut by the snap length: smoltcp refuses it, the view reads it.
        assert!(smoltcp::wire::UdpPacket::new_checked(&d[..10]).is_err());
        assert_eq!(UdpPacket::new_checked(&d[..10]).unwrap().payload(), b"IN");
        assert!(UdpPacket::new_checked(&d[..7]).is_err());
        assert_eq!(ports(&d[..4]), Some((5060, 5061)));
    }
}
