//! Capture output: one writer per egress, written under a temporary name and renamed when the
//! run completes, so that a failed run leaves no partial file.

use std::borrow::Cow;
use std::collections::HashMap;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use pcap_file::pcap::{PcapHeader, PcapWriter, RawPcapPacket};
use pcap_file::pcapng::PcapNgWriter;
use pcap_file::pcapng::blocks::enhanced_packet::{EnhancedPacketBlock, EnhancedPacketOption};
use pcap_file::pcapng::blocks::interface_description::InterfaceDescriptionBlock;
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

enum Sink {
    Pcap(PcapWriter<BufWriter<File>>),
    PcapNg {
        writer: PcapNgWriter<BufWriter<File>>,
        /// (input number, section, interface) -> output interface id.
        ifaces: HashMap<(usize, u32, u32), u32>,
    },
}

/// One output capture file.
pub struct CaptureWriter {
    tmp: PathBuf,
    dest: PathBuf,
    sink: Sink,
    /// Frames written.
    pub frames: u64,
}

/// What output container to write.
#[derive(Clone, Copy, Debug)]
pub enum OutFormat {
    /// pcap with this header (every input is pcap with one link type and resolution).
    Pcap(PcapHeader),
    /// pcapng.
    PcapNg,
}

fn io_err(file: &Path, e: impl std::fmt::Display) -> OutputError {
    OutputError {
        file: file.to_path_buf(),
        message: e.to_string(),
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

impl CaptureWriter {
    /// Creates `dest` (under a temporary name until [`CaptureWriter::finish`]).
    pub fn create(dest: PathBuf, format: OutFormat) -> Result<CaptureWriter, OutputError> {
        let tmp = temp_name(&dest);
        let f = File::create(&tmp).map_err(|e| io_err(&dest, e))?;
        let w = BufWriter::with_capacity(1 << 16, f);
        let sink = match format {
            OutFormat::Pcap(h) => {
                Sink::Pcap(PcapWriter::with_header(w, h).map_err(|e| io_err(&dest, e))?)
            }
            OutFormat::PcapNg => Sink::PcapNg {
                writer: PcapNgWriter::with_endianness(w, Endianness::Little)
                    .map_err(|e| io_err(&dest, e))?,
                ifaces: HashMap::new(),
            },
        };
        Ok(CaptureWriter {
            tmp,
            dest,
            sink,
            frames: 0,
        })
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
        match &mut self.sink {
            Sink::Pcap(w) => {
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
                w.write_raw_packet(&pkt)
                    .map_err(|e| io_err(&self.dest, e))?;
            }
            Sink::PcapNg { writer, ifaces } => {
                let key = (input, meta.iface.0, meta.iface.1);
                let id = match ifaces.get(&key) {
                    Some(id) => *id,
                    None => {
                        let d = desc;
                        let idb = match &d.idb {
                            Some(idb) => idb.clone(),
                            None => {
                                let mut idb = InterfaceDescriptionBlock::new(
                                    DataLink::from(d.linktype),
                                    d.snaplen,
                                );
                                if d.nanos {
                                    idb.options.push(nanos_idb_option());
                                }
                                idb
                            }
                        };
                        writer
                            .write_pcapng_block(idb)
                            .map_err(|e| io_err(&self.dest, e))?;
                        let id = ifaces.len() as u32;
                        ifaces.insert(key, id);
                        id
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
                let epb = EnhancedPacketBlock {
                    interface_id: id,
                    timestamp: Duration::from_nanos(raw),
                    original_len: orig_len,
                    data: Cow::Borrowed(data),
                    options,
                };
                writer
                    .write_pcapng_block(epb)
                    .map_err(|e| io_err(&self.dest, e))?;
            }
        }
        self.frames += 1;
        Ok(())
    }

    /// Flushes and renames the file into place.
    pub fn finish(self) -> Result<PathBuf, OutputError> {
        let mut w = match self.sink {
            Sink::Pcap(w) => w.into_writer(),
            Sink::PcapNg { writer, .. } => writer.into_inner(),
        };
        w.flush().map_err(|e| io_err(&self.dest, e))?;
        w.into_inner().map_err(|e| io_err(&self.dest, e.error()))?;
        std::fs::rename(&self.tmp, &self.dest).map_err(|e| io_err(&self.dest, e))?;
        Ok(self.dest)
    }

    /// Deletes the temporary file (a failed run).
    pub fn abandon(self) {
        let tmp = self.tmp.clone();
        drop(self);
        let _ = std::fs::remove_file(tmp);
    }
}
