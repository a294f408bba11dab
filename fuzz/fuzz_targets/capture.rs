//! Any bytes as a pcap or pcapng file: `CaptureReader` gives frames, then the end or an error,
//! and never panics (nor loops forever: libFuzzer's timeout catches that). Every record is
//! given once: record numbers only grow, a frame's bytes come from the file, and no more frames
//! come than records could fit in the bytes.
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
    let mut last = 0u64;
    let mut frames = 0usize;
    loop {
        buf.clear();
        match reader.next_frame(&mut buf) {
            Ok(Some(meta)) => {
                assert!(meta.record > 0, "records are numbered from 1");
                assert!(meta.record > last, "record {} after {last}", meta.record);
                last = meta.record;
                frames += 1;
                // A record has a 16-byte header (pcap) or more (pcapng) besides its bytes.
                assert!(
                    frames * 16 <= data.len(),
                    "{frames} frames from {} bytes",
                    data.len()
                );
                assert!(buf.len() <= data.len(), "a frame larger than the file");
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
