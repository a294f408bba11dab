//! Framing between the capture's link types and the guests' Ethernet: a captured frame's IPv4
//! packet re-framed as the untagged Ethernet II frame a guest NIC receives, and a guest's
//! Ethernet frame written back in the capture's link type.

use smoltcp::wire::{EthernetAddress, EthernetFrame, EthernetProtocol, EthernetRepr};

use crate::wire::LinkType;
use crate::wire::link::ethernet;

/// Length of a Linux cooked capture v1 header.
pub const SLL_LEN: usize = 16;
/// Length of a Linux cooked capture v2 header.
pub const SLL2_LEN: usize = 20;
/// Length of a BSD null/loop header.
pub const NULL_LEN: usize = 4;
/// ARPHRD_ETHER, the link-layer address type written in Linux cooked headers.
const ARPHRD_ETHER: u16 = 1;
/// AF_INET, the address family written in BSD null/loop headers.
const AF_INET: u32 = 2;
/// The smallest IPv4 header.
const IPV4_MIN_LEN: usize = 20;

/// The IPv4 packet of `frame` (of link type `link`), re-framed as an untagged Ethernet II frame
/// from `src_mac` to `dst_mac` into `out` (cleared first). None when the frame carries no IPv4
/// packet (`crate::wire::ipv4_offset` fails, or no byte follows the link header). The IPv4 packet is copied as its total-length
/// field says when the frame holds that many bytes (dropping link padding and trailers), else
/// as present (a cut frame, or a total length under 20 as segmentation offload writes).
pub fn to_ethernet(
    link: LinkType,
    frame: &[u8],
    src_mac: [u8; 6],
    dst_mac: [u8; 6],
    out: &mut Vec<u8>,
) -> Option<()> {
    out.clear();
    let off = crate::wire::ipv4_offset(link, frame).ok()?;
    let ip = frame.get(off..).filter(|ip| !ip.is_empty())?;
    let total = match ip.get(2..4) {
        Some(len) => usize::from(u16::from_be_bytes([len[0], len[1]])),
        None => ip.len(),
    };
    let ip = if (IPV4_MIN_LEN..=ip.len()).contains(&total) {
        &ip[..total]
    } else {
        ip
    };
    out.resize(ethernet::HEADER_LEN, 0);
    EthernetRepr {
        src_addr: EthernetAddress(src_mac),
        dst_addr: EthernetAddress(dst_mac),
        ethertype: EthernetProtocol::Ipv4,
    }
    .emit(&mut EthernetFrame::new_unchecked(&mut out[..]));
    out.extend_from_slice(ip);
    Some(())
}

/// Which way a frame goes, for the link headers that say it (Linux SLL packet type).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Way {
    /// To the capturing host (PACKET_HOST, packet type 0).
    ToHost,
    /// Sent by the capturing host (PACKET_OUTGOING, packet type 4).
    FromHost,
}

impl Way {
    /// The Linux SLL packet type of this way.
    pub fn packet_type(self) -> u8 {
        match self {
            Way::ToHost => 0,
            Way::FromHost => 4,
        }
    }
}

