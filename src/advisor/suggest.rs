//! `eipsim suggest`: a starting topology for a capture of one's own traffic. Every private
//! (RFC 1918) source address of the capture becomes a NAT-mode private IP of an ENI with an EIP
//! of its own from 198.18.0.0/15. The VPC CIDR is the smallest block holding them all (within
//! one RFC 1918 block: when the sources span several, the block with the most sources is taken
//! and the others are listed as left out). An ENI takes the MAC its addresses sent from
//! (Ethernet) when that MAC sent nothing but their frames; otherwise (a router's MAC, which also
//! carries Internet sources, or frames without MACs) it gets a made-up one. With no private
//! source, the first IPv4 source plays the instance.
//!
//! The output starts with comments naming the VPC CIDR and the capture point assumed (see
//! [`CapturePoint`]); [`Suggestion::note`] says the same in one line for stderr.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::fmt::Write as _;
use std::net::Ipv4Addr;
use std::path::PathBuf;

pub use crate::dataplane::CapturePoint;
use crate::replay::input::{CaptureError, CaptureReader};
use crate::wire::{self, LinkType};

/// Private address hosts taken at most.
pub const MAX_HOSTS: usize = 4096;

/// (source, destination) pairs counted at most (for the capture-point evidence).
pub const MAX_PAIRS: usize = 1 << 20;

const PRIVATE_BLOCKS: [(u32, u8); 3] = [
    (0x0a00_0000, 8),  // 10.0.0.0/8
    (0xac10_0000, 12), // 172.16.0.0/12
    (0xc0a8_0000, 16), // 192.168.0.0/16
];

/// The gateway and Internet next-hop MACs of a suggested topology (the loader's defaults).
const GATEWAY_MAC: [u8; 6] = [0xee, 0xff, 0xff, 0xff, 0xff, 0xff];
const INTERNET_MAC: [u8; 6] = [0x02, 0, 0, 0, 0, 0x01];

fn block_of(addr: u32) -> Option<(u32, u8)> {
    PRIVATE_BLOCKS
        .iter()
        .copied()
        .find(|(net, len)| addr & mask(*len) == *net)
}

fn mask(len: u8) -> u32 {
    if len == 0 {
        0
    } else {
        u32::MAX << (32 - u32::from(len))
    }
}

/// What a capture shows about where it was taken: among frames from outside the VPC, how many
/// are addressed to an address inside the VPC CIDR (`to_private`: an instance's view, the
/// gateway already translated them) and how many to an EIP (`to_public`: the gateway's view).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CapturePointEvidence {
    /// Frames from outside the VPC addressed to a private IP of the VPC.
    pub to_private: u64,
    /// Frames from outside the VPC addressed to an EIP.
    pub to_public: u64,
}

impl CapturePointEvidence {
    /// Counts one frame from `src` to `dst`: `inside` tells an address of the VPC CIDR,
    /// `is_eip` an EIP.
    pub fn count(
        &mut self,
        src: Ipv4Addr,
        dst: Ipv4Addr,
        inside: impl Fn(Ipv4Addr) -> bool,
        is_eip: impl Fn(Ipv4Addr) -> bool,
    ) {
        if inside(src) {
            return;
        }
        if inside(dst) {
            self.to_private += 1;
        } else if is_eip(dst) {
            self.to_public += 1;
        }
    }

    /// The capture point the evidence points to: `instance` when more frames from outside the
    /// VPC are addressed to private IPs than to EIPs, else `gateway`.
    pub fn decide(&self) -> CapturePoint {
        if self.to_private > self.to_public {
            CapturePoint::Instance
        } else {
            CapturePoint::Gateway
        }
    }

    /// The decision with its reason, as `eipsim suggest` writes it.
    pub fn explain(&self) -> String {
        match self.decide() {
            CapturePoint::Instance => "instance (frames from outside the VPC are addressed to private IPs): replay with --capture-point instance".into(),
            CapturePoint::Gateway => {
                "gateway (no frame from outside the VPC is addressed to a private IP)".into()
            }
        }
    }
}

/// A suggested topology.
#[derive(Clone, Debug)]
pub struct Suggestion {
    /// The topology file's text (TOML, with comments at the top).
    pub text: String,
    /// One line saying which capture point and VPC CIDR were assumed (for stderr).
    pub note: String,
    /// The capture point assumed.
    pub capture_point: CapturePoint,
}

/// Builds a topology (TOML text) for the captures.
pub fn topology_for(paths: &[PathBuf]) -> Result<String, CaptureError> {
    suggest(paths).map(|s| s.text)
}

