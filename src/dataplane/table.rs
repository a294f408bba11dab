//! A flat open-addressing hash table with integer keys and `Copy` values, built once from the
//! topology and read-only on the hot path. Slots are 16 bytes and 16-byte aligned, so a probe
//! touches one cache line in the common case and the batch API can prefetch that line. The load
//! factor stays at most 3/4, which keeps a 1M-EIP table at 32 MiB (fewer TLB misses).

/// A key of a [`FlatMap`]: an integer with one value reserved to mark empty slots.
pub trait TableKey: Copy + Eq {
    /// The reserved value (never inserted).
    const EMPTY: Self;
    /// A 64-bit mix of the key (the table takes its high bits).
    fn mix(self) -> u64;
}

impl TableKey for u32 {
    /// 255.255.255.255: the limited broadcast, never an EIP or an ENI address.
    const EMPTY: u32 = u32::MAX;
    #[inline]
    fn mix(self) -> u64 {
        u64::from(self).wrapping_mul(0x9E37_79B9_7F4A_7C15)
    }
}

impl TableKey for u64 {
    /// Not a 48-bit MAC.
    const EMPTY: u64 = u64::MAX;
    #[inline]
    fn mix(self) -> u64 {
        (self ^ (self >> 29)).wrapping_mul(0x9E37_79B9_7F4A_7C15)
    }
}

#[derive(Clone, Copy, Debug)]
#[repr(C, align(16))]
struct Slot<K: TableKey, V: Copy> {
    key: K,
    val: V,
}

/// A read-mostly hash map.
#[derive(Clone, Debug)]
pub struct FlatMap<K: TableKey, V: Copy> {
    slots: Vec<Slot<K, V>>,
    shift: u32,
    len: usize,
}

impl<K: TableKey, V: Copy + Default> FlatMap<K, V> {
    /// A table sized for `n` entries (load factor at most 3/4).
    pub fn with_capacity(n: usize) -> Self {
        let cap = (n.max(3) * 4).div_ceil(3).next_power_of_two();
        FlatMap {
            slots: vec![
                Slot {
                    key: K::EMPTY,
                    val: V::default()
                };
                cap
            ],
            shift: 64 - cap.trailing_zeros(),
            len: 0,
        }
    }

    #[inline]
    fn home(&self, key: K) -> usize {
        (key.mix() >> self.shift) as usize
    }

    /// Inserts or replaces `key` (which must not be [`TableKey::EMPTY`]). Grows the table when
    /// it is three quarters full.
    pub fn insert(&mut self, key: K, val: V) {
        assert!(key != K::EMPTY, "the reserved key cannot be stored");
        if (self.len + 1) * 4 > self.slots.len() * 3 {
            let mut bigger = FlatMap::with_capacity(self.slots.len());
            for s in self.slots.iter().filter(|s| s.key != K::EMPTY) {
                bigger.insert(s.key, s.val);
            }
            *self = bigger;
        }
        let mask = self.slots.len() - 1;
        let mut i = self.home(key);
        loop {
            let s = &mut self.slots[i];
            if s.key == K::EMPTY {
                *s = Slot { key, val };
                self.len += 1;
                return;
            }
            if s.key == key {
                s.val = val;
                return;
            }
            i = (i + 1) & mask;
        }
    }

    /// The value of `key`, if present.
    #[inline]
    pub fn get(&self, key: K) -> Option<V> {
        let mask = self.slots.len() - 1;
        let mut i = self.home(key);
        loop {
            let s = &self.slots[i];
            if s.key == key {
                // The reserved key is never stored: looking it up finds an empty slot.
                return (key != K::EMPTY).then_some(s.val);
            }
            if s.key == K::EMPTY {
                return None;
            }
            i = (i + 1) & mask;
        }
    }

    /// Asks the CPU to bring `key`'s home slot into cache (used a few frames ahead in a batch).
    #[inline]
    pub fn prefetch(&self, key: K) {
        let slot = &self.slots[self.home(key)];
        #[cfg(target_arch = "x86_64")]
        {
            use core::arch::x86_64::{_MM_HINT_T0, _mm_prefetch};
            // SAFETY: SSE is part of the x86_64 baseline, and a prefetch is a hint that never
            // faults nor reads memory architecturally; the pointer comes from a live reference.
            #[allow(unsafe_code)]
            unsafe {
                _mm_prefetch::<_MM_HINT_T0>((slot as *const Slot<K, V>).cast::<i8>());
            }
        }
        #[cfg(not(target_arch = "x86_64"))]
        {
            std::hint::black_box(slot.key);
        }
    }

    /// Bytes of slot memory (to decide whether prefetching pays).
    pub fn footprint(&self) -> usize {
        self.slots.len() * std::mem::size_of::<Slot<K, V>>()
    }

    /// Every entry, in slot order.
    pub fn iter(&self) -> impl Iterator<Item = (K, V)> + '_ {
        self.slots
            .iter()
            .filter(|s| s.key != K::EMPTY)
            .map(|s| (s.key, s.val))
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the table is empty.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn insert_get_grow() {
        let mut m: FlatMap<u64, u32> = FlatMap::with_capacity(2);
        for k in 0..10_000u64 {
            m.insert(k * 7919, k as u32);
        }
        assert_eq!(m.len(), 10_000);
        for k in 0..10_000u64 {
            assert_eq!(m.get(k * 7919), Some(k as u32));
        }
        assert_eq!(m.get(3), None);
        m.insert(7919, 5);
        assert_eq!(m.get(7919), Some(5));
        assert_eq!(m.len(), 10_000);
    }

    #[test]
    fn u32_keys_and_the_reserved_key() {
        let mut m: FlatMap<u32, [u32; 3]> = FlatMap::with_capacity(8);
        for k in 0..1000u32 {
            m.insert(k.wrapping_mul(2_654_435_761), [k; 3]);
        }
        for k in 0..1000u32 {
            assert_eq!(m.get(k.wrapping_mul(2_654_435_761)), Some([k; 3]));
        }
        assert_eq!(m.get(u32::MAX), None);
        assert_eq!(std::mem::size_of::<Slot<u32, [u32; 3]>>(), 16);
    }
}
