//! Odd and hostile inputs, handled the way a user needs: faulty captures among good ones,
//! records larger than a reader's buffer, pcapng options that are not UTF-8, interfaces of a
//! link type eipsim does not replay, topologies and scenario/event files that break a rule,
//! and `eipsim suggest` on captures with many private sources. Every input is written here.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn eipsim() -> Command {
    Command::new(env!("CARGO_BIN_EXE_eipsim"))
}

fn tempdir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("eipsim-hostile-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn demo_pcap() -> Vec<u8> {
    std::fs::read(root().join("pcaps/demo.pcap")).unwrap()
}

/// Byte offsets of each record of a little-endian classic pcap.
fn record_offsets(pcap: &[u8]) -> Vec<usize> {
    let mut at = 24;
    let mut v = Vec::new();
    while at + 16 <= pcap.len() {
        v.push(at);
        let caplen = u32::from_le_bytes(pcap[at + 8..at + 12].try_into().unwrap()) as usize;
        at += 16 + caplen;
    }
    v
}

fn replay(work: &Path, topology: &Path, inputs: &[PathBuf]) -> (Output, serde_json::Value) {
    let out = work.join("out");
    let o = eipsim()
        .args(["replay", "--no-progress", "--topology"])
        .arg(topology)
        .arg("--out")
        .arg(&out)
        .args(inputs)
        .output()
        .unwrap();
    let report = std::fs::read_to_string(out.join("report.json"))
        .map(|t| serde_json::from_str(&t).unwrap())
        .unwrap_or(serde_json::Value::Null);
    (o, report)
}

fn assert_balanced(report: &serde_json::Value) {
    let f = &report["frames"];
    assert_eq!(
        f["in"].as_u64().unwrap(),
        f["forwarded"].as_u64().unwrap() + f["dropped"].as_u64().unwrap(),
        "{f}"
    );
}

// ---------------------------------------------------------------------------------------------
// a. A faulty input is read up to its fault, reported, and the replay goes on with the next.

#[test]
fn faulty_inputs_are_reported_and_the_next_inputs_replayed() {
    let work = tempdir("faulty");
    let demo = demo_pcap();
    let offs = record_offsets(&demo);
    assert_eq!(offs.len(), 50);
    // 1: cut short inside record 6's data.
    let cut = work.join("cut.pcap");
    std::fs::write(&cut, &demo[..offs[5] + 16 + 5]).unwrap();
    // 2: record 3's length field corrupt (16 MB): the file ends inside it.
    let mut bad = demo.clone();
    bad[offs[2] + 8..offs[2] + 12].copy_from_slice(&0x0100_0000u32.to_le_bytes());
    let corrupt = work.join("corrupt.pcap");
    std::fs::write(&corrupt, &bad).unwrap();
    // 3: not a capture at all.
    let junk = work.join("junk.pcap");
    std::fs::write(&junk, b"this is no capture").unwrap();
    // 4: whole.
    let good = work.join("good.pcap");
    std::fs::write(&good, &demo).unwrap();

    let topo = root().join("pcaps/demo-topology.toml");
    let inputs = [cut.clone(), corrupt.clone(), junk.clone(), good.clone()];
    let (o, report) = replay(&work, &topo, &inputs);
    assert_eq!(o.status.code(), Some(1), "a faulty input exits 1");
    let stdout = String::from_utf8_lossy(&o.stdout);
    let stderr = String::from_utf8_lossy(&o.stderr);
    let ins = report["inputs"].as_array().unwrap();
    assert_eq!(ins.len(), 4);
    assert_eq!(ins[0]["frames"], 5);
    assert_eq!(ins[1]["frames"], 2);
    assert_eq!(ins[2]["frames"], 0);
    assert_eq!(
        ins[3]["frames"], 50,
        "the input after the faulty ones is read"
    );
    let e0 = ins[0]["error"].as_str().unwrap();
    assert!(e0.contains("cut.pcap") && e0.contains("record 6"), "{e0}");
    let e1 = ins[1]["error"].as_str().unwrap();
    assert!(
        e1.contains("corrupt.pcap") && e1.contains("record 3"),
        "{e1}"
    );
    let e2 = ins[2]["error"].as_str().unwrap();
    assert!(e2.contains("junk.pcap") && e2.contains("magic"), "{e2}");
    assert!(ins[3].get("error").is_none(), "{}", ins[3]);
    for e in [e0, e1, e2] {
        assert!(stdout.contains(e), "the summary names {e}: {stdout}");
        assert!(stderr.contains(e), "stderr names {e}: {stderr}");
    }
    assert_eq!(report["frames"]["in"], 5 + 2 + 50);
    assert_balanced(&report);
}

#[test]
fn only_unreadable_inputs_write_nothing() {
    let work = tempdir("allbad");
    let junk = work.join("junk.pcap");
    std::fs::write(&junk, b"").unwrap();
    let (o, report) = replay(
        &work,
        &root().join("pcaps/demo-topology.toml"),
        &[junk.clone(), junk],
    );
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("junk.pcap"));
    assert!(report.is_null());
    assert!(!work.join("out/internet.pcap").exists());
}

