//! Flows that left the flow table ([`super::evict`]), kept for the report without keeping them
//! in memory: a bounded buffer, sorted by first frame and appended to a spill file as a run
//! when it is full. The report reads them back in first-frame order, merging the sorted runs
//! with the flows still in memory ([`Ordered`]), so memory stays bounded whatever the number
//! of flows that ended.
//!
//! A record is encoded by hand, compactly: the key (13 bytes), then the record's flags and
//! fields with counters as LEB128 varints and per-category counters only where not zero.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::fs::File;
use std::io::{self, BufReader, Read};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::counts::{Counts, SLOTS};
use super::rec::{HAS_EIP, HAS_ENI, mode_of};
use super::{FlowKey, FlowRec};

/// The mask of the slots with a count is a 64-bit varint.
const _: () = assert!(SLOTS <= 64);

/// Ended flows a shard keeps in memory before it writes them out as a run (by default).
pub const SPILL_BUFFER: usize = 4096;

/// Bytes of read buffer all the runs of a merge share (each gets at least 1 KiB).
const MERGE_READ_BUDGET: usize = 4 << 20;

/// A spill file: removed when the last holder drops it (success, failure or panic alike; a
/// killed process leaves it to the next run into the directory, which removes it).
#[derive(Debug)]
struct SpillFile {
    path: PathBuf,
    file: File,
}

impl Drop for SpillFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// A sorted run of records in a spill file: its bytes and number of records.
#[derive(Clone, Copy, Debug)]
struct Run {
    offset: u64,
    len: u64,
    count: u64,
}

/// The ended flows of one shard: the buffer, and the runs written out.
#[derive(Clone, Debug, Default)]
pub(super) struct Part {
    buf: Vec<(FlowKey, FlowRec)>,
    /// Where runs go; `None`: everything stays in memory.
    path: Option<PathBuf>,
    /// Records the buffer holds before it is written out.
    cap: usize,
    file: Option<Arc<SpillFile>>,
    runs: Vec<Run>,
}

/// Every flow that left the flow table: one [`Part`] per shard merged in, and the count.
#[derive(Clone, Debug, Default)]
pub(super) struct Archive {
    parts: Vec<Part>,
    count: u64,
    /// The first failure to write a spill file (the file and the system's message): the
    /// records stay in memory from then on and the replay fails when it writes its outputs.
    error: Option<(PathBuf, String)>,
}

impl Archive {
    /// Records that left the table.
    pub(super) fn count(&self) -> u64 {
        self.count
    }

    /// From now on, the records go to runs in the file `path` once `cap` of them gather.
    pub(super) fn spill_to(&mut self, path: PathBuf, cap: usize) {
        if self.parts.is_empty() {
            self.parts.push(Part::default());
        }
        let p = &mut self.parts[0];
        p.path = Some(path);
        p.cap = cap.max(1);
    }

    /// Keeps a record that left the table.
    pub(super) fn push(&mut self, k: FlowKey, f: FlowRec) {
        if self.parts.is_empty() {
            self.parts.push(Part::default());
        }
        self.count += 1;
        let p = &mut self.parts[0];
        p.buf.push((k, f));
        if p.path.is_some()
            && p.buf.len() >= p.cap
            && self.error.is_none()
            && let Err(e) = p.write_run()
        {
            self.error = Some((p.path.clone().unwrap_or_default(), e.to_string()));
        }
    }

    /// Takes in another shard's records.
    pub(super) fn absorb(&mut self, other: Archive) {
        if self.parts.is_empty() {
            self.parts.push(Part::default());
        }
        self.count += other.count;
        self.error = self.error.take().or(other.error);
        self.parts.extend(other.parts);
    }

    /// The first spill failure: the file and what the system said.
    pub(super) fn error(&self) -> Option<&(PathBuf, String)> {
        self.error.as_ref()
    }

    /// Whether some records are only on disk.
    pub(super) fn spilled(&self) -> bool {
        self.parts.iter().any(|p| !p.runs.is_empty())
    }

    /// The records in memory, in no particular order.
    pub(super) fn in_memory(&self) -> impl Iterator<Item = (&FlowKey, &FlowRec)> {
        self.parts
            .iter()
            .flat_map(|p| p.buf.iter().map(|(k, f)| (k, f)))
    }

    /// Per part (shard), the records in memory, in the order they left the table (they left
    /// after every record of the part on disk).
    pub(super) fn buffers(&self) -> impl Iterator<Item = &[(FlowKey, FlowRec)]> {
        self.parts.iter().map(|p| p.buf.as_slice())
    }

