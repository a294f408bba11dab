//! A flow's frames per category, compactly: most flows see one or two categories (an action
//! each way, or one drop reason), so up to three are held inline and the full table of
//! categories only when more occur. Exact whatever the counts.

use crate::dataplane::DropReason;

/// Categories: the drop reasons ([`DropReason::index`]), then the actions.
pub(super) const CATS: usize = DropReason::COUNT + 5;

/// The category of an action (by its index among the actions).
#[inline]
pub(super) fn action_cat(a: usize) -> usize {
    DropReason::COUNT + a
}

/// Frames per category.
#[derive(Clone, Debug)]
pub(super) enum Counts {
    /// Up to three categories (`u8::MAX`: unused) and their counts.
    Inline { cat: [u8; 3], n: [u64; 3] },
    /// Every category.
    Full(Box<[u64; CATS]>),
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
    /// Adds `by` frames to category `c`.
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
                        n[i] += by;
                        return;
                    }
                    if cat[i] == u8::MAX {
                        cat[i] = c as u8;
                        n[i] = by;
                        return;
                    }
                }
                let mut all = Box::new([0u64; CATS]);
                for i in 0..3 {
                    all[cat[i] as usize] += n[i];
                }
                all[c] += by;
                *self = Counts::Full(all);
            }
        }
    }

    /// Frames of category `c`.
    #[inline]
    pub(super) fn get(&self, c: usize) -> u64 {
        match self {
            Counts::Full(all) => all[c],
            Counts::Inline { cat, n } => (0..3).find(|&i| cat[i] == c as u8).map_or(0, |i| n[i]),
        }
    }

    /// Frames of the categories in `range`.
    pub(super) fn sum(&self, range: std::ops::Range<usize>) -> u64 {
        match self {
            Counts::Full(all) => all[range].iter().sum(),
            Counts::Inline { cat, n } => (0..3)
                .filter(|&i| range.contains(&(cat[i] as usize)))
                .map(|i| n[i])
                .sum(),
        }
    }

    /// Adds every count of `other`.
    pub(super) fn add_all(&mut self, other: &Counts) {
        for c in 0..CATS {
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
        let mut plain = [0u64; CATS];
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
}
