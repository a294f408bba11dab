//! The cloud's look-up indexes, kept by the operations so that building a large topology is
//! linear, and kept small: a few bytes per resource, no copy of an id, no per-ENI collection.
//!
//! - ids: a hash table of positions into [`Cloud::instances`](super::Cloud::instances),
//!   `enis` or `eips`, hashed and compared through the resource's own id ([`Ids`]);
//! - addresses and MACs: maps to 32-bit positions;
//! - each ENI's associations: a list threaded through the associations ([`AssocLists`]);
//! - each instance's primary ENI: one slot per instance.

use std::hash::BuildHasher;
use std::net::Ipv4Addr;

use hashbrown::HashTable;
use rustc_hash::{FxBuildHasher, FxHashMap, FxHashSet};

use super::{Eip, Eni, Instance, Mac};

/// No position (an empty slot of the 32-bit lists).
const NONE: u32 = u32::MAX;

/// A position as stored (a cloud holds far fewer than 2^32 resources).
fn slot(i: usize) -> u32 {
    i as u32
}

/// What owns an address.
#[derive(Clone, Copy, Debug)]
pub(super) enum Owner {
    /// The ENI at this position.
    Eni(u32),
    /// The EIP at this position.
    Eip(u32),
}

impl Owner {
    /// The ENI at position `i`.
    pub(super) fn eni(i: usize) -> Owner {
        Owner::Eni(slot(i))
    }
    /// The EIP at position `i`.
    pub(super) fn eip(i: usize) -> Owner {
        Owner::Eip(slot(i))
    }
    /// Whether this is the ENI at position `i`.
    pub(super) fn is_eni(self, i: usize) -> bool {
        matches!(self, Owner::Eni(x) if x as usize == i)
    }
}

#[derive(Clone, Default)]
pub(super) struct Index {
    pub(super) instances: Ids,
    pub(super) enis: Ids,
    pub(super) eips: Ids,
    pub(super) addrs: FxHashMap<Ipv4Addr, Owner>,
    pub(super) macs: FxHashMap<Mac, u32>,
    /// Per EIP, its association.
    pub(super) eip_assoc: Slots,
    /// Per ENI, its associations.
    pub(super) eni_assocs: AssocLists,
    /// Per instance, its primary ENI.
    primary: Slots,
    /// Ids of deleted ENIs and released EIPs: not given out again.
    pub(super) retired: FxHashSet<String>,
}

impl Index {
    /// The primary ENI of instance `inst`.
    pub(super) fn primary(&self, inst: usize) -> Option<usize> {
        self.primary.get(inst)
    }

    /// Records `eni` as instance `inst`'s primary ENI.
    pub(super) fn set_primary(&mut self, inst: usize, eni: usize) {
        self.primary.set(inst, Some(eni));
    }

    /// Room for `n` more of each resource, in one allocation each.
    pub(super) fn reserve(&mut self, instances: usize, enis: usize, eips: usize) {
        self.addrs.reserve(enis + eips);
        self.macs.reserve(enis);
        self.eip_assoc.0.reserve_exact(eips);
        self.eni_assocs.first.reserve_exact(enis);
        self.eni_assocs.next.reserve_exact(eips);
        self.primary.0.reserve_exact(instances);
    }
}

/// An optional position per resource, 4 bytes each ([`NONE`]: none; none past the end).
#[derive(Clone, Default)]
pub(super) struct Slots(Vec<u32>);

impl Slots {
    /// The position in slot `i`.
    pub(super) fn get(&self, i: usize) -> Option<usize> {
        self.0.get(i).filter(|&&v| v != NONE).map(|&v| v as usize)
    }

    /// Sets slot `i` (the slots before it, if new, empty).
    pub(super) fn set(&mut self, i: usize, v: Option<usize>) {
        if self.0.len() <= i {
            self.0.resize(i + 1, NONE);
        }
        self.0[i] = v.map_or(NONE, slot);
    }

    /// One more slot.
    pub(super) fn push(&mut self, v: Option<usize>) {
        self.0.push(v.map_or(NONE, slot));
    }

    /// Empties every slot.
    pub(super) fn clear(&mut self) {
        self.0.iter_mut().for_each(|v| *v = NONE);
    }
}

/// A resource with an id.
pub(super) trait Named {
    /// Its id.
    fn name(&self) -> &str;
}

impl Named for Instance {
    fn name(&self) -> &str {
        &self.id
    }
}
impl Named for Eni {
    fn name(&self) -> &str {
        &self.id
    }
}
impl Named for Eip {
    fn name(&self) -> &str {
        &self.id
    }
}

/// Positions of the resources in a list, found by id: 4 bytes and a control byte per entry;
/// the ids themselves are the resources'.
#[derive(Clone, Default)]
pub(super) struct Ids(HashTable<u32>);

fn hash(id: &str) -> u64 {
    FxBuildHasher.hash_one(id)
}

