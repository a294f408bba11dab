//! Capture input: pcap (micro/nanosecond, either byte order) and pcapng (several interfaces,
//! several sections), read with pcap-file and told apart by their magic bytes.
//!
//! The file is read in blocks of 1 MiB (more when one record is larger) into one buffer, and
//! pcap-file's parsers borrow each record from it: a frame is copied once, from the block into
//! the caller's buffer ([`CaptureReader::next_frame`]). That copy stays on purpose, and the
//! blocks are plain `Vec<u8>` rather than `bytes::BytesMut` handed out as ranges: the replay
//! rewrites frames in place (NAT), so a batch needs its frames mutable and owned by it alone; a
//! batch may join frames of two input files, or hold a frame carried over from the previous
//! block (a timed event splits batches), which ranges of one block cannot express without a
//! copy either; and the frames are small (tens of bytes), so the copy is a few cycles next to
//! the header parsing and the forwarding. Each frame is also given a dense interface number
//! ([`Meta::iface_no`]) so that consumers index tables instead of hashing keys.

use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};

use pcap_file::pcap::{PcapHeader, PcapParser};
use pcap_file::pcapng::blocks::interface_description::{
    InterfaceDescriptionBlock, InterfaceDescriptionOption,
};
use pcap_file::pcapng::{Block, PcapNgParser};
use pcap_file::{PcapError, TsResolution};

use crate::wire::LinkType;

mod blocks;
mod records;
use blocks::*;

/// A capture file's container format.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Format {
    /// Classic libpcap format.
    Pcap,
    /// pcapng.
    PcapNg,
}

impl Format {
    /// `pcap` or `pcapng`.
    pub fn as_str(self) -> &'static str {
        match self {
            Format::Pcap => "pcap",
            Format::PcapNg => "pcapng",
        }
    }
}

/// A capture that cannot be read, naming the file and, past the header, the record.
#[derive(Clone, Debug, thiserror::Error)]
#[error("capture {}{}: {message}", .file.display(), .record.map(|r| format!(": record {r}")).unwrap_or_default())]
pub struct CaptureError {
    /// The file.
    pub file: PathBuf,
    /// The 1-based record (packet) number, when the fault is in a record.
    pub record: Option<u64>,
    /// What is wrong.
    pub message: String,
}

/// Where a frame came from inside its capture, enough to write it back out faithfully.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stamp {
    /// A pcap record: seconds and fraction (micro- or nanoseconds per the file header).
    Pcap {
        /// Seconds.
        sec: u32,
        /// Micro- or nanoseconds.
        frac: u32,
        /// Whether `frac` is in nanoseconds.
        nanos: bool,
    },
    /// A pcapng packet block: the raw 64-bit timestamp in its interface's resolution.
    PcapNg {
        /// Raw timestamp units.
        raw: u64,
    },
}

/// One captured frame's metadata.
#[derive(Clone, Copy, Debug)]
pub struct Meta {
    /// Timestamp as stored.
    pub stamp: Stamp,
    /// Original length on the wire.
    pub orig_len: u32,
    /// Interface key: for pcapng, the section and interface id; 0 for pcap.
    pub iface: (u32, u32),
    /// The interface's number in its file, counted from 0 in the order the interfaces' first
    /// frames come (pcap: always 0): an index where `iface` would be a key.
    pub iface_no: u32,
    /// The interface's number in a run over several files: the reader gives `iface_no`, a
    /// caller that reads several files renumbers (the replay does, for its outputs).
    pub slot: u32,
    /// Link type.
    pub link: LinkType,
    /// Raw LINKTYPE value.
    pub linktype: u32,
    /// 1-based record number in its file.
    pub record: u64,
    /// The frame's pcapng interface has a link type eipsim does not replay (given only after
    /// [`CaptureReader::keep_unsupported_links`]): `link` is a placeholder and the frame must
    /// not be parsed; `linktype` is the interface's.
    pub unsupported_link: bool,
}

