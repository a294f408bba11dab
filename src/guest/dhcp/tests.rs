//! The DHCP server against smoltcp's own DHCP client, and against bad frames.

use super::*;
use smoltcp::iface::{Config, Interface, SocketSet};
use smoltcp::phy::{self, Device, DeviceCapabilities, Medium};
use smoltcp::socket::dhcpv4;
use smoltcp::time::Instant;
use smoltcp::wire::Ipv4Cidr;
use std::collections::VecDeque;

const NIC: [u8; 6] = [0x02, 0, 0, 0, 0, 0x01];
const LEASE: Lease = Lease {
    address: Ipv4Addr::new(203, 0, 113, 10),
    mask: Ipv4Addr::new(255, 255, 255, 0),
    gateway: Ipv4Addr::new(203, 0, 113, 1),
    lease_s: 3600,
};
const SERVER: Server = Server {
    mac: [0x02, 0, 0, 0, 0, 0xfe],
    server: Ipv4Addr::new(203, 0, 113, 2),
};

/// A guest NIC: frames to the guest and frames from it.
#[derive(Default)]
struct Wire {
    to_guest: VecDeque<Vec<u8>>,
    from_guest: VecDeque<Vec<u8>>,
}
struct Rx(Vec<u8>);
struct Tx<'a>(&'a mut VecDeque<Vec<u8>>);
impl phy::RxToken for Rx {
    fn consume<R, F: FnOnce(&[u8]) -> R>(self, f: F) -> R {
        f(&self.0)
    }
}
impl phy::TxToken for Tx<'_> {
    fn consume<R, F: FnOnce(&mut [u8]) -> R>(self, len: usize, f: F) -> R {
        let mut buf = vec![0; len];
        let r = f(&mut buf);
        self.0.push_back(buf);
        r
    }
}
impl Device for Wire {
    type RxToken<'a> = Rx;
    type TxToken<'a> = Tx<'a>;
    fn receive(&mut self, _: Instant) -> Option<(Rx, Tx<'_>)> {
        let frame = self.to_guest.pop_front()?;
        Some((Rx(frame), Tx(&mut self.from_guest)))
    }
    fn transmit(&mut self, _: Instant) -> Option<Tx<'_>> {
        Some(Tx(&mut self.from_guest))
    }
    fn capabilities(&self) -> DeviceCapabilities {
        let mut caps = DeviceCapabilities::default();
        caps.medium = Medium::Ethernet;
        caps.max_transmission_unit = 1514;
        caps
    }
}

#[test]
fn smoltcp_client_is_configured_with_the_lease() {
    let mut wire = Wire::default();
    let mut iface = Interface::new(
        Config::new(EthernetAddress(NIC).into()),
        &mut wire,
        Instant::ZERO,
    );
    let mut sockets = SocketSet::new(vec![]);
    let handle = sockets.add(dhcpv4::Socket::new());
    let (mut seen, mut answered, mut configured) = (0, 0, None);
    for ms in (0..5000).step_by(100) {
        iface.poll(Instant::from_millis(ms), &mut wire, &mut sockets);
        while let Some(frame) = wire.from_guest.pop_front() {
            assert!(is_client_message(&frame), "{frame:02x?}");
            seen += 1;
            let mut out = Vec::new();
            answer(&frame, NIC, Some(&LEASE), &SERVER, &mut out).unwrap();
            if !out.is_empty() {
                answered += 1;
                assert!(!is_client_message(&out));
                wire.to_guest.push_back(out);
            }
        }
        if let Some(dhcpv4::Event::Configured(c)) = sockets.get_mut::<dhcpv4::Socket>(handle).poll()
        {
            configured = Some((c.address, c.router, c.server.identifier));
            break;
        }
    }
    assert_eq!(
        configured,
        Some((
            Ipv4Cidr::new(LEASE.address, 24),
            Some(LEASE.gateway),
            SERVER.server
        ))
    );
    // DISCOVER and REQUEST, each answered.
    assert_eq!((seen, answered), (2, 2));
}

