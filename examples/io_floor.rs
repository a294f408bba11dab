//! The I/O floor of a replay: what reading a capture and writing its frames into one file per
//! egress costs with no processing at all, to put `eipsim replay`'s time beside.
//!
//! `cargo run --release --example io_floor -- CAPTURE OUT_DIR ENIS`
//!
//! Reads a little-endian pcap (as `gen_bulk` writes it) in 1 MiB blocks and writes every record,
//! unchanged, to one of `ENIS` + 1 files in `OUT_DIR` (created; it must not exist): frames whose
//! IPv4 source is in 10.0.0.0/8 go to `internet.pcap`, the others to `eni-<K>.pcap` with K the
//! IPv4 destination modulo `ENIS`, plus an empty `dropped.pcap`. On a `gen_bulk` capture that is
//! the replay's set of outputs: as many files, as many bytes, the same frames per file (the
//! replay's ENI files are named by ENI id instead). Each file has a 64 KiB buffer. Nothing is
//! parsed beyond the record header and two addresses, nothing is counted or rewritten, and no
//! temporary names are renamed: it is a floor, not a replay.
//!
//! `benches/vs-tcprewrite.sh` runs it beside `cp` and the replay.

use std::fs::File;
use std::io::{Read, Write};
use std::path::Path;

/// Per-output buffer.
const BUF: usize = 64 << 10;
/// Bytes read at a time.
const BLOCK: usize = 1 << 20;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [capture, out, enis] = args.as_slice() else {
        eprintln!("usage: io_floor CAPTURE OUT_DIR ENIS");
        std::process::exit(2);
    };
    let enis: usize = match enis.parse() {
        Ok(n) if n > 0 => n,
        _ => {
            eprintln!("io_floor: ENIS must be a positive number, not '{enis}'");
            std::process::exit(2);
        }
    };
    if let Err(e) = run(Path::new(capture), Path::new(out), enis) {
        eprintln!("io_floor: {e}");
        std::process::exit(1);
    }
}

fn run(capture: &Path, out: &Path, enis: usize) -> std::io::Result<()> {
    let mut input = File::open(capture)?;
    let mut header = [0u8; 24];
    input.read_exact(&mut header)?;
    if header[..4] != [0xd4, 0xc3, 0xb2, 0xa1] {
        return Err(std::io::Error::other(
            "not a little-endian microsecond pcap",
        ));
    }
    std::fs::create_dir(out)?;
    // Output 0 is internet.pcap, 1..=enis the ENIs, enis + 1 dropped.pcap.
    let mut files = Vec::with_capacity(enis + 2);
    let mut bufs: Vec<Vec<u8>> = Vec::with_capacity(enis + 2);
    for i in 0..enis + 2 {
        let name = match i {
            0 => "internet.pcap".to_string(),
            i if i == enis + 1 => "dropped.pcap".to_string(),
            i => format!("eni-{}.pcap", i - 1),
        };
        files.push(File::create(out.join(name))?);
        let mut b = Vec::with_capacity(BUF);
        b.extend_from_slice(&header);
        bufs.push(b);
    }
    let mut block = vec![0u8; BLOCK];
    let (mut have, mut pos) = (0usize, 0usize);
    loop {
        if have - pos < 16 || have - pos < 16 + caplen(&block[pos..have]) {
            block.copy_within(pos..have, 0);
            have -= pos;
            pos = 0;
            let got = input.read(&mut block[have..])?;
            if got == 0 {
                if have != 0 {
                    return Err(std::io::Error::other("capture ends inside a record"));
                }
                break;
            }
            have += got;
            continue;
        }
        let len = 16 + caplen(&block[pos..have]);
        let rec = &block[pos..pos + len];
        pos += len;
        let frame = &rec[16..];
        let o = if frame.len() >= 34 && frame[26] == 10 {
            0
        } else if frame.len() >= 34 {
            let dst = u32::from_be_bytes([frame[30], frame[31], frame[32], frame[33]]);
            1 + dst as usize % enis
        } else {
            enis + 1
        };
        let b = &mut bufs[o];
        if b.len() + rec.len() > BUF {
            files[o].write_all(b)?;
            b.clear();
        }
        b.extend_from_slice(rec);
    }
    for (f, b) in files.iter_mut().zip(&bufs) {
        f.write_all(b)?;
    }
    Ok(())
}

/// The captured length of the record starting `rec` (0 when fewer than 16 bytes are there).
fn caplen(rec: &[u8]) -> usize {
    if rec.len() < 16 {
        return 0;
    }
    u32::from_le_bytes([rec[8], rec[9], rec[10], rec[11]]) as usize
}
