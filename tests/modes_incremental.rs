//! The mode advisor's variants built incrementally (the default) against whole rebuilds: the
//! same advice, cell for cell and note for note, on the demo, on the demo's capture under other
//! bindings, and on generated topologies and captures (secondary IPs, every mode, detached
//! ENIs, EcsInstance bindings, multi-EIP quotas and guest configuration, FTP and SIP control
//! channels announcing flows of other ENIs, fragments, hairpin and intra-VPC traffic, spoofed
//! sources, frames to unbound EIPs and to private addresses).

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use eipsim::advisor::modes::{self, Advice, ModesOptions, Strategy};
use eipsim::model::Cloud;
use etherparse::PacketBuilder;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn tempdir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("eipsim-modesinc-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// Runs both strategies and checks they agree; returns the advice.
fn same_advice(name: &str, topology: &Path, capture: &Path) -> Advice {
    let out = tempdir(&format!("{name}-out"));
    let opts = |sub: &str| ModesOptions {
        capture_point: Default::default(),
        topology: topology.to_path_buf(),
        inputs: vec![capture.to_path_buf()],
        out: out.join(sub),
        ingress: None,
    };
    let inc = modes::run_with(&opts("inc"), Strategy::Incremental).unwrap();
    let full = modes::run_with(&opts("full"), Strategy::FullRebuild).unwrap();
    let (a, b) = (
        serde_json::to_value(&inc.advice).unwrap(),
        serde_json::to_value(&full.advice).unwrap(),
    );
    if a != b {
        for (e, f) in inc.advice.enis.iter().zip(&full.advice.enis) {
            assert_eq!(
                serde_json::to_value(e).unwrap(),
                serde_json::to_value(f).unwrap(),
                "{name}: ENI {}",
                e.eni
            );
        }
        panic!("{name}: the advice differs");
    }
    // The terminal matrix says the same, but for the output directory.
    assert_eq!(
        inc.text
            .replace(&out.join("inc").display().to_string(), "OUT"),
        full.text
            .replace(&out.join("full").display().to_string(), "OUT"),
        "{name}"
    );
    inc.advice
}

/// Every cell's verdict, counted.
fn verdicts(a: &Advice) -> HashMap<&'static str, usize> {
    let mut m = HashMap::new();
    for e in &a.enis {
        for r in &e.flows {
            for c in r.modes.values() {
                *m.entry(c.verdict).or_default() += 1;
            }
        }
    }
    m
}

#[test]
fn the_demo_and_its_capture_under_other_bindings() {
    let topo = std::fs::read_to_string(root().join("pcaps/demo-topology.toml")).unwrap();
    let capture = root().join("pcaps/demo.pcap");
    let a = same_advice("demo", &root().join("pcaps/demo-topology.toml"), &capture);
    assert_eq!(a.enis.len(), 6);
    // The demo's bindings changed: the same capture meets other tables and other refusals.
    let web1_multi = topo
        .replace(
            "mode = \"NAT\"\nprivate_ip = \"172.16.0.21\"",
            "mode = \"MULTI_BINDED\"",
        )
        .replace(
            "mode = \"NAT\"\nprivate_ip = \"172.16.0.22\"",
            "mode = \"MULTI_BINDED\"",
        );
    let cut_nat = topo.replace(
        "eip = \"eip-cut\"\neni = \"eni-cut\"\nmode = \"BINDED\"",
        "eip = \"eip-cut\"\neni = \"eni-cut\"\nmode = \"NAT\"",
    );
    // Multi-EIP no longer authorised, and eni-multi down to one NAT EIP: every MULTI_BINDED
    // variant is refused by the account.
    let unauthorised = topo
        .replace(
            "multi_eip_authorized = true",
            "multi_eip_authorized = false",
        )
        .replace(
            "eip = \"eip-m1\"\neni = \"eni-multi\"\nmode = \"MULTI_BINDED\"",
            "eip = \"eip-m1\"\neni = \"eni-multi\"\nmode = \"NAT\"",
        )
        .replace(
            "[[association]]\neip = \"eip-m2\"\neni = \"eni-multi\"\nmode = \"MULTI_BINDED\"\n",
            "",
        );
    // A quota of one: a second multi-EIP is left unbound.
    let quota = topo
        .replace("multi_eip_quota = 10", "multi_eip_quota = 1")
        .replace(
            "[[association]]\neip = \"eip-m2\"\neni = \"eni-multi\"\nmode = \"MULTI_BINDED\"\n",
            "",
        );
    for (name, text) in [
        ("web1-multi", &web1_multi),
        ("cut-nat", &cut_nat),
        ("unauthorised", &unauthorised),
        ("quota", &quota),
    ] {
        assert_ne!(text, &topo, "{name}: the replacement applied");
        let dir = tempdir(name);
        let t = dir.join("t.toml");
        std::fs::write(&t, text).unwrap();
        Cloud::from_toml(text).unwrap_or_else(|e| panic!("{name}: {e}"));
        let a = same_advice(name, &t, &capture);
        assert!(!a.enis.is_empty(), "{name}");
        if name == "unauthorised" {
            let multi = a.enis.iter().find(|e| e.eni == "eni-multi").unwrap();
            let m = &multi.availability["MULTI_BINDED"];
            assert!(m.note.contains("multi-eip-not-authorized"), "{}", m.note);
        }
    }
}