#[test]
fn a_fault_with_workers_is_handled_the_same() {
    let work = tempdir("faulty-workers");
    let demo = demo_pcap();
    let offs = record_offsets(&demo);
    let cut = work.join("cut.pcap");
    std::fs::write(&cut, &demo[..offs[10] + 3]).unwrap();
    let good = work.join("good.pcap");
    std::fs::write(&good, &demo).unwrap();
    let out = work.join("out");
    let o = eipsim()
        .args(["replay", "--no-progress", "--workers", "3", "--topology"])
        .arg(root().join("pcaps/demo-topology.toml"))
        .arg("--out")
        .arg(&out)
        .arg(&cut)
        .arg(&good)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1));
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("report.json")).unwrap()).unwrap();
    assert_eq!(report["inputs"][0]["frames"], 10);
    let e = report["inputs"][0]["error"].as_str().unwrap();
    assert!(e.contains("record 11"), "{e}");
    assert_eq!(report["inputs"][1]["frames"], 50);
    assert_eq!(report["frames"]["in"], 60);
    assert_balanced(&report);
}

// ---------------------------------------------------------------------------------------------
// Capture builders.

/// An Ethernet/IPv4/UDP frame from the Internet (198.51.100.7) to the demo's NAT EIP 47.0.0.10.
fn inbound_frame(payload: &[u8]) -> Vec<u8> {
    let mut f = Vec::new();
    etherparse::PacketBuilder::ethernet2([2, 0, 0, 0, 0, 1], [0xee, 0xff, 0xff, 0xff, 0xff, 0xff])
        .ipv4([198, 51, 100, 7], [47, 0, 0, 10], 64)
        .udp(9000, 9001)
        .write(&mut f, payload)
        .unwrap();
    f
}

/// A little-endian microsecond pcap of `records` (Ethernet) with `snaplen`.
fn pcap(snaplen: u32, records: &[Vec<u8>]) -> Vec<u8> {
    let mut p = Vec::new();
    p.extend_from_slice(&0xa1b2_c3d4u32.to_le_bytes());
    p.extend_from_slice(&2u16.to_le_bytes());
    p.extend_from_slice(&4u16.to_le_bytes());
    p.extend_from_slice(&[0; 8]);
    p.extend_from_slice(&snaplen.to_le_bytes());
    p.extend_from_slice(&1u32.to_le_bytes());
    for (i, r) in records.iter().enumerate() {
        p.extend_from_slice(&(1_700_000_000u32 + i as u32).to_le_bytes());
        p.extend_from_slice(&0u32.to_le_bytes());
        p.extend_from_slice(&(r.len() as u32).to_le_bytes());
        p.extend_from_slice(&(r.len() as u32).to_le_bytes());
        p.extend_from_slice(r);
    }
    p
}

/// A pcapng block (little-endian): type, body padded to 4 bytes, lengths.
fn block(kind: u32, body: &[u8]) -> Vec<u8> {
    let pad = (4 - body.len() % 4) % 4;
    let len = (12 + body.len() + pad) as u32;
    let mut b = Vec::new();
    b.extend_from_slice(&kind.to_le_bytes());
    b.extend_from_slice(&len.to_le_bytes());
    b.extend_from_slice(body);
    b.extend_from_slice(&vec![0; pad]);
    b.extend_from_slice(&len.to_le_bytes());
    b
}

/// Options: (code, value) each padded, then the end of options.
fn options(opts: &[(u16, &[u8])]) -> Vec<u8> {
    let mut o = Vec::new();
    for (code, v) in opts {
        o.extend_from_slice(&code.to_le_bytes());
        o.extend_from_slice(&(v.len() as u16).to_le_bytes());
        o.extend_from_slice(v);
        o.extend_from_slice(&vec![0; (4 - v.len() % 4) % 4]);
    }
    if !opts.is_empty() {
        o.extend_from_slice(&[0; 4]);
    }
    o
}

fn shb(opts: &[(u16, &[u8])]) -> Vec<u8> {
    let mut body = Vec::new();
    body.extend_from_slice(&0x1a2b_3c4du32.to_le_bytes());
    body.extend_from_slice(&1u16.to_le_bytes());
    body.extend_from_slice(&0u16.to_le_bytes());
    body.extend_from_slice(&(-1i64).to_le_bytes());
    body.extend_from_slice(&options(opts));
    block(0x0a0d_0d0a, &body)
}

fn idb(linktype: u16, opts: &[(u16, &[u8])]) -> Vec<u8> {
    let mut body = Vec::new();
    body.extend_from_slice(&linktype.to_le_bytes());
    body.extend_from_slice(&0u16.to_le_bytes());
    body.extend_from_slice(&0u32.to_le_bytes());
    body.extend_from_slice(&options(opts));
    block(1, &body)
}

fn epb(iface: u32, usec: u64, data: &[u8], opts: &[(u16, &[u8])]) -> Vec<u8> {
    let mut body = Vec::new();
    body.extend_from_slice(&iface.to_le_bytes());
    body.extend_from_slice(&((usec >> 32) as u32).to_le_bytes());
    body.extend_from_slice(&(usec as u32).to_le_bytes());
    body.extend_from_slice(&(data.len() as u32).to_le_bytes());
    body.extend_from_slice(&(data.len() as u32).to_le_bytes());
    body.extend_from_slice(data);
    body.extend_from_slice(&vec![0; (4 - data.len() % 4) % 4]);
    body.extend_from_slice(&options(opts));
    block(6, &body)
}

// ---------------------------------------------------------------------------------------------
// b. A valid record larger than 8 MB is read; one over the limit is refused saying so.

