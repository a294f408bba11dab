//! The shards' output captures merged by input position into the files one machine writes.
//!
//! Each shard's `positions.bin` lists, in input order, every frame the shard kept: its
//! position, the output it went to and its interface slot. A k-way merge of those lists by
//! position says, for every frame of the whole input, which shard's file holds its record next.
//! pcap records are copied as they are; pcapng enhanced packet blocks get the interface id of the
//! merged file, whose interface descriptions come, as in a replay, just before the first packet
//! of their interface.

use std::collections::{BinaryHeap, HashMap};
use std::fs::File;
use std::io::{BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};

use super::MergeError;
use crate::replay::output::{OutputSet, temp_name};

const PCAPNG_SHB: u32 = 0x0A0D_0D0A;

/// One shard's output capture, read a record at a time (closed while other files need the
/// descriptors, reopened where it was left).
struct ShardFile {
    path: PathBuf,
    r: Option<BufReader<File>>,
    /// Bytes of the file taken in so far.
    offset: u64,
    /// When it was last read ([`Files::tick`]).
    used: u64,
    /// The file header: the pcap global header, or the pcapng section header block.
    header: Vec<u8>,
    /// pcapng: the interface description blocks read so far, by local id.
    idbs: Vec<Vec<u8>>,
    /// pcap: the byte order of the record headers is big-endian.
    big: bool,
    ng: bool,
}

fn bad(path: &Path, what: impl std::fmt::Display) -> MergeError {
    MergeError::Input(format!("{}: {what}", path.display()))
}

/// Fills `buf`: `Ok(false)` at the end of the input before any byte, `UnexpectedEof` when it
/// ends inside `buf`.
pub(crate) fn read_exact_or_eof(r: &mut impl Read, buf: &mut [u8]) -> std::io::Result<bool> {
    let mut got = 0;
    while got < buf.len() {
        let n = r.read(&mut buf[got..])?;
        if n == 0 {
            return if got == 0 {
                Ok(false)
            } else {
                Err(std::io::ErrorKind::UnexpectedEof.into())
            };
        }
        got += n;
    }
    Ok(true)
}

impl ShardFile {
    fn open(path: PathBuf) -> Result<ShardFile, MergeError> {
        let f = File::open(&path).map_err(|e| bad(&path, e))?;
        let mut r = BufReader::with_capacity(1 << 16, f);
        let mut head = [0u8; 8];
        if !read_exact_or_eof(&mut r, &mut head).map_err(|e| bad(&path, e))? {
            return Err(bad(&path, "empty file"));
        }
        let magic = u32::from_le_bytes(head[..4].try_into().expect("4 bytes"));
        let (header, big, ng) = if magic == PCAPNG_SHB {
            let len = u32::from_le_bytes(head[4..8].try_into().expect("4 bytes")) as usize;
            if !(28..=1 << 20).contains(&len) {
                return Err(bad(&path, "bad pcapng section header"));
            }
            let mut h = head.to_vec();
            h.resize(len, 0);
            r.read_exact(&mut h[8..]).map_err(|e| bad(&path, e))?;
            (h, false, true)
        } else {
            let big = match magic {
                0xa1b2_c3d4 | 0xa1b2_3c4d => false,
                0xd4c3_b2a1 | 0x4d3c_b2a1 => true,
                _ => return Err(bad(&path, "not a pcap or pcapng file")),
            };
            let mut h = head.to_vec();
            h.resize(24, 0);
            r.read_exact(&mut h[8..]).map_err(|e| bad(&path, e))?;
            (h, big, false)
        };
        Ok(ShardFile {
            path,
            r: Some(r),
            offset: header.len() as u64,
            used: 0,
            header,
            idbs: Vec::new(),
            big,
            ng,
        })
    }

    /// The next record (pcapng: the next enhanced packet block, the interface descriptions
    /// before it taken in); `None` at the end.
    fn next(&mut self, out: &mut Vec<u8>) -> Result<bool, MergeError> {
        if self.r.is_none() {
            let mut f = File::open(&self.path).map_err(|e| bad(&self.path, e))?;
            std::io::Seek::seek(&mut f, std::io::SeekFrom::Start(self.offset))
                .map_err(|e| bad(&self.path, e))?;
            self.r = Some(BufReader::with_capacity(1 << 16, f));
        }
        let r = self.r.as_mut().expect("opened above");
        loop {
            out.clear();
            let n = if self.ng { 8 } else { 16 };
            out.resize(n, 0);
            let path = &self.path;
            if !read_exact_or_eof(r, out).map_err(|e| bad(path, e))? {
                return Ok(false);
            }
            let word = |b: &[u8], big: bool| {
                let a: [u8; 4] = b.try_into().expect("4 bytes");
                if big {
                    u32::from_be_bytes(a)
                } else {
                    u32::from_le_bytes(a)
                }
            };
            let total = if self.ng {
                word(&out[4..8], false) as usize
            } else {
                16 + word(&out[8..12], self.big) as usize
            };
            if total < n || total > 64 << 20 {
                return Err(bad(path, "a record of impossible length"));
            }
            out.resize(total, 0);
            r.read_exact(&mut out[n..]).map_err(|e| bad(path, e))?;
            self.offset += total as u64;
            if !self.ng {
                return Ok(true);
            }
            match word(&out[..4], false) {
                1 => self.idbs.push(out.clone()),
                6 if total >= 32 => return Ok(true),
                t => return Err(bad(path, format!("unexpected pcapng block type {t}"))),
            }
        }
    }
}