impl Ids {
    /// The position in `items` of the one with this id, if indexed.
    pub(super) fn get<T: Named>(&self, items: &[T], id: &str) -> Option<usize> {
        self.0
            .find(hash(id), |&i| items[i as usize].name() == id)
            .map(|&i| i as usize)
    }

    /// Whether an indexed item has this id.
    pub(super) fn contains<T: Named>(&self, items: &[T], id: &str) -> bool {
        self.get(items, id).is_some()
    }

    /// Indexes `items[at]` (its id not indexed yet).
    pub(super) fn insert<T: Named>(&mut self, items: &[T], at: usize) {
        self.0
            .insert_unique(hash(items[at].name()), slot(at), |&i| {
                hash(items[i as usize].name())
            });
    }

    /// Forgets `items[at]` (which keeps its id).
    pub(super) fn remove<T: Named>(&mut self, items: &[T], at: usize) {
        if let Ok(e) = self
            .0
            .find_entry(hash(items[at].name()), |&i| i as usize == at)
        {
            e.remove();
        }
    }

    /// Room for `n` more, hashed through `items`.
    pub(super) fn reserve<T: Named>(&mut self, items: &[T], n: usize) {
        self.0.reserve(n, |&i| hash(items[i as usize].name()));
    }
}

/// Each ENI's associations, in the order they were made: a list threaded through the
/// associations (4 bytes per ENI and per association) rather than a list per ENI.
#[derive(Clone, Default)]
pub(super) struct AssocLists {
    /// Per ENI, its first association ([`NONE`]: none).
    first: Vec<u32>,
    /// Per association, the next of the same ENI ([`NONE`]: the last).
    next: Vec<u32>,
}

impl AssocLists {
    /// One more ENI, with no association.
    pub(super) fn push_eni(&mut self) {
        self.first.push(NONE);
    }

    /// Association `k` (the last made) is ENI `eni`'s latest.
    pub(super) fn push(&mut self, eni: usize, k: usize) {
        if self.next.len() <= k {
            self.next.resize(k + 1, NONE);
        }
        self.next[k] = NONE;
        match self.first[eni] {
            NONE => self.first[eni] = slot(k),
            mut at => {
                while self.next[at as usize] != NONE {
                    at = self.next[at as usize];
                }
                self.next[at as usize] = slot(k);
            }
        }
    }

    /// Forgets every association (they are pushed again after one is removed).
    pub(super) fn clear(&mut self) {
        self.first.iter_mut().for_each(|f| *f = NONE);
        self.next.clear();
    }

    /// ENI `eni`'s associations, in order (none for an ENI past the end).
    pub(super) fn of(&self, eni: usize) -> impl Iterator<Item = usize> + '_ {
        let first = self.first.get(eni).copied().unwrap_or(NONE);
        std::iter::successors((first != NONE).then_some(first), |&k| {
            Some(self.next[k as usize]).filter(|&n| n != NONE)
        })
        .map(|k| k as usize)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Charge;

    #[test]
    fn ids_find_what_is_indexed_and_nothing_else() {
        let eips: Vec<Eip> = (0..3000u32)
            .map(|i| Eip::new(format!("eip-{i}"), Ipv4Addr::from(i), Charge::PayByTraffic))
            .collect();
        let mut ids = Ids::default();
        for i in 0..eips.len() {
            ids.insert(&eips, i);
        }
        assert_eq!(ids.get(&eips, "eip-0"), Some(0));
        assert_eq!(ids.get(&eips, "eip-2999"), Some(2999));
        assert_eq!(ids.get(&eips, "eip-3000"), None);
        ids.remove(&eips, 1234);
        assert!(!ids.contains(&eips, "eip-1234"));
        assert!(
            (0..3000)
                .filter(|&i| i != 1234)
                .all(|i| ids.get(&eips, &eips[i].id) == Some(i))
        );
        // Removing what is not indexed changes nothing.
        ids.remove(&eips, 1234);
        assert_eq!(ids.get(&eips, "eip-1235"), Some(1235));
    }

    #[test]
    fn association_lists_keep_their_order() {
        let mut l = AssocLists::default();
        (0..3).for_each(|_| l.push_eni());
        l.push(1, 0);
        l.push(2, 1);
        l.push(1, 2);
        l.push(1, 3);
        assert_eq!(l.of(1).collect::<Vec<_>>(), [0, 2, 3]);
        assert_eq!(l.of(2).collect::<Vec<_>>(), [1]);
        assert_eq!(l.of(0).count(), 0);
        assert_eq!(l.of(7).count(), 0);
        l.clear();
        assert_eq!(l.of(1).count(), 0);
        l.push(2, 0);
        assert_eq!(l.of(2).collect::<Vec<_>>(), [0]);
    }

    #[test]
    fn primaries_are_per_instance() {
        let mut i = Index::default();
        assert_eq!(i.primary(5), None);
        i.set_primary(5, 9);
        assert_eq!(i.primary(5), Some(9));
        assert_eq!(i.primary(4), None);
        assert_eq!(i.primary(6), None);
    }
}
