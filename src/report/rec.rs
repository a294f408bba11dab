//! A flow's record in the flow table, compactly (the tables hold every open flow): what the
//! key already says (the protocol, the two ends) is not repeated, only which end is the VPC
//! side.

use std::collections::BTreeMap;

use super::FlowKey;
use super::counts::{self, Counts};
use crate::dataplane::DropReason;
use crate::model::Mode;

/// Flags: the flow has an ENI.
pub(super) const HAS_ENI: u8 = 1;
/// Flags: the flow has an EIP.
pub(super) const HAS_EIP: u8 = 2;
/// Flags: a payload of the flow was looked at and it is no ALG protocol.
const NOT_ALG: u8 = 4;
/// Flags: the VPC-side end is the key's lower end (`a`).
const LOCAL_IS_A: u8 = 8;
/// Flags: how a TCP flow ended, shifted ([`super::evict::FIN_LOCAL`], ...).
const ENDS_SHIFT: u8 = 4;

/// A flow of the table (48 bytes).
#[derive(Clone, Debug)]
pub(super) struct FlowRec {
    /// The frame that opened the flow (1-based).
    pub(super) first_frame: u64,
    /// Capture time of its last frame, in seconds.
    pub(super) last_s: i64,
    /// Frames per drop reason and per action (the flow's frames are their sum), and the frames
    /// from the Internet side addressed to a private address of the VPC
    /// ([`counts::TO_PRIVATE`]).
    counts: Counts,
    /// The ENI (index), when [`HAS_ENI`].
    eni: u32,
    /// The EIP, when [`HAS_EIP`].
    eip: u32,
    /// 0 none, else 1 + [`mode_index`].
    mode: u8,
    /// [`HAS_ENI`], [`HAS_EIP`], [`NOT_ALG`], [`LOCAL_IS_A`] and the ends.
    flags: u8,
}

/// A mode as a small number (its place in the list of modes).
fn mode_index(m: Mode) -> u8 {
    match m {
        Mode::Nat => 0,
        Mode::Binded => 1,
        Mode::MultiBinded => 2,
    }
}

/// The mode of [`mode_index`] plus one (0: none).
pub(super) fn mode_of(code: u8) -> Option<Option<Mode>> {
    match code {
        0 => Some(None),
        1 => Some(Some(Mode::Nat)),
        2 => Some(Some(Mode::Binded)),
        3 => Some(Some(Mode::MultiBinded)),
        _ => None,
    }
}

impl FlowRec {
    /// A flow opened by frame `first_frame` at `now_s`, its VPC-side end `local` of `key`.
    pub(super) fn new(key: &FlowKey, local: (u32, u16), first_frame: u64, now_s: i64) -> FlowRec {
        FlowRec {
            first_frame,
            last_s: now_s,
            counts: Counts::default(),
            eni: 0,
            eip: 0,
            mode: 0,
            flags: if local == key.a { LOCAL_IS_A } else { 0 },
        }
    }

    /// The VPC-side end (inside view), of the flow's `key`.
    #[inline]
    pub(super) fn local(&self, key: &FlowKey) -> (u32, u16) {
        if self.flags & LOCAL_IS_A != 0 {
            key.a
        } else {
            key.b
        }
    }

    /// The far end (inside view), of the flow's `key`.
    #[inline]
    pub(super) fn remote(&self, key: &FlowKey) -> (u32, u16) {
        if self.flags & LOCAL_IS_A != 0 {
            key.b
        } else {
            key.a
        }
    }

    /// The ENI (index) on the VPC side.
    #[inline]
    pub(super) fn eni(&self) -> Option<u32> {
        (self.flags & HAS_ENI != 0).then_some(self.eni)
    }

    /// The EIP of the flow.
    #[inline]
    pub(super) fn eip(&self) -> Option<u32> {
        (self.flags & HAS_EIP != 0).then_some(self.eip)
    }

    /// The mode concerned.
    #[inline]
    pub(super) fn mode(&self) -> Option<Mode> {
        mode_of(self.mode).flatten()
    }

    /// Sets the ENI, EIP and mode not set yet.
    #[inline]
    pub(super) fn fill(&mut self, eni: Option<u32>, eip: Option<u32>, mode: Option<Mode>) {
        if self.flags & HAS_ENI == 0
            && let Some(e) = eni
        {
            self.eni = e;
            self.flags |= HAS_ENI;
        }
        if self.flags & HAS_EIP == 0
            && let Some(e) = eip
        {
            self.eip = e;
            self.flags |= HAS_EIP;
        }
        if self.mode == 0
            && let Some(m) = mode
        {
            self.mode = 1 + mode_index(m);
        }
    }

    /// A payload of this flow was looked at and it is no ALG protocol.
    #[inline]
    pub(super) fn not_alg(&self) -> bool {
        self.flags & NOT_ALG != 0
    }

    /// Sets [`FlowRec::not_alg`].
    #[inline]
    pub(super) fn set_not_alg(&mut self, yes: bool) {
        self.flags = self.flags & !NOT_ALG | if yes { NOT_ALG } else { 0 };
    }

