//! Comparing what eipsim and the kernel sent out of one side: fragments reassembled on both
//! sides, datagrams matched by (addresses, protocol, IP id) in order, and every difference
//! classified by the fields it touches.

use std::collections::{BTreeMap, HashMap, VecDeque};

use etherparse::checksum::Sum16BitWords;

/// Whether a one's complement sum over `parts` checks (sums to all ones).
fn checks(parts: &[&[u8]]) -> bool {
    parts
        .iter()
        .fold(Sum16BitWords::new(), |s, p| s.add_slice(p))
        .ones_complement()
        == 0
}

/// The IPv4 header length of a datagram (0 when it is not one).
fn ihl(d: &[u8]) -> usize {
    if d.len() < 20 || d[0] >> 4 != 4 {
        return 0;
    }
    usize::from(d[0] & 0x0f) * 4
}

/// Whether the IPv4 header checksum of `d` is right.
pub fn header_ok(d: &[u8]) -> bool {
    let h = ihl(d);
    h >= 20 && d.len() >= h && checks(&[&d[..h]])
}

/// A reassembled side: the datagrams, and the faults seen on the way.
#[derive(Default)]
pub struct Side {
    /// Datagrams, whole (fragments reassembled, at the place of their first fragment), each
    /// with whether it was reassembled from fragments.
    pub datagrams: Vec<(Vec<u8>, bool)>,
    /// Packets (fragments included) whose IPv4 header checksum is wrong.
    pub bad_header_checksums: usize,
    /// Fragmented datagrams left incomplete.
    pub incomplete: usize,
}

type Key = ([u8; 4], [u8; 4], u8, u16);
/// A fragment: its offset, its MF bit, its bytes.
type Fragment = (usize, bool, Vec<u8>);

fn key(d: &[u8]) -> Key {
    let a = |i: usize| [d[i], d[i + 1], d[i + 2], d[i + 3]];
    (a(12), a(16), d[9], u16::from_be_bytes([d[4], d[5]]))
}

/// Reassembles the fragments of `packets` (IP bytes). A reassembled datagram has the first
/// fragment's header (its DF bit kept), no fragment offset nor MF, its full length and a
/// recomputed header checksum.
pub fn reassemble(packets: &[Vec<u8>]) -> Side {
    let mut side = Side::default();
    let mut slots: Vec<Option<(Vec<u8>, bool)>> = Vec::new();
    // Per datagram being reassembled: its slot, its fragments (offset, MF, bytes).
    let mut open: HashMap<Key, (usize, Vec<Fragment>)> = HashMap::new();
    for p in packets {
        let h = ihl(p);
        if h == 0 || p.len() < h {
            slots.push(Some((p.clone(), false)));
            continue;
        }
        if !header_ok(p) {
            side.bad_header_checksums += 1;
        }
        let fo = u16::from_be_bytes([p[6], p[7]]);
        let (mf, off) = (fo & 0x2000 != 0, usize::from(fo & 0x1fff) * 8);
        if !mf && off == 0 {
            slots.push(Some((p.clone(), false)));
            continue;
        }
        let k = key(p);
        let entry = open.entry(k).or_insert_with(|| {
            slots.push(None);
            (slots.len() - 1, Vec::new())
        });
        entry.1.push((off, mf, p.clone()));
        if let Some(whole) = whole(&entry.1) {
            slots[entry.0] = Some((whole, true));
            open.remove(&k);
        }
    }
    side.incomplete = open.len();
    side.datagrams = slots.into_iter().flatten().collect();
    side
}

