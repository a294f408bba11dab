//! Reading a frame's headers and applying a forwarding plan to it in place, through the views
//! of [`crate::wire`]: addresses, TTL, the IPv4, L4 and ICMP checksums (RFC 1624), and the
//! quoted packet of ICMP errors (RFC 5508).

use super::{Fragment, Parsed, Plan};
#[cfg(debug_assertions)]
use crate::wire::checksum;
use crate::wire::checksum::Delta;
use crate::wire::icmp::{self, IcmpPacket};
use crate::wire::ipv4::{self, Ipv4Packet};
use crate::wire::{self, Layout, LinkError, LinkType, proto, tcp, udp};

/// Parses the link and IPv4 headers and the ports (or ICMP query identifier).
#[inline(always)]
pub(super) fn parse(link: LinkType, frame: &[u8]) -> Result<Parsed, LinkError> {
    let (l3, ip) = wire::ipv4_packet(link, frame)?;
    let ihl = ip.header_len();
    let end = l3 + ip.captured_len();
    let first_fragment = ip.frag_offset() == 0;
    let more = ip.more_frags();
    let fragment = match (first_fragment, more) {
        (true, false) => Fragment::Whole,
        (true, true) => Fragment::First(ip.ident()),
        _ => Fragment::Later(ip.ident()),
    };
    let whole = first_fragment && !more && !ip.is_truncated();
    let proto = ip.protocol();
    let l4 = ip.payload();
    let ports = if !first_fragment {
        None
    } else {
        match proto {
            // Both put their ports in their first four bytes: one arm, as before the views.
            proto::TCP | proto::UDP => wire::l4_ports(l4),
            proto::ICMP => icmp::query_id(l4).map(|id| (id, id)),
            _ => None,
        }
    };
    let (sport, dport) = ports.unwrap_or((0, 0));
    Ok(Parsed {
        l3,
        ihl,
        end,
        ttl: ip.ttl(),
        proto,
        src: ip.src_addr(),
        dst: ip.dst_addr(),
        first_fragment,
        fragment,
        whole,
        sport,
        dport,
        layout: Layout::new(l3, l3 + ihl),
    })
}

/// Applies a plan to the frame: addresses, TTL, IPv4 / L4 / ICMP checksums (RFC 1624), and the
/// quoted packet of ICMP errors (RFC 5508).
#[inline(always)]
pub(super) fn apply(frame: &mut [u8], p: &Parsed, plan: &Plan) {
    let translated = plan.new_src.is_some() || plan.new_dst.is_some();
    if !translated && !plan.dec_ttl && !plan.inc_ttl {
        return;
    }
    #[cfg(debug_assertions)]
    let before = checks(frame, p);

    // `parse` checked the header. A view over its fixed 20 bytes, as an array: one bounds
    // check here, none in the accessors.
    let fixed: &mut [u8; ipv4::HEADER_LEN] = (&mut frame[p.l3..p.l3 + ipv4::HEADER_LEN])
        .try_into()
        .expect("parse checked the header is present");
    let mut ip = Ipv4Packet::new_unchecked(fixed);
    let mut addr_delta = Delta::ZERO;
    if let Some(s) = plan.new_src {
        ip.set_src_addr(s);
        addr_delta = addr_delta.addr32(p.src, s);
    }
    if let Some(d) = plan.new_dst {
        ip.set_dst_addr(d);
        addr_delta = addr_delta.addr32(p.dst, d);
    }
    let mut ip_delta = addr_delta;
    // The TTL shares its checksum word with the protocol.
    let old = u16::from_be_bytes([p.ttl, p.proto]);
    if plan.dec_ttl {
        ip.set_ttl(p.ttl - 1);
        ip_delta = ip_delta.word(old, old - 0x0100);
    } else if plan.inc_ttl {
        ip.set_ttl(p.ttl + 1);
        ip_delta = ip_delta.word(old, old + 0x0100);
    }
    ip.adjust_checksum(ip_delta);
    if p.first_fragment && translated {
        // The L4 header may be cut anywhere: each checksum is updated if it was captured.
        let seg = &mut frame[p.l3 + p.ihl..p.end];
        match p.proto {
            proto::TCP => {
                tcp::adjust_checksum(seg, addr_delta);
            }
            proto::UDP => {
                udp::adjust_checksum(seg, addr_delta);
            }
            proto::ICMP if icmp::is_error_message(seg) => {
                translate_icmp_error(seg, (p.src, p.dst), (plan.new_src, plan.new_dst));
            }
            _ => {}
        }
    }

    #[cfg(debug_assertions)]
    {
        let after = checks(frame, p);
        for (b, a) in before.iter().zip(after.iter()) {
            if *b == Some(true) {
                debug_assert_eq!(
                    *a,
                    Some(true),
                    "incremental checksum differs from a full recomputation"
                );
            }
        }
    }
}

