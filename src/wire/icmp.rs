//! A zero-copy view of an ICMPv4 message.
//!
//! [`IcmpPacket::check_len`] is the one length check: the 8-byte header is captured (as
//! smoltcp's). The message body may be cut anywhere: an error's quoted packet is read and
//! rewritten with the `quoted_*` functions of [`super::ipv4`]. The identifier of a query is
//! read by [`query_id`] from a message cut anywhere, as the forwarding core does when the
//! capture holds the identifier but not the whole header (smoltcp's view refuses it).

use super::HeaderError;
use super::checksum::{self, Delta};

/// The fields of the ICMP header (RFC 792): byte ranges from the start of the message.
pub mod field {
    use std::ops::Range;

    /// Message type.
    pub const TYPE: usize = 0;
    /// Message code.
    pub const CODE: usize = 1;
    /// Checksum over the whole message.
    pub const CHECKSUM: Range<usize> = 2..4;
    /// Queries: the identifier.
    pub const IDENT: Range<usize> = 4..6;
    /// Queries: the sequence number.
    pub const SEQ_NO: Range<usize> = 6..8;
    /// Errors: the quoted packet starts here.
    pub const QUOTED: usize = 8;
}

/// Length of the header.
pub const HEADER_LEN: usize = field::QUOTED;

/// Whether an ICMP type is an error message that quotes the offending packet (RFC 5508 sec. 4):
/// destination unreachable, source quench, redirect, time exceeded, parameter problem.
#[inline]
pub fn is_error(icmp_type: u8) -> bool {
    matches!(icmp_type, 3 | 4 | 5 | 11 | 12)
}

/// Whether an ICMP type is a query that carries an identifier ([`field::IDENT`]).
#[inline]
pub fn has_identifier(icmp_type: u8) -> bool {
    matches!(icmp_type, 0 | 8 | 13 | 14 | 15 | 16 | 17 | 18)
}

/// The identifier of an ICMP query cut anywhere: `None` when the message is no query or the
/// identifier was not captured.
#[inline]
pub fn query_id(msg: &[u8]) -> Option<u16> {
    let id = msg.get(field::IDENT)?;
    has_identifier(msg[field::TYPE]).then(|| u16::from_be_bytes([id[0], id[1]]))
}

/// Whether a message cut anywhere is an error (its type was captured and is one).
#[inline]
pub fn is_error_message(msg: &[u8]) -> bool {
    msg.get(field::TYPE).is_some_and(|t| is_error(*t))
}

/// The packet an ICMP error message cut anywhere quotes, as far as it identifies a flow: IP
/// protocol, source and destination addresses (host order) and the ports (TCP, UDP: from its
/// first 4 bytes; an ICMP query: the identifier twice, as [`query_id`] keys queries; others:
/// 0). `None` when the message is no error, the quoted header is not a first fragment of
/// IPv4, or the fields were not captured.
pub fn quoted_flow(msg: &[u8]) -> Option<(u8, u32, u32, u16, u16)> {
    if !is_error_message(msg) {
        return None;
    }
    let ip = msg.get(field::QUOTED..)?;
    let (hl, protocol) = super::ipv4::quoted_l4(ip)?;
    let addr = |r: std::ops::Range<usize>| {
        ip.get(r)
            .map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    };
    let src = addr(super::ipv4::field::SRC_ADDR)?;
    let dst = addr(super::ipv4::field::DST_ADDR)?;
    let l4 = ip.get(hl..).unwrap_or_default();
    let (sport, dport) = match protocol {
        super::proto::TCP | super::proto::UDP => super::l4_ports(l4)?,
        super::proto::ICMP => query_id(l4).map_or((0, 0), |id| (id, id)),
        _ => (0, 0),
    };
    Some((protocol, src, dst, sport, dport))
}

/// A view of an ICMP message (header first, body possibly cut short).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IcmpPacket<T> {
    buffer: T,
}

impl<T: AsRef<[u8]>> IcmpPacket<T> {
    /// A view without any check: call [`IcmpPacket::check_len`] before the accessors.
    #[inline]
    pub const fn new_unchecked(buffer: T) -> IcmpPacket<T> {
        IcmpPacket { buffer }
    }

    /// [`IcmpPacket::new_unchecked`] then [`IcmpPacket::check_len`].
    #[inline]
    pub fn new_checked(buffer: T) -> Result<IcmpPacket<T>, HeaderError> {
        let p = IcmpPacket::new_unchecked(buffer);
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

    /// The message type.
    #[inline]
    pub fn msg_type(&self) -> u8 {
        self.fixed()[field::TYPE]
    }

    /// The message code.
    #[inline]
    pub fn msg_code(&self) -> u8 {
        self.fixed()[field::CODE]
    }

    /// The checksum field.
    #[inline]
    pub fn checksum(&self) -> u16 {
        let f = self.fixed();
        u16::from_be_bytes([f[2], f[3]])
    }

    /// The identifier field (meaningful for queries).
    #[inline]
    pub fn ident(&self) -> u16 {
        let f = self.fixed();
        u16::from_be_bytes([f[4], f[5]])
    }

    /// The captured body: an error's quoted packet.
    #[inline]
    pub fn data(&self) -> &[u8] {
        &self.buffer.as_ref()[HEADER_LEN..]
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> IcmpPacket<T> {
    /// The captured body, writable.
    #[inline]
    pub fn data_mut(&mut self) -> &mut [u8] {
        &mut self.buffer.as_mut()[HEADER_LEN..]
    }

    /// Applies an incremental change to the checksum (RFC 1624).
    #[inline]
    pub fn adjust_checksum(&mut self, delta: Delta) {
        let f: &mut [u8; HEADER_LEN] = (&mut self.buffer.as_mut()[..HEADER_LEN])
            .try_into()
            .expect("check_len: the header is captured");
        checksum::apply_at(f, field::CHECKSUM.start, delta);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_agree_with_smoltcp() {
        let m = [8u8, 0, 0x12, 0x34, 0xab, 0xcd, 0, 1, b'x'];
        let o = smoltcp::wire::Icmpv4Packet::new_checked(&m[..]).unwrap();
        let v = IcmpPacket::new_checked(&m[..]).unwrap();
        assert_eq!(v.msg_type(), u8::from(o.msg_type()));
        assert_eq!(v.msg_code(), o.msg_code());
        assert_eq!(v.checksum(), o.checksum());
        assert_eq!(v.ident(), o.echo_ident());
        assert_eq!(v.data(), o.data());
        // Cut after the identifier: smoltcp refuses it, the identifier is still read.
        assert!(smoltcp::wire::Icmpv4Packet::new_checked(&m[..6]).is_err());
        assert_eq!(query_id(&m[..6]), Some(0xabcd));
        assert_eq!(query_id(&m[..5]), None);
        assert!(IcmpPacket::new_checked(&m[..7]).is_err());
        assert!(!is_error_message(&m));
        assert!(is_error_message(&[11]));
    }
}
