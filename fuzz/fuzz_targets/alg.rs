//! Any bytes through the ALG parsers (FTP lines, SIP/SDP messages) and the identification:
//! no panic, and every item found lies inside the payload.
#![no_main]

use eipsim::alg::{self, Protocol};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    for p in [Protocol::Ftp, Protocol::Sip] {
        for e in alg::scan(p, data) {
            assert!(
                e.offset <= data.len(),
                "{p}: offset {} past {}",
                e.offset,
                data.len()
            );
            let _ = e.value();
        }
    }
    if data.len() >= 4 {
        let ports = u16::from_be_bytes([data[0], data[1]]);
        let _ = alg::identify(17, ports, ports.rotate_left(3), &data[2..]);
    }
});
