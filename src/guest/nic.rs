//! One NIC of a guest: a smoltcp [`Interface`] over [`Queues`], with the addresses the OS holds
//! in the NIC's mode, its DHCP client (cut-through), its services and the connections the
//! guest opened through it.

use std::net::{Ipv4Addr, SocketAddrV4};

use smoltcp::iface::{Config, Interface, PollResult, SocketHandle, SocketSet};
use smoltcp::socket::{dhcpv4, tcp, udp};
use smoltcp::time::Instant;
use smoltcp::wire::{
    ArpOperation, ArpPacket, ArpRepr, EthernetAddress, EthernetFrame, EthernetProtocol,
    EthernetRepr, HardwareAddress, IpAddress, IpCidr, Ipv4Cidr,
};

use crate::model::guest_cfg::{Connect, Service, Transport};

use super::device::Queues;
use super::plan::{Addressing, NicPlan};
use super::services::Services;

/// How long the gateway's ARP entry stays fresh in a guest before it is taught again, in
/// capture nanoseconds (smoltcp forgets an entry after 60 s).
const ARP_REFRESH_NS: i64 = 30_000_000_000;

/// The lease a cut-through NIC's DHCP client holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Held {
    /// The address and prefix length.
    pub address: Ipv4Addr,
    /// Its prefix length.
    pub prefix: u8,
    /// The default gateway it gave.
    pub router: Option<Ipv4Addr>,
    /// When it was granted (capture time, nanoseconds).
    pub at_ns: i64,
}

/// One NIC of a guest.
pub struct Nic {
    /// What the OS holds on it.
    pub plan: NicPlan,
    iface: Interface,
    /// Its frames in both directions.
    pub dev: Queues,
    sockets: SocketSet<'static>,
    dhcp: Option<SocketHandle>,
    /// The lease its DHCP client holds (cut-through).
    pub held: Option<Held>,
    /// Times the DHCP client was configured.
    pub leases: u64,
    services: Services,
    icmp: bool,
    arp_until: Option<i64>,
    gateway_mac: [u8; 6],
    /// Addresses of the host's other NICs that a connection opened here is bound to: Linux
    /// (the weak host model) sends such a packet out of this NIC with that source, so the
    /// interface holds them too (not shown as its own).
    borrowed: Vec<Ipv4Addr>,
}

/// smoltcp's time for a capture time in nanoseconds.
pub fn instant(now_ns: i64) -> Instant {
    Instant::from_micros(now_ns.div_euclid(1000))
}

impl Nic {
    /// The NIC of `plan`, with `services`, started at `now_ns`. None when its MAC is not a
    /// unicast address (smoltcp takes only those; the topology's rules refuse others).
    pub fn new(
        plan: NicPlan,
        services: &[Service],
        gateway_mac: [u8; 6],
        banner: String,
        now_ns: i64,
    ) -> Option<Nic> {
        let mac = EthernetAddress(plan.mac);
        if !mac.is_unicast() {
            return None;
        }
        let mut config = Config::new(HardwareAddress::Ethernet(mac));
        // Deterministic: the same MAC gives the same sequence numbers and IP ids every run.
        config.random_seed = u64::from_be_bytes([
            0x65,
            0x69,
            plan.mac[0],
            plan.mac[1],
            plan.mac[2],
            plan.mac[3],
            plan.mac[4],
            plan.mac[5],
        ]);
        let mut dev = Queues::default();
        let iface = Interface::new(config, &mut dev, instant(now_ns));
        let mut sockets = SocketSet::new(Vec::new());
        let dhcp = matches!(plan.addressing, Addressing::Dhcp(_))
            .then(|| sockets.add(dhcpv4::Socket::new()));
        let services = Services::new(services, &mut sockets, banner);
        let mut nic = Nic {
            icmp: true,
            plan,
            iface,
            dev,
            sockets,
            dhcp,
            held: None,
            leases: 0,
            services,
            arp_until: None,
            gateway_mac,
            borrowed: Vec::new(),
        };
        nic.configure_static();
        Some(nic)
    }

    /// Whether the guest answers ICMP echo on this NIC.
    pub fn set_icmp(&mut self, on: bool) {
        self.icmp = on;
    }

    fn configure_static(&mut self) {
        let Addressing::Static(addrs) = &self.plan.addressing else {
            return;
        };
        let gw = self.plan.gateway;
        self.iface.update_ip_addrs(|a| {
            for &(ip, len, _) in addrs {
                // smoltcp holds 8 addresses per interface; the rest are left out (view says so).
                let _ = a.push(IpCidr::Ipv4(Ipv4Cidr::new(ip, len)));
            }
        });
        if !addrs.is_empty() {
            let _ = self.iface.routes_mut().add_default_ipv4_route(gw);
        }
    }

