//! Properties of the forwarding core over random frames (proptest).
//!
//! - Every frame forwarded through a NAT topology has IPv4, TCP, UDP and ICMP checksums that
//!   verify, checked with smoltcp::wire, independently of eipsim's checksum code (ICMP errors:
//!   the quoted IP header and quoted L4 checksum too, when wholly quoted).
//! - SNAT of an outbound frame, then DNAT of the reply (addresses and ports of the translated
//!   frame swapped, fed from the Internet) gives the original private address back.
//! - IPv4 fragments translated one by one reassemble into a datagram whose checksum verifies.
//! - Arbitrary bytes never make `process` panic, whatever the link type, and a dropped frame is
//!   left unchanged.

use eipsim::dataplane::{Action, Dataplane, Outcome, Port};
use eipsim::model::Cloud;
use eipsim::wire::LinkType;
use etherparse::icmpv4::{DestUnreachableHeader, TimeExceededCode};
use etherparse::{
    Icmpv4Type, IpFragOffset, IpHeaders, IpNumber, Ipv4Header, PacketBuilder, PacketBuilderStep,
    VlanId,
};
use proptest::prelude::*;
use smoltcp::wire::{Icmpv4Packet, IpAddress, Ipv4Packet, TcpPacket, UdpPacket};

const GW: [u8; 6] = [0xee, 0xff, 0xff, 0xff, 0xff, 0xff];
const INET: [u8; 6] = [0x02, 0, 0, 0, 0, 0x01];
const PEER: [u8; 6] = [0x02, 0, 0, 0, 0, 0x99];

/// One NAT mapping of the topology: ENI index, its MAC, the private IP and its EIP.
#[derive(Clone, Copy, Debug)]
struct Mapping {
    eni: u32,
    mac: [u8; 6],
    private: [u8; 4],
    eip: [u8; 4],
}

/// A NAT-only topology: a primary ENI with one EIP and three secondary ENIs with three private
/// IPs each, every private IP mapped to its own EIP.
fn topology() -> (String, Vec<Mapping>) {
    let mut t = String::from(
        r#"region = "cn-hangzhou"
[vpc]
cidr = "10.0.0.0/16"
gateway_mac = "ee:ff:ff:ff:ff:ff"
internet_mac = "02:00:00:00:00:01"

[[instance]]
id = "i-1"
family = "ecs.g6"
"#,
    );
    let mut maps = Vec::new();
    let mut enis = vec![(
        "eni-p".to_string(),
        "primary",
        [0x00, 0x16, 0x3e, 0, 1, 0],
        vec![[10, 0, 1, 1]],
    )];
    for k in 1..=3u8 {
        enis.push((
            format!("eni-s{k}"),
            "secondary",
            [0x00, 0x16, 0x3e, 0, 2, k],
            vec![
                [10, 0, 2, k * 10],
                [10, 0, 2, k * 10 + 1],
                [10, 0, 2, k * 10 + 2],
            ],
        ));
    }
    let mut assoc = String::new();
    let mut eips = String::new();
    let mut n = 0u8;
    for (i, (id, kind, mac, ips)) in enis.iter().enumerate() {
        let ip = |a: &[u8; 4]| format!("\"{}.{}.{}.{}\"", a[0], a[1], a[2], a[3]);
        let secondary: Vec<String> = ips[1..].iter().map(ip).collect();
        t += &format!(
            "[[eni]]\nid = \"{id}\"\nkind = \"{kind}\"\nmac = \"{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}\"\nprimary_ip = {}\nsecondary_ips = [{}]\ninstance = \"i-1\"\n\n",
            mac[0],
            mac[1],
            mac[2],
            mac[3],
            mac[4],
            mac[5],
            ip(&ips[0]),
            secondary.join(", ")
        );
        for p in ips {
            n += 1;
            let eip = [47, 1, 0, n];
            eips += &format!("[[eip]]\nid = \"eip-{n}\"\naddress = {}\n\n", ip(&eip));
            assoc += &format!(
                "[[association]]\neip = \"eip-{n}\"\neni = \"{id}\"\nmode = \"NAT\"\nprivate_ip = {}\n\n",
                ip(p)
            );
            maps.push(Mapping {
                eni: i as u32,
                mac: *mac,
                private: *p,
                eip,
            });
        }
    }
    t += &eips;
    t += &assoc;
    (t, maps)
}