/// The datagram of `frags` when they cover it all.
fn whole(frags: &[Fragment]) -> Option<Vec<u8>> {
    let first = frags.iter().find(|f| f.0 == 0)?;
    let last = frags.iter().find(|f| !f.1)?;
    let end = last.0 + last.2.len() - ihl(&last.2);
    let mut have = vec![false; end];
    let h = ihl(&first.2);
    let mut out = first.2[..h].to_vec();
    out.resize(h + end, 0);
    for (off, _, bytes) in frags {
        let data = &bytes[ihl(bytes)..];
        if off + data.len() > end {
            return None;
        }
        out[h + off..h + off + data.len()].copy_from_slice(data);
        have[*off..off + data.len()].fill(true);
    }
    if have.contains(&false) {
        return None;
    }
    let df = out[6] & 0x40;
    out[6..8].copy_from_slice(&[df, 0]);
    let len = out.len() as u16;
    out[2..4].copy_from_slice(&len.to_be_bytes());
    out[10..12].fill(0);
    let sum = Sum16BitWords::new().add_slice(&out[..h]).ones_complement();
    out[10..12].copy_from_slice(&sum.to_ne_bytes());
    Some(out)
}

/// Whether the TCP or UDP checksum of datagram `d` equals a full recomputation.
fn l4_ok(d: &[u8]) -> bool {
    let h = ihl(d);
    let seg = &d[h..];
    match d[9] {
        17 if seg.len() >= 8 && seg[6..8] == [0, 0] => true,
        6 | 17 => {
            let len = (seg.len() as u16).to_be_bytes();
            checks(&[&d[12..20], &[0, d[9]], &len, seg])
        }
        1 => checks(&[seg]),
        _ => true,
    }
}

/// The names of the fields in which `a` (eipsim) and `b` (the kernel) differ. A checksum is
/// named only when one side's is wrong (`...-checksum-wrong-eipsim` or `-kernel`): a checksum
/// that differs because the bytes it covers differ is not a difference of its own.
pub fn differences(a: &[u8], b: &[u8]) -> Vec<String> {
    let mut d = Vec::new();
    let (ha, hb) = (ihl(a), ihl(b));
    if ha != hb || a.len() != b.len() {
        d.push("length".to_string());
    }
    let hdr = |name: &str, range: std::ops::Range<usize>, d: &mut Vec<String>| {
        if a.get(range.clone()) != b.get(range) {
            d.push(name.to_string());
        }
    };
    hdr("tos", 1..2, &mut d);
    if a[6] & 0x40 != b[6] & 0x40 {
        d.push("df".into());
    }
    hdr("ttl", 8..9, &mut d);
    hdr("source", 12..16, &mut d);
    hdr("destination", 16..20, &mut d);
    hdr("ip-options", 20..ha.max(hb), &mut d);
    for (ok, who) in [(header_ok(a), "eipsim"), (header_ok(b), "kernel")] {
        if !ok {
            d.push(format!("ip-checksum-wrong-{who}"));
        }
    }
    if !d.is_empty() && d.contains(&"length".to_string()) {
        return d;
    }
    let (la, lb) = (&a[ha..], &b[hb..]);
    let proto = a[9];
    let hl = match proto {
        6 if la.len() >= 20 => usize::from(la[12] >> 4) * 4,
        17 | 1 => 8,
        _ => 0,
    }
    .min(la.len());
    if matches!(proto, 6 | 17) && la.len() >= 4 && la[..4] != lb[..4] {
        d.push("ports".into());
    }
    if proto == 1 && la.len() >= 8 && (la[..2] != lb[..2] || la[4..8] != lb[4..8]) {
        d.push("icmp-header".into());
    }
    let csum = match proto {
        6 => 16..18,
        17 | 1 => 2..4,
        _ => 0..0,
    };
    let rest_differs =
        (0..hl).any(|i| !(csum.contains(&i) || i < 4 && proto != 1) && la[i] != lb[i]);
    if proto == 6 && rest_differs {
        d.push("tcp-header".into());
    }
    for (ok, who) in [(l4_ok(a), "eipsim"), (l4_ok(b), "kernel")] {
        if !ok {
            d.push(format!("l4-checksum-wrong-{who}"));
        }
    }
    let is_error = proto == 1 && la.first().is_some_and(|t| matches!(t, 3 | 4 | 5 | 11 | 12));
    if la[hl..] != lb[hl..] {
        if is_error {
            d.extend(quoted(&la[hl..], &lb[hl..]));
        } else {
            d.push("payload".into());
        }
    }
    if d.is_empty() {
        d.push("other".into());
    }
    d
}

