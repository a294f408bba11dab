//! The per-flow state of a replay lives in fixed shards, whatever `--workers` says: the outputs
//! (every capture, `dropped.pcapng`, `report.json`, the trace) are byte-identical for 1, 2 and
//! 4 workers, on the demo, on a failover with timed events, and on a generated capture with
//! many hosts, FTP and SIP control channels, their related flows, what-if translation and IP
//! fragments (the stateful stages all at work across shards).

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

use etherparse::PacketBuilder;
use pcap_file::pcap::{PcapHeader, PcapPacket, PcapWriter};

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn tempdir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("eipsim-workers-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// Runs `eipsim replay` with `workers` and the extra arguments; returns the outputs by name.
fn replay(out: &Path, workers: usize, args: &[&str]) -> Vec<(String, Vec<u8>)> {
    let _ = std::fs::remove_dir_all(out);
    let trace = out.with_extension("tsv");
    let st = Command::new(env!("CARGO_BIN_EXE_eipsim"))
        .args(["replay", "--no-progress", "--workers", &workers.to_string()])
        .arg("--out")
        .arg(out)
        .arg("--trace")
        .arg(&trace)
        .args(args)
        .output()
        .unwrap();
    assert!(
        st.status.success(),
        "{}",
        String::from_utf8_lossy(&st.stderr)
    );
    let mut files: Vec<(String, Vec<u8>)> = std::fs::read_dir(out)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| !p.file_name().unwrap().to_string_lossy().starts_with('.'))
        .map(|p| {
            (
                p.file_name().unwrap().to_string_lossy().into_owned(),
                std::fs::read(&p).unwrap(),
            )
        })
        .collect();
    files.push(("trace".into(), std::fs::read(&trace).unwrap()));
    files.sort();
    files
}

