//! ARP as the provider's network answers it on a live link: the hosts need no static
//! neighbour entries. Pure: frames in, frames out.

use std::net::Ipv4Addr;

use etherparse::{ArpEthIpv4Packet, ArpOperation, ArpPacketSlice, EtherType, Ethernet2Header};

/// Whether an Ethernet frame carries ARP (an EtherType of 0x0806, without VLAN tags).
pub fn is_arp(frame: &[u8]) -> bool {
    frame.len() >= 14 && frame[12..14] == [0x08, 0x06]
}

/// The reply to an ARP request in `frame`, from `mac`, when `answer(target)` says the address
/// asked for is the provider's to answer. None for anything else: a reply, a probe (sender
/// 0.0.0.0), a gratuitous announcement (sender and target alike), a request not for Ethernet
/// and IPv4, a frame cut short.
pub fn reply(frame: &[u8], mac: [u8; 6], answer: impl Fn(Ipv4Addr) -> bool) -> Option<Vec<u8>> {
    if !is_arp(frame) {
        return None;
    }
    let arp = ArpPacketSlice::from_slice(&frame[14..]).ok()?;
    let req = arp.to_packet().try_eth_ipv4().ok()?;
    if req.operation != ArpOperation::REQUEST {
        return None;
    }
    let (sender, target) = (req.sender_ipv4_addr(), req.target_ipv4_addr());
    if sender.is_unspecified() || sender == target || !answer(target) {
        return None;
    }
    let eth = Ethernet2Header {
        source: mac,
        destination: req.sender_mac,
        ether_type: EtherType::ARP,
    };
    let rep = ArpEthIpv4Packet {
        operation: ArpOperation::REPLY,
        sender_mac: mac,
        sender_ipv4: req.target_ipv4,
        target_mac: req.sender_mac,
        target_ipv4: req.sender_ipv4,
    };
    let mut out = Vec::with_capacity(60);
    out.extend_from_slice(&eth.to_bytes());
    out.extend_from_slice(&rep.to_bytes());
    // The Ethernet minimum (without the frame check sequence).
    out.resize(60, 0);
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const GW: [u8; 6] = [0xee, 0xff, 0xff, 0xff, 0xff, 0xff];
    const HOST: [u8; 6] = [0x02, 0, 0, 0, 0, 7];

    fn request(op: ArpOperation, sender: [u8; 4], target: [u8; 4]) -> Vec<u8> {
        let eth = Ethernet2Header {
            source: HOST,
            destination: [0xff; 6],
            ether_type: EtherType::ARP,
        };
        let arp = ArpEthIpv4Packet {
            operation: op,
            sender_mac: HOST,
            sender_ipv4: sender,
            target_mac: [0; 6],
            target_ipv4: target,
        };
        let mut f = eth.to_bytes().to_vec();
        f.extend_from_slice(&arp.to_bytes());
        f
    }

    #[test]
    fn answers_only_requests_for_the_addresses_given() {
        let only = |a: Ipv4Addr| a == Ipv4Addr::new(47, 0, 0, 10);
        let f = request(ArpOperation::REQUEST, [198, 51, 100, 7], [47, 0, 0, 10]);
        let r = reply(&f, GW, only).expect("a reply");
        assert_eq!(r.len(), 60);
        assert_eq!(&r[0..6], &HOST);
        assert_eq!(&r[6..12], &GW);
        let a = ArpPacketSlice::from_slice(&r[14..])
            .unwrap()
            .to_packet()
            .try_eth_ipv4()
            .unwrap();
        assert_eq!(a.operation, ArpOperation::REPLY);
        assert_eq!(a.sender_mac, GW);
        assert_eq!(a.sender_ipv4, [47, 0, 0, 10]);
        assert_eq!(a.target_mac, HOST);
        assert_eq!(a.target_ipv4, [198, 51, 100, 7]);
        let other = request(ArpOperation::REQUEST, [198, 51, 100, 7], [47, 0, 0, 11]);
        assert!(reply(&other, GW, only).is_none());
        let rep = request(ArpOperation::REPLY, [198, 51, 100, 7], [47, 0, 0, 10]);
        assert!(reply(&rep, GW, only).is_none());
        let probe = request(ArpOperation::REQUEST, [0, 0, 0, 0], [47, 0, 0, 10]);
        assert!(reply(&probe, GW, only).is_none());
        let grat = request(ArpOperation::REQUEST, [47, 0, 0, 10], [47, 0, 0, 10]);
        assert!(reply(&grat, GW, only).is_none());
        assert!(reply(&f[..30], GW, only).is_none());
        assert!(!is_arp(&f[..13]));
    }
}