/// How a pcap or pcapng interface describes its frames (for output headers).
#[derive(Clone, Debug)]
pub struct IfaceDesc {
    /// LINKTYPE value.
    pub linktype: u32,
    /// Snap length.
    pub snaplen: u32,
    /// The pcapng IDB as read (pcapng input), with its options.
    pub idb: Option<InterfaceDescriptionBlock<'static>>,
    /// Nanosecond timestamps (pcap input).
    pub nanos: bool,
}

/// The largest record (pcap) or block (pcapng) read: 256 MiB. Wireshark's largest per link
/// type is 128 MiB (D-Bus, USBPcap); a bigger length is far more likely a corrupt field than a
/// frame, and refusing it keeps memory bounded.
pub const MAX_RECORD: u64 = 256 << 20;

/// Bytes asked of the input at a time.
const BLOCK: usize = 1 << 20;

/// The input's bytes, buffered without a size limit of its own: a record of any size up to
/// [`MAX_RECORD`] is read whole (pcap-file's readers stop at 8 MB, so its parsers are used on
/// this buffer instead).
struct Buffered {
    src: Box<dyn Read + Send>,
    buf: Vec<u8>,
    /// Start of the unread bytes in `buf`.
    pos: usize,
    /// The input has ended.
    eof: bool,
    /// File offset of `buf[pos]`.
    offset: u64,
}

impl Buffered {
    fn new(src: Box<dyn Read + Send>) -> Buffered {
        Buffered {
            src,
            buf: Vec::with_capacity(BLOCK),
            pos: 0,
            eof: false,
            offset: 0,
        }
    }

    /// The unread bytes.
    fn avail(&self) -> &[u8] {
        &self.buf[self.pos..]
    }

    /// Reads until at least `n` bytes are unread or the input ends; returns how many are.
    fn want(&mut self, n: usize) -> std::io::Result<usize> {
        while self.buf.len() - self.pos < n && !self.eof {
            if self.pos > 0 {
                self.buf.drain(..self.pos);
                self.pos = 0;
            }
            let chunk = (n - self.buf.len()).max(BLOCK) as u64;
            // `read_to_end` grows the buffer as bytes arrive: memory follows the data, not a
            // length field.
            let got = (&mut self.src).take(chunk).read_to_end(&mut self.buf)?;
            if (got as u64) < chunk {
                self.eof = true;
            }
        }
        Ok(self.buf.len() - self.pos)
    }

    fn consume(&mut self, n: usize) {
        self.pos += n;
        self.offset += n as u64;
    }
}

enum Inner {
    Pcap(PcapParser),
    PcapNg(Box<PcapNgParser>),
}

/// A streaming reader over one capture file.
pub struct CaptureReader {
    path: PathBuf,
    inner: Inner,
    src: Buffered,
    /// The file's size, when known (to tell a corrupt length from a large record).
    size: Option<u64>,
    record: u64,
    section: u32,
    pcap_header: Option<PcapHeader>,
    pcap_link: Option<LinkType>,
    /// pcap: the header's LINKTYPE value.
    pcap_linktype: u32,
    /// Give frames of unsupported pcapng interfaces (marked) instead of failing on them.
    keep_unsupported: bool,
    /// pcapng: per interface id of the current section, its [`Meta::iface_no`] plus one (0:
    /// no frame yet).
    section_ifaces: Vec<u32>,
    /// Interfaces numbered so far.
    ifaces_seen: u32,
    /// The raw bytes read, when kept ([`CaptureReader::keep_raw`]).
    raw: Option<Raw>,
    /// The file header as read (pcap header, or the first section header block).
    head: Vec<u8>,
}

/// The raw bytes of a capture as read ([`CaptureReader::keep_raw`]).
#[derive(Default)]
struct Raw {
    /// What every copy of the file needs, read since last taken: the file header and, in
    /// pcapng, every block that holds no frame (sections, interfaces, statistics, ...).
    shared: Vec<u8>,
    /// The last frame's record (pcap) or block (pcapng).
    record: Vec<u8>,
}

