//! Two invariants of the replay with groups on: groups that accept everything change no output
//! byte (proptest over random and mutated frames at random capture times), and the outputs do
//! not depend on `--workers` ("Sessions live in the shard of the frame's inside endpoint").

use std::path::Path;

use eipsim::replay;
use proptest::prelude::*;

use crate::kit::*;

/// [`BASE`] with every ENI (the detached one too) in a group that accepts everything both ways:
/// basic and enterprise groups alternately.
fn accept_all() -> String {
    let members: Vec<(&str, &str)> = ALL
        .iter()
        .enumerate()
        .map(|(i, e)| {
            (
                e.id,
                if i.is_multiple_of(2) {
                    "\"sg-all-b\""
                } else {
                    "\"sg-all-e\""
                },
            )
        })
        .collect();
    let rules = [
        rule("ingress", "accept", 1, "all", "-1/-1", "0.0.0.0/0"),
        rule("egress", "accept", 1, "all", "-1/-1", "0.0.0.0/0"),
    ];
    topo(
        &members,
        &(group("sg-all-b", "basic", "inner_access = \"drop\"", &rules)
            + &group("sg-all-e", "enterprise", "", &rules)),
    )
}

/// A frame to generate: who sends it, from and to which address, what it carries, its TTL,
/// the bytes overwritten and where it is cut.
#[derive(Clone, Debug)]
struct Gen {
    /// `None`: the Internet; else the index of the sending ENI in [`ALL`].
    from: Option<usize>,
    src: usize,
    dst: usize,
    kind: u8,
    ports: (u16, u16),
    ttl: u8,
    edits: Vec<(prop::sample::Index, u8)>,
    cut: Option<prop::sample::Index>,
    gap_s: u64,
}

/// Addresses to pick sources and destinations from: every ENI's private IP and EIPs, Internet
/// hosts, an unassociated EIP and an unowned VPC address.
fn addresses() -> Vec<[u8; 4]> {
    let mut a: Vec<[u8; 4]> = ALL.iter().map(|e| e.ip).collect();
    a.extend(ALL.iter().filter_map(|e| e.eip));
    a.extend([
        MULTI_EIP2,
        FREE_EIP,
        [172, 16, 5, 5],
        CLIENT,
        CLIENT2,
        ROUTER,
    ]);
    a
}

fn frame_gen() -> impl Strategy<Value = Gen> {
    let n = addresses().len();
    (
        prop::option::weighted(0.6, 0..ALL.len()),
        0..n,
        0..n,
        0u8..5,
        (
            prop_oneof![Just(25u16), Just(53), Just(80), 1u16..1024],
            prop_oneof![Just(25u16), Just(53), Just(80), 1u16..1024],
        ),
        prop_oneof![Just(64u8), 0u8..=2],
        prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 0..3),
        prop::option::weighted(0.15, any::<prop::sample::Index>()),
        prop_oneof![Just(0u64), 0u64..3, Just(911), 0u64..2000],
    )
        .prop_map(
            |(from, src, dst, kind, ports, ttl, edits, cut, gap_s)| Gen {
                from,
                src,
                dst,
                kind,
                ports,
                ttl,
                edits,
                cut,
                gap_s,
            },
        )
}

/// The frame of `g`; `raw`: without its Ethernet header (raw IP: the ingress is the owner of
/// the source address).
fn build(g: &Gen, raw: bool) -> Vec<u8> {
    let a = addresses();
    let (mac, src) = match g.from {
        // An ENI mostly sends from its own addresses (so that the groups see the frame).
        Some(i) if !g.src.is_multiple_of(3) => {
            let e = ALL[i];
            (
                e.mac,
                if g.src.is_multiple_of(2) {
                    e.eip.unwrap_or(e.ip)
                } else {
                    e.ip
                },
            )
        }
        Some(i) => (ALL[i].mac, a[g.src]),
        None => (INET, a[g.src]),
    };
    let dst = a[g.dst];
    let (p, q) = g.ports;
    let mut f = match g.kind {
        0 => tcp(mac, src, p, dst, q, g.ttl.is_multiple_of(2)),
        1 => udp(mac, src, p, dst, q),
        2 => ping(mac, src, dst, p, q.is_multiple_of(2)),
        3 => icmp_error(mac, (src, dst), q.is_multiple_of(2), (dst, q), (src, p)),
        _ => icmp_error(mac, (src, dst), false, (dst, p), (CLIENT, q)),
    };
    f = ttl(f, g.ttl);
    if raw {
        f.drain(..14);
    }
    for (i, b) in &g.edits {
        let i = i.index(f.len());
        f[i] = *b;
    }
    if let Some(c) = &g.cut {
        f.truncate(c.index(f.len() + 1));
    }
    f
}

