//! Any bytes as a pcap or pcapng file: `CaptureReader` gives frames, then the end or an error,
//! and never panics (nor loops forever: libFuzzer's timeout catches that).
#![no_main]

use std::path::Path;

use eipsim::replay::input::CaptureReader;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut reader = match CaptureReader::from_bytes(Path::new("fuzz.pcap"), data.to_vec()) {
        Ok(r) => r,
        Err(e) => {
            let _ = e.to_string();
            return;
        }
    };
    let _ = (reader.format(), reader.pcap_header(), reader.path());
    let mut buf = Vec::new();
    loop {
        buf.clear();
        match reader.next_frame(&mut buf) {
            Ok(Some(meta)) => {
                assert!(meta.record > 0, "records are numbered from 1");
                let _ = reader.iface_desc(&meta);
            }
            Ok(None) => break,
            Err(e) => {
                let _ = e.to_string();
                break;
            }
        }
    }
});
