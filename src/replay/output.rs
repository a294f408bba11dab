//! Capture output: one writer per egress, written under a temporary name and renamed when the
//! run completes, so that a failed run leaves no partial file.
//!
//! Records are encoded by hand into memory (the file headers and interface descriptions by
//! pcap-file) and written out in large pieces: nothing is allocated per frame. The Internet and
//! dropped outputs gather 1 MiB before each write. The ENI outputs share one buffer
//! ([`EniWriters`]): a topology may have tens of thousands of ENIs, more than the process may
//! keep files open and more than a buffer each would fit in memory, so their records gather in
//! arrival order in the shared buffer and, when it is full, each file gets its records in one
//! write (writers beyond the open-file budget are opened to append, written and closed).

mod enis;

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use byteorder_slice::LittleEndian;
use pcap_file::pcap::PcapHeader;
use pcap_file::pcapng::Block;
use pcap_file::pcapng::blocks::interface_description::InterfaceDescriptionBlock;
use pcap_file::pcapng::blocks::section_header::SectionHeaderBlock;
use pcap_file::{DataLink, Endianness};

use super::input::{IfaceDesc, Meta, Stamp, nanos_idb_option};

pub use enis::EniWriters;

/// An output file could not be written.
#[derive(Debug, thiserror::Error)]
#[error("output {}: {message}", .file.display())]
pub struct OutputError {
    /// The file.
    pub file: PathBuf,
    /// What failed.
    pub message: String,
}

/// What output container to write.
#[derive(Clone, Copy, Debug)]
pub enum OutFormat {
    /// pcap with this header (every input is pcap with one link type and resolution).
    Pcap(PcapHeader),
    /// pcapng (little-endian sections).
    PcapNg,
}

fn io_err(file: &Path, e: impl std::fmt::Display) -> OutputError {
    OutputError {
        file: file.to_path_buf(),
        message: e.to_string(),
    }
}

/// A pcap-file error as a person should read it: an I/O failure says what the system said
/// ("No space left on device"), not pcap-file's "Error reading bytes".
fn pcap_message(e: impl Into<WriteFailure>) -> String {
    match e.into() {
        WriteFailure::Pcap(pcap_file::PcapError::IoError(io)) | WriteFailure::Io(io) => {
            io.to_string()
        }
        WriteFailure::Pcap(other) => other.to_string(),
    }
}

/// What a pcap-file writer can fail with: its own error (pcap) or a plain I/O error (pcapng).
enum WriteFailure {
    Pcap(pcap_file::PcapError),
    Io(std::io::Error),
}

impl From<pcap_file::PcapError> for WriteFailure {
    fn from(e: pcap_file::PcapError) -> Self {
        WriteFailure::Pcap(e)
    }
}

impl From<std::io::Error> for WriteFailure {
    fn from(e: std::io::Error) -> Self {
        WriteFailure::Io(e)
    }
}

/// The temporary name a file is written under before it is renamed into place.
pub fn temp_name(dest: &Path) -> PathBuf {
    let name = dest
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    dest.with_file_name(format!(".{name}.{}.tmp", std::process::id()))
}

/// Bytes an Internet or dropped writer gathers before it writes them out in one call.
const BUF: usize = 1 << 20;

/// Appends a 32-bit value in the given byte order.
fn put_u32(out: &mut Vec<u8>, v: u32, big: bool) {
    out.extend_from_slice(&if big {
        v.to_be_bytes()
    } else {
        v.to_le_bytes()
    });
}

/// One output capture file. Records are encoded into memory (by hand: a pcap record header is
/// 16 bytes, a pcapng enhanced packet block 32 plus options) and written out in large pieces:
/// by the writer itself ([`CaptureWriter::write`]) or by an [`EniWriters`] that gathers the
/// records of many files in one shared buffer.
pub struct CaptureWriter {
    /// The final name; the file is written under [`temp_name`] of it until it is complete.
    dest: PathBuf,
    format: OutFormat,
    /// The open descriptor; `None` while suspended or not created yet.
    file: Option<File>,
    /// The temporary file exists.
    created: bool,
    /// Encoded bytes not yet written (the file header, then records).
    buf: Vec<u8>,
    /// pcapng: per interface slot ([`Meta::slot`]), the output interface id plus one (0: its
    /// description is not written yet).
    ifaces: Vec<u32>,
    /// pcapng: interface descriptions written.
    next_iface: u32,
    /// Frames written.
    pub frames: u64,
    /// Times the file was opened (created, or reopened to append).
    pub opens: u64,
}

impl CaptureWriter {
    /// Creates `dest` (under a temporary name until [`CaptureWriter::finish`]) and encodes the
    /// file header.
    pub fn create(dest: PathBuf, format: OutFormat) -> Result<CaptureWriter, OutputError> {
        let mut w = CaptureWriter::deferred(dest, format)?;
        w.open()?;
        Ok(w)
    }