    /// Calls `f` on every record on disk, run after run, with its part and its place in the
    /// order the part's records left the table.
    pub(super) fn for_each_spilled(
        &self,
        mut f: impl FnMut(usize, u64, FlowKey, FlowRec),
    ) -> io::Result<()> {
        for (i, p) in self.parts.iter().enumerate() {
            let Some(file) = &p.file else { continue };
            for run in &p.runs {
                let mut r = RunReader::new(file.clone(), *run, 64 << 10);
                while let Some((seq, k, rec)) = r.next_seq_record()? {
                    f(i, seq, k, rec);
                }
            }
        }
        Ok(())
    }

    /// Removes the spill files and forgets the records on disk (the count stays).
    pub(super) fn discard_spilled(&mut self) {
        for p in &mut self.parts {
            p.file = None;
            p.runs.clear();
        }
    }

    /// The records on disk as sorted runs, and the spill files' paths.
    fn runs(&self) -> Vec<(Arc<SpillFile>, Run)> {
        self.parts
            .iter()
            .filter_map(|p| p.file.as_ref().map(|f| (f, &p.runs)))
            .flat_map(|(f, runs)| runs.iter().map(|r| (f.clone(), *r)))
            .collect()
    }

    /// The paths of the spill files written so far.
    pub(super) fn paths(&self) -> Vec<&Path> {
        self.parts
            .iter()
            .filter_map(|p| p.file.as_ref().map(|f| f.path.as_path()))
            .collect()
    }
}

impl Part {
    /// Sorts the buffer by first frame and appends it to the spill file as a run.
    fn write_run(&mut self) -> io::Result<()> {
        use std::io::Write as _;
        let Some(path) = &self.path else {
            return Ok(());
        };
        let file = match &self.file {
            Some(f) => f.clone(),
            None => {
                let file = std::fs::OpenOptions::new()
                    .create(true)
                    .truncate(true)
                    .read(true)
                    .write(true)
                    .open(path)?;
                let f = Arc::new(SpillFile {
                    path: path.clone(),
                    file,
                });
                self.file = Some(f.clone());
                f
            }
        };
        let base: u64 = self.runs.iter().map(|r| r.count).sum();
        let mut order: Vec<usize> = (0..self.buf.len()).collect();
        order.sort_unstable_by_key(|&i| self.buf[i].1.first_frame);
        let mut bytes = Vec::with_capacity(self.buf.len() * 48);
        for i in order {
            let (k, f) = &self.buf[i];
            encode(&mut bytes, base + i as u64, k, f);
        }
        let offset = self.runs.last().map_or(0, |r| r.offset + r.len);
        let mut w = &file.file;
        io::Seek::seek(&mut w, io::SeekFrom::Start(offset))?;
        w.write_all(&bytes)?;
        self.runs.push(Run {
            offset,
            len: bytes.len() as u64,
            count: self.buf.len() as u64,
        });
        self.buf.clear();
        Ok(())
    }
}

