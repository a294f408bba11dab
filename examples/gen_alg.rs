//! Writes a large ALG-heavy capture and its topology, to time the frame pass where the ALG
//! stages work on most frames: `cargo run --release --example gen_alg -- DIR [CALLS] [HOSTS]`
//! (defaults 20000 calls over 256 hosts; 36 frames per call).
//!
//! Each host is a primary ENI (10.0.x.y) with a NAT-mode EIP (47.0.x.y). A call is one host's conversation with an Internet server (198.51.100.7), every one
//! with its own ports: an active-FTP control connection (handshake, `USER`, `331`, a `PORT`
//! command naming the private address, `200`, `RETR`, `150`) and the server's data connection
//! to the EIP; a DNS query and an answer; a SIP `INVITE` whose SDP names the private address,
//! the server's `200 OK` with its own SDP, and ten RTP packets each way on the announced ports.
//! Calls are interleaved pseudo-randomly (deterministic), 1 ms apart, so every flow spans many
//! batches and the flows of one host land in the same shard while hosts spread over all of
//! them. Writes DIR/topology.toml and DIR/alg.pcap.

use std::fmt::Write as _;
use std::io::BufWriter;
use std::net::Ipv4Addr;

use etherparse::PacketBuilder;
use pcap_file::pcap::{PcapHeader, PcapPacket, PcapWriter};

const GW: [u8; 6] = [0xee, 0xff, 0xff, 0xff, 0xff, 0xff];
const ROUTER: [u8; 6] = [0x02, 0, 0, 0, 0, 0xfe];
const SERVER: [u8; 4] = [198, 51, 100, 7];

fn private(i: u32) -> [u8; 4] {
    let n = i + 10;
    [10, 0, (n >> 8) as u8, n as u8]
}

fn public(i: u32) -> [u8; 4] {
    let n = i + 10;
    [47, 0, (n >> 8) as u8, n as u8]
}

fn mac(i: u32) -> [u8; 6] {
    let b = i.to_be_bytes();
    [0x00, 0x16, b[0], b[1], b[2], b[3]]
}

/// One frame: from the host (`out`, source MAC the host's) or to its EIP from the Internet.
struct Conv {
    host: u32,
}

impl Conv {
    fn tcp(&self, out: bool, ports: (u16, u16), seq: u32, flags: &str, payload: &[u8]) -> Vec<u8> {
        let (p, e) = (private(self.host), public(self.host));
        let mut b = if out {
            PacketBuilder::ethernet2(mac(self.host), GW)
                .ipv4(p, SERVER, 64)
                .tcp(ports.0, ports.1, seq, 64240)
        } else {
            PacketBuilder::ethernet2(ROUTER, GW)
                .ipv4(SERVER, e, 64)
                .tcp(ports.0, ports.1, seq, 64240)
        };
        if flags.contains('S') {
            b = b.syn();
        }
        if flags.contains('A') {
            b = b.ack(1);
        }
        if flags.contains('P') {
            b = b.psh();
        }
        let mut v = Vec::new();
        b.write(&mut v, payload).expect("frame");
        v
    }

    fn udp(&self, out: bool, ports: (u16, u16), payload: &[u8]) -> Vec<u8> {
        let (p, e) = (private(self.host), public(self.host));
        let b = if out {
            PacketBuilder::ethernet2(mac(self.host), GW)
                .ipv4(p, SERVER, 64)
                .udp(ports.0, ports.1)
        } else {
            PacketBuilder::ethernet2(ROUTER, GW)
                .ipv4(SERVER, e, 64)
                .udp(ports.0, ports.1)
        };
        let mut v = Vec::new();
        b.write(&mut v, payload).expect("frame");
        v
    }
}