fn setup() -> (Dataplane, Vec<Mapping>) {
    let (t, maps) = topology();
    let cloud = Cloud::from_toml(&t).expect("the NAT topology loads");
    (Dataplane::new(&cloud), maps)
}

// ---------------------------------------------------------------------------------------------
// Frame generation

#[derive(Clone, Debug)]
enum L4 {
    Tcp {
        sport: u16,
        dport: u16,
        seq: u32,
        ack: u32,
        win: u16,
    },
    Udp {
        sport: u16,
        dport: u16,
        no_checksum: bool,
    },
    Echo {
        id: u16,
        seq: u16,
        reply: bool,
    },
    /// An ICMP error quoting a TCP (`tcp`) or UDP datagram that travelled the other way;
    /// `quote_len` None: the whole datagram, else that many bytes of it (at least 28).
    Error {
        kind: u8,
        tcp: bool,
        sport: u16,
        dport: u16,
        quote_len: Option<usize>,
    },
}

#[derive(Clone, Copy, Debug)]
enum Link {
    Eth,
    Vlan(u16),
    Raw,
}

#[derive(Clone, Debug)]
struct Spec {
    link: Link,
    ttl: u8,
    ident: u16,
    df: bool,
    dscp: u8,
    l4: L4,
    payload: Vec<u8>,
}

fn public_addr() -> impl Strategy<Value = [u8; 4]> {
    (1u8..=223, any::<[u8; 3]>())
        .prop_filter("not private, EIP or loopback space", |(a, _)| {
            *a != 10 && *a != 47 && *a != 127
        })
        .prop_map(|(a, r)| [a, r[0], r[1], r[2]])
}

fn l4() -> impl Strategy<Value = L4> {
    prop_oneof![
        (
            any::<u16>(),
            any::<u16>(),
            any::<u32>(),
            any::<u32>(),
            any::<u16>()
        )
            .prop_map(|(sport, dport, seq, ack, win)| L4::Tcp {
                sport,
                dport,
                seq,
                ack,
                win
            }),
        (any::<u16>(), any::<u16>(), prop::bool::weighted(0.2)).prop_map(
            |(sport, dport, no_checksum)| L4::Udp {
                sport,
                dport,
                no_checksum
            }
        ),
        (any::<u16>(), any::<u16>(), any::<bool>()).prop_map(|(id, seq, reply)| L4::Echo {
            id,
            seq,
            reply
        }),
        (
            prop::sample::select(vec![3u8, 11]),
            any::<bool>(),
            any::<u16>(),
            any::<u16>(),
            prop::option::of(28usize..=60)
        )
            .prop_map(|(kind, tcp, sport, dport, quote_len)| L4::Error {
                kind,
                tcp,
                sport,
                dport,
                quote_len
            }),
    ]
}

fn spec(min_ttl: u8) -> impl Strategy<Value = Spec> {
    (
        prop_oneof![
            3 => Just(Link::Eth),
            1 => (1u16..4095).prop_map(Link::Vlan),
            1 => Just(Link::Raw)
        ],
        min_ttl..=255u8,
        any::<u16>(),
        any::<bool>(),
        0u8..64,
        l4(),
        prop::collection::vec(any::<u8>(), 0..300),
    )
        .prop_map(|(link, ttl, ident, df, dscp, l4, payload)| Spec {
            link,
            ttl,
            ident,
            df,
            dscp,
            l4,
            payload,
        })
}

fn start(link: Link, macs: ([u8; 6], [u8; 6]), ip: Ipv4Header) -> PacketBuilderStep<IpHeaders> {
    let ip = IpHeaders::Ipv4(ip, Default::default());
    match link {
        Link::Eth => PacketBuilder::ethernet2(macs.0, macs.1).ip(ip),
        Link::Vlan(v) => PacketBuilder::ethernet2(macs.0, macs.1)
            .single_vlan(VlanId::try_new(v).unwrap())
            .ip(ip),
        Link::Raw => PacketBuilder::ip(ip),
    }
}

fn link_type(link: Link) -> LinkType {
    match link {
        Link::Eth | Link::Vlan(_) => LinkType::Ethernet,
        Link::Raw => LinkType::RawIp,
    }
}

fn l3_offset(link: Link) -> usize {
    match link {
        Link::Eth => 14,
        Link::Vlan(_) => 18,
        Link::Raw => 0,
    }
}

