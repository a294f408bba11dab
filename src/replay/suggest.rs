//! `eipsim suggest`: a starting topology for a capture of one's own traffic. Every private
//! (RFC 1918) source address becomes a NAT-mode private IP of an ENI (one ENI per source MAC on
//! Ethernet, else one per address) with an EIP of its own from 198.18.0.0/15, so that the
//! capture's outbound traffic takes the NAT path. When two private hosts of one block talk to
//! each other, the VPC is narrowed to the longest prefix holding the first one's source and not
//! its peer, so that their conversation crosses the gateway. With no private source, the first
//! IPv4 source plays the instance.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::net::Ipv4Addr;
use std::path::PathBuf;

use super::input::{CaptureError, CaptureReader};
use crate::wire::{self, LinkType};

/// Private address hosts taken at most.
pub const MAX_HOSTS: usize = 4096;

const PRIVATE_BLOCKS: [(u32, u8); 3] = [
    (0x0a00_0000, 8),  // 10.0.0.0/8
    (0xac10_0000, 12), // 172.16.0.0/12
    (0xc0a8_0000, 16), // 192.168.0.0/16
];

fn block_of(addr: u32) -> Option<(u32, u8)> {
    PRIVATE_BLOCKS
        .iter()
        .copied()
        .find(|(net, len)| addr & (u32::MAX << (32 - u32::from(*len))) == *net)
}

/// Builds a topology (TOML text) for the captures.
pub fn topology_for(paths: &[PathBuf]) -> Result<String, CaptureError> {
    // address -> MAC it was first seen sending from (Ethernet only)
    let mut hosts: BTreeMap<u32, Option<[u8; 6]>> = BTreeMap::new();
    let mut first_src: Option<(u32, Option<[u8; 6]>)> = None;
    // The first conversation between two private addresses of one block: the VPC is narrowed
    // so that its source is inside and its destination outside (the NAT path, not intra-VPC).
    let mut private_pair: Option<(u32, u32)> = None;
    let mut seen: BTreeSet<u32> = BTreeSet::new();
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
            let mac = (meta.link == LinkType::Ethernet)
                .then(|| [buf[6], buf[7], buf[8], buf[9], buf[10], buf[11]]);
            first_src.get_or_insert((src, mac));
            if private_pair.is_none()
                && block_of(src).is_some()
                && block_of(src) == block_of(dst)
                && src != dst
            {
                private_pair = Some((src, dst));
            }
            if block_of(src).is_some() && hosts.len() < MAX_HOSTS {
                hosts.entry(src).or_insert(mac);
            }
        }
    }
    let (cidr_net, cidr_len) = match (private_pair, hosts.keys().next()) {
        (Some((src, dst)), _) => {
            let len = ((src ^ dst).leading_zeros() + 1).min(32) as u8;
            let net = src & (u32::MAX << (32 - u32::from(len)));
            hosts.retain(|a, _| *a & (u32::MAX << (32 - u32::from(len))) == net);
            (net, len)
        }
        (None, Some(first)) => {
            let block = block_of(*first).expect("private");
            hosts.retain(|a, _| block_of(*a) == Some(block));
            block
        }
        (None, None) => match first_src {
            Some((src, mac)) => {
                hosts.insert(src, mac);
                (src, 32)
            }
            None => (0x0a00_0000, 8),
        },
    };
    // Group by MAC; addresses without a MAC get an ENI each.
    let mut enis: Vec<([u8; 6], Vec<u32>)> = Vec::new();
    let mut next_mac = 1u32;
    for (addr, mac) in &hosts {
        match mac.and_then(|m| enis.iter().position(|(x, _)| *x == m)) {
            Some(i) => enis[i].1.push(*addr),
            None => {
                let m = mac.unwrap_or_else(|| {
                    let n = next_mac.to_be_bytes();
                    next_mac += 1;
                    [0x02, 0x00, n[0], n[1], n[2], n[3]]
                });
                enis.push((m, vec![*addr]));
            }
        }
    }
    let mut s = String::new();
    let _ = writeln!(
        s,
        "# Suggested by `eipsim suggest` from {} capture(s): every private source is a NAT-mode\n# private IP with its own EIP.",
        paths.len()
    );
    let _ = writeln!(s, "region = \"eu-central-1\"\n");
    let _ = writeln!(
        s,
        "[vpc]\nid = \"vpc-suggested\"\ncidr = \"{}/{}\"\n",
        Ipv4Addr::from(cidr_net),
        cidr_len
    );
    let mut eip_next = 0xc612_0001u32; // 198.18.0.1
    let mut alloc_eip = |seen: &BTreeSet<u32>| loop {
        let a = eip_next;
        eip_next += 1;
        if !seen.contains(&a) && a & 0xff != 0 && a & 0xff != 0xff {
            return a;
        }
    };
    let mut assoc = String::new();
    let mut eips = String::new();
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
            "[[eni]]\nid = \"eni-{n}\"\nkind = \"{kind}\"\nmac = \"{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}\"\nprimary_ip = \"{}\"\nsecondary_ips = [{}]\ninstance = \"i-{n}\"\n",
            mac[0],
            mac[1],
            mac[2],
            mac[3],
            mac[4],
            mac[5],
            Ipv4Addr::from(addrs[0]),
            secondaries.join(", ")
        );
        for (j, a) in addrs.iter().enumerate() {
            let eip = alloc_eip(&seen);
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
        }
    }
    s.push_str(&eips);
    s.push_str(&assoc);
    Ok(s)
}