const BIG: usize = 10 << 20;

#[test]
fn a_10_mb_pcap_record_is_read_and_replayed() {
    let work = tempdir("bigpcap");
    let mut big = inbound_frame(b"big");
    big.resize(BIG, 0xab); // trailing bytes after the IPv4 packet, as Ethernet padding
    let small = inbound_frame(b"small");
    let cap = work.join("big.pcap");
    std::fs::write(&cap, pcap(0x7fff_ffff, &[small.clone(), big, small])).unwrap();
    let (o, report) = replay(&work, &root().join("pcaps/demo-topology.toml"), &[cap]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(report["frames"]["in"], 3);
    assert_eq!(report["frames"]["forwarded"], 3);
    // The big frame reached its ENI whole.
    let out = std::fs::read(work.join("out/eni-web0.pcap")).unwrap();
    let offs = record_offsets(&out);
    assert_eq!(offs.len(), 3);
    let caplen = u32::from_le_bytes(out[offs[1] + 8..offs[1] + 12].try_into().unwrap());
    assert_eq!(caplen as usize, BIG);
}

#[test]
fn a_10_mb_pcapng_block_is_read() {
    let mut big = inbound_frame(b"big");
    big.resize(BIG, 0xcd);
    let mut ng = shb(&[]);
    ng.extend(idb(1, &[]));
    ng.extend(epb(0, 1, &big, &[]));
    ng.extend(epb(0, 2, &inbound_frame(b"after"), &[]));
    let mut r =
        eipsim::replay::input::CaptureReader::from_bytes(Path::new("big.pcapng"), ng).unwrap();
    let mut buf = Vec::new();
    let m = r.next_frame(&mut buf).unwrap().unwrap();
    assert_eq!(buf.len(), BIG);
    assert_eq!(m.record, 1);
    buf.clear();
    let m = r.next_frame(&mut buf).unwrap().unwrap();
    assert_eq!(m.record, 2);
    assert!(r.next_frame(&mut buf).unwrap().is_none());
}

#[test]
fn a_record_over_the_limit_is_refused_saying_so() {
    use eipsim::replay::input::{CaptureReader, MAX_RECORD};
    // A stream (size unknown) whose record 2 says 300 MB: refused before reading it.
    let huge = 300u32 << 20;
    let mut p = pcap(0x7fff_ffff, &[inbound_frame(b"one")]);
    p.extend_from_slice(&[0; 8]);
    p.extend_from_slice(&huge.to_le_bytes());
    p.extend_from_slice(&huge.to_le_bytes());
    p.extend_from_slice(&[0; 64]);
    let mut r = CaptureReader::from_reader(
        Path::new("s.pcap"),
        Box::new(std::io::Cursor::new(p.clone())),
    )
    .unwrap();
    let mut buf = Vec::new();
    assert!(r.next_frame(&mut buf).unwrap().is_some());
    let e = r.next_frame(&mut buf).unwrap_err();
    assert_eq!(e.record, Some(2));
    let limit = format!("the limit is {:.1} MB", MAX_RECORD as f64 / 1048576.0);
    assert!(
        e.message.contains("is 300.0 MB") && e.message.contains(&limit),
        "{e}"
    );
    assert!(!e.message.contains("cut short"), "{e}");
    // The same bytes as a file: its size shows the length cannot be right.
    let mut r = CaptureReader::from_bytes(Path::new("f.pcap"), p).unwrap();
    assert!(r.next_frame(&mut buf).unwrap().is_some());
    let e = r.next_frame(&mut buf).unwrap_err();
    assert!(
        e.message.contains("length field is corrupt") && e.message.contains("64 are left"),
        "{e}"
    );
}

// ---------------------------------------------------------------------------------------------
// c. Text options that are not UTF-8 are read; an interface of an unsupported link type has its
// packets counted and dropped `unsupported-link`, the other interfaces' replayed.

fn nrb_with_bad_name() -> Vec<u8> {
    let mut rec = vec![47, 0, 0, 10];
    rec.extend_from_slice(b"web\xff\xfe\0");
    let mut body = Vec::new();
    body.extend_from_slice(&1u16.to_le_bytes());
    body.extend_from_slice(&(rec.len() as u16).to_le_bytes());
    body.extend_from_slice(&rec);
    body.extend_from_slice(&vec![0; (4 - rec.len() % 4) % 4]);
    body.extend_from_slice(&[0; 4]);
    block(4, &body)
}

fn isb_with_bad_comment(iface: u32) -> Vec<u8> {
    let mut body = Vec::new();
    body.extend_from_slice(&iface.to_le_bytes());
    body.extend_from_slice(&[0; 8]);
    body.extend_from_slice(&options(&[(1, b"stats \xc3")]));
    block(5, &body)
}

#[test]
fn bad_utf8_options_and_an_unsupported_interface_do_not_stop_the_capture() {
    let work = tempdir("ng-odd");
    let mut ng = shb(&[(4, b"dumpcap \xff\xfe"), (1, b"ok")]);
    ng.extend(idb(
        1,
        &[(2, b"eth\xe9"), (3, b"caf\xc3\xa9 ok"), (9, &[6])],
    ));
    ng.extend(idb(147, &[(2, b"user0")])); // LINKTYPE_USER0: not replayed
    ng.extend(nrb_with_bad_name());
    ng.extend(epb(
        0,
        1,
        &inbound_frame(b"one"),
        &[(1, b"comment \x80\x81")],
    ));
    ng.extend(epb(1, 2, b"\x01\x02\x03 opaque", &[]));
    ng.extend(epb(
        0,
        3,
        &inbound_frame(b"two"),
        &[(2988, b"\0\0\x7f\xffcustom \xf0\x28")],
    ));
    ng.extend(isb_with_bad_comment(0));
    ng.extend(epb(1, 4, b"more opaque", &[]));
    let cap = work.join("odd.pcapng");
    std::fs::write(&cap, &ng).unwrap();
    let (o, report) = replay(&work, &root().join("pcaps/demo-topology.toml"), &[cap]);
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(report["frames"]["in"], 4);
    assert_eq!(report["frames"]["forwarded"], 2);
    assert_eq!(report["dropped"]["unsupported-link"], 2);
    assert_balanced(&report);
    assert!(report["inputs"][0].get("error").is_none());
    assert!(
        stdout
            .lines()
            .any(|l| l.contains("unsupported-link") && l.contains('2')),
        "{stdout}"
    );
    // dropped.pcapng: the two frames, unchanged, on an interface of link type 147, commented.
    let f = std::fs::File::open(work.join("out/dropped.pcapng")).unwrap();
    let mut r = pcap_file::pcapng::PcapNgReader::new(f).unwrap();
    let mut seen = Vec::new();
    while let Some(b) = r.next_block() {
        let b = b.unwrap().into_owned();
        if let pcap_file::pcapng::Block::EnhancedPacket(p) = b {
            let lt = u32::from(r.interfaces()[p.interface_id as usize].linktype);
            let comment = p.options.iter().find_map(|o| match o {
                pcap_file::pcapng::blocks::enhanced_packet::EnhancedPacketOption::Comment(c) => {
                    Some(c.to_string())
                }
                _ => None,
            });
            seen.push((lt, p.data.to_vec(), comment));
        }
    }
    assert_eq!(
        seen,
        vec![
            (
                147,
                b"\x01\x02\x03 opaque".to_vec(),
                Some("unsupported-link".into())
            ),
            (
                147,
                b"more opaque".to_vec(),
                Some("unsupported-link".into())
            ),
        ]
    );
    // The supported interface's frames were delivered, its IDB's text kept readable.
    let f = std::fs::File::open(work.join("out/eni-web0.pcap")).unwrap();
    let mut r = pcap_file::pcapng::PcapNgReader::new(f).unwrap();
    let mut frames = 0;
    while let Some(b) = r.next_block() {
        if let pcap_file::pcapng::Block::EnhancedPacket(_) = b.unwrap() {
            frames += 1;
        }
    }
    assert_eq!(frames, 2);
    let names: Vec<String> = r.interfaces()[0]
        .options
        .iter()
        .filter_map(|o| match o {
            pcap_file::pcapng::blocks::interface_description::InterfaceDescriptionOption::IfName(n) => Some(n.to_string()),
            pcap_file::pcapng::blocks::interface_description::InterfaceDescriptionOption::IfDescription(n) => Some(n.to_string()),
            _ => None,
        })
        .collect();
    assert_eq!(names, vec!["eth?".to_string(), "café ok".to_string()]);
}

#[test]
fn an_unsupported_interface_alone_is_an_error_where_frames_cannot_be_dropped() {
    // Readers that do not opt in (the mode advisor) still get a clear error naming it.
    let mut ng = shb(&[]);
    ng.extend(idb(147, &[]));
    ng.extend(epb(0, 1, b"opaque", &[]));
    let mut r = eipsim::replay::input::CaptureReader::from_bytes(Path::new("u.pcapng"), ng.clone())
        .unwrap();
    let e = r.next_frame(&mut Vec::new()).unwrap_err();
    assert!(e.message.contains("link type 147 is not supported"), "{e}");
    let mut r =
        eipsim::replay::input::CaptureReader::from_bytes(Path::new("u.pcapng"), ng).unwrap();
    r.keep_unsupported_links();
    let m = r.next_frame(&mut Vec::new()).unwrap().unwrap();
    assert!(m.unsupported_link);
    assert_eq!(m.linktype, 147);
}

// ---------------------------------------------------------------------------------------------
// d. Topology rules: MACs, EIP ranges, the VPC's network and broadcast addresses, static_eips;
// the console operations refuse the same.

const BASE: &str = r#"
region = "eu-central-1"

[account]
multi_eip_authorized = true

[vpc]
id = "vpc-x"
cidr = "10.0.0.0/16"
gateway_mac = "ee:ff:ff:ff:ff:ff"
internet_mac = "02:00:00:00:00:01"

[[instance]]
id = "i-1"
family = "ecs.g5"

[[eni]]
id = "eni-p"
kind = "primary"
mac = "00:16:3e:00:00:01"
primary_ip = "10.0.0.10"
instance = "i-1"

[[eni]]
id = "eni-m"
kind = "secondary"
mac = "00:16:3e:00:00:02"
primary_ip = "10.0.0.20"
instance = "i-1"
static_eips = ["47.0.0.2"]

[[eip]]
id = "eip-a"
address = "47.0.0.1"

[[eip]]
id = "eip-b"
address = "47.0.0.2"

[[eip]]
id = "eip-c"
address = "47.0.0.3"

[[association]]
eip = "eip-a"
eni = "eni-p"
mode = "NAT"

[[association]]
eip = "eip-b"
eni = "eni-m"
mode = "MULTI_BINDED"

[[association]]
eip = "eip-c"
eni = "eni-m"
mode = "MULTI_BINDED"
"#;

fn refused(text: &str, code: &str, says: &str) {
    match eipsim::model::Cloud::from_toml(text) {
        Ok(_) => panic!("accepted, expected rule {code}"),
        Err(e) => {
            assert_eq!(e.code(), Some(code), "{e}");
            assert!(e.to_string().contains(says), "{e}");
        }
    }
}

#[test]
fn the_base_topology_loads() {
    eipsim::model::Cloud::from_toml(BASE).unwrap_or_else(|e| panic!("{e}"));
}

#[test]
fn topology_rules_refuse_reserved_macs_addresses_and_static_eips() {
    let eni_mac = "mac = \"00:16:3e:00:00:01\"";
    for (mac, code, says) in [
        ("ee:ff:ff:ff:ff:ff", "eni-mac-reserved", "gateway_mac"),
        ("02:00:00:00:00:01", "eni-mac-reserved", "internet_mac"),
        ("ff:ff:ff:ff:ff:ff", "eni-mac-group", "broadcast"),
        ("01:00:5e:00:00:01", "eni-mac-group", "multicast"),
        ("33:33:00:00:00:01", "eni-mac-group", "I/G bit"),
    ] {
        refused(
            &BASE.replace(eni_mac, &format!("mac = \"{mac}\"")),
            code,
            says,
        );
    }
    refused(
        &BASE.replace(
            "internet_mac = \"02:00:00:00:00:01\"",
            "internet_mac = \"ee:ff:ff:ff:ff:ff\"",
        ),
        "gateway-mac-is-internet-mac",
        "both ee:ff:ff:ff:ff:ff",
    );
    for (addr, range) in [
        ("0.1.2.3", "0.0.0.0/8"),
        ("127.0.0.1", "127.0.0.0/8"),
        ("169.254.1.1", "169.254.0.0/16"),
        ("224.0.0.5", "224.0.0.0/4"),
        ("239.255.255.250", "224.0.0.0/4"),
        ("240.0.0.1", "240.0.0.0/4"),
        ("250.1.1.1", "240.0.0.0/4"),
    ] {
        refused(
            &BASE.replace("address = \"47.0.0.3\"", &format!("address = \"{addr}\"")),
            "invalid-address",
            range,
        );
    }
    // 169.253 and 128.0 are fine.
    for ok in ["169.253.0.1", "128.0.0.1", "223.255.255.1"] {
        eipsim::model::Cloud::from_toml(
            &BASE.replace("address = \"47.0.0.3\"", &format!("address = \"{ok}\"")),
        )
        .unwrap_or_else(|e| panic!("{ok}: {e}"));
    }
    refused(
        &BASE.replace("primary_ip = \"10.0.0.20\"", "primary_ip = \"10.0.0.0\""),
        "vpc-reserved-address",
        "network address",
    );
    refused(
        &BASE.replace(
            "primary_ip = \"10.0.0.20\"",
            "primary_ip = \"10.0.0.20\"\nsecondary_ips = [\"10.0.255.255\"]",
        ),
        "vpc-reserved-address",
        "broadcast address",
    );
    refused(
        &BASE.replace(
            "static_eips = [\"47.0.0.2\"]",
            "static_eips = [\"47.0.0.1\"]",
        ),
        "static-eip-not-owned",
        "47.0.0.1",
    );
    refused(
        &BASE.replace(
            "static_eips = [\"47.0.0.2\"]",
            "static_eips = [\"47.0.0.9\"]",
        ),
        "static-eip-not-owned",
        "eni-m",
    );
}

#[test]
fn console_operations_refuse_the_same() {
    use eipsim::model::{Charge, Cloud, Eip, Eni, EniKind};
    let mut c = Cloud::from_toml(BASE).unwrap();
    let mac = |s: &str| s.parse().unwrap();
    let ip = |s: &str| s.parse::<std::net::Ipv4Addr>().unwrap();
    for (m, code) in [
        ("ee:ff:ff:ff:ff:ff", "eni-mac-reserved"),
        ("02:00:00:00:00:01", "eni-mac-reserved"),
        ("ff:ff:ff:ff:ff:ff", "eni-mac-group"),
        ("03:00:00:00:00:09", "eni-mac-group"),
    ] {
        let e = c
            .create_network_interface(Eni::new(
                "eni-new",
                EniKind::Secondary,
                mac(m),
                ip("10.0.0.50"),
                vec![],
            ))
            .unwrap_err();
        assert_eq!(e.code, code, "{m}: {e}");
    }
    for a in ["10.0.0.0", "10.0.255.255"] {
        let e = c
            .create_network_interface(Eni::new(
                "eni-new",
                EniKind::Secondary,
                mac("00:16:3e:00:00:09"),
                ip("10.0.0.50"),
                vec![ip(a)],
            ))
            .unwrap_err();
        assert_eq!(e.code, "vpc-reserved-address", "{a}: {e}");
    }
    assert!(
        c.eni_index("eni-new").is_none(),
        "a refused create leaves no ENI"
    );
    for a in ["127.0.0.2", "169.254.169.254", "0.0.0.1", "240.1.1.1"] {
        let e = c
            .allocate_eip_address(Eip::new("eip-new", ip(a), Charge::PayByTraffic))
            .unwrap_err();
        assert_eq!(e.code, "invalid-address", "{a}: {e}");
    }
    let p = c.eni_index("eni-p").unwrap();
    let e = c
        .assign_private_ip_addresses(p, &[ip("10.0.0.11"), ip("10.0.255.255")])
        .unwrap_err();
    assert_eq!(e.code, "vpc-reserved-address", "{e}");
    assert!(c.enis[p].secondary_ips.is_empty(), "nothing assigned");
    // A scenario step cannot bypass them either.
    let work = tempdir("ops-rules");
    std::fs::write(work.join("base.toml"), BASE).unwrap();
    std::fs::write(
        work.join("s.toml"),
        r#"topology = "base.toml"

[[step]]
op = "AllocateEipAddress"
id = "eip-lo"
address = "127.0.0.9"
expect = "invalid-address"

[[step]]
op = "CreateNetworkInterface"
id = "eni-gw"
kind = "secondary"
mac = "ee:ff:ff:ff:ff:ff"
primary_ip = "10.0.0.90"
expect = "eni-mac-reserved"

[[step]]
op = "AssignPrivateIpAddresses"
eni = "eni-p"
ips = ["10.0.0.0"]
expect = "vpc-reserved-address"
"#,
    )
    .unwrap();
    let o = eipsim()
        .arg("scenario")
        .arg(work.join("s.toml"))
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
}

// ---------------------------------------------------------------------------------------------
// e. Events and scenario files: a negative integer `at`, a misspelled `expect` code, and TOML
// errors on huge lines.

#[test]
fn a_negative_at_is_refused_in_every_form() {
    let work = tempdir("neg-at");
    for at in ["-5", "-0.5", "\"-5\""] {
        let f = work.join("events.toml");
        std::fs::write(
            &f,
            format!("[[event]]\nat = {at}\nop = \"UnassociateEipAddress\"\neip = \"eip-web\"\n"),
        )
        .unwrap();
        let e = eipsim::model::scenario::load_events(&f)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("event 1") && e.contains("`at` is capture time"),
            "{at}: {e}"
        );
        // And the replay exits 1 before writing anything.
        let out = work.join("out");
        let o = eipsim()
            .current_dir(root())
            .args([
                "replay",
                "--no-progress",
                "--topology",
                "pcaps/demo-topology.toml",
            ])
            .arg("--events")
            .arg(&f)
            .arg("--out")
            .arg(&out)
            .arg("pcaps/demo.pcap")
            .output()
            .unwrap();
        assert_eq!(o.status.code(), Some(1), "{at}");
        assert!(!out.join("report.json").exists());
    }
    // 0 and positive integers are fine.
    let f = work.join("ok.toml");
    std::fs::write(
        &f,
        "[[event]]\nat = 0\nop = \"UnassociateEipAddress\"\neip = \"eip-web\"\n",
    )
    .unwrap();
    assert_eq!(
        eipsim::model::scenario::load_events(&f).unwrap()[0].at_ns,
        0
    );
}