fn same_for_any_workers(name: &str, args: &[&str]) -> Vec<(String, Vec<u8>)> {
    let dir = tempdir(name);
    let one = replay(&dir.join("w1"), 1, args);
    for w in [2, 4] {
        let other = replay(&dir.join(format!("w{w}")), w, args);
        let names = |f: &[(String, Vec<u8>)]| f.iter().map(|x| x.0.clone()).collect::<Vec<_>>();
        assert_eq!(names(&one), names(&other), "{name}: files with {w} workers");
        for (a, b) in one.iter().zip(&other) {
            assert!(a.1 == b.1, "{name}: {} differs with {w} workers", a.0);
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
    one
}

fn report(files: &[(String, Vec<u8>)]) -> serde_json::Value {
    let r = &files.iter().find(|f| f.0 == "report.json").unwrap().1;
    serde_json::from_slice(r).unwrap()
}

#[test]
fn demo_outputs_do_not_depend_on_workers() {
    let t = root().join("pcaps/demo-topology.toml");
    let c = root().join("pcaps/demo.pcap");
    for alg in [None, Some("ftp=translate,sip=translate")] {
        let mut args = vec!["--topology", t.to_str().unwrap()];
        if let Some(a) = alg {
            args.extend(["--alg", a]);
        }
        args.push(c.to_str().unwrap());
        let files = same_for_any_workers("demo", &args);
        let r = report(&files);
        assert!(r["flows"].as_array().unwrap().len() > 5);
    }
}

#[test]
fn failover_with_events_does_not_depend_on_workers() {
    let t = root().join("pcaps/failover-topology.toml");
    let e = root().join("pcaps/failover-events.toml");
    let c = root().join("pcaps/failover.pcap");
    let files = same_for_any_workers(
        "failover",
        &[
            "--topology",
            t.to_str().unwrap(),
            "--events",
            e.to_str().unwrap(),
            c.to_str().unwrap(),
        ],
    );
    assert!(
        report(&files)["timeline"]
            .as_array()
            .is_some_and(|t| !t.is_empty())
    );
}

/// A NAT topology of `hosts` primary ENIs (10.0.x.y, EIP 47.0.x.y) and a capture where each
/// host runs an active-FTP control channel (PORT with its private address), the data
/// connection back to its EIP, a SIP INVITE whose SDP names its private address and the RTP
/// back, plain UDP, and a fragmented datagram; conversations interleaved.
fn mixed(dir: &Path, hosts: u32) -> (PathBuf, PathBuf) {
    let private = |i: u32| [10, 0, (i >> 7) as u8, (i & 0x7f) as u8 + 1];
    let public = |i: u32| [47, 0, (i >> 7) as u8, (i & 0x7f) as u8 + 1];
    let mac = |i: u32| [0x02, 0x16, 0, 0, (i >> 8) as u8, i as u8];
    let gw = [0x02, 0, 0, 0, 0, 1];
    let server = [198, 51, 100, 7];
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
            std::net::Ipv4Addr::from(private(i)),
            std::net::Ipv4Addr::from(public(i)),
        );
    }
    let topo = dir.join("topology.toml");
    std::fs::write(&topo, t).unwrap();
    let mut frames: Vec<Vec<u8>> = Vec::new();
    let tcp = |src: [u8; 6],
               dst: [u8; 6],
               a: ([u8; 4], u16),
               b: ([u8; 4], u16),
               seq: u32,
               flags: &str,
               payload: &[u8]| {
        let mut p = PacketBuilder::ethernet2(src, dst)
            .ipv4(a.0, b.0, 64)
            .tcp(a.1, b.1, seq, 64240);
        if flags.contains('S') {
            p = p.syn();
        }
        if flags.contains('A') {
            p = p.ack(1);
        }
        if flags.contains('P') {
            p = p.psh();
        }
        let mut v = Vec::new();
        p.write(&mut v, payload).unwrap();
        v
    };
    let udp = |src: [u8; 6], dst: [u8; 6], a: ([u8; 4], u16), b: ([u8; 4], u16), payload: &[u8]| {
        let mut v = Vec::new();
        PacketBuilder::ethernet2(src, dst)
            .ipv4(a.0, b.0, 64)
            .udp(a.1, b.1)
            .write(&mut v, payload)
            .unwrap();
        v
    };
    let mut per_host: Vec<Vec<Vec<u8>>> = Vec::new();
    for i in 0..hosts {
        let (p, e, m) = (private(i), public(i), mac(i));
        let cport = 40000 + i as u16;
        let dport = 50000 + i as u16;
        let mut f = Vec::new();
        f.push(tcp(m, gw, (p, cport), (server, 21), 1000, "S", b""));
        f.push(tcp(gw, m, (server, 21), (e, cport), 5000, "SA", b""));
        let port_cmd = format!(
            "PORT {},{},{},{},{},{}\r\n",
            p[0],
            p[1],
            p[2],
            p[3],
            dport >> 8,
            dport & 0xff
        );
        f.push(tcp(
            m,
            gw,
            (p, cport),
            (server, 21),
            1001,
            "AP",
            port_cmd.as_bytes(),
        ));
        f.push(tcp(
            gw,
            m,
            (server, 21),
            (e, cport),
            5001,
            "AP",
            b"200 PORT command successful\r\n",
        ));
        // The server connects to the address the PORT command gave: the private one, from
        // the Internet (dropped), and some servers use the control connection's peer (the EIP).
        f.push(tcp(gw, m, (server, 20), (p, dport), 7000, "S", b""));
        f.push(tcp(gw, m, (server, 20), (e, dport), 7000, "S", b""));
        let sdp = format!(
            "v=0\r\no=- 1 1 IN IP4 {ip}\r\ns=-\r\nc=IN IP4 {ip}\r\nt=0 0\r\nm=audio {rtp} RTP/AVP 0\r\n",
            ip = std::net::Ipv4Addr::from(p),
            rtp = 20000 + 2 * i as u16
        );
        let invite = format!(
            "INVITE sip:bob@example.net SIP/2.0\r\nVia: SIP/2.0/UDP {ip}:5060;branch=z9hG4bK{i}\r\nFrom: <sip:a{i}@example.net>;tag={i}\r\nTo: <sip:bob@example.net>\r\nCall-ID: {i}@{ip}\r\nCSeq: 1 INVITE\r\nContact: <sip:a{i}@{ip}:5060>\r\nContent-Type: application/sdp\r\nContent-Length: {}\r\n\r\n{sdp}",
            sdp.len(),
            ip = std::net::Ipv4Addr::from(p),
        );
        f.push(udp(m, gw, (p, 5060), (server, 5060), invite.as_bytes()));
        f.push(udp(
            gw,
            m,
            (server, 30000),
            (e, 20000 + 2 * i as u16),
            &[0x80; 40],
        ));
        f.push(udp(
            m,
            gw,
            (p, 3000 + i as u16),
            ([8, 8, 8, 8], 9999),
            b"plain",
        ));
        // A datagram in two fragments.
        let mut big = udp(m, gw, (p, 4000), (server, 4001), &[7u8; 64]);
        let ip = 14;
        let second: Vec<u8> = {
            let mut s = big[..ip + 20].to_vec();
            s.extend_from_slice(&big[ip + 20 + 40..]);
            s
        };
        big.truncate(ip + 20 + 40);
        let fix = |fr: &mut Vec<u8>, off: u16, mf: bool| {
            let len = (fr.len() - ip) as u16;
            fr[ip + 2..ip + 4].copy_from_slice(&len.to_be_bytes());
            fr[ip + 4..ip + 6].copy_from_slice(&(0x1234 + i as u16).to_be_bytes());
            let fo = (off / 8) | if mf { 0x2000 } else { 0 };
            fr[ip + 6..ip + 8].copy_from_slice(&fo.to_be_bytes());
            fr[ip + 10..ip + 12].copy_from_slice(&[0, 0]);
            let c = etherparse::Ipv4HeaderSlice::from_slice(&fr[ip..])
                .unwrap()
                .to_header()
                .calc_header_checksum();
            fr[ip + 10..ip + 12].copy_from_slice(&c.to_be_bytes());
        };
        let mut second = second;
        fix(&mut big, 0, true);
        fix(&mut second, 40, false);
        f.push(big);
        f.push(second);
        per_host.push(f);
    }
    // Interleave: round-robin over hosts, so each flow spans many batches.
    let longest = per_host.iter().map(Vec::len).max().unwrap_or(0);
    for k in 0..longest {
        for h in &per_host {
            if let Some(f) = h.get(k) {
                frames.push(f.clone());
            }
        }
    }
    let cap = dir.join("mixed.pcap");
    let mut w =
        PcapWriter::with_header(std::fs::File::create(&cap).unwrap(), PcapHeader::default())
            .unwrap();
    for (n, f) in frames.iter().enumerate() {
        w.write_packet(&PcapPacket::new(
            std::time::Duration::from_millis(1_700_000_000_000 + n as u64),
            f.len() as u32,
            f,
        ))
        .unwrap();
    }
    (topo, cap)
}

