//! A flow's frames per category, compactly: most flows see one or two categories (an action
//! each way, or one drop reason), so up to three are held inline with 32-bit counts, and the
//! full table of 64-bit counts only when more occur or a count would pass `u32::MAX`. Exact
//! whatever the counts.

use crate::dataplane::DropReason;

/// Categories of frames: the drop reasons ([`DropReason::index`]), then the actions.
pub(super) const CATS: usize = DropReason::COUNT + 5;

/// Not a category of frames but a count kept alongside (out of every sum over the categories):
/// frames from the Internet side addressed to a private address of the VPC, dropped
/// `unknown-destination`.
pub(super) const TO_PRIVATE: usize = CATS;

/// Not a category either: frames of the flow that a guest generated (`replay --respond`).
pub(super) const GENERATED: usize = CATS + 1;

/// Slots of the full table: the categories, [`TO_PRIVATE`] and [`GENERATED`].
pub(super) const SLOTS: usize = CATS + 2;

/// The category of an action (by its index among the actions).
#[inline]
pub(super) fn action_cat(a: usize) -> usize {
    DropReason::COUNT + a
}

/// Frames per category (16 bytes).
#[derive(Clone, Debug)]
pub(super) enum Counts {
    /// Up to three slots (`u8::MAX`: unused) and their counts.
    Inline { cat: [u8; 3], n: [u32; 3] },
    /// Every slot.
    Full(Box<[u64; SLOTS]>),
}

impl Default for Counts {
    fn default() -> Self {
        Counts::Inline {
            cat: [u8::MAX; 3],
            n: [0; 3],
        }
    }
}

impl Counts {
    /// Adds `by` frames to slot `c`.
    #[inline]
    pub(super) fn add(&mut self, c: usize, by: u64) {
        if by == 0 {
            return;
        }
        match self {
            Counts::Full(all) => all[c] += by,
            Counts::Inline { cat, n } => {
                for i in 0..3 {
                    if cat[i] == c as u8 {
                        if let Some(sum) =
                            u32::try_from(by).ok().and_then(|by| n[i].checked_add(by))
                        {
                            n[i] = sum;
                            return;
                        }
                        break;
                    }
                    if cat[i] == u8::MAX {
                        if let Ok(by) = u32::try_from(by) {
                            cat[i] = c as u8;
                            n[i] = by;
                            return;
                        }
                        break;
                    }
                }
                let mut all = Box::new([0u64; SLOTS]);
                for i in 0..3 {
                    if cat[i] != u8::MAX {
                        all[cat[i] as usize] += u64::from(n[i]);
                    }
                }
                all[c] += by;
                *self = Counts::Full(all);
            }
        }
    }

    /// Frames of slot `c`.
    #[inline]
    pub(super) fn get(&self, c: usize) -> u64 {
        match self {
            Counts::Full(all) => all[c],
            Counts::Inline { cat, n } => (0..3)
                .find(|&i| cat[i] == c as u8)
                .map_or(0, |i| u64::from(n[i])),
        }
    }

    /// Frames of the slots in `range`.
    pub(super) fn sum(&self, range: std::ops::Range<usize>) -> u64 {
        match self {
            Counts::Full(all) => all[range].iter().sum(),
            Counts::Inline { cat, n } => (0..3)
                .filter(|&i| range.contains(&(cat[i] as usize)))
                .map(|i| u64::from(n[i]))
                .sum(),
        }
    }

    /// Adds every count of `other`.
    pub(super) fn add_all(&mut self, other: &Counts) {
        for c in 0..SLOTS {
            self.add(c, other.get(c));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_stay_exact_past_three_categories() {
        let mut c = Counts::default();
        let mut plain = [0u64; SLOTS];
        for (k, cat) in [3, 12, 3, 0, 15, 12, 7, 3].into_iter().enumerate() {
            let by = if k == 2 { u64::MAX / 4 } else { k as u64 + 1 };
            c.add(cat, by);
            plain[cat] += by;
            for (i, p) in plain.iter().enumerate() {
                assert_eq!(c.get(i), *p, "after {k} adds, category {i}");
            }
        }
        assert!(matches!(c, Counts::Full(_)));
        assert_eq!(
            c.sum(0..DropReason::COUNT),
            plain[..DropReason::COUNT].iter().sum::<u64>()
        );
        let mut d = Counts::default();
        d.add(12, 5);
        d.add_all(&c);
        assert_eq!(d.get(12), plain[12] + 5);
        assert_eq!(d.sum(0..CATS), plain.iter().sum::<u64>() + 5);
    }

    /// A count that would pass `u32::MAX` moves the counts to the full table, exactly; the
    /// inline form is 16 bytes.
    #[test]
    fn counts_past_u32_stay_exact() {
        assert_eq!(std::mem::size_of::<Counts>(), 16);
        let mut c = Counts::default();
        c.add(2, u64::from(u32::MAX) - 1);
        c.add(TO_PRIVATE, 7);
        assert!(matches!(c, Counts::Inline { .. }));
        c.add(2, 1);
        assert!(matches!(c, Counts::Inline { .. }));
        c.add(2, 1);
        assert!(matches!(c, Counts::Full(_)));
        assert_eq!(c.get(2), u64::from(u32::MAX) + 1);
        assert_eq!(c.get(TO_PRIVATE), 7);
        assert_eq!(c.sum(0..CATS), u64::from(u32::MAX) + 1);
        // A first count too large for 32 bits goes straight to the full table.
        let mut d = Counts::default();
        d.add(5, 1 << 40);
        assert_eq!((d.get(5), d.sum(0..CATS)), (1 << 40, 1 << 40));
    }
}
