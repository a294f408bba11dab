//! Rewriting an IPv4 frame outside the core: new addresses (any protocol), new TCP sequence and
//! acknowledgement numbers (SACK edges included), a new payload of another length. Used by the
//! ALG's what-if translation and the mode advisor, never on the forwarding fast path.
//!
//! When the payload is unchanged every checksum is updated incrementally (RFC 1624), which also
//! works on frames cut by the snap length. A new payload needs the whole, unfragmented packet:
//! the IPv4 total length, the UDP length and the checksums are then recomputed in full.

use super::checksum::Delta;
use super::ipv4::Ipv4Packet;
use super::tcp::{self, TcpPacket};
use super::udp::{self, UdpPacket};
use super::{Layout, LinkType, proto};

/// What to change in a frame.
#[derive(Default)]
pub struct Edit<'a> {
    /// New source address.
    pub src: Option<[u8; 4]>,
    /// New destination address.
    pub dst: Option<[u8; 4]>,
    /// New TCP sequence number.
    pub seq: Option<u32>,
    /// Maps the TCP acknowledgement number and the SACK block edges.
    pub ack: Option<&'a dyn Fn(u32) -> u32>,
    /// New L4 payload (the bytes after the TCP or UDP header).
    pub payload: Option<&'a [u8]>,
}

/// Why a frame could not be rewritten.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum RewriteError {
    /// Not IPv4, or the IPv4 header is cut short; or TCP numbers or a payload were to change
    /// and the frame has no whole TCP or UDP header.
    #[error("not an IPv4 TCP or UDP frame with whole headers")]
    NotTcpUdp,
    /// A new payload was asked for a fragment.
    #[error("the packet is an IPv4 fragment")]
    Fragment,
    /// A new payload was asked for a frame cut by the snap length.
    #[error("the frame was cut by the capture's snap length")]
    Truncated,
    /// The new packet would exceed 65535 bytes.
    #[error("the new packet would exceed 65535 bytes")]
    TooLong,
}

/// Where the parts of an IPv4 TCP/UDP frame are.
#[derive(Clone, Copy, Debug)]
struct Parts {
    l3: usize,
    l4: usize,
    payload: usize,
    /// End of the IP packet as its total length says (may exceed the captured frame).
    end: usize,
    proto: u8,
    first_fragment: bool,
    fragmented: bool,
    /// The TCP or UDP header is whole (first fragment, not cut short).
    l4_whole: bool,
}

/// The parts of `frame`, whose headers `lay` locates. The L4 header counts as whole when it
/// lies within the captured bytes (even past the IPv4 total length: a payload change then
/// reports the frame as cut).
fn parts(lay: Layout, frame: &[u8]) -> Result<Parts, RewriteError> {
    let (Some(l3), Some(ip)) = (lay.l3(), lay.ipv4(frame)) else {
        return Err(RewriteError::NotTcpUdp);
    };
    let l4 = l3 + ip.header_len();
    let first_fragment = ip.frag_offset() == 0;
    let rest = &frame[l4..];
    // The L4 header, when it is whole (TCP or UDP, first fragment).
    let hdr = match ip.protocol() {
        proto::TCP if first_fragment => TcpPacket::new_checked(rest).ok().map(|t| t.header_len()),
        proto::UDP if first_fragment => UdpPacket::new_checked(rest).ok().map(|_| udp::HEADER_LEN),
        _ => None,
    };
    Ok(Parts {
        l3,
        l4,
        payload: l4 + hdr.unwrap_or(0),
        end: l3 + ip.total_len(),
        proto: ip.protocol(),
        first_fragment,
        fragmented: !first_fragment || ip.more_frags(),
        l4_whole: hdr.is_some(),
    })
}

/// Rewrites `frame` as `edit` says into `out` (cleared first). The link header, VLAN tags and
/// any bytes after the IP packet (Ethernet padding) are kept.
pub fn rewrite(
    link: LinkType,
    frame: &[u8],
    edit: &Edit<'_>,
    out: &mut Vec<u8>,
) -> Result<(), RewriteError> {
    rewrite_with(Layout::parse(link, frame), frame, edit, out)
}

