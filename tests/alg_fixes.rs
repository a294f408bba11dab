//! ALG corrections found on users' captures: DNS UPDATE messages simple-dns refuses, later IP
//! fragments joined to their connection, flows that never touch the VPC left out of the ALG
//! counts, and related flows lost only because an instance capture was replayed as a gateway
//! capture.

mod common;

use std::path::{Path, PathBuf};

use etherparse::PacketBuilder;
use serde_json::Value;

const WEB0_MAC: [u8; 6] = [0x00, 0x16, 0x3e, 0, 0, 0x10];
const GATEWAY: [u8; 6] = [0xee, 0xff, 0xff, 0xff, 0xff, 0xff];
const ROUTER: [u8; 6] = [0x02, 0, 0, 0, 0, 0xfe];

fn tempdir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("eipsim-algfix-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn write_pcap(path: &Path, frames: &[Vec<u8>]) {
    use pcap_file::pcap::{PcapHeader, PcapPacket, PcapWriter};
    let mut w = PcapWriter::with_header(
        std::fs::File::create(path).unwrap(),
        PcapHeader {
            snaplen: 65535,
            ..PcapHeader::default()
        },
    )
    .unwrap();
    for (i, f) in frames.iter().enumerate() {
        let ts = std::time::Duration::new(1_700_000_000, i as u32 * 1000);
        w.write_packet(&PcapPacket::new(ts, f.len() as u32, f))
            .unwrap();
    }
}

/// Replays `frames` through the demo topology and returns report.json.
fn replay(name: &str, frames: &[Vec<u8>]) -> Value {
    let work = tempdir(name);
    let topo = work.join("t.toml");
    std::fs::write(&topo, common::demo::TOPOLOGY).unwrap();
    let cap = work.join("c.pcap");
    write_pcap(&cap, frames);
    let o = std::process::Command::new(env!("CARGO_BIN_EXE_eipsim"))
        .args(["replay", "--no-progress", "--topology"])
        .arg(&topo)
        .arg("--out")
        .arg(work.join("out"))
        .arg(&cap)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    serde_json::from_slice(&std::fs::read(work.join("out/report.json")).unwrap()).unwrap()
}

fn udp(
    mac: ([u8; 6], [u8; 6]),
    src: [u8; 4],
    dst: [u8; 4],
    ports: (u16, u16),
    p: &[u8],
) -> Vec<u8> {
    let mut v = Vec::new();
    PacketBuilder::ethernet2(mac.0, mac.1)
        .ipv4(src, dst, 64)
        .udp(ports.0, ports.1)
        .write(&mut v, p)
        .unwrap();
    v
}

/// An RFC 2136 UPDATE for zone example.com: delete host1's A RRset (class ANY, RDLENGTH 0),
/// then add host1 A 172.16.0.10 and host2 A 172.16.0.11.
fn dns_update() -> Vec<u8> {
    let mut m = vec![0xab, 0xcd, 0x28, 0x00, 0, 1, 0, 0, 0, 3, 0, 0];
    m.extend_from_slice(b"\x07example\x03com\x00\x00\x06\x00\x01");
    m.extend_from_slice(b"\x05host1\xc0\x0c\x00\x01\x00\xff\x00\x00\x00\x00\x00\x00");
    m.extend_from_slice(b"\x05host1\xc0\x0c\x00\x01\x00\x01\x00\x00\x0e\x10\x00\x04");
    m.extend_from_slice(&[172, 16, 0, 10]);
    m.extend_from_slice(b"\x05host2\xc0\x0c\x00\x01\x00\x01\x00\x00\x0e\x10\x00\x04");
    m.extend_from_slice(&[172, 16, 0, 11]);
    m
}

fn flows(r: &Value) -> &Vec<Value> {
    r["flows"].as_array().unwrap()
}

#[test]
fn dns_update_reports_both_a_records() {
    let f = udp(
        (WEB0_MAC, GATEWAY),
        [172, 16, 0, 10],
        [203, 0, 113, 53],
        (40053, 53),
        &dns_update(),
    );
    let r = replay("dnsupdate", &[f]);
    let flow = &flows(&r)[0];
    assert_eq!(flow["alg_protocol"], "dns");
    let values: Vec<(&str, &str)> = flow["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|x| x["kind"] == "embedded-address")
        .map(|x| (x["field"].as_str().unwrap(), x["value"].as_str().unwrap()))
        .collect();
    assert_eq!(
        values,
        [
            ("DNS update A", "172.16.0.10"),
            ("DNS update A", "172.16.0.11")
        ]
    );
    assert_eq!(flow["verdict"], "alg-broken");
}

/// An IPv4 datagram (TCP segment `seg`, already with its header) cut into fragments of `size`
/// payload bytes (a multiple of 8), as Ethernet frames.
fn fragments(src: [u8; 4], dst: [u8; 4], id: u16, seg: &[u8], size: usize) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let mut at = 0;
    while at < seg.len() {
        let end = (at + size).min(seg.len());
        let mut h =
            etherparse::Ipv4Header::new((end - at) as u16, 64, etherparse::IpNumber::TCP, src, dst)
                .unwrap();
        h.identification = id;
        h.more_fragments = end < seg.len();
        h.fragment_offset = etherparse::IpFragOffset::try_new((at / 8) as u16).unwrap();
        h.header_checksum = h.calc_header_checksum();
        let mut v = Vec::new();
        etherparse::Ethernet2Header {
            source: WEB0_MAC,
            destination: GATEWAY,
            ether_type: etherparse::EtherType::IPV4,
        }
        .write(&mut v)
        .unwrap();
        h.write(&mut v).unwrap();
        v.extend_from_slice(&seg[at..end]);
        out.push(v);
        at = end;
    }
    out
}

