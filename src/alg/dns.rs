//! DNS (RFC 1035) over UDP, and over TCP with its 2-byte length prefix: the A records of every
//! section, parsed with simple-dns (name compression included).

use std::net::Ipv4Addr;

use simple_dns::Packet;
use simple_dns::rdata::RData;

use super::Embedded;

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

fn scan_message(msg: &[u8], base: usize, out: &mut Vec<Embedded>) {
    let Ok(p) = Packet::parse(msg) else {
        return;
    };
    let sections = [
        ("DNS answer A", &p.answers),
        ("DNS authority A", &p.name_servers),
        ("DNS additional A", &p.additional_records),
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
}