    /// Like [`CaptureWriter::create`], but the file is created only when bytes are first
    /// written out (one open fewer for a file that is not kept open).
    pub fn deferred(dest: PathBuf, format: OutFormat) -> Result<CaptureWriter, OutputError> {
        let mut buf = Vec::new();
        let header = match format {
            OutFormat::Pcap(h) => h.write_to(&mut buf).map(|_| ()).map_err(pcap_message),
            OutFormat::PcapNg => Block::SectionHeader(SectionHeaderBlock {
                endianness: Endianness::Little,
                ..SectionHeaderBlock::default()
            })
            .write_to::<LittleEndian, _>(&mut buf)
            .map(|_| ())
            .map_err(pcap_message),
        };
        if let Err(e) = header {
            return Err(io_err(&dest, e));
        }
        Ok(CaptureWriter {
            dest,
            format,
            file: None,
            created: false,
            buf,
            ifaces: Vec::new(),
            next_iface: 0,
            frames: 0,
            opens: 0,
        })
    }

    /// Whether the file handle is open.
    pub fn is_open(&self) -> bool {
        self.file.is_some()
    }

    /// The final name of the file.
    pub fn dest(&self) -> &Path {
        &self.dest
    }

    /// Writes out what is buffered and closes the file handle; the next write reopens it in
    /// append mode.
    pub fn suspend(&mut self) -> Result<(), OutputError> {
        self.flush()?;
        self.file = None;
        Ok(())
    }

    fn open(&mut self) -> Result<&mut File, OutputError> {
        if self.file.is_none() {
            let tmp = temp_name(&self.dest);
            let f = if self.created {
                OpenOptions::new().append(true).open(&tmp)
            } else {
                File::create(&tmp)
            }
            .map_err(|e| io_err(&self.dest, e))?;
            self.created = true;
            self.opens += 1;
            self.file = Some(f);
        }
        Ok(self.file.as_mut().expect("just opened"))
    }

