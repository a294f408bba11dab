//! Writes a large synthetic capture and its topology for throughput runs:
//! `cargo run --release --example gen_bulk -- DIR [FRAMES] [HOSTS] [FLOWS_PER_HOST]` (defaults
//! 1000000, 1000, 1). Each host is a primary ENI (10.x.y.z) with a NAT-mode EIP (47.x.y.z); frames
//! alternate between Internet -> EIP (DNAT) and ENI -> Internet (SNAT), 64-byte UDP, hosts spread
//! pseudo-randomly. Each host has FLOWS_PER_HOST flows (both directions), told apart by the
//! Internet side's port (5000, 5001, ...), picked pseudo-randomly per frame; with one flow per host
//! the output is the same as before that option existed.

use std::fmt::Write as _;
use std::io::BufWriter;

use etherparse::PacketBuilder;
use pcap_file::pcap::{PcapHeader, PcapPacket, PcapWriter};

fn main() -> std::io::Result<()> {
    let mut args = std::env::args().skip(1);
    let dir = args.next().unwrap_or_else(|| "bulk".into());
    let frames: u64 = args
        .next()
        .map_or(1_000_000, |s| s.parse().expect("FRAMES"));
    let hosts: u32 = args.next().map_or(1000, |s| s.parse().expect("HOSTS"));
    let flows: u64 = args
        .next()
        .map_or(1, |s| s.parse().expect("FLOWS_PER_HOST"));
    assert!(hosts > 0, "HOSTS must be at least 1");
    assert!(
        (1..=60_000).contains(&flows),
        "FLOWS_PER_HOST must be 1 to 60000"
    );
    std::fs::create_dir_all(&dir)?;
    let dir = std::path::Path::new(&dir);
    let private = |i: u32| (0x0a00_0000u32 + 1 + i).to_be_bytes();
    let public = |i: u32| (0x2f00_0000u32 + 1 + i).to_be_bytes();
    let mac = |i: u32| {
        let b = i.to_be_bytes();
        [0x00, 0x16, b[0], b[1], b[2], b[3]]
    };
    let mut t = String::from("region = \"eu-central-1\"\n\n[vpc]\ncidr = \"10.0.0.0/8\"\n\n");
    for i in 0..hosts {
        let m = mac(i);
        let p = std::net::Ipv4Addr::from(private(i));
        let e = std::net::Ipv4Addr::from(public(i));
        let _ = write!(
            t,
            "[[instance]]\nid = \"i-{i}\"\n\n[[eni]]\nid = \"eni-{i}\"\nkind = \"primary\"\nmac = \"{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}\"\nprimary_ip = \"{p}\"\ninstance = \"i-{i}\"\n\n[[eip]]\nid = \"eip-{i}\"\naddress = \"{e}\"\n\n[[association]]\neip = \"eip-{i}\"\neni = \"eni-{i}\"\nmode = \"NAT\"\n\n",
            m[0], m[1], m[2], m[3], m[4], m[5]
        );
    }
    std::fs::write(dir.join("topology.toml"), t)?;
    let f = std::fs::File::create(dir.join("bulk.pcap"))?;
    let header = PcapHeader {
        endianness: pcap_file::Endianness::Little,
        ..PcapHeader::default()
    };
    let mut w = PcapWriter::with_header(BufWriter::new(f), header).expect("header");
    let gw = [0xee, 0xff, 0xff, 0xff, 0xff, 0xff];
    let router = [0x02, 0, 0, 0, 0, 0xfe];
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut buf = Vec::with_capacity(64);
    for n in 0..frames {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let h = (x % u64::from(hosts)) as u32;
        let remote = [198, 51, (h >> 8) as u8, h as u8 | 1];
        buf.clear();
        let port = 40000 + (h % 1000) as u16;
        // The flow of this host: from the same draw, so one flow per host draws as before.
        let remote_port = 5000 + ((x / u64::from(hosts)) % flows) as u16;
        let b = if n % 2 == 0 {
            PacketBuilder::ethernet2(router, gw)
                .ipv4(remote, public(h), 64)
                .udp(remote_port, port)
        } else {
            PacketBuilder::ethernet2(mac(h), gw)
                .ipv4(private(h), remote, 64)
                .udp(port, remote_port)
        };
        b.write(&mut buf, &[0u8; 18]).expect("frame");
        let ts =
            std::time::Duration::new(1_700_000_000 + n / 1_000_000, (n % 1_000_000) as u32 * 1000);
        w.write_packet(&PcapPacket::new(ts, buf.len() as u32, &buf))
            .expect("write");
    }
    Ok(())
}