fn header(s: &Spec, src: [u8; 4], dst: [u8; 4]) -> Ipv4Header {
    let mut h = Ipv4Header {
        source: src,
        destination: dst,
        time_to_live: s.ttl,
        identification: s.ident,
        dont_fragment: s.df,
        ..Default::default()
    };
    h.dscp = etherparse::IpDscp::try_new(s.dscp).unwrap();
    h
}

/// The quoted datagram of an ICMP error sent from `src` to `dst`: it travelled from `dst` to
/// `src`.
fn quote(l4: &L4, src: [u8; 4], dst: [u8; 4], payload: &[u8]) -> Vec<u8> {
    let L4::Error {
        tcp,
        sport,
        dport,
        quote_len,
        ..
    } = l4
    else {
        unreachable!()
    };
    let b = PacketBuilder::ipv4(dst, src, 61);
    let mut q = Vec::new();
    let data = &payload[..payload.len().min(40)];
    if *tcp {
        b.tcp(*sport, *dport, 1, 1000).write(&mut q, data).unwrap();
    } else {
        b.udp(*sport, *dport).write(&mut q, data).unwrap();
    }
    if let Some(n) = quote_len {
        q.truncate(*n);
    }
    q
}

fn build(s: &Spec, macs: ([u8; 6], [u8; 6]), src: [u8; 4], dst: [u8; 4]) -> Vec<u8> {
    let b = start(s.link, macs, header(s, src, dst));
    let mut out = Vec::new();
    match &s.l4 {
        L4::Tcp {
            sport,
            dport,
            seq,
            ack,
            win,
        } => b
            .tcp(*sport, *dport, *seq, *win)
            .ack(*ack)
            .write(&mut out, &s.payload),
        L4::Udp { sport, dport, .. } => b.udp(*sport, *dport).write(&mut out, &s.payload),
        L4::Echo { id, seq, reply } => {
            if *reply {
                b.icmpv4_echo_reply(*id, *seq).write(&mut out, &s.payload)
            } else {
                b.icmpv4_echo_request(*id, *seq).write(&mut out, &s.payload)
            }
        }
        L4::Error { kind, .. } => {
            let t = if *kind == 3 {
                Icmpv4Type::DestinationUnreachable(DestUnreachableHeader::Port)
            } else {
                Icmpv4Type::TimeExceeded(TimeExceededCode::TtlExceededInTransit)
            };
            b.icmpv4(t)
                .write(&mut out, &quote(&s.l4, src, dst, &s.payload))
        }
    }
    .unwrap();
    if let L4::Udp {
        no_checksum: true, ..
    } = s.l4
    {
        let at = l3_offset(s.link) + 20 + 6;
        out[at] = 0;
        out[at + 1] = 0;
    }
    out
}

// ---------------------------------------------------------------------------------------------
// Independent verification (smoltcp::wire)

fn ip_of(a: smoltcp::wire::Ipv4Address) -> IpAddress {
    IpAddress::Ipv4(a)
}

/// Verifies the L4 checksum of a whole TCP/UDP segment; Err names what failed.
fn verify_l4(proto: u8, src: IpAddress, dst: IpAddress, seg: &[u8]) -> Result<(), String> {
    match proto {
        6 => {
            let t = TcpPacket::new_checked(seg).map_err(|e| format!("tcp: {e}"))?;
            if !t.verify_checksum(&src, &dst) {
                return Err("bad TCP checksum".into());
            }
        }
        17 => {
            let u = UdpPacket::new_checked(seg).map_err(|e| format!("udp: {e}"))?;
            if !u.verify_checksum(&src, &dst) {
                return Err("bad UDP checksum".into());
            }
        }
        1 => {
            let i = Icmpv4Packet::new_checked(seg).map_err(|e| format!("icmp: {e}"))?;
            if !i.verify_checksum() {
                return Err("bad ICMP checksum".into());
            }
        }
        _ => {}
    }
    Ok(())
}