#[test]
fn a_misspelled_expect_code_is_refused_at_load() {
    let work = tempdir("expect-code");
    std::fs::write(work.join("base.toml"), BASE).unwrap();
    let s = work.join("s.toml");
    std::fs::write(
        &s,
        r#"topology = "base.toml"

[[step]]
op = "DetachNetworkInterface"
eni = "eni-m"
expect = "ok"

[[step]]
op = "AttachNetworkInterface"
eni = "eni-m"
instance = "i-1"
expect = "ok"

[[step]]
op = "DetachNetworkInterface"
eni = "eni-p"
expect = "primary-eni-detatch"
"#,
    )
    .unwrap();
    let e = eipsim::model::scenario::load_scenario(&s)
        .unwrap_err()
        .to_string();
    assert!(e.contains("step 3"), "{e}");
    assert!(e.contains("DetachNetworkInterface"), "names the step: {e}");
    assert!(e.contains("\"primary-eni-detatch\""), "names the code: {e}");
    assert!(e.contains("did you mean \"primary-eni-detach\""), "{e}");
    let o = eipsim().arg("scenario").arg(&s).output().unwrap();
    assert_eq!(o.status.code(), Some(1));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("step 3"), "{err}");
    assert!(
        o.stdout.is_empty(),
        "no step ran: {}",
        String::from_utf8_lossy(&o.stdout)
    );
    // Spelled right, the scenario runs and the step is as expected.
    std::fs::write(
        &s,
        std::fs::read_to_string(&s)
            .unwrap()
            .replace("primary-eni-detatch", "primary-eni-detach"),
    )
    .unwrap();
    let o = eipsim().arg("scenario").arg(&s).output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stdout));
    // Every code the model gives is one `expect` accepts.
    for code in eipsim::model::checks::ERROR_CODES {
        assert!(eipsim::model::checks::closest_code(code) == Some(code));
    }
}

