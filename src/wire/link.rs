//! Link layers: where the IPv4 header starts in a captured frame, parsed with etherparse's header
//! slices (Linux SLL2 and BSD null/loop headers, which etherparse does not know, are read here).

use etherparse::{
    EtherType, Ethernet2HeaderSlice, LinuxSllHeaderSlice, LinuxSllProtocolType,
    SingleVlanHeaderSlice,
};

/// The MAC address fields of an Ethernet II header: byte ranges from the start of the frame.
pub mod ethernet {
    use std::ops::Range;

    /// Destination MAC address.
    pub const DST_ADDR: Range<usize> = 0..6;
    /// Source MAC address.
    pub const SRC_ADDR: Range<usize> = 6..12;
    /// Length of the two addresses.
    pub const MACS_LEN: usize = SRC_ADDR.end;
    /// The EtherType (or the TPID of an 802.1Q/802.1ad tag).
    pub const ETHER_TYPE: Range<usize> = 12..14;
    /// Length of an untagged Ethernet II header.
    pub const HEADER_LEN: usize = ETHER_TYPE.end;
    /// The EtherType of IPv4, as it is on the wire.
    pub const IPV4: [u8; 2] = [0x08, 0x00];
}

/// The link layer of a capture, from its LINKTYPE value.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Hash)]
pub enum LinkType {
    /// LINKTYPE_ETHERNET (1): Ethernet II, possibly with 802.1Q/802.1ad tags.
    Ethernet,
    /// LINKTYPE_RAW (101), and DLT 12 / 14 where they mean raw IP: an IPv4 or IPv6 packet.
    RawIp,
    /// LINKTYPE_IPV4 (228): an IPv4 packet.
    Ipv4,
    /// LINKTYPE_LINUX_SLL (113): Linux cooked capture v1, 16-byte header.
    LinuxSll,
    /// LINKTYPE_LINUX_SLL2 (276): Linux cooked capture v2, 20-byte header.
    LinuxSll2,
    /// LINKTYPE_NULL (0): BSD loopback, 4-byte address family in the capturing host's byte order.
    Null,
    /// LINKTYPE_LOOP (108): BSD loopback, 4-byte address family in network byte order.
    Loop,
}

impl LinkType {
    /// Maps a pcap/pcapng LINKTYPE value; `None` for link types eipsim does not replay.
    pub fn from_linktype(value: u32) -> Option<LinkType> {
        Some(match value {
            1 => LinkType::Ethernet,
            101 | 12 | 14 => LinkType::RawIp,
            228 => LinkType::Ipv4,
            113 => LinkType::LinuxSll,
            276 => LinkType::LinuxSll2,
            0 => LinkType::Null,
            108 => LinkType::Loop,
            _ => return None,
        })
    }

    /// Whether frames of this link type carry MAC addresses (and so are rewritten).
    pub fn has_macs(self) -> bool {
        self == LinkType::Ethernet
    }
}

/// Why a frame cannot be handled as IPv4.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum LinkError {
    /// The link header (or the IPv4 header after it) is cut short or invalid.
    Malformed,
    /// The frame carries IPv6 or something that is not IP.
    NotIpv4,
}

const VLAN_TAGS_MAX: usize = 4;

/// Offset of the IPv4 header in `frame`, or why there is none.
#[inline(always)]
pub fn ipv4_offset(link: LinkType, frame: &[u8]) -> Result<usize, LinkError> {
    match link {
        LinkType::Ethernet => {
            // The common case first: an untagged IPv4 frame (what follows finds the same).
            if frame.get(ethernet::ETHER_TYPE) == Some(&ethernet::IPV4[..]) {
                return Ok(ethernet::HEADER_LEN);
            }
            let eth = Ethernet2HeaderSlice::from_slice(frame).map_err(|_| LinkError::Malformed)?;
            let mut ether_type = eth.ether_type();
            let mut off = eth.slice().len();
            let mut tags = 0;
            while matches!(
                ether_type,
                EtherType::VLAN_TAGGED_FRAME
                    | EtherType::PROVIDER_BRIDGING
                    | EtherType::VLAN_DOUBLE_TAGGED_FRAME
            ) {
                tags += 1;
                if tags > VLAN_TAGS_MAX {
                    return Err(LinkError::NotIpv4);
                }
                let vlan = SingleVlanHeaderSlice::from_slice(&frame[off..])
                    .map_err(|_| LinkError::Malformed)?;
                ether_type = vlan.ether_type();
                off += vlan.slice().len();
            }
            if ether_type == EtherType::IPV4 {
                Ok(off)
            } else {
                Err(LinkError::NotIpv4)
            }
        }
        LinkType::RawIp => match frame.first().map(|b| b >> 4) {
            Some(4) => Ok(0),
            Some(6) => Err(LinkError::NotIpv4),
            _ => Err(LinkError::Malformed),
        },
        LinkType::Ipv4 => Ok(0),
        LinkType::LinuxSll => match LinuxSllHeaderSlice::from_slice(frame) {
            Ok(sll) => match sll.protocol_type() {
                LinuxSllProtocolType::EtherType(EtherType::IPV4) => Ok(sll.slice().len()),
                _ => Err(LinkError::NotIpv4),
            },
            Err(etherparse::err::linux_sll::HeaderSliceError::Len(_)) => Err(LinkError::Malformed),
            // etherparse knows five ARPHRD types; tcpdump also writes others (PPP, 512, on
            // "any" captures), where the protocol field is still an EtherType. Netlink (824)
            // carries no IP.
            Err(_) => {
                let arphrd = u16::from_be_bytes([frame[2], frame[3]]);
                let proto = u16::from_be_bytes([frame[14], frame[15]]);
                if arphrd != 824 && proto == 0x0800 {
                    Ok(16)
                } else {
                    Err(LinkError::NotIpv4)
                }
            }
        },
        LinkType::LinuxSll2 => {
            // SLL2: protocol type (2), reserved (2), ifindex (4), ARPHRD (2), packet type (1),
            // address length (1), address (8).
            if frame.len() < 20 {
                return Err(LinkError::Malformed);
            }
            if u16::from_be_bytes([frame[0], frame[1]]) == 0x0800 {
                Ok(20)
            } else {
                Err(LinkError::NotIpv4)
            }
        }
        LinkType::Null | LinkType::Loop => {
            let Some(fam) = frame.get(..4) else {
                return Err(LinkError::Malformed);
            };
            let be = u32::from_be_bytes([fam[0], fam[1], fam[2], fam[3]]);
            let le = u32::from_le_bytes([fam[0], fam[1], fam[2], fam[3]]);
            // AF_INET is 2 on every BSD and on Linux.
            let v4 = if link == LinkType::Loop {
                be == 2
            } else {
                be == 2 || le == 2
            };
            if v4 { Ok(4) } else { Err(LinkError::NotIpv4) }
        }
    }
}
