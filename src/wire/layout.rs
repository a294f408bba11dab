//! Where the headers of a captured frame are: the offsets the forwarding core finds while it
//! parses a frame, handed back with its verdict so that later stages (the ALG, the report, the
//! advisor) read the frame without parsing it again.

use super::ipv4::Ipv4Packet;
use super::tcp::TcpPacket;
use super::udp::{self, UdpPacket};
use super::{LinkError, LinkType, ipv4_offset, proto};

/// Where the IPv4 header and the L4 header of a captured frame are, in two bytes (the
/// [`crate::dataplane::Verdict`] it travels in is copied per frame). The rest is read from the
/// frame, which the accessors take, so the core spends nothing on it per frame: the end of the
/// datagram within the captured bytes (the IPv4 total length or the end of the capture,
/// whichever comes first) and the L4 payload (after a whole TCP or UDP header of a first
/// fragment).
///
/// The accessors take the frame the layout was taken from (or that frame as the core rewrote
/// it in place: it moves no header). They check what they read against it, so another frame
/// gives `None` or other bytes, never a panic.
///
/// ```
/// use eipsim::wire::{Layout, LinkType, proto};
/// // A raw IPv4 TCP segment: 20-byte IPv4 header, 20-byte TCP header, payload "hi".
/// let mut f = vec![0u8; 42];
/// f[0] = 0x45;
/// f[2..4].copy_from_slice(&42u16.to_be_bytes());
/// f[9] = proto::TCP;
/// f[24..28].copy_from_slice(&7u32.to_be_bytes());
/// f[32] = 5 << 4;
/// f[40..].copy_from_slice(b"hi");
/// let lay = Layout::parse(LinkType::RawIp, &f);
/// assert_eq!((lay.l3(), lay.l4()), (Some(0), Some(20)));
/// assert_eq!((lay.payload_offset(&f), lay.end(&f)), (Some(40), Some(42)));
/// assert_eq!(lay.payload(&f), Some(&b"hi"[..]));
/// assert_eq!(lay.tcp_seq(&f), Some(7));
/// assert_eq!(lay.l4_payload(&f), Some((proto::TCP, Some(7), &b"hi"[..])));
/// assert!(Layout::parse(LinkType::RawIp, &f[..19]).is_none());
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Default)]
pub struct Layout {
    /// Offset of the IPv4 header (link headers are at most 30 bytes).
    l3: u8,
    /// Offset of the L4 header (at most 90); 0: the frame is not parseable IPv4
    /// ([`Layout::NONE`]).
    l4: u8,
}

/// The IPv4 header of a frame: its offset and a checked view of the datagram (version 4,
/// header captured, total length covering it), or why there is none.
#[inline(always)]
pub fn ipv4_packet(link: LinkType, frame: &[u8]) -> Result<(usize, Ipv4Packet<&[u8]>), LinkError> {
    let l3 = ipv4_offset(link, frame)?;
    let ip = frame
        .get(l3..)
        .and_then(|b| Ipv4Packet::new_checked(b).ok())
        .filter(|ip| ip.version() == 4)
        .ok_or(LinkError::Malformed)?;
    Ok((l3, ip))
}

/// The IPv4 view of a datagram, the captured L4 bytes of a TCP or UDP first fragment, and the
/// length of its header when whole.
struct Transport<'a> {
    protocol: u8,
    seg: &'a [u8],
    hdr: usize,
}

impl Layout {
    /// No layout: the frame did not parse as IPv4.
    pub const NONE: Layout = Layout { l3: 0, l4: 0 };

    /// A layout from its offsets: `l3 < l4 < 256` (a link header is at most 30 bytes, an IPv4
    /// header at most 60).
    #[inline(always)]
    pub(crate) fn new(l3: usize, l4: usize) -> Layout {
        debug_assert!(l3 < l4 && l4 <= usize::from(u8::MAX));
        Layout {
            l3: l3 as u8,
            l4: l4 as u8,
        }
    }

    /// Parses the link and IPv4 headers of `frame`, as the forwarding core does.
    pub fn parse(link: LinkType, frame: &[u8]) -> Layout {
        match ipv4_packet(link, frame) {
            Ok((l3, ip)) => Layout::new(l3, l3 + ip.header_len()),
            Err(_) => Layout::NONE,
        }
    }

    /// Whether the frame did not parse as IPv4.
    #[inline]
    pub fn is_none(self) -> bool {
        self.l4 == 0
    }

    /// Offset of the IPv4 header.
    #[inline]
    pub fn l3(self) -> Option<usize> {
        (!self.is_none()).then_some(usize::from(self.l3))
    }

    /// Offset of the L4 header (it may be cut short, or be a later fragment's data).
    #[inline]
    pub fn l4(self) -> Option<usize> {
        (!self.is_none()).then_some(usize::from(self.l4))
    }