/// RFC 5508: an ICMP error's quoted packet travelled the other way, so the quoted source is the
/// outer destination before DNAT and the quoted destination the outer source before SNAT.
/// `old` is the outer (source, destination) as received, `new` what the plan changes them to.
/// Out of line and by value: the common path then keeps its parse and plan in registers.
#[inline(never)]
pub(super) fn translate_icmp_error(
    icmp: &mut [u8],
    old: (u32, u32),
    new: (Option<u32>, Option<u32>),
) {
    let (p_src, p_dst) = old;
    let (new_src, new_dst) = new;
    // Under 8 bytes nothing is quoted.
    let Ok(mut msg) = IcmpPacket::new_checked(icmp) else {
        return;
    };
    // The quoted packet, cut anywhere.
    let quoted = msg.data_mut();
    let mut inner_delta = Delta::ZERO;
    let mut changed = false;
    if let Some(d) = new_dst
        && ipv4::quoted_replace_addr(quoted, ipv4::field::SRC_ADDR, p_dst, d)
    {
        inner_delta = inner_delta.addr32(p_dst, d);
        changed = true;
    }
    if let Some(s) = new_src
        && ipv4::quoted_replace_addr(quoted, ipv4::field::DST_ADDR, p_src, s)
    {
        inner_delta = inner_delta.addr32(p_src, s);
        changed = true;
    }
    if !changed {
        return;
    }
    // The changed address words are inside the ICMP message too.
    let mut icmp_delta = inner_delta;
    if let Some((o, n)) = ipv4::quoted_adjust_checksum(quoted, inner_delta) {
        icmp_delta = icmp_delta.word(o, n);
    }
    // The quoted L4 checksum, when the quoted packet is a first fragment and the field is there.
    if let Some((hl, inner_proto)) = ipv4::quoted_l4(quoted) {
        let l4 = quoted.get_mut(hl..).unwrap_or_default();
        let changed = match inner_proto {
            proto::TCP => tcp::adjust_checksum(l4, inner_delta),
            proto::UDP => udp::adjust_checksum(l4, inner_delta),
            _ => None,
        };
        if let Some((o, n)) = changed {
            icmp_delta = icmp_delta.word(o, n);
        }
    }
    msg.adjust_checksum(icmp_delta);
}

/// Debug builds: which checksums of the frame verify (IPv4 header, L4 when whole).
#[cfg(debug_assertions)]
pub(super) fn checks(frame: &[u8], p: &Parsed) -> [Option<bool>; 2] {
    let ip = Ipv4Packet::new_unchecked(&frame[p.l3..p.end]);
    let ip_ok = Some(ip.verify_checksum());
    let l4_ok = if p.whole {
        let seg = ip.payload();
        let (src, dst) = (ip.src_addr().to_be_bytes(), ip.dst_addr().to_be_bytes());
        match p.proto {
            proto::TCP if seg.len() >= tcp::HEADER_LEN => {
                Some(checksum::l4_checksum(src, dst, p.proto, seg) == 0)
            }
            proto::UDP if seg.len() >= udp::HEADER_LEN => {
                if udp::UdpPacket::new_unchecked(seg).checksum() == 0 {
                    None
                } else {
                    Some(checksum::l4_checksum(src, dst, p.proto, seg) == 0)
                }
            }
            proto::ICMP if seg.len() >= icmp::field::CHECKSUM.end => {
                Some(checksum::checksum(seg) == 0)
            }
            _ => None,
        }
    } else {
        None
    };
    [ip_ok, l4_ok]
}
