//! Any bytes as a pcap or pcapng file: `CaptureReader` gives frames, then the end or an error,
//! and never panics (nor loops forever: libFuzzer's timeout catches that). Every record is
//! given once: record numbers only grow, a frame's bytes come from the file, and no more frames
//! come than records could fit in the bytes.
//!
//! Then the replay's writer: the records read are written back with `CaptureWriter` as the
//! replay writes them (pcap with the input's header when the input is pcap; pcapng, with a
//! packet comment as `dropped.pcapng` has, always), and each file read again must give the same
//! records: same bytes, original length, link type and capture time (and, pcap to pcap, the same
//! stored timestamp and file header).
#![no_main]

use std::path::{Path, PathBuf};

use eipsim::replay::input::{CaptureReader, Format, Meta, Stamp};
use eipsim::replay::output::{CaptureWriter, OutFormat};
use libfuzzer_sys::fuzz_target;

/// One record as read: its metadata, capture time (ns) and bytes.
struct Record {
    meta: Meta,
    time_ns: i128,
    data: Vec<u8>,
}

/// A directory of this process's own for the written files.
fn scratch() -> PathBuf {
    let dir = std::env::temp_dir().join(format!("eipsim-fuzz-capture-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("scratch dir");
    dir
}

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
    let mut records = Vec::new();
    let mut descs = Vec::new();
    loop {
        buf.clear();
        match reader.next_frame(&mut buf) {
            Ok(Some(meta)) => {
                assert!(meta.record > 0, "records are numbered from 1");
                assert!(meta.record > last, "record {} after {last}", meta.record);
                last = meta.record;
                // A record has a 16-byte header (pcap) or more (pcapng) besides its bytes.
                assert!(
                    (records.len() + 1) * 16 <= data.len(),
                    "{} frames from {} bytes",
                    records.len() + 1,
                    data.len()
                );
                assert!(buf.len() <= data.len(), "a frame larger than the file");
                descs.push(reader.iface_desc(&meta));
                records.push(Record {
                    meta,
                    time_ns: reader.time_ns(&meta),
                    data: buf.clone(),
                });
            }
            Ok(None) => break,
            Err(e) => {
                let _ = e.to_string();
                break;
            }
        }
    }

    let dir = scratch();
    if reader.format() == Format::Pcap {
        let header = reader.pcap_header().expect("a pcap file has a header");
        let back = write_and_read(
            &dir.join("out.pcap"),
            OutFormat::Pcap(header),
            &records,
            &descs,
            None,
        );
        assert_eq!(back.format(), Format::Pcap, "pcap written, pcap read");
        assert_eq!(back.pcap_header(), Some(header), "pcap file header");
        compare(back, &records, true);
    }
    let back = write_and_read(
        &dir.join("out.pcapng"),
        OutFormat::PcapNg,
        &records,
        &descs,
        Some("malformed"),
    );
    assert_eq!(back.format(), Format::PcapNg, "pcapng written, pcapng read");
    compare(back, &records, false);
});

/// Writes `records` with the replay's writer, then opens the file again.
fn write_and_read(
    dest: &Path,
    format: OutFormat,
    records: &[Record],
    descs: &[eipsim::replay::input::IfaceDesc],
    comment: Option<&'static str>,
) -> CaptureReader {
    let mut w = CaptureWriter::create(dest.to_path_buf(), format).expect("create the output");
    for (r, d) in records.iter().zip(descs) {
        w.write(&r.meta, d, &r.data, comment)
            .expect("write a record");
    }
    assert_eq!(w.frames, records.len() as u64, "frames counted");
    let path = w.finish().expect("finish the output");
    CaptureReader::open(&path).expect("the written file opens")
}

/// Reads every record of `back` and compares it with the one written.
fn compare(mut back: CaptureReader, records: &[Record], same_stamp: bool) {
    let mut buf = Vec::new();
    for (i, r) in records.iter().enumerate() {
        buf.clear();
        let m = match back.next_frame(&mut buf) {
            Ok(Some(m)) => m,
            Ok(None) => panic!("written file ends after {i} of {} records", records.len()),
            Err(e) => panic!("written file, record {}: {e}", i + 1),
        };
        assert_eq!(m.record, i as u64 + 1, "records numbered in order");
        assert_eq!(buf, r.data, "record {}: bytes", i + 1);
        let orig = r.meta.orig_len.max(r.data.len() as u32);
        assert_eq!(m.orig_len, orig, "record {}: original length", i + 1);
        assert_eq!(m.linktype, r.meta.linktype, "record {}: link type", i + 1);
        assert_eq!(m.link, r.meta.link, "record {}: link", i + 1);
        assert_eq!(
            back.time_ns(&m),
            r.time_ns,
            "record {}: capture time",
            i + 1
        );
        if same_stamp {
            assert_eq!(m.stamp, r.meta.stamp, "record {}: timestamp", i + 1);
        } else {
            assert!(matches!(m.stamp, Stamp::PcapNg { .. }), "a pcapng stamp");
        }
    }
    buf.clear();
    match back.next_frame(&mut buf) {
        Ok(None) => {}
        Ok(Some(m)) => panic!("written file has an extra record {}", m.record),
        Err(e) => panic!("written file, after the last record: {e}"),
    }
}
