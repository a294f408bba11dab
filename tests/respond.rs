//! `replay --respond`: the guests on smoltcp answer what the gateway delivers, and what they send
//! goes through the gateway into the outputs. Over the demo topology (NAT on a primary and a
//! secondary ENI, cut-through with DHCP, multi-EIP with one EIP configured, cut-through without
//! DHCP, a detached ENI), with services on its instances.

mod common;

use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

use eipsim::replay::{self, ReplayOptions};
use etherparse::{NetSlice, PacketBuilder, SlicedPacket, TransportSlice};
use pcap_file::pcap::{PcapHeader, PcapPacket, PcapReader, PcapWriter};

const GW: [u8; 6] = [0xee, 0xff, 0xff, 0xff, 0xff, 0xff];
const INET: [u8; 6] = [0x02, 0, 0, 0, 0, 0x99];
const CLIENT: [u8; 4] = [198, 51, 100, 7];
const START: u64 = 1_700_000_000;

/// The demo topology (services on i-web and i-app: tcp/80, tcp/443 or tcp/22, udp/5060 or
/// udp/6000, icmp) without the connection its i-app opens, and `edit` applied (pairs of text
/// to replace).
fn topology(edit: &[(&str, &str)]) -> String {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut t: String = std::fs::read_to_string(root.join("pcaps/demo-topology.toml"))
        .unwrap()
        .lines()
        .filter(|l| !l.starts_with("connect = ") && !l.starts_with("rules = "))
        .map(|l| format!("{l}\n"))
        .collect();
    for (a, b) in edit {
        assert!(t.contains(a), "{a:?} not in the topology");
        t = t.replacen(a, b, 1);
    }
    t
}

fn syn(dst: [u8; 4], sport: u16, dport: u16) -> Vec<u8> {
    let mut v = Vec::new();
    PacketBuilder::ethernet2(INET, GW)
        .ipv4(CLIENT, dst, 64)
        .tcp(sport, dport, 1000, 64240)
        .syn()
        .write(&mut v, b"")
        .unwrap();
    v
}

fn ack_data(dst: [u8; 4], sport: u16, dport: u16, ack: u32, data: &[u8]) -> Vec<u8> {
    let mut v = Vec::new();
    PacketBuilder::ethernet2(INET, GW)
        .ipv4(CLIENT, dst, 64)
        .tcp(sport, dport, 1001, 64240)
        .ack(ack)
        .psh()
        .write(&mut v, data)
        .unwrap();
    v
}

fn udp(dst: [u8; 4], dport: u16) -> Vec<u8> {
    let mut v = Vec::new();
    PacketBuilder::ethernet2(INET, GW)
        .ipv4(CLIENT, dst, 64)
        .udp(40_000, dport)
        .write(&mut v, b"hello")
        .unwrap();
    v
}

fn ping(dst: [u8; 4], id: u16) -> Vec<u8> {
    let mut v = Vec::new();
    PacketBuilder::ethernet2(INET, GW)
        .ipv4(CLIENT, dst, 64)
        .icmpv4_echo_request(id, 1)
        .write(&mut v, b"ping")
        .unwrap();
    v
}

/// A replay with `--respond` of `frames` (one per millisecond) over `topology`; the out folder.
fn run(name: &str, topology: &str, frames: &[Vec<u8>], workers: usize) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("eipsim-respond-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let t = dir.join("topology.toml");
    std::fs::write(&t, topology).unwrap();
    let cap = dir.join("in.pcap");
    let mut w =
        PcapWriter::with_header(std::fs::File::create(&cap).unwrap(), PcapHeader::default())
            .unwrap();
    for (i, f) in frames.iter().enumerate() {
        let ts = std::time::Duration::from_millis(START * 1000 + i as u64);
        w.write_packet(&PcapPacket::new(ts, f.len() as u32, f))
            .unwrap();
    }
    drop(w);
    let out = dir.join("out");
    let o = replay::run(&ReplayOptions {
        workers,
        ..common::respond_options(&t, &out, vec![cap])
    })
    .unwrap();
    assert!(o.capture_error.is_none());
    out
}

