//! Room in the flow table: when it is full ([`MAX_FLOWS`]), flows that ended (TCP: FIN both
//! ways, or RST) or went idle ([`FLOW_IDLE_S`] of capture time without a frame) leave it. Their
//! records are kept aside and reported like the others, so only flows still open count against
//! the bound. Flows the ALG tracker knows (a protocol, an announcement, a related flow) stay.
//! Below the bound nothing leaves, so a replay that fits reports exactly what it always did.

use super::*;

/// A flow without a frame for this long (capture time) has gone idle.
pub const FLOW_IDLE_S: i64 = 300;

/// TCP FIN flag.
pub const TCP_FIN: u8 = 0x01;
/// TCP RST flag.
pub const TCP_RST: u8 = 0x04;

/// A FIN from the flow's VPC-side end.
pub const FIN_LOCAL: u8 = 1;
/// A FIN from the far end.
pub const FIN_REMOTE: u8 = 2;
/// A RST from either end.
pub const RST: u8 = 4;

/// The end marks of a TCP segment with `flags`, sent by the VPC side or not.
#[inline]
pub fn ends(flags: u8, from_local: bool) -> u8 {
    let mut e = 0;
    if flags & TCP_FIN != 0 {
        e |= if from_local { FIN_LOCAL } else { FIN_REMOTE };
    }
    if flags & TCP_RST != 0 {
        e |= RST;
    }
    e
}

impl FlowRec {
    fn ended(&self, now_s: i64) -> bool {
        self.ends() & RST != 0
            || self.ends() & (FIN_LOCAL | FIN_REMOTE) == FIN_LOCAL | FIN_REMOTE
            || now_s.saturating_sub(self.last_s) > FLOW_IDLE_S
    }
}

impl Stats {
    /// Makes room in a full table (a frame of a new flow at `now_s`): moves the ended and
    /// idle flows out. Returns whether there is room now. After a sweep that freed less than a
    /// sixteenth of the table, the next one waits 4,096 frames (a sweep walks the table).
    pub(super) fn make_room(&mut self, now_s: i64) -> bool {
        if self.frames_in < self.next_sweep {
            return false;
        }
        let alg = &self.alg;
        let gone: Vec<FlowKey> = self
            .flows
            .iter()
            .filter(|(k, f)| {
                f.ended(now_s)
                    && alg.flow(k).is_none()
                    && alg.related_to(k).is_none()
                    && alg.announced_at(&f.local(k)).is_none()
                    && alg.announced_at(&f.remote(k)).is_none()
            })
            .map(|(k, _)| *k)
            .collect();
        for k in gone {
            if let Some(f) = self.flows.remove(&k) {
                self.archive.push(k, f);
            }
        }
        if MAX_FLOWS - self.flows.len() < MAX_FLOWS / 16 {
            self.next_sweep = self.frames_in + 4096;
        }
        self.flows.len() < MAX_FLOWS
    }

    /// The flows the related-flow findings look through (those in the table only if an end of
    /// theirs was announced), in the order of the flow table then
    /// of leaving it: those in the table, then per shard those that left it (the ones in spill
    /// files only as far as [`Stats::settle`] read them back).
    pub(super) fn linking_flows(&self) -> Vec<(&FlowKey, &FlowRec)> {
        // Only flows with an announced end link to anything.
        let alg = &self.alg;
        let linking = self.table_flows().filter(|(k, f)| {
            alg.announced_at(&f.local(k)).is_some() || alg.announced_at(&f.remote(k)).is_some()
        });
        let mut v = self.in_table_order(linking.collect());
        let mut settled = self.settled.iter().peekable();
        for (i, buf) in self.archive.buffers().enumerate() {
            while let Some((_, _, k, f)) = settled.next_if(|s| s.0 == i) {
                v.push((k, f));
            }
            v.extend(buf.iter().map(|(k, f)| (k, f)));
        }
        v
    }

    /// Every flow, in order of first frame: those in the table merged with those that left it
    /// (in memory and in spill files).
    pub(super) fn ordered_flows(&self) -> std::io::Result<spill::Ordered<'_>> {
        spill::Ordered::new(self.table_flows(), &self.archive)
    }

    /// Flows that left the full table (ended or idle).
    pub fn flows_archived(&self) -> usize {
        self.archive.count() as usize
    }

    /// From now on, flows that leave the table gather in memory `buffer` at a time, then go
    /// to the file `path` (created when first needed, removed when these counters are dropped
    /// or [`Stats::discard_spill`] is called). A replay gives each shard its own file in the
    /// output directory, under a temporary name.
    pub fn spill_to(&mut self, path: std::path::PathBuf, buffer: usize) {
        self.archive.spill_to(path, buffer);
    }

    /// The first failure to write a spill file: (the file, what the system said). The records
    /// stay in memory from then on; the replay fails when it writes its outputs.
    pub fn spill_error(&self) -> Option<&(std::path::PathBuf, String)> {
        self.archive.error()
    }

    /// The spill files written so far.
    pub fn spill_files(&self) -> Vec<&std::path::Path> {
        self.archive.paths()
    }

    /// Reads back, once the pass is over, the flows in spill files that a control channel's
    /// announcement may name (the related-flow findings look through them), so that the report
    /// and the summary need not read them again for that.
    pub fn settle(&mut self) -> std::io::Result<()> {
        self.settled.clear();
        if !self.archive.spilled() || self.alg.announcements().next().is_none() {
            return Ok(());
        }
        let alg = &self.alg;
        let mut found = Vec::new();
        self.archive.for_each_spilled(|part, seq, k, f| {
            if alg.announced_at(&f.local(&k)).is_some() || alg.announced_at(&f.remote(&k)).is_some()
            {
                found.push((part, seq, k, f));
            }
        })?;
        found.sort_by_key(|s| (s.0, s.1));
        self.settled = found;
        Ok(())
    }

    /// Removes the spill files: the flows in them are no longer reported (their count stays,
    /// and what [`Stats::settle`] read back stays).
    pub fn discard_spill(&mut self) {
        self.archive.discard_spilled();
    }
}