/// A xorshift generator: the cases are the same on every run.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }
    fn pick<T: Copy>(&mut self, v: &[T]) -> T {
        v[self.below(v.len())]
    }
}

/// An ENI as the capture generator needs it.
struct GenEni {
    mac: [u8; 6],
    ips: Vec<[u8; 4]>,
    eips: Vec<[u8; 4]>,
}

fn dotted(a: [u8; 4]) -> String {
    std::net::Ipv4Addr::from(a).to_string()
}

/// A random valid topology: instances with a primary ENI and attached secondaries, detached
/// secondaries, EIPs bound in every mode (some through the instance, some left free).
fn topology(rng: &mut Rng) -> (String, Vec<GenEni>, Vec<[u8; 4]>) {
    let authorised = rng.chance(70);
    let quota = 2 + rng.below(2);
    let mut t = format!(
        "region = \"eu-central-1\"\n[account]\nmulti_eip_authorized = {authorised}\nmulti_eip_quota = {quota}\n[vpc]\ncidr = \"172.16.0.0/12\"\n"
    );
    let mut assoc = String::new();
    let mut eip_text = String::new();
    let mut enis = Vec::new();
    let mut all_eips = Vec::new();
    let mut next_eip = 1u8;
    let mut new_eip = |t: &mut String, all: &mut Vec<[u8; 4]>| {
        let a = [47, 0, 0, next_eip];
        t.push_str(&format!(
            "[[eip]]\nid = \"eip-{next_eip}\"\naddress = \"{}\"\n",
            dotted(a)
        ));
        next_eip += 1;
        all.push(a);
        (format!("eip-{}", next_eip - 1), a)
    };
    let instances = 3 + rng.below(2);
    let mut slots: Vec<(Option<usize>, bool)> = Vec::new(); // (instance, multi allowed)
    for i in 0..instances {
        let family = if rng.chance(75) { "ecs.g5" } else { "ecs.g6" };
        let dhcp = rng.chance(70);
        t.push_str(&format!(
            "[[instance]]\nid = \"i-{i}\"\nfamily = \"{family}\"\ndhcp = {dhcp}\n"
        ));
        for _ in 0..=rng.below(3) {
            slots.push((Some(i), family == "ecs.g5"));
        }
    }
    for _ in 0..1 + rng.below(2) {
        slots.push((None, true));
    }
    let mut primaries = vec![false; instances];
    for (n, (inst, multi_ok)) in slots.into_iter().enumerate() {
        let primary = inst.is_some_and(|i| !primaries[i]);
        if let Some(i) = inst {
            primaries[i] = true;
        }
        let base = [172, 16, (n / 8) as u8 + 1, (n % 8) as u8 * 16 + 4];
        let mut ips = vec![base];
        for k in 0..rng.below(3) {
            ips.push([base[0], base[1], base[2], base[3] + 1 + k as u8]);
        }
        let mac = [0x00, 0x16, 0x3e, 0x00, (n >> 8) as u8, n as u8];
        let id = format!("eni-{n}");
        t.push_str(&format!(
            "[[eni]]\nid = \"{id}\"\nkind = \"{}\"\nmac = \"{}\"\nprimary_ip = \"{}\"\n",
            if primary { "primary" } else { "secondary" },
            mac.iter()
                .map(|b| format!("{b:02x}"))
                .collect::<Vec<_>>()
                .join(":"),
            dotted(ips[0])
        ));
        if ips.len() > 1 {
            let list: Vec<String> = ips[1..]
                .iter()
                .map(|a| format!("\"{}\"", dotted(*a)))
                .collect();
            t.push_str(&format!("secondary_ips = [{}]\n", list.join(", ")));
        }
        if let Some(i) = inst {
            t.push_str(&format!("instance = \"i-{i}\"\n"));
        }
        let mut eips = Vec::new();
        let roll = rng.below(100);
        if primary {
            if roll < 50 {
                let (e, a) = new_eip(&mut eip_text, &mut all_eips);
                let ip = rng.pick(&ips);
                assoc.push_str(&format!(
                    "[[association]]\neip = \"{e}\"\neni = \"{id}\"\nmode = \"NAT\"\nprivate_ip = \"{}\"\n",
                    dotted(ip)
                ));
                eips.push(a);
            } else if roll < 70 {
                let (e, a) = new_eip(&mut eip_text, &mut all_eips);
                assoc.push_str(&format!(
                    "[[association]]\neip = \"{e}\"\ninstance = \"i-{}\"\ninstance_type = \"EcsInstance\"\n",
                    inst.unwrap()
                ));
                eips.push(a);
            }
        } else if roll < 35 {
            for ip in ips.iter().take(1 + rng.below(ips.len())) {
                let (e, a) = new_eip(&mut eip_text, &mut all_eips);
                assoc.push_str(&format!(
                    "[[association]]\neip = \"{e}\"\neni = \"{id}\"\nmode = \"NAT\"\nprivate_ip = \"{}\"\n",
                    dotted(*ip)
                ));
                eips.push(a);
            }
        } else if roll < 55 {
            let (e, a) = new_eip(&mut eip_text, &mut all_eips);
            assoc.push_str(&format!(
                "[[association]]\neip = \"{e}\"\neni = \"{id}\"\nmode = \"BINDED\"\n"
            ));
            eips.push(a);
        } else if roll < 85 && authorised && multi_ok {
            for _ in 0..1 + rng.below(quota) {
                let (e, a) = new_eip(&mut eip_text, &mut all_eips);
                assoc.push_str(&format!(
                    "[[association]]\neip = \"{e}\"\neni = \"{id}\"\nmode = \"MULTI_BINDED\"\n"
                ));
                eips.push(a);
            }
            if rng.chance(40) {
                t.push_str(&format!("static_eips = [\"{}\"]\n", dotted(eips[0])));
            }
        }
        enis.push(GenEni { mac, ips, eips });
    }
    for _ in 0..1 + rng.below(2) {
        new_eip(&mut eip_text, &mut all_eips);
    }
    t.push_str(&eip_text);
    t.push_str(&assoc);
    (t, enis, all_eips)
}

