//! Internet checksums: full computation (RFC 1071) and incremental update (RFC 1624, eqn. 3).

/// Folds a 32-bit one's-complement accumulator to 16 bits.
#[inline]
pub fn fold(mut sum: u32) -> u16 {
    sum = (sum & 0xffff) + (sum >> 16);
    sum = (sum & 0xffff) + (sum >> 16);
    sum as u16
}

/// One's-complement sum of `data` as big-endian 16-bit words (odd tail padded with zero), added to
/// `initial`. Returns an unfolded accumulator.
pub fn sum_bytes(initial: u32, data: &[u8]) -> u32 {
    let mut sum = u64::from(initial);
    let mut chunks = data.chunks_exact(2);
    for c in &mut chunks {
        sum += u64::from(u16::from_be_bytes([c[0], c[1]]));
    }
    if let [last] = chunks.remainder() {
        sum += u64::from(*last) << 8;
    }
    while sum >> 32 != 0 {
        sum = (sum & 0xffff_ffff) + (sum >> 32);
    }
    sum as u32
}

/// The Internet checksum of `data` (the value to store in a zeroed checksum field).
pub fn checksum(data: &[u8]) -> u16 {
    !fold(sum_bytes(0, data))
}

/// The pseudo-header sum for TCP/UDP over IPv4.
pub fn pseudo_header_sum(src: [u8; 4], dst: [u8; 4], proto: u8, len: u16) -> u32 {
    u32::from(u16::from_be_bytes([src[0], src[1]]))
        + u32::from(u16::from_be_bytes([src[2], src[3]]))
        + u32::from(u16::from_be_bytes([dst[0], dst[1]]))
        + u32::from(u16::from_be_bytes([dst[2], dst[3]]))
        + u32::from(proto)
        + u32::from(len)
}

/// Full TCP/UDP checksum over IPv4 (`segment` with its checksum field as it is; the caller
/// zeroes it first when computing, or keeps it when verifying: a valid segment then gives 0).
pub fn l4_checksum(src: [u8; 4], dst: [u8; 4], proto: u8, segment: &[u8]) -> u16 {
    let len = segment.len() as u16;
    !fold(sum_bytes(pseudo_header_sum(src, dst, proto, len), segment))
}

/// A pending incremental checksum change: the sum of `~old + new` over every changed 16-bit word
/// (RFC 1624 eqn. 3), applied to one or more checksum fields. The sum is kept unfolded (a `u32`
/// holds thousands of words) and folded once, when applied.
#[derive(Clone, Copy, Default, Debug, PartialEq, Eq)]
pub struct Delta(u32);

impl Delta {
    /// No change.
    pub const ZERO: Delta = Delta(0);

    /// Records a 16-bit word changing from `old` to `new`.
    #[inline]
    pub fn word(self, old: u16, new: u16) -> Delta {
        Delta(self.0 + u32::from(!old) + u32::from(new))
    }

    /// Records a 32-bit field (an IPv4 address, host order) changing from `old` to `new`.
    #[inline]
    pub fn addr32(self, old: u32, new: u32) -> Delta {
        Delta(self.0 + ((!old) >> 16) + ((!old) & 0xffff) + (new >> 16) + (new & 0xffff))
    }

    /// Records a 32-bit field (an IPv4 address) changing from `old` to `new`.
    #[inline]
    pub fn addr(self, old: [u8; 4], new: [u8; 4]) -> Delta {
        self.addr32(u32::from_be_bytes(old), u32::from_be_bytes(new))
    }

    /// Combines two deltas.
    #[inline]
    pub fn plus(self, other: Delta) -> Delta {
        Delta(self.0 + other.0)
    }

    /// Applies the change to checksum `hc`: HC' = ~(~HC + sum(~m + m')).
    #[inline]
    pub fn apply(self, hc: u16) -> u16 {
        let s = u64::from(!hc) + u64::from(self.0);
        let s = (s & 0xffff) + (s >> 16);
        let s = (s & 0xffff) + (s >> 16);
        !(((s & 0xffff) + (s >> 16)) as u16)
    }
}

/// Applies `delta` to the big-endian checksum field at `buf[at..at + 2]`, returning the old and
/// new field values (for an enclosing checksum that covers this field). Does nothing and returns
/// `None` when the field is not wholly inside `buf`.
#[inline]
pub fn apply_at(buf: &mut [u8], at: usize, delta: Delta) -> Option<(u16, u16)> {
    let field = buf.get_mut(at..at + 2)?;
    let old = u16::from_be_bytes([field[0], field[1]]);
    let new = delta.apply(old);
    field.copy_from_slice(&new.to_be_bytes());
    Some((old, new))
}

/// Like [`apply_at`] for a UDP checksum: 0 means "no checksum" and stays 0; a result of 0 is sent
/// as 0xffff (RFC 768).
#[inline]
pub fn apply_udp_at(buf: &mut [u8], at: usize, delta: Delta) -> Option<(u16, u16)> {
    let field = buf.get_mut(at..at + 2)?;
    let old = u16::from_be_bytes([field[0], field[1]]);
    if old == 0 {
        return Some((0, 0));
    }
    let mut new = delta.apply(old);
    if new == 0 {
        new = 0xffff;
    }
    field.copy_from_slice(&new.to_be_bytes());
    Some((old, new))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc1071_example() {
        // RFC 1071 section 3: the words 0001 f203 f4f5 f6f7 sum to ddf2 (checksum 220d).
        let data = [0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7];
        assert_eq!(fold(sum_bytes(0, &data)), 0xddf2);
        assert_eq!(checksum(&data), 0x220d);
    }

    #[test]
    fn incremental_equals_full() {
        let mut data = [
            0x45u8, 0, 0, 0x54, 0x12, 0x34, 0x40, 0, 0x40, 1, 0, 0, 10, 0, 0, 1, 8, 8, 8, 8,
        ];
        let c = checksum(&data);
        data[10..12].copy_from_slice(&c.to_be_bytes());
        let old = [10, 0, 0, 1];
        let new = [47, 0, 0, 9];
        data[12..16].copy_from_slice(&new);
        let d = Delta::ZERO.addr(old, new).word(0x4001, 0x3f01);
        data[8] = 0x3f;
        apply_at(&mut data, 10, d).unwrap();
        assert_eq!(checksum(&data), 0);
    }

    #[test]
    fn udp_zero_stays_zero() {
        let mut b = [0u8, 0];
        apply_udp_at(&mut b, 0, Delta::ZERO.word(1, 2)).unwrap();
        assert_eq!(b, [0, 0]);
    }
}