/// A frame of an output, parsed: (source, destination, protocol detail).
#[derive(Debug, Clone, PartialEq, Eq)]
struct Seen {
    src: Ipv4Addr,
    dst: Ipv4Addr,
    /// `tcp SPORT>DPORT FLAGS seq ack payload`, `udp SPORT>DPORT payload`, `icmp TYPE`.
    what: String,
    seq: u32,
    payload: Vec<u8>,
}

fn read(path: &Path) -> Vec<Seen> {
    let Ok(f) = std::fs::File::open(path) else {
        return Vec::new();
    };
    let mut r = PcapReader::new(f).unwrap();
    let mut out = Vec::new();
    while let Some(p) = r.next_packet() {
        let p = p.unwrap();
        let s = SlicedPacket::from_ethernet(&p.data).unwrap();
        let Some(NetSlice::Ipv4(ip)) = &s.net else {
            continue;
        };
        let (src, dst) = (ip.header().source_addr(), ip.header().destination_addr());
        let (what, seq, payload) = match &s.transport {
            Some(TransportSlice::Tcp(t)) => {
                let mut flags = String::new();
                for (on, c) in [
                    (t.syn(), 'S'),
                    (t.ack(), 'A'),
                    (t.rst(), 'R'),
                    (t.fin(), 'F'),
                ] {
                    if on {
                        flags.push(c);
                    }
                }
                (
                    format!("tcp {}>{} {flags}", t.source_port(), t.destination_port()),
                    t.sequence_number(),
                    t.payload().to_vec(),
                )
            }
            Some(TransportSlice::Udp(u)) => (
                format!("udp {}>{}", u.source_port(), u.destination_port()),
                0,
                u.payload().to_vec(),
            ),
            Some(TransportSlice::Icmpv4(i)) => (format!("icmp {:?}", i.icmp_type()), 0, Vec::new()),
            _ => ("other".into(), 0, Vec::new()),
        };
        out.push(Seen {
            src,
            dst,
            what,
            seq,
            payload,
        });
    }
    out
}

fn report(out: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(out.join("report.json")).unwrap()).unwrap()
}

fn ip(a: [u8; 4]) -> Ipv4Addr {
    Ipv4Addr::from(a)
}

/// The EIPs of the demo, the port each is tried on, and whether the seeds say a connection
/// through it completes (the cut-through ENI's group lets only SSH in).
const EIPS: [([u8; 4], u16, bool); 9] = [
    ([47, 0, 0, 10], 80, true),  // NAT, primary ENI
    ([47, 0, 0, 1], 80, true),   // NAT, secondary ENI, secondary private IP
    ([47, 0, 0, 2], 80, true),   // NAT, secondary ENI, another private IP
    ([47, 0, 0, 20], 22, true),  // cut-through, DHCP on: the lease configures the EIP
    ([47, 0, 0, 31], 80, true),  // multi-EIP, configured statically
    ([47, 0, 0, 32], 80, false), // multi-EIP, not in static_eips: the OS does not have it
    ([47, 0, 0, 50], 80, false), // cut-through on an instance without DHCP: no lease
    ([47, 0, 0, 40], 80, false), // detached ENI
    ([47, 0, 0, 99], 80, false), // never associated
];

