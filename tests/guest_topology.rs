//! The guest fields of `[[instance]]` (`services`, `routes`, `rules`, `connect`): a bad value
//! is refused by `eipsim check` with exit 1 and an error naming the file, the field or
//! instance and what is wrong; the good forms load and survive the topology writer. And
//! `replay --respond` over captures that are not Ethernet (raw IP, Linux cooked): the guests'
//! replies are written in the input's link type, as proper IPv4 packets.

mod common;

use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::process::Command;

use eipsim::model::Cloud;
use eipsim::model::guest_cfg::{GuestConfig, Service};
use eipsim::replay;
use etherparse::{NetSlice, PacketBuilder, SlicedPacket, TransportSlice};
use pcap_file::DataLink;
use pcap_file::pcap::{PcapHeader, PcapPacket, PcapReader, PcapWriter};

/// Two instances: `i-f` with a NAT NIC (`eni-nat`, EIP 47.0.0.10) and a cut-through NIC with
/// DHCP (`eni-cut`, EIP 47.0.0.20), answering tcp/80, udp/53 and icmp; `i-g` with one NIC
/// (`eni-g0`). `#GUEST` (in `i-f`) is where a test puts its guest fields.
const TOPOLOGY: &str = r#"region = "eu-central-1"

[vpc]
id = "vpc-g"
cidr = "172.16.0.0/12"
gateway_mac = "ee:ff:ff:ff:ff:ff"
internet_mac = "02:00:00:00:00:01"

[[instance]]
id = "i-f"
family = "ecs.g5"
dhcp = true
#GUEST

[[instance]]
id = "i-g"
family = "ecs.g5"
dhcp = true

[[eni]]
id = "eni-nat"
kind = "primary"
mac = "00:16:3e:00:00:10"
primary_ip = "172.16.0.10"
instance = "i-f"

[[eni]]
id = "eni-cut"
kind = "secondary"
mac = "00:16:3e:00:00:20"
primary_ip = "172.16.0.20"
instance = "i-f"

[[eni]]
id = "eni-g0"
kind = "primary"
mac = "00:16:3e:00:00:30"
primary_ip = "172.16.0.30"
instance = "i-g"

[[eip]]
id = "eip-nat"
address = "47.0.0.10"

[[eip]]
id = "eip-cut"
address = "47.0.0.20"

[[association]]
eip = "eip-nat"
eni = "eni-nat"
mode = "NAT"

[[association]]
eip = "eip-cut"
eni = "eni-cut"
mode = "BINDED"
"#;

/// The services the replay tests give `i-f`.
const SERVICES: &str = "services = [\"tcp/80\", \"udp/53\", \"icmp\"]";

fn topology(guest: &str) -> String {
    TOPOLOGY.replacen("#GUEST", guest, 1)
}