    /// How a TCP flow ended: [`super::evict::FIN_LOCAL`], [`super::evict::FIN_REMOTE`],
    /// [`super::evict::RST`].
    #[inline]
    pub(super) fn ends(&self) -> u8 {
        self.flags >> ENDS_SHIFT
    }

    /// Adds end marks ([`FlowRec::ends`], 3 bits).
    #[inline]
    pub(super) fn add_ends(&mut self, ends: u8) {
        self.flags |= (ends & 7) << ENDS_SHIFT;
    }

    /// Adds `by` frames to the category `c` ([`counts::CATS`]) or to [`counts::TO_PRIVATE`].
    #[inline]
    pub(super) fn count(&mut self, c: usize, by: u64) {
        self.counts.add(c, by);
    }

    /// Frames from the Internet side addressed to a private address of the VPC, dropped
    /// `unknown-destination` (the mark of an instance capture replayed as a gateway capture).
    pub(super) fn internet_to_private(&self) -> u64 {
        self.counts.get(counts::TO_PRIVATE)
    }

    /// Every count of `other` added to these; its ENI, EIP and mode where these have none, and
    /// not ALG only if both are.
    pub(super) fn join(&mut self, other: &FlowRec) {
        self.counts.add_all(&other.counts);
        self.fill(other.eni(), other.eip(), other.mode());
        self.set_not_alg(self.not_alg() && other.not_alg());
    }

    /// The raw parts for the spill encoding: (flags, mode code, ENI, EIP, counts).
    pub(super) fn parts(&self) -> (u8, u8, u32, u32, &Counts) {
        (self.flags, self.mode, self.eni, self.eip, &self.counts)
    }

    /// A record from the raw parts of [`FlowRec::parts`] (the mode code checked by the caller).
    pub(super) fn from_parts(
        first_frame: u64,
        last_s: i64,
        (flags, mode, eni, eip, counts): (u8, u8, u32, u32, Counts),
    ) -> FlowRec {
        FlowRec {
            first_frame,
            last_s,
            counts,
            eni: if flags & HAS_ENI != 0 { eni } else { 0 },
            eip: if flags & HAS_EIP != 0 { eip } else { 0 },
            mode,
            flags,
        }
    }

    /// Frames dropped, per reason (the reasons that occurred).
    pub(super) fn drops(&self) -> BTreeMap<&'static str, u64> {
        DropReason::ALL
            .iter()
            .filter(|r| self.dropped(**r) > 0)
            .map(|r| (r.as_str(), self.dropped(*r)))
            .collect()
    }

    /// Frames dropped for `r`.
    pub(super) fn dropped(&self, r: DropReason) -> u64 {
        self.counts.get(r.index())
    }

    /// Frames forwarded with the action of index `a` ([`super::action_index`]).
    pub(super) fn action(&self, a: usize) -> u64 {
        self.counts.get(counts::action_cat(a))
    }

    /// Frames dropped, all reasons.
    pub(super) fn dropped_total(&self) -> u64 {
        self.counts.sum(0..DropReason::COUNT)
    }

    /// Frames forwarded.
    pub(super) fn forwarded(&self) -> u64 {
        self.counts.sum(DropReason::COUNT..counts::CATS)
    }

    /// Frames of the flow a guest generated.
    pub(super) fn generated(&self) -> u64 {
        self.counts.get(counts::GENERATED)
    }

    /// Frames of the flow.
    pub(super) fn frames(&self) -> u64 {
        self.counts.sum(0..counts::CATS)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A flow record stays small: the flow tables hold every open flow.
    #[test]
    fn a_flow_record_is_48_bytes_at_most() {
        assert!(
            std::mem::size_of::<FlowRec>() <= 48,
            "{}",
            std::mem::size_of::<FlowRec>()
        );
    }

    /// The ends come from the key and the side bit; the optional fields keep their first value.
    #[test]
    fn a_record_gives_back_what_went_in() {
        let key = FlowKey {
            proto: 6,
            a: (1, 80),
            b: (2, 5000),
        };
        let mut f = FlowRec::new(&key, key.b, 7, -3);
        assert_eq!((f.local(&key), f.remote(&key)), (key.b, key.a));
        assert_eq!((f.eni(), f.eip(), f.mode()), (None, None, None));
        f.fill(Some(u32::MAX), None, Some(Mode::MultiBinded));
        f.fill(Some(3), Some(u32::MAX), Some(Mode::Nat));
        assert_eq!(
            (f.eni(), f.eip(), f.mode()),
            (Some(u32::MAX), Some(u32::MAX), Some(Mode::MultiBinded))
        );
        f.add_ends(super::super::evict::FIN_REMOTE);
        f.set_not_alg(true);
        assert_eq!(
            (f.ends(), f.not_alg()),
            (super::super::evict::FIN_REMOTE, true)
        );
        f.count(counts::TO_PRIVATE, 2);
        f.count(DropReason::UnknownDestination.index(), 2);
        assert_eq!((f.internet_to_private(), f.frames()), (2, 2));
        let g = FlowRec::new(&key, key.a, 9, 0);
        assert_eq!(g.local(&key), key.a);
        f.join(&g);
        assert!(!f.not_alg());
    }
}