/// SYNs to every EIP of the demo: a SYN-ACK comes back through each EIP where the seeds say
/// the mode works, and then the client's ACK and request complete the handshake and get the
/// guest's answer (HTTP on 80, the echo on 22); nothing comes back elsewhere, and the report
/// says why.
#[test]
fn syns_to_each_eip_complete_handshakes_where_the_seeds_say_they_work() {
    let t = topology(&[]);
    let syns: Vec<Vec<u8>> = EIPS
        .iter()
        .enumerate()
        .map(|(i, (a, p, _))| syn(*a, 50_000 + i as u16, *p))
        .collect();
    let out = run("syn", &t, &syns, 1);
    let inet = read(&out.join("internet.pcap"));
    let mut isn = Vec::new();
    for (i, (a, p, works)) in EIPS.iter().enumerate() {
        let want = format!("tcp {p}>{} SA", 50_000 + i);
        let got = inet.iter().find(|s| s.src == ip(*a) && s.what == want);
        assert_eq!(got.is_some(), *works, "{a:?}: {want} in {inet:#?}");
        isn.push(got.map(|s| s.seq));
    }
    let r = report(&out);
    assert_eq!(r["frames"]["in"], EIPS.len() as u64);
    assert_eq!(r["generated"]["frames"], 5, "{}", r["generated"]);
    assert_eq!(r["dropped"]["guest-not-configured"], 2, "{}", r["dropped"]);
    assert_eq!(r["dropped"]["eni-detached"], 1);
    assert_eq!(r["dropped"]["eip-not-associated"], 1);
    // Each SYN-ACK is counted in its flow, marked generated.
    let flows = r["flows"].as_array().unwrap();
    let answered = flows
        .iter()
        .filter(|f| f["generated"].as_u64() == Some(1))
        .count();
    assert_eq!(answered, 5);

    // Again with the client's ACK and request: the guests' sequence numbers are the same
    // (fixed seeds), so the handshakes complete and the services answer.
    let mut frames = syns.clone();
    for (i, (a, p, _)) in EIPS.iter().enumerate() {
        if let Some(s) = isn[i] {
            let data: &[u8] = if *p == 80 {
                b"GET / HTTP/1.0\r\n\r\n"
            } else {
                b"SSH-2.0-client\r\n"
            };
            frames.push(ack_data(*a, 50_000 + i as u16, *p, s.wrapping_add(1), data));
        }
    }
    let out = run("handshake", &t, &frames, 1);
    let inet = read(&out.join("internet.pcap"));
    for (i, (a, p, works)) in EIPS.iter().enumerate() {
        let answers: Vec<&Seen> = inet
            .iter()
            .filter(|s| s.src == ip(*a) && s.what.starts_with(&format!("tcp {p}>{}", 50_000 + i)))
            .filter(|s| !s.payload.is_empty())
            .collect();
        if !works {
            assert!(answers.is_empty(), "{a:?}: {answers:?}");
            continue;
        }
        let body: Vec<u8> = answers.iter().flat_map(|s| s.payload.clone()).collect();
        let body = String::from_utf8_lossy(&body);
        if *p == 80 {
            assert!(body.starts_with("HTTP/1.1 200 OK\r\n"), "{a:?}: {body}");
        } else {
            assert_eq!(body, "SSH-2.0-client\r\n", "{a:?}: the echo");
        }
        assert!(
            !inet.iter().any(|s| s.src == ip(*a) && s.what.contains('R')),
            "{a:?}: no reset"
        );
    }
}

/// The cut-through NIC gets its EIP from the VPC's DHCP server (an OFFER and an ACK written
/// to its capture) only when its instance runs DHCP; without it nothing is exchanged and
/// frames to the EIP drop `guest-not-configured` (seed 001 step 6).
#[test]
fn a_dhcp_exchange_appears_only_with_dhcp_on() {
    let frames = vec![syn([47, 0, 0, 20], 50_000, 22)];
    let on = run("dhcp-on", &topology(&[]), &frames, 1);
    let cut = read(&on.join("eni-cut.pcap"));
    let dhcp: Vec<&Seen> = cut.iter().filter(|s| s.what == "udp 67>68").collect();
    assert_eq!(dhcp.len(), 2, "OFFER and ACK: {cut:#?}");
    assert!(dhcp.iter().all(|s| s.dst == ip([47, 0, 0, 20])));
    let r = report(&on);
    assert_eq!(r["generated"]["dhcp_answers"]["eni-cut"], 2);
    assert_eq!(r["guests"]["dhcp_received"], 2, "DISCOVER and REQUEST");
    let app = &r["guests"]["instances"][1];
    assert_eq!(app["instance"], "i-app");
    assert_eq!(app["nics"][1]["lease"]["address"], "47.0.0.20");
    assert_eq!(app["nics"][1]["lease"]["router"], "47.0.0.1");

    let t = topology(&[(
        "id = \"i-app\"\nfamily = \"ecs.g5\"\ndhcp = true",
        "id = \"i-app\"\nfamily = \"ecs.g5\"\ndhcp = false",
    )]);
    let off = run("dhcp-off", &t, &frames, 1);
    for f in std::fs::read_dir(&off).unwrap() {
        let p = f.unwrap().path();
        if p.extension().is_some_and(|e| e == "pcap") {
            assert!(
                !read(&p)
                    .iter()
                    .any(|s| s.what.contains(">67") || s.what.contains("67>")),
                "{}",
                p.display()
            );
        }
    }
    let r = report(&off);
    assert_eq!(r["dropped"]["guest-not-configured"], 1);
    assert_eq!(r["guests"]["dhcp_received"], 0);
    assert!(r["guests"]["instances"][1]["nics"][1]["lease"].is_null());
}

