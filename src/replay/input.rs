//! Capture input: pcap (micro/nanosecond, either byte order) and pcapng (several interfaces,
//! several sections), read with pcap-file and told apart by their magic bytes.

use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};

use pcap_file::pcap::{PcapHeader, PcapReader};
use pcap_file::pcapng::blocks::interface_description::{
    InterfaceDescriptionBlock, InterfaceDescriptionOption,
};
use pcap_file::pcapng::{Block, PcapNgReader};
use pcap_file::{PcapError, TsResolution};

use crate::wire::LinkType;

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
    /// Link type.
    pub link: LinkType,
    /// Raw LINKTYPE value.
    pub linktype: u32,
    /// 1-based record number in its file.
    pub record: u64,
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

type Source = BufReader<Box<dyn Read + Send>>;

enum Inner {
    Pcap(PcapReader<Source>),
    PcapNg {
        reader: PcapNgReader<Source>,
        section: u32,
    },
}

/// A streaming reader over one capture file.
pub struct CaptureReader {
    path: PathBuf,
    inner: Inner,
    record: u64,
    pcap_header: Option<PcapHeader>,
    pcap_link: Option<LinkType>,
}

const PCAP_MAGICS: [[u8; 4]; 4] = [
    [0xd4, 0xc3, 0xb2, 0xa1],
    [0xa1, 0xb2, 0xc3, 0xd4],
    [0x4d, 0x3c, 0xb2, 0xa1],
    [0xa1, 0xb2, 0x3c, 0x4d],
];
const PCAPNG_MAGIC: [u8; 4] = [0x0a, 0x0d, 0x0d, 0x0a];

/// The LINKTYPE proper: the low 16 bits (the upper bits of a pcap header's field carry FCS
/// information).
fn linktype_value(dl: pcap_file::DataLink) -> u32 {
    u32::from(dl) & 0xffff
}

