//! The ENI outputs: one capture per ENI that received a frame, their records gathered in one
//! shared buffer so that memory stays bounded and files are opened rarely, whatever the number
//! of ENIs.

use std::path::PathBuf;

use super::{CaptureWriter, OutFormat, OutputError};
use crate::replay::input::{IfaceDesc, Meta};

/// Bytes of ENI records gathered before they are written out.
const SHARED: usize = 16 << 20;

/// No run.
const NONE: u32 = u32::MAX;

/// The ENI output files of a run, at most `max_open` of them open at once.
///
/// Records are encoded in arrival order into one shared buffer, each tagged with its writer.
/// When the buffer is full (and at the end) the tags are sorted by writer and every file gets
/// its records in one vectored write. The first writers (up to `max_open - 1`) keep their file
/// open; the others are opened to append, written and closed, so one descriptor stays free for
/// them. Output is byte-identical whatever `max_open` is.
pub struct EniWriters {
    format: OutFormat,
    /// Per ENI: its writer's place in `writers` (`NONE` until the ENI receives a frame).
    slot: Vec<u32>,
    /// The writers, in the order their ENIs first received a frame (`None`: abandoned).
    writers: Vec<Option<CaptureWriter>>,
    /// Records not yet written.
    shared: Vec<u8>,
    /// Per gathered run of records: (start, end) in `shared` and the index of the same
    /// writer's next run (`NONE` for its last).
    pending: Vec<(u32, u32, u32)>,
    /// Per writer: its first and last run in `pending` (`NONE` when it has none).
    runs: Vec<(u32, u32)>,
    /// The writers with runs in `pending`.
    touched: Vec<u32>,
    /// At most this many files open at once.
    max_open: usize,
    /// Writers whose file stays open.
    kept_open: usize,
    /// Opens of writers already finished with (see [`EniWriters::opens`]).
    closed_opens: u64,
    /// Write the shared buffer out once it holds this many bytes.
    limit: usize,
    /// One file's records put together for writing.
    joined: Vec<u8>,
}

impl EniWriters {
    /// No writer yet for `enis` ENIs; at most `max_open` (at least 1) files open at once.
    pub fn new(enis: usize, format: OutFormat, max_open: usize) -> EniWriters {
        EniWriters {
            format,
            slot: vec![NONE; enis],
            writers: Vec::new(),
            shared: Vec::new(),
            pending: Vec::new(),
            runs: vec![(NONE, NONE); enis],
            touched: Vec::new(),
            max_open: max_open.max(1),
            kept_open: 0,
            closed_opens: 0,
            limit: SHARED,
            joined: Vec::new(),
        }
    }

    /// Writes the shared buffer out whenever it holds `limit` bytes (for tests: small limits
    /// write out often).
    pub fn with_limit(mut self, limit: usize) -> EniWriters {
        self.limit = limit;
        self
    }

    /// Grows (or shrinks) to `enis` ENIs; writers of ENIs past the end are abandoned.
    pub fn resize(&mut self, enis: usize) {
        let gone = self.slot.drain(enis.min(self.slot.len())..);
        for w in gone.filter_map(|i| self.writers.get_mut(i as usize)?.take()) {
            self.kept_open -= usize::from(w.is_open());
            self.closed_opens += w.opens;
            w.abandon();
        }
        self.slot.resize(enis, NONE);
        // Runs of writers past the end are never written: unlink them.
        for x in self.touched.iter().filter(|&&x| x as usize >= enis) {
            self.runs[*x as usize] = (NONE, NONE);
        }
        self.touched.retain(|&x| (x as usize) < enis);
        self.runs.resize(enis, (NONE, NONE));
    }

    /// Writes a frame to ENI `x`'s file, created (at `path()`) on its first frame; returns the
    /// frames that file holds.
    pub fn write(
        &mut self,
        x: usize,
        path: impl FnOnce() -> PathBuf,
        meta: &Meta,
        desc: &IfaceDesc,
        data: &[u8],
    ) -> Result<u64, OutputError> {
        if self.slot[x] == NONE {
            // A file that is not kept open is created when its records are first written out.
            let w = if self.kept_open + 1 < self.max_open {
                self.kept_open += 1;
                CaptureWriter::create(path(), self.format)?
            } else {
                CaptureWriter::deferred(path(), self.format)?
            };
            self.slot[x] = self.writers.len() as u32;
            self.writers.push(Some(w));
        }
        let w = self.writers[self.slot[x] as usize]
            .as_mut()
            .expect("writer exists");
        if self.shared.capacity() == 0 {
            // Reserved once (pages are touched only as records arrive): no regrowth copies.
            self.shared.reserve(self.limit + (64 << 10));
        }
        let start = self.shared.len();
        w.encode(&mut self.shared, meta, desc, data, None);
        let frames = w.frames;
        let end = self.shared.len() as u32;
        let (head, tail) = self.runs[x];
        if tail == NONE {
            self.touched.push(x as u32);
            self.runs[x] = (self.pending.len() as u32, self.pending.len() as u32);
            self.pending.push((start as u32, end, NONE));
        } else if self.pending[tail as usize].1 == start as u32 {
            // Right after this writer's last run: one longer run.
            self.pending[tail as usize].1 = end;
        } else {
            let at = self.pending.len() as u32;
            self.pending[tail as usize].2 = at;
            self.runs[x] = (head, at);
            self.pending.push((start as u32, end, NONE));
        }
        if self.shared.len() >= self.limit {
            self.flush()?;
        }
        Ok(frames)
    }

