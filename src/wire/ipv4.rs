//! A zero-copy view of an IPv4 header and the datagram it starts, over any `AsRef<[u8]>`
//! (reading) or `AsMut<[u8]>` (rewriting in place).
//!
//! [`Ipv4Packet::check_len`] is the one length check: after it no accessor panics, and the
//! datagram may be cut anywhere after its header (a capture's snap length): [`Ipv4Packet::payload`]
//! is what was captured, [`Ipv4Packet::total_len`] what the header says. smoltcp's
//! `Ipv4Packet::check_len` refuses such datagrams (and its `payload` slices up to the total
//! length, which panics on them); etherparse's `Ipv4HeaderSlice` cannot write. Setters write
//! one field and nothing else: checksums are the caller's (whole with
//! [`Ipv4Packet::fill_checksum`], incremental with [`Ipv4Packet::adjust_checksum`]).
//!
//! The IPv4 header quoted in an ICMP error may be cut even inside its fixed 20 bytes; the
//! `quoted_*` functions read and write such a header field by field.

use super::HeaderError;
use super::checksum::{self, Delta};

/// The fields of the IPv4 header (RFC 791): byte ranges from the start of the header.
pub mod field {
    use std::ops::Range;

    /// Version (high nibble) and header length in 32-bit words (low nibble).
    pub const VER_IHL: usize = 0;
    /// DSCP and ECN.
    pub const DSCP_ECN: usize = 1;
    /// Total length of the datagram, header included.
    pub const TOTAL_LEN: Range<usize> = 2..4;
    /// Identification.
    pub const IDENT: Range<usize> = 4..6;
    /// Flags (3 bits) and fragment offset (13 bits, in 8-byte units).
    pub const FLG_OFF: Range<usize> = 6..8;
    /// Time to live.
    pub const TTL: usize = 8;
    /// Protocol of the payload.
    pub const PROTOCOL: usize = 9;
    /// Header checksum.
    pub const CHECKSUM: Range<usize> = 10..12;
    /// Source address.
    pub const SRC_ADDR: Range<usize> = 12..16;
    /// Destination address.
    pub const DST_ADDR: Range<usize> = 16..20;
}

/// Length of the fixed header (no options).
pub const HEADER_LEN: usize = field::DST_ADDR.end;

/// The More Fragments flag in the flags and offset word.
pub const MORE_FRAGMENTS: u16 = 0x2000;
/// The fragment offset bits of that word.
pub const OFFSET_MASK: u16 = 0x1fff;

/// A view of an IPv4 datagram (header first, possibly cut short after the header).
///
/// A view over just the fixed header (a `&mut [u8; HEADER_LEN]`, whose type holds the length)
/// serves the fixed-field accessors and setters without a check, and without a bounds check in
/// the compiled code: the forwarding core rewrites through one. The accessors that depend on
/// the header length ([`Ipv4Packet::header`], [`Ipv4Packet::payload`]) need
/// [`Ipv4Packet::check_len`] on the whole datagram.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ipv4Packet<T> {
    buffer: T,
}

#[inline]
fn be16(b: &[u8], at: usize) -> u16 {
    u16::from_be_bytes([b[at], b[at + 1]])
}