/// The fields in which two quoted packets (of ICMP errors) differ.
fn quoted(a: &[u8], b: &[u8]) -> Vec<String> {
    let mut d = Vec::new();
    let h = ihl(a).min(a.len());
    if h == 0 || ihl(b) != h {
        return vec!["quoted-packet".into()];
    }
    let field = |name: &str, r: std::ops::Range<usize>, d: &mut Vec<String>| {
        if a.get(r.clone()) != b.get(r) {
            d.push(name.to_string());
        }
    };
    field("quoted-source", 12..16, &mut d);
    field("quoted-destination", 16..20, &mut d);
    field("quoted-ip-checksum", 10..12, &mut d);
    field("quoted-ttl", 8..9, &mut d);
    let (qa, qb) = (&a[h..], &b[h..]);
    let csum = match a[9] {
        6 => 16..18,
        17 => 6..8,
        1 => 2..4,
        _ => 0..0,
    };
    if qa.get(csum.clone()) != qb.get(csum.clone()) {
        d.push("quoted-l4-checksum".into());
    }
    let other_l4 = qa.len() != qb.len()
        || qa
            .iter()
            .zip(qb)
            .enumerate()
            .any(|(i, (x, y))| !csum.contains(&i) && x != y);
    let other_ip = (0..h).any(|i| !(8..20).contains(&i) && a[i] != b[i]);
    if other_l4 || other_ip {
        d.push("quoted-other".into());
    }
    d
}

/// One side's comparison: the count per class (`identical`, a `+`-joined list of differing
/// fields, `eipsim-only`, `kernel-only`), and an example of each class.
pub fn compare(
    eipsim: &[(Vec<u8>, bool)],
    kernel: &[(Vec<u8>, bool)],
) -> (BTreeMap<String, usize>, BTreeMap<String, String>) {
    let mut counts = BTreeMap::new();
    let mut examples = BTreeMap::new();
    let mut by_key: HashMap<Key, VecDeque<usize>> = HashMap::new();
    for (i, (k, _)) in kernel.iter().enumerate() {
        if ihl(k) != 0 {
            by_key.entry(key(k)).or_default().push_back(i);
        }
    }
    let mut note = |class: String, example: String| {
        *counts.entry(class.clone()).or_insert(0) += 1;
        examples.entry(class).or_insert(example);
    };
    let show = |d: &[u8]| {
        if ihl(d) == 0 {
            return format!("{} bytes, not IPv4", d.len());
        }
        let (s, t, p, id) = key(d);
        format!(
            "{}.{}.{}.{} -> {}.{}.{}.{} proto {p} id {id:#06x} len {}",
            s[0],
            s[1],
            s[2],
            s[3],
            t[0],
            t[1],
            t[2],
            t[3],
            d.len()
        )
    };
    for (e, reassembled) in eipsim {
        let k = (ihl(e) != 0).then(|| key(e));
        match k
            .and_then(|k| by_key.get_mut(&k))
            .and_then(VecDeque::pop_front)
        {
            Some(i) if kernel[i].0 == *e => note("identical".into(), show(e)),
            Some(i) => {
                let mut d = differences(e, &kernel[i].0);
                // The DF bit of a datagram that crossed as fragments is its own class.
                for f in d.iter_mut().filter(|f| *f == "df" && *reassembled) {
                    *f = "df-of-fragments".into();
                }
                let k = &kernel[i].0;
                let n = 64.min(e.len()).min(k.len());
                note(
                    d.join("+"),
                    format!(
                        "{} | eipsim {:02x?} | kernel {:02x?}",
                        show(e),
                        &e[..n],
                        &k[..n]
                    ),
                );
            }
            // A datagram shorter than its own total length (a capture cut at its snap
            // length): the kernel's IP layer drops it before any NAT.
            None if ihl(e) != 0 && usize::from(u16::from_be_bytes([e[2], e[3]])) > e.len() => {
                note("eipsim-only-truncated".into(), show(e))
            }
            None => note("eipsim-only".into(), show(e)),
        }
    }
    for q in by_key.values() {
        for &i in q {
            note("kernel-only".into(), show(&kernel[i].0));
        }
    }
    (counts, examples)
}
