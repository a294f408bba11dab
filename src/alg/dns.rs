//! DNS (RFC 1035) over UDP, and over TCP with its 2-byte length prefix: the A records of every
//! section, parsed with simple-dns (name compression included). A message simple-dns refuses
//! (an RFC 2136 UPDATE's "delete RRset" record: class ANY, RDLENGTH 0), and every UPDATE (its
//! sections are zone, prerequisite, update and additional), is walked record by record instead,
//! so that an embedded A record is never missed; the walk keeps what it found before a fault.

use std::net::Ipv4Addr;

use simple_dns::Packet;
use simple_dns::rdata::RData;

use super::{Embedded, Field};

/// The A records of the DNS messages in a payload. Over TCP, each message is prefixed by its
/// length; a message cut short by the segment is skipped.
pub fn scan(payload: &[u8], tcp: bool) -> Vec<Embedded> {
    let mut out = Vec::new();
    if tcp {
        let mut at = 0;
        while at + 2 <= payload.len() {
            let len = usize::from(u16::from_be_bytes([payload[at], payload[at + 1]]));
            let Some(msg) = payload.get(at + 2..at + 2 + len) else {
                break;
            };
            scan_message(msg, at + 2, &mut out);
            at += 2 + len;
        }
    } else {
        scan_message(payload, 0, &mut out);
    }
    out
}

/// The DNS opcode of an UPDATE message (RFC 2136).
const OPCODE_UPDATE: u8 = 5;

fn scan_message(msg: &[u8], base: usize, out: &mut Vec<Embedded>) {
    let update = msg.get(2).is_some_and(|b| (b >> 3) & 0x0f == OPCODE_UPDATE);
    let parsed = if update {
        None
    } else {
        Packet::parse(msg).ok()
    };
    let Some(p) = parsed else {
        walk(msg, base, out);
        return;
    };
    let sections = [
        (Field::DnsAnswerA, &p.answers),
        (Field::DnsAuthorityA, &p.name_servers),
        (Field::DnsAdditionalA, &p.additional_records),
    ];
    for (field, records) in sections {
        for r in records.iter() {
            if let RData::A(a) = &r.rdata {
                out.push(Embedded::new(
                    field,
                    Some(Ipv4Addr::from(a.address)),
                    None,
                    base,
                    msg.len(),
                ));
            }
        }
    }
}

/// Skips a domain name at `at` (labels, ending with a zero label or a compression pointer);
/// returns the offset after it.
fn skip_name(msg: &[u8], mut at: usize) -> Option<usize> {
    // A name is at most 255 bytes: at most 128 labels.
    for _ in 0..128 {
        let len = *msg.get(at)?;
        match len >> 6 {
            0 if len == 0 => return Some(at + 1),
            0 => at += 1 + usize::from(len),
            3 => return (at + 2 <= msg.len()).then_some(at + 2),
            _ => return None,
        }
    }
    None
}

