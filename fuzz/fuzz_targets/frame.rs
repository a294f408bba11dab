//! Any bytes through the forwarding core, with the demo topology (NAT on primary and secondary
//! ENIs, BINDED with and without DHCP, MULTI_BINDED with an unconfigured EIP, a detached ENI, an
//! unassociated EIP). The first byte picks the link type, the rest is the frame.
//!
//! Invariants: no panic; a dropped frame is left unchanged; a forwarded frame keeps its length,
//! and every checksum that verified on input verifies on output: the IPv4 header, the TCP/UDP
//! checksum (unfragmented, wholly captured frames; a UDP checksum of 0 means none), the ICMP
//! checksum (same condition) and the IPv4 header quoted in an ICMP error. The checks use the
//! RFC 1071 routine below, not eipsim's.
//!
//! Capture point `instance`: a DNAT'd frame whose input checksums all verified, taken as the
//! instance received it and restored, is the input again (but for the MACs the gateway wrote),
//! and the core then delivers exactly the bytes the instance received.
#![no_main]

use std::sync::LazyLock;

use eipsim::dataplane::{Action, Dataplane, Outcome};
use eipsim::model::Cloud;
use eipsim::wire::{LinkType, ipv4_offset};
use libfuzzer_sys::fuzz_target;

const LINKS: [LinkType; 7] = [
    LinkType::Ethernet,
    LinkType::RawIp,
    LinkType::Ipv4,
    LinkType::LinuxSll,
    LinkType::LinuxSll2,
    LinkType::Null,
    LinkType::Loop,
];

static DATAPLANE: LazyLock<Dataplane> = LazyLock::new(|| {
    let cloud = Cloud::from_toml(include_str!("../../pcaps/demo-topology.toml"))
        .expect("the demo topology is valid");
    Dataplane::new(&cloud)
});

/// RFC 1071: the one's-complement sum of `data` as big-endian 16-bit words (an odd last byte
/// padded with zero), plus `initial`, folded to 16 bits. A checksum verifies when the sum over
/// the covered bytes (checksum field included) is 0xffff.
fn ones_sum(initial: u32, data: &[u8]) -> u16 {
    let mut sum = u64::from(initial);
    let mut words = data.chunks_exact(2);
    for w in &mut words {
        sum += u64::from(u16::from_be_bytes([w[0], w[1]]));
    }
    if let [last] = words.remainder() {
        sum += u64::from(*last) << 8;
    }
    while sum >> 16 != 0 {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    sum as u16
}

fn verifies(initial: u32, data: &[u8]) -> bool {
    ones_sum(initial, data) == 0xffff
}

/// Which checksums of a frame verify (`None`: not present or not checkable).
#[derive(Debug, Default)]
struct Checks {
    ip: Option<bool>,
    l4: Option<bool>,
    quoted_ip: Option<bool>,
    /// A checksum field holds 0xffff where a full recomputation would write 0 (both verify;
    /// an incremental update there and back gives the canonical 0), or the frame is an ICMP
    /// error (its quoted L4 checksum cannot be verified).
    not_canonical: bool,
}

fn ipv4_header(b: &[u8]) -> Option<&[u8]> {
    let first = *b.first()?;
    let ihl = usize::from(first & 0x0f) * 4;
    (first >> 4 == 4 && ihl >= 20)
        .then(|| b.get(..ihl))
        .flatten()
}

impl Checks {
    fn of(link: LinkType, frame: &[u8]) -> Checks {
        let mut c = Checks::default();
        let Ok(l3) = ipv4_offset(link, frame) else {
            return c;
        };
        let Some(hdr) = frame.get(l3..).and_then(ipv4_header) else {
            return c;
        };
        c.ip = Some(verifies(0, hdr));
        c.not_canonical = hdr[10..12] == [0xff, 0xff];
        let ihl = hdr.len();
        let total = usize::from(u16::from_be_bytes([hdr[2], hdr[3]]));
        if total < ihl {
            return c;
        }
        let flags_frag = u16::from_be_bytes([hdr[6], hdr[7]]);
        let first_fragment = flags_frag & 0x1fff == 0;
        let whole = first_fragment && flags_frag & 0x2000 == 0 && l3 + total <= frame.len();
        let proto = hdr[9];
        let end = (l3 + total).min(frame.len());
        let seg = &frame[l3 + ihl..end];
        if whole {
            let pseudo = u32::from(u16::from_be_bytes([hdr[12], hdr[13]]))
                + u32::from(u16::from_be_bytes([hdr[14], hdr[15]]))
                + u32::from(u16::from_be_bytes([hdr[16], hdr[17]]))
                + u32::from(u16::from_be_bytes([hdr[18], hdr[19]]))
                + u32::from(proto)
                + seg.len() as u32;
            c.l4 = match proto {
                6 if seg.len() >= 20 => Some(verifies(pseudo, seg)),
                17 if seg.len() >= 8 && (seg[6], seg[7]) != (0, 0) => Some(verifies(pseudo, seg)),
                1 if seg.len() >= 4 => Some(verifies(0, seg)),
                _ => None,
            };
        }
        // Updated incrementally even when it cannot be verified (a frame cut by the snap length).
        if first_fragment {
            let at = match proto {
                6 => 16,
                1 => 2,
                _ => usize::MAX,
            };
            c.not_canonical |= seg.get(at..at.saturating_add(2)) == Some(&[0xff, 0xff][..]);
        }
        // An ICMP error quotes the offending packet's IPv4 header after its 8-byte header.
        if proto == 1
            && first_fragment
            && seg
                .first()
                .is_some_and(|t| matches!(t, 3 | 4 | 5 | 11 | 12))
        {
            c.quoted_ip = seg.get(8..).and_then(ipv4_header).map(|h| verifies(0, h));
            c.not_canonical = true;
        }
        c
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&pick, input)) = data.split_first() else {
        return;
    };
    let link = LINKS[usize::from(pick) % LINKS.len()];
    let mut frame = input.to_vec();
    let verdict = DATAPLANE.process(&mut frame, link);
    match verdict.outcome {
        Outcome::Drop(_) => assert_eq!(frame, input, "a dropped frame is left unchanged"),
        Outcome::Forward(..) => {
            assert_eq!(frame.len(), input.len());
            let before = Checks::of(link, input);
            let after = Checks::of(link, &frame);
            let pairs = [
                ("IPv4 header", before.ip, after.ip),
                ("TCP/UDP/ICMP", before.l4, after.l4),
                ("quoted IPv4 header", before.quoted_ip, after.quoted_ip),
            ];
            let all_verified =
                pairs.iter().all(|(_, b, _)| *b != Some(false)) && !before.not_canonical;
            for (what, b, a) in pairs {
                if b == Some(true) {
                    assert_eq!(
                        a,
                        Some(true),
                        "{what} checksum verified on input but not on output ({link:?}, {:?})",
                        verdict.outcome
                    );
                }
            }
            if matches!(verdict.outcome, Outcome::Forward(_, Action::Dnat)) && all_verified {
                let mut restored = frame.clone();
                if DATAPLANE.restore_received(&mut restored, link) {
                    let macs = if link == LinkType::Ethernet { 12 } else { 0 };
                    assert_eq!(
                        &restored[macs..],
                        &input[macs..],
                        "restore undoes the DNAT ({link:?})"
                    );
                    let mut again = restored;
                    DATAPLANE.process(&mut again, link);
                    assert_eq!(again, frame, "the core delivers the captured bytes again");
                }
            }
        }
    }
});