    /// The IPv4 view of `frame` (the datagram from its header to the end of the capture).
    #[inline]
    pub fn ipv4(self, frame: &[u8]) -> Option<Ipv4Packet<&[u8]>> {
        let ip = Ipv4Packet::new_checked(frame.get(self.l3()?..)?).ok()?;
        (ip.version() == 4 && usize::from(self.l3) + ip.header_len() == usize::from(self.l4))
            .then_some(ip)
    }

    /// End of the datagram within the captured bytes: the IPv4 total length or the end of the
    /// capture, whichever comes first.
    #[inline]
    pub fn end(self, frame: &[u8]) -> Option<usize> {
        Some(usize::from(self.l3) + self.ipv4(frame)?.captured_len())
    }

    /// The captured L4 bytes (header and payload).
    #[inline]
    pub fn segment(self, frame: &[u8]) -> Option<&[u8]> {
        frame.get(self.l4()?..self.end(frame)?)
    }

    /// The captured L4 bytes of a TCP or UDP first fragment whose header lies whole within
    /// the captured datagram: one check of the frame for the accessors below.
    #[inline]
    fn transport(self, frame: &[u8]) -> Option<Transport<'_>> {
        let ip = self.ipv4(frame)?;
        if ip.frag_offset() != 0 {
            return None;
        }
        let seg = frame.get(usize::from(self.l4)..usize::from(self.l3) + ip.captured_len())?;
        let hdr = match ip.protocol() {
            proto::TCP => TcpPacket::new_checked(seg).ok()?.header_len(),
            proto::UDP => UdpPacket::new_checked(seg).ok().map(|_| udp::HEADER_LEN)?,
            _ => return None,
        };
        Some(Transport {
            protocol: ip.protocol(),
            seg,
            hdr,
        })
    }

    /// Offset of the L4 payload, when a whole TCP or UDP header of a first fragment precedes
    /// it within the captured datagram.
    #[inline]
    pub fn payload_offset(self, frame: &[u8]) -> Option<usize> {
        Some(usize::from(self.l4) + self.transport(frame)?.hdr)
    }

    /// The captured TCP or UDP payload (first fragments with a whole header only).
    #[inline]
    pub fn payload(self, frame: &[u8]) -> Option<&[u8]> {
        let t = self.transport(frame)?;
        Some(&t.seg[t.hdr..])
    }

    /// The TCP view of the segment, when it is TCP with a whole header.
    #[inline]
    pub fn tcp(self, frame: &[u8]) -> Option<TcpPacket<&[u8]>> {
        match self.transport(frame)? {
            Transport {
                protocol: proto::TCP,
                seg,
                ..
            } => Some(TcpPacket::new_unchecked(seg)),
            _ => None,
        }
    }

    /// The TCP sequence number, when the segment is TCP with a whole header.
    #[inline]
    pub fn tcp_seq(self, frame: &[u8]) -> Option<u32> {
        Some(self.tcp(frame)?.seq_number())
    }

    /// The same answer as [`super::l4_payload`] on the frame: the IP protocol, the TCP
    /// sequence number and the captured payload of a TCP or UDP first fragment with a whole
    /// header.
    pub fn l4_payload(self, frame: &[u8]) -> Option<(u8, Option<u32>, &[u8])> {
        let Transport { protocol, seg, hdr } = self.transport(frame)?;
        let seq = (protocol == proto::TCP).then(|| TcpPacket::new_unchecked(seg).seq_number());
        Some((protocol, seq, &seg[hdr..]))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cut_and_fragmented_frames() {
        // Ethernet, IPv4 with options (24 bytes), UDP header cut after 6 bytes.
        let mut f = vec![0u8; 14 + 24 + 6];
        f[12..14].copy_from_slice(&[0x08, 0x00]);
        f[14] = 0x46;
        f[16..18].copy_from_slice(&100u16.to_be_bytes());
        f[23] = proto::UDP;
        let lay = Layout::parse(LinkType::Ethernet, &f);
        assert_eq!(
            (lay.l3(), lay.l4(), lay.payload_offset(&f)),
            (Some(14), Some(38), None)
        );
        assert_eq!(lay.segment(&f).map(<[u8]>::len), Some(6));
        assert_eq!(lay.l4_payload(&f), None);
        // Two more bytes: the header is whole, the payload empty (cut by the snap length).
        f.extend_from_slice(&[0, 0]);
        let lay = Layout::parse(LinkType::Ethernet, &f);
        assert_eq!(lay.l4_payload(&f), Some((proto::UDP, None, &[][..])));
        // A later fragment has no L4 header.
        f[20] = 1;
        assert_eq!(
            Layout::parse(LinkType::Ethernet, &f).payload_offset(&f),
            None
        );
        // Another frame: no panic, no answer.
        assert_eq!(lay.l4_payload(&f[..20]), None);
        assert_eq!(Layout::NONE.payload(&f), None);
        assert_eq!(Layout::default(), Layout::NONE);
    }
}
