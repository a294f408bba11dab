//! The synthetic frames and one leg of the trace: a frame built, run through the core, its
//! headers read back and the walk compared with the core's verdict.

use std::net::Ipv4Addr;

use super::fix::fix_for;
use super::groups;
use super::walk::{Entry, Facts, Walk, lookup};
use super::{Headers, Hop, Leg, VerdictView};
use crate::advisor::{outcome_text, port_name};
use crate::dataplane::{Dataplane, DropReason, Outcome, Port, Verdict};
use crate::groups::{GroupStage, Views};
use crate::model::sg::Direction;
use crate::model::{Cloud, Mac};
use crate::wire::{LinkType, checksum, proto};

/// The L4 part of a frame to build.
#[derive(Clone, Copy, Debug)]
pub(super) enum L4 {
    Tcp { sport: u16, dport: u16, ack: bool },
    Udp { sport: u16, dport: u16 },
    Echo { id: u16, reply: bool },
}

pub(super) fn build(
    src_mac: Mac,
    dst_mac: Mac,
    src: Ipv4Addr,
    dst: Ipv4Addr,
    ttl: u8,
    l4: L4,
) -> Vec<u8> {
    let b = etherparse::PacketBuilder::ethernet2(src_mac.0, dst_mac.0).ipv4(
        src.octets(),
        dst.octets(),
        ttl,
    );
    let mut out = Vec::new();
    let res = match l4 {
        L4::Tcp { sport, dport, ack } => {
            let t = b.tcp(sport, dport, 1_000, 64_240).syn();
            if ack { t.ack(1_001) } else { t }.write(&mut out, &[])
        }
        L4::Udp { sport, dport } => b.udp(sport, dport).write(&mut out, b"eipsim trace"),
        L4::Echo { id, reply } => {
            let e = if reply {
                b.icmpv4_echo_reply(id, 1)
            } else {
                b.icmpv4_echo_request(id, 1)
            };
            e.write(&mut out, b"eipsim trace")
        }
    };
    // Writing headers of valid values into a Vec cannot fail.
    res.expect("a synthetic frame serialises");
    out
}

/// Reads the headers of an Ethernet/IPv4 frame the trace built or the core rewrote.
fn headers(frame: &[u8]) -> Option<Headers> {
    let eth = etherparse::Ethernet2HeaderSlice::from_slice(frame).ok()?;
    let l3 = &frame[14..];
    let ip = etherparse::Ipv4HeaderSlice::from_slice(l3).ok()?;
    let ihl = ip.slice().len();
    let end = usize::from(ip.total_len()).min(l3.len());
    let seg = l3.get(ihl..end)?;
    let p = ip.protocol().0;
    let (protocol, ports) = match p {
        proto::TCP if seg.len() >= 4 => ("tcp", true),
        proto::UDP if seg.len() >= 4 => ("udp", true),
        _ => ("icmp", false),
    };
    let port = |at: usize| ports.then(|| u16::from_be_bytes([seg[at], seg[at + 1]]));
    let ip_ok = checksum::checksum(ip.slice()) == 0;
    let l4_ok = match p {
        proto::TCP | proto::UDP => {
            checksum::l4_checksum(ip.source(), ip.destination(), p, seg) == 0
        }
        _ => checksum::checksum(seg) == 0,
    };
    let kind = match p {
        proto::TCP if seg.len() >= 14 => {
            let f = seg[13];
            let names: Vec<&str> = [
                (0x02, "SYN"),
                (0x01, "FIN"),
                (0x04, "RST"),
                (0x08, "PSH"),
                (0x10, "ACK"),
            ]
            .iter()
            .filter(|(b, _)| f & b != 0)
            .map(|(_, n)| *n)
            .collect();
            if names.is_empty() {
                "no flags".to_string()
            } else {
                names.join("-")
            }
        }
        proto::UDP => "datagram".to_string(),
        _ => match (seg.first(), seg.get(1)) {
            (Some(0), _) => "echo reply".to_string(),
            (Some(8), _) => "echo request".to_string(),
            (Some(3), Some(3)) => "port unreachable".to_string(),
            (Some(3), Some(c)) => format!("destination unreachable code {c}"),
            (Some(11), _) => "time exceeded".to_string(),
            (Some(t), Some(c)) => format!("type {t} code {c}"),
            _ => "cut short".to_string(),
        },
    };
    Some(Headers {
        kind,
        protocol,
        src: Ipv4Addr::from(ip.source()).to_string(),
        sport: port(0),
        dst: Ipv4Addr::from(ip.destination()).to_string(),
        dport: port(2),
        ttl: ip.ttl(),
        src_mac: Mac(eth.source()).to_string(),
        dst_mac: Mac(eth.destination()).to_string(),
        checksums_valid: ip_ok && l4_ok,
    })
}

fn verdict_view(cloud: &Cloud, o: &Outcome) -> VerdictView {
    match o {
        Outcome::Forward(p, a) => VerdictView {
            outcome: "forwarded",
            egress: Some(port_name(cloud, *p)),
            action: Some(a.as_str()),
            reason: None,
            text: outcome_text(cloud, o),
        },
        Outcome::Drop(r) => VerdictView {
            outcome: "dropped",
            egress: None,
            action: None,
            reason: Some(r.as_str()),
            text: outcome_text(cloud, o),
        },
    }
}