/// A client message from `NIC`, 0.0.0.0 (or ciaddr) -> 255.255.255.255, built with smoltcp.
fn client_frame(repr: &DhcpRepr) -> Vec<u8> {
    let (src, dst) = (repr.client_ip, Ipv4Addr::BROADCAST);
    let len = repr.buffer_len();
    let ip = Ipv4Repr {
        src_addr: src,
        dst_addr: dst,
        next_header: IpProtocol::Udp,
        payload_len: UDP_LEN + len,
        hop_limit: 64,
    };
    let mut out = vec![0; ETH_LEN + 20 + UDP_LEN + len];
    let mut eth = EthernetFrame::new_unchecked(&mut out[..]);
    EthernetRepr {
        src_addr: EthernetAddress(NIC),
        dst_addr: EthernetAddress::BROADCAST,
        ethertype: EthernetProtocol::Ipv4,
    }
    .emit(&mut eth);
    let caps = ChecksumCapabilities::default();
    let mut ipp = Ipv4Packet::new_unchecked(eth.payload_mut());
    ip.emit(&mut ipp, &caps);
    let ports = UdpRepr {
        src_port: CLIENT_PORT,
        dst_port: SERVER_PORT,
    };
    let mut udp = UdpPacket::new_unchecked(ipp.payload_mut());
    let emit = |b: &mut [u8]| repr.emit(&mut DhcpPacket::new_unchecked(b)).unwrap();
    ports.emit(&mut udp, &src.into(), &dst.into(), len, emit, &caps);
    out
}

fn client(message_type: DhcpMessageType) -> DhcpRepr<'static> {
    DhcpRepr {
        message_type,
        transaction_id: 0x1234_5678,
        secs: 0,
        client_hardware_address: EthernetAddress(NIC),
        client_ip: Ipv4Addr::UNSPECIFIED,
        your_ip: Ipv4Addr::UNSPECIFIED,
        server_ip: Ipv4Addr::UNSPECIFIED,
        router: None,
        subnet_mask: None,
        relay_agent_ip: Ipv4Addr::UNSPECIFIED,
        broadcast: false,
        requested_ip: None,
        client_identifier: Some(EthernetAddress(NIC)),
        server_identifier: None,
        parameter_request_list: Some(&[1, 3, 6]),
        dns_servers: None,
        max_size: None,
        lease_duration: None,
        renew_duration: None,
        rebind_duration: None,
        additional_options: &[],
    }
}

/// The answer to `req` with `LEASE`: (what it was, the answer's frame).
fn ask(req: &DhcpRepr) -> (Option<Request>, Vec<u8>) {
    let mut out = vec![0xaa; 7];
    let kind = answer(&client_frame(req), NIC, Some(&LEASE), &SERVER, &mut out).unwrap();
    (kind, out)
}

/// The answer's IPv4 destination and DHCP message, checksums verified by smoltcp.
fn reply(out: &[u8]) -> (Ipv4Addr, DhcpRepr<'_>) {
    let caps = ChecksumCapabilities::default();
    let eth = EthernetFrame::new_checked(out).unwrap();
    let ip = Ipv4Packet::new_checked(eth.payload()).unwrap();
    let ip_repr = Ipv4Repr::parse(&ip, &caps).unwrap();
    let udp = UdpPacket::new_checked(ip.payload()).unwrap();
    let ports = UdpRepr::parse(
        &udp,
        &ip_repr.src_addr.into(),
        &ip_repr.dst_addr.into(),
        &caps,
    );
    assert_eq!(
        ports,
        Ok(UdpRepr {
            src_port: SERVER_PORT,
            dst_port: CLIENT_PORT
        })
    );
    let dhcp = DhcpPacket::new_checked(udp.payload()).unwrap();
    (
        ip_repr.dst_addr,
        DhcpRepr::parse(Box::leak(Box::new(dhcp))).unwrap(),
    )
}

#[test]
fn offer_is_well_formed_and_its_checksums_verify() {
    let (kind, out) = ask(&client(DhcpMessageType::Discover));
    assert_eq!(kind, Some(Request::Discover));
    assert_eq!((&out[0..6], &out[6..12]), (&NIC[..], &SERVER.mac[..]));
    // Recompute both checksums from zero: the same bytes.
    let mut again = out.clone();
    let mut eth = EthernetFrame::new_unchecked(&mut again[..]);
    let mut ip = Ipv4Packet::new_unchecked(eth.payload_mut());
    assert_eq!(ip.hop_limit(), TTL);
    ip.set_checksum(0);
    ip.fill_checksum();
    let mut udp = UdpPacket::new_unchecked(ip.payload_mut());
    assert_ne!(udp.checksum(), 0);
    udp.set_checksum(0);
    udp.fill_checksum(&SERVER.server.into(), &LEASE.address.into());
    assert_eq!(again, out);
    let (dst, offer) = reply(&out);
    assert_eq!(dst, LEASE.address);
    assert_eq!(offer.message_type, DhcpMessageType::Offer);
    assert_eq!(
        (offer.transaction_id, offer.client_hardware_address),
        (0x1234_5678, EthernetAddress(NIC))
    );
    assert_eq!(
        (offer.your_ip, offer.server_identifier),
        (LEASE.address, Some(SERVER.server))
    );
    assert_eq!(
        (offer.subnet_mask, offer.router),
        (Some(LEASE.mask), Some(LEASE.gateway))
    );
    let times = (
        offer.lease_duration,
        offer.renew_duration,
        offer.rebind_duration,
    );
    assert_eq!(times, (Some(3600), Some(1800), Some(3150)));
}