/// Replays `capture` over topology text `t` (written to `topology`) into `out`.
fn run_into(topology: &Path, t: &str, capture: &Path, out: &Path, workers: usize) {
    std::fs::write(topology, t).unwrap();
    replay::run(&options(
        topology,
        out,
        vec![capture.to_path_buf()],
        None,
        workers,
    ))
    .unwrap();
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    /// Groups that accept everything in both directions (`protocol = "all"`, cidr 0.0.0.0/0)
    /// give outputs byte-identical to the same topology without groups: every capture,
    /// `dropped.pcapng` and the trace, and `report.json` but for its count of the groups'
    /// sessions (`security_groups`), over valid, mutated and cut frames from
    /// the Internet and from every ENI (Ethernet, and raw IP where the source address decides
    /// the ingress), at capture times far enough apart for sessions to end.
    #[test]
    fn accept_all_groups_change_no_output(
        gens in prop::collection::vec(frame_gen(), 1..40),
        raw in prop::bool::weighted(0.25),
    ) {
        let dir = tempdir("accept-all");
        let mut at = 0u64;
        let frames: Vec<(u64, Vec<u8>)> = gens
            .iter()
            .map(|g| {
                at += g.gap_s * 1000;
                (at, build(g, raw))
            })
            .collect();
        let capture = dir.join("capture.pcap");
        let link = if raw { pcap_file::DataLink::RAW } else { pcap_file::DataLink::ETHERNET };
        write_pcap_link(&capture, &frames, link);
        let topology = dir.join("topology.toml");
        run_into(&topology, BASE, &capture, &dir.join("plain"), 1);
        run_into(&topology, &accept_all(), &capture, &dir.join("groups"), 1);
        let (a, b) = (outputs(&dir.join("plain")), outputs(&dir.join("groups")));
        let names = |f: &[(String, Vec<u8>)]| f.iter().map(|x| x.0.clone()).collect::<Vec<_>>();
        prop_assert_eq!(names(&a), names(&b));
        for (x, y) in a.iter().zip(&b) {
            if x.0 == "report.json" {
                // The one addition groups make: the count of their sessions
                // (`security_groups`); everything else is the same, value for value.
                let plain: serde_json::Value = serde_json::from_slice(&x.1).unwrap();
                let mut groups: serde_json::Value = serde_json::from_slice(&y.1).unwrap();
                let sessions = groups
                    .as_object_mut()
                    .unwrap()
                    .remove("security_groups");
                prop_assert!(sessions.is_some(), "report.json counts the sessions");
                prop_assert!(plain.get("security_groups").is_none());
                prop_assert_eq!(plain, groups);
                continue;
            }
            prop_assert!(
                x.1 == y.1,
                "{} differs:\n{}\n---\n{}",
                x.0,
                String::from_utf8_lossy(&x.1),
                String::from_utf8_lossy(&y.1)
            );
        }
        let _ = std::fs::remove_dir_all(&dir);
    }
}

/// Filtered ENIs of every kind, each with its own group.
fn many_groups() -> String {
    topo(
        &[
            ("eni-nat", "\"sg-web\""),
            ("eni-web", "\"sg-web\""),
            ("eni-peer", "\"sg-app\""),
            ("eni-cut", "\"sg-ent\""),
            ("eni-multi", "\"sg-ent\""),
        ],
        &(group(
            "sg-web",
            "basic",
            "",
            &[
                rule("ingress", "accept", 1, "tcp", "80/80", "0.0.0.0/0"),
                rule("ingress", "drop", 1, "tcp", "80/80", "203.0.113.0/24"),
            ],
        ) + &group(
            "sg-app",
            "basic",
            "",
            &[rule("ingress", "accept", 1, "udp", "-1/-1", "group:sg-web")],
        ) + &group(
            "sg-ent",
            "enterprise",
            "",
            &[
                rule("ingress", "accept", 1, "tcp", "22/22", "198.51.0.0/16"),
                rule("egress", "accept", 1, "udp", "53/53", "0.0.0.0/0"),
            ],
        )),
    )
}