#[test]
fn a_mixed_alg_capture_does_not_depend_on_workers() {
    let dir = tempdir("mixed-input");
    // 300 hosts x 11 frames: more than one batch per conversation step, every shard used.
    let (topo, cap) = mixed(&dir, 300);
    let t = topo.to_str().unwrap();
    let c = cap.to_str().unwrap();
    let plain = same_for_any_workers("mixed", &["--topology", t, c]);
    let r = report(&plain);
    let flows = r["flows"].as_array().unwrap();
    let broken = flows
        .iter()
        .filter(|f| f["verdict"] == "alg-broken")
        .count();
    // Each host's FTP control channel and SIP call are broken by NAT mode (the payload
    // carries the private address): found in every shard, whatever the worker.
    assert_eq!(broken, 600, "alg-broken flows");
    let related = flows
        .iter()
        .filter(|f| f.get("related_to").is_some())
        .count();
    assert!(related >= 600, "related flows {related}");
    // Later fragments join their first fragment's flow: one UDP flow per host on port 4001.
    let frag_flows = flows
        .iter()
        .filter(|f| f["ports"][1] == 4001)
        .map(|f| f["frames"].as_u64().unwrap())
        .collect::<Vec<_>>();
    assert_eq!(frag_flows.len(), 300);
    assert!(frag_flows.iter().all(|n| *n == 2));
    let translated = same_for_any_workers(
        "mixed-alg",
        &["--topology", t, "--alg", "ftp=translate,sip=translate", c],
    );
    let r = report(&translated);
    let n = r["flows"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["verdict"] == "translated")
        .count();
    assert_eq!(n, 600, "translated flows");
    let _ = std::fs::remove_dir_all(&dir);
}
