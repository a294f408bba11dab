//! Settings a replay takes from its surroundings: how many output files may stay open, and the
//! format of the output captures from the inputs'.

use super::input::CaptureReader;
use super::output::OutFormat;

/// ENI output files kept open at once when the process's limit is unknown; the others are
/// suspended (closed, reopened to append).
pub const MAX_OPEN: usize = 256;

/// How many ENI output files to keep open: the soft `RLIMIT_NOFILE` (read from
/// `/proc/self/limits`) less a margin for inputs and the other outputs, at most 16384.
pub fn open_file_budget() -> usize {
    let soft = std::fs::read_to_string("/proc/self/limits")
        .ok()
        .and_then(|t| {
            t.lines()
                .find(|l| l.starts_with("Max open files"))
                .and_then(|l| l.split_whitespace().nth(3))
                .and_then(|v| v.parse::<usize>().ok())
        });
    match soft {
        Some(n) if n > 128 => (n - 64).min(16384),
        _ => MAX_OPEN,
    }
}

/// The output captures' format: pcap with the inputs' header when every input is pcap of one
/// link type and time resolution (the largest snap length), pcapng otherwise.
pub(super) fn out_format(readers: &[Option<CaptureReader>]) -> OutFormat {
    let mut first = None;
    for r in readers.iter().flatten() {
        match (r.pcap_header(), first) {
            (None, _) => return OutFormat::PcapNg,
            (Some(h), None) => first = Some(h),
            (Some(h), Some(f)) => {
                if h.datalink != f.datalink || h.ts_resolution != f.ts_resolution {
                    return OutFormat::PcapNg;
                }
                if h.snaplen > f.snaplen {
                    first = Some(pcap_file::pcap::PcapHeader {
                        snaplen: h.snaplen,
                        ..f
                    });
                }
            }
        }
    }
    match first {
        Some(h) => OutFormat::Pcap(h),
        None => OutFormat::PcapNg,
    }
}