fn tempdir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("eipsim-guesttopo-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// `eipsim check` of the topology with `guest` in `i-f`: exit code and stderr.
fn check(name: &str, guest: &str) -> (Option<i32>, String) {
    let dir = tempdir(name);
    let t = dir.join(format!("{name}.toml"));
    std::fs::write(&t, topology(guest)).unwrap();
    let o = Command::new(env!("CARGO_BIN_EXE_eipsim"))
        .arg("check")
        .arg(&t)
        .output()
        .unwrap();
    (
        o.status.code(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

/// Asserts that `check` refuses `guest` with exit 1 and an error holding each of `words` (the
/// file's name is always one).
fn refused(name: &str, guest: &str, words: &[&str]) {
    let (code, err) = check(name, guest);
    assert_eq!(
        code,
        Some(1),
        "{guest}: exit 1 for bad input; stderr: {err}"
    );
    assert!(
        err.contains(&format!("{name}.toml")),
        "{guest}: names the file: {err}"
    );
    for w in words {
        assert!(err.contains(w), "{guest}: {w:?} in {err}");
    }
    assert!(!err.contains("panicked"), "{err}");
}

#[test]
fn a_bad_service_is_refused_naming_the_field_and_the_problem() {
    // The error points at the line and shows it (the field's name), then says what is wrong.
    refused(
        "svc-port0",
        "services = [\"tcp/0\"]",
        &[
            "line 13",
            "services = [\"tcp/0\"]",
            "port \"0\" is not 1 to 65535",
        ],
    );
    refused(
        "svc-sctp",
        "services = [\"icmp\", \"sctp/80\"]",
        &[
            "line 13",
            "service \"sctp/80\"",
            "expected tcp/PORT, udp/PORT or icmp",
        ],
    );
    refused(
        "svc-big",
        "services = [\"udp/65536\"]",
        &["services", "port \"65536\" is not 1 to 65535"],
    );
}

#[test]
fn a_bad_route_is_refused_naming_the_field_or_the_instance() {
    refused(
        "route-hostbits",
        "routes = [\"10.0.0.1/8 dev eni-nat\"]",
        &["line 13", "routes = ", "\"10.0.0.1/8\" has host bits set"],
    );
    // An ENI that does not exist, and one attached to another instance: rule guest-nic,
    // naming the instance.
    refused(
        "route-nope",
        "routes = [\"default dev eni-nope\"]",
        &[
            "instance i-f",
            "\"eni-nope\"",
            "not an ENI attached to this instance",
            "guest-nic",
        ],
    );
    refused(
        "route-other",
        "routes = [\"203.0.113.0/24 dev eni-g0 metric 5\"]",
        &["instance i-f", "\"eni-g0\"", "guest-nic"],
    );
    refused(
        "route-metric",
        "routes = [\"default dev eni-nat metric low\"]",
        &["routes = ", "metric \"low\" is not a number"],
    );
}

#[test]
fn a_bad_rule_is_refused_naming_the_field_or_the_instance() {
    refused(
        "rule-addr",
        "rules = [\"from 1.2.3 lookup eni-nat\"]",
        &["line 13", "rules = ", "\"1.2.3\" is not an IPv4 address"],
    );
    refused(
        "rule-other",
        "rules = [\"from 47.0.0.20 lookup eni-g0\"]",
        &[
            "instance i-f",
            "\"from 47.0.0.20 lookup eni-g0\"",
            "not an ENI attached to this instance",
            "guest-nic",
        ],
    );
    refused(
        "rule-form",
        "rules = [\"to 47.0.0.20 lookup eni-cut\"]",
        &["rules = ", "expected `from ADDR lookup ENI_ID`"],
    );
}

#[test]
fn a_bad_connection_is_refused_naming_the_field_and_the_problem() {
    refused(
        "conn-noport",
        "connect = [\"tcp/1.2.3.4\"]",
        &[
            "line 13",
            "connect \"tcp/1.2.3.4\"",
            "\"1.2.3.4\" is not ADDR:PORT",
        ],
    );
    refused(
        "conn-icmp",
        "connect = [\"icmp/1.2.3.4:1\"]",
        &["connect = ", "expected `tcp/ADDR:PORT [from ADDR]`"],
    );
    refused(
        "conn-port0",
        "connect = [\"udp/1.2.3.4:0\"]",
        &["connect = ", "port 0"],
    );
    refused(
        "conn-from",
        "connect = [\"tcp/1.2.3.4:80 from nowhere\"]",
        &["connect = ", "\"nowhere\" is not an IPv4 address"],
    );
}

/// Every guest field in its good forms: loaded as written, and a cloud written back as TOML
/// (`Cloud::to_toml`) reads again with the same guest configuration; the default (ICMP echo
/// only, nothing else) is left out of the file.
#[test]
fn the_good_forms_load_and_round_trip_through_the_topology_writer() {
    let guest = "services = [\"tcp/80\", \"udp/53\", \"icmp\", \"tcp/65535\"]\n\
                 routes = [\"default dev eni-cut metric 50\", \"203.0.113.0/24 dev eni-nat\"]\n\
                 rules = [\"from 47.0.0.20 lookup eni-cut\", \"from 172.16.0.10 lookup eni-nat\"]\n\
                 connect = [\"tcp/198.51.100.7:443 from 47.0.0.20\", \"udp/198.51.100.7:53\"]";
    let (code, err) = check("good", guest);
    assert_eq!(code, Some(0), "{err}");
    let cloud = Cloud::from_toml(&topology(guest)).unwrap();
    let g = &cloud.instances[0].guest;
    assert_eq!(
        g.services,
        vec![
            Service::Tcp(80),
            Service::Udp(53),
            Service::Icmp,
            Service::Tcp(65535)
        ]
    );
    let text = |v: &[String]| v.join(", ");
    assert_eq!(
        text(&g.routes.iter().map(|r| r.to_string()).collect::<Vec<_>>()),
        "default dev eni-cut metric 50, 203.0.113.0/24 dev eni-nat"
    );
    assert_eq!(g.rules.len(), 2);
    assert_eq!(g.connect[0].from, Some(Ipv4Addr::new(47, 0, 0, 20)));
    assert_eq!(cloud.instances[1].guest, GuestConfig::default());

    let written = cloud.to_toml().unwrap();
    let again = Cloud::from_toml(&written).unwrap();
    assert_eq!(again.instances.len(), 2);
    for (a, b) in cloud.instances.iter().zip(&again.instances) {
        assert_eq!(a.id, b.id);
        assert_eq!(a.guest, b.guest, "{}: guest config after the writer", a.id);
    }
    assert_eq!(again.to_toml().unwrap(), written, "the writer is stable");
    // i-g has the default guest: nothing of it is written.
    let i_g = &written[written.find("id = \"i-g\"").unwrap()..];
    let i_g = &i_g[..i_g.find("[[").unwrap_or(i_g.len())];
    for field in ["services", "routes", "rules", "connect"] {
        assert!(!i_g.contains(field), "{field} written for i-g: {i_g}");
    }
    // Services other than the default are written, even when only ICMP is left out.
    let quiet = topology("services = [\"tcp/80\"]");
    let quiet = Cloud::from_toml(&Cloud::from_toml(&quiet).unwrap().to_toml().unwrap()).unwrap();
    assert_eq!(quiet.instances[0].guest.services, vec![Service::Tcp(80)]);
    let none = topology("services = []");
    let none = Cloud::from_toml(&Cloud::from_toml(&none).unwrap().to_toml().unwrap()).unwrap();
    assert!(
        none.instances[0].guest.services.is_empty(),
        "no services at all"
    );
}

const CLIENT: [u8; 4] = [198, 51, 100, 7];
const START_MS: u64 = 1_700_000_000_000;

/// The client's frames as raw IPv4 packets: a SYN to port 80 and a ping to each EIP.
fn client_packets() -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    for (i, eip) in [[47, 0, 0, 10], [47, 0, 0, 20]].into_iter().enumerate() {
        let mut v = Vec::new();
        PacketBuilder::ipv4(CLIENT, eip, 64)
            .tcp(50_000 + i as u16, 80, 1000, 64240)
            .syn()
            .write(&mut v, b"")
            .unwrap();
        out.push(v);
        let mut v = Vec::new();
        PacketBuilder::ipv4(CLIENT, eip, 64)
            .icmpv4_echo_request(7, i as u16 + 1)
            .write(&mut v, b"ping")
            .unwrap();
        out.push(v);
    }
    out
}

/// A Linux cooked (v1) header of a frame received by the capturing host.
fn sll(ip: &[u8]) -> Vec<u8> {
    let mut f = vec![0, 0, 0, 1, 0, 6, 2, 0, 0, 0, 0, 0x99, 0, 0, 0x08, 0x00];
    f.extend_from_slice(ip);
    f
}

/// `replay --respond` of `frames` (link type `link`, one per millisecond) over the topology
/// with `SERVICES`; the out folder.
fn respond(name: &str, link: DataLink, frames: &[Vec<u8>]) -> PathBuf {
    let dir = tempdir(name);
    let t = dir.join("topology.toml");
    std::fs::write(&t, topology(SERVICES)).unwrap();
    let cap = dir.join("in.pcap");
    let header = PcapHeader {
        datalink: link,
        ..Default::default()
    };
    let mut w = PcapWriter::with_header(std::fs::File::create(&cap).unwrap(), header).unwrap();
    for (i, f) in frames.iter().enumerate() {
        let ts = std::time::Duration::from_millis(START_MS + i as u64);
        w.write_packet(&PcapPacket::new(ts, f.len() as u32, f))
            .unwrap();
    }
    drop(w);
    let out = dir.join("out");
    let o = replay::run(&common::respond_options(&t, &out, vec![cap])).unwrap();
    assert!(o.capture_error.is_none());
    out
}

/// The frames of an output: its link type and each frame's bytes.
fn frames_of(path: &Path) -> (DataLink, Vec<Vec<u8>>) {
    let f = std::fs::File::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut r = PcapReader::new(f).unwrap();
    let link = r.header().datalink;
    let mut v = Vec::new();
    while let Some(p) = r.next_packet() {
        v.push(p.unwrap().data.into_owned());
    }
    (link, v)
}

/// What one reply is, its checksums all verified: `SA 80>PORT ack N` for a SYN-ACK, `echo
/// reply ID/SEQ PAYLOAD` for an echo reply, `udp 67>68` for a DHCP answer; with its
/// source and destination.
fn checked_reply(p: &SlicedPacket) -> (Ipv4Addr, Ipv4Addr, String) {
    let Some(NetSlice::Ipv4(ip)) = &p.net else {
        panic!("not IPv4: {p:?}");
    };
    let h = ip.header().to_header();
    assert_eq!(
        h.calc_header_checksum(),
        h.header_checksum,
        "IPv4 header checksum"
    );
    let (src, dst) = (h.source, h.destination);
    let what = match &p.transport {
        Some(TransportSlice::Tcp(t)) => {
            assert_eq!(
                t.calc_checksum_ipv4(src, dst).unwrap(),
                t.checksum(),
                "TCP checksum"
            );
            let flags = match (t.syn(), t.ack(), t.rst()) {
                (true, true, false) => "SA",
                (false, true, true) => "RA",
                _ => "other",
            };
            format!(
                "{flags} {}>{} ack {}",
                t.source_port(),
                t.destination_port(),
                t.acknowledgment_number()
            )
        }
        Some(TransportSlice::Icmpv4(i)) => {
            assert_eq!(
                i.icmp_type().calc_checksum(i.payload()),
                i.checksum(),
                "ICMP checksum"
            );
            match i.icmp_type() {
                etherparse::Icmpv4Type::EchoReply(e) => format!(
                    "echo reply {}/{} {}",
                    e.id,
                    e.seq,
                    String::from_utf8_lossy(i.payload())
                ),
                t => format!("icmp {t:?}"),
            }
        }
        Some(TransportSlice::Udp(u)) => {
            let hdr = u.to_header();
            assert_eq!(
                hdr.calc_checksum_ipv4(&h, u.payload()).unwrap(),
                hdr.checksum,
                "UDP checksum"
            );
            format!("udp {}>{}", hdr.source_port, hdr.destination_port)
        }
        t => panic!("transport {t:?}"),
    };
    (Ipv4Addr::from(src), Ipv4Addr::from(dst), what)
}

/// The replies a guest should have given to `client_packets`, through each EIP.
fn expected_replies() -> Vec<(Ipv4Addr, Ipv4Addr, String)> {
    let c = Ipv4Addr::from(CLIENT);
    let (nat, cut) = (Ipv4Addr::new(47, 0, 0, 10), Ipv4Addr::new(47, 0, 0, 20));
    vec![
        (nat, c, "SA 80>50000 ack 1001".to_string()),
        (nat, c, "echo reply 7/1 ping".to_string()),
        (cut, c, "SA 80>50001 ack 1001".to_string()),
        (cut, c, "echo reply 7/2 ping".to_string()),
    ]
}

/// A raw IP capture (LINKTYPE_RAW, 101): the SYN-ACKs and echo replies to the Internet are raw
/// IP packets too, with valid checksums; the DHCP server's answers on the cut-through NIC's
/// output as well.
#[test]
fn replies_to_a_raw_ip_capture_are_raw_ip() {
    let out = respond("raw", DataLink::RAW, &client_packets());
    let (link, frames) = frames_of(&out.join("internet.pcap"));
    assert_eq!(link, DataLink::RAW);
    let got: Vec<_> = frames
        .iter()
        .map(|f| checked_reply(&SlicedPacket::from_ip(f).unwrap()))
        .collect();
    assert_eq!(got, expected_replies());
    let (link, frames) = frames_of(&out.join("eni-cut.pcap"));
    assert_eq!(link, DataLink::RAW);
    let dhcp: Vec<_> = frames
        .iter()
        .map(|f| checked_reply(&SlicedPacket::from_ip(f).unwrap()))
        .filter(|r| r.2 == "udp 67>68")
        .collect();
    assert_eq!(dhcp.len(), 2, "OFFER and ACK in raw IP");
}

/// A Linux cooked capture (LINKTYPE_LINUX_SLL, 113): the replies are cooked frames, each
/// header saying an IPv4 packet sent by the host (packet type 4, PACKET_OUTGOING).
#[test]
fn replies_to_a_linux_cooked_capture_are_linux_cooked() {
    let frames: Vec<Vec<u8>> = client_packets().iter().map(|p| sll(p)).collect();
    let out = respond("sll", DataLink::LINUX_SLL, &frames);
    let (link, frames) = frames_of(&out.join("internet.pcap"));
    assert_eq!(link, DataLink::LINUX_SLL);
    let mut got = Vec::new();
    for f in &frames {
        assert_eq!(&f[2..6], &[0, 1, 0, 6], "ARPHRD_ETHER, 6-byte address");
        assert_eq!(&f[14..16], &[0x08, 0x00], "protocol IPv4");
        assert_eq!(&f[..2], &[0, 4], "sent by the host: {:02x?}", &f[..16]);
        got.push(checked_reply(&SlicedPacket::from_linux_sll(f).unwrap()));
    }
    assert_eq!(got, expected_replies());
    let (link, frames) = frames_of(&out.join("eni-cut.pcap"));
    assert_eq!(link, DataLink::LINUX_SLL);
    let dhcp = frames
        .iter()
        .map(|f| checked_reply(&SlicedPacket::from_linux_sll(f).unwrap()))
        .filter(|r| r.2 == "udp 67>68")
        .count();
    assert_eq!(dhcp, 2, "OFFER and ACK, cooked");
}
