//! Counters of several shards made one: the frame pass keeps per-flow state in fixed shards
//! (by the inside endpoint of each flow) and the report is their sum.

use super::{FlowRec, Stats};

impl Stats {
    /// Counts a frame in the current segment of the timeline only (the leader of a sharded
    /// pass: the shards count everything else).
    #[inline]
    pub fn count_segment(&mut self, v: &crate::dataplane::Verdict) {
        if let Some(seg) = self.segments.last_mut() {
            seg.count(v);
        }
    }

    /// Adds the counters, flows and announcements of `other`, a shard of the same replay, to
    /// these. The timeline, segments, NAT mappings and settings stay this one's. A flow found
    /// in both (its owner changed with an event) is summed, its first frame the earlier one;
    /// an end announced in both keeps the earlier announcement.
    pub fn merge(&mut self, other: Stats) {
        self.frames_in += other.frames_in;
        self.forwarded += other.forwarded;
        for (a, b) in self.dropped.iter_mut().zip(other.dropped) {
            *a += b;
        }
        if self.egress.len() < other.egress.len() {
            self.egress.resize(other.egress.len(), 0);
        }
        for (a, b) in self.egress.iter_mut().zip(&other.egress) {
            *a += b;
        }
        for (a, b) in self.actions.iter_mut().zip(other.actions) {
            *a += b;
        }
        self.flows_untracked += other.flows_untracked;
        self.archive.absorb(other.archive);
        self.settled.clear();
        self.alg.merge(other.alg);
        self.restored += other.restored;
        self.internet_in += other.internet_in;
        self.internet_to_private += other.internet_to_private;
        for (k, f) in other.flows {
            match self.flows.entry(k) {
                std::collections::hash_map::Entry::Vacant(e) => {
                    e.insert(f);
                }
                std::collections::hash_map::Entry::Occupied(mut e) => join(e.get_mut(), f),
            }
        }
    }
}

/// One flow seen by two shards: counters summed, the earlier record's identity kept.
fn join(a: &mut FlowRec, mut b: FlowRec) {
    if b.first_frame < a.first_frame {
        std::mem::swap(a, &mut b);
    }
    a.frames += b.frames;
    a.forwarded += b.forwarded;
    for (x, y) in a.dropped.iter_mut().zip(b.dropped) {
        *x += y;
    }
    for (x, y) in a.actions.iter_mut().zip(b.actions) {
        *x += y;
    }
    a.internet_to_private += b.internet_to_private;
    a.eni = a.eni.or(b.eni);
    a.mode = a.mode.or(b.mode);
    a.eip = a.eip.or(b.eip);
    a.not_alg &= b.not_alg;
}
