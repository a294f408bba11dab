//! What-if ALG translation (`--alg ftp=translate,sip=translate`), end to end through the
//! replay: the payloads leaving carry the EIP and never the private address, TCP sequence
//! numbers stay continuous across several `PORT` commands of different lengths, every
//! checksum is what a full recomputation gives, and the report says `translated`.
//! Frames are built with etherparse's `PacketBuilder`, independently of eipsim's code.

use std::path::Path;

use eipsim::replay::{self, ReplayOptions};
use etherparse::{PacketBuilder, SlicedPacket, TransportSlice};

const TOPOLOGY: &str = r#"
region = "eu-central-1"
[vpc]
cidr = "172.16.0.0/12"
[[instance]]
id = "i-1"
family = "ecs.g5"
[[eni]]
id = "eni-ftp"
kind = "primary"
mac = "00:16:3e:00:00:10"
primary_ip = "172.16.0.10"
instance = "i-1"
[[eip]]
id = "eip-1"
address = "47.0.0.10"
[[association]]
eip = "eip-1"
eni = "eni-ftp"
mode = "NAT"
"#;

const ENI_MAC: [u8; 6] = [0x00, 0x16, 0x3e, 0, 0, 0x10];
const GW_MAC: [u8; 6] = [0xee, 0xff, 0xff, 0xff, 0xff, 0xff];
const NET_MAC: [u8; 6] = [0x02, 0, 0, 0, 0, 1];
const CLIENT: [u8; 4] = [172, 16, 0, 10];
const EIP: [u8; 4] = [47, 0, 0, 10];
const SERVER: [u8; 4] = [198, 51, 100, 7];
const CPORT: u16 = 40000;

/// A client -> server segment (from the ENI) or a server -> client one (from the Internet, to
/// the EIP).
fn segment(outbound: bool, seq: u32, ack: u32, payload: &[u8]) -> Vec<u8> {
    let b = if outbound {
        PacketBuilder::ethernet2(ENI_MAC, GW_MAC)
            .ipv4(CLIENT, SERVER, 64)
            .tcp(CPORT, 21, seq, 65535)
    } else {
        PacketBuilder::ethernet2(NET_MAC, GW_MAC)
            .ipv4(SERVER, EIP, 64)
            .tcp(21, CPORT, seq, 65535)
    };
    let b = b.ack(ack).psh();
    let mut out = Vec::new();
    b.write(&mut out, payload).unwrap();
    out
}

fn write_pcap(path: &Path, frames: &[Vec<u8>]) {
    use pcap_file::pcap::{PcapHeader, PcapPacket, PcapWriter};
    let f = std::fs::File::create(path).unwrap();
    let mut w = PcapWriter::with_header(
        f,
        PcapHeader {
            datalink: pcap_file::DataLink::ETHERNET,
            ..Default::default()
        },
    )
    .unwrap();
    for (i, d) in frames.iter().enumerate() {
        let ts = std::time::Duration::from_millis(i as u64);
        w.write_packet(&PcapPacket::new(ts, d.len() as u32, d))
            .unwrap();
    }
}

fn read_pcap(path: &Path) -> Vec<Vec<u8>> {
    let f = std::fs::File::open(path).unwrap();
    let mut r = pcap_file::pcap::PcapReader::new(f).unwrap();
    let mut v = Vec::new();
    while let Some(p) = r.next_packet() {
        let p = p.unwrap();
        assert_eq!(
            p.orig_len as usize,
            p.data.len(),
            "orig_len follows the new length"
        );
        v.push(p.data.into_owned());
    }
    v
}

/// (seq, ack, payload) of a frame, after checking its IPv4 and TCP checksums in full.
fn tcp_fields(frame: &[u8]) -> (u32, u32, Vec<u8>) {
    let s = SlicedPacket::from_ethernet(frame).unwrap();
    let Some(etherparse::NetSlice::Ipv4(ip)) = &s.net else {
        panic!("not IPv4")
    };
    let h = ip.header();
    assert_eq!(
        h.header_checksum(),
        h.to_header().calc_header_checksum(),
        "IPv4 checksum"
    );
    assert_eq!(usize::from(h.total_len()), frame.len() - 14);
    let Some(TransportSlice::Tcp(t)) = &s.transport else {
        panic!("not TCP")
    };
    let want = t
        .to_header()
        .calc_checksum_ipv4(&h.to_header(), t.payload())
        .unwrap();
    assert_eq!(t.checksum(), want, "TCP checksum");
    (
        t.sequence_number(),
        t.acknowledgment_number(),
        t.payload().to_vec(),
    )
}