const GATEWAY: [u8; 6] = [0xee, 0xff, 0xff, 0xff, 0xff, 0xff];
const ROUTER: [u8; 6] = [0x02, 0, 0, 0, 0, 0x01];
const HOSTS: [[u8; 4]; 3] = [[198, 51, 100, 7], [203, 0, 113, 5], [192, 0, 2, 9]];

/// Builds the capture's frames.
struct Capture {
    frames: Vec<Vec<u8>>,
    /// Next TCP sequence number per (source, source port, destination, destination port).
    seq: HashMap<([u8; 4], u16, [u8; 4], u16), u32>,
    ip_id: u16,
}

impl Capture {
    fn udp(&mut self, mac: [u8; 6], src: [u8; 4], dst: [u8; 4], ports: (u16, u16), data: &[u8]) {
        let mut b = Vec::new();
        PacketBuilder::ethernet2(mac, GATEWAY)
            .ipv4(src, dst, 64)
            .udp(ports.0, ports.1)
            .write(&mut b, data)
            .unwrap();
        self.frames.push(b);
    }

    fn tcp(&mut self, mac: [u8; 6], src: [u8; 4], dst: [u8; 4], ports: (u16, u16), data: &[u8]) {
        let seq = self.seq.entry((src, ports.0, dst, ports.1)).or_insert(1000);
        let mut b = Vec::new();
        PacketBuilder::ethernet2(mac, GATEWAY)
            .ipv4(src, dst, 64)
            .tcp(ports.0, ports.1, *seq, 64240)
            .psh()
            .ack(1)
            .write(&mut b, data)
            .unwrap();
        *seq = seq.wrapping_add(data.len() as u32);
        self.frames.push(b);
    }

    fn ping(&mut self, mac: [u8; 6], src: [u8; 4], dst: [u8; 4], id: u16) {
        let mut b = Vec::new();
        PacketBuilder::ethernet2(mac, GATEWAY)
            .ipv4(src, dst, 64)
            .icmpv4_echo_request(id, 1)
            .write(&mut b, b"ping")
            .unwrap();
        self.frames.push(b);
    }