/// Every checksum of the IPv4 packet at `ip` verifies (the quoted packet of an ICMP error too).
fn verify(ip: &[u8]) -> Result<(), String> {
    let p = Ipv4Packet::new_checked(ip).map_err(|e| format!("ipv4: {e}"))?;
    if !p.verify_checksum() {
        return Err("bad IPv4 header checksum".into());
    }
    let proto = u8::from(p.next_header());
    let (src, dst) = (ip_of(p.src_addr()), ip_of(p.dst_addr()));
    let seg = p.payload();
    verify_l4(proto, src, dst, seg)?;
    if proto == 1 && matches!(seg[0], 3 | 11) {
        let quoted = &seg[8..];
        // The quoted header always verifies; the quoted L4 only when wholly quoted.
        let hl = usize::from(quoted[0] & 0x0f) * 4;
        if quoted.len() < hl || !Ipv4Packet::new_unchecked(&quoted[..hl]).verify_checksum() {
            return Err("bad quoted IPv4 header checksum".into());
        }
        let total = usize::from(u16::from_be_bytes([quoted[2], quoted[3]]));
        if total == quoted.len() {
            let qp = Ipv4Packet::new_checked(quoted).map_err(|e| format!("quoted: {e}"))?;
            verify_l4(
                u8::from(qp.next_header()),
                ip_of(qp.src_addr()),
                ip_of(qp.dst_addr()),
                &quoted[hl..],
            )
            .map_err(|e| format!("quoted: {e}"))?;
        }
    }
    Ok(())
}

fn addrs(ip: &[u8]) -> ([u8; 4], [u8; 4]) {
    (
        [ip[12], ip[13], ip[14], ip[15]],
        [ip[16], ip[17], ip[18], ip[19]],
    )
}

fn udp_checksum(s: &Spec, frame: &[u8]) -> Option<u16> {
    let at = l3_offset(s.link) + 20 + 6;
    matches!(s.l4, L4::Udp { .. }).then(|| u16::from_be_bytes([frame[at], frame[at + 1]]))
}