fn run(dir: &Path, frames: &[Vec<u8>], spec: Option<&str>) -> serde_json::Value {
    std::fs::create_dir_all(dir).unwrap();
    let topo = dir.join("topology.toml");
    std::fs::write(&topo, TOPOLOGY).unwrap();
    let cap = dir.join("in.pcap");
    write_pcap(&cap, frames);
    let out = dir.join("out");
    let opts = ReplayOptions {
        capture_point: Default::default(),
        respond: false,
        topology: topo,
        out: out.clone(),
        ingress: None,
        workers: 1,
        inputs: vec![cap],
        progress: false,
        trace: None,
        max_open_files: None,
        alg: true,
        alg_spec: spec.map(str::to_string),
        events: None,
    };
    let o = replay::run(&opts).unwrap();
    assert!(o.capture_error.is_none());
    serde_json::from_str(&std::fs::read_to_string(out.join("report.json")).unwrap()).unwrap()
}

/// Three PORT commands whose translated lengths differ from the originals by different
/// amounts (the EIP's octets are shorter; a port of 1, 2 or 3 digits), with the server's
/// replies acknowledging each.
fn ftp_session() -> (Vec<Vec<u8>>, Vec<Vec<u8>>) {
    let cmds: [&[u8]; 5] = [
        b"USER anonymous\r\n",
        b"PORT 172,16,0,10,4,1\r\n",
        b"PORT 172,16,0,10,156,64\r\nLIST\r\n",
        b"NOOP\r\n",
        b"EPRT |1|172.16.0.10|40001|\r\n",
    ];
    let mut frames = Vec::new();
    let mut client_payloads = Vec::new();
    let (mut cseq, mut sseq) = (1000u32, 7000u32);
    for c in cmds {
        frames.push(segment(true, cseq, sseq, c));
        client_payloads.push(c.to_vec());
        cseq = cseq.wrapping_add(c.len() as u32);
        let reply = b"200 ok\r\n";
        frames.push(segment(false, sseq, cseq, reply));
        sseq += reply.len() as u32;
    }
    // A pure ACK from the client at the end.
    frames.push(segment(true, cseq, sseq, b""));
    client_payloads.push(Vec::new());
    (frames, client_payloads)
}