#[test]
fn request_is_acked_for_the_lease_and_naked_for_another_address() {
    let mut req = client(DhcpMessageType::Request);
    req.requested_ip = Some(LEASE.address);
    req.server_identifier = Some(SERVER.server);
    let (kind, out) = ask(&req);
    assert_eq!(kind, Some(Request::Request));
    assert_eq!(reply(&out).1.message_type, DhcpMessageType::Ack);
    // Renewing: no option, ciaddr; and the broadcast flag.
    let mut renew = client(DhcpMessageType::Request);
    renew.client_ip = LEASE.address;
    renew.broadcast = true;
    let (_, out) = ask(&renew);
    let (dst, ack) = reply(&out);
    assert_eq!(
        (dst, ack.message_type, ack.client_ip),
        (Ipv4Addr::BROADCAST, DhcpMessageType::Ack, LEASE.address)
    );
    req.requested_ip = Some(Ipv4Addr::new(203, 0, 113, 99));
    let (_, out) = ask(&req);
    let (dst, nak) = reply(&out);
    assert_eq!(
        (dst, nak.message_type, nak.your_ip),
        (
            Ipv4Addr::BROADCAST,
            DhcpMessageType::Nak,
            Ipv4Addr::UNSPECIFIED
        )
    );
    assert_eq!((nak.lease_duration, nak.subnet_mask), (None, None));
    // The client chose another server.
    req.requested_ip = Some(LEASE.address);
    req.server_identifier = Some(Ipv4Addr::new(10, 0, 0, 1));
    assert_eq!(ask(&req), (Some(Request::Request), vec![]));
}

#[test]
fn no_answer_without_a_lease_or_to_other_types() {
    let frame = client_frame(&client(DhcpMessageType::Discover));
    let mut out = vec![1, 2, 3];
    let kind = answer(&frame, NIC, None, &SERVER, &mut out);
    assert_eq!((kind, out.len()), (Ok(Some(Request::Discover)), 0));
    for (t, kind) in [
        (DhcpMessageType::Release, Request::Release),
        (DhcpMessageType::Decline, Request::Decline),
        (DhcpMessageType::Inform, Request::Inform),
        (DhcpMessageType::Unknown(42), Request::Other),
    ] {
        assert_eq!(ask(&client(t)), (Some(kind), vec![]), "{t:?}");
    }
}

#[test]
fn garbage_gives_err_or_none_never_a_panic() {
    let discover = client_frame(&client(DhcpMessageType::Discover));
    assert!(is_client_message(&discover));
    let mut out = Vec::new();
    for len in 0..discover.len() {
        let r = answer(&discover[..len], NIC, Some(&LEASE), &SERVER, &mut out);
        assert!(matches!(r, Err(_) | Ok(None)), "cut at {len}: {r:?}");
        assert!(out.is_empty());
    }
    // A server's answer is no client message.
    answer(&discover, NIC, Some(&LEASE), &SERVER, &mut out).unwrap();
    assert!(!is_client_message(&out));
    assert_eq!(
        answer(&out.clone(), NIC, Some(&LEASE), &SERVER, &mut out),
        Ok(None)
    );
    let mut seed = 0x9e37_79b9_7f4a_7c15_u64;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    for _ in 0..20_000 {
        let mut frame = discover.clone();
        if next() % 4 == 0 {
            frame.iter_mut().for_each(|b| *b = next() as u8);
        } else {
            for _ in 0..1 + next() % 8 {
                let at = (next() % frame.len() as u64) as usize;
                frame[at] = next() as u8;
            }
            frame.truncate((next() % (frame.len() as u64 + 1)) as usize);
        }
        // An answer, when there is one, is well formed and echoes the frame's xid.
        if let Ok(Some(_)) = answer(&frame, NIC, Some(&LEASE), &SERVER, &mut out)
            && !out.is_empty()
        {
            let at = ETH_LEN + usize::from(frame[ETH_LEN] & 0x0f) * 4 + UDP_LEN + 4;
            let xid = u32::from_be_bytes(frame[at..at + 4].try_into().unwrap());
            assert_eq!(reply(&out).1.transaction_id, xid);
        }
    }
}

#[test]
fn client_messages_are_recognised_by_their_ports() {
    let mut frame = client_frame(&client(DhcpMessageType::Discover));
    assert!(is_client_message(&frame));
    frame[12] = 0x86;
    assert!(!is_client_message(&frame));
    frame[12] = 0x08;
    frame[ETH_LEN + IP_MIN_LEN + 1] = 69;
    assert!(!is_client_message(&frame));
}
