//! A zero-copy view of a TCP header and the captured part of its segment.
//!
//! [`TcpPacket::check_len`] is the one length check (fixed header and options captured, data
//! offset at least 5 words, as smoltcp's); after it no accessor panics. It is written here
//! rather than taken from smoltcp because the library keeps smoltcp as the independent check
//! of its tests, and smoltcp's field ranges are private. A header cut by the snap length fails
//! the check, yet the forwarding core still reads its ports and updates its checksum when those
//! were captured: [`ports`] and [`adjust_checksum`] work on a header cut anywhere.

use super::HeaderError;
use super::checksum::{self, Delta};

/// The fields of the TCP header (RFC 9293): byte ranges from the start of the header.
pub mod field {
    use std::ops::Range;

    /// Source port.
    pub const SRC_PORT: Range<usize> = 0..2;
    /// Destination port.
    pub const DST_PORT: Range<usize> = 2..4;
    /// Sequence number.
    pub const SEQ_NUM: Range<usize> = 4..8;
    /// Acknowledgement number.
    pub const ACK_NUM: Range<usize> = 8..12;
    /// Data offset (high nibble, in 32-bit words) and flags.
    pub const FLAGS: Range<usize> = 12..14;
    /// Window size.
    pub const WIN_SIZE: Range<usize> = 14..16;
    /// Checksum.
    pub const CHECKSUM: Range<usize> = 16..18;
    /// Urgent pointer.
    pub const URGENT: Range<usize> = 18..20;
}

/// Length of the fixed header (no options).
pub const HEADER_LEN: usize = field::URGENT.end;

/// The SACK option kind (RFC 2018).
const OPT_SACK: u8 = 5;

/// A view of a TCP segment (header first, payload possibly cut short).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TcpPacket<T> {
    buffer: T,
}

