//! The demo capture's frames, each with the fate written beside it by hand.

use etherparse::{
    Icmpv4Type, IpNumber, PacketBuilder, VlanId,
    icmpv4::{DestUnreachableHeader, TimeExceededCode},
};

use super::DemoFrame;
use super::build::*;

/// Builds every demo frame, in capture order.
pub fn frames() -> Vec<DemoFrame> {
    let mut b = Builder { frames: Vec::new() };
    let inet = (INTERNET_ROUTER, GATEWAY);
    let from = |mac: [u8; 6]| (mac, GATEWAY);

    // --- NAT mode: DNAT in, SNAT out -----------------------------------------------------
    let f = b.tcp(
        inet,
        (CLIENT, 40000),
        ("47.0.0.10", 80),
        57,
        1000,
        b"GET / HTTP/1.1\r\nHost: demo\r\n\r\n",
    );
    b.push(
        f,
        "HTTP request from the Internet to NAT EIP 47.0.0.10",
        "dnat eni-web0",
    );
    let f = b.tcp(
        from(WEB0),
        ("172.16.0.10", 80),
        (CLIENT, 40000),
        64,
        5000,
        b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n",
    );
    b.push(
        f,
        "its reply from 172.16.0.10 leaves as 47.0.0.10",
        "snat internet",
    );
    let f = b.udp(
        from(WEB1),
        ("172.16.0.21", 5353),
        ("8.8.8.8", 53),
        64,
        &dns_query(),
    );
    b.push(
        f,
        "DNS query from secondary private IP 172.16.0.21 (EIP 47.0.0.1)",
        "snat internet",
    );
    let f = b.udp(
        inet,
        ("8.8.8.8", 53),
        ("47.0.0.1", 5353),
        118,
        &dns_answer(),
    );
    b.push(
        f,
        "DNS answer to 47.0.0.1 reaches 172.16.0.21",
        "dnat eni-web1",
    );
    let mut f = b.udp(inet, (CLIENT, 7000), ("47.0.0.2", 7000), 60, b"no checksum");
    f[14 + 20 + 6] = 0;
    f[14 + 20 + 7] = 0;
    b.push(
        f,
        "UDP without checksum (0) to 47.0.0.2 stays without checksum",
        "dnat eni-web1",
    );
    let mut f = Vec::new();
    PacketBuilder::ethernet2(inet.0, inet.1)
        .ipv4(ip(CLIENT), ip("47.0.0.1"), 55)
        .icmpv4_echo_request(0x1234, 1)
        .write(&mut f, b"ping payload")
        .expect("icmp");
    b.push(f, "ICMP echo request to 47.0.0.1", "dnat eni-web1");
    let mut f = Vec::new();
    PacketBuilder::ethernet2(WEB1, GATEWAY)
        .ipv4(ip("172.16.0.21"), ip(CLIENT), 64)
        .icmpv4_echo_reply(0x1234, 1)
        .write(&mut f, b"ping payload")
        .expect("icmp");
    b.push(f, "ICMP echo reply from 172.16.0.21", "snat internet");
    let mut f = Vec::new();
    PacketBuilder::ethernet2(inet.0, inet.1)
        .single_vlan(VlanId::try_new(100).expect("vid"))
        .ipv4(ip(CLIENT), ip("47.0.0.10"), 50)
        .udp(9000, 9001)
        .write(&mut f, b"tagged")
        .expect("vlan");
    b.push(
        f,
        "802.1Q VLAN 100 frame to 47.0.0.10: the tag is kept",
        "dnat eni-web0",
    );
    let full = b.tcp(
        inet,
        (CLIENT, 40001),
        ("47.0.0.10", 443),
        57,
        7,
        &[0x16u8; 1200],
    );
    let mut cut = full.clone();
    cut.truncate(96);
    b.frames.push(DemoFrame {
        orig_len: full.len() as u32,
        data: cut,
        what: "TCP segment cut to 96 bytes by the snap length: translated from the bytes present",
        expect: "dnat eni-web0",
    });

    // --- ALG: SIP and FTP embed the private address (no ALG in NAT mode) ------------------
    let sdp = "v=0\r\no=- 1 1 IN IP4 172.16.0.21\r\ns=call\r\nc=IN IP4 172.16.0.21\r\nt=0 0\r\nm=audio 30000 RTP/AVP 0\r\na=rtcp:30001\r\n";
    let invite = format!(
        "INVITE sip:bob@{SERVER} SIP/2.0\r\nVia: SIP/2.0/UDP 172.16.0.21:5060;branch=z9hG4bK1\r\nFrom: <sip:alice@172.16.0.21>;tag=1\r\nTo: <sip:bob@{SERVER}>\r\nCall-ID: demo-1@172.16.0.21\r\nCSeq: 1 INVITE\r\nContact: <sip:alice@172.16.0.21:5060>\r\nContent-Type: application/sdp\r\nContent-Length: {}\r\n\r\n{sdp}",
        sdp.len()
    );
    let f = b.udp(
        from(WEB1),
        ("172.16.0.21", 5060),
        (SERVER, 5060),
        64,
        invite.as_bytes(),
    );
    b.push(
        f,
        "SIP INVITE from a NAT-mode instance: SDP c= carries 172.16.0.21",
        "snat internet",
    );
    let f = b.udp(
        from(WEB1),
        ("172.16.0.21", 30000),
        (SERVER, 40000),
        64,
        &[0x80, 0, 0, 1, 0, 0, 0, 160, 0, 0, 0, 1],
    );
    b.push(f, "RTP from the announced port 30000", "snat internet");
    let f = b.tcp(
        from(WEB0),
        ("172.16.0.10", 50000),
        (SERVER, 21),
        64,
        100,
        b"PORT 172,16,0,10,195,80\r\n",
    );
    b.push(
        f,
        "FTP PORT command from a NAT-mode instance carries 172.16.0.10",
        "snat internet",
    );
    let f = b.tcp(
        inet,
        (SERVER, 21),
        ("47.0.0.10", 50000),
        52,
        900,
        b"200 PORT command successful\r\n",
    );
    b.push(f, "FTP reply", "dnat eni-web0");

    // --- Cut-through and multi-EIP: pass-through -----------------------------------------
    let f = b.tcp(
        inet,
        (CLIENT, 40002),
        ("47.0.0.20", 22),
        57,
        1,
        b"SSH-2.0-client\r\n",
    );
    b.push(
        f,
        "to cut-through EIP 47.0.0.20: unchanged",
        "pass-through eni-cut",
    );
    let f = b.tcp(
        from(CUT),
        ("47.0.0.20", 22),
        (CLIENT, 40002),
        64,
        1,
        b"SSH-2.0-server\r\n",
    );
    b.push(
        f,
        "from the cut-through ENI with its EIP as source",
        "pass-through internet",
    );
    let f = b.udp(inet, (CLIENT, 6000), ("47.0.0.31", 6000), 57, b"multi");
    b.push(
        f,
        "to multi-EIP 47.0.0.31 (configured in the OS)",
        "pass-through eni-multi",
    );
    let f = b.udp(
        from(MULTI),
        ("47.0.0.31", 6000),
        (CLIENT, 6000),
        64,
        b"multi back",
    );
    b.push(
        f,
        "from the multi-EIP ENI with EIP source",
        "pass-through internet",
    );

    // --- Inside the VPC ------------------------------------------------------------------
    let f = b.tcp(
        from(WEB0),
        ("172.16.0.10", 33000),
        ("172.16.1.5", 3306),
        64,
        1,
        b"query",
    );
    b.push(
        f,
        "intra-VPC to eni-app0: unchanged, TTL kept",
        "intra-vpc eni-app0",
    );
    let f = b.udp(
        from(MULTI),
        ("172.16.2.10", 5000),
        ("172.16.1.5", 5000),
        64,
        b"private",
    );
    b.push(
        f,
        "multi-EIP ENI keeps its private network",
        "intra-vpc eni-app0",
    );
    let f = b.tcp(
        from(WEB0),
        ("172.16.0.10", 33001),
        ("47.0.0.1", 8080),
        64,
        1,
        b"hairpin",
    );
    b.push(
        f,
        "hairpin: 172.16.0.10 to EIP 47.0.0.1 (SNAT to 47.0.0.10, DNAT to 172.16.0.21)",
        "hairpin eni-web1",
    );

    // --- ICMP errors (RFC 5508) ----------------------------------------------------------
    let probe = b.udp(
        from(WEB1),
        ("172.16.0.21", 40400),
        (SERVER, 33434),
        64,
        b"probe",
    );
    b.push(probe, "UDP probe to a closed port", "snat internet");
    let quoted = b.udp(inet, ("47.0.0.1", 40400), (SERVER, 33434), 63, b"probe");
    let mut f = Vec::new();
    PacketBuilder::ethernet2(inet.0, inet.1)
        .ipv4(ip(SERVER), ip("47.0.0.1"), 50)
        .icmpv4(Icmpv4Type::DestinationUnreachable(
            DestUnreachableHeader::Port,
        ))
        .write(&mut f, l3(&quoted))
        .expect("icmp");
    b.push(
        f,
        "ICMP port unreachable quoting the SNATed probe: outer and quoted addresses translated",
        "dnat eni-web1",
    );
    let quoted = b.tcp(inet, ("47.0.0.10", 80), (CLIENT, 40000), 1, 5000, b"");
    let mut f = Vec::new();
    PacketBuilder::ethernet2(inet.0, inet.1)
        .ipv4(ip("192.0.2.1"), ip("47.0.0.10"), 250)
        .icmpv4(Icmpv4Type::TimeExceeded(
            TimeExceededCode::TtlExceededInTransit,
        ))
        .write(&mut f, &l3(&quoted)[..28])
        .expect("icmp");
    b.push(
        f,
        "ICMP time exceeded from a router, quoting 28 bytes of a TCP segment",
        "dnat eni-web0",
    );
    let quoted = b.udp(inet, (CLIENT, 41000), ("172.16.0.10", 161), 56, b"snmp");
    let mut f = Vec::new();
    PacketBuilder::ethernet2(WEB0, GATEWAY)
        .ipv4(ip("172.16.0.10"), ip(CLIENT), 64)
        .icmpv4(Icmpv4Type::DestinationUnreachable(
            DestUnreachableHeader::Port,
        ))
        .write(&mut f, l3(&quoted))
        .expect("icmp");
    b.push(
        f,
        "ICMP error sent by the instance: source and quoted destination become 47.0.0.10",
        "snat internet",
    );

    // --- Fragments -----------------------------------------------------------------------
    let mut echo = Vec::new();
    PacketBuilder::ipv4(ip(CLIENT), ip("47.0.0.1"), 64)
        .icmpv4_echo_request(0x4321, 7)
        .write(&mut echo, &[0xabu8; 1400])
        .expect("echo");
    let icmp = &echo[20..];
    let f = fragment(
        inet,
        (CLIENT, "47.0.0.1"),
        IpNumber::ICMP,
        77,
        (0, true),
        &icmp[..800],
    );
    b.push(
        f,
        "first fragment of a 1408-byte ICMP echo",
        "dnat eni-web1",
    );
    let f = fragment(
        inet,
        (CLIENT, "47.0.0.1"),
        IpNumber::ICMP,
        77,
        (100, false),
        &icmp[800..],
    );
    b.push(
        f,
        "second fragment: only the IP header changes",
        "dnat eni-web1",
    );
    let mut dgram = Vec::new();
    PacketBuilder::ipv4(ip("172.16.0.21"), ip(SERVER), 64)
        .udp(4500, 4500)
        .write(&mut dgram, &[0x5au8; 1600])
        .expect("udp");
    let udp = &dgram[20..];
    let f = fragment(
        from(WEB1),
        ("172.16.0.21", SERVER),
        IpNumber::UDP,
        78,
        (0, true),
        &udp[..1200],
    );
    b.push(
        f,
        "first fragment of an outbound UDP datagram: UDP checksum updated",
        "snat internet",
    );
    let f = fragment(
        from(WEB1),
        ("172.16.0.21", SERVER),
        IpNumber::UDP,
        78,
        (150, false),
        &udp[1200..],
    );
    b.push(f, "its second fragment", "snat internet");

    // --- Every drop reason ---------------------------------------------------------------
    let f = b.udp(inet, (CLIENT, 1), ("47.0.0.200", 1), 60, b"x");
    b.push(
        f,
        "to an address that is no EIP",
        "drop unknown-destination",
    );
    let f = b.udp(from(WEB0), ("172.16.0.10", 1), ("172.16.9.9", 1), 64, b"x");
    b.push(
        f,
        "to a VPC address nobody owns",
        "drop unknown-destination",
    );
    let f = b.udp(inet, (CLIENT, 1), ("47.0.0.99", 1), 60, b"x");
    b.push(
        f,
        "to an EIP with no association",
        "drop eip-not-associated",
    );
    let f = b.udp(inet, (CLIENT, 1), ("47.0.0.40", 1), 60, b"x");
    b.push(f, "to the NAT EIP of a detached ENI", "drop eni-detached");
    let f = b.udp(from(SPARE), ("172.16.3.10", 1), (SERVER, 1), 64, b"x");
    b.push(f, "from a detached ENI's MAC", "drop eni-detached");
    let f = b.udp(from(WEB0), ("172.16.0.21", 1), (SERVER, 1), 64, b"spoof");
    b.push(
        f,
        "from eni-web0 with eni-web1's address as source",
        "drop source-check",
    );
    let f = b.udp(from(CUT), ("172.16.1.10", 1), (SERVER, 1), 64, b"x");
    b.push(
        f,
        "from the cut-through ENI with its former private IP",
        "drop source-check",
    );
    let f = b.udp(from(WEB1), ("172.16.0.20", 1), (SERVER, 1), 64, b"x");
    b.push(
        f,
        "from a private IP without a NAT EIP to the Internet",
        "drop no-public-address",
    );
    let f = b.udp(from(MULTI), ("172.16.2.10", 1), (SERVER, 1), 64, b"x");
    b.push(
        f,
        "from the multi-EIP ENI's private IP to the Internet",
        "drop no-public-address",
    );
    let f = b.udp(from(WEB0), ("172.16.0.10", 1), ("172.16.1.10", 1), 64, b"x");
    b.push(
        f,
        "to the cut-through ENI's former private IP",
        "drop private-network-unavailable",
    );
    let f = b.udp(from(CUT), ("47.0.0.20", 1), ("172.16.0.10", 1), 64, b"x");
    b.push(
        f,
        "from the cut-through ENI into the VPC",
        "drop private-network-unavailable",
    );
    let f = b.udp(inet, (CLIENT, 1), ("47.0.0.50", 1), 60, b"x");
    b.push(
        f,
        "to a cut-through EIP whose instance has no DHCP",
        "drop guest-not-configured",
    );
    let f = b.udp(inet, (CLIENT, 1), ("47.0.0.32", 1), 60, b"x");
    b.push(
        f,
        "to a multi-EIP the OS did not configure",
        "drop guest-not-configured",
    );
    let f = b.tcp(inet, (CLIENT, 40003), ("47.0.0.20", 3389), 57, 1, b"");
    b.push(
        f,
        "to cut-through EIP 47.0.0.20 on tcp/3389: its group sg-cut allows only tcp/22 in",
        "drop security-group",
    );
    let mut f = Vec::new();
    PacketBuilder::ethernet2(inet.0, inet.1)
        .ipv4(ip(CLIENT), ip("47.0.0.20"), 55)
        .icmpv4_echo_request(0x4321, 1)
        .write(&mut f, b"ping payload")
        .expect("icmp");
    b.push(
        f,
        "ICMP echo request to 47.0.0.20: sg-cut's rule 2 drops ICMP",
        "drop security-group",
    );
    let f = b.tcp(from(WEB0), ("172.16.0.10", 40025), (SERVER, 25), 64, 1, b"");
    b.push(
        f,
        "SMTP from 172.16.0.10 to the Internet: the provider blocks tcp/25 out",
        "drop tcp-25-restricted",
    );
    let f = b.udp(inet, (CLIENT, 1), ("47.0.0.10", 1), 1, b"x");
    b.push(f, "TTL 1 at the gateway", "drop ttl-expired");
    let f = b.udp(from(WEB0), ("172.16.0.10", 1), ("172.16.1.5", 1), 1, b"x");
    b.push(
        f,
        "TTL 1 inside the VPC: no gateway, delivered",
        "intra-vpc eni-app0",
    );
    let mut f = b.udp(inet, (CLIENT, 1), ("47.0.0.10", 1), 60, b"x");
    f[14] = 0x44;
    b.push(f, "IPv4 header with IHL 4", "drop malformed");
    b.push(
        vec![0x00, 0x16, 0x3e, 0, 0, 0x10, 0x02, 0, 0],
        "Ethernet header cut short",
        "drop malformed",
    );
    let mut f = Vec::new();
    PacketBuilder::ethernet2(inet.0, inet.1)
        .ipv6(
            [0x20, 1, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1],
            [0x20, 1, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2],
            64,
        )
        .udp(1, 1)
        .write(&mut f, b"v6")
        .expect("v6");
    b.push(f, "IPv6", "drop not-ipv4");
    let mut arp = vec![0xff; 6];
    arp.extend_from_slice(&INTERNET_ROUTER);
    arp.extend_from_slice(&[0x08, 0x06, 0, 1, 8, 0, 6, 4, 0, 1]);
    arp.extend_from_slice(&INTERNET_ROUTER);
    arp.extend_from_slice(&ip(CLIENT));
    arp.extend_from_slice(&[0; 6]);
    arp.extend_from_slice(&ip("47.0.0.10"));
    b.push(arp, "ARP request", "drop not-ipv4");
    b.frames
}
