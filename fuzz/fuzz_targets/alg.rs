//! Any bytes through every ALG parser (FTP, SIP/SDP, RTSP, DNS over UDP and TCP, TFTP, H.323
//! TPKT and its pattern search) and the identification: no panic, and every item found lies
//! inside the payload.
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