/// An untagged Ethernet II frame carrying IPv4 (`eth`), written in link type `link` into `out`
/// (cleared first): Ethernet as is; RawIp and Ipv4: the IP packet; LinuxSll: the 16-byte header
/// (packet type 0 for ToHost, 4 for FromHost; ARPHRD_ETHER 1; address length 6; the Ethernet
/// source MAC padded to 8; protocol 0x0800); LinuxSll2: the 20-byte header (protocol 0x0800,
/// reserved 0, interface index 0, ARPHRD 1, packet type as SLL, address length 6, source MAC
/// padded); Null: AF_INET (2) as a little-endian u32; Loop: AF_INET as big-endian u32.
/// An `eth` shorter than an Ethernet header counts as a header of zeros with no packet.
pub fn from_ethernet(link: LinkType, eth: &[u8], way: Way, out: &mut Vec<u8>) {
    out.clear();
    let ip = eth.get(ethernet::HEADER_LEN..).unwrap_or_default();
    let mut src = [0u8; 8];
    if let Some(mac) = eth.get(ethernet::SRC_ADDR) {
        src[..6].copy_from_slice(mac);
    }
    match link {
        LinkType::Ethernet => {
            out.extend_from_slice(eth);
            return;
        }
        LinkType::RawIp | LinkType::Ipv4 => {}
        LinkType::LinuxSll => {
            out.extend_from_slice(&u16::from(way.packet_type()).to_be_bytes());
            out.extend_from_slice(&ARPHRD_ETHER.to_be_bytes());
            out.extend_from_slice(&6u16.to_be_bytes());
            out.extend_from_slice(&src);
            out.extend_from_slice(&ethernet::IPV4);
        }
        LinkType::LinuxSll2 => {
            out.extend_from_slice(&ethernet::IPV4);
            out.extend_from_slice(&[0; 2 + 4]);
            out.extend_from_slice(&ARPHRD_ETHER.to_be_bytes());
            out.extend_from_slice(&[way.packet_type(), 6]);
            out.extend_from_slice(&src);
        }
        LinkType::Null => out.extend_from_slice(&AF_INET.to_le_bytes()),
        LinkType::Loop => out.extend_from_slice(&AF_INET.to_be_bytes()),
    }
    out.extend_from_slice(ip);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::ipv4_offset;

    const SRC: [u8; 6] = [0x02, 0, 0, 0, 0, 0x0a];
    const DST: [u8; 6] = [0x02, 0, 0, 0, 0, 0x0b];
    const LINKS: [(LinkType, usize); 7] = [
        (LinkType::Ethernet, 14),
        (LinkType::RawIp, 0),
        (LinkType::Ipv4, 0),
        (LinkType::LinuxSll, SLL_LEN),
        (LinkType::LinuxSll2, SLL2_LEN),
        (LinkType::Null, NULL_LEN),
        (LinkType::Loop, NULL_LEN),
    ];

    /// An Ethernet frame SRC -> DST with a 28-byte IPv4 packet (header and 8 payload bytes).
    fn eth() -> Vec<u8> {
        let mut f = [&DST[..], &SRC[..], &ethernet::IPV4[..]].concat();
        f.extend_from_slice(&[0x45, 0, 0, 28, 0, 1, 0x40, 0, 64, 17, 0, 0, 10, 0, 0, 1]);
        f.extend_from_slice(&[10, 0, 0, 2, 0, 53, 0, 53, 0, 8, 0, 0]);
        f
    }

    #[test]
    fn every_link_type_round_trips() {
        let eth = eth();
        let (mut framed, mut back) = (Vec::new(), Vec::new());
        for (link, off) in LINKS {
            for way in [Way::ToHost, Way::FromHost] {
                from_ethernet(link, &eth, way, &mut framed);
                assert_eq!(ipv4_offset(link, &framed), Ok(off), "{link:?}");
                assert_eq!(&framed[off..], &eth[14..], "{link:?}");
                assert_eq!(to_ethernet(link, &framed, SRC, DST, &mut back), Some(()));
                assert_eq!(back, eth, "{link:?} {way:?}");
            }
        }
    }

    #[test]
    fn cooked_headers_say_the_way_and_the_source_mac() {
        let mut out = Vec::new();
        from_ethernet(LinkType::LinuxSll, &eth(), Way::FromHost, &mut out);
        assert_eq!(&out[..6], &[0, 4, 0, 1, 0, 6]);
        assert_eq!(&out[6..16], &[2, 0, 0, 0, 0, 0x0a, 0, 0, 8, 0]);
        from_ethernet(LinkType::LinuxSll2, &eth(), Way::ToHost, &mut out);
        assert_eq!(&out[..12], &[8, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 6]);
        assert_eq!(&out[12..20], &[2, 0, 0, 0, 0, 0x0a, 0, 0]);
        from_ethernet(LinkType::Null, &eth(), Way::ToHost, &mut out);
        assert_eq!(&out[..4], &[2, 0, 0, 0]);
        from_ethernet(LinkType::Loop, &eth(), Way::ToHost, &mut out);
        assert_eq!(&out[..4], &[0, 0, 0, 2]);
    }

    #[test]
    fn padding_is_dropped_and_cut_packets_kept_as_present() {
        let mut out = Vec::new();
        // A VLAN-tagged frame with link padding: untagged, 28 IP bytes.
        let mut tagged = eth();
        tagged.splice(12..12, [0x81, 0x00, 0x00, 0x07]);
        tagged.extend_from_slice(&[0; 18]);
        assert_eq!(
            to_ethernet(LinkType::Ethernet, &tagged, SRC, DST, &mut out),
            Some(())
        );
        assert_eq!(out, eth());
        // Cut after 24 IP bytes: all 24 kept.
        let cut = &eth()[14..38];
        assert_eq!(
            to_ethernet(LinkType::RawIp, cut, SRC, DST, &mut out),
            Some(())
        );
        assert_eq!((out.len(), &out[14..]), (38, cut));
    }

    #[test]
    fn frames_without_ipv4_give_none() {
        let mut out = vec![1];
        let mut arp = eth();
        arp[12..14].copy_from_slice(&[0x08, 0x06]);
        let mut sll_v6 = Vec::new();
        from_ethernet(LinkType::LinuxSll, &eth(), Way::ToHost, &mut sll_v6);
        sll_v6[14..16].copy_from_slice(&[0x86, 0xdd]);
        let v6 = [0x60u8, 0, 0, 0];
        let cases: [(LinkType, &[u8]); 7] = [
            (LinkType::Ethernet, &arp),
            (LinkType::Ethernet, &[0; 5]),
            (LinkType::RawIp, &v6),
            (LinkType::RawIp, &[]),
            (LinkType::LinuxSll, &sll_v6),
            (LinkType::LinuxSll2, &[8, 0, 0]),
            (LinkType::Loop, &[2, 0, 0, 0, 0x45]),
        ];
        for (link, frame) in cases {
            assert!(ipv4_offset(link, frame).is_err(), "{link:?} {frame:?}");
            assert_eq!(
                to_ethernet(link, frame, SRC, DST, &mut out),
                None,
                "{link:?}"
            );
            assert!(out.is_empty());
        }
        // A link header and nothing after it.
        for (link, frame) in [(LinkType::Ipv4, &[][..]), (LinkType::Null, &[2, 0, 0, 0])] {
            assert_eq!(ipv4_offset(link, frame).map(|off| frame.len() - off), Ok(0));
            assert_eq!(
                to_ethernet(link, frame, SRC, DST, &mut out),
                None,
                "{link:?}"
            );
        }
    }
}
