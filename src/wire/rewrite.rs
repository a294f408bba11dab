//! Rewriting an IPv4 frame outside the core: new addresses (any protocol), new TCP sequence and
//! acknowledgement numbers (SACK edges included), a new payload of another length. Used by the
//! ALG's what-if translation and the mode advisor, never on the forwarding fast path.
//!
//! When the payload is unchanged every checksum is updated incrementally (RFC 1624), which also
//! works on frames cut by the snap length. A new payload needs the whole, unfragmented packet:
//! the IPv4 total length, the UDP length and the checksums are then recomputed in full.

use super::checksum::{self, Delta};
use super::{LinkType, TCP_CHECKSUM_AT, UDP_CHECKSUM_AT, ipv4_offset, proto};

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
struct Layout {
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

fn layout(link: LinkType, frame: &[u8]) -> Result<Layout, RewriteError> {
    let l3 = ipv4_offset(link, frame).map_err(|_| RewriteError::NotTcpUdp)?;
    let ip = frame.get(l3..).ok_or(RewriteError::NotTcpUdp)?;
    if ip.len() < 20 || ip[0] >> 4 != 4 {
        return Err(RewriteError::NotTcpUdp);
    }
    let ihl = usize::from(ip[0] & 0x0f) * 4;
    let total = usize::from(u16::from_be_bytes([ip[2], ip[3]]));
    if ihl < 20 || ip.len() < ihl || total < ihl {
        return Err(RewriteError::NotTcpUdp);
    }
    let frag = u16::from_be_bytes([ip[6], ip[7]]);
    let offset = frag & 0x1fff;
    let more = frag & 0x2000 != 0;
    let proto = ip[9];
    let l4 = l3 + ihl;
    // The L4 header, when it is whole (TCP or UDP, first fragment).
    let hdr = match proto {
        proto::TCP if offset == 0 => frame
            .get(l4 + 12)
            .map(|b| usize::from(b >> 4) * 4)
            .filter(|&off| off >= 20 && frame.len() >= l4 + off),
        proto::UDP if offset == 0 => (frame.len() >= l4 + 8).then_some(8),
        _ => None,
    };
    Ok(Layout {
        l3,
        l4,
        payload: l4 + hdr.unwrap_or(0),
        end: l3 + total,
        proto,
        first_fragment: offset == 0,
        fragmented: offset != 0 || more,
        l4_whole: hdr.is_some(),
    })
}

fn get32(b: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

fn put32(b: &mut [u8], at: usize, v: u32) {
    b[at..at + 4].copy_from_slice(&v.to_be_bytes());
}

/// The positions of the SACK block edges in a TCP header at `l4` (RFC 2018, option 5).
fn sack_edges(frame: &[u8], l4: usize, hdr_len: usize) -> Vec<usize> {
    let mut out = Vec::new();
    let mut i = l4 + 20;
    let end = l4 + hdr_len;
    while i < end {
        match frame[i] {
            0 => break,
            1 => i += 1,
            kind => {
                let Some(&len) = frame.get(i + 1) else { break };
                let len = usize::from(len);
                if len < 2 || i + len > end {
                    break;
                }
                if kind == 5 {
                    let mut e = i + 2;
                    while e + 4 <= i + len {
                        out.push(e);
                        e += 4;
                    }
                }
                i += len;
            }
        }
    }
    out
}

/// Rewrites `frame` as `edit` says into `out` (cleared first). The link header, VLAN tags and
/// any bytes after the IP packet (Ethernet padding) are kept.
pub fn rewrite(
    link: LinkType,
    frame: &[u8],
    edit: &Edit<'_>,
    out: &mut Vec<u8>,
) -> Result<(), RewriteError> {
    let lay = layout(link, frame)?;
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
            let (l3, l4) = (lay.l3, lay.l4);
            out[l3 + 2..l3 + 4].copy_from_slice(&total.to_be_bytes());
            if let Some(s) = edit.src {
                out[l3 + 12..l3 + 16].copy_from_slice(&s);
            }
            if let Some(d) = edit.dst {
                out[l3 + 16..l3 + 20].copy_from_slice(&d);
            }
            out[l3 + 10..l3 + 12].fill(0);
            let c = checksum::checksum(&out[l3..l4]);
            out[l3 + 10..l3 + 12].copy_from_slice(&c.to_be_bytes());
            let seg_end = l3 + usize::from(total);
            let src: [u8; 4] = out[l3 + 12..l3 + 16].try_into().expect("4 bytes");
            let dst: [u8; 4] = out[l3 + 16..l3 + 20].try_into().expect("4 bytes");
            if lay.proto == proto::TCP {
                if let Some(s) = edit.seq {
                    put32(out, l4 + 4, s);
                }
                if let Some(f) = edit.ack {
                    let a = get32(out, l4 + 8);
                    put32(out, l4 + 8, f(a));
                    for e in sack_edges(out, l4, lay.payload - l4) {
                        let v = get32(out, e);
                        put32(out, e, f(v));
                    }
                }
                out[l4 + TCP_CHECKSUM_AT..l4 + TCP_CHECKSUM_AT + 2].fill(0);
                let c = checksum::l4_checksum(src, dst, proto::TCP, &out[l4..seg_end]);
                out[l4 + TCP_CHECKSUM_AT..l4 + TCP_CHECKSUM_AT + 2]
                    .copy_from_slice(&c.to_be_bytes());
            } else {
                let udp_len = (seg_end - l4) as u16;
                out[l4 + 4..l4 + 6].copy_from_slice(&udp_len.to_be_bytes());
                let had = u16::from_be_bytes([out[l4 + 6], out[l4 + 7]]) != 0;
                out[l4 + UDP_CHECKSUM_AT..l4 + UDP_CHECKSUM_AT + 2].fill(0);
                if had {
                    let mut c = checksum::l4_checksum(src, dst, proto::UDP, &out[l4..seg_end]);
                    if c == 0 {
                        c = 0xffff;
                    }
                    out[l4 + UDP_CHECKSUM_AT..l4 + UDP_CHECKSUM_AT + 2]
                        .copy_from_slice(&c.to_be_bytes());
                }
            }
            Ok(())
        }
    }
}