#[test]
fn toml_errors_never_echo_a_whole_huge_line() {
    let work = tempdir("huge-line");
    // One line of 1 MB: a key with a value that never ends, and a valid table after it that
    // then breaks on a long unknown value.
    let huge = format!("region = \"{}", "a".repeat(1 << 20));
    let long_value = format!("{}\nregion = \"{}\"\n", "", "b".repeat(1 << 20));
    let files = [
        ("topology.toml", huge.clone()),
        ("topology2.toml", long_value.replace("region", "regio")),
        ("scenario.toml", huge.clone()),
        ("events.toml", huge.clone()),
        (
            "events2.toml",
            format!("[[event]]\nat = 1\nop = \"{}\"\n", "c".repeat(1 << 20)),
        ),
        (
            "scenario2.toml",
            format!(
                "topology = \"topology.toml\"\n[[step]]\nop = \"x\"\nexpect = \"{}\"\n",
                "d".repeat(1 << 20)
            ),
        ),
    ];
    for (name, text) in files {
        let f = work.join(name);
        std::fs::write(&f, &text).unwrap();
        let e = if name.starts_with("topology") {
            eipsim::model::Cloud::load(&f).unwrap_err().to_string()
        } else if name.starts_with("scenario") {
            eipsim::model::scenario::load_scenario(&f)
                .unwrap_err()
                .to_string()
        } else {
            eipsim::model::scenario::load_events(&f)
                .unwrap_err()
                .to_string()
        };
        assert!(e.contains(name), "{e}");
        let longest = e
            .split(['\n', ' '])
            .map(|w| w.chars().count())
            .max()
            .unwrap();
        assert!(longest <= 260, "{name}: a run of {longest} characters");
        assert!(e.chars().count() < 4000, "{name}: {} characters", e.len());
    }
}