/// The connections a cut-through guest opens (`connect`): by the routing table they leave by
/// the primary NIC (seed 002's FAQ) — from its private IP, which has no EIP here
/// (`no-public-address`), or from the cut-through EIP bound by the application, which the
/// primary NIC does not own (`source-check`); a source rule (`from EIP lookup eni-cut`, seed
/// 004) sends the bound one out of the cut-through NIC, unchanged to the Internet.
#[test]
fn a_cut_through_guests_connection_leaves_by_the_primary_nic_unless_a_source_rule_says_otherwise() {
    let base = "services = [\"tcp/22\", \"tcp/80\", \"udp/6000\", \"icmp\"]\n";
    let connect = "connect = [\"tcp/198.51.100.7:443\", \"tcp/198.51.100.7:443 from 47.0.0.20\"]\n";
    let frames = vec![ping([47, 0, 0, 10], 1)];

    let t = topology(&[(base, &format!("{base}{connect}"))]);
    let out = run("connect", &t, &frames, 1);
    let r = report(&out);
    let opened = &r["guests"]["instances"][1]["opened"];
    assert_eq!(opened[0]["nic"], "eth0", "{opened}");
    assert_eq!(opened[0]["source"], "172.16.1.5");
    assert!(
        opened[0]["route"]
            .as_str()
            .unwrap()
            .starts_with("default dev eth0 metric 0")
    );
    assert_eq!(opened[1]["nic"], "eth0", "{opened}");
    assert_eq!(opened[1]["source"], "47.0.0.20");
    assert_eq!(
        r["generated"]["dropped_by_reason"]["no-public-address"], 1,
        "{}",
        r["generated"]
    );
    assert_eq!(r["generated"]["dropped_by_reason"]["source-check"], 1);
    let drops = std::fs::read(out.join("dropped.pcapng")).unwrap();
    let text = String::from_utf8_lossy(&drops);
    assert!(
        text.contains("source-check: generated by the guest of i-app on eth0"),
        "{text}"
    );
    assert!(
        !read(&out.join("internet.pcap"))
            .iter()
            .any(|s| s.what.starts_with("tcp "))
    );

    let rule = "rules = [\"from 47.0.0.20 lookup eni-cut\"]\n";
    let t = topology(&[(base, &format!("{base}{connect}{rule}"))]);
    let out = run("connect-rule", &t, &frames, 1);
    let r = report(&out);
    let opened = &r["guests"]["instances"][1]["opened"];
    assert_eq!(
        opened[0]["nic"], "eth0",
        "the unbound one still takes the main table"
    );
    assert_eq!(opened[1]["nic"], "eth1", "{opened}");
    assert_eq!(
        opened[1]["route"],
        "from 47.0.0.20 lookup eth1 (source rule)"
    );
    let inet = read(&out.join("internet.pcap"));
    let syn = inet
        .iter()
        .find(|s| s.what.ends_with(">443 S"))
        .expect("the SYN left through the cut-through NIC");
    assert_eq!((syn.src, syn.dst), (ip([47, 0, 0, 20]), ip(CLIENT)));
    assert_eq!(r["generated"]["dropped_by_reason"]["no-public-address"], 1);
    assert!(r["generated"]["dropped_by_reason"]["source-check"].is_null());
}