/// The ENI whose guest owns `a` (a private IP of a live ENI with private network, or its
/// cut-through or multi-EIP address); `None` for anything else.
pub(super) fn sender_of(cloud: &Cloud, a: Ipv4Addr) -> Option<usize> {
    match lookup(cloud, a) {
        Entry::Private { eni, .. } | Entry::Binded { eni, .. } | Entry::Multi { eni, .. } => {
            Some(eni)
        }
        _ => None,
    }
}

/// Runs one frame through the core and the security groups (`groups`, whose sessions the
/// request opens for the reply) and explains it.
pub(super) fn leg(
    cloud: &Cloud,
    dp: &Dataplane,
    groups: &mut Option<GroupStage>,
    bytes: Vec<u8>,
) -> Leg {
    let frame = headers(&bytes).expect("the trace builds Ethernet/IPv4 frames");
    let mut buf = bytes.clone();
    let mut v = [Verdict::early_drop(DropReason::Malformed, None)];
    let len = buf.len();
    dp.process_packed(&mut buf, &[(0, len, LinkType::Ethernet)], &mut v);
    let mut v = v[0];
    let core_outcome = v.outcome;
    let mut checks = Vec::new();
    let refusal = groups.as_mut().and_then(|g| {
        let views = Views {
            after: &buf,
            before: &bytes,
            link: LinkType::Ethernet,
        };
        g.check_logged(dp, &mut v, views, 0, |c| checks.push(c))
    });
    let src_mac = Mac([bytes[6], bytes[7], bytes[8], bytes[9], bytes[10], bytes[11]]);
    let f = Facts {
        src: frame.src.parse().expect("an address the trace wrote"),
        dst: frame.dst.parse().expect("an address the trace wrote"),
        ttl: frame.ttl,
        src_mac,
        tcp_dport: (frame.protocol == "tcp").then_some(frame.dport).flatten(),
    };
    // Ingress, as the core decides it for Ethernet frames: by source MAC.
    let by_mac = cloud
        .enis
        .iter()
        .position(|e| !e.deleted && e.mac == f.src_mac);
    let (ingress, ingress_text) = match by_mac {
        Some(x) => (
            Port::Eni(x as u32),
            format!(
                "{}: source MAC {} is {}'s",
                cloud.enis[x].id, f.src_mac, cloud.enis[x].id
            ),
        ),
        None => (
            Port::Internet,
            format!("Internet: source MAC {} is no ENI's", f.src_mac),
        ),
    };
    let mut walk = Walk {
        cloud,
        hops: vec![Hop {
            step: "ingress",
            result: "pass",
            detail: ingress_text.clone(),
        }],
    };
    let expected = match ingress {
        Port::Internet => walk.walk_internet(&f),
        Port::Eni(x) => walk.walk_eni(x as usize, &f),
    };
    let mut hops = walk.hops;
    let consistent = expected == core_outcome && v.ingress == Some(ingress);
    if !consistent {
        hops.push(Hop {
            step: "core",
            result: if matches!(v.outcome, Outcome::Drop(_)) {
                "drop"
            } else {
                "pass"
            },
            detail: format!(
                "the walk above expected {}; the core decided {}: the core's verdict stands",
                outcome_text(cloud, &expected),
                outcome_text(cloud, &core_outcome)
            ),
        });
    }
    if let Some(g) = groups.as_ref() {
        groups::place(&mut hops, cloud, g.tables(), &checks);
    }
    let mut delivered = None;
    if let Outcome::Forward(p, _) = v.outcome {
        let after = headers(&buf).expect("the core keeps an Ethernet/IPv4 frame so");
        hops.push(Hop {
            step: "translation",
            result: "pass",
            detail: format!(
                "{}  =>  {}{}",
                frame.text(),
                after.text(),
                if after.checksums_valid {
                    "; checksums valid"
                } else {
                    "; CHECKSUMS INVALID"
                }
            ),
        });
        hops.push(Hop {
            step: "egress",
            result: "pass",
            detail: format!(
                "{} (source MAC {}, destination MAC {})",
                port_name(cloud, p),
                after.src_mac,
                after.dst_mac
            ),
        });
        delivered = Some(after);
    }
    let fix = match (&refusal, groups.as_ref()) {
        (Some(r), Some(g)) => {
            let peer = match r.direction {
                Direction::Egress => f.dst,
                Direction::Ingress if v.ingress.is_some_and(|p| p != Port::Internet) => {
                    v.eip.map_or(f.src, Ipv4Addr::from)
                }
                Direction::Ingress => f.src,
            };
            Some(groups::fix(cloud, g.tables(), r, &v, peer))
        }
        _ => matches!(v.outcome, Outcome::Drop(_)).then(|| fix_for(cloud, &v, &f, ingress)),
    };
    let forwarded = delivered.is_some();
    Leg {
        frame,
        ingress: ingress_text,
        hops,
        delivered,
        verdict: verdict_view(cloud, &v.outcome),
        fix,
        consistent,
        core: Some(v),
        bytes,
        delivered_bytes: if forwarded { buf } else { Vec::new() },
    }
}