impl CaptureReader {
    /// Opens a capture file, telling pcap from pcapng by its magic bytes.
    pub fn open(path: &Path) -> Result<CaptureReader, CaptureError> {
        let f = File::open(path).map_err(|e| CaptureError {
            file: path.to_path_buf(),
            record: None,
            message: format!("cannot open: {e}"),
        })?;
        let size = f.metadata().ok().filter(|m| m.is_file()).map(|m| m.len());
        CaptureReader::with_size(path, Box::new(f), size)
    }

    /// Reads a capture held in memory (`name` is used in messages).
    pub fn from_bytes(name: &Path, bytes: Vec<u8>) -> Result<CaptureReader, CaptureError> {
        let size = Some(bytes.len() as u64);
        CaptureReader::with_size(name, Box::new(std::io::Cursor::new(bytes)), size)
    }

    /// Reads a capture from any byte stream (`path` is used in messages).
    pub fn from_reader(
        path: &Path,
        src: Box<dyn Read + Send>,
    ) -> Result<CaptureReader, CaptureError> {
        CaptureReader::with_size(path, src, None)
    }

    fn with_size(
        path: &Path,
        src: Box<dyn Read + Send>,
        size: Option<u64>,
    ) -> Result<CaptureReader, CaptureError> {
        let fail = |record: Option<u64>, message: String| CaptureError {
            file: path.to_path_buf(),
            record,
            message,
        };
        let mut src = Buffered::new(src);
        let mut as_read = Vec::new();
        let n = src
            .want(4)
            .map_err(|e| fail(None, format!("cannot read: {e}")))?;
        if n < 4 {
            return Err(fail(
                None,
                format!("not a capture: {n} bytes, too short for a pcap or pcapng header"),
            ));
        }
        let b = src.avail();
        let magic: [u8; 4] = [b[0], b[1], b[2], b[3]];
        let (inner, pcap_header, pcap_link) = if PCAP_MAGICS.contains(&magic) {
            let n = src
                .want(24)
                .map_err(|e| fail(None, format!("cannot read: {e}")))?;
            if n < 24 {
                return Err(fail(
                    None,
                    format!("pcap file header: cut short: {n} of its 24 bytes"),
                ));
            }
            let (_, parser) = PcapParser::new(&src.avail()[..24])
                .map_err(|e| fail(None, format!("pcap file header: {}", map_pcap_error(e))))?;
            as_read.extend_from_slice(&src.avail()[..24]);
            src.consume(24);
            let header = parser.header();
            let lt = linktype_value(header.datalink);
            let link = LinkType::from_linktype(lt).ok_or_else(|| {
                fail(
                    None,
                    format!("link type {lt} is not supported (Ethernet, raw IPv4/IP, Linux SLL/SLL2 and null/loop are)"),
                )
            })?;
            (Inner::Pcap(parser), Some(header), Some(link))
        } else if magic == PCAPNG_MAGIC {
            let len = block_len(&mut src, size, false, true)
                .map_err(|m| fail(None, format!("pcapng section header: {m}")))?
                .expect("at least 4 bytes");
            let head = &src.avail()[..len];
            let parsed = match PcapNgParser::new(head) {
                Err(PcapError::Utf8Error(_) | PcapError::FromUtf8Error(_)) => {
                    let mut copy = head.to_vec();
                    sanitise_text_options(&mut copy, false);
                    PcapNgParser::new(&copy).map(|(_, p)| p)
                }
                r => r.map(|(_, p)| p),
            };
            let parser = parsed.map_err(|e| {
                fail(
                    None,
                    format!("pcapng section header: {}", map_pcap_error(e)),
                )
            })?;
            as_read.extend_from_slice(&src.avail()[..len]);
            src.consume(len);
            (Inner::PcapNg(Box::new(parser)), None, None)
        } else {
            return Err(fail(
                None,
                format!(
                    "not a pcap or pcapng file (magic bytes {:02x} {:02x} {:02x} {:02x})",
                    magic[0], magic[1], magic[2], magic[3]
                ),
            ));
        };
        Ok(CaptureReader {
            path: path.to_path_buf(),
            inner,
            src,
            size,
            record: 0,
            section: 0,
            pcap_linktype: pcap_header.map_or(0, |h| linktype_value(h.datalink)),
            pcap_header,
            pcap_link,
            keep_unsupported: false,
            raw: None,
            head: as_read,
            section_ifaces: Vec::new(),
            ifaces_seen: 0,
        })
    }

