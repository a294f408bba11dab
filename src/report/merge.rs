//! Counters of several shards made one: the frame pass keeps per-flow state in fixed shards
//! (by the inside endpoint of each flow) and the report is their sum.

use rustc_hash::FxHashMap;

use super::{FlowKey, FlowRec, Stats};

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
    /// an end announced in both keeps the earlier announcement. Counters that took a shard in
    /// are for reporting: frames are recorded into shards, not into them.
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
        // The other's table is kept as it is (no copy: the peak memory of a merge is its
        // index). The index lists the flows in the order one table would, had every flow been
        // inserted into `flows` in this order: a hash table's order depends on its keys and
        // the order of insertion only, not on what it stores.
        let order = self.order.get_or_insert_with(|| {
            let mut o = FxHashMap::default();
            for k in self.flows.keys() {
                o.insert(*k, 0);
            }
            o
        });
        let mut table = other.flows;
        let t = self.more.len() as u32 + 1;
        let mut dups = Vec::new();
        for k in table.keys() {
            match order.entry(*k) {
                std::collections::hash_map::Entry::Vacant(e) => {
                    e.insert(t);
                }
                std::collections::hash_map::Entry::Occupied(e) => dups.push((*k, *e.get())),
            }
        }
        for (k, held) in dups {
            if let Some(f) = table.remove(&k) {
                let into = match held {
                    0 => &mut self.flows,
                    i => &mut self.more[i as usize - 1],
                };
                if let Some(a) = into.get_mut(&k) {
                    join(a, f);
                }
            }
        }
        self.more.push(table);
    }

    /// The flows of the flow table (and of the shards' tables merged in), in the order one
    /// table of them all would list them.
    pub(super) fn table_flows(&self) -> Box<dyn Iterator<Item = (&FlowKey, &FlowRec)> + '_> {
        match &self.order {
            None => Box::new(self.flows.iter()),
            Some(o) => Box::new(o.iter().filter_map(|(k, t)| {
                let table = match t {
                    0 => &self.flows,
                    i => &self.more[*i as usize - 1],
                };
                table.get_key_value(k)
            })),
        }
    }

    /// A flow of the table (or of the shards' tables merged in).
    pub(super) fn flow_get(&self, k: &FlowKey) -> Option<&FlowRec> {
        match self.order.as_ref().and_then(|o| o.get(k)) {
            None | Some(0) => self.flows.get(k),
            Some(i) => self.more[*i as usize - 1].get(k),
        }
    }
}

/// One flow seen by two shards: counters summed, the earlier record's identity kept.
fn join(a: &mut FlowRec, mut b: FlowRec) {
    if b.first_frame < a.first_frame {
        std::mem::swap(a, &mut b);
    }
    a.counts.add_all(&b.counts);
    a.internet_to_private += b.internet_to_private;
    a.eni = a.eni.or(b.eni);
    a.mode = a.mode.or(b.mode);
    a.eip = a.eip.or(b.eip);
    a.not_alg &= b.not_alg;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::counts::{Counts, action_cat};

    fn rec(first_frame: u64) -> FlowRec {
        FlowRec {
            proto: 17,
            first_frame,
            local: (1, 2),
            remote: (3, 4),
            eni: None,
            mode: None,
            eip: None,
            counts: {
                let mut c = Counts::default();
                c.add(action_cat(0), 1);
                c
            },
            not_alg: false,
            internet_to_private: 0,
            last_s: 0,
            ends: 0,
        }
    }

    fn key(n: u32) -> FlowKey {
        FlowKey {
            proto: 17,
            a: (n.wrapping_mul(2_654_435_761), (n % 1000) as u16),
            b: (0x0a00_0000 | n, 5000),
        }
    }

    /// A flow record stays small: the flow tables hold every open flow.
    #[test]
    fn a_flow_record_is_96_bytes_at_most() {
        assert!(
            std::mem::size_of::<FlowRec>() <= 96,
            "{}",
            std::mem::size_of::<FlowRec>()
        );
    }

    /// The merged tables list their flows in the order one table of them all did before they
    /// were kept apart (the related-flow findings depend on that order), and a flow in two
    /// shards is joined once.
    #[test]
    fn merged_tables_keep_the_order_of_one_table() {
        let mut shards: Vec<Stats> = (0..5).map(|_| Stats::new(0)).collect();
        let mut n = 0u64;
        for (s, st) in shards.iter_mut().enumerate() {
            for i in 0..(3000 + 977 * s as u32) {
                n += 1;
                st.flows.insert(key(i * 5 + s as u32), rec(n));
            }
        }
        // One flow in two shards (its owner changed): joined, the earlier record kept.
        shards[3].flows.insert(key(1), rec(n + 1));
        let mut one: FxHashMap<FlowKey, FlowRec> = FxHashMap::default();
        for st in &shards {
            for (k, f) in &st.flows {
                match one.entry(*k) {
                    std::collections::hash_map::Entry::Vacant(e) => {
                        e.insert(f.clone());
                    }
                    std::collections::hash_map::Entry::Occupied(mut e) => {
                        join(e.get_mut(), f.clone())
                    }
                }
            }
        }
        let mut leader = Stats::new(0);
        for st in shards {
            leader.merge(st);
        }
        let merged: Vec<(FlowKey, u64, u64)> = leader
            .table_flows()
            .map(|(k, f)| (*k, f.first_frame, f.frames()))
            .collect();
        let expected: Vec<(FlowKey, u64, u64)> = one
            .iter()
            .map(|(k, f)| (*k, f.first_frame, f.frames()))
            .collect();
        assert_eq!(merged.len(), one.len());
        assert!(
            merged == expected,
            "the merged order differs from one table's"
        );
        assert_eq!(leader.flow_count(), one.len());
        assert_eq!(leader.flow_get(&key(1)).map(|f| f.frames()), Some(2));
    }
}
