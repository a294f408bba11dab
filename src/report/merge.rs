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
        for (e, n) in other.egress_sparse.into_iter().flatten() {
            let i = 1 + e as usize;
            if self.egress.len() <= i {
                self.egress.resize(i + 1, 0);
            }
            self.egress[i] += n;
        }
        for (a, b) in self.actions.iter_mut().zip(other.actions) {
            *a += b;
        }
        self.flows_untracked += other.flows_untracked;
        self.archive.absorb(other.archive);
        self.settled.clear();
        self.alg.merge(other.alg);
        self.restored += other.restored;
        for (k, d) in other.refusals {
            self.refusals.entry(k).or_insert(d);
        }
        if let Some(o) = other.sessions {
            self.sessions.get_or_insert_default().add(&o);
        }
        if let Some(g) = &other.generated {
            self.generated.get_or_insert_default().add(g);
        }
        self.internet_in += other.internet_in;
        self.internet_to_private += other.internet_to_private;
        // The other's table is kept as it is (no copy, no index): a flow is in one table only,
        // so a flow the other shares with a table merged before (its owner changed with an
        // event) is joined into that one and leaves the other's.
        let mut table = other.flows;
        let dups: Vec<FlowKey> = if self.flows.is_empty() && self.more.is_empty() {
            Vec::new()
        } else {
            table
                .keys()
                .filter(|k| self.tables().any(|t| t.contains_key(k)))
                .copied()
                .collect()
        };
        for k in dups {
            if let Some(f) = table.remove(&k) {
                let into = std::iter::once(&mut self.flows)
                    .chain(self.more.iter_mut())
                    .find_map(|t| t.get_mut(&k));
                if let Some(a) = into {
                    join(a, f);
                }
            }
        }
        self.more.push(table);
    }

    /// The flow table and the shards' tables merged in, in merge order.
    fn tables(&self) -> impl Iterator<Item = &FxHashMap<FlowKey, FlowRec>> {
        std::iter::once(&self.flows).chain(self.more.iter())
    }

    /// The flows of the flow table and of the shards' tables merged in, table after table
    /// (for what does not depend on their order; [`Stats::in_table_order`] gives the order
    /// one table of them all would have).
    pub(super) fn table_flows(&self) -> impl Iterator<Item = (&FlowKey, &FlowRec)> {
        self.tables().flat_map(|t| t.iter())
    }

    /// `flows`, taken from [`Stats::table_flows`] in its order, in the order one table of
    /// them all would list them, had every flow been inserted into `flows` in merge order (a
    /// hash table's order depends on its keys and the order of insertion only). The related-
    /// flow findings list flows in that order. Needs an index of every flow when shards were
    /// merged in and `flows` holds more than one: built then only.
    pub(super) fn in_table_order<'a>(
        &'a self,
        flows: Vec<(&'a FlowKey, &'a FlowRec)>,
    ) -> Vec<(&'a FlowKey, &'a FlowRec)> {
        if self.more.is_empty() || flows.len() < 2 {
            return flows;
        }
        // The same table type as the one table's order was first kept in, to be sure of it.
        let mut one: FxHashMap<FlowKey, u32> = FxHashMap::default();
        for t in self.tables() {
            for k in t.keys() {
                one.insert(*k, 0);
            }
        }
        let want: FxHashMap<FlowKey, usize> = flows
            .iter()
            .enumerate()
            .map(|(i, (k, _))| (**k, i))
            .collect();
        let mut out = Vec::with_capacity(flows.len());
        for k in one.keys() {
            if let Some(&i) = want.get(k) {
                out.push(flows[i]);
            }
        }
        out
    }

    /// A flow of the table (or of the shards' tables merged in).
    pub(super) fn flow_get(&self, k: &FlowKey) -> Option<&FlowRec> {
        self.tables().find_map(|t| t.get(k))
    }
}

/// One flow seen by two shards: counters summed, the earlier record's identity kept.
fn join(a: &mut FlowRec, mut b: FlowRec) {
    if b.first_frame < a.first_frame {
        std::mem::swap(a, &mut b);
    }
    a.join(&b);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::counts::action_cat;

    fn rec(first_frame: u64) -> FlowRec {
        let mut f = FlowRec::new(&key(0), (1, 2), first_frame, 0);
        f.count(action_cat(0), 1);
        f
    }

    fn key(n: u32) -> FlowKey {
        FlowKey {
            proto: 17,
            a: (n.wrapping_mul(2_654_435_761), (n % 1000) as u16),
            b: (0x0a00_0000 | n, 5000),
        }
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
            .in_table_order(leader.table_flows().collect())
            .into_iter()
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
        // A few of them (the related-flow lookups take only flows with an announced end) come
        // in the same relative order.
        let few = |k: &FlowKey| k.a.1 % 97 == 3;
        let some: Vec<FlowKey> = leader
            .in_table_order(leader.table_flows().filter(|(k, _)| few(k)).collect())
            .into_iter()
            .map(|(k, _)| *k)
            .collect();
        let want: Vec<FlowKey> = one.keys().filter(|k| few(k)).copied().collect();
        assert!(want.len() > 100 && some == want, "{} flows", want.len());
        let apart: Vec<FlowKey> = leader
            .table_flows()
            .filter(|(k, _)| few(k))
            .map(|(k, _)| *k)
            .collect();
        assert!(apart != want, "table after table is another order");
        assert_eq!(leader.flow_count(), one.len());
        assert_eq!(leader.flow_get(&key(1)).map(|f| f.frames()), Some(2));
    }
}