    /// From now on, a frame of a pcapng interface whose link type eipsim does not replay is
    /// given with [`Meta::unsupported_link`] set instead of ending the capture with an error (a
    /// replay counts and drops it; other interfaces go on). A pcap file of such a link type is
    /// refused when opened either way.
    pub fn keep_unsupported_links(&mut self) {
        self.keep_unsupported = true;
    }

    /// From now on, keeps the bytes read as they are in the file (for `eipsim split`, which
    /// writes each frame's record unchanged into one of several files): the file header and
    /// the blocks that hold no frame ([`CaptureReader::take_shared`]), and each frame's record
    /// ([`CaptureReader::raw_record`]).
    pub fn keep_raw(&mut self) {
        self.raw = Some(Raw {
            shared: std::mem::take(&mut self.head),
            record: Vec::new(),
        });
    }

    /// Appends to `out` what every copy of the file needs that was read since the last call
    /// (the file header first; pcapng blocks that hold no frame), when raw bytes are kept.
    pub fn take_shared(&mut self, out: &mut Vec<u8>) {
        if let Some(r) = &mut self.raw {
            out.append(&mut r.shared);
        }
    }

    /// The record (pcap) or block (pcapng) of the frame last read, as in the file, when raw
    /// bytes are kept; empty otherwise.
    pub fn raw_record(&self) -> &[u8] {
        self.raw.as_ref().map_or(&[], |r| &r.record)
    }