/// The frames of call `k` of host `h`, in order.
fn call(h: u32, k: u32) -> Vec<Vec<u8>> {
    let c = Conv { host: h };
    let p = Ipv4Addr::from(private(h));
    let ctl = 20000 + (k % 20000) as u16;
    let data = 40000 + (k % 20000) as u16;
    let rtp = 10000 + 2 * (k % 5000) as u16;
    let mut f = vec![
        c.tcp(true, (ctl, 21), 1000, "S", b""),
        c.tcp(false, (21, ctl), 5000, "SA", b""),
        c.tcp(true, (ctl, 21), 1001, "A", b""),
        c.tcp(false, (21, ctl), 5001, "AP", b"220 ready\r\n"),
        c.tcp(true, (ctl, 21), 1001, "AP", b"USER anonymous\r\n"),
        c.tcp(false, (21, ctl), 5012, "AP", b"331 password please\r\n"),
    ];
    let o = p.octets();
    let port = format!(
        "PORT {},{},{},{},{},{}\r\n",
        o[0],
        o[1],
        o[2],
        o[3],
        data >> 8,
        data & 0xff
    );
    f.push(c.tcp(true, (ctl, 21), 1017, "AP", port.as_bytes()));
    f.push(c.tcp(false, (21, ctl), 5033, "AP", b"200 PORT ok\r\n"));
    f.push(c.tcp(
        true,
        (ctl, 21),
        1017 + port.len() as u32,
        "AP",
        b"RETR f\r\n",
    ));
    f.push(c.tcp(false, (21, ctl), 5046, "AP", b"150 opening\r\n"));
    // The server's data connection to the EIP and the port the PORT command named.
    f.push(c.tcp(false, (20, data), 9000, "S", b""));
    f.push(c.tcp(true, (data, 20), 3000, "SA", b""));
    // DNS: a query for a name and its answer (the answer's record names an address).
    let mut q = vec![(k >> 8) as u8, k as u8, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0];
    q.extend_from_slice(b"\x03www\x07example\x03net\x00\x00\x01\x00\x01");
    let mut a = q.clone();
    a[2] = 0x81;
    a[3] = 0x80;
    a[7] = 1;
    a.extend_from_slice(&[0xc0, 0x0c, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 93, 184, 216, 34]);
    f.push(c.udp(true, (30000 + (k % 30000) as u16, 53), &q));
    f.push(c.udp(false, (53, 30000 + (k % 30000) as u16), &a));
    // SIP: INVITE with SDP naming the private address, 200 OK with the server's SDP.
    let sdp = format!(
        "v=0\r\no=- {k} 1 IN IP4 {p}\r\ns=-\r\nc=IN IP4 {p}\r\nt=0 0\r\nm=audio {rtp} RTP/AVP 0\r\n"
    );
    let invite = format!(
        "INVITE sip:bob@example.net SIP/2.0\r\nVia: SIP/2.0/UDP {p}:5060;branch=z9hG4bK{h}x{k}\r\nFrom: <sip:h{h}@example.net>;tag={k}\r\nTo: <sip:bob@example.net>\r\nCall-ID: {h}-{k}@{p}\r\nCSeq: 1 INVITE\r\nContact: <sip:h{h}@{p}:5060>\r\nContent-Type: application/sdp\r\nContent-Length: {}\r\n\r\n{sdp}",
        sdp.len()
    );
    f.push(c.udp(true, (5060, 5060), invite.as_bytes()));
    let server_sdp = format!(
        "v=0\r\no=- {k} 1 IN IP4 {s}\r\ns=-\r\nc=IN IP4 {s}\r\nt=0 0\r\nm=audio 30000 RTP/AVP 0\r\n",
        s = Ipv4Addr::from(SERVER)
    );
    let ok = format!(
        "SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP {p}:5060;branch=z9hG4bK{h}x{k}\r\nFrom: <sip:h{h}@example.net>;tag={k}\r\nTo: <sip:bob@example.net>;tag=s{k}\r\nCall-ID: {h}-{k}@{p}\r\nCSeq: 1 INVITE\r\nContact: <sip:bob@{s}:5060>\r\nContent-Type: application/sdp\r\nContent-Length: {}\r\n\r\n{server_sdp}",
        server_sdp.len(),
        s = Ipv4Addr::from(SERVER)
    );
    f.push(c.udp(false, (5060, 5060), ok.as_bytes()));
    for n in 0..10u8 {
        let mut rtp_pkt = vec![0x80, 0, 0, n, 0, 0, 0, n, 0, 0, 0, 1];
        rtp_pkt.extend_from_slice(&[0xd5; 160]);
        f.push(c.udp(true, (rtp, 30000), &rtp_pkt));
        f.push(c.udp(false, (30000, rtp), &rtp_pkt));
    }
    f
}

fn main() -> std::io::Result<()> {
    let mut args = std::env::args().skip(1);
    let dir = args.next().unwrap_or_else(|| "alg".into());
    let calls: u32 = args.next().map_or(20_000, |s| s.parse().expect("CALLS"));
    let hosts: u32 = args.next().map_or(256, |s| s.parse().expect("HOSTS"));
    assert!(
        (1..=65_000).contains(&hosts),
        "HOSTS must be 1 to 65000 (addresses from one /16)"
    );
    std::fs::create_dir_all(&dir)?;
    let dir = std::path::Path::new(&dir);
    let mut t = String::from("region = \"eu-central-1\"\n\n[vpc]\ncidr = \"10.0.0.0/16\"\n\n");
    for i in 0..hosts {
        let m = mac(i);
        let _ = write!(
            t,
            "[[instance]]\nid = \"i-{i}\"\n\n[[eni]]\nid = \"eni-{i}\"\nkind = \"primary\"\nmac = \"{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}\"\nprimary_ip = \"{}\"\ninstance = \"i-{i}\"\n\n[[eip]]\nid = \"eip-{i}\"\naddress = \"{}\"\n\n[[association]]\neip = \"eip-{i}\"\neni = \"eni-{i}\"\nmode = \"NAT\"\n\n",
            m[0],
            m[1],
            m[2],
            m[3],
            m[4],
            m[5],
            Ipv4Addr::from(private(i)),
            Ipv4Addr::from(public(i)),
        );
    }
    std::fs::write(dir.join("topology.toml"), t)?;
    let f = std::fs::File::create(dir.join("alg.pcap"))?;
    let header = PcapHeader {
        endianness: pcap_file::Endianness::Little,
        ..PcapHeader::default()
    };
    let mut w = PcapWriter::with_header(BufWriter::new(f), header).expect("header");
    // Up to 64 calls at once, each advancing one frame when drawn; a finished call makes room
    // for the next, on a host drawn at random.
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut draw = move |n: u64| {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x % n
    };
    let mut open: Vec<(Vec<Vec<u8>>, usize)> = Vec::new();
    let (mut started, mut n) = (0u32, 0u64);
    while started < calls || !open.is_empty() {
        while open.len() < 64 && started < calls {
            let h = draw(u64::from(hosts)) as u32;
            open.push((call(h, started), 0));
            started += 1;
        }
        let i = draw(open.len() as u64) as usize;
        let (frames, next) = &mut open[i];
        let frame = &frames[*next];
        let ts = std::time::Duration::from_millis(1_700_000_000_000 + n);
        w.write_packet(&PcapPacket::new(ts, frame.len() as u32, frame))
            .expect("write");
        n += 1;
        *next += 1;
        if *next == frames.len() {
            open.swap_remove(i);
        }
    }
    Ok(())
}
