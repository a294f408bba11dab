//! Capture output: one writer per egress, written under a temporary name and renamed when the
//! run completes, so that a failed run leaves no partial file. Records are serialised by
//! pcap-file; the file handle is ours, so that a writer can be suspended (flushed and closed)
//! and resumed in append mode when a topology has more ENIs with traffic than the process may
//! keep files open.

use std::borrow::Cow;
use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use byteorder_slice::{BigEndian, LittleEndian};
use pcap_file::pcap::{PcapHeader, RawPcapPacket};
use pcap_file::pcapng::Block;
use pcap_file::pcapng::blocks::enhanced_packet::{EnhancedPacketBlock, EnhancedPacketOption};
use pcap_file::pcapng::blocks::interface_description::InterfaceDescriptionBlock;
use pcap_file::pcapng::blocks::section_header::SectionHeaderBlock;
use pcap_file::{DataLink, Endianness};

use super::input::{IfaceDesc, Meta, Stamp, nanos_idb_option};

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

/// Buffer size of an open writer.
const BUF: usize = 1 << 16;

/// One output capture file.
pub struct CaptureWriter {
    tmp: PathBuf,
    dest: PathBuf,
    format: OutFormat,
    /// `None` while suspended.
    file: Option<BufWriter<File>>,
    /// pcapng: (input number, section, interface) -> output interface id.
    ifaces: HashMap<(usize, u32, u32), u32>,
    /// Frames written.
    pub frames: u64,
}

impl CaptureWriter {
    /// Creates `dest` (under a temporary name until [`CaptureWriter::finish`]) and writes the
    /// file header.
    pub fn create(dest: PathBuf, format: OutFormat) -> Result<CaptureWriter, OutputError> {
        let tmp = temp_name(&dest);
        let f = File::create(&tmp).map_err(|e| io_err(&dest, e))?;
        let mut w = BufWriter::with_capacity(BUF, f);
        let header = match format {
            OutFormat::Pcap(h) => h.write_to(&mut w).map(|_| ()).map_err(pcap_message),
            OutFormat::PcapNg => Block::SectionHeader(SectionHeaderBlock {
                endianness: Endianness::Little,
                ..SectionHeaderBlock::default()
            })
            .write_to::<LittleEndian, _>(&mut w)
            .map(|_| ())
            .map_err(pcap_message),
        };
        if let Err(e) = header {
            drop(w);
            let _ = std::fs::remove_file(&tmp);
            return Err(io_err(&dest, e));
        }
        Ok(CaptureWriter {
            tmp,
            dest,
            format,
            file: Some(w),
            ifaces: HashMap::new(),
            frames: 0,
        })
    }

    /// Whether the file handle is open.
    pub fn is_open(&self) -> bool {
        self.file.is_some()
    }

    /// Flushes and closes the file handle; the next write reopens it in append mode.
    pub fn suspend(&mut self) -> Result<(), OutputError> {
        if let Some(mut w) = self.file.take() {
            w.flush().map_err(|e| io_err(&self.dest, e))?;
        }
        Ok(())
    }

    fn open(&mut self) -> Result<&mut BufWriter<File>, OutputError> {
        if self.file.is_none() {
            let f = OpenOptions::new()
                .append(true)
                .open(&self.tmp)
                .map_err(|e| io_err(&self.dest, e))?;
            self.file = Some(BufWriter::with_capacity(BUF, f));
        }
        Ok(self.file.as_mut().expect("just opened"))
    }