/// "Sessions live in the shard of the frame's inside endpoint, so a replay's outcome does not
/// depend on `--workers`": many clients, each with accepted and refused connections to five
/// filtered ENIs, their answers (in and out), intra-VPC datagrams and DNS queries out with
/// their answers, interleaved; 1, 2 and 4 workers give identical output folders, and the
/// answers pass (sessions found in every shard).
#[test]
fn outputs_with_groups_do_not_depend_on_workers() {
    let dir = tempdir("workers");
    let clients = 240u32;
    let mut frames = Vec::new();
    let mut per_client = Vec::new();
    for i in 0..clients {
        let c = if i % 4 == 3 {
            [203, 0, 113, (i % 250) as u8 + 1]
        } else {
            [198, 51, (i / 250) as u8, (i % 250) as u8 + 1]
        };
        let port = 30000 + i as u16;
        let mut f = Vec::new();
        for e in [NAT, WEB] {
            let eip = e.eip.unwrap();
            f.push(tcp(INET, c, port, eip, 80, true));
            f.push(tcp(e.mac, e.ip, 80, c, port, false));
            f.push(tcp(INET, c, port, eip, 8080, true));
        }
        for e in [CUT, MULTI] {
            let eip = e.eip.unwrap();
            f.push(tcp(INET, c, port, eip, 22, true));
            f.push(tcp(e.mac, eip, 22, c, port, false));
            f.push(udp(e.mac, eip, port, c, 53));
            f.push(udp(INET, c, 53, eip, port));
            f.push(udp(INET, c, 54, eip, port));
        }
        f.push(udp(NAT.mac, NAT.ip, port, PEER.ip, 7000));
        f.push(udp(MULTI.mac, MULTI.ip, port, PEER.ip, 7000));
        f.push(udp(PEER.mac, PEER.ip, 7000, NAT.ip, port));
        per_client.push(f);
    }
    let longest = per_client.iter().map(Vec::len).max().unwrap();
    for k in 0..longest {
        for f in &per_client {
            if let Some(x) = f.get(k) {
                frames.push((frames.len() as u64, x.clone()));
            }
        }
    }
    let capture = dir.join("capture.pcap");
    write_pcap(&capture, &frames);
    let topology = dir.join("topology.toml");
    let mut first = None;
    for w in [1, 2, 4] {
        let out = dir.join(format!("w{w}"));
        run_into(&topology, &many_groups(), &capture, &out, w);
        let files = outputs(&out);
        match &first {
            None => first = Some(files),
            Some(one) => {
                let names =
                    |f: &[(String, Vec<u8>)]| f.iter().map(|x| x.0.clone()).collect::<Vec<_>>();
                assert_eq!(names(one), names(&files), "files with {w} workers");
                for (a, b) in one.iter().zip(&files) {
                    assert!(a.1 == b.1, "{} differs with {w} workers", a.0);
                }
            }
        }
    }
    let report: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("w1/report.json")).unwrap()).unwrap();
    // Per client. eni-nat and eni-web (sg-web, basic): the SYN to port 80 (accepted, but
    // refused from 203.0.113.0/24: drop before accept at equal priority), the answer (basic
    // egress accepts), the SYN to 8080 (ingress default: refused). eni-cut and eni-multi
    // (sg-ent, enterprise): the SYN to 22 (accepted from 198.51.0.0/16 only), its answer
    // (passes only in the session), the DNS query out (accepted) and its answer (session), an
    // answer from port 54 (no session: refused). Intra-VPC: eni-nat to eni-peer (sg-app admits
    // sg-web's members), eni-multi to eni-peer (sg-ent's egress refuses), eni-peer's answer to
    // eni-nat (eni-nat's session).
    let blocked = u64::from(clients / 4);
    let allowed = u64::from(clients) - blocked;
    let forwarded = allowed * (2 * 2 + 2 * 4 + 2) + blocked * (2 + 2 * 2 + 2);
    let total = u64::from(clients) * 19;
    assert_eq!(report["frames"]["in"], total);
    assert_eq!(
        report["frames"]["forwarded"], forwarded,
        "{}",
        report["dropped"]
    );
    assert_eq!(report["dropped"]["security-group"], total - forwarded);
    let _ = std::fs::remove_dir_all(&dir);
}