    /// The addresses the interface holds now as its own, with their prefix lengths.
    pub fn addrs(&self) -> Vec<(Ipv4Addr, u8)> {
        self.iface
            .ip_addrs()
            .iter()
            .map(|c| match c {
                IpCidr::Ipv4(c) => (c.address(), c.prefix_len()),
            })
            .filter(|(a, _)| !self.borrowed.contains(a))
            .collect()
    }

    /// Lets a connection bound to `src`, an address of another NIC of the host, leave by this
    /// one (as Linux does): the interface holds it as a /32. False when it holds no more.
    pub fn borrow(&mut self, src: Ipv4Addr) -> bool {
        if self.iface.has_ip_addr(src) {
            return true;
        }
        let mut ok = false;
        self.iface.update_ip_addrs(|a| {
            ok = a.push(IpCidr::Ipv4(Ipv4Cidr::new(src, 32))).is_ok();
        });
        if ok {
            self.borrowed.push(src);
        }
        ok
    }

    /// The gateways this NIC's addresses lead to, each with an address of ours in its block
    /// (whom the gateway's ARP entry is taught for).
    fn gateways(&self) -> Vec<(Ipv4Addr, Ipv4Addr)> {
        let addrs = self.addrs();
        let mut out = Vec::new();
        let mut gws: Vec<Ipv4Addr> = vec![self.plan.gateway];
        gws.extend(self.held.and_then(|h| h.router));
        gws.extend(self.plan.eip_gateways.iter().map(|g| g.2));
        for gw in gws {
            let mine = addrs.iter().find(|(a, len)| {
                let m = if *len == 0 {
                    0
                } else {
                    u32::MAX << (32 - u32::from(*len))
                };
                u32::from(*a) & m == u32::from(gw) & m && *a != gw
            });
            if let Some(&(a, _)) = mine
                && !out.iter().any(|(g, _)| *g == gw)
            {
                out.push((gw, a));
            }
        }
        out
    }

    /// Teaches the guest the gateway's MAC (an ARP request from the gateway for the guest's
    /// address, as the provider's network sends) when its entry may have aged out, so that
    /// the first reply after a quiet spell is not lost waiting for ARP.
    pub fn teach_gateway(&mut self, now_ns: i64) {
        if self.arp_until.is_some_and(|t| now_ns < t) {
            return;
        }
        let gws = self.gateways();
        if gws.is_empty() {
            return;
        }
        self.arp_until = Some(now_ns.saturating_add(ARP_REFRESH_NS));
        for (gw, mine) in gws {
            let frame = arp_frame(
                ArpOperation::Request,
                (self.gateway_mac, gw),
                ([0; 6], mine),
                [0xff; 6],
            );
            self.dev.push_rx(&frame);
        }
    }

    /// Queues a frame the gateway delivered (an untagged Ethernet II frame). An ICMP echo
    /// request is not queued when the guest does not answer ICMP.
    pub fn deliver(&mut self, eth: &[u8]) {
        if !self.icmp && is_echo_request(eth) {
            return;
        }
        if let Some(port) = syn_port(eth)
            && self.services.saturated(port, &self.sockets)
        {
            return;
        }
        self.dev.push_rx(eth);
    }

    /// One round: the interface polled at `now`, the DHCP client's news applied, the
    /// services served. Says whether another round may do more.
    pub fn step(&mut self, now_ns: i64) -> bool {
        let now = instant(now_ns);
        self.services.expire(&mut self.sockets, now_ns);
        let polled = self.iface.poll(now, &mut self.dev, &mut self.sockets);
        let mut more = polled == PollResult::SocketStateChanged;
        if let Some(h) = self.dhcp {
            match self.sockets.get_mut::<dhcpv4::Socket>(h).poll() {
                Some(dhcpv4::Event::Configured(c)) => {
                    let address = c.address;
                    let router = c.router;
                    self.iface.update_ip_addrs(|a| {
                        a.clear();
                        let _ = a.push(IpCidr::Ipv4(address));
                    });
                    self.iface.routes_mut().remove_default_ipv4_route();
                    if let Some(r) = router {
                        let _ = self.iface.routes_mut().add_default_ipv4_route(r);
                    }
                    self.held = Some(Held {
                        address: address.address(),
                        prefix: address.prefix_len(),
                        router,
                        at_ns: now_ns,
                    });
                    self.leases += 1;
                    self.arp_until = None;
                    more = true;
                }
                Some(dhcpv4::Event::Deconfigured) => {
                    self.iface.update_ip_addrs(|a| a.clear());
                    self.iface.routes_mut().remove_default_ipv4_route();
                    self.held = None;
                    more = true;
                }
                None => {}
            }
        }
        more |= self.services.serve(&mut self.sockets);
        // Connections that became half-open in this poll are timed from now.
        self.services.expire(&mut self.sockets, now_ns);
        more || !self.dev.rx.is_empty()
    }

    /// When the NIC next needs a poll (timers: retransmissions, DHCP), if ever.
    pub fn poll_at(&mut self, now_ns: i64) -> Option<Instant> {
        self.iface.poll_at(instant(now_ns), &self.sockets)
    }