/// ICMP echo: answered through NAT (the reply leaves from the EIP) and through cut-through
/// (with a group that lets ICMP in); not answered by a guest without `icmp` in its services.
/// Closed ports: a TCP RST and an ICMP port unreachable, translated back through NAT (the
/// quoted datagram carries the EIP, as the client sent it).
#[test]
fn icmp_echo_and_closed_ports_through_nat_and_cut_through() {
    let t = topology(&[("security_groups = [\"sg-cut\"]\n", "")]);
    let frames = vec![
        ping([47, 0, 0, 10], 7),
        ping([47, 0, 0, 20], 8),
        syn([47, 0, 0, 10], 50_100, 81),
        udp([47, 0, 0, 10], 9),
        udp([47, 0, 0, 1], 5060),
    ];
    let out = run("icmp", &t, &frames, 1);
    let inet = read(&out.join("internet.pcap"));
    let replies: Vec<Ipv4Addr> = inet
        .iter()
        .filter(|s| s.what.contains("EchoReply"))
        .map(|s| s.src)
        .collect();
    assert_eq!(
        replies,
        vec![ip([47, 0, 0, 10]), ip([47, 0, 0, 20])],
        "{inet:#?}"
    );
    assert!(
        inet.iter()
            .any(|s| s.src == ip([47, 0, 0, 10]) && s.what == "tcp 81>50100 AR")
    );
    let unreach = inet
        .iter()
        .find(|s| s.what.contains("DestinationUnreachable"))
        .expect("port unreachable");
    assert_eq!((unreach.src, unreach.dst), (ip([47, 0, 0, 10]), ip(CLIENT)));
    let echo = inet
        .iter()
        .find(|s| s.what == "udp 5060>40000")
        .expect("UDP echo");
    assert_eq!(
        (echo.src, echo.payload.as_slice()),
        (ip([47, 0, 0, 1]), &b"hello"[..])
    );

    let quiet = topology(&[(
        "services = [\"tcp/80\", \"tcp/443\", \"udp/5060\", \"icmp\"]",
        "services = [\"tcp/80\"]",
    )]);
    let out = run("icmp-off", &quiet, &frames[..1], 1);
    assert!(read(&out.join("internet.pcap")).is_empty());
    assert_eq!(report(&out)["guests"]["delivered"], 1);
}

/// The same capture and topology give the same bytes for any `--workers`; the input's counters
/// stay the input's (`in == forwarded + dropped`), the guests' frames are counted apart.
#[test]
fn respond_outputs_do_not_depend_on_workers() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let demo = std::fs::read(root.join("pcaps/demo.pcap")).unwrap();
    let mut r = PcapReader::new(&demo[..]).unwrap();
    let mut frames = Vec::new();
    while let Some(p) = r.next_packet() {
        frames.push(p.unwrap().data.to_vec());
    }
    let t = topology(&[]);
    let one = run("w1", &t, &frames, 1);
    let three = run("w3", &t, &frames, 3);
    let names = |d: &Path| {
        let mut v: Vec<String> = std::fs::read_dir(d)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| !n.starts_with('.'))
            .collect();
        v.sort();
        v
    };
    assert_eq!(names(&one), names(&three));
    for n in names(&one) {
        let (a, b) = (
            std::fs::read(one.join(&n)).unwrap(),
            std::fs::read(three.join(&n)).unwrap(),
        );
        if n == "report.json" {
            let strip = |x: &[u8]| String::from_utf8_lossy(x).replace("w3", "w1");
            assert_eq!(strip(&a), strip(&b));
        } else {
            assert_eq!(a, b, "{n}");
        }
    }
    let r = report(&one);
    let f = &r["frames"];
    assert_eq!(f["in"], frames.len() as u64);
    assert_eq!(
        f["in"].as_u64(),
        Some(f["forwarded"].as_u64().unwrap() + f["dropped"].as_u64().unwrap())
    );
    assert!(r["generated"]["frames"].as_u64().unwrap() > 0);
}