fn map_pcap_error(e: PcapError) -> String {
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

impl CaptureReader {
    /// Opens a capture file, telling pcap from pcapng by its magic bytes.
    pub fn open(path: &Path) -> Result<CaptureReader, CaptureError> {
        let f = File::open(path).map_err(|e| CaptureError {
            file: path.to_path_buf(),
            record: None,
            message: format!("cannot open: {e}"),
        })?;
        CaptureReader::from_reader(path, Box::new(f))
    }

    /// Reads a capture held in memory (`name` is used in messages).
    pub fn from_bytes(name: &Path, bytes: Vec<u8>) -> Result<CaptureReader, CaptureError> {
        CaptureReader::from_reader(name, Box::new(std::io::Cursor::new(bytes)))
    }

    /// Reads a capture from any byte stream (`path` is used in messages).
    pub fn from_reader(
        path: &Path,
        src: Box<dyn Read + Send>,
    ) -> Result<CaptureReader, CaptureError> {
        let fail = |record: Option<u64>, message: String| CaptureError {
            file: path.to_path_buf(),
            record,
            message,
        };
        let mut r: Source = BufReader::with_capacity(1 << 16, src);
        let magic: [u8; 4] = {
            let buf = r
                .fill_buf()
                .map_err(|e| fail(None, format!("cannot read: {e}")))?;
            if buf.len() < 4 {
                return Err(fail(
                    None,
                    format!(
                        "not a capture: {} bytes, too short for a pcap or pcapng header",
                        buf.len()
                    ),
                ));
            }
            [buf[0], buf[1], buf[2], buf[3]]
        };
        if PCAP_MAGICS.contains(&magic) {
            let reader = PcapReader::new(r)
                .map_err(|e| fail(None, format!("pcap file header: {}", map_pcap_error(e))))?;
            let header = reader.header();
            let lt = linktype_value(header.datalink);
            let link = LinkType::from_linktype(lt).ok_or_else(|| {
                fail(
                    None,
                    format!("link type {lt} is not supported (Ethernet, raw IPv4/IP, Linux SLL/SLL2 and null/loop are)"),
                )
            })?;
            Ok(CaptureReader {
                path: path.to_path_buf(),
                inner: Inner::Pcap(reader),
                record: 0,
                pcap_header: Some(header),
                pcap_link: Some(link),
            })
        } else if magic == PCAPNG_MAGIC {
            let reader = PcapNgReader::new(r).map_err(|e| {
                fail(
                    None,
                    format!("pcapng section header: {}", map_pcap_error(e)),
                )
            })?;
            Ok(CaptureReader {
                path: path.to_path_buf(),
                inner: Inner::PcapNg { reader, section: 0 },
                record: 0,
                pcap_header: None,
                pcap_link: None,
            })
        } else {
            Err(fail(
                None,
                format!(
                    "not a pcap or pcapng file (magic bytes {:02x} {:02x} {:02x} {:02x})",
                    magic[0], magic[1], magic[2], magic[3]
                ),
            ))
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
            Inner::PcapNg { .. } => Format::PcapNg,
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
            Inner::PcapNg { reader, .. } => {
                let idb = reader.interfaces().get(meta.iface.1 as usize).cloned();
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
                if let Inner::PcapNg { reader, .. } = &self.inner
                    && let Some(idb) = reader.interfaces().get(meta.iface.1 as usize)
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

    /// Reads the next frame and appends its bytes to `buf`. `Ok(None)` at the end.
    pub fn next_frame(&mut self, buf: &mut Vec<u8>) -> Result<Option<Meta>, CaptureError> {
        let path = &self.path;
        match &mut self.inner {
            Inner::Pcap(reader) => {
                let Some(res) = reader.next_raw_packet() else {
                    return Ok(None);
                };
                self.record += 1;
                let pkt = res.map_err(|e| CaptureError {
                    file: path.clone(),
                    record: Some(self.record),
                    message: map_pcap_error(e),
                })?;
                buf.extend_from_slice(&pkt.data);
                let h = self.pcap_header.expect("pcap header");
                Ok(Some(Meta {
                    stamp: Stamp::Pcap {
                        sec: pkt.ts_sec,
                        frac: pkt.ts_frac,
                        nanos: h.ts_resolution == TsResolution::NanoSecond,
                    },
                    orig_len: pkt.orig_len,
                    iface: (0, 0),
                    link: self.pcap_link.expect("pcap link"),
                    linktype: linktype_value(h.datalink),
                    record: self.record,
                }))
            }
            Inner::PcapNg { reader, section } => loop {
                let Some(res) = reader.next_block() else {
                    return Ok(None);
                };
                let record = self.record + 1;
                let fail = |message: String| CaptureError {
                    file: path.clone(),
                    record: Some(record),
                    message,
                };
                let block = res.map_err(|e| fail(map_pcap_error(e)))?;
                let (iface, stamp, orig_len, data) = match block {
                    Block::SectionHeader(_) => {
                        *section += 1;
                        continue;
                    }
                    Block::EnhancedPacket(p) => (
                        p.interface_id,
                        p.timestamp.as_nanos() as u64,
                        p.original_len,
                        p.data,
                    ),
                    Block::SimplePacket(p) => (0, 0, p.original_len, p.data),
                    Block::Packet(p) => (
                        u32::from(p.interface_id),
                        p.timestamp,
                        p.original_len,
                        p.data,
                    ),
                    _ => continue,
                };
                self.record = record;
                let start = buf.len();
                buf.extend_from_slice(&data);
                drop(data);
                let lt = match reader.interfaces().get(iface as usize) {
                    Some(idb) => linktype_value(idb.linktype),
                    None => {
                        buf.truncate(start);
                        return Err(fail(format!(
                            "invalid field: interface id {iface} has no interface description block"
                        )));
                    }
                };
                let Some(link) = LinkType::from_linktype(lt) else {
                    buf.truncate(start);
                    return Err(fail(format!(
                        "interface {iface}: link type {lt} is not supported (Ethernet, raw IPv4/IP, Linux SLL/SLL2 and null/loop are)"
                    )));
                };
                return Ok(Some(Meta {
                    stamp: Stamp::PcapNg { raw: stamp },
                    orig_len,
                    iface: (*section, iface),
                    link,
                    linktype: lt,
                    record,
                }));
            },
        }
    }
}

/// Whether a pcapng interface has nanosecond (or other non-default) timestamp resolution; used
/// when a pcap frame is written into a pcapng file.
pub fn nanos_idb_option() -> InterfaceDescriptionOption<'static> {
    InterfaceDescriptionOption::IfTsResol(9)
}