    /// Keeps `bytes` as the last frame's record or as shared bytes (raw bytes kept).
    fn keep(raw: &mut Option<Raw>, bytes: &[u8], record: bool) {
        if let Some(r) = raw {
            if record {
                r.record.clear();
                r.record.extend_from_slice(bytes);
            } else {
                r.shared.extend_from_slice(bytes);
            }
        }
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The container format.
    pub fn format(&self) -> Format {
        match self.inner {
            Inner::Pcap(_) => Format::Pcap,
            Inner::PcapNg(_) => Format::PcapNg,
        }
    }

    /// The pcap file header (pcap input only).
    pub fn pcap_header(&self) -> Option<PcapHeader> {
        self.pcap_header
    }

    /// The description of the interface a frame was read on.
    pub fn iface_desc(&self, meta: &Meta) -> IfaceDesc {
        match &self.inner {
            Inner::Pcap(_) => {
                let h = self.pcap_header.expect("pcap header");
                IfaceDesc {
                    linktype: meta.linktype,
                    snaplen: h.snaplen,
                    idb: None,
                    nanos: h.ts_resolution == TsResolution::NanoSecond,
                }
            }
            Inner::PcapNg(parser) => {
                let idb = parser.interfaces().get(meta.iface.1 as usize).cloned();
                IfaceDesc {
                    linktype: meta.linktype,
                    snaplen: idb.as_ref().map_or(0, |i| i.snaplen),
                    idb: idb.map(|i| i.into_owned()),
                    nanos: false,
                }
            }
        }
    }

    /// A frame's capture time in nanoseconds since the epoch: pcap seconds and micro- or
    /// nanoseconds; pcapng units of its interface's `if_tsresol` (default microseconds) plus
    /// `if_tsoffset`. Call it right after [`CaptureReader::next_frame`] returned `meta`.
    pub fn time_ns(&self, meta: &Meta) -> i128 {
        match meta.stamp {
            Stamp::Pcap { sec, frac, nanos } => {
                i128::from(sec) * 1_000_000_000 + i128::from(frac) * if nanos { 1 } else { 1000 }
            }
            Stamp::PcapNg { raw } => {
                let (mut resol, mut offset) = (6u8, 0i128);
                if let Inner::PcapNg(parser) = &self.inner
                    && let Some(idb) = parser.interfaces().get(meta.iface.1 as usize)
                {
                    for o in &idb.options {
                        match o {
                            InterfaceDescriptionOption::IfTsResol(r) => resol = *r,
                            InterfaceDescriptionOption::IfTsOffset(s) => {
                                offset = i128::from(*s) * 1_000_000_000
                            }
                            _ => {}
                        }
                    }
                }
                let raw = i128::from(raw);
                let ns = if resol & 0x80 != 0 {
                    (raw * 1_000_000_000) >> (resol & 0x7f).min(100)
                } else if resol <= 9 {
                    raw * 10i128.pow(u32::from(9 - resol))
                } else {
                    raw / 10i128.pow(u32::from(resol - 9).min(30))
                };
                ns + offset
            }
        }
    }

    /// The file-wide number of interface `id` of the current pcapng section, given on its first
    /// frame.
    fn iface_no(&mut self, id: u32) -> u32 {
        let id = id as usize;
        if self.section_ifaces.len() <= id {
            self.section_ifaces.resize(id + 1, 0);
        }
        if self.section_ifaces[id] == 0 {
            self.ifaces_seen += 1;
            self.section_ifaces[id] = self.ifaces_seen;
        }
        self.section_ifaces[id] - 1
    }

    /// Reads the next frame and appends its bytes to `buf`. `Ok(None)` at the end.
    pub fn next_frame(&mut self, buf: &mut Vec<u8>) -> Result<Option<Meta>, CaptureError> {
        match &self.inner {
            Inner::Pcap(_) => self.next_pcap(buf),
            Inner::PcapNg(_) => self.next_pcapng(buf),
        }
    }
}

/// Whether a pcapng interface has nanosecond (or other non-default) timestamp resolution; used
/// when a pcap frame is written into a pcapng file.
pub fn nanos_idb_option() -> InterfaceDescriptionOption<'static> {
    InterfaceDescriptionOption::IfTsResol(9)
}

/// The stamp of a moment `back_ns` nanoseconds before the frame stamped `stamp` (of interface
/// `desc`), in the same units: a pcap record's seconds and fraction, or a pcapng block's raw
/// count in its interface's `if_tsresol` (rounded down to a unit). Used for frames a guest
/// sent between two captured frames (`replay --respond`).
pub fn stamp_before(stamp: Stamp, desc: &IfaceDesc, back_ns: i64) -> Stamp {
    let back = i128::from(back_ns.max(0));
    match stamp {
        Stamp::Pcap { sec, frac, nanos } => {
            let unit: i128 = if nanos { 1 } else { 1000 };
            let per_sec = 1_000_000_000 / unit;
            let t = (i128::from(sec) * per_sec + i128::from(frac) - back.div_euclid(unit)).max(0);
            Stamp::Pcap {
                sec: u32::try_from(t / per_sec).unwrap_or(u32::MAX),
                frac: (t % per_sec) as u32,
                nanos,
            }
        }
        Stamp::PcapNg { raw } => {
            let resol = desc
                .idb
                .as_ref()
                .and_then(|idb| {
                    idb.options.iter().find_map(|o| match o {
                        InterfaceDescriptionOption::IfTsResol(r) => Some(*r),
                        _ => None,
                    })
                })
                .unwrap_or(6);
            let units = if resol & 0x80 != 0 {
                (back << (resol & 0x7f).min(100)) / 1_000_000_000
            } else if resol <= 9 {
                back / 10i128.pow(u32::from(9 - resol))
            } else {
                back * 10i128.pow(u32::from(resol - 9).min(30))
            };
            Stamp::PcapNg {
                raw: u64::try_from((i128::from(raw) - units).max(0)).unwrap_or(0),
            }
        }
    }
}