// ---------------------------------------------------------------------------------------------
// Properties

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// Inbound frames to an EIP are DNATed; every checksum of the result verifies.
    #[test]
    fn dnat_checksums_verify(s in spec(2), m in 0usize..10, remote in public_addr()) {
        let (dp, maps) = setup();
        let m = maps[m];
        let input = build(&s, (PEER, GW), remote, m.eip);
        verify(&input[l3_offset(s.link)..]).unwrap();
        let mut f = input.clone();
        let v = dp.process(&mut f, link_type(s.link));
        prop_assert_eq!(v.outcome, Outcome::Forward(Port::Eni(m.eni), Action::Dnat));
        let ip = &f[l3_offset(s.link)..];
        if let Err(e) = verify(ip) {
            prop_assert!(false, "{}\n{:02x?}", e, f);
        }
        prop_assert_eq!(addrs(ip), (remote, m.private));
        prop_assert_eq!(ip[8], s.ttl - 1);
        prop_assert_eq!(f.len(), input.len());
        if let Some(c) = udp_checksum(&s, &input) {
            prop_assert_eq!(c == 0, udp_checksum(&s, &f) == Some(0), "UDP checksum 0 iff it was 0");
        }
        if s.link.is_eth() {
            prop_assert_eq!(&f[..6], &m.mac[..]);
            prop_assert_eq!(&f[6..12], &GW[..]);
        }
    }

    /// Outbound frames from a mapped private IP are SNATed; every checksum verifies.
    #[test]
    fn snat_checksums_verify(s in spec(2), m in 0usize..10, remote in public_addr()) {
        let (dp, maps) = setup();
        let m = maps[m];
        let input = build(&s, (m.mac, GW), m.private, remote);
        // Raw IP frames have no MACs: ingress by the owner of the source address.
        let mut f = input.clone();
        let v = dp.process(&mut f, link_type(s.link));
        prop_assert_eq!(v.outcome, Outcome::Forward(Port::Internet, Action::Snat));
        let ip = &f[l3_offset(s.link)..];
        if let Err(e) = verify(ip) {
            prop_assert!(false, "{}\n{:02x?}", e, f);
        }
        prop_assert_eq!(addrs(ip), (m.eip, remote));
        prop_assert_eq!(ip[8], s.ttl - 1);
        if let Some(c) = udp_checksum(&s, &input) {
            prop_assert_eq!(c == 0, udp_checksum(&s, &f) == Some(0), "UDP checksum 0 iff it was 0");
        }
        if s.link.is_eth() {
            prop_assert_eq!(&f[..6], &INET[..]);
            prop_assert_eq!(&f[6..12], &GW[..]);
        }
    }

    /// Hairpin (a mapped private IP to another mapping's EIP): SNAT and DNAT, checksums verify.
    #[test]
    fn hairpin_checksums_verify(s in spec(2), a in 0usize..10, b in 0usize..10) {
        let (dp, maps) = setup();
        let (a, b) = (maps[a], maps[b]);
        let input = build(&s, (a.mac, GW), a.private, b.eip);
        let mut f = input.clone();
        let v = dp.process(&mut f, link_type(s.link));
        prop_assert_eq!(v.outcome, Outcome::Forward(Port::Eni(b.eni), Action::Hairpin));
        let ip = &f[l3_offset(s.link)..];
        if let Err(e) = verify(ip) {
            prop_assert!(false, "{}\n{:02x?}", e, f);
        }
        prop_assert_eq!(addrs(ip), (a.eip, b.private));
        prop_assert_eq!(ip[8], s.ttl - 1);
    }

    /// SNAT, then DNAT of the reply (the translated frame with addresses, ports and MACs
    /// swapped, from the Internet), gives the original private address and ports back.
    #[test]
    fn snat_then_dnat_of_reply_restores(s in spec(3), m in 0usize..10, remote in public_addr()) {
        prop_assume!(!matches!(s.l4, L4::Error { .. }));
        let (dp, maps) = setup();
        let m = maps[m];
        let original = build(&s, (m.mac, GW), m.private, remote);
        let mut f = original.clone();
        let v = dp.process(&mut f, link_type(s.link));
        prop_assert_eq!(v.outcome, Outcome::Forward(Port::Internet, Action::Snat));
        // The reply: swap addresses (and ports), which keeps every checksum valid.
        let l3 = l3_offset(s.link);
        let mut reply = f.clone();
        if s.link.is_eth() {
            reply[..6].copy_from_slice(&GW);
            reply[6..12].copy_from_slice(&PEER);
        }
        reply[l3 + 12..l3 + 16].copy_from_slice(&f[l3 + 16..l3 + 20]);
        reply[l3 + 16..l3 + 20].copy_from_slice(&f[l3 + 12..l3 + 16]);
        if matches!(s.l4, L4::Tcp { .. } | L4::Udp { .. }) {
            let l4 = l3 + 20;
            reply[l4..l4 + 2].copy_from_slice(&f[l4 + 2..l4 + 4]);
            reply[l4 + 2..l4 + 4].copy_from_slice(&f[l4..l4 + 2]);
        }
        verify(&reply[l3..]).unwrap();
        let mut back = reply.clone();
        let v = dp.process(&mut back, link_type(s.link));
        prop_assert_eq!(v.outcome, Outcome::Forward(Port::Eni(m.eni), Action::Dnat));
        verify(&back[l3..]).unwrap();
        prop_assert_eq!(addrs(&back[l3..]), (remote, m.private));
        prop_assert_eq!(back[l3 + 8], s.ttl - 2);
        // Apart from addresses, TTL, checksums and MACs, the reply is the original mirrored.
        let mut mirrored = original.clone();
        mirrored[l3 + 12..l3 + 16].copy_from_slice(&original[l3 + 16..l3 + 20]);
        mirrored[l3 + 16..l3 + 20].copy_from_slice(&original[l3 + 12..l3 + 16]);
        if matches!(s.l4, L4::Tcp { .. } | L4::Udp { .. }) {
            let l4 = l3 + 20;
            mirrored[l4..l4 + 2].copy_from_slice(&original[l4 + 2..l4 + 4]);
            mirrored[l4 + 2..l4 + 4].copy_from_slice(&original[l4..l4 + 2]);
        }
        // Swapping both addresses keeps every checksum: the mirrored original and the round
        // trip differ only in TTL (and so the IP checksum) and MACs.
        prop_assert_eq!(&back[l3 + 20..], &mirrored[l3 + 20..]);
        prop_assert_eq!(&back[l3 + 12..l3 + 20], &mirrored[l3 + 12..l3 + 20]);
        prop_assert_eq!(&back[l3..l3 + 8], &mirrored[l3..l3 + 8]);
    }

    /// A UDP datagram split in two fragments: each translated on its own, the reassembled
    /// datagram's checksum verifies and the later fragment's payload is untouched.
    #[test]
    fn fragments_reassemble_with_valid_checksum(
        payload in prop::collection::vec(any::<u8>(), 16..200),
        split8 in 1usize..3,
        m in 0usize..10,
        remote in public_addr(),
        inbound in any::<bool>(),
        ttl in 2u8..=255,
    ) {
        let (dp, maps) = setup();
        let m = maps[m];
        let (src, dst, macs) = if inbound {
            (remote, m.eip, (PEER, GW))
        } else {
            (m.private, remote, (m.mac, GW))
        };
        let whole = {
            let mut w = Vec::new();
            PacketBuilder::ipv4(src, dst, ttl).udp(1234, 5678).write(&mut w, &payload).unwrap();
            w
        };
        let seg = &whole[20..];
        let split = split8 * 8;
        let hdr = |mf: bool, off: u16| Ipv4Header {
            source: src,
            destination: dst,
            time_to_live: ttl,
            identification: 0x1111,
            dont_fragment: false,
            more_fragments: mf,
            fragment_offset: IpFragOffset::try_new(off).unwrap(),
            ..Default::default()
        };
        let mut frags = Vec::new();
        for (mf, off, data) in [(true, 0u16, &seg[..split]), (false, (split / 8) as u16, &seg[split..])] {
            let mut out = Vec::new();
            start(Link::Eth, macs, hdr(mf, off)).write(&mut out, IpNumber::UDP, data).unwrap();
            frags.push(out);
        }
        let mut reassembled = Vec::new();
        let mut final_addrs = None;
        for (i, fr) in frags.iter().enumerate() {
            let mut f = fr.clone();
            let v = dp.process(&mut f, LinkType::Ethernet);
            prop_assert!(matches!(v.outcome, Outcome::Forward(..)), "{:?}", v.outcome);
            let ip = Ipv4Packet::new_checked(&f[14..]).unwrap();
            prop_assert!(ip.verify_checksum());
            final_addrs = Some((ip.src_addr(), ip.dst_addr()));
            if i == 1 {
                prop_assert_eq!(ip.payload(), &fr[34..]);
            }
            reassembled.extend_from_slice(ip.payload());
        }
        let (s2, d2) = final_addrs.unwrap();
        let u = UdpPacket::new_checked(&reassembled[..]).unwrap();
        prop_assert!(u.verify_checksum(&ip_of(s2), &ip_of(d2)));
        prop_assert_ne!(u.checksum(), 0);
    }

    /// Arbitrary bytes never panic, for every link type; a dropped frame is unchanged.
    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..200)) {
        let (dp, _) = setup();
        for link in ALL_LINKS {
            let mut f = bytes.clone();
            let v = dp.process(&mut f, link);
            if v.drop_reason().is_some() {
                prop_assert_eq!(&f, &bytes);
            } else {
                prop_assert_eq!(f.len(), bytes.len());
            }
        }
    }

    /// Valid frames with random bytes overwritten or cut short never panic; a dropped frame is
    /// unchanged, and a forwarded one keeps its length.
    #[test]
    fn mutated_frames_never_panic(
        s in spec(0),
        m in 0usize..10,
        remote in public_addr(),
        inbound in any::<bool>(),
        edits in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 0..6),
        cut in any::<prop::sample::Index>(),
        do_cut in any::<bool>(),
    ) {
        let (dp, maps) = setup();
        let m = maps[m];
        let mut bytes = if inbound {
            build(&s, (PEER, GW), remote, m.eip)
        } else {
            build(&s, (m.mac, GW), m.private, remote)
        };
        for (i, b) in edits {
            let i = i.index(bytes.len());
            bytes[i] = b;
        }
        if do_cut {
            bytes.truncate(cut.index(bytes.len() + 1));
        }
        for link in ALL_LINKS {
            let mut f = bytes.clone();
            let v = dp.process(&mut f, link);
            if v.drop_reason().is_some() {
                prop_assert_eq!(&f, &bytes);
            } else {
                prop_assert_eq!(f.len(), bytes.len());
            }
        }
    }

    /// The layout the core hands back with its verdict locates the same L4 payload as parsing
    /// the frame again, before and after the core rewrote it, on valid, mutated and cut frames.
    #[test]
    fn verdict_layout_matches_a_fresh_parse(
        s in spec(0),
        m in 0usize..10,
        remote in public_addr(),
        inbound in any::<bool>(),
        edits in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 0..3),
        cut in any::<prop::sample::Index>(),
        do_cut in any::<bool>(),
    ) {
        let (dp, maps) = setup();
        let m = maps[m];
        let mut bytes = if inbound {
            build(&s, (PEER, GW), remote, m.eip)
        } else {
            build(&s, (m.mac, GW), m.private, remote)
        };
        for (i, b) in edits {
            let i = i.index(bytes.len());
            bytes[i] = b;
        }
        if do_cut {
            bytes.truncate(cut.index(bytes.len() + 1));
        }
        for link in ALL_LINKS {
            let mut f = bytes.clone();
            let v = dp.process(&mut f, link);
            prop_assert_eq!(v.layout, eipsim::wire::Layout::parse(link, &bytes));
            let before = eipsim::wire::l4_payload(link, &bytes).map(|(p, s, d)| (p, s, d.len()));
            let after = v.layout.l4_payload(&f).map(|(p, s, d)| (p, s, d.len()));
            prop_assert_eq!(before, after);
            prop_assert_eq!(v.layout.l4_payload(&f), eipsim::wire::l4_payload(link, &f));
            prop_assert_eq!(v.layout.is_none(), v.drop_reason().is_some_and(|r| matches!(
                r,
                eipsim::dataplane::DropReason::Malformed | eipsim::dataplane::DropReason::NotIpv4
            )));
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1024))]

    /// The fast path (plain frames from the Internet to NAT-mode EIPs) gives the verdict and
    /// the bytes of the general path, on valid, mutated and cut frames in both directions, with
    /// the ingress from the MAC or fixed.
    #[test]
    fn fast_path_is_the_general_path(
        mut s in spec(0),
        ttl in prop_oneof![0u8..=2, any::<u8>()],
        m in 0usize..10,
        remote in public_addr(),
        dir in prop_oneof![3 => Just(0u8), 1 => Just(1u8), 1 => Just(2u8)],
        edits in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 0..3),
        cut in any::<prop::sample::Index>(),
        do_cut in any::<bool>(),
        fixed in any::<bool>(),
    ) {
        let (mut fast, maps) = setup();
        if fixed {
            fast.set_ingress(eipsim::dataplane::IngressHint::Fixed(Port::Internet));
        }
        let mut general = fast.clone();
        general.set_fast_path(false);
        s.ttl = ttl;
        if matches!(s.link, Link::Raw) {
            s.link = Link::Eth;
        }
        let (m, other) = (maps[m], maps[(m + 1) % maps.len()]);
        // Inbound, outbound, and hairpin (an ENI to another ENI's EIP).
        let mut bytes = match dir {
            0 => build(&s, (PEER, GW), remote, m.eip),
            1 => build(&s, (m.mac, GW), m.private, remote),
            _ => build(&s, (m.mac, GW), m.private, other.eip),
        };
        for (i, b) in edits {
            let i = i.index(bytes.len());
            bytes[i] = b;
        }
        if do_cut {
            bytes.truncate(cut.index(bytes.len() + 1));
        }
        let (mut a, mut b) = (bytes.clone(), bytes.clone());
        let va = fast.process(&mut a, LinkType::Ethernet);
        let vb = general.process(&mut b, LinkType::Ethernet);
        prop_assert_eq!(va, vb);
        prop_assert_eq!(a, b);
    }
}

/// The property above meets plain frames (else it would compare the general path with itself):
/// `build` makes one from a plain spec.
#[test]
fn plain_inbound_frames_are_plain() {
    let (_, maps) = setup();
    let s = Spec {
        link: Link::Eth,
        ttl: 64,
        ident: 1,
        df: true,
        dscp: 0,
        l4: L4::Udp {
            sport: 5060,
            dport: 5060,
            no_checksum: false,
        },
        payload: vec![0; 20],
    };
    let mut f = build(&s, (PEER, GW), [198, 51, 100, 7], maps[0].eip);
    assert!(eipsim::wire::plain::PlainFrame::new(&mut f).is_some());
}

const ALL_LINKS: [LinkType; 7] = [
    LinkType::Ethernet,
    LinkType::RawIp,
    LinkType::Ipv4,
    LinkType::LinuxSll,
    LinkType::LinuxSll2,
    LinkType::Null,
    LinkType::Loop,
];

impl Link {
    fn is_eth(self) -> bool {
        matches!(self, Link::Eth | Link::Vlan(_))
    }
}