fn tcp_segment(src: [u8; 4], dst: [u8; 4], ports: (u16, u16), payload: &[u8]) -> Vec<u8> {
    let mut v = Vec::new();
    PacketBuilder::ipv4(src, dst, 64)
        .tcp(ports.0, ports.1, 1000, 64240)
        .psh()
        .ack(1)
        .write(&mut v, payload)
        .unwrap();
    // Drop the IPv4 header: the TCP header and payload are what gets fragmented.
    v[20..].to_vec()
}

#[test]
fn later_fragments_join_the_flow_of_their_first_fragment() {
    let (me, server) = ([172, 16, 0, 10], [203, 0, 113, 5]);
    let seg = tcp_segment(
        me,
        server,
        (50001, 21),
        b"STOR a-rather-long-file-name.bin\r\n",
    );
    let frags = fragments(me, server, 0x4242, &seg, 24);
    assert_eq!(frags.len(), 3, "an FTP command in three fragments");
    let r = replay("frags", &frags);
    let fl = flows(&r);
    assert_eq!(fl.len(), 1, "one flow: {fl:#?}");
    assert_eq!(fl[0]["ports"], serde_json::json!([50001, 21]));
    assert_eq!(fl[0]["frames"], 3);
    // Later fragments whose first fragment was not seen are a flow of their own.
    let r = replay("frags-alone", &frags[1..]);
    let fl = flows(&r);
    assert_eq!(fl.len(), 1);
    assert_eq!(fl[0]["ports"], serde_json::json!([0, 0]));
    // Two datagrams with different identifications: each later fragment finds its own.
    let seg2 = tcp_segment(
        me,
        server,
        (50002, 21),
        b"RETR another-long-file-name.bin\r\n",
    );
    let mut both = fragments(me, server, 7, &seg, 24);
    let other = fragments(me, server, 8, &seg2, 24);
    both.insert(1, other[0].clone());
    both.extend_from_slice(&other[1..]);
    let r = replay("frags-two", &both);
    let fl = flows(&r);
    assert_eq!(fl.len(), 2, "{fl:#?}");
    assert!(fl.iter().all(|f| f["frames"] == 3));
}

#[test]
fn alg_counts_leave_out_flows_that_never_touch_the_vpc() {
    // Two Internet hosts talking TFTP, and one NAT-mode instance reading a file over TFTP.
    let rrq = b"\x00\x01boot.img\x00octet\x00";
    let frames = vec![
        udp(
            (ROUTER, GATEWAY),
            [198, 51, 100, 1],
            [198, 51, 100, 2],
            (3000, 69),
            rrq,
        ),
        udp(
            (ROUTER, GATEWAY),
            [198, 51, 100, 2],
            [198, 51, 100, 1],
            (41000, 3000),
            b"\x00\x03\x00\x01data",
        ),
        udp(
            (WEB0_MAC, GATEWAY),
            [172, 16, 0, 10],
            [198, 51, 100, 2],
            (3001, 69),
            rrq,
        ),
    ];
    let r = replay("tftp", &frames);
    assert_eq!(r["alg"]["tftp"]["flows"], 1, "{:#}", r["alg"]);
    assert_eq!(r["frames"]["in"], 3);
    // The Internet-only flows are still flows (every frame is counted), without ALG findings.
    let fl = flows(&r);
    let inet: Vec<&Value> = fl.iter().filter(|f| f["eni"].is_null()).collect();
    assert_eq!(inet.len(), 2);
    assert!(
        inet.iter()
            .all(|f| f["findings"].as_array().unwrap().is_empty())
    );
}

#[test]
fn a_related_flow_lost_to_an_instance_capture_is_not_an_alg_failure() {
    // Passive FTP seen on instance eni-web0 (172.16.0.10), replayed as a gateway capture: the
    // server's replies are addressed to the private IP and can only drop unknown-destination.
    let me = [172, 16, 0, 10];
    let server = [203, 0, 113, 5];
    let tcp = |from_me: bool, ports: (u16, u16), payload: &[u8]| {
        let mut v = Vec::new();
        let (mac, s, d) = if from_me {
            ((WEB0_MAC, GATEWAY), me, server)
        } else {
            ((GATEWAY, WEB0_MAC), server, me)
        };
        PacketBuilder::ethernet2(mac.0, mac.1)
            .ipv4(s, d, 60)
            .tcp(ports.0, ports.1, 1, 65535)
            .ack(1)
            .write(&mut v, payload)
            .unwrap();
        v
    };
    let frames = vec![
        tcp(true, (41000, 21), b"PASV\r\n"),
        tcp(
            false,
            (21, 41000),
            b"227 Entering Passive Mode (203,0,113,5,82,9).\r\n",
        ),
        tcp(true, (41001, 21001), b""),
        tcp(false, (21001, 41001), b""),
        tcp(false, (21001, 41001), b"data"),
    ];
    let r = replay("instmark", &frames);
    let ctl = flows(&r)
        .iter()
        .find(|f| f["ports"] == serde_json::json!([41000, 21]))
        .unwrap();
    assert_ne!(ctl["verdict"], "alg-broken", "{ctl:#}");
    let rel = ctl["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["kind"] == "related-flow")
        .unwrap();
    let why = rel["why"].as_str().unwrap();
    assert!(why.contains("--capture-point instance"), "{why}");
}