#[inline]
fn be32(b: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

impl<T: AsRef<[u8]>> TcpPacket<T> {
    /// A view without any check: call [`TcpPacket::check_len`] before the accessors.
    #[inline]
    pub const fn new_unchecked(buffer: T) -> TcpPacket<T> {
        TcpPacket { buffer }
    }

    /// [`TcpPacket::new_unchecked`] then [`TcpPacket::check_len`].
    #[inline]
    pub fn new_checked(buffer: T) -> Result<TcpPacket<T>, HeaderError> {
        let p = TcpPacket::new_unchecked(buffer);
        p.check_len()?;
        Ok(p)
    }

    /// Checks that the header is wholly captured, options included, and that its data offset
    /// is at least 5 words. After this no accessor panics.
    #[inline]
    pub fn check_len(&self) -> Result<(), HeaderError> {
        let len = self.buffer.as_ref().len();
        if len < HEADER_LEN {
            return Err(HeaderError);
        }
        let hl = self.header_len();
        if hl < HEADER_LEN || len < hl {
            return Err(HeaderError);
        }
        Ok(())
    }

    #[inline]
    fn fixed(&self) -> &[u8; HEADER_LEN] {
        self.buffer.as_ref()[..HEADER_LEN]
            .try_into()
            .expect("check_len: the fixed header is captured")
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

    /// The sequence number.
    #[inline]
    pub fn seq_number(&self) -> u32 {
        be32(self.fixed(), field::SEQ_NUM.start)
    }

    /// The acknowledgement number.
    #[inline]
    pub fn ack_number(&self) -> u32 {
        be32(self.fixed(), field::ACK_NUM.start)
    }

    /// The flags byte (FIN 0x01, SYN 0x02, RST 0x04, PSH 0x08, ACK 0x10, URG 0x20, ...).
    #[inline]
    pub fn flags(&self) -> u8 {
        self.buffer.as_ref()[field::FLAGS.start + 1]
    }

    /// The header length in bytes (the data offset), options included.
    #[inline]
    pub fn header_len(&self) -> usize {
        usize::from(self.fixed()[field::FLAGS.start] >> 4) * 4
    }

    /// The checksum field.
    #[inline]
    pub fn checksum(&self) -> u16 {
        let f = self.fixed();
        u16::from_be_bytes([f[field::CHECKSUM.start], f[field::CHECKSUM.start + 1]])
    }

    /// The options.
    #[inline]
    pub fn options(&self) -> &[u8] {
        &self.buffer.as_ref()[HEADER_LEN..self.header_len()]
    }

    /// The captured payload (after the options).
    #[inline]
    pub fn payload(&self) -> &[u8] {
        &self.buffer.as_ref()[self.header_len()..]
    }

    /// Where the SACK block edges are (RFC 2018), as byte offsets from the start of the header.
    /// Parsing stops at the end-of-options kind or at the first option whose length is invalid.
    pub fn sack_edges(&self) -> Vec<usize> {
        let opts = self.options();
        let mut out = Vec::new();
        let mut i = 0;
        while i < opts.len() {
            match opts[i] {
                0 => break,
                1 => i += 1,
                kind => {
                    let Some(&len) = opts.get(i + 1) else { break };
                    let len = usize::from(len);
                    if len < 2 || i + len > opts.len() {
                        break;
                    }
                    if kind == OPT_SACK {
                        let mut e = i + 2;
                        while e + 4 <= i + len {
                            out.push(HEADER_LEN + e);
                            e += 4;
                        }
                    }
                    i += len;
                }
            }
        }
        out
    }

    /// The 32-bit word at `at` (an offset from [`TcpPacket::sack_edges`]).
    #[inline]
    pub fn word32(&self, at: usize) -> u32 {
        be32(&self.buffer.as_ref()[..self.header_len()], at)
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> TcpPacket<T> {
    #[inline]
    fn fixed_mut(&mut self) -> &mut [u8; HEADER_LEN] {
        (&mut self.buffer.as_mut()[..HEADER_LEN])
            .try_into()
            .expect("check_len: the fixed header is captured")
    }

    /// Sets the sequence number.
    #[inline]
    pub fn set_seq_number(&mut self, v: u32) {
        self.fixed_mut()[field::SEQ_NUM].copy_from_slice(&v.to_be_bytes());
    }

    /// Sets the acknowledgement number.
    #[inline]
    pub fn set_ack_number(&mut self, v: u32) {
        self.fixed_mut()[field::ACK_NUM].copy_from_slice(&v.to_be_bytes());
    }

    /// Sets the checksum field.
    #[inline]
    pub fn set_checksum(&mut self, c: u16) {
        self.fixed_mut()[field::CHECKSUM].copy_from_slice(&c.to_be_bytes());
    }

    /// Sets the 32-bit word at `at` (an offset from [`TcpPacket::sack_edges`]).
    #[inline]
    pub fn set_word32(&mut self, at: usize, v: u32) {
        let hl = self.header_len();
        self.buffer.as_mut()[..hl][at..at + 4].copy_from_slice(&v.to_be_bytes());
    }

    /// Applies an incremental change to the checksum (RFC 1624).
    #[inline]
    pub fn adjust_checksum(&mut self, delta: Delta) {
        let c = self.checksum();
        self.set_checksum(delta.apply(c));
    }

    /// Recomputes the checksum in full over the buffer, which must be the whole segment, with
    /// the pseudo-header of `src` and `dst`.
    pub fn fill_checksum(&mut self, src: [u8; 4], dst: [u8; 4]) {
        self.set_checksum(0);
        let c = checksum::l4_checksum(src, dst, super::proto::TCP, self.buffer.as_ref());
        self.set_checksum(c);
    }
}

/// The ports of a TCP header cut anywhere; `None` unless both were captured.
#[inline]
pub fn ports(seg: &[u8]) -> Option<(u16, u16)> {
    let p = seg.get(field::SRC_PORT.start..field::DST_PORT.end)?;
    Some((
        u16::from_be_bytes([p[0], p[1]]),
        u16::from_be_bytes([p[2], p[3]]),
    ))
}

/// Applies `delta` to the checksum of a TCP header cut anywhere, if the checksum was
/// captured; returns the old and new checksum words.
#[inline]
pub fn adjust_checksum(seg: &mut [u8], delta: Delta) -> Option<(u16, u16)> {
    checksum::apply_at(seg, field::CHECKSUM.start, delta)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_agree_with_smoltcp() {
        let mut s = [0u8; 32 + 3];
        s[0..2].copy_from_slice(&21u16.to_be_bytes());
        s[2..4].copy_from_slice(&40000u16.to_be_bytes());
        s[4..8].copy_from_slice(&1000u32.to_be_bytes());
        s[8..12].copy_from_slice(&0x8000_0001u32.to_be_bytes());
        s[12] = 8 << 4;
        s[20..32].copy_from_slice(&[1, 1, 5, 10, 0, 0, 0, 100, 0, 0, 0, 200]);
        s[32..].copy_from_slice(b"abc");
        let mut v = TcpPacket::new_checked(&mut s[..]).unwrap();
        v.fill_checksum([10, 0, 0, 1], [8, 8, 8, 8]);
        let o = smoltcp::wire::TcpPacket::new_checked(&s[..]).unwrap();
        let v = TcpPacket::new_checked(&s[..]).unwrap();
        let ip = smoltcp::wire::IpAddress::v4;
        assert!(o.verify_checksum(&ip(10, 0, 0, 1), &ip(8, 8, 8, 8)));
        assert_eq!(v.src_port(), o.src_port());
        assert_eq!(v.dst_port(), o.dst_port());
        assert_eq!(v.seq_number(), o.seq_number().0 as u32);
        assert_eq!(v.ack_number(), o.ack_number().0 as u32);
        assert_eq!(v.header_len(), usize::from(o.header_len()));
        assert_eq!(v.options(), o.options());
        assert_eq!(v.payload(), o.payload());
        assert_eq!(v.sack_edges(), vec![24, 28]);
        assert_eq!(v.word32(28), 200);
    }

    #[test]
    fn cut_headers() {
        let mut s = [0u8; 20];
        s[12] = 6 << 4;
        assert!(TcpPacket::new_checked(&s[..]).is_err());
        s[12] = 4 << 4;
        assert!(TcpPacket::new_checked(&s[..]).is_err());
        assert_eq!(ports(&s[..3]), None);
        assert_eq!(adjust_checksum(&mut s[..17], Delta::ZERO.word(0, 1)), None);
        assert_eq!(
            adjust_checksum(&mut s[..18], Delta::ZERO.word(0, 1)),
            Some((0, 0xfffe))
        );
    }
}
