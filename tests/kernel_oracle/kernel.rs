//! The kernel side of the oracle: a namespace, `eipsim-knat`, forwarding between two veth links
//! (`inet0` towards the Internet, `vpc0` towards the VPC) with nftables doing 1:1 NAT per
//! NAT-mode EIP. The test injects frames on the root-side ends (`eipl-kinet`, `eipl-kvpc`) with
//! AF_PACKET (pnet) and reads back what the kernel sends out of each link.

use std::net::Ipv4Addr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use pnet_datalink::{Channel, Config, DataLinkReceiver, DataLinkSender};

use super::netns::{must, must_ns, run, run_ns};
use super::traffic::GATEWAY_MAC;

/// The namespace doing the NAT.
pub const NS: &str = "eipsim-knat";
/// The root-side end of the Internet link.
pub const INET_LINK: &str = "eipl-kinet";
/// The root-side end of the VPC link.
pub const VPC_LINK: &str = "eipl-kvpc";
/// The nftables table of the NAT rules.
const TABLE: &str = "eipsim_knat";

/// One 1:1 NAT of the kernel: the EIP, the private IP, the ENI's MAC (its neighbour entry).
pub struct Mapping {
    /// The EIP.
    pub eip: Ipv4Addr,
    /// The private IP.
    pub private: Ipv4Addr,
    /// The ENI's MAC.
    pub mac: [u8; 6],
}

fn mac(m: &[u8; 6]) -> String {
    m.iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}

/// The nftables rule set: `dnat` in prerouting per EIP, `snat` in postrouting per private IP,
/// and conntrack's INVALID packets counted and dropped in forward (not sent on untranslated).
pub fn ruleset(maps: &[Mapping]) -> String {
    let mut pre = String::new();
    let mut post = String::new();
    for m in maps {
        pre.push_str(&format!("    ip daddr {} dnat to {}\n", m.eip, m.private));
        post.push_str(&format!("    ip saddr {} snat to {}\n", m.private, m.eip));
    }
    format!(
        "table ip {TABLE} {{\n  counter ct_invalid {{ }}\n  counter passed {{ }}\n\
         \x20 chain pre {{\n    type nat hook prerouting priority dstnat; policy accept;\n{pre}  }}\n\
         \x20 chain post {{\n    type nat hook postrouting priority srcnat; policy accept;\n{post}  }}\n\
         \x20 chain forwarding {{\n    type filter hook forward priority filter; policy accept;\n\
         \x20   ct state invalid counter name ct_invalid drop\n    counter name passed\n  }}\n}}\n"
    )
}

/// Builds the namespace, its two links (offloads off, so checksums are real on the wire),
/// forwarding without reverse-path filtering, static neighbours, and the NAT rules.
pub fn setup(maps: &[Mapping], scratch: &std::path::Path) {
    must(&["ip", "netns", "add", NS]);
    must_ns(NS, &["sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=1"]);
    must_ns(
        NS,
        &["sysctl", "-qw", "net.ipv6.conf.default.disable_ipv6=1"],
    );
    for (root, inner, addr) in [
        (INET_LINK, "inet0", "10.255.0.1/30"),
        (VPC_LINK, "vpc0", "10.255.1.1/30"),
    ] {
        let tmp = format!("{root}-p");
        must(&[
            "ip", "link", "add", root, "type", "veth", "peer", "name", &tmp,
        ]);
        must(&["ip", "link", "set", &tmp, "netns", NS]);
        must_ns(NS, &["ip", "link", "set", &tmp, "name", inner]);
        must_ns(
            NS,
            &["ip", "link", "set", inner, "address", &mac(&GATEWAY_MAC)],
        );
        must(&[
            "sysctl",
            "-qw",
            &format!("net.ipv6.conf.{root}.disable_ipv6=1"),
        ]);
        must_ns(NS, &["ip", "addr", "add", addr, "dev", inner]);
        must_ns(NS, &["ip", "link", "set", inner, "up"]);
        must(&["ip", "link", "set", root, "up"]);
        let off = [
            "tx", "off", "rx", "off", "tso", "off", "gso", "off", "gro", "off",
        ];
        let mut a = vec!["ethtool", "-K", root];
        a.extend(off);
        must(&a);
        let mut a = vec!["ethtool", "-K", inner];
        a.extend(off);
        must_ns(NS, &a);
    }
    for s in [
        "net.ipv4.ip_forward=1",
        "net.ipv4.conf.all.rp_filter=0",
        "net.ipv4.conf.default.rp_filter=0",
        "net.ipv4.conf.inet0.rp_filter=0",
        "net.ipv4.conf.vpc0.rp_filter=0",
        "net.ipv4.conf.all.send_redirects=0",
    ] {
        must_ns(NS, &["sysctl", "-qw", s]);
    }
    must_ns(
        NS,
        &[
            "ip",
            "neigh",
            "replace",
            "10.255.0.2",
            "lladdr",
            "02:00:00:00:00:01",
            "dev",
            "inet0",
            "nud",
            "permanent",
        ],
    );
    must_ns(
        NS,
        &[
            "ip",
            "route",
            "add",
            "default",
            "via",
            "10.255.0.2",
            "dev",
            "inet0",
        ],
    );
    must_ns(NS, &["ip", "route", "add", "172.16.0.0/12", "dev", "vpc0"]);
    for m in maps {
        let p = m.private.to_string();
        let l = mac(&m.mac);
        must_ns(
            NS,
            &[
                "ip",
                "neigh",
                "replace",
                &p,
                "lladdr",
                &l,
                "dev",
                "vpc0",
                "nud",
                "permanent",
            ],
        );
    }
    let rules = scratch.join("knat.nft");
    std::fs::write(&rules, ruleset(maps)).expect("nft rules written");
    must_ns(NS, &["nft", "-f", rules.to_str().expect("a UTF-8 path")]);
}

