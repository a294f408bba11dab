//! The VPC's DHCP server: it sits behind the gateway MAC and gives a cut-through (BINDED) NIC
//! its EIP. Pure: one client frame in, at most one answer frame out, built and parsed with
//! smoltcp's wire types.

use std::net::Ipv4Addr;

use smoltcp::phy::ChecksumCapabilities;
use smoltcp::wire::{
    DhcpMessageType, DhcpOption, DhcpPacket, DhcpRepr, EthernetAddress, EthernetFrame,
    EthernetProtocol, EthernetRepr, IpProtocol, Ipv4Packet, Ipv4Repr, UdpPacket, UdpRepr,
};

/// The UDP port DHCP servers listen on.
pub const SERVER_PORT: u16 = 67;
/// The UDP port DHCP clients listen on.
pub const CLIENT_PORT: u16 = 68;
/// The TTL of the server's answers.
pub const TTL: u8 = 64;

/// DHCP option 58, the renewal (T1) time.
const OPT_RENEWAL_TIME: u8 = 58;
/// DHCP option 59, the rebinding (T2) time.
const OPT_REBINDING_TIME: u8 = 59;

/// What the server leases to one NIC.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Lease {
    /// The address the NIC gets (its EIP in cut-through mode).
    pub address: Ipv4Addr,
    /// The subnet mask (option 1).
    pub mask: Ipv4Addr,
    /// The default gateway (router option 3).
    pub gateway: Ipv4Addr,
    /// The lease time in seconds (option 51); T1 is half of it, T2 seven eighths.
    pub lease_s: u32,
}

/// The server's own address and MAC (the gateway of the lease is the router option; the
/// server identifier is `server`).
#[derive(Clone, Copy, Debug)]
pub struct Server {
    /// The MAC the answers come from (the gateway MAC).
    pub mac: [u8; 6],
    /// The server's address: source of its answers and its server identifier (option 54).
    pub server: Ipv4Addr,
}

/// What a client frame was.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Request {
    /// DHCPDISCOVER: answered with an OFFER of the lease.
    Discover,
    /// DHCPREQUEST: answered with an ACK for the lease's address, a NAK for any other.
    Request,
    /// DHCPRELEASE: no answer.
    Release,
    /// DHCPDECLINE: no answer.
    Decline,
    /// DHCPINFORM: no answer.
    Inform,
    /// Any other message type a client sent: no answer.
    Other,
}

impl From<DhcpMessageType> for Request {
    fn from(t: DhcpMessageType) -> Request {
        match t {
            DhcpMessageType::Discover => Request::Discover,
            DhcpMessageType::Request => Request::Request,
            DhcpMessageType::Release => Request::Release,
            DhcpMessageType::Decline => Request::Decline,
            DhcpMessageType::Inform => Request::Inform,
            _ => Request::Other,
        }
    }
}

const ETH_LEN: usize = 14;
const IP_MIN_LEN: usize = 20;
const UDP_LEN: usize = 8;

/// Whether `frame` (an untagged Ethernet II frame) is a DHCP client message: IPv4, UDP from port
/// 68 to port 67 (and not a later fragment). Cheap (offsets), no allocation.
pub fn is_client_message(frame: &[u8]) -> bool {
    let Some(ip) = frame.get(ETH_LEN..) else {
        return false;
    };
    if frame[12..14] != [0x08, 0x00] || ip.len() < IP_MIN_LEN || ip[0] >> 4 != 4 {
        return false;
    }
    let ihl = usize::from(ip[0] & 0x0f) * 4;
    // Protocol UDP and fragment offset 0 (a later fragment has no UDP header).
    if ihl < IP_MIN_LEN || ip[9] != 17 || (ip[6] & 0x1f) != 0 || ip[7] != 0 {
        return false;
    }
    match ip.get(ihl..ihl + 4) {
        Some(udp) => {
            u16::from_be_bytes([udp[0], udp[1]]) == CLIENT_PORT
                && u16::from_be_bytes([udp[2], udp[3]]) == SERVER_PORT
        }
        None => false,
    }
}