#[inline]
fn be32(b: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

impl<T: AsRef<[u8]>> Ipv4Packet<T> {
    /// A view without any check: call [`Ipv4Packet::check_len`] before the accessors.
    #[inline]
    pub const fn new_unchecked(buffer: T) -> Ipv4Packet<T> {
        Ipv4Packet { buffer }
    }

    /// [`Ipv4Packet::new_unchecked`] then [`Ipv4Packet::check_len`].
    #[inline]
    pub fn new_checked(buffer: T) -> Result<Ipv4Packet<T>, HeaderError> {
        let p = Ipv4Packet::new_unchecked(buffer);
        p.check_len()?;
        Ok(p)
    }

    /// Checks that the header is wholly captured (fixed part and options), that its length
    /// field is at least 5 words and that the total length covers the header. The version is
    /// not checked (see [`Ipv4Packet::version`]). After this no accessor panics.
    #[inline]
    pub fn check_len(&self) -> Result<(), HeaderError> {
        let len = self.buffer.as_ref().len();
        if len < HEADER_LEN {
            return Err(HeaderError);
        }
        let hl = self.header_len();
        if hl < HEADER_LEN || len < hl || self.total_len() < hl {
            return Err(HeaderError);
        }
        Ok(())
    }

    /// The underlying buffer.
    #[inline]
    pub fn into_inner(self) -> T {
        self.buffer
    }

    /// The fixed header: one bounds check, shared by every field accessor once inlined.
    #[inline]
    fn fixed(&self) -> &[u8; HEADER_LEN] {
        self.buffer.as_ref()[..HEADER_LEN]
            .try_into()
            .expect("check_len: the fixed header is captured")
    }

    /// The version field (4 for IPv4).
    #[inline]
    pub fn version(&self) -> u8 {
        self.fixed()[field::VER_IHL] >> 4
    }

    /// The header length in bytes (options included).
    #[inline]
    pub fn header_len(&self) -> usize {
        usize::from(self.fixed()[field::VER_IHL] & 0x0f) * 4
    }

    /// The total length field: the datagram's length, which may exceed what was captured.
    #[inline]
    pub fn total_len(&self) -> usize {
        usize::from(be16(self.fixed(), field::TOTAL_LEN.start))
    }

    /// The identification field.
    #[inline]
    pub fn ident(&self) -> u16 {
        be16(self.fixed(), field::IDENT.start)
    }

    /// The More Fragments flag.
    #[inline]
    pub fn more_frags(&self) -> bool {
        be16(self.fixed(), field::FLG_OFF.start) & MORE_FRAGMENTS != 0
    }

    /// The fragment offset, in 8-byte units.
    #[inline]
    pub fn frag_offset(&self) -> u16 {
        be16(self.fixed(), field::FLG_OFF.start) & OFFSET_MASK
    }

    /// The time to live.
    #[inline]
    pub fn ttl(&self) -> u8 {
        self.fixed()[field::TTL]
    }

    /// The protocol of the payload.
    #[inline]
    pub fn protocol(&self) -> u8 {
        self.fixed()[field::PROTOCOL]
    }

    /// The header checksum field.
    #[inline]
    pub fn checksum(&self) -> u16 {
        be16(self.fixed(), field::CHECKSUM.start)
    }

    /// The source address (host order).
    #[inline]
    pub fn src_addr(&self) -> u32 {
        be32(self.fixed(), field::SRC_ADDR.start)
    }

    /// The destination address (host order).
    #[inline]
    pub fn dst_addr(&self) -> u32 {
        be32(self.fixed(), field::DST_ADDR.start)
    }

    /// The header, options included.
    #[inline]
    pub fn header(&self) -> &[u8] {
        &self.buffer.as_ref()[..self.header_len()]
    }

    /// How many bytes of the datagram were captured: the total length, or less when the
    /// capture cut it (bytes past the total length, such as Ethernet padding, are not counted).
    #[inline]
    pub fn captured_len(&self) -> usize {
        self.total_len().min(self.buffer.as_ref().len())
    }

    /// Whether the capture cut the datagram short of its total length.
    #[inline]
    pub fn is_truncated(&self) -> bool {
        self.total_len() > self.buffer.as_ref().len()
    }

    /// The captured part of the payload (after the header, up to the total length).
    #[inline]
    pub fn payload(&self) -> &[u8] {
        let (hl, end) = (self.header_len(), self.captured_len());
        &self.buffer.as_ref()[hl..end]
    }

    /// Whether the header checksum verifies.
    pub fn verify_checksum(&self) -> bool {
        checksum::checksum(self.header()) == 0
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Ipv4Packet<T> {
    #[inline]
    fn fixed_mut(&mut self) -> &mut [u8; HEADER_LEN] {
        (&mut self.buffer.as_mut()[..HEADER_LEN])
            .try_into()
            .expect("check_len: the fixed header is captured")
    }

    /// Sets the total length field.
    #[inline]
    pub fn set_total_len(&mut self, len: u16) {
        self.fixed_mut()[field::TOTAL_LEN].copy_from_slice(&len.to_be_bytes());
    }

    /// Sets the time to live.
    #[inline]
    pub fn set_ttl(&mut self, ttl: u8) {
        self.fixed_mut()[field::TTL] = ttl;
    }

    /// Sets the header checksum field.
    #[inline]
    pub fn set_checksum(&mut self, c: u16) {
        self.fixed_mut()[field::CHECKSUM].copy_from_slice(&c.to_be_bytes());
    }

    /// Sets the source address (host order).
    #[inline]
    pub fn set_src_addr(&mut self, a: u32) {
        self.fixed_mut()[field::SRC_ADDR].copy_from_slice(&a.to_be_bytes());
    }

    /// Sets the destination address (host order).
    #[inline]
    pub fn set_dst_addr(&mut self, a: u32) {
        self.fixed_mut()[field::DST_ADDR].copy_from_slice(&a.to_be_bytes());
    }

    /// Applies an incremental change to the header checksum (RFC 1624).
    #[inline]
    pub fn adjust_checksum(&mut self, delta: Delta) {
        let c = self.checksum();
        self.set_checksum(delta.apply(c));
    }

    /// Recomputes the header checksum in full.
    pub fn fill_checksum(&mut self) {
        self.set_checksum(0);
        let c = checksum::checksum(self.header());
        self.set_checksum(c);
    }

    /// The captured part of the payload, writable.
    #[inline]
    pub fn payload_mut(&mut self) -> &mut [u8] {
        let (hl, end) = (self.header_len(), self.captured_len());
        &mut self.buffer.as_mut()[hl..end]
    }
}

/// The source and destination addresses (host order) of an IPv4 header that may be cut short
/// or invalid; `None` unless both were captured. Cheap enough to prefetch with.
#[inline]
pub fn addrs_if_captured(ip: &[u8]) -> Option<(u32, u32)> {
    let a = ip.get(field::SRC_ADDR.start..field::DST_ADDR.end)?;
    Some((be32(a, 0), be32(a, 4)))
}

/// In a quoted IPv4 header cut anywhere: replaces the address in `f` (one of
/// [`field::SRC_ADDR`], [`field::DST_ADDR`]) by `new` if it was captured and holds `expect`.
/// Returns whether it did.
#[inline]
pub fn quoted_replace_addr(
    ip: &mut [u8],
    f: std::ops::Range<usize>,
    expect: u32,
    new: u32,
) -> bool {
    match ip.get_mut(f) {
        Some(a) if a.len() == 4 && be32(a, 0) == expect => {
            a.copy_from_slice(&new.to_be_bytes());
            true
        }
        _ => false,
    }
}

/// In a quoted IPv4 header cut anywhere: applies `delta` to its checksum if captured; returns
/// the old and new checksum words.
#[inline]
pub fn quoted_adjust_checksum(ip: &mut [u8], delta: Delta) -> Option<(u16, u16)> {
    checksum::apply_at(ip, field::CHECKSUM.start, delta)
}

/// In a quoted IPv4 header cut anywhere (but holding at least its first 10 bytes): where its
/// L4 header would start and the protocol, when it is an IPv4 header of a first fragment
/// (version 4, length at least 5 words, offset 0). The L4 bytes themselves may be missing.
#[inline]
pub fn quoted_l4(ip: &[u8]) -> Option<(usize, u8)> {
    let ver_ihl = *ip.get(field::VER_IHL)?;
    let hl = usize::from(ver_ihl & 0x0f) * 4;
    let flg_off = ip.get(field::FLG_OFF)?;
    let offset = be16(flg_off, 0) & OFFSET_MASK;
    let proto = *ip.get(field::PROTOCOL)?;
    (ver_ihl >> 4 == 4 && hl >= HEADER_LEN && offset == 0).then_some((hl, proto))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A header with options, a payload, checked against smoltcp's view.
    #[test]
    fn fields_agree_with_smoltcp() {
        let mut p = [0u8; 24 + 6];
        p[0] = 0x46;
        p[2..4].copy_from_slice(&30u16.to_be_bytes());
        p[4..6].copy_from_slice(&0x1234u16.to_be_bytes());
        p[6..8].copy_from_slice(&0x2005u16.to_be_bytes());
        p[8] = 63;
        p[9] = 17;
        p[12..16].copy_from_slice(&[10, 0, 0, 1]);
        p[16..20].copy_from_slice(&[8, 8, 4, 4]);
        p[24..].copy_from_slice(b"abcdef");
        let mut v = Ipv4Packet::new_checked(&mut p[..]).unwrap();
        v.fill_checksum();
        let s = smoltcp::wire::Ipv4Packet::new_checked(&p[..]).unwrap();
        assert!(s.verify_checksum());
        let v = Ipv4Packet::new_checked(&p[..]).unwrap();
        assert_eq!(v.version(), s.version());
        assert_eq!(v.header_len(), usize::from(s.header_len()));
        assert_eq!(v.total_len(), usize::from(s.total_len()));
        assert_eq!(v.ident(), s.ident());
        assert_eq!(v.more_frags(), s.more_frags());
        assert_eq!(v.frag_offset() * 8, s.frag_offset());
        assert_eq!(v.ttl(), s.hop_limit());
        assert_eq!(v.protocol(), u8::from(s.next_header()));
        assert_eq!(v.src_addr(), u32::from(s.src_addr()));
        assert_eq!(v.dst_addr(), u32::from(s.dst_addr()));
        assert_eq!(v.payload(), s.payload());
        assert!(v.verify_checksum());
    }

    /// A datagram cut by the snap length: smoltcp refuses it, the view gives what is there.
    #[test]
    fn truncated_datagrams_are_readable() {
        let mut p = [0u8; 26];
        p[0] = 0x45;
        p[2..4].copy_from_slice(&1500u16.to_be_bytes());
        assert!(smoltcp::wire::Ipv4Packet::new_checked(&p[..]).is_err());
        let v = Ipv4Packet::new_checked(&p[..]).unwrap();
        assert!(v.is_truncated());
        assert_eq!(v.payload().len(), 6);
        // Padding after the datagram is not payload.
        p[2..4].copy_from_slice(&22u16.to_be_bytes());
        let v = Ipv4Packet::new_checked(&p[..]).unwrap();
        assert!(!v.is_truncated());
        assert_eq!(v.payload().len(), 2);
        // Header cut, header length under 5 words, total under the header: refused.
        assert!(Ipv4Packet::new_checked(&p[..19]).is_err());
        p[0] = 0x44;
        assert!(Ipv4Packet::new_checked(&p[..]).is_err());
        p[0] = 0x46;
        p[2..4].copy_from_slice(&22u16.to_be_bytes());
        assert!(Ipv4Packet::new_checked(&p[..]).is_err());
    }

    #[test]
    fn quoted_headers_cut_anywhere() {
        let mut q = [0u8; 16];
        q[0] = 0x45;
        q[9] = 6;
        q[12..16].copy_from_slice(&[1, 2, 3, 4]);
        assert!(quoted_replace_addr(&mut q, field::SRC_ADDR, 0x0102_0304, 7));
        assert_eq!(&q[12..16], &[0, 0, 0, 7]);
        assert!(!quoted_replace_addr(&mut q, field::DST_ADDR, 0, 7));
        assert_eq!(quoted_l4(&q), Some((20, 6)));
        assert_eq!(quoted_l4(&q[..9]), None);
        assert_eq!(addrs_if_captured(&q), None);
    }
}