/// Removes the namespace (its links go with it).
pub fn teardown() {
    let _ = run(10, &["ip", "netns", "del", NS]);
}

/// A named counter of the rule set: packets.
pub fn counter(name: &str) -> u64 {
    let o = run_ns(10, NS, &["nft", "list", "counter", "ip", TABLE, name]);
    let text = String::from_utf8_lossy(&o.stdout);
    text.split_whitespace()
        .skip_while(|w| *w != "packets")
        .nth(1)
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no packet count in `nft list counter {name}`: {text}"))
}

fn open(name: &str) -> (Box<dyn DataLinkSender>, Box<dyn DataLinkReceiver>) {
    let iface = pnet_datalink::interfaces()
        .into_iter()
        .find(|i| i.name == name)
        .unwrap_or_else(|| panic!("no interface {name}"));
    let config = Config {
        read_timeout: Some(Duration::from_millis(20)),
        write_timeout: Some(Duration::from_secs(1)),
        read_buffer_size: 65_536,
        write_buffer_size: 65_536,
        ..Config::default()
    };
    match pnet_datalink::channel(&iface, config) {
        Ok(Channel::Ethernet(tx, rx)) => (tx, rx),
        Ok(_) => panic!("{name}: not an Ethernet channel"),
        Err(e) => panic!("{name}: cannot open an AF_PACKET channel: {e}"),
    }
}

/// What the kernel sent: the IP bytes of the IPv4 frames out of each link, in order.
pub struct Sent {
    /// Out of `inet0`, towards the Internet.
    pub internet: Vec<Vec<u8>>,
    /// Out of `vpc0`, towards the instances.
    pub vpc: Vec<Vec<u8>>,
}

/// Injects `frames` (each: sent by the VPC side?, Ethernet bytes) in order, on the VPC or the
/// Internet link, a little apart (conntrack sees them in capture order), and collects what the
/// kernel sends until nothing has come for 300 ms (at most 10 s after the last frame).
pub fn forward(frames: &[(bool, &[u8])]) -> Sent {
    let stop = Arc::new(AtomicBool::new(false));
    let mut txs = Vec::new();
    let mut readers = Vec::new();
    let got: Vec<Arc<Mutex<Vec<Vec<u8>>>>> = (0..2).map(|_| Arc::default()).collect();
    for (i, name) in [INET_LINK, VPC_LINK].into_iter().enumerate() {
        let (tx, mut rx) = open(name);
        txs.push(tx);
        let (stop, got) = (stop.clone(), got[i].clone());
        readers.push(std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                match rx.next() {
                    // The kernel's frames: from its interfaces' MAC (injected frames carry
                    // the hosts' MACs), IPv4 only.
                    Ok(f) if f.len() > 14 && f[6..12] == GATEWAY_MAC && f[12..14] == [8, 0] => {
                        got.lock().expect("capture").push(f[14..].to_vec());
                    }
                    Ok(_) => {}
                    Err(e) if e.kind() == std::io::ErrorKind::TimedOut => {}
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                    Err(e) => panic!("reading {name}: {e}"),
                }
            }
        }));
    }
    for (from_vpc, bytes) in frames {
        let tx = &mut txs[usize::from(*from_vpc)];
        match tx.send_to(bytes, None) {
            Some(Ok(())) => {}
            other => panic!("injecting a frame: {other:?}"),
        }
        std::thread::sleep(Duration::from_micros(60));
    }
    let total = || {
        got.iter()
            .map(|g| g.lock().expect("capture").len())
            .sum::<usize>()
    };
    let (t, mut last, mut seen) = (Instant::now(), Instant::now(), total());
    while last.elapsed() < Duration::from_millis(300) && t.elapsed() < Duration::from_secs(10) {
        std::thread::sleep(Duration::from_millis(50));
        let n = total();
        if n != seen {
            (seen, last) = (n, Instant::now());
        }
    }
    stop.store(true, Ordering::Relaxed);
    for r in readers {
        r.join().expect("a reader thread");
    }
    let take = |i: usize| std::mem::take(&mut *got[i].lock().expect("capture"));
    Sent {
        internet: take(0),
        vpc: take(1),
    }
}