/// One merged output capture (closed while other files need the descriptors, reopened to
/// append).
struct Merged {
    dest: PathBuf,
    w: Option<BufWriter<File>>,
    /// When it was last written ([`Files::tick`]).
    used: u64,
    /// pcapng: per interface slot, the merged file's interface id (a map: the slots come from a
    /// file and bound nothing).
    ids: HashMap<u32, u32>,
    next_id: u32,
}

impl Merged {
    fn create(dest: PathBuf, header: &[u8]) -> Result<Merged, MergeError> {
        let out = |e: std::io::Error| MergeError::Output(format!("{}: {e}", dest.display()));
        let f = File::create(temp_name(&dest)).map_err(out)?;
        let mut w = BufWriter::with_capacity(1 << 16, f);
        w.write_all(header).map_err(out)?;
        Ok(Merged {
            dest,
            w: Some(w),
            used: 0,
            ids: HashMap::new(),
            next_id: 0,
        })
    }

    /// Its writer, reopened to append when it was closed.
    fn writer(&mut self) -> Result<&mut BufWriter<File>, MergeError> {
        if self.w.is_none() {
            let f = std::fs::OpenOptions::new()
                .append(true)
                .open(temp_name(&self.dest))
                .map_err(|e| MergeError::Output(format!("{}: {e}", self.dest.display())))?;
            self.w = Some(BufWriter::with_capacity(1 << 16, f));
        }
        Ok(self.w.as_mut().expect("opened above"))
    }

    fn write(&mut self, bytes: &[u8]) -> Result<(), MergeError> {
        self.writer()?
            .write_all(bytes)
            .map_err(|x| MergeError::Output(format!("{}: {x}", self.dest.display())))
    }

    /// Flushes and closes the file (it is reopened when written again).
    fn close(&mut self) -> Result<(), MergeError> {
        match self.w.take() {
            Some(w) => w
                .into_inner()
                .map(drop)
                .map_err(|e| MergeError::Output(format!("{}: {}", self.dest.display(), e.error()))),
            None => Ok(()),
        }
    }

    fn finish(mut self, set: &mut OutputSet) -> Result<(), MergeError> {
        let tmp = temp_name(&self.dest);
        set.add(tmp, self.dest.clone());
        self.close()
    }
}

/// The descriptors the merge may hold besides the positions files: shard captures read and
/// merged captures written, each kind at most `cap` open, the least recently used closed first.
struct Files {
    cap: usize,
    tick: u64,
    /// Shard captures open for reading.
    reading: usize,
    /// Merged captures open for writing.
    writing: usize,
}

impl Files {
    /// Room for one more shard capture to be read (it is then counted open).
    fn room_to_read(&mut self, files: &mut HashMap<(usize, u32), ShardFile>) {
        if self.reading >= self.cap
            && let Some(f) = files
                .values_mut()
                .filter(|f| f.r.is_some())
                .min_by_key(|f| f.used)
        {
            f.r = None;
            self.reading -= 1;
        }
        self.reading += 1;
    }

    /// Room for one more merged capture to be written (it is then counted open).
    fn room_to_write(&mut self, merged: &mut [Option<Merged>]) -> Result<(), MergeError> {
        if self.writing >= self.cap
            && let Some(m) = merged
                .iter_mut()
                .flatten()
                .filter(|m| m.w.is_some())
                .min_by_key(|m| m.used)
        {
            m.close()?;
            self.writing -= 1;
        }
        self.writing += 1;
        Ok(())
    }
}

/// One entry of a `positions.bin`.
#[derive(PartialEq, Eq, PartialOrd, Ord)]
struct Entry {
    position: u64,
    output: u32,
    slot: u32,
}

