//! `replay --respond --events`: the guests follow the cloud as the events change it. A NAT EIP
//! unbound mid-capture and bound again: SYNs before and after get SYN-ACKs, SYNs in the gap
//! drop `eip-not-associated` and reach no guest. A cut-through EIP unbound: its NIC gets its
//! private IP back and the lease is gone from the guests' view; bound again, a new DHCP
//! exchange gives the lease back and SYNs are answered again.

mod common;

use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

use eipsim::replay::{self, ReplayOptions};
use etherparse::{NetSlice, PacketBuilder, SlicedPacket, TransportSlice};
use pcap_file::pcap::{PcapHeader, PcapPacket, PcapReader, PcapWriter};

const GW: [u8; 6] = [0xee, 0xff, 0xff, 0xff, 0xff, 0xff];
const INET: [u8; 6] = [0x02, 0, 0, 0, 0, 0x99];
const CLIENT: [u8; 4] = [198, 51, 100, 7];
/// The capture's first second.
const START: u64 = 1_700_000_000;

/// The demo topology without the connection i-app opens and its source rule (so that the
/// guests send only replies), and with no security group on eni-cut (so that its guest's
/// answers are not the group's business here).
fn topology() -> String {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(root.join("pcaps/demo-topology.toml"))
        .unwrap()
        .lines()
        .filter(|l| {
            !l.starts_with("connect = ")
                && !l.starts_with("rules = ")
                && !l.starts_with("security_groups = ")
        })
        .map(|l| format!("{l}\n"))
        .collect()
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

/// A `--respond` replay of `frames` (each at its capture time in milliseconds after `START`)
/// with `events`; the out folder.
fn run(name: &str, frames: &[(u64, Vec<u8>)], events: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("eipsim-guestev-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let t = dir.join("topology.toml");
    std::fs::write(&t, topology()).unwrap();
    let e = dir.join("events.toml");
    std::fs::write(&e, events).unwrap();
    let cap = dir.join("in.pcap");
    let mut w =
        PcapWriter::with_header(std::fs::File::create(&cap).unwrap(), PcapHeader::default())
            .unwrap();
    for (ms, f) in frames {
        let ts = std::time::Duration::from_millis(START * 1000 + ms);
        w.write_packet(&PcapPacket::new(ts, f.len() as u32, f))
            .unwrap();
    }
    drop(w);
    let out = dir.join("out");
    let o = replay::run(&ReplayOptions {
        trace: Some(out.join("trace.tsv")),
        events: Some(e),
        ..common::respond_options(&t, &out, vec![cap])
    })
    .unwrap();
    assert!(o.capture_error.is_none());
    out
}

/// The SYN-ACKs in the Internet's output: (source address, destination port).
fn syn_acks(out: &Path) -> Vec<(Ipv4Addr, u16)> {
    let Ok(f) = std::fs::File::open(out.join("internet.pcap")) else {
        return Vec::new();
    };
    let mut r = PcapReader::new(f).unwrap();
    let mut v = Vec::new();
    while let Some(p) = r.next_packet() {
        let p = p.unwrap();
        let s = SlicedPacket::from_ethernet(&p.data).unwrap();
        if let (Some(NetSlice::Ipv4(ip)), Some(TransportSlice::Tcp(t))) = (&s.net, &s.transport)
            && t.syn()
            && t.ack()
        {
            v.push((ip.header().source_addr(), t.destination_port()));
        }
    }
    v
}

/// The verdict of each input frame in the trace (a translation such as `dnat` or
/// `pass-through`, or the drop reason), in order.
fn verdicts(out: &Path) -> Vec<String> {
    let text = std::fs::read_to_string(out.join("trace.tsv")).unwrap();
    let mut lines = text.lines();
    let head: Vec<&str> = lines.next().unwrap().split('\t').collect();
    let v = head
        .iter()
        .position(|h| *h == "verdict")
        .expect("a verdict column");
    lines
        .map(|l| l.split('\t').nth(v).unwrap().to_string())
        .collect()
}

fn report(out: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(out.join("report.json")).unwrap()).unwrap()
}

/// eip-web (NAT on eni-web0) unbound at 1.0 s and bound again at 2.0 s: the SYNs at 0.5 s and
/// 2.5 s get SYN-ACKs from the EIP, the SYN at 1.5 s drops `eip-not-associated`, reaches no
/// guest and gets nothing; the guest's retransmitted SYN-ACK in the gap drops too.
#[test]
fn a_nat_eip_unbound_and_bound_again_answers_before_and_after_only() {
    let events = format!(
        "[[event]]\nat = \"{}.0\"\nop = \"UnassociateEipAddress\"\neip = \"eip-web\"\n\n\
         [[event]]\nat = \"{}.0\"\nop = \"AssociateEipAddress\"\neip = \"eip-web\"\n\
         eni = \"eni-web0\"\nmode = \"NAT\"\n",
        START + 1,
        START + 2
    );
    let web = [47, 0, 0, 10];
    let frames = vec![
        (500, syn(web, 50_001, 80)),
        (1500, syn(web, 50_002, 80)),
        (2500, syn(web, 50_003, 80)),
    ];
    let out = run("nat", &frames, &events);
    let eip = Ipv4Addr::from(web);
    assert_eq!(
        syn_acks(&out),
        vec![(eip, 50_001), (eip, 50_003)],
        "SYN-ACKs before and after the gap only"
    );
    let v = verdicts(&out);
    assert_eq!(v.len(), 3, "{v:?}");
    assert_eq!(v, ["dnat", "eip-not-associated", "dnat"]);
    let r = report(&out);
    assert_eq!(r["dropped"]["eip-not-associated"], 1, "{}", r["dropped"]);
    assert_eq!(
        r["guests"]["delivered"], 2,
        "the dropped SYN reached no guest"
    );
    // The guest retransmits the first SYN-ACK (the client never acknowledged it) when the
    // next frame comes, at 1.5 s: in the gap, so it drops at the gateway (the ENI has no
    // public address any more) and never reaches the Internet.
    let g = &r["generated"];
    assert_eq!(g["frames"], 3, "{g}");
    assert_eq!(g["egress"]["internet"], 2, "{g}");
    assert_eq!(g["dropped_by_reason"]["no-public-address"], 1, "{g}");
    let t = r["timeline"].as_array().unwrap();
    assert_eq!(t.len(), 2);
    assert!(t.iter().all(|e| e["result"] == "ok"), "{t:?}");
    assert_eq!(
        (t[0]["frame"].as_u64(), t[1]["frame"].as_u64()),
        (Some(2), Some(3))
    );
}

/// eip-cut (cut-through on eni-cut, i-app's eth1, DHCP on) unbound at 1.0 s: the NIC gets
/// its private IP back (172.16.1.10, static), the lease is gone from the guests' view, and a
/// SYN to the EIP drops `eip-not-associated`. Bound again (BINDED) at 2.0 s: a new DHCP
/// exchange (a second OFFER and ACK in eni-cut's output) gives the lease back and the SYN at
/// 2.5 s gets a SYN-ACK from the EIP.
#[test]
fn a_cut_through_eip_unbound_takes_the_lease_away_and_bound_again_gives_it_back() {
    let cut = [47, 0, 0, 20];
    let frames = vec![
        (0, syn(cut, 50_010, 22)),
        (1500, syn(cut, 50_011, 22)),
        (2500, syn(cut, 50_012, 22)),
    ];
    let unbind = format!(
        "[[event]]\nat = \"{}.0\"\nop = \"UnassociateEipAddress\"\neip = \"eip-cut\"\n",
        START + 1
    );
    let out = run("cut-gone", &frames[..2], &unbind);
    let eip = Ipv4Addr::from(cut);
    assert_eq!(syn_acks(&out), vec![(eip, 50_010)]);
    let v = verdicts(&out);
    assert_eq!(v, ["pass-through", "eip-not-associated"]);
    let r = report(&out);
    let app = &r["guests"]["instances"][1];
    assert_eq!(app["instance"], "i-app");
    let eth1 = &app["nics"][1];
    assert!(
        eth1["lease"].is_null(),
        "no lease once the EIP is unbound: {eth1:#}"
    );
    assert!(
        eth1.to_string().contains("172.16.1.10"),
        "the private IP is back on eth1: {eth1:#}"
    );
    assert!(
        !eth1.to_string().contains("47.0.0.20"),
        "the EIP is not on eth1 any more: {eth1:#}"
    );

    // Bound again: an attached ENI takes no BINDED EIP (the provider requires it detached),
    // so the ENI is detached, the EIP bound, the ENI attached again.
    let rebind = format!(
        "{unbind}\n[[event]]\nat = \"{t}.0\"\nop = \"DetachNetworkInterface\"\neni = \"eni-cut\"\n\n\
         [[event]]\nat = \"{t}.0\"\nop = \"AssociateEipAddress\"\neip = \"eip-cut\"\n\
         eni = \"eni-cut\"\nmode = \"BINDED\"\n\n\
         [[event]]\nat = \"{t}.0\"\nop = \"AttachNetworkInterface\"\neni = \"eni-cut\"\n\
         instance = \"i-app\"\n",
        t = START + 2
    );
    let out = run("cut-back", &frames, &rebind);
    let r = report(&out);
    let t = r["timeline"].as_array().unwrap();
    assert_eq!(t.len(), 4, "{t:?}");
    assert!(t.iter().all(|e| e["result"] == "ok"), "{t:?}");
    assert_eq!(syn_acks(&out), vec![(eip, 50_010), (eip, 50_012)]);
    let lease = &r["guests"]["instances"][1]["nics"][1]["lease"];
    assert_eq!(lease["address"], "47.0.0.20", "{lease:#}");
    assert_eq!(
        r["generated"]["dhcp_answers"]["eni-cut"], 4,
        "two exchanges"
    );
}

/// An event that changes one NIC of an instance (its cut-through EIP unbound) leaves the
/// instance's other NICs alone: a connection half-way through its handshake on the multi-EIP
/// NIC completes and is answered as without the event.
#[test]
fn a_change_to_one_nic_leaves_the_connections_of_the_others() {
    let m = [47, 0, 0, 31];
    let syn0 = syn(m, 50_020, 80);
    let first = run("other-nic-syn", &[(500, syn0.clone())], "");
    let mut r = PcapReader::new(std::fs::File::open(first.join("internet.pcap")).unwrap()).unwrap();
    let p = r.next_packet().unwrap().unwrap();
    let s = SlicedPacket::from_ethernet(&p.data).unwrap();
    let Some(TransportSlice::Tcp(t)) = &s.transport else {
        panic!("the first frame out is the SYN-ACK")
    };
    assert!(t.syn() && t.ack());
    let mut ack = Vec::new();
    PacketBuilder::ethernet2(INET, GW)
        .ipv4(CLIENT, m, 64)
        .tcp(50_020, 80, 1001, 64240)
        .ack(t.sequence_number().wrapping_add(1))
        .psh()
        .write(&mut ack, b"GET / HTTP/1.0\r\n\r\n")
        .unwrap();
    let unbind = format!(
        "[[event]]\nat = \"{}.0\"\nop = \"UnassociateEipAddress\"\neip = \"eip-cut\"\n",
        START + 1
    );
    let answers = |name: &str, events: &str| {
        let out = run(name, &[(500, syn0.clone()), (1500, ack.clone())], events);
        let mut r =
            PcapReader::new(std::fs::File::open(out.join("internet.pcap")).unwrap()).unwrap();
        let mut seen = Vec::new();
        while let Some(p) = r.next_packet() {
            let p = p.unwrap();
            let s = SlicedPacket::from_ethernet(&p.data).unwrap();
            if let Some(TransportSlice::Tcp(t)) = &s.transport {
                seen.push((t.rst(), t.payload().len()));
            }
        }
        seen
    };
    let quiet = answers("other-nic-quiet", "");
    let changed = answers("other-nic-event", &unbind);
    assert!(quiet.iter().any(|(rst, len)| !rst && *len > 0), "{quiet:?}");
    assert_eq!(
        changed, quiet,
        "the event on eth1 changed eth2's connection"
    );
}