/// [`rewrite`] for a frame whose headers are already located: `lay` is the layout the
/// forwarding core handed back with its verdict (or [`Layout::parse`] of the frame).
pub fn rewrite_with(
    lay: Layout,
    frame: &[u8],
    edit: &Edit<'_>,
    out: &mut Vec<u8>,
) -> Result<(), RewriteError> {
    let lay = parts(lay, frame)?;
    let l4_edit = edit.payload.is_some() || edit.seq.is_some() || edit.ack.is_some();
    if l4_edit && !lay.l4_whole {
        return Err(if lay.fragmented {
            RewriteError::Fragment
        } else {
            RewriteError::NotTcpUdp
        });
    }
    out.clear();
    match edit.payload {
        None => {
            out.extend_from_slice(frame);
            rewrite_in_place(out, &lay, edit);
            Ok(())
        }
        Some(p) => {
            if lay.fragmented {
                return Err(RewriteError::Fragment);
            }
            if frame.len() < lay.end || lay.end < lay.payload {
                return Err(RewriteError::Truncated);
            }
            let total = lay.payload - lay.l3 + p.len();
            let total = u16::try_from(total).map_err(|_| RewriteError::TooLong)?;
            out.extend_from_slice(&frame[..lay.payload]);
            out.extend_from_slice(p);
            out.extend_from_slice(&frame[lay.end..]);
            let seg_end = lay.l3 + usize::from(total);
            let (head, seg) = out[..seg_end].split_at_mut(lay.l4);
            // The header was checked by `parts`; the new total length covers it.
            let mut ip = Ipv4Packet::new_unchecked(&mut head[lay.l3..]);
            ip.set_total_len(total);
            if let Some(s) = edit.src {
                ip.set_src_addr(u32::from_be_bytes(s));
            }
            if let Some(d) = edit.dst {
                ip.set_dst_addr(u32::from_be_bytes(d));
            }
            ip.fill_checksum();
            let (src, dst) = (ip.src_addr().to_be_bytes(), ip.dst_addr().to_be_bytes());
            if lay.proto == proto::TCP {
                // Whole header (`l4_whole`), followed by the new payload.
                let mut tcp = TcpPacket::new_unchecked(seg);
                if let Some(s) = edit.seq {
                    tcp.set_seq_number(s);
                }
                if let Some(f) = edit.ack {
                    tcp.set_ack_number(f(tcp.ack_number()));
                    for e in tcp.sack_edges() {
                        tcp.set_word32(e, f(tcp.word32(e)));
                    }
                }
                tcp.fill_checksum(src, dst);
            } else {
                let mut udp = UdpPacket::new_unchecked(seg);
                udp.set_len((seg_end - lay.l4) as u16);
                udp.fill_checksum(src, dst);
            }
            Ok(())
        }
    }
}

