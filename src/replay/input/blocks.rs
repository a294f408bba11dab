//! Checks and repairs of capture blocks before pcap-file parses them: magic numbers, record
//! and block lengths, and pcapng text options that are not UTF-8.

use super::*;

pub(super) const PCAP_MAGICS: [[u8; 4]; 4] = [
    [0xd4, 0xc3, 0xb2, 0xa1],
    [0xa1, 0xb2, 0xc3, 0xd4],
    [0x4d, 0x3c, 0xb2, 0xa1],
    [0xa1, 0xb2, 0x3c, 0x4d],
];
pub(super) const PCAPNG_MAGIC: [u8; 4] = [0x0a, 0x0d, 0x0d, 0x0a];

/// The LINKTYPE proper: the low 16 bits (the upper bits of a pcap header's field carry FCS
/// information).
pub(super) fn linktype_value(dl: pcap_file::DataLink) -> u32 {
    u32::from(dl) & 0xffff
}

pub(super) fn map_pcap_error(e: PcapError) -> String {
    match e {
        PcapError::IncompleteBuffer => "cut short: the file ends inside it".into(),
        PcapError::IoError(io) if io.kind() == std::io::ErrorKind::UnexpectedEof => {
            "cut short or its length field is corrupt: the file ends inside it".into()
        }
        PcapError::IoError(io) => format!("read error: {io}"),
        PcapError::InvalidField(f) => format!("invalid field: {f}"),
        PcapError::Utf8Error(_) | PcapError::FromUtf8Error(_) => {
            "invalid field: a text option is not UTF-8".into()
        }
        PcapError::InvalidInterfaceId(id) => {
            format!("invalid field: interface id {id} has no interface description block")
        }
    }
}

/// A length in MB (MiB), one decimal.
pub(super) fn mb(n: u64) -> String {
    format!("{:.1} MB", n as f64 / f64::from(1u32 << 20))
}

pub(super) fn read_u32(b: &[u8], big: bool) -> u32 {
    let a = [b[0], b[1], b[2], b[3]];
    if big {
        u32::from_be_bytes(a)
    } else {
        u32::from_le_bytes(a)
    }
}

/// Why a record or block of `len` bytes (after a header of `head` bytes) is not read: the file
/// ends before it (its size known), or it is over [`MAX_RECORD`].
pub(super) fn too_large(
    src: &Buffered,
    size: Option<u64>,
    what: &str,
    head: u64,
    len: u64,
) -> String {
    let left = size.map(|s| s.saturating_sub(src.offset + head));
    match left {
        Some(left) if left < len => format!(
            "cut short or its length field is corrupt: the {what} says {len} bytes, {left} are left in the file"
        ),
        _ => format!(
            "the {what} is {} ({len} bytes); the limit is {} (or its length field is corrupt)",
            mb(len),
            mb(MAX_RECORD)
        ),
    }
}

/// Buffers the next pcapng block whole and returns its total length; `Ok(None)` at the end of
/// the file. `big`: the section's byte order (a section header gives its own); `first`: the
/// section header that opens the file.
pub(super) fn block_len(
    src: &mut Buffered,
    size: Option<u64>,
    big: bool,
    first: bool,
) -> Result<Option<usize>, String> {
    let read_err = |e: std::io::Error| format!("read error: {e}");
    let n = src.want(12).map_err(read_err)?;
    if n == 0 && !first {
        return Ok(None);
    }
    let b = src.avail();
    if n < 8 {
        return Err(format!(
            "cut short: the file ends inside a block header ({n} of 8 bytes)"
        ));
    }
    let big = if b[..4] == PCAPNG_MAGIC {
        if n < 12 {
            return Err(format!(
                "cut short: the file ends inside a section header ({n} of 12 bytes)"
            ));
        }
        match b[8..12] {
            [0x1a, 0x2b, 0x3c, 0x4d] => true,
            [0x4d, 0x3c, 0x2b, 0x1a] => false,
            _ => {
                return Err(
                    "invalid field: the section header's byte-order magic is neither 1a2b3c4d nor 4d3c2b1a"
                        .into(),
                );
            }
        }
    } else {
        big
    };
    let len = u64::from(read_u32(&b[4..8], big));
    if len < 12 || len % 4 != 0 {
        return Err(format!(
            "invalid field: block length {len} (at least 12, a multiple of 4)"
        ));
    }
    if len > MAX_RECORD {
        return Err(too_large(src, size, "block", 0, len));
    }
    let len = len as usize;
    let n = src.want(len).map_err(read_err)?;
    if n < len {
        return Err(format!(
            "cut short or its length field is corrupt: the block says {len} bytes, the file ends after {n}"
        ));
    }
    Ok(Some(len))
}

/// Whether a pcapng block is one the reader needs (section header, interface description,
/// packet blocks); others are skipped when they cannot be parsed.
pub(super) fn is_read_block(block: &[u8], big: bool) -> bool {
    block[..4] == PCAPNG_MAGIC || matches!(read_u32(&block[..4], big), 1 | 2 | 3 | 6)
}

/// Replaces the bytes that are not UTF-8 in a pcapng block's text options (comments, names,
/// descriptions, custom text options) with `?`: same length, so the block's layout holds, and
/// the capture is read as a viewer that shows such text lossily reads it. Returns whether a
/// byte changed. `big`: the section's byte order (a section header gives its own).
pub(super) fn sanitise_text_options(block: &mut [u8], big: bool) -> bool {
    let len = block.len();
    if len < 12 {
        return false;
    }
    let shb = block[..4] == PCAPNG_MAGIC;
    let big = if shb { block[8] == 0x1a } else { big };
    let u16_at = |b: &[u8], at: usize| {
        let a = [b[at], b[at + 1]];
        if big {
            u16::from_be_bytes(a)
        } else {
            u16::from_le_bytes(a)
        }
    };
    let (start, text): (usize, &[u16]) = match read_u32(&block[..4], big) {
        _ if shb => (24, &[1, 2, 3, 4]),
        1 => (16, &[1, 2, 3, 12, 15]),
        2 | 6 if len >= 28 => {
            let caplen = read_u32(&block[20..24], big) as usize;
            (28usize.saturating_add(caplen.div_ceil(4) * 4), &[1])
        }
        5 => (20, &[1]),
        _ => return false,
    };
    let end = len - 4;
    let mut at = start;
    let mut changed = false;
    while at.saturating_add(4) <= end {
        let code = u16_at(block, at);
        let olen = usize::from(u16_at(block, at + 2));
        if code == 0 {
            break;
        }
        let (vs, ve) = (at + 4, at + 4 + olen);
        if ve > end {
            break;
        }
        let from = if text.contains(&code) {
            Some(vs)
        } else if matches!(code, 2988 | 19372) {
            Some(vs + 4) // after the private enterprise number
        } else {
            None
        };
        if let Some(from) = from.filter(|f| *f <= ve) {
            changed |= replace_invalid_utf8(&mut block[from..ve]);
        }
        at = ve + (4 - olen % 4) % 4;
    }
    changed
}

/// Overwrites every byte of `v` that is not part of valid UTF-8 with `?`.
pub(super) fn replace_invalid_utf8(mut v: &mut [u8]) -> bool {
    let mut changed = false;
    loop {
        match std::str::from_utf8(v) {
            Ok(_) => return changed,
            Err(e) => {
                let bad = e.valid_up_to();
                let n = e.error_len().unwrap_or(v.len() - bad);
                v[bad..bad + n].fill(b'?');
                changed = true;
                v = &mut v[bad + n..];
            }
        }
    }
}
