//! Output under a tight open-file budget: with 50 ENIs and at most 4 ENI files open, every
//! output is byte-identical to a run with no such limit, and no file is reopened per frame.

use std::borrow::Cow;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::Duration;

use eipsim::replay::{self, ReplayOptions, ReplayOutcome};
use etherparse::PacketBuilder;
use pcap_file::DataLink;
use pcap_file::pcap::{PcapPacket, PcapWriter};
use pcap_file::pcapng::PcapNgWriter;
use pcap_file::pcapng::blocks::enhanced_packet::EnhancedPacketBlock;
use pcap_file::pcapng::blocks::interface_description::InterfaceDescriptionBlock;

const ENIS: u32 = 50;
const FRAMES: u32 = 3000;

fn tempdir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("eipsim-io-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn private(i: u32) -> [u8; 4] {
    (0x0a00_0000u32 + 1 + i).to_be_bytes()
}

fn public(i: u32) -> [u8; 4] {
    (0x2f00_0000u32 + 1 + i).to_be_bytes()
}

fn mac(i: u32) -> [u8; 6] {
    let b = i.to_be_bytes();
    [0x00, 0x16, b[0], b[1], b[2], b[3]]
}

/// 50 ENIs, each with a NAT-mode EIP.
fn topology(dir: &Path) -> PathBuf {
    let mut t = String::from("region = \"eu-central-1\"\n\n[vpc]\ncidr = \"10.0.0.0/8\"\n\n");
    for i in 0..ENIS {
        let m = mac(i);
        let p = std::net::Ipv4Addr::from(private(i));
        let e = std::net::Ipv4Addr::from(public(i));
        write!(
            t,
            "[[instance]]\nid = \"i-{i}\"\n\n[[eni]]\nid = \"eni-{i}\"\nkind = \"primary\"\nmac = \"{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}\"\nprimary_ip = \"{p}\"\ninstance = \"i-{i}\"\n\n[[eip]]\nid = \"eip-{i}\"\naddress = \"{e}\"\n\n[[association]]\neip = \"eip-{i}\"\neni = \"eni-{i}\"\nmode = \"NAT\"\n\n",
            m[0], m[1], m[2], m[3], m[4], m[5]
        )
        .unwrap();
    }
    let path = dir.join("topology.toml");
    std::fs::write(&path, t).unwrap();
    path
}

/// Frames to and from pseudo-random ENIs, every 7th to an address no EIP has (dropped), of
/// varied lengths.
fn frames() -> Vec<Vec<u8>> {
    let gw = [0xee, 0xff, 0xff, 0xff, 0xff, 0xff];
    let router = [0x02, 0, 0, 0, 0, 0xfe];
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    (0..FRAMES)
        .map(|n| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let h = (x % u64::from(ENIS)) as u32;
            let remote = [198, 51, 100, h as u8 | 1];
            let port = 40000 + h as u16;
            let payload = vec![n as u8; (n % 13) as usize];
            let mut buf = Vec::new();
            let b = if n % 7 == 3 {
                PacketBuilder::ethernet2(router, gw)
                    .ipv4(remote, [203, 0, 113, 9], 64)
                    .udp(5000, port)
            } else if n % 2 == 0 {
                PacketBuilder::ethernet2(router, gw)
                    .ipv4(remote, public(h), 64)
                    .udp(5000, port)
            } else {
                PacketBuilder::ethernet2(mac(h), gw)
                    .ipv4(private(h), remote, 64)
                    .udp(port, 5000)
            };
            b.write(&mut buf, &payload).unwrap();
            buf
        })
        .collect()
}

fn write_pcap(path: &Path) {
    let f = std::fs::File::create(path).unwrap();
    let mut w = PcapWriter::new(std::io::BufWriter::new(f)).unwrap();
    for (n, f) in frames().iter().enumerate() {
        let ts = Duration::new(1_700_000_000, n as u32 * 1000);
        w.write_packet(&PcapPacket::new(ts, f.len() as u32, f))
            .unwrap();
    }
}

/// Two Ethernet interfaces, frames alternating between them.
fn write_pcapng(path: &Path) {
    let f = std::fs::File::create(path).unwrap();
    let mut w = PcapNgWriter::new(std::io::BufWriter::new(f)).unwrap();
    for _ in 0..2 {
        w.write_pcapng_block(InterfaceDescriptionBlock::new(DataLink::ETHERNET, 0))
            .unwrap();
    }
    for (n, f) in frames().iter().enumerate() {
        w.write_pcapng_block(EnhancedPacketBlock {
            interface_id: n as u32 % 2,
            timestamp: Duration::new(1_700_000_000, n as u32 * 1000),
            original_len: f.len() as u32,
            data: Cow::Borrowed(f),
            options: vec![],
        })
        .unwrap();
    }
}

fn run(topology: &Path, input: &Path, out: &Path, max_open: Option<usize>) -> ReplayOutcome {
    replay::run(&ReplayOptions {
        topology: topology.to_path_buf(),
        out: out.to_path_buf(),
        ingress: None,
        workers: 1,
        inputs: vec![input.to_path_buf()],
        progress: false,
        trace: Some(out.with_extension("trace.tsv")),
        max_open_files: max_open,
        alg: true,
        alg_spec: None,
        events: None,
        capture_point: Default::default(),
        respond: false,
    })
    .unwrap()
}

/// The files of a directory (name, bytes), sorted.
fn files(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut v: Vec<(String, Vec<u8>)> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap())
        .filter(|e| !e.file_name().to_string_lossy().starts_with('.'))
        .map(|e| {
            (
                e.file_name().to_string_lossy().into_owned(),
                std::fs::read(e.path()).unwrap(),
            )
        })
        .collect();
    v.sort();
    v
}

fn four_open_files_write_what_unlimited_writes(input: &Path, work: &Path) {
    let topo = topology(work);
    let free = work.join("free");
    let tight = work.join("tight");
    let a = run(&topo, input, &free, None);
    let b = run(&topo, input, &tight, Some(4));
    let (fa, fb) = (files(&free), files(&tight));
    let enis = fa.iter().filter(|(n, _)| n.starts_with("eni-")).count();
    assert_eq!(enis, ENIS as usize, "every ENI received frames");
    assert!(
        fa.iter()
            .any(|(n, b)| n == "dropped.pcapng" && b.len() > 100),
        "some frames were dropped"
    );
    assert_eq!(fa.len(), fb.len());
    for ((na, ba), (nb, bb)) in fa.iter().zip(&fb) {
        assert_eq!(na, nb);
        assert!(ba == bb, "{na} differs with 4 open ENI files");
    }
    assert_eq!(
        std::fs::read(free.with_extension("trace.tsv")).unwrap(),
        std::fs::read(tight.with_extension("trace.tsv")).unwrap(),
        "traces differ"
    );
    // Each capture file is opened once (created), however the frames interleave: no reopen
    // per frame under the limit. 50 ENI files, internet.pcap and dropped.pcapng.
    assert_eq!(a.output_opens, u64::from(ENIS) + 2);
    assert_eq!(b.output_opens, u64::from(ENIS) + 2);
}

#[test]
fn pcap_outputs_with_four_open_files_are_byte_identical() {
    let work = tempdir("pcap");
    let input = work.join("in.pcap");
    write_pcap(&input);
    four_open_files_write_what_unlimited_writes(&input, &work);
}

#[test]
fn pcapng_outputs_with_four_open_files_are_byte_identical() {
    let work = tempdir("pcapng");
    let input = work.join("in.pcapng");
    write_pcapng(&input);
    four_open_files_write_what_unlimited_writes(&input, &work);
}