/// Address, sequence and acknowledgement changes with incremental checksum updates.
fn rewrite_in_place(out: &mut [u8], lay: &Parts, edit: &Edit<'_>) {
    let (head, seg) = out.split_at_mut(lay.l4);
    // The header was checked by `parts`.
    let mut ip = Ipv4Packet::new_unchecked(&mut head[lay.l3..]);
    let mut delta = Delta::ZERO;
    if let Some(s) = edit.src {
        let new = u32::from_be_bytes(s);
        delta = delta.addr32(ip.src_addr(), new);
        ip.set_src_addr(new);
    }
    if let Some(d) = edit.dst {
        let new = u32::from_be_bytes(d);
        delta = delta.addr32(ip.dst_addr(), new);
        ip.set_dst_addr(new);
    }
    ip.adjust_checksum(delta);
    let mut l4d = delta;
    if !lay.first_fragment || !matches!(lay.proto, proto::TCP | proto::UDP) {
        return;
    }
    if !lay.l4_whole {
        // Cut short: the pseudo-header's addresses still count in the checksum, if present.
        match lay.proto {
            proto::TCP => tcp::adjust_checksum(seg, l4d),
            _ => udp::adjust_checksum(seg, l4d),
        };
        return;
    }
    if lay.proto == proto::TCP {
        let mut tcp = TcpPacket::new_unchecked(seg);
        if let Some(s) = edit.seq {
            l4d = l4d.addr32(tcp.seq_number(), s);
            tcp.set_seq_number(s);
        }
        if let Some(f) = edit.ack {
            let old = tcp.ack_number();
            let new = f(old);
            l4d = l4d.addr32(old, new);
            tcp.set_ack_number(new);
            for e in tcp.sack_edges() {
                let old = tcp.word32(e);
                let new = f(old);
                l4d = l4d.addr32(old, new);
                tcp.set_word32(e, new);
            }
        }
        tcp.adjust_checksum(l4d);
    } else {
        UdpPacket::new_unchecked(seg).adjust_checksum(l4d);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::checksum;

    fn get32(b: &[u8], at: usize) -> u32 {
        u32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
    }

    /// A raw-IP TCP packet with valid checksums.
    fn tcp(payload: &[u8], sack: bool) -> Vec<u8> {
        let opt: &[u8] = if sack {
            &[1, 1, 5, 10, 0, 0, 0, 100, 0, 0, 0, 200]
        } else {
            &[]
        };
        let hdr = 20 + opt.len();
        let total = 20 + hdr + payload.len();
        let mut p = vec![0u8; total];
        p[0] = 0x45;
        p[2..4].copy_from_slice(&(total as u16).to_be_bytes());
        p[8] = 64;
        p[9] = 6;
        p[12..16].copy_from_slice(&[10, 0, 0, 1]);
        p[16..20].copy_from_slice(&[8, 8, 8, 8]);
        let c = checksum::checksum(&p[..20]);
        p[10..12].copy_from_slice(&c.to_be_bytes());
        p[20..22].copy_from_slice(&21u16.to_be_bytes());
        p[22..24].copy_from_slice(&40000u16.to_be_bytes());
        p[24..28].copy_from_slice(&1000u32.to_be_bytes());
        p[28..32].copy_from_slice(&5000u32.to_be_bytes());
        p[32] = ((hdr / 4) as u8) << 4;
        p[33] = 0x18;
        p[40..40 + opt.len()].copy_from_slice(opt);
        p[20 + hdr..].copy_from_slice(payload);
        let c = checksum::l4_checksum([10, 0, 0, 1], [8, 8, 8, 8], 6, &p[20..]);
        p[36..38].copy_from_slice(&c.to_be_bytes());
        p
    }

    fn valid(p: &[u8]) -> bool {
        let ihl = usize::from(p[0] & 15) * 4;
        let src = p[12..16].try_into().unwrap();
        let dst = p[16..20].try_into().unwrap();
        checksum::checksum(&p[..ihl]) == 0
            && checksum::l4_checksum(src, dst, p[9], &p[ihl..]) == 0
            && usize::from(u16::from_be_bytes([p[2], p[3]])) == p.len()
    }

    #[test]
    fn new_payload_recomputes_everything() {
        let f = tcp(b"PORT 10,0,0,1,4,1\r\n", false);
        let mut out = Vec::new();
        let map = |a: u32| a.wrapping_sub(3);
        let e = Edit {
            src: Some([47, 0, 0, 1]),
            seq: Some(1007),
            ack: Some(&map),
            payload: Some(b"PORT 47,0,0,1,4,1\r\n!!!!"),
            ..Default::default()
        };
        rewrite(LinkType::RawIp, &f, &e, &mut out).unwrap();
        assert!(valid(&out));
        assert_eq!(get32(&out, 24), 1007);
        assert_eq!(get32(&out, 28), 4997);
        assert!(out.ends_with(b"!!!!"));
    }

    #[test]
    fn incremental_seq_ack_and_sack() {
        let f = tcp(b"", true);
        let mut out = Vec::new();
        let map = |a: u32| a.wrapping_add(7);
        let e = Edit {
            seq: Some(900),
            ack: Some(&map),
            dst: Some([1, 2, 3, 4]),
            ..Default::default()
        };
        rewrite(LinkType::RawIp, &f, &e, &mut out).unwrap();
        assert!(valid(&out));
        assert_eq!(get32(&out, 24), 900);
        assert_eq!(get32(&out, 28), 5007);
        assert_eq!(get32(&out, 44), 107);
        assert_eq!(get32(&out, 48), 207);
    }

    #[test]
    fn payload_change_refused_on_cut_frames() {
        let f = tcp(b"hello world", false);
        let mut out = Vec::new();
        let e = Edit {
            payload: Some(b"x"),
            ..Default::default()
        };
        assert_eq!(
            rewrite(LinkType::RawIp, &f[..f.len() - 2], &e, &mut out),
            Err(RewriteError::Truncated)
        );
        assert_eq!(
            rewrite(LinkType::RawIp, &[0x45, 0, 0], &e, &mut out),
            Err(RewriteError::NotTcpUdp)
        );
    }

    #[test]
    fn addresses_of_any_protocol_and_cut_frames() {
        // ICMP echo: only the IPv4 header checksum covers the addresses.
        let mut p = tcp(b"", false);
        p[9] = 1;
        p[10..12].fill(0);
        let c = checksum::checksum(&p[..20]);
        p[10..12].copy_from_slice(&c.to_be_bytes());
        let mut out = Vec::new();
        let e = Edit {
            src: Some([47, 0, 0, 9]),
            ..Default::default()
        };
        rewrite(LinkType::RawIp, &p, &e, &mut out).unwrap();
        assert_eq!(&out[12..16], &[47, 0, 0, 9]);
        assert_eq!(checksum::checksum(&out[..20]), 0);
        assert_eq!(&out[20..], &p[20..]);
        // TCP cut inside its header: the address changes, TCP numbers cannot.
        let f = tcp(b"abc", false);
        rewrite(LinkType::RawIp, &f[..30], &e, &mut out).unwrap();
        assert_eq!(checksum::checksum(&out[..20]), 0);
        let s = Edit {
            seq: Some(1),
            ..Default::default()
        };
        assert_eq!(
            rewrite(LinkType::RawIp, &f[..30], &s, &mut out),
            Err(RewriteError::NotTcpUdp)
        );
    }
}
