//! Any bytes through every ALG parser (FTP, SIP/SDP, RTSP, DNS over UDP and TCP, TFTP, H.323
//! TPKT and its pattern search) and the identification: no panic, every item found lies inside
//! the payload, and an item's address is in the payload's bytes where the item says (its line,
//! value or message: dotted text, FTP's comma form, or the four bytes on the wire).
#![no_main]

use eipsim::alg::{self, Protocol, ScanContext};
use libfuzzer_sys::fuzz_target;

const PROTOCOLS: [Protocol; 6] = [
    Protocol::Ftp,
    Protocol::Sip,
    Protocol::Rtsp,
    Protocol::Dns,
    Protocol::Tftp,
    Protocol::H323,
];

fuzz_target!(|data: &[u8]| {
    for tcp in [false, true] {
        let ctx = ScanContext {
            tcp,
            vpc: "10.0.0.0/8".parse().expect("cidr"),
        };
        for p in PROTOCOLS {
            for e in alg::scan(p, data, ctx) {
                assert!(
                    e.offset <= data.len(),
                    "{p}: offset {} past {}",
                    e.offset,
                    data.len()
                );
                let _ = e.value();
                if let Some(a) = e.addr
                    && e.len > 0
                {
                    let end = e.offset.checked_add(e.len).expect("no overflow");
                    assert!(
                        end <= data.len(),
                        "{p}: item ends at {end} past {}",
                        data.len()
                    );
                    let at = &data[e.offset..end];
                    let o = a.octets();
                    let found = |needle: &[u8]| at.windows(needle.len()).any(|w| w == needle);
                    // The numbers written in the bytes, in order (leading zeros allowed).
                    let numbers: Vec<u32> = at
                        .split(|b| !b.is_ascii_digit())
                        .filter(|r| !r.is_empty())
                        .map(|r| {
                            r.iter().fold(0u32, |n, d| {
                                n.saturating_mul(10).saturating_add(u32::from(d - b'0'))
                            })
                        })
                        .collect();
                    let as_text = numbers
                        .windows(4)
                        .any(|w| w.iter().zip(o).all(|(n, x)| *n == u32::from(x)));
                    assert!(
                        as_text || found(&o),
                        "{p}: {a} ({}) not in its bytes {}..{end}",
                        e.field,
                        e.offset
                    );
                }
            }
        }
    }
    // Reassembly: the bytes in three segments, the middle one also retransmitted.
    let (a, rest) = data.split_at(data.len() / 3);
    let (b, c) = rest.split_at(rest.len() / 2);
    let (sa, sb) = (1000u32, 1000 + a.len() as u32);
    let sc = sb + b.len() as u32;
    for p in PROTOCOLS {
        let mut st = alg::stream::Stream::default();
        for (seq, seg) in [(sa, a), (sb, b), (sb, b), (sc, c)] {
            if let Some(m) = st.feed(p, seq, seg) {
                assert!(m.len() <= data.len(), "{p}: more bytes out than in");
            }
        }
    }
    let _ = alg::tftp::parse(data);
    for (at, len) in alg::h323::tpkt_frames(data) {
        assert!(at + len <= data.len());
        let _ = alg::h323::is_q931(&data[at..at + len]);
    }
    if data.len() >= 4 {
        let port = u16::from_be_bytes([data[0], data[1]]);
        let _ = alg::identify(17, port, port.rotate_left(3), &data[2..]);
        let _ = alg::identify(6, port, port.rotate_left(5), &data[2..]);
    }
});
