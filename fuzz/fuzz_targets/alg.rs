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