    /// TCP connections its services completed.
    pub fn accepted(&self) -> u64 {
        self.services.accepted
    }

    /// Opens `c` from `src`, local port `port`: a TCP SYN or one UDP datagram.
    pub fn open(&mut self, c: &Connect, src: Ipv4Addr, port: u16) -> Result<(), String> {
        let to = SocketAddrV4::new(*c.to.ip(), c.to.port());
        if !self.borrow(src) {
            return Err(format!("{src}: the interface holds no more addresses"));
        }
        match c.transport {
            Transport::Tcp => {
                let mut s = tcp::Socket::new(
                    tcp::SocketBuffer::new(vec![0; 4096]),
                    tcp::SocketBuffer::new(vec![0; 4096]),
                );
                s.connect(
                    self.iface.context(),
                    (IpAddress::Ipv4(*to.ip()), to.port()),
                    (IpAddress::Ipv4(src), port),
                )
                .map_err(|e| format!("connect: {e}"))?;
                self.sockets.add(s);
            }
            Transport::Udp => {
                let mut s = udp::Socket::new(
                    udp::PacketBuffer::new(vec![udp::PacketMetadata::EMPTY; 4], vec![0; 2048]),
                    udp::PacketBuffer::new(vec![udp::PacketMetadata::EMPTY; 4], vec![0; 2048]),
                );
                s.bind((IpAddress::Ipv4(src), port))
                    .map_err(|e| format!("bind: {e}"))?;
                let meta = udp::UdpMetadata {
                    endpoint: (IpAddress::Ipv4(*to.ip()), to.port()).into(),
                    local_address: Some(IpAddress::Ipv4(src)),
                    meta: Default::default(),
                };
                s.send_slice(b"eipsim guest probe\n", meta)
                    .map_err(|e| format!("send: {e}"))?;
                self.sockets.add(s);
            }
        }
        Ok(())
    }
}

/// An Ethernet ARP frame: `op` from `sender` (MAC, address) about `target`, to `dst`.
pub fn arp_frame(
    op: ArpOperation,
    sender: ([u8; 6], Ipv4Addr),
    target: ([u8; 6], Ipv4Addr),
    dst: [u8; 6],
) -> Vec<u8> {
    let arp = ArpRepr::EthernetIpv4 {
        operation: op,
        source_hardware_addr: EthernetAddress(sender.0),
        source_protocol_addr: sender.1,
        target_hardware_addr: EthernetAddress(target.0),
        target_protocol_addr: target.1,
    };
    let eth = EthernetRepr {
        src_addr: EthernetAddress(sender.0),
        dst_addr: EthernetAddress(dst),
        ethertype: EthernetProtocol::Arp,
    };
    let mut buf = vec![0u8; eth.buffer_len() + arp.buffer_len()];
    let mut f = EthernetFrame::new_unchecked(&mut buf[..]);
    eth.emit(&mut f);
    arp.emit(&mut ArpPacket::new_unchecked(f.payload_mut()));
    buf
}

/// The ARP request in `eth`, if it is one: (sender MAC, sender address, target address).
pub fn arp_request(eth: &[u8]) -> Option<([u8; 6], Ipv4Addr, Ipv4Addr)> {
    let f = EthernetFrame::new_checked(eth).ok()?;
    if f.ethertype() != EthernetProtocol::Arp {
        return None;
    }
    match ArpRepr::parse(&ArpPacket::new_checked(f.payload()).ok()?).ok()? {
        ArpRepr::EthernetIpv4 {
            operation: ArpOperation::Request,
            source_hardware_addr,
            source_protocol_addr,
            target_protocol_addr,
            ..
        } => Some((
            source_hardware_addr.0,
            source_protocol_addr,
            target_protocol_addr,
        )),
        _ => None,
    }
}

/// The destination port of a TCP SYN (without ACK) in an untagged Ethernet frame.
fn syn_port(eth: &[u8]) -> Option<u16> {
    if eth.get(12..14) != Some(&[0x08, 0x00]) || eth.get(23) != Some(&6) {
        return None;
    }
    let l4 = 14 + usize::from(eth.get(14)? & 0x0f) * 4;
    let flags = *eth.get(l4 + 13)?;
    (flags & 0x12 == 0x02).then(|| u16::from_be_bytes([eth[l4 + 2], eth[l4 + 3]]))
}

/// Whether `eth` is an untagged Ethernet frame carrying an ICMP echo request.
fn is_echo_request(eth: &[u8]) -> bool {
    eth.get(12..14) == Some(&[0x08, 0x00])
        && eth.get(14).is_some_and(|v| v >> 4 == 4)
        && eth.get(23) == Some(&1)
        && {
            let ihl = usize::from(eth[14] & 0x0f) * 4;
            eth.get(14 + ihl) == Some(&8)
        }
}