/// Builds a topology for the captures, with the capture point and VPC CIDR it assumed.
pub fn suggest(paths: &[PathBuf]) -> Result<Suggestion, CaptureError> {
    // private source -> MAC it was first seen sending from (Ethernet only)
    let mut hosts: BTreeMap<u32, Option<[u8; 6]>> = BTreeMap::new();
    let mut over_limit = 0u64;
    let mut first_src: Option<(u32, Option<[u8; 6]>)> = None;
    // Frames from a non-private source, per private destination.
    let mut inbound: HashMap<u32, u64> = HashMap::new();
    // MACs that sent a frame from a non-private source (routers, the Internet side).
    let mut public_macs: HashSet<[u8; 6]> = HashSet::new();
    let mut all_macs: HashSet<[u8; 6]> = HashSet::new();
    let mut seen: BTreeSet<u32> = BTreeSet::new();
    // Frames per address (as source or destination), and per (source, destination) pair.
    let mut part: HashMap<u32, u64> = HashMap::new();
    let mut pairs: HashMap<(u32, u32), u64> = HashMap::new();
    // Per destination: the source MACs its frames came with (Ethernet).
    let mut rx_macs: HashMap<u32, HashMap<[u8; 6], u64>> = HashMap::new();
    let mut ipv4_frames = 0u64;
    let mut buf = Vec::new();
    for p in paths {
        let mut r = CaptureReader::open(p)?;
        r.keep_unsupported_links();
        loop {
            buf.clear();
            let meta = match r.next_frame(&mut buf) {
                Ok(Some(m)) => m,
                Ok(None) => break,
                // A corrupt record ends what can be learnt from this file.
                Err(_) => break,
            };
            if meta.unsupported_link {
                continue;
            }
            let Ok(l3) = wire::ipv4_offset(meta.link, &buf) else {
                continue;
            };
            let Ok(ip) = etherparse::Ipv4HeaderSlice::from_slice(&buf[l3..]) else {
                continue;
            };
            let src = u32::from_be_bytes(ip.source());
            let dst = u32::from_be_bytes(ip.destination());
            seen.insert(src);
            seen.insert(dst);
            ipv4_frames += 1;
            *part.entry(src).or_default() += 1;
            if dst != src {
                *part.entry(dst).or_default() += 1;
            }
            if pairs.len() < MAX_PAIRS || pairs.contains_key(&(src, dst)) {
                *pairs.entry((src, dst)).or_default() += 1;
            }
            let mac = (meta.link == LinkType::Ethernet)
                .then(|| [buf[6], buf[7], buf[8], buf[9], buf[10], buf[11]]);
            if let Some(m) = mac
                && (rx_macs.len() < MAX_HOSTS || rx_macs.contains_key(&dst))
            {
                *rx_macs.entry(dst).or_default().entry(m).or_default() += 1;
            }
            if let Some(m) = mac {
                all_macs.insert(m);
            }
            first_src.get_or_insert((src, mac));
            if block_of(src).is_some() {
                if hosts.len() < MAX_HOSTS || hosts.contains_key(&src) {
                    hosts.entry(src).or_insert(mac);
                } else {
                    over_limit += 1;
                }
            } else {
                if let Some(m) = mac {
                    public_macs.insert(m);
                }
                // Towards a private address, or the host that would play the instance when the
                // capture has no private source.
                if block_of(dst).is_some() || first_src.is_some_and(|(f, _)| f == dst) {
                    *inbound.entry(dst).or_default() += 1;
                }
            }
        }
    }
    let mut left_out: Vec<(u32, &str)> = Vec::new();
    // The capture's centre: a private address in at least 90% of the IPv4 frames.
    // Among equals (a two-host capture), the source of the first frame: the side that opened
    // the conversation, the usual place of a capture of one's own traffic.
    let first = first_src.map(|(a, _)| a);
    let centre = part
        .iter()
        .max_by_key(|(a, n)| (**n, Some(**a) == first, std::cmp::Reverse(**a)))
        .filter(|(a, n)| ipv4_frames >= 2 && **n * 10 >= ipv4_frames * 9 && block_of(**a).is_some())
        .map(|(a, _)| *a);
    // The block with the most private sources (the first of equals).
    let mut per_block = [0usize; 3];
    for a in hosts.keys() {
        if let Some(i) = PRIVATE_BLOCKS.iter().position(|b| Some(*b) == block_of(*a)) {
            per_block[i] += 1;
        }
    }
    let best = (0..3).max_by_key(|i| (per_block[*i], std::cmp::Reverse(*i)));
    let (cidr_net, cidr_len, why) = match best.filter(|i| per_block[*i] > 0) {
        Some(i) => {
            let block = PRIVATE_BLOCKS[i];
            hosts.retain(|a, _| {
                let keep = block_of(*a) == Some(block);
                if !keep {
                    left_out.push((*a, "outside the VPC CIDR (another private block)"));
                }
                keep
            });
            // A capture centred on one private host (tcpdump on an instance): that host's
            // addresses are the VPC's, and its private peers stand for the Internet, so that
            // their conversations cross the gateway (lab captures use private addresses on
            // both ends).
            let mut peers: Vec<u32> = Vec::new();
            if let Some(h) = centre.filter(|h| hosts.contains_key(h)) {
                let h_mac = hosts[&h];
                hosts.retain(|a, m| {
                    let keep = *a == h || (h_mac.is_some() && *m == h_mac);
                    if !keep {
                        peers.push(*a);
                    }
                    keep
                });
            }
            let lo = *hosts.keys().next().expect("non-empty");
            let hi = *hosts.keys().next_back().expect("non-empty");
            let mut len = ((lo ^ hi).leading_zeros() as u8).max(block.1);
            // Narrow the VPC until no peer is inside it (a peer between the host's own
            // addresses stays inside: it becomes an ENI after all).
            while len < 32 && peers.iter().any(|p| p & mask(len) == lo & mask(len)) {
                if (lo ^ hi).leading_zeros() as u8 <= len {
                    break;
                }
                len += 1;
            }
            for p in peers {
                if p & mask(len) == lo & mask(len) {
                    hosts.insert(p, None);
                } else {
                    left_out.push((
                        p,
                        "a peer of the capture's host, taken as outside the VPC so that their conversation crosses the gateway; widen the VPC CIDR if it is in your VPC",
                    ));
                }
            }
            // No host may be the network or broadcast address (of a /30 or wider block).
            let reserved =
                |len: u8, a: u32| len <= 30 && (a == a & mask(len) || a == a | !mask(len));
            while len > block.1 && hosts.keys().any(|a| reserved(len, *a)) {
                len -= 1;
            }
            hosts.retain(|a, _| {
                let keep = !reserved(len, *a);
                if !keep {
                    left_out.push((*a, "the network or broadcast address of the VPC CIDR"));
                }
                keep
            });
            let n = hosts.len();
            (
                lo & mask(len),
                len,
                format!("the smallest block holding the capture's {n} private source(s)"),
            )
        }
        None => match first_src {
            Some((src, mac)) => {
                hosts.insert(src, mac);
                (
                    src,
                    32,
                    "no private source: the first IPv4 source plays the instance".to_string(),
                )
            }
            None => (0x0a00_0000, 8, "no IPv4 frame: a default".to_string()),
        },
    };
    let inside = |a: u32| a & mask(cidr_len) == cidr_net;
    let mut evidence = CapturePointEvidence::default();
    for (&(src, dst), n) in &pairs {
        if !inside(src) && hosts.contains_key(&dst) {
            evidence.to_private += n;
        }
    }
    // Frames of the host playing the instance (no private source) came from outside it.
    if cidr_len == 32
        && hosts.len() == 1
        && block_of(cidr_net).is_none()
        && let Some(n) = inbound.get(&cidr_net)
    {
        evidence.to_private = *n;
    }
    let capture_point = evidence.decide();
    // An ENI keeps its captured MAC only when that MAC sent nothing but private sources and is
    // a unicast address other than the gateway's and the Internet's.
    // With no private source the instance's own address is public: its MAC sent public
    // sources by definition.
    let no_private = hosts.keys().all(|a| block_of(*a).is_none());
    let usable = |m: &[u8; 6]| {
        m[0] & 1 == 0
            && (no_private || !public_macs.contains(m))
            && *m != GATEWAY_MAC
            && *m != INTERNET_MAC
    };
    let mut enis: Vec<([u8; 6], Vec<u32>)> = Vec::new();
    let mut next_mac = 2u32;
    for (addr, mac) in &hosts {
        match mac
            .filter(usable)
            .and_then(|m| enis.iter().position(|(x, _)| *x == m).map(|i| (i, m)))
        {
            Some((i, _)) => enis[i].1.push(*addr),
            None => {
                let m = match mac.filter(usable) {
                    Some(m) => m,
                    None => loop {
                        let n = next_mac.to_be_bytes();
                        next_mac += 1;
                        let m = [0x02, 0x00, n[0], n[1], n[2], n[3]];
                        if !all_macs.contains(&m) && m != INTERNET_MAC {
                            break m;
                        }
                    },
                };
                enis.push((m, vec![*addr]));
            }
        }
    }
    // An instance capture shows the gateway's MAC as the source of every frame the instance
    // received from outside: take it, so that delivered frames equal the captured ones.
    let mut gateway_mac = GATEWAY_MAC;
    if capture_point == CapturePoint::Instance {
        let mut from: HashMap<[u8; 6], u64> = HashMap::new();
        for a in hosts.keys() {
            for (m, n) in rx_macs.get(a).into_iter().flatten() {
                *from.entry(*m).or_default() += n;
            }
        }
        let own: HashSet<[u8; 6]> = enis.iter().map(|(m, _)| *m).collect();
        if let Some((m, _)) = from
            .into_iter()
            .filter(|(m, _)| m[0] & 1 == 0 && !own.contains(m) && *m != INTERNET_MAC)
            .max_by_key(|(m, n)| (*n, std::cmp::Reverse(*m)))
        {
            gateway_mac = m;
        }
    }
    let cidr = format!("{}/{}", Ipv4Addr::from(cidr_net), cidr_len);
    let mut s = String::new();
    let _ = writeln!(
        s,
        "# Suggested by `eipsim suggest` from {} capture(s): every private source is a NAT-mode\n# private IP with its own EIP.",
        paths.len()
    );
    let _ = writeln!(s, "# capture point: {}", evidence.explain());
    let _ = writeln!(s, "# VPC CIDR: {cidr} ({why})");
    for (a, reason) in &left_out {
        let _ = writeln!(s, "# left out: {} ({reason})", Ipv4Addr::from(*a));
    }
    if over_limit > 0 {
        let _ = writeln!(
            s,
            "# left out: frames of private sources beyond the first {MAX_HOSTS} ({over_limit} frame(s))"
        );
    }
    let _ = writeln!(s, "region = \"eu-central-1\"\n");
    let _ = writeln!(
        s,
        "[vpc]\nid = \"vpc-suggested\"\ncidr = \"{cidr}\"\ngateway_mac = \"{}\"\ninternet_mac = \"{}\"\n",
        mac_text(gateway_mac),
        mac_text(INTERNET_MAC)
    );
    let mut eip_next = 0xc612_0001u32; // 198.18.0.1
    let mut alloc_eip = || loop {
        let a = eip_next;
        eip_next += 1;
        if !seen.contains(&a) && !inside(a) && a & 0xff != 0 && a & 0xff != 0xff {
            return a;
        }
    };
    let mut assoc = String::new();
    let mut eips = String::new();
    let mut mapped = 0;
    for (i, (mac, addrs)) in enis.iter().enumerate() {
        let n = i + 1;
        let _ = writeln!(s, "[[instance]]\nid = \"i-{n}\"\nfamily = \"ecs.g5\"\n");
        let kind = if addrs.len() == 1 {
            "primary"
        } else {
            "secondary"
        };
        let secondaries: Vec<String> = addrs[1..]
            .iter()
            .map(|a| format!("\"{}\"", Ipv4Addr::from(*a)))
            .collect();
        let _ = writeln!(
            s,
            "[[eni]]\nid = \"eni-{n}\"\nkind = \"{kind}\"\nmac = \"{}\"\nprimary_ip = \"{}\"\nsecondary_ips = [{}]\ninstance = \"i-{n}\"\n",
            mac_text(*mac),
            Ipv4Addr::from(addrs[0]),
            secondaries.join(", ")
        );
        for (j, a) in addrs.iter().enumerate() {
            let eip = alloc_eip();
            let id = format!("eip-{n}-{}", j + 1);
            let _ = writeln!(
                eips,
                "[[eip]]\nid = \"{id}\"\naddress = \"{}\"\n",
                Ipv4Addr::from(eip)
            );
            let _ = writeln!(
                assoc,
                "[[association]]\neip = \"{id}\"\neni = \"eni-{n}\"\nmode = \"NAT\"\nprivate_ip = \"{}\"\n",
                Ipv4Addr::from(*a)
            );
            mapped += 1;
        }
    }
    s.push_str(&eips);
    s.push_str(&assoc);
    let note = format!(
        "eipsim suggest: capture point {}; VPC CIDR {cidr}; {mapped} private IP(s) mapped (NAT){}",
        evidence.explain(),
        if left_out.is_empty() {
            String::new()
        } else {
            format!(", {} left out (see the comments)", left_out.len())
        }
    );
    Ok(Suggestion {
        text: s,
        note,
        capture_point,
    })
}

fn mac_text(m: [u8; 6]) -> String {
    format!(
        "{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}",
        m[0], m[1], m[2], m[3], m[4], m[5]
    )
}