    /// Writes one frame; `input` numbers the input file, `desc` describes its interface, and
    /// `comment` (pcapng only) is attached to the packet block.
    pub fn write(
        &mut self,
        input: usize,
        meta: &Meta,
        desc: &IfaceDesc,
        data: &[u8],
        comment: Option<&'static str>,
    ) -> Result<(), OutputError> {
        let orig_len = meta.orig_len.max(data.len() as u32);
        let format = self.format;
        let dest = self.dest.clone();
        let key = (input, meta.iface.0, meta.iface.1);
        let next_iface = self.ifaces.len() as u32;
        let known = self.ifaces.get(&key).copied();
        let w = self.open()?;
        let res: Result<Option<u32>, String> = match format {
            OutFormat::Pcap(h) => {
                let (sec, frac) = match meta.stamp {
                    Stamp::Pcap { sec, frac, .. } => (sec, frac),
                    Stamp::PcapNg { .. } => unreachable!("pcap output only for pcap input"),
                };
                let pkt = RawPcapPacket {
                    ts_sec: sec,
                    ts_frac: frac,
                    incl_len: data.len() as u32,
                    orig_len,
                    data: Cow::Borrowed(data),
                };
                match h.endianness {
                    Endianness::Big => pkt.write_to::<_, BigEndian>(w),
                    Endianness::Little => pkt.write_to::<_, LittleEndian>(w),
                }
                .map(|_| None)
                .map_err(pcap_message)
            }
            OutFormat::PcapNg => (|| {
                let (id, new) = match known {
                    Some(id) => (id, None),
                    None => {
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
                        Block::InterfaceDescription(idb)
                            .write_to::<LittleEndian, _>(w)
                            .map_err(pcap_message)?;
                        (next_iface, Some(next_iface))
                    }
                };
                let raw = match meta.stamp {
                    Stamp::PcapNg { raw } => raw,
                    Stamp::Pcap { sec, frac, nanos } => {
                        let scale = if nanos { 1_000_000_000 } else { 1_000_000 };
                        u64::from(sec) * scale + u64::from(frac)
                    }
                };
                let mut options = Vec::new();
                if let Some(c) = comment {
                    options.push(EnhancedPacketOption::Comment(Cow::Borrowed(c)));
                }
                Block::EnhancedPacket(EnhancedPacketBlock {
                    interface_id: id,
                    timestamp: Duration::from_nanos(raw),
                    original_len: orig_len,
                    data: Cow::Borrowed(data),
                    options,
                })
                .write_to::<LittleEndian, _>(w)
                .map_err(pcap_message)?;
                Ok(new)
            })(),
        };
        match res {
            Ok(Some(new)) => {
                self.ifaces.insert(key, new);
            }
            Ok(None) => {}
            Err(e) => return Err(io_err(&dest, e)),
        }
        self.frames += 1;
        Ok(())
    }

    /// Flushes and renames the file into place.
    pub fn finish(mut self) -> Result<PathBuf, OutputError> {
        self.suspend()?;
        std::fs::rename(&self.tmp, &self.dest).map_err(|e| io_err(&self.dest, e))?;
        Ok(self.dest)
    }

    /// Flushes and closes the file under its temporary name: (temporary, destination), for an
    /// [`OutputSet`] to rename with the others.
    pub fn close(mut self) -> Result<(PathBuf, PathBuf), OutputError> {
        self.suspend()?;
        Ok((self.tmp.clone(), self.dest.clone()))
    }

    /// Deletes the temporary file (a failed run).
    pub fn abandon(mut self) {
        self.file = None;
        let _ = std::fs::remove_file(&self.tmp);
    }
}

/// Every output of a run, complete under temporary names: renamed into place all together, or
/// all removed. A rename that fails midway removes the ones already renamed and the rest, so
/// that a failed run leaves no output at all.
#[derive(Debug, Default)]
pub struct OutputSet {
    files: Vec<(PathBuf, PathBuf)>,
}

impl OutputSet {
    /// Adds a complete file: its temporary name and its destination.
    pub fn add(&mut self, tmp: PathBuf, dest: PathBuf) {
        self.files.push((tmp, dest));
    }

    /// Removes every temporary file (a failed run).
    pub fn abandon(self) {
        for (tmp, _) in self.files {
            let _ = std::fs::remove_file(tmp);
        }
    }

    /// Renames every file into place, in the order added; returns the destinations.
    pub fn commit(self) -> Result<Vec<PathBuf>, OutputError> {
        for (k, (tmp, dest)) in self.files.iter().enumerate() {
            if let Err(e) = std::fs::rename(tmp, dest) {
                for (_, done) in &self.files[..k] {
                    let _ = std::fs::remove_file(done);
                }
                for (t, _) in &self.files[k..] {
                    let _ = std::fs::remove_file(t);
                }
                return Err(io_err(dest, e));
            }
        }
        Ok(self.files.into_iter().map(|(_, d)| d).collect())
    }
}