#[test]
fn ftp_translation_keeps_seq_and_ack_continuous() {
    let dir = std::env::temp_dir().join(format!("eipsim-translate-ftp-{}", std::process::id()));
    let (frames, originals) = ftp_session();
    let report = run(&dir, &frames, Some("ftp=translate"));
    let out = dir.join("out");
    let sent = read_pcap(&out.join("internet.pcap"));
    let delivered = read_pcap(&out.join("eni-ftp.pcap"));
    assert_eq!(sent.len(), originals.len());
    // A translated frame may outgrow the input's snap length: the output's is raised.
    let f = std::fs::File::open(out.join("internet.pcap")).unwrap();
    let header = pcap_file::pcap::PcapReader::new(f).unwrap().header();
    assert!(header.snaplen >= 262_144, "{}", header.snaplen);
    assert_eq!(delivered.len(), 5);

    // Outbound: the EIP everywhere the private address was, and a continuous byte stream.
    let mut expect_seq = 1000u32;
    let mut shift = 0i64; // translated minus original bytes so far
    let mut ends = Vec::new(); // (original end, translated end) per client segment
    for (frame, orig) in sent.iter().zip(&originals) {
        let (seq, _, payload) = tcp_fields(frame);
        let text = String::from_utf8(payload.clone()).unwrap();
        assert!(
            !text.contains("172,16,0,10") && !text.contains("172.16.0.10"),
            "{text}"
        );
        if text.starts_with("PORT") {
            assert!(text.contains("47,0,0,10,"), "{text}");
        }
        if text.starts_with("EPRT") {
            assert_eq!(text, "EPRT |1|47.0.0.10|40001|\r\n");
        }
        assert_eq!(seq, expect_seq, "outbound sequence continuous");
        expect_seq = seq.wrapping_add(payload.len() as u32);
        shift += payload.len() as i64 - orig.len() as i64;
        ends.push((expect_seq as i64 - shift, expect_seq as i64));
    }
    assert_eq!(
        shift,
        3 * (("47,0,0,10".len() as i64) - ("172,16,0,10".len() as i64)),
        "three addresses shortened"
    );
    // The translated text is exactly the original with the address replaced.
    let (_, _, second) = tcp_fields(&sent[2]);
    assert_eq!(second, b"PORT 47,0,0,10,156,64\r\nLIST\r\n");

    // Inbound: the client is acknowledged exactly its own (original) bytes; the what-if server
    // acknowledged the translated stream, which maps to the same values.
    for (k, frame) in delivered.iter().enumerate() {
        let (_, ack, _) = tcp_fields(frame);
        let (orig_end, translated_end) = ends[k];
        assert_eq!(i64::from(ack), orig_end, "ack of client segment {k}");
        assert_eq!(
            translated_end - (ends[k].1 - ends[k].0),
            orig_end,
            "the translated stream maps back"
        );
    }

    // The report: the control flow is translated, with its three rewritten addresses.
    let flow = report["flows"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["alg_protocol"] == "ftp")
        .unwrap();
    assert_eq!(flow["verdict"], "translated");
    let kinds: Vec<(&str, &str)> = flow["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["kind"].as_str().unwrap(),
                f["field"].as_str().unwrap_or(""),
            )
        })
        .collect();
    assert_eq!(
        kinds.iter().filter(|k| k.0 == "translated").count(),
        2,
        "PORT (repeated) and EPRT: {kinds:?}"
    );
    assert!(!kinds.iter().any(|k| k.0 == "embedded-address"));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn without_translation_the_same_session_is_alg_broken() {
    let dir = std::env::temp_dir().join(format!("eipsim-translate-off-{}", std::process::id()));
    let (frames, originals) = ftp_session();
    let report = run(&dir, &frames, None);
    let sent = read_pcap(&dir.join("out/internet.pcap"));
    for (frame, orig) in sent.iter().zip(&originals) {
        assert_eq!(tcp_fields(frame).2, *orig);
    }
    let flow = report["flows"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["alg_protocol"] == "ftp")
        .unwrap();
    assert_eq!(flow["verdict"], "alg-broken");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn sip_translation_over_udp() {
    let dir = std::env::temp_dir().join(format!("eipsim-translate-sip-{}", std::process::id()));
    let invite = b"INVITE sip:bob@198.51.100.7 SIP/2.0\r\nVia: SIP/2.0/UDP 172.16.0.10:5060;branch=z9hG4bK1\r\nFrom: <sip:alice@172.16.0.10>;tag=1\r\nTo: <sip:bob@198.51.100.7>\r\nContact: <sip:alice@172.16.0.10:5060>\r\nContent-Type: application/sdp\r\nContent-Length: 94\r\n\r\nv=0\r\no=- 1 1 IN IP4 172.16.0.10\r\nc=IN IP4 172.16.0.10\r\nm=audio 30000 RTP/AVP 0\r\na=rtcp:30001\r\n";
    // The answer comes back to the EIP and names it in Via/To: delivered, it must name the
    // private address the phone knows.
    let ok = b"SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP 47.0.0.10:5060;branch=z9hG4bK1\r\nTo: <sip:alice@47.0.0.10>;tag=2\r\nContent-Length: 0\r\n\r\n";
    let mut frames = Vec::new();
    let mut b = Vec::new();
    PacketBuilder::ethernet2(ENI_MAC, GW_MAC)
        .ipv4(CLIENT, SERVER, 64)
        .udp(5060, 5060)
        .write(&mut b, invite)
        .unwrap();
    frames.push(b);
    let mut b = Vec::new();
    PacketBuilder::ethernet2(NET_MAC, GW_MAC)
        .ipv4(SERVER, EIP, 64)
        .udp(5060, 5060)
        .write(&mut b, ok)
        .unwrap();
    frames.push(b);
    let report = run(&dir, &frames, Some("sip=translate"));
    let sent = read_pcap(&dir.join("out/internet.pcap"));
    let delivered = read_pcap(&dir.join("out/eni-ftp.pcap"));
    let udp = |f: &[u8]| {
        let s = SlicedPacket::from_ethernet(f).unwrap();
        let Some(etherparse::NetSlice::Ipv4(ip)) = &s.net else {
            panic!()
        };
        let Some(TransportSlice::Udp(u)) = &s.transport else {
            panic!()
        };
        let h = ip.header().to_header();
        assert_eq!(ip.header().header_checksum(), h.calc_header_checksum());
        assert_eq!(usize::from(u.length()), f.len() - 14 - 20);
        let want = u.to_header().calc_checksum_ipv4(&h, u.payload()).unwrap();
        assert_eq!(u.checksum(), want, "UDP checksum");
        String::from_utf8(u.payload().to_vec()).unwrap()
    };
    let out = udp(&sent[0]);
    assert!(!out.contains("172.16.0.10"), "{out}");
    assert!(out.contains("c=IN IP4 47.0.0.10\r\n"));
    assert!(out.contains("Content-Length: 90\r\n"), "{out}");
    let back = udp(&delivered[0]);
    assert!(back.contains("Via: SIP/2.0/UDP 172.16.0.10:5060"), "{back}");
    assert!(!back.contains("47.0.0.10"));
    let flow = &report["flows"][0];
    assert_eq!(flow["verdict"], "translated");
    let _ = std::fs::remove_dir_all(&dir);
}

/// The mode advisor's guest: in cut-through or multi-EIP mode the guest writes its own EIP in
/// the PORT command; its stream shrinks, so its later segments and the server's
/// acknowledgements move with it.
#[test]
fn guest_rewrite_moves_seq_and_the_peers_acks() {
    use eipsim::alg::translate::{Policy, Translator};
    use eipsim::dataplane::{Action, Outcome, Port, Tuple, Verdict};
    use eipsim::wire::LinkType;
    let client = u32::from_be_bytes(CLIENT);
    let server = u32::from_be_bytes(SERVER);
    let eip = u32::from_be_bytes(EIP);
    let out_v = Verdict {
        outcome: Outcome::Forward(Port::Internet, Action::Snat),
        ingress: Some(Port::Eni(0)),
        tuple: Tuple {
            proto: 6,
            src: client,
            dst: server,
            sport: CPORT,
            dport: 21,
        },
        inside_dst: server,
        eni: Some(0),
        mode: None,
        eip: Some(eip),
        fragment: Default::default(),
        layout: Default::default(),
    };
    let in_v = Verdict {
        outcome: Outcome::Forward(Port::Eni(0), Action::Dnat),
        ingress: Some(Port::Internet),
        tuple: Tuple {
            proto: 6,
            src: server,
            dst: eip,
            sport: 21,
            dport: CPORT,
        },
        inside_dst: client,
        ..out_v
    };
    let mut tr = Translator::new(Policy {
        ftp: true,
        sip: true,
    });
    let sent = Some((CLIENT.into(), EIP.into()));
    let mut o = Vec::new();
    let port = b"PORT 172,16,0,10,4,1\r\n";
    assert!(tr.guest_rewrite(
        LinkType::Ethernet,
        &segment(true, 1000, 7000, port),
        &out_v,
        sent,
        &mut o
    ));
    let (seq, _, payload) = tcp_fields(&o);
    assert_eq!(
        (seq, payload.as_slice()),
        (1000, &b"PORT 47,0,0,10,4,1\r\n"[..])
    );
    assert_eq!(&o[14 + 12..14 + 16], &EIP, "the guest sends from its EIP");
    let shrink = (port.len() - payload.len()) as u32;
    // The server acknowledges the (shorter) stream it received.
    assert!(tr.guest_rewrite(
        LinkType::Ethernet,
        &segment(false, 7000, 1000 + port.len() as u32, b"200 ok\r\n"),
        &in_v,
        None,
        &mut o
    ));
    let (_, ack, _) = tcp_fields(&o);
    assert_eq!(ack, 1000 + port.len() as u32 - shrink);
    // The guest's next segment follows the shorter one.
    assert!(tr.guest_rewrite(
        LinkType::Ethernet,
        &segment(true, 1000 + port.len() as u32, 7008, b"LIST\r\n"),
        &out_v,
        sent,
        &mut o
    ));
    let (seq, _, _) = tcp_fields(&o);
    assert_eq!(seq, 1000 + port.len() as u32 - shrink);
}

/// Found in review: a covered flow where nothing needed rewriting was reported `translated`.
#[test]
fn nothing_rewritten_is_not_translated() {
    let dir = std::env::temp_dir().join(format!("eipsim-translate-none-{}", std::process::id()));
    let options = b"OPTIONS sip:bob@198.51.100.7 SIP/2.0\r\nVia: SIP/2.0/UDP 47.0.0.10:5060\r\nContent-Length: 0\r\n\r\n";
    let mut b = Vec::new();
    PacketBuilder::ethernet2(ENI_MAC, GW_MAC)
        .ipv4(CLIENT, SERVER, 64)
        .udp(5060, 5060)
        .write(&mut b, options)
        .unwrap();
    let report = run(&dir, &[b], Some("sip=translate"));
    let flow = &report["flows"][0];
    assert_eq!(flow["alg_protocol"], "sip");
    assert_eq!(flow["verdict"], "alg-at-risk", "{flow:#}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// `eipsim live`: the server is a real host that received the shortened stream, so its
/// acknowledgements are mapped back to the client's numbers on the way in (as
/// `nf_nat_seqadj` does); a replay keeps the captured acknowledgements.
#[test]
fn live_peers_acknowledgements_are_mapped_back() {
    use eipsim::alg::translate::{Policy, Translation, Translator};
    use eipsim::dataplane::{Action, Outcome, Port, Tuple, Verdict};
    use eipsim::wire::LinkType;
    let (client, server, eip) = (
        u32::from_be_bytes(CLIENT),
        u32::from_be_bytes(SERVER),
        u32::from_be_bytes(EIP),
    );
    let out_v = Verdict {
        outcome: Outcome::Forward(Port::Internet, Action::Snat),
        ingress: Some(Port::Eni(0)),
        tuple: Tuple {
            proto: 6,
            src: client,
            dst: server,
            sport: CPORT,
            dport: 21,
        },
        inside_dst: server,
        eni: Some(0),
        mode: None,
        eip: Some(eip),
        fragment: Default::default(),
        layout: Default::default(),
    };
    let in_v = Verdict {
        outcome: Outcome::Forward(Port::Eni(0), Action::Dnat),
        ingress: Some(Port::Internet),
        tuple: Tuple {
            proto: 6,
            src: server,
            dst: eip,
            sport: 21,
            dport: CPORT,
        },
        inside_dst: client,
        ..out_v
    };
    // The frames as the core left them: SNAT (source the EIP), DNAT (destination the client).
    let frame = |outbound: bool, seq: u32, ack: u32, payload: &[u8]| {
        let b = if outbound {
            PacketBuilder::ethernet2(GW_MAC, NET_MAC)
                .ipv4(EIP, SERVER, 63)
                .tcp(CPORT, 21, seq, 65535)
        } else {
            PacketBuilder::ethernet2(GW_MAC, ENI_MAC)
                .ipv4(SERVER, CLIENT, 63)
                .tcp(21, CPORT, seq, 65535)
        };
        let mut out = Vec::new();
        b.ack(ack).psh().write(&mut out, payload).unwrap();
        out
    };
    let port = b"PORT 172,16,0,10,4,1\r\n";
    let sent = b"PORT 47,0,0,10,4,1\r\n";
    let shrink = (port.len() - sent.len()) as u32;
    let reply = frame(false, 7000, 1000 + sent.len() as u32, b"200 ok\r\n");
    for live in [true, false] {
        let mut tr = Translator::new(Policy {
            ftp: true,
            sip: false,
        });
        if live {
            tr.peers_see_translation();
        }
        let mut o = Vec::new();
        let t = tr.apply(
            LinkType::Ethernet,
            &frame(true, 1000, 7000, port),
            &out_v,
            &mut o,
        );
        assert!(matches!(
            t,
            Translation::Covered {
                rewritten: true,
                ..
            }
        ));
        assert_eq!(tcp_fields(&o), (1000, 7000, sent.to_vec()));
        let t = tr.apply(LinkType::Ethernet, &reply, &in_v, &mut o);
        if live {
            assert!(matches!(
                t,
                Translation::Covered {
                    rewritten: true,
                    ..
                }
            ));
            let (seq, ack, payload) = tcp_fields(&o);
            assert_eq!((seq, payload.as_slice()), (7000, &b"200 ok\r\n"[..]));
            assert_eq!(ack, 1000 + port.len() as u32, "the client's own number");
        } else {
            assert!(
                matches!(
                    t,
                    Translation::Covered {
                        rewritten: false,
                        ..
                    }
                ),
                "a replay keeps the captured acknowledgement"
            );
        }
        // The client's next segment follows its own PORT; it leaves shifted.
        let next = frame(true, 1000 + port.len() as u32, 7008, b"LIST\r\n");
        tr.apply(LinkType::Ethernet, &next, &out_v, &mut o);
        assert_eq!(tcp_fields(&o).0, 1000 + port.len() as u32 - shrink);
    }
}
