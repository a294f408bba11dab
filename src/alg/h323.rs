//! H.323: TPKT (RFC 1006) framing of Q.931 / H.225 on TCP 1720 and H.245, and RAS on UDP 1719.
//! The transport addresses inside H.225 and H.245 are ASN.1 PER encoded; eipsim does not decode
//! PER. It finds them as a pattern: 4 bytes that form an address the topology knows (inside the
//! VPC CIDR) followed by a 2-byte port, which is how a `TransportAddress` `ipAddress` lays out
//! its `ip` and `port` octets. A pattern search can both miss and over-report; findings say so.

use std::net::Ipv4Addr;

use super::{Embedded, Field};
use crate::model::Ipv4Cidr;

/// The Q.931 messages inside TPKT frames of a payload: (offset, length) of each.
pub fn tpkt_frames(p: &[u8]) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    let mut at = 0;
    while at + 4 <= p.len() && p[at] == 3 && p[at + 1] == 0 {
        let len = usize::from(u16::from_be_bytes([p[at + 2], p[at + 3]]));
        if len < 4 || at + len > p.len() {
            break;
        }
        out.push((at + 4, len - 4));
        at += len;
    }
    out
}

/// Whether a TPKT payload starts with a Q.931 message (protocol discriminator 8).
pub fn is_q931(msg: &[u8]) -> bool {
    msg.first() == Some(&0x08)
}

/// Address-and-port patterns for addresses inside `vpc`.
pub fn scan(payload: &[u8], vpc: Ipv4Cidr) -> Vec<Embedded> {
    let mut out = Vec::new();
    if payload.len() < 6 {
        return out;
    }
    let mut i = 0;
    while i + 6 <= payload.len() {
        let a = Ipv4Addr::new(payload[i], payload[i + 1], payload[i + 2], payload[i + 3]);
        if vpc.contains(a) {
            let port = u16::from_be_bytes([payload[i + 4], payload[i + 5]]);
            if port != 0 {
                out.push(Embedded::new(Field::H323Pattern, Some(a), Some(port), i, 6));
                i += 6;
                continue;
            }
        }
        i += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tpkt_and_pattern() {
        let mut p = vec![3, 0, 0, 14, 0x08, 2, 0, 1, 0x05, 10, 1, 6, 18, 0x04];
        p.extend_from_slice(&[0xd0]);
        assert_eq!(tpkt_frames(&p), vec![(4, 10)]);
        assert!(is_q931(&p[4..]));
        let vpc: Ipv4Cidr = "10.0.0.0/8".parse().unwrap();
        let v = scan(&[0, 0x0a, 1, 6, 18, 0x04, 0xd0, 0], vpc);
        assert_eq!(v.len(), 1);
        assert_eq!(v[0].addr, Some(Ipv4Addr::new(10, 1, 6, 18)));
        assert_eq!(v[0].port, Some(1232));
        assert!(scan(&[192, 168, 1, 1, 0, 80], vpc).is_empty());
    }
}