    /// Writes out what is buffered (opening the file when suspended: it stays open).
    fn flush(&mut self) -> Result<(), OutputError> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let buf = std::mem::take(&mut self.buf);
        let f = self.open()?;
        let res = f.write_all(&buf);
        self.buf = buf;
        self.buf.clear();
        res.map_err(|e| io_err(&self.dest, e))
    }

    /// Moves what is buffered (and not written yet) to the end of `out`, releasing the buffer.
    fn take_buffered(&mut self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.buf);
        self.buf = Vec::new();
    }

    /// Writes `data` (after what is buffered); a suspended writer is opened for it and closed
    /// again.
    fn append(&mut self, data: &[u8]) -> Result<(), OutputError> {
        let was_open = self.is_open();
        let head = std::mem::take(&mut self.buf);
        let f = self.open()?;
        let res = f.write_all(&head).and_then(|_| f.write_all(data));
        if !was_open {
            self.file = None;
        }
        res.map_err(|e| io_err(&self.dest, e))
    }

    /// Encodes one frame (and, in pcapng, its interface's description the first time) onto
    /// `out`; `desc` describes the frame's interface and `comment` (pcapng only) is attached to
    /// the packet block.
    fn encode(
        &mut self,
        out: &mut Vec<u8>,
        meta: &Meta,
        desc: &IfaceDesc,
        data: &[u8],
        comment: Option<&str>,
    ) {
        let orig_len = meta.orig_len.max(data.len() as u32);
        let caplen = data.len() as u32;
        match self.format {
            OutFormat::Pcap(h) => {
                let (sec, frac) = match meta.stamp {
                    Stamp::Pcap { sec, frac, .. } => (sec, frac),
                    Stamp::PcapNg { .. } => unreachable!("pcap output only for pcap input"),
                };
                let big = h.endianness == Endianness::Big;
                let mut head = [0u8; 16];
                for (i, v) in [sec, frac, caplen, orig_len].into_iter().enumerate() {
                    head[i * 4..i * 4 + 4].copy_from_slice(&if big {
                        v.to_be_bytes()
                    } else {
                        v.to_le_bytes()
                    });
                }
                out.reserve(16 + data.len());
                out.extend_from_slice(&head);
                out.extend_from_slice(data);
            }
            OutFormat::PcapNg => {
                let slot = meta.slot as usize;
                if self.ifaces.len() <= slot {
                    self.ifaces.resize(slot + 1, 0);
                }
                let id = match self.ifaces[slot] {
                    0 => {
                        let idb = match &desc.idb {
                            Some(idb) => idb.clone(),
                            None => {
                                let mut idb = InterfaceDescriptionBlock::new(
                                    DataLink::from(desc.linktype),
                                    desc.snaplen,
                                );
                                if desc.nanos {
                                    idb.options.push(nanos_idb_option());
                                }
                                idb
                            }
                        };
                        // Writing to memory cannot fail.
                        let _ = Block::InterfaceDescription(idb).write_to::<LittleEndian, _>(out);
                        self.next_iface += 1;
                        self.ifaces[slot] = self.next_iface;
                        self.next_iface - 1
                    }
                    n => n - 1,
                };
                let raw = match meta.stamp {
                    Stamp::PcapNg { raw } => raw,
                    Stamp::Pcap { sec, frac, nanos } => {
                        let scale = if nanos { 1_000_000_000 } else { 1_000_000 };
                        u64::from(sec) * scale + u64::from(frac)
                    }
                };
                let pad = (4 - data.len() % 4) % 4;
                let opts = comment.map_or(0, |c| 4 + c.len() + (4 - c.len() % 4) % 4 + 4);
                let len = (32 + data.len() + pad + opts) as u32;
                out.reserve(len as usize);
                for v in [6, len, id, (raw >> 32) as u32, raw as u32, caplen, orig_len] {
                    put_u32(out, v, false);
                }
                out.extend_from_slice(data);
                out.extend_from_slice(&[0; 3][..pad]);
                if let Some(c) = comment {
                    out.extend_from_slice(&1u16.to_le_bytes());
                    out.extend_from_slice(&(c.len() as u16).to_le_bytes());
                    out.extend_from_slice(c.as_bytes());
                    out.extend_from_slice(&[0; 3][..(4 - c.len() % 4) % 4]);
                    out.extend_from_slice(&[0; 4]);
                }
                put_u32(out, len, false);
            }
        }
        self.frames += 1;
    }

    /// Writes one frame: `desc` describes its interface, and `comment` (pcapng only) is
    /// attached to the packet block. The bytes go out once 1 MiB is gathered.
    pub fn write(
        &mut self,
        meta: &Meta,
        desc: &IfaceDesc,
        data: &[u8],
        comment: Option<&str>,
    ) -> Result<(), OutputError> {
        let mut buf = std::mem::take(&mut self.buf);
        self.encode(&mut buf, meta, desc, data, comment);
        self.buf = buf;
        if self.buf.len() >= BUF {
            self.flush()?;
        }
        Ok(())
    }

    /// Writes out, closes and renames the file into place.
    pub fn finish(mut self) -> Result<PathBuf, OutputError> {
        self.suspend()?;
        std::fs::rename(temp_name(&self.dest), &self.dest).map_err(|e| io_err(&self.dest, e))?;
        Ok(self.dest)
    }

    /// Writes out and closes the file under its temporary name: (temporary, destination), for
    /// an [`OutputSet`] to rename with the others.
    pub fn close(mut self) -> Result<(PathBuf, PathBuf), OutputError> {
        self.suspend()?;
        if !self.created {
            self.open()?;
            self.file = None;
        }
        Ok((temp_name(&self.dest), self.dest))
    }

    /// Deletes the temporary file (a failed run).
    pub fn abandon(mut self) {
        self.file = None;
        if self.created {
            let _ = std::fs::remove_file(temp_name(&self.dest));
        }
    }
}

/// Every output of a run, complete under temporary names: renamed into place all together, or
/// all removed. A rename that fails midway removes the ones already renamed and the rest, so
/// that a failed run leaves no output at all.
#[derive(Debug, Default)]
pub struct OutputSet {
    /// (temporary name, destination); `None`: the temporary name is [`temp_name`] of the
    /// destination (not kept: a run may have tens of thousands of files).
    files: Vec<(Option<PathBuf>, PathBuf)>,
}

impl OutputSet {
    /// Adds a complete file: its temporary name and its destination.
    pub fn add(&mut self, tmp: PathBuf, dest: PathBuf) {
        let tmp = (tmp != temp_name(&dest)).then_some(tmp);
        self.files.push((tmp, dest));
    }

    /// The temporary name of a file.
    fn tmp((tmp, dest): &(Option<PathBuf>, PathBuf)) -> PathBuf {
        tmp.clone().unwrap_or_else(|| temp_name(dest))
    }

    /// Removes every temporary file (a failed run).
    pub fn abandon(self) {
        for f in &self.files {
            let _ = std::fs::remove_file(OutputSet::tmp(f));
        }
    }

    /// Renames every file into place, in the order added; returns the destinations.
    pub fn commit(self) -> Result<Vec<PathBuf>, OutputError> {
        for (k, f) in self.files.iter().enumerate() {
            let dest = &f.1;
            if let Err(e) = std::fs::rename(OutputSet::tmp(f), dest) {
                for (_, done) in &self.files[..k] {
                    let _ = std::fs::remove_file(done);
                }
                for t in &self.files[k..] {
                    let _ = std::fs::remove_file(OutputSet::tmp(t));
                }
                return Err(io_err(dest, e));
            }
        }
        Ok(self.files.into_iter().map(|(_, d)| d).collect())
    }
}