// ---------------------------------------------------------------------------------------------
// f. `eipsim suggest`: every private source gets a NAT mapping; the capture point and the VPC
// CIDR assumed are said.

fn eth_udp(src_mac: [u8; 6], src: [u8; 4], dst: [u8; 4]) -> Vec<u8> {
    let mut f = Vec::new();
    etherparse::PacketBuilder::ethernet2(src_mac, [0x00, 0x16, 0x3e, 0xff, 0xff, 0xfe])
        .ipv4(src, dst, 64)
        .udp(40000, 53)
        .write(&mut f, b"q")
        .unwrap();
    f
}

const ROUTER: [u8; 6] = [0xaa, 0xbb, 0xcc, 0x00, 0x00, 0x01];
const MAC_A: [u8; 6] = [0x00, 0x16, 0x3e, 0xaa, 0x00, 0x01];
const MAC_B: [u8; 6] = [0x00, 0x16, 0x3e, 0xaa, 0x00, 0x02];

/// Private sources 192.168.1.{1,10,20,30,40} (and 10.0.0.5 of another block); the router's MAC
/// also carries Internet sources; .40 sends from the Internet next hop's default MAC.
/// `replies`: the Internet's frames arrive addressed to the private sources (taken on the
/// instances).
fn lan_capture(replies: bool) -> Vec<u8> {
    let mut r = vec![
        eth_udp(MAC_A, [192, 168, 1, 10], [8, 8, 8, 8]),
        eth_udp(MAC_B, [192, 168, 1, 20], [93, 184, 216, 34]),
        eth_udp(MAC_B, [192, 168, 1, 30], [93, 184, 216, 34]),
        eth_udp(ROUTER, [192, 168, 1, 1], [192, 168, 1, 10]),
        eth_udp([2, 0, 0, 0, 0, 1], [192, 168, 1, 40], [1, 1, 1, 1]),
        eth_udp([0x00, 0x16, 0x3e, 0xaa, 0, 9], [10, 0, 0, 5], [1, 1, 1, 1]),
        eth_udp(ROUTER, [1, 1, 1, 1], [203, 0, 113, 9]),
    ];
    if replies {
        r.push(eth_udp(ROUTER, [8, 8, 8, 8], [192, 168, 1, 10]));
        r.push(eth_udp(ROUTER, [93, 184, 216, 34], [192, 168, 1, 20]));
    }
    pcap(65535, &r)
}