/// `eipsim trace` takes its reply from the guest's stack: a SYN-ACK from a listening port, a
/// reset from a closed one, and nothing from a guest that does not answer ICMP.
#[test]
fn trace_takes_the_reply_from_the_guest() {
    use eipsim::advisor::trace::{self, TraceOptions};
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let demo = root.join("pcaps/demo-topology.toml");
    let run = |topology: &Path, to: &str| {
        trace::run(&TraceOptions {
            topology: topology.to_path_buf(),
            from: "198.51.100.7".into(),
            to: to.into(),
            proto: None,
            sport: None,
            ttl: None,
        })
        .unwrap()
    };
    let open = run(&demo, "47.0.0.10:80");
    let r = open.reply.expect("a reply");
    assert_eq!(
        (r.frame.kind.as_str(), r.frame.src.as_str()),
        ("SYN-ACK", "172.16.0.10")
    );
    assert_eq!(
        r.delivered.unwrap().src,
        "47.0.0.10",
        "SNAT back to the EIP"
    );
    let closed = run(&demo, "47.0.0.10:8080");
    assert_eq!(closed.reply.unwrap().frame.kind, "RST-ACK");

    let dir = std::env::temp_dir().join(format!("eipsim-respond-trace-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let quiet = dir.join("t.toml");
    std::fs::write(
        &quiet,
        topology(&[(
            "services = [\"tcp/80\", \"tcp/443\", \"udp/5060\", \"icmp\"]",
            "services = [\"tcp/80\"]",
        )]),
    )
    .unwrap();
    let t = run(&quiet, "47.0.0.10");
    assert!(t.reply.is_none());
    assert!(
        t.notes
            .iter()
            .any(|n| n.starts_with("no reply: the guest of i-web on eth0")),
        "{:?}",
        t.notes
    );
}

/// A handshake the client never completes: the guest resends its SYN-ACK for a while, then
/// forgets the half-open connection after 63 s as Linux does (five retransmissions), instead
/// of resending forever.
#[test]
fn a_half_open_connection_is_given_up_after_63_seconds() {
    let t = topology(&[]);
    let dir = std::env::temp_dir().join(format!("eipsim-respond-halfopen-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("t.toml"), &t).unwrap();
    let cap = dir.join("in.pcap");
    let mut w =
        PcapWriter::with_header(std::fs::File::create(&cap).unwrap(), PcapHeader::default())
            .unwrap();
    // The SYN, then a ping to another instance every 5 s for 200 s (time goes on).
    let mut frames = vec![(0u64, syn([47, 0, 0, 10], 50_000, 80))];
    for k in 1..=40u64 {
        frames.push((k * 5_000, ping([47, 0, 0, 1], k as u16)));
    }
    for (ms, f) in &frames {
        let ts = std::time::Duration::from_millis(START * 1000 + ms);
        w.write_packet(&PcapPacket::new(ts, f.len() as u32, f))
            .unwrap();
    }
    drop(w);
    let out = dir.join("out");
    replay::run(&common::respond_options(
        &dir.join("t.toml"),
        &out,
        vec![cap],
    ))
    .unwrap();
    let mut r = PcapReader::new(std::fs::File::open(out.join("internet.pcap")).unwrap()).unwrap();
    let mut synacks = Vec::new();
    while let Some(p) = r.next_packet() {
        let p = p.unwrap();
        let s = SlicedPacket::from_ethernet(&p.data).unwrap();
        if let Some(TransportSlice::Tcp(t)) = &s.transport
            && t.syn()
            && t.ack()
        {
            synacks.push(p.timestamp.as_secs() - START);
        }
    }
    assert!(synacks.len() >= 3, "the SYN-ACK is resent: {synacks:?}");
    assert!(
        synacks.iter().all(|s| *s <= 63),
        "given up after 63 s: {synacks:?}"
    );
}

/// More SYNs to one port than the guest keeps half-open connections for: the rest are dropped
/// unanswered (a full Linux backlog), never reset.
#[test]
fn a_full_listener_drops_new_syns_without_resetting_them() {
    let t = topology(&[]);
    let syns: Vec<Vec<u8>> = (0..1100u16)
        .map(|i| syn([47, 0, 0, 10], 10_000 + i, 80))
        .collect();
    let out = run("backlog", &t, &syns, 1);
    let inet = read(&out.join("internet.pcap"));
    // Answered once each (some resent within the capture's 1.1 s): 1,024 clients, not 1,100.
    let answered: std::collections::BTreeSet<&str> = inet
        .iter()
        .filter(|s| s.what.ends_with(" SA"))
        .map(|s| s.what.as_str())
        .collect();
    assert_eq!(answered.len(), 1024);
    assert!(!inet.iter().any(|s| s.what.contains('R')), "no reset");
}