fn put_var(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push(v as u8 | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// Appends the encoding of one record, the `seq`-th of its part to leave the table.
fn encode(out: &mut Vec<u8>, seq: u64, k: &FlowKey, f: &FlowRec) {
    put_var(out, seq);
    out.push(k.proto);
    for (a, p) in [k.a, k.b] {
        out.extend_from_slice(&a.to_le_bytes());
        out.extend_from_slice(&p.to_le_bytes());
    }
    let (flags, mode, eni, eip, counts) = f.parts();
    out.push(flags);
    out.push(mode);
    if flags & HAS_ENI != 0 {
        put_var(out, u64::from(eni));
    }
    if flags & HAS_EIP != 0 {
        out.extend_from_slice(&eip.to_le_bytes());
    }
    put_var(out, f.first_frame);
    put_var(out, (f.last_s << 1 ^ f.last_s >> 63) as u64);
    let mut mask = 0u64;
    for c in 0..SLOTS {
        if counts.get(c) > 0 {
            mask |= 1 << c;
        }
    }
    put_var(out, mask);
    for c in 0..SLOTS {
        let n = counts.get(c);
        if n > 0 {
            put_var(out, n);
        }
    }
}

/// Reads one sorted run back.
struct RunReader {
    r: BufReader<Slice>,
    left: u64,
}

/// A run's bytes as a reader (its own position in the shared file).
struct Slice {
    file: Arc<SpillFile>,
    pos: u64,
    end: u64,
}

impl Read for Slice {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let want = buf.len().min((self.end - self.pos) as usize);
        if want == 0 {
            return Ok(0);
        }
        let n = read_at(&self.file.file, &mut buf[..want], self.pos)?;
        self.pos += n as u64;
        Ok(n)
    }
}

#[cfg(unix)]
fn read_at(f: &File, buf: &mut [u8], pos: u64) -> io::Result<usize> {
    std::os::unix::fs::FileExt::read_at(f, buf, pos)
}

#[cfg(windows)]
fn read_at(f: &File, buf: &mut [u8], pos: u64) -> io::Result<usize> {
    std::os::windows::fs::FileExt::seek_read(f, buf, pos)
}

impl RunReader {
    fn new(file: Arc<SpillFile>, run: Run, buffer: usize) -> RunReader {
        RunReader {
            r: BufReader::with_capacity(
                buffer,
                Slice {
                    file,
                    pos: run.offset,
                    end: run.offset + run.len,
                },
            ),
            left: run.count,
        }
    }

    fn byte(&mut self) -> io::Result<u8> {
        let mut b = [0u8];
        self.r.read_exact(&mut b)?;
        Ok(b[0])
    }

    fn var(&mut self) -> io::Result<u64> {
        let mut v = 0u64;
        for shift in (0..64).step_by(7) {
            let b = self.byte()?;
            v |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return Ok(v);
            }
        }
        Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "spill file: a counter is too long",
        ))
    }

    fn u32(&mut self) -> io::Result<u32> {
        let mut b = [0u8; 4];
        self.r.read_exact(&mut b)?;
        Ok(u32::from_le_bytes(b))
    }

    fn end(&mut self) -> io::Result<(u32, u16)> {
        let a = self.u32()?;
        let mut b = [0u8; 2];
        self.r.read_exact(&mut b)?;
        Ok((a, u16::from_le_bytes(b)))
    }

    /// The next record of the run, if any.
    fn next_record(&mut self) -> io::Result<Option<(FlowKey, FlowRec)>> {
        Ok(self.next_seq_record()?.map(|(_, k, f)| (k, f)))
    }

    /// The next record of the run and its place in its part's order, if any.
    fn next_seq_record(&mut self) -> io::Result<Option<(u64, FlowKey, FlowRec)>> {
        if self.left == 0 {
            return Ok(None);
        }
        self.left -= 1;
        let seq = self.var()?;
        let bad =
            |what: &str| io::Error::new(io::ErrorKind::InvalidData, format!("spill file: {what}"));
        let kp = self.byte()?;
        let (a, b) = (self.end()?, self.end()?);
        let flags = self.byte()?;
        let mode = self.byte()?;
        if mode_of(mode).is_none() {
            return Err(bad("mode"));
        }
        let eni = if flags & HAS_ENI != 0 {
            u32::try_from(self.var()?).map_err(|_| bad("ENI index"))?
        } else {
            0
        };
        let eip = if flags & HAS_EIP != 0 { self.u32()? } else { 0 };
        let first_frame = self.var()?;
        let z = self.var()?;
        let last_s = (z >> 1) as i64 ^ -((z & 1) as i64);
        let mask = self.var()?;
        let mut counts = Counts::default();
        for c in 0..SLOTS {
            if mask & (1 << c) != 0 {
                counts.add(c, self.var()?);
            }
        }
        Ok(Some((
            seq,
            FlowKey { proto: kp, a, b },
            FlowRec::from_parts(first_frame, last_s, (flags, mode, eni, eip, counts)),
        )))
    }
}

/// Every flow in first-frame order: those in memory (the table's and the archive's buffers)
/// merged with the sorted runs on disk. Ties (none in a replay: a frame opens one flow at
/// most) keep memory first, then the runs in order.
pub(super) struct Ordered<'a> {
    memory: Vec<(&'a FlowKey, &'a FlowRec)>,
    next: usize,
    runs: Vec<RunReader>,
    /// (first frame, source): source 0 the memory, 1 + i run i.
    heap: BinaryHeap<Reverse<(u64, usize)>>,
    /// The head record of each run.
    heads: Vec<Option<(FlowKey, FlowRec)>>,
}