#[test]
fn suggest_maps_every_private_source_and_says_what_it_assumed() {
    let work = tempdir("suggest");
    for (replies, point) in [(true, "instance"), (false, "gateway")] {
        let cap = work.join(format!("lan-{point}.pcap"));
        std::fs::write(&cap, lan_capture(replies)).unwrap();
        let o = eipsim().arg("suggest").arg(&cap).output().unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        let text = String::from_utf8(o.stdout).unwrap();
        let stderr = String::from_utf8(o.stderr).unwrap();
        let cloud =
            eipsim::model::Cloud::from_toml(&text).unwrap_or_else(|e| panic!("{e}\n{text}"));
        // Every private source of the VPC's block has a NAT mapping.
        let mut mapped: Vec<String> = cloud
            .associations
            .iter()
            .map(|a| {
                assert_eq!(a.mode, eipsim::model::Mode::Nat);
                a.private_ip.unwrap().to_string()
            })
            .collect();
        mapped.sort();
        assert_eq!(
            mapped,
            [
                "192.168.1.1",
                "192.168.1.10",
                "192.168.1.20",
                "192.168.1.30",
                "192.168.1.40"
            ]
        );
        assert_eq!(cloud.vpc.cidr.to_string(), "192.168.1.0/26");
        // Captured MACs kept only where they are an ENI's own.
        let mac_of = |ip: &str| {
            let ip: std::net::Ipv4Addr = ip.parse().unwrap();
            cloud
                .enis
                .iter()
                .find(|e| e.private_ips().any(|a| a == ip))
                .unwrap()
                .mac
                .0
        };
        assert_eq!(mac_of("192.168.1.10"), MAC_A);
        assert_eq!(mac_of("192.168.1.20"), MAC_B);
        assert_eq!(mac_of("192.168.1.30"), MAC_B, "one ENI, two private IPs");
        assert_ne!(
            mac_of("192.168.1.1"),
            ROUTER,
            "the router's MAC carries Internet sources"
        );
        assert_ne!(mac_of("192.168.1.40"), [2, 0, 0, 0, 0, 1]);
        // What was assumed, at the top and on stderr.
        let head: Vec<&str> = text.lines().take_while(|l| l.starts_with('#')).collect();
        let expected_point = if replies {
            "# capture point: instance (frames from outside the VPC are addressed to private IPs): replay with --capture-point instance"
        } else {
            "# capture point: gateway (no frame from outside the VPC is addressed to a private IP)"
        };
        assert!(head.contains(&expected_point), "{head:?}");
        assert!(
            head.iter()
                .any(|l| l.starts_with("# VPC CIDR: 192.168.1.0/26")),
            "{head:?}"
        );
        assert!(
            head.iter().any(|l| l.starts_with("# left out: 10.0.0.5")),
            "{head:?}"
        );
        assert_eq!(stderr.lines().count(), 1, "{stderr}");
        assert!(
            stderr.contains(&format!("capture point {point}")) && stderr.contains("192.168.1.0/26"),
            "{stderr}"
        );
        let s = eipsim::advisor::suggest::suggest(std::slice::from_ref(&cap)).unwrap();
        assert_eq!(s.capture_point.as_str(), point);
    }
}