/// Address, sequence and acknowledgement changes with incremental checksum updates.
fn rewrite_in_place(out: &mut [u8], lay: &Layout, edit: &Edit<'_>) {
    let (l3, l4) = (lay.l3, lay.l4);
    let mut ip = Delta::ZERO;
    let mut l4d = Delta::ZERO;
    if let Some(s) = edit.src {
        let old = get32(out, l3 + 12);
        ip = ip.addr32(old, u32::from_be_bytes(s));
        out[l3 + 12..l3 + 16].copy_from_slice(&s);
    }
    if let Some(d) = edit.dst {
        let old = get32(out, l3 + 16);
        ip = ip.addr32(old, u32::from_be_bytes(d));
        out[l3 + 16..l3 + 20].copy_from_slice(&d);
    }
    l4d = l4d.plus(ip);
    checksum::apply_at(out, l3 + 10, ip);
    if !lay.first_fragment || !matches!(lay.proto, proto::TCP | proto::UDP) {
        return;
    }
    if !lay.l4_whole {
        // Cut short: the pseudo-header's addresses still count in the checksum, if present.
        match lay.proto {
            proto::TCP => checksum::apply_at(out, l4 + TCP_CHECKSUM_AT, l4d),
            _ => checksum::apply_udp_at(out, l4 + UDP_CHECKSUM_AT, l4d),
        };
        return;
    }
    if lay.proto == proto::TCP {
        if let Some(s) = edit.seq {
            let old = get32(out, l4 + 4);
            l4d = l4d.addr32(old, s);
            put32(out, l4 + 4, s);
        }
        if let Some(f) = edit.ack {
            let edges = sack_edges(out, l4, lay.payload - l4);
            for e in std::iter::once(l4 + 8).chain(edges) {
                let old = get32(out, e);
                let new = f(old);
                l4d = l4d.addr32(old, new);
                put32(out, e, new);
            }
        }
        checksum::apply_at(out, l4 + TCP_CHECKSUM_AT, l4d);
    } else {
        checksum::apply_udp_at(out, l4 + UDP_CHECKSUM_AT, l4d);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