    /// Writes every gathered record out, each file's in one call (its records are first put
    /// together: many small pieces cost the system more than one copy here).
    pub fn flush(&mut self) -> Result<(), OutputError> {
        // Files in ENI order (the order does not change any file's bytes; it fixes which
        // file an error names first).
        self.touched.sort_unstable();
        let mut res = Ok(());
        let mut joined = std::mem::take(&mut self.joined);
        for &x in &self.touched {
            let (mut run, _) = std::mem::replace(&mut self.runs[x as usize], (NONE, NONE));
            if res.is_err() {
                continue;
            }
            let at = self.slot[x as usize] as usize;
            if let Some(Some(w)) = self.writers.get_mut(at) {
                joined.clear();
                w.take_buffered(&mut joined);
                while run != NONE {
                    let (s, e, next) = self.pending[run as usize];
                    joined.extend_from_slice(&self.shared[s as usize..e as usize]);
                    run = next;
                }
                res = w.append(&joined);
            }
        }
        joined.clear();
        joined.shrink_to(1 << 20);
        self.joined = joined;
        self.shared.clear();
        self.pending.clear();
        self.touched.clear();
        res
    }

    /// The frames ENI `x`'s file holds (0 when it has none).
    pub fn frames(&self, x: usize) -> u64 {
        self.slot
            .get(x)
            .and_then(|&i| self.writers.get(i as usize)?.as_ref())
            .map_or(0, |w| w.frames)
    }

    /// The ENIs these writers are for.
    pub fn enis(&self) -> usize {
        self.slot.len()
    }

    /// Times an ENI file was opened (created or reopened to append) so far.
    pub fn opens(&self) -> u64 {
        self.closed_opens + self.writers.iter().flatten().map(|w| w.opens).sum::<u64>()
    }

    /// The writers of the ENIs that received frames, in ENI order (call
    /// [`EniWriters::flush`] first: what is not written is lost).
    pub fn into_writers(self) -> impl Iterator<Item = CaptureWriter> {
        let mut writers = self.writers;
        self.slot
            .into_iter()
            .filter_map(move |i| writers.get_mut(i as usize)?.take())
    }

    /// Deletes every temporary file (a failed run).
    pub fn abandon(self) {
        for w in self.writers.into_iter().flatten() {
            w.abandon();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::replay::input::Stamp;
    use crate::wire::LinkType;

    /// Writes 2,000 frames of varied lengths to 20 ENIs; returns each file's bytes and the opens.
    fn write_all(dir: &std::path::Path, max_open: usize, limit: usize) -> (Vec<Vec<u8>>, u64) {
        let _ = std::fs::remove_dir_all(dir);
        std::fs::create_dir_all(dir).unwrap();
        let header = pcap_file::pcap::PcapHeader::default();
        let mut w = EniWriters::new(20, OutFormat::Pcap(header), max_open).with_limit(limit);
        let desc = IfaceDesc {
            linktype: 1,
            snaplen: 65535,
            idb: None,
            nanos: false,
        };
        for n in 0..2000u32 {
            let x = (n * 7 + n / 3) as usize % 20;
            let meta = Meta {
                stamp: Stamp::Pcap {
                    sec: n,
                    frac: 0,
                    nanos: false,
                },
                orig_len: 0,
                iface: (0, 0),
                iface_no: 0,
                slot: 0,
                link: LinkType::Ethernet,
                linktype: 1,
                record: u64::from(n) + 1,
                unsupported_link: false,
            };
            let data = vec![n as u8; 14 + (n % 50) as usize];
            let frames = w
                .write(x, || dir.join(format!("{x}.pcap")), &meta, &desc, &data)
                .unwrap();
            assert_eq!(frames, w.frames(x));
        }
        w.flush().unwrap();
        let opens = w.opens();
        let files = w
            .into_writers()
            .map(|w| std::fs::read(w.finish().unwrap()).unwrap())
            .collect();
        (files, opens)
    }

    #[test]
    fn small_shared_buffer_and_few_open_files_write_the_same_bytes() {
        let base = std::env::temp_dir().join(format!("eipsim-enis-{}", std::process::id()));
        let (a, opens_a) = write_all(&base.join("a"), 4096, SHARED);
        let (b, opens_b) = write_all(&base.join("b"), 3, 5000);
        assert_eq!(a.len(), 20);
        for (k, (fa, fb)) in a.iter().zip(&b).enumerate() {
            assert!(fa.len() > 24 + 100 * 16, "file {k} holds its frames");
            assert!(fa == fb, "file {k} differs");
        }
        // One open per file when nothing is written out before the end.
        assert_eq!(opens_a, 20);
        // 2 files kept open (1 open each); 18 opened once per write-out that had their records.
        assert!(
            opens_b > 20 && opens_b <= 2 + 18 * (2000 * 90 / 5000 + 1),
            "{opens_b}"
        );
        let _ = std::fs::remove_dir_all(&base);
    }
}