impl<'a> Ordered<'a> {
    /// The flows of `table` and of `archive`, in first-frame order.
    pub(super) fn new(
        table: impl Iterator<Item = (&'a FlowKey, &'a FlowRec)>,
        archive: &'a Archive,
    ) -> io::Result<Ordered<'a>> {
        let mut memory: Vec<_> = table.chain(archive.in_memory()).collect();
        memory.sort_by_key(|(_, f)| f.first_frame);
        let runs = archive.runs();
        let each = (MERGE_READ_BUDGET / runs.len().max(1)).max(1024);
        let mut runs: Vec<RunReader> = runs
            .into_iter()
            .map(|(f, r)| RunReader::new(f, r, each))
            .collect();
        let mut heap = BinaryHeap::new();
        if let Some((_, f)) = memory.first() {
            heap.push(Reverse((f.first_frame, 0)));
        }
        let mut heads = Vec::with_capacity(runs.len());
        for (i, r) in runs.iter_mut().enumerate() {
            let head = r.next_record()?;
            if let Some((_, f)) = &head {
                heap.push(Reverse((f.first_frame, i + 1)));
            }
            heads.push(head);
        }
        Ok(Ordered {
            memory,
            next: 0,
            runs,
            heap,
            heads,
        })
    }

    /// The next flow, owned.
    pub(super) fn next_flow(&mut self) -> io::Result<Option<(FlowKey, FlowRec)>> {
        let Some(Reverse((_, src))) = self.heap.pop() else {
            return Ok(None);
        };
        if src == 0 {
            let (k, f) = self.memory[self.next];
            self.next += 1;
            if let Some((_, n)) = self.memory.get(self.next) {
                self.heap.push(Reverse((n.first_frame, 0)));
            }
            return Ok(Some((*k, f.clone())));
        }
        let i = src - 1;
        let head = self.heads[i].take();
        let next = self.runs[i].next_record()?;
        if let Some((_, f)) = &next {
            self.heap.push(Reverse((f.first_frame, src)));
        }
        self.heads[i] = next;
        Ok(head)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::counts::CATS;

    fn rec(n: u64) -> (FlowKey, FlowRec) {
        let mut counts = Counts::default();
        for c in 0..(n as usize % CATS) + 1 {
            counts.add(
                c * 7 % CATS,
                if n.is_multiple_of(3) {
                    u64::MAX / 32
                } else {
                    n + c as u64
                },
            );
        }
        let k = FlowKey {
            proto: n as u8,
            a: (u32::MAX - n as u32, n as u16),
            b: (n as u32, u16::MAX),
        };
        counts.add(crate::report::counts::TO_PRIVATE, n * 3);
        // Flags: ENI (even), EIP (not a multiple of 3), not ALG (odd), local end `a` (even),
        // and the ends.
        let mut flags = (n as u8 & 7) << 4;
        if n.is_multiple_of(2) {
            flags |= HAS_ENI | 8;
        } else {
            flags |= 4;
        }
        if !n.is_multiple_of(3) {
            flags |= HAS_EIP;
        }
        let last_s = if n.is_multiple_of(2) {
            -(n as i64)
        } else {
            i64::MAX - n as i64
        };
        let f = FlowRec::from_parts(
            (n * 7919) % 1000 + n * 1000,
            last_s,
            (flags, n as u8 % 4, u32::MAX - n as u32, n as u32, counts),
        );
        (k, f)
    }

    /// Records come back from the spill runs as they went in, merged in first-frame order with
    /// those in memory, and the file goes with the archive.
    #[test]
    fn spilled_records_come_back_whole_and_in_order() {
        let dir = std::env::temp_dir().join(format!("eipsim-spill-unit-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(".flows-0.spill.1.tmp");
        let mut a = Archive::default();
        a.spill_to(path.clone(), 3);
        // Pushed out of order: each run is sorted on its own.
        let order = [9u64, 2, 7, 1, 8, 3, 0, 5, 6, 4, 11];
        for n in order {
            let (k, f) = rec(n);
            a.push(k, f);
        }
        assert!(a.error().is_none());
        assert!(a.spilled() && path.is_file());
        assert_eq!(a.count(), order.len() as u64);
        let table: Vec<(FlowKey, FlowRec)> = [10u64, 12].iter().map(|n| rec(*n)).collect();
        let mut it = Ordered::new(table.iter().map(|(k, f)| (k, f)), &a).unwrap();
        let mut got = Vec::new();
        while let Some((k, f)) = it.next_flow().unwrap() {
            got.push(format!("{k:?} {f:?}"));
        }
        let mut all: Vec<(FlowKey, FlowRec)> = (0..13).map(rec).collect();
        all.sort_by_key(|(_, f)| f.first_frame);
        let want: Vec<String> = all.iter().map(|(k, f)| format!("{k:?} {f:?}")).collect();
        assert_eq!(got, want);
        // Their order of leaving the table is kept too (the related-flow findings use it).
        let mut seen = Vec::new();
        a.for_each_spilled(|_, seq, _, f| seen.push((seq, f.first_frame)))
            .unwrap();
        seen.sort();
        let firsts: Vec<u64> = order[..9].iter().map(|n| rec(*n).1.first_frame).collect();
        assert_eq!(seen.iter().map(|s| s.1).collect::<Vec<_>>(), firsts);
        drop(it);
        drop(a);
        assert!(!path.exists());
        let _ = std::fs::remove_dir_all(&dir);
    }
}