    /// A UDP datagram cut into two fragments.
    fn fragmented(&mut self, mac: [u8; 6], src: [u8; 4], dst: [u8; 4], ports: (u16, u16)) {
        let mut whole = Vec::new();
        PacketBuilder::ipv4(src, dst, 64)
            .udp(ports.0, ports.1)
            .write(&mut whole, &[7u8; 40])
            .unwrap();
        let seg = &whole[20..];
        self.ip_id += 1;
        for (at, end) in [(0, 24), (24, seg.len())] {
            let mut h = etherparse::Ipv4Header::new(
                (end - at) as u16,
                64,
                etherparse::IpNumber::UDP,
                src,
                dst,
            )
            .unwrap();
            h.identification = self.ip_id;
            h.more_fragments = end < seg.len();
            h.fragment_offset = etherparse::IpFragOffset::try_new((at / 8) as u16).unwrap();
            h.header_checksum = h.calc_header_checksum();
            let mut v = Vec::new();
            etherparse::Ethernet2Header {
                source: mac,
                destination: GATEWAY,
                ether_type: etherparse::EtherType::IPV4,
            }
            .write(&mut v)
            .unwrap();
            h.write(&mut v).unwrap();
            v.extend_from_slice(&seg[at..end]);
            self.frames.push(v);
        }
    }

    fn write(&self, path: &Path) {
        use pcap_file::pcap::{PcapHeader, PcapPacket, PcapWriter};
        let mut w = PcapWriter::with_header(
            std::fs::File::create(path).unwrap(),
            PcapHeader {
                datalink: pcap_file::DataLink::ETHERNET,
                ..Default::default()
            },
        )
        .unwrap();
        for (i, f) in self.frames.iter().enumerate() {
            w.write_packet(&PcapPacket::new(
                std::time::Duration::from_millis(i as u64),
                f.len() as u32,
                f,
            ))
            .unwrap();
        }
    }
}

fn comma(a: [u8; 4], port: u16) -> String {
    format!(
        "{},{},{},{},{},{}",
        a[0],
        a[1],
        a[2],
        a[3],
        port >> 8,
        port & 0xff
    )
}

/// An outbound conversation to answer: the ENI, its source, the host, the ports.
type Conversation = (usize, [u8; 4], [u8; 4], (u16, u16));