fn next_entry(r: &mut impl Read, path: &Path) -> Result<Option<Entry>, MergeError> {
    let mut e = [0u8; 16];
    if !read_exact_or_eof(r, &mut e).map_err(|e| bad(path, e))? {
        return Ok(None);
    }
    Ok(Some(Entry {
        position: u64::from_le_bytes(e[..8].try_into().expect("8 bytes")),
        output: u32::from_le_bytes(e[8..12].try_into().expect("4 bytes")),
        slot: u32::from_le_bytes(e[12..].try_into().expect("4 bytes")),
    }))
}

/// Merges the captures of the shard directories `dirs` (in shard order) into `out`; `outputs`
/// names the output files by index; the complete files are added to `set`.
pub(super) fn merge_captures(
    dirs: &[PathBuf],
    outputs: &[String],
    out: &Path,
    set: &mut OutputSet,
    budget: usize,
) -> Result<u64, MergeError> {
    // The positions files stay open; the rest share what is left, readers and writers alike.
    let mut pool = Files {
        cap: (budget.saturating_sub(dirs.len()) / 2).max(2),
        tick: 0,
        reading: 0,
        writing: 0,
    };
    let mut positions = Vec::new();
    for d in dirs {
        let p = d.join(crate::replay::shard::POSITIONS);
        let f = File::open(&p).map_err(|e| bad(&p, e))?;
        positions.push((p, BufReader::with_capacity(1 << 16, f)));
    }
    // (shard, output) -> the shard's file.
    let mut files: HashMap<(usize, u32), ShardFile> = HashMap::new();
    let mut merged: Vec<Option<Merged>> = (0..outputs.len()).map(|_| None).collect();
    // internet.pcap and dropped.pcapng are always written.
    for o in [0u32, 1] {
        pool.room_to_read(&mut files);
        pool.room_to_write(&mut merged)?;
        let f = ShardFile::open(dirs[0].join(&outputs[o as usize]))?;
        merged[o as usize] = Some(Merged::create(out.join(&outputs[o as usize]), &f.header)?);
        files.insert((0, o), f);
    }
    let mut heap = BinaryHeap::new();
    for (s, (p, r)) in positions.iter_mut().enumerate() {
        if let Some(e) = next_entry(r, p)? {
            heap.push(std::cmp::Reverse((e, s)));
        }
    }
    let mut rec = Vec::new();
    let mut last = 0u64;
    let mut frames = 0u64;
    while let Some(std::cmp::Reverse((e, s))) = heap.pop() {
        let ppath = &positions[s].0;
        if e.position <= last {
            return Err(bad(
                ppath,
                format!(
                    "frame {} again or out of order (another shard has it too?)",
                    e.position
                ),
            ));
        }
        last = e.position;
        frames += 1;
        let name = outputs
            .get(e.output as usize)
            .ok_or_else(|| bad(ppath, format!("output {} unknown to shard.json", e.output)))?;
        pool.tick += 1;
        if files.get(&(s, e.output)).is_none_or(|f| f.r.is_none()) {
            pool.room_to_read(&mut files);
        }
        let f = match files.entry((s, e.output)) {
            std::collections::hash_map::Entry::Occupied(o) => o.into_mut(),
            std::collections::hash_map::Entry::Vacant(v) => {
                v.insert(ShardFile::open(dirs[s].join(name))?)
            }
        };
        f.used = pool.tick;
        if !f.next(&mut rec)? {
            return Err(bad(&f.path, format!("no record for frame {}", e.position)));
        }
        if merged[e.output as usize]
            .as_ref()
            .is_none_or(|m| m.w.is_none())
        {
            pool.room_to_write(&mut merged)?;
        }
        let m = match &mut merged[e.output as usize] {
            Some(m) => m,
            slot => slot.insert(Merged::create(out.join(name), &f.header)?),
        };
        m.used = pool.tick;
        if f.ng {
            let local = u32::from_le_bytes(rec[8..12].try_into().expect("4 bytes")) as usize;
            let id = match m.ids.get(&e.slot) {
                Some(&id) => id,
                None => {
                    let idb = f
                        .idbs
                        .get(local)
                        .ok_or_else(|| bad(&f.path, format!("interface {local} undescribed")))?;
                    m.write(idb)?;
                    m.ids.insert(e.slot, m.next_id);
                    m.next_id += 1;
                    m.next_id - 1
                }
            };
            rec[8..12].copy_from_slice(&id.to_le_bytes());
        }
        m.write(&rec)?;
        let (pp, pr) = &mut positions[s];
        if let Some(n) = next_entry(pr, pp)? {
            heap.push(std::cmp::Reverse((n, s)));
        }
    }
    // Every record of every shard file was placed (each file closed once checked).
    for f in files.values_mut() {
        if f.next(&mut rec)? {
            return Err(bad(&f.path, "more records than positions.bin lists"));
        }
        f.r = None;
    }
    for m in merged.into_iter().flatten() {
        m.finish(set)?;
    }
    Ok(frames)
}