/// Answers one client frame sent by the NIC with MAC `nic_mac`.
///
/// Returns `Ok(None)` when `frame` is not a DHCP client message ([`is_client_message`] is false),
/// `Ok(Some(kind))` for a client message of type `kind`, and `Err` naming the header or field
/// that does not parse when the frame looks like a client message but is not a valid one.
/// Checksums of the client frame are not verified (captures often hold frames from hosts whose
/// NIC fills them in later).
///
/// `out` is cleared first; it holds the answer when there is one and stays empty otherwise:
/// DISCOVER -> OFFER of `lease`; REQUEST for `lease.address` (the requested-IP option, or ciaddr
/// when renewing) -> ACK; REQUEST for another address -> NAK; a REQUEST naming another server
/// (server identifier option) -> nothing, as RFC 2131 says (the client chose that server);
/// RELEASE, DECLINE, INFORM and other types -> nothing; `lease: None` -> nothing.
///
/// The answer is an Ethernet II frame from `server.mac` to `nic_mac`, IPv4 from `server.server`
/// to the offered address (to 255.255.255.255 when the client set the broadcast flag, and always
/// for a NAK), TTL 64, UDP 67 -> 68, both checksums computed, carrying the DHCP message: message
/// type, server identifier, and for OFFER and ACK the subnet mask, router (`lease.gateway`),
/// lease time, renewal time T1 (lease / 2) and rebinding time T2 (lease * 7 / 8); the client's
/// xid, chaddr, ciaddr, giaddr and broadcast flag are echoed.
pub fn answer(
    frame: &[u8],
    nic_mac: [u8; 6],
    lease: Option<&Lease>,
    server: &Server,
    out: &mut Vec<u8>,
) -> Result<Option<Request>, String> {
    out.clear();
    if !is_client_message(frame) {
        return Ok(None);
    }
    let eth = EthernetFrame::new_checked(frame).map_err(|_| "Ethernet header cut short")?;
    let ip = Ipv4Packet::new_checked(eth.payload())
        .map_err(|_| "IPv4 header: length fields do not fit the frame")?;
    let ignored = ChecksumCapabilities::ignored();
    let ip_repr =
        Ipv4Repr::parse(&ip, &ignored).map_err(|_| "IPv4 header: fragment or bad version")?;
    let udp = UdpPacket::new_checked(ip.payload())
        .map_err(|_| "UDP header: length field does not fit the IPv4 payload")?;
    UdpRepr::parse(
        &udp,
        &ip_repr.src_addr.into(),
        &ip_repr.dst_addr.into(),
        &ignored,
    )
    .map_err(|_| "UDP header")?;
    let dhcp = DhcpPacket::new_checked(udp.payload())
        .map_err(|_| "DHCP message cut short (under 240 bytes)")?;
    let req = DhcpRepr::parse(&dhcp).map_err(
        |_| "DHCP message: hardware type/length, magic cookie, client identifier or message type",
    )?;
    let kind = Request::from(req.message_type);
    let Some(lease) = lease else {
        return Ok(Some(kind));
    };
    let reply = match kind {
        Request::Discover => DhcpMessageType::Offer,
        Request::Request => {
            if req.server_identifier.is_some_and(|s| s != server.server) {
                return Ok(Some(kind));
            }
            let asked = req
                .requested_ip
                .or((!req.client_ip.is_unspecified()).then_some(req.client_ip));
            if asked == Some(lease.address) {
                DhcpMessageType::Ack
            } else {
                DhcpMessageType::Nak
            }
        }
        _ => return Ok(Some(kind)),
    };
    write_reply(&req, reply, nic_mac, lease, server, out);
    Ok(Some(kind))
}

/// Writes the `reply` to `req` into `out` (empty on entry).
fn write_reply(
    req: &DhcpRepr,
    reply: DhcpMessageType,
    nic_mac: [u8; 6],
    lease: &Lease,
    server: &Server,
    out: &mut Vec<u8>,
) {
    let nak = reply == DhcpMessageType::Nak;
    let t1 = (lease.lease_s / 2).to_be_bytes();
    let t2 = ((u64::from(lease.lease_s) * 7 / 8) as u32).to_be_bytes();
    let times = [
        DhcpOption {
            kind: OPT_RENEWAL_TIME,
            data: &t1,
        },
        DhcpOption {
            kind: OPT_REBINDING_TIME,
            data: &t2,
        },
    ];
    let unspecified = Ipv4Addr::UNSPECIFIED;
    let repr = DhcpRepr {
        message_type: reply,
        transaction_id: req.transaction_id,
        secs: 0,
        client_hardware_address: req.client_hardware_address,
        client_ip: if reply == DhcpMessageType::Ack {
            req.client_ip
        } else {
            unspecified
        },
        your_ip: if nak { unspecified } else { lease.address },
        server_ip: unspecified,
        router: (!nak).then_some(lease.gateway),
        subnet_mask: (!nak).then_some(lease.mask),
        relay_agent_ip: req.relay_agent_ip,
        broadcast: req.broadcast,
        requested_ip: None,
        client_identifier: None,
        server_identifier: Some(server.server),
        parameter_request_list: None,
        dns_servers: None,
        max_size: None,
        lease_duration: (!nak).then_some(lease.lease_s),
        renew_duration: None,
        rebind_duration: None,
        additional_options: if nak { &[] } else { &times },
    };
    let dst = if req.broadcast || nak {
        Ipv4Addr::BROADCAST
    } else {
        lease.address
    };
    let dhcp_len = repr.buffer_len();
    let ip_repr = Ipv4Repr {
        src_addr: server.server,
        dst_addr: dst,
        next_header: IpProtocol::Udp,
        payload_len: UDP_LEN + dhcp_len,
        hop_limit: TTL,
    };
    out.resize(ETH_LEN + ip_repr.buffer_len() + UDP_LEN + dhcp_len, 0);
    let mut eth = EthernetFrame::new_unchecked(&mut out[..]);
    EthernetRepr {
        src_addr: EthernetAddress(server.mac),
        dst_addr: EthernetAddress(nic_mac),
        ethertype: EthernetProtocol::Ipv4,
    }
    .emit(&mut eth);
    let caps = ChecksumCapabilities::default();
    let mut ip = Ipv4Packet::new_unchecked(eth.payload_mut());
    ip_repr.emit(&mut ip, &caps);
    let mut udp = UdpPacket::new_unchecked(ip.payload_mut());
    let mut emitted = Ok(());
    UdpRepr {
        src_port: SERVER_PORT,
        dst_port: CLIENT_PORT,
    }
    .emit(
        &mut udp,
        &server.server.into(),
        &dst.into(),
        dhcp_len,
        |buf| emitted = repr.emit(&mut DhcpPacket::new_unchecked(buf)),
        &caps,
    );
    // The buffer is sized by `buffer_len`, so the options always fit.
    debug_assert!(emitted.is_ok());
}

#[cfg(test)]
mod tests;