/// Random traffic of the ENIs: out, answers in, intra-VPC, hairpin, unbound EIPs, FTP and SIP
/// announcing flows (some of another ENI), fragments, spoofed sources.
fn traffic(rng: &mut Rng, enis: &[GenEni], all_eips: &[[u8; 4]]) -> Capture {
    let mut c = Capture {
        frames: Vec::new(),
        seq: HashMap::new(),
        ip_id: 0,
    };
    let mut convs: Vec<Conversation> = Vec::new();
    let addresses = |e: &GenEni| -> Vec<[u8; 4]> { e.ips.iter().chain(&e.eips).copied().collect() };
    for _ in 0..120 {
        let x = rng.below(enis.len());
        let e = &enis[x];
        let src = if rng.chance(6) {
            [172, 16, 250, 1] // spoofed
        } else {
            rng.pick(&addresses(e))
        };
        let host = rng.pick(&HOSTS);
        let sport = 40000 + rng.below(4) as u16;
        let dport = rng.pick(&[53u16, 443, 7000, 9000]);
        match rng.below(12) {
            0..=2 => {
                match rng.below(3) {
                    0 => c.udp(e.mac, src, host, (sport, dport), b"hello"),
                    1 => c.tcp(e.mac, src, host, (sport, 443), b"GET / HTTP/1.1\r\n\r\n"),
                    _ => c.ping(e.mac, src, host, sport),
                }
                convs.push((x, src, host, (sport, dport)));
            }
            3..=4 if !convs.is_empty() => {
                let (y, from, h, (sp, dp)) = rng.pick(&convs);
                let to = if rng.chance(80) {
                    enis[y].eips.first().copied().unwrap_or(from)
                } else {
                    from
                };
                c.udp(ROUTER, h, to, (dp, sp), b"answer");
            }
            5 => {
                let peer = &enis[rng.below(enis.len())];
                let dst = rng.pick(&peer.ips);
                c.udp(e.mac, src, dst, (sport, 5000), b"intra");
            }
            6 => {
                let dst = rng.pick(all_eips);
                c.udp(e.mac, src, dst, (sport, 6000), b"hairpin");
            }
            7 => {
                let dst = rng.pick(all_eips);
                c.udp(ROUTER, host, dst, (6000, sport), b"inbound");
            }
            8 => {
                // FTP: an active-mode PORT with the guest's address, a passive-mode 227, and
                // data connections, one of them from another ENI.
                let me = rng.pick(&e.ips);
                let port = 50000 + rng.below(1000) as u16;
                let server = [203, 0, 113, 5];
                c.tcp(
                    e.mac,
                    me,
                    server,
                    (port, 21),
                    format!("PORT {}\r\n", comma(me, port + 1)).as_bytes(),
                );
                let back = e.eips.first().copied().unwrap_or(me);
                let pasv = 30000 + rng.below(1000) as u16;
                c.tcp(
                    ROUTER,
                    server,
                    back,
                    (21, port),
                    format!("227 Entering Passive Mode ({})\r\n", comma(server, pasv)).as_bytes(),
                );
                c.tcp(ROUTER, server, back, (20, port + 1), b"data");
                c.tcp(e.mac, me, server, (port + 2, pasv), b"");
                let other = &enis[rng.below(enis.len())];
                c.tcp(other.mac, other.ips[0], server, (port + 3, pasv), b"x");
            }
            9 => {
                // SIP: the SDP names this ENI's address or another ENI's; RTP follows.
                let me = rng.pick(&e.ips);
                let other = &enis[rng.below(enis.len())];
                let (media_mac, media) = if rng.chance(50) {
                    (e.mac, me)
                } else {
                    (other.mac, other.ips[0])
                };
                let rtp = 20000 + 2 * rng.below(100) as u16;
                let sdp = format!(
                    "v=0\r\no=- 1 1 IN IP4 {m}\r\ns=-\r\nc=IN IP4 {m}\r\nt=0 0\r\nm=audio {rtp} RTP/AVP 0\r\n",
                    m = dotted(media)
                );
                let invite = format!(
                    "INVITE sip:bob@203.0.113.5 SIP/2.0\r\nVia: SIP/2.0/UDP {me}:5060\r\nFrom: <sip:a@{me}>\r\nTo: <sip:bob@203.0.113.5>\r\nCall-ID: {rtp}@{me}\r\nCSeq: 1 INVITE\r\nContact: <sip:a@{me}:5060>\r\nContent-Type: application/sdp\r\nContent-Length: {}\r\n\r\n{sdp}",
                    sdp.len(),
                    me = dotted(me)
                );
                c.udp(e.mac, me, [203, 0, 113, 5], (5060, 5060), invite.as_bytes());
                c.udp(media_mac, media, [203, 0, 113, 5], (rtp, 40000), b"rtp");
                c.udp(
                    ROUTER,
                    [203, 0, 113, 5],
                    rng.pick(all_eips),
                    (40000, rtp),
                    b"rtp",
                );
            }
            10 => {
                if rng.chance(50) {
                    c.fragmented(e.mac, src, host, (sport, 9000));
                } else {
                    c.fragmented(ROUTER, host, rng.pick(all_eips), (9000, sport));
                }
            }
            _ => {
                // Straight to a private address from the Internet, or from an unknown MAC.
                let peer = &enis[rng.below(enis.len())];
                c.udp(ROUTER, host, rng.pick(&peer.ips), (7000, sport), b"stray");
            }
        }
    }
    c
}

#[test]
fn generated_topologies_and_captures() {
    let mut totals: HashMap<&'static str, usize> = HashMap::new();
    let (mut available, mut refused) = (0, 0);
    for seed in 1..=8u64 {
        let mut rng = Rng(0x9E37_79B9_7F4A_7C15 ^ seed.wrapping_mul(0x2545_F491_4F6C_DD1D));
        let (text, enis, all_eips) = topology(&mut rng);
        Cloud::from_toml(&text).unwrap_or_else(|e| panic!("seed {seed}: {e}\n{text}"));
        let capture = traffic(&mut rng, &enis, &all_eips);
        let dir = tempdir(&format!("gen{seed}"));
        let (t, p) = (dir.join("t.toml"), dir.join("c.pcap"));
        std::fs::write(&t, &text).unwrap();
        capture.write(&p);
        let a = same_advice(&format!("gen{seed}"), &t, &p);
        assert!(
            a.enis.len() >= 3,
            "seed {seed}: {} ENIs with traffic",
            a.enis.len()
        );
        for (k, n) in verdicts(&a) {
            *totals.entry(k).or_default() += n;
        }
        for e in &a.enis {
            for av in e.availability.values() {
                if av.available {
                    available += 1;
                } else {
                    refused += 1;
                }
            }
        }
    }
    // The cases cover every kind of cell.
    for v in ["ok", "dropped", "n/a", "alg-broken"] {
        assert!(
            totals.get(v).is_some_and(|n| *n > 0),
            "no {v} cell: {totals:?}"
        );
    }
    assert!(available > 10 && refused > 5, "{available} {refused}");
}