#[test]
fn the_capture_point_decision() {
    use eipsim::advisor::suggest::{CapturePoint, CapturePointEvidence};
    let vpc: eipsim::model::Ipv4Cidr = "10.0.0.0/8".parse().unwrap();
    let eip: std::net::Ipv4Addr = "47.0.0.1".parse().unwrap();
    let mut e = CapturePointEvidence::default();
    let count = |e: &mut CapturePointEvidence, s: &str, d: &str| {
        e.count(
            s.parse().unwrap(),
            d.parse().unwrap(),
            |a| vpc.contains(a),
            |a| a == eip,
        )
    };
    assert_eq!(e.decide(), CapturePoint::Gateway, "no evidence: gateway");
    count(&mut e, "8.8.8.8", "47.0.0.1");
    count(&mut e, "10.0.0.5", "8.8.8.8"); // from inside: no evidence
    assert_eq!(
        e,
        CapturePointEvidence {
            to_private: 0,
            to_public: 1
        }
    );
    count(&mut e, "8.8.8.8", "10.0.0.5");
    assert_eq!(e.decide(), CapturePoint::Gateway, "a tie stays gateway");
    count(&mut e, "1.1.1.1", "10.0.0.6");
    assert_eq!(e.decide(), CapturePoint::Instance);
}

#[test]
#[ignore = "needs ../shared/pcaps; run by .ci/run with --ignored"]
fn suggest_gives_a_valid_topology_for_every_shared_capture() {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                walk(&p, out);
            } else if p.to_string_lossy().contains(".pcap") {
                out.push(p);
            }
        }
    }
    let mut caps = Vec::new();
    walk(&root().join("../shared/pcaps"), &mut caps);
    assert!(caps.len() >= 40, "found {}", caps.len());
    for cap in caps {
        let s = match eipsim::advisor::suggest::suggest(std::slice::from_ref(&cap)) {
            Ok(s) => s,
            Err(e) => {
                // Only a capture that cannot be opened at all.
                assert!(e.record.is_none(), "{e}");
                continue;
            }
        };
        let cloud = eipsim::model::Cloud::from_toml(&s.text)
            .unwrap_or_else(|e| panic!("{}: {e}\n{}", cap.display(), s.text));
        assert!(s.text.starts_with("# Suggested"), "{}", cap.display());
        assert!(s.text.contains("\n# capture point: "), "{}", cap.display());
        assert!(
            s.text
                .contains(&format!("\n# VPC CIDR: {}", cloud.vpc.cidr)),
            "{}",
            cap.display()
        );
        // Every ENI IP has its NAT mapping.
        let ips: usize = cloud.enis.iter().map(|e| e.private_ips().count()).sum();
        assert_eq!(cloud.associations.len(), ips, "{}", cap.display());
    }
}

/// `diff` reads what `replay` reads: frames of an unsupported interface are dropped
/// `unsupported-link` in both topologies (no flow, nothing changed), the rest compared.
#[test]
fn diff_drops_unsupported_interfaces_as_the_replay_does() {
    let work = tempdir("diff-unsupported");
    let mut ng = shb(&[]);
    ng.extend(idb(1, &[]));
    ng.extend(idb(147, &[]));
    ng.extend(epb(0, 1, &inbound_frame(b"one"), &[]));
    ng.extend(epb(1, 2, b"opaque", &[]));
    let cap = work.join("two-ifaces.pcapng");
    std::fs::write(&cap, &ng).unwrap();
    let t = root().join("pcaps/demo-topology.toml");
    let o = eipsim()
        .args(["diff", "--json", "--topology"])
        .arg(&t)
        .arg("--topology")
        .arg(&t)
        .arg(&cap)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let d: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(d["frames"], 2, "{d:#}");
    assert_eq!(d["counts"]["changed"], 0, "{d:#}");
}
