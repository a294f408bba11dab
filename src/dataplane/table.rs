//! A flat open-addressing hash table with `u64` keys and `Copy` values, built once from the
//! topology and read-only on the hot path. Linear probing over one contiguous slot array keeps a
//! lookup to one cache line in the common case, and lets the batch API prefetch that line.

/// Key value marking an empty slot (never a MAC, which has 48 bits, nor an IPv4 address).
const EMPTY: u64 = u64::MAX;

#[derive(Clone, Copy, Debug)]
struct Slot<V: Copy> {
    key: u64,
    val: V,
}

/// A read-mostly hash map from `u64` to `V`.
#[derive(Clone, Debug)]
pub struct FlatMap<V: Copy> {
    slots: Vec<Slot<V>>,
    shift: u32,
    len: usize,
}

impl<V: Copy + Default> FlatMap<V> {
    /// A table sized for `n` entries (load factor at most 1/2).
    pub fn with_capacity(n: usize) -> Self {
        let cap = (n.max(4) * 2).next_power_of_two();
        FlatMap {
            slots: vec![
                Slot {
                    key: EMPTY,
                    val: V::default()
                };
                cap
            ],
            shift: 64 - cap.trailing_zeros(),
            len: 0,
        }
    }

    #[inline]
    fn home(&self, key: u64) -> usize {
        (key.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> self.shift) as usize
    }

    /// Inserts or replaces `key`. Grows the table when it is half full.
    pub fn insert(&mut self, key: u64, val: V) {
        debug_assert_ne!(key, EMPTY);
        if (self.len + 1) * 2 > self.slots.len() {
            let mut bigger = FlatMap::with_capacity(self.slots.len());
            for s in self.slots.iter().filter(|s| s.key != EMPTY) {
                bigger.insert(s.key, s.val);
            }
            *self = bigger;
        }
        let mask = self.slots.len() - 1;
        let mut i = self.home(key);
        loop {
            let s = &mut self.slots[i];
            if s.key == EMPTY {
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
    pub fn get(&self, key: u64) -> Option<V> {
        let mask = self.slots.len() - 1;
        let mut i = self.home(key);
        loop {
            let s = &self.slots[i];
            if s.key == key {
                return Some(s.val);
            }
            if s.key == EMPTY {
                return None;
            }
            i = (i + 1) & mask;
        }
    }

    /// Asks the CPU to bring `key`'s home slot into cache (used a few frames ahead in a batch).
    #[inline]
    pub fn prefetch(&self, key: u64) {
        let slot = &self.slots[self.home(key)];
        #[cfg(target_arch = "x86_64")]
        {
            use core::arch::x86_64::{_MM_HINT_T0, _mm_prefetch};
            // SAFETY: SSE is part of the x86_64 baseline, and a prefetch is a hint that never
            // faults nor reads memory architecturally; the pointer comes from a live reference.
            #[allow(unsafe_code)]
            unsafe {
                _mm_prefetch::<_MM_HINT_T0>((slot as *const Slot<V>).cast::<i8>());
            }
        }
        #[cfg(not(target_arch = "x86_64"))]
        {
            std::hint::black_box(slot.key);
        }
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
        let mut m: FlatMap<u32> = FlatMap::with_capacity(2);
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
}