/// Walks a message record by record (RFC 1035 section 4.1, RFC 2136 section 2): every A
/// record (type 1, RDLENGTH 4) of any class in the sections after the question (zone) section.
fn walk(msg: &[u8], base: usize, out: &mut Vec<Embedded>) {
    let Some(h) = msg.get(..12) else {
        return;
    };
    let count = |i: usize| usize::from(u16::from_be_bytes([h[i], h[i + 1]]));
    let update = (h[2] >> 3) & 0x0f == OPCODE_UPDATE;
    let names = if update {
        [
            Field::DnsPrerequisiteA,
            Field::DnsUpdateA,
            Field::DnsAdditionalA,
        ]
    } else {
        [
            Field::DnsAnswerA,
            Field::DnsAuthorityA,
            Field::DnsAdditionalA,
        ]
    };
    let mut at = 12;
    for _ in 0..count(4) {
        let Some(next) = skip_name(msg, at) else {
            return;
        };
        at = next + 4;
    }
    for (k, field) in names.into_iter().enumerate() {
        for _ in 0..count(6 + 2 * k) {
            let Some(next) = skip_name(msg, at) else {
                return;
            };
            let Some(fixed) = msg.get(next..next + 10) else {
                return;
            };
            let rtype = u16::from_be_bytes([fixed[0], fixed[1]]);
            let rdlen = usize::from(u16::from_be_bytes([fixed[8], fixed[9]]));
            let rdata = next + 10;
            let Some(data) = msg.get(rdata..rdata + rdlen) else {
                return;
            };
            if rtype == 1 && rdlen == 4 {
                out.push(Embedded::new(
                    field,
                    Some(Ipv4Addr::new(data[0], data[1], data[2], data[3])),
                    None,
                    base,
                    msg.len(),
                ));
            }
            at = rdata + rdlen;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer() -> Vec<u8> {
        let mut a = vec![0x12, 0x34, 0x81, 0x80, 0, 1, 0, 1, 0, 0, 0, 0];
        a.extend_from_slice(b"\x04demo\x07example\x00\x00\x01\x00\x01");
        a.extend_from_slice(&[0xc0, 0x0c, 0, 1, 0, 1, 0, 0, 0x0e, 0x10, 0, 4, 10, 0, 0, 7]);
        a
    }

    #[test]
    fn a_record_over_udp_and_tcp() {
        let v = scan(&answer(), false);
        assert_eq!(v.len(), 1);
        assert_eq!(v[0].addr, Some(Ipv4Addr::new(10, 0, 0, 7)));
        let mut t = (answer().len() as u16).to_be_bytes().to_vec();
        t.extend_from_slice(&answer());
        let v = scan(&t, true);
        assert_eq!(v.len(), 1);
        assert_eq!(v[0].offset, 2);
        assert!(scan(&t[..10], true).is_empty());
        assert!(scan(b"garbage", false).is_empty());
    }

    /// An RFC 2136 UPDATE from a private host: zone example.com SOA; update section: delete
    /// the RRset of host1 (class ANY, RDLENGTH 0), add host1 A 10.0.0.5 and host2 A 10.0.0.6.
    pub(crate) fn update() -> Vec<u8> {
        let mut m = vec![0xab, 0xcd, 0x28, 0x00, 0, 1, 0, 0, 0, 3, 0, 0];
        m.extend_from_slice(b"\x07example\x03com\x00\x00\x06\x00\x01");
        // delete RRset: host1.example.com ANY A, TTL 0, RDLENGTH 0
        m.extend_from_slice(b"\x05host1\xc0\x0c\x00\x01\x00\xff\x00\x00\x00\x00\x00\x00");
        m.extend_from_slice(b"\x05host1\xc0\x0c\x00\x01\x00\x01\x00\x00\x0e\x10\x00\x04");
        m.extend_from_slice(&[10, 0, 0, 5]);
        m.extend_from_slice(b"\x05host2\xc0\x0c\x00\x01\x00\x01\x00\x00\x0e\x10\x00\x04");
        m.extend_from_slice(&[10, 0, 0, 6]);
        m
    }

    #[test]
    fn update_with_a_delete_rrset_record_reports_every_a_record() {
        let v = scan(&update(), false);
        let addrs: Vec<_> = v.iter().map(|e| (e.field, e.addr.unwrap())).collect();
        assert_eq!(
            addrs,
            [
                (Field::DnsUpdateA, Ipv4Addr::new(10, 0, 0, 5)),
                (Field::DnsUpdateA, Ipv4Addr::new(10, 0, 0, 6))
            ]
        );
        // Cut short after the first A record: that one is still reported.
        let m = update();
        let v = scan(&m[..m.len() - 3], false);
        assert_eq!(v.len(), 1);
    }

    #[test]
    fn a_query_simple_dns_refuses_is_walked() {
        // An answer whose second record is class ANY with RDLENGTH 0 (not a valid answer).
        let mut a = answer();
        a[7] = 2;
        a.extend_from_slice(&[0xc0, 0x0c, 0, 1, 0, 0xff, 0, 0, 0, 0, 0, 0]);
        let v = scan(&a, false);
        assert_eq!(v.len(), 1);
        assert_eq!(v[0].addr, Some(Ipv4Addr::new(10, 0, 0, 7)));
    }
}
