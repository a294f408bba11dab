//! The frame pass: the stages every frame goes through, in this order, each a named step with
//! one input and one output.
//!
//! ```text
//!  1 restore   capture point `instance`: a frame the instance received becomes the frame
//!              the Internet sent                  (bytes in place; Dataplane::restore_received)
//!  2 core      the forwarding decision and 1:1 NAT (bytes in place -> Verdict; Dataplane)
//!  3 fragment  a later IP fragment joins its first fragment's flow (Verdict -> Verdict)
//!  4 record    counters and the flow table        (Verdict -> whether the flow wants the ALG)
//!  5 translate what-if ALG translation (--alg)   (bytes -> rewritten bytes, findings)
//!  6 inspect   ALG inspection of the payload     (bytes -> findings, announcements)
//! ```
//!
//! Stages 1 and 2 are pure and run on any worker ([`crate::dataplane`]). Stages 3 to 6 keep
//! per-flow state ([`FramePass`]): it lives in [`SHARDS`] fixed shards, a flow's shard chosen
//! by its inside endpoint ([`crate::dataplane::Dataplane::owner`]), so a control flow and the
//! flows it announces, and every fragment of a datagram, meet in one shard. A replay with
//! `--workers N` gives each worker the shards `s` with `s % N == w`; the report is the shards'
//! sum, merged in shard order, so its bytes do not depend on the number of workers.
//!
//! Every user of frames goes through [`FramePass::frame`]: the replay (`replay`, `--events`),
//! `trace` and `diff` ([`crate::advisor::QuietReplay`]), and the mode advisor (`modes`), which
//! rewrites a guest's frames as the guest would send them in another mode before stage 2 and
//! so runs without stage 5 ([`FramePass::over`]).

use crate::alg::tracker::{AlgTracker, Interest};
use crate::alg::translate::{Policy, Translation, Translator};
use crate::dataplane::{Action, FlowKey, Outcome, Verdict};
use crate::model::Cloud;
use crate::report::Stats;
use crate::wire::LinkType;

/// Shards of per-flow state in a replay. Fixed: the report must not depend on the workers.
pub const SHARDS: usize = 16;

/// The shard of a flow whose inside endpoint is `owner` (a multiplicative hash, top bits).
#[inline]
pub fn shard_of(owner: u32) -> u8 {
    (owner.wrapping_mul(0x9E37_79B1) >> 28) as u8
}

/// The per-flow state of one shard: counters and flows, and the what-if translator's
/// sequence-number adjustments.
pub struct Shard {
    /// Counters, flows and ALG state of the flows of this shard.
    pub stats: Stats,
    translator: Option<Translator>,
}

/// Stages 3 to 6 of the frame pass over the shards a worker owns.
pub struct FramePass {
    shards: Vec<Option<Shard>>,
    /// ALG inspection on (`--no-alg` turns it off).
    alg: bool,
}

impl FramePass {
    /// A pass over `count` shards for `cloud`, holding those `owned` says; `alg` turns ALG
    /// inspection on, `policy` the what-if translation (when it translates anything).
    pub fn new(
        cloud: &Cloud,
        count: usize,
        owned: impl Fn(usize) -> bool,
        alg: bool,
        policy: Option<Policy>,
    ) -> FramePass {
        let translate = policy.filter(|p| alg && p.any());
        let nat = std::sync::Arc::new(AlgTracker::nat_of(cloud));
        let shards = (0..count)
            .map(|s| {
                owned(s).then(|| {
                    let mut stats = Stats::new(if count > 1 { 0 } else { cloud.enis.len() });
                    if count > 1 {
                        // The shards' sum has every ENI's frames out.
                        stats.sparse_egress();
                    }
                    stats.follow_shared(cloud, &nat);
                    let translator = translate.map(Translator::new);
                    if let Some(t) = &translator {
                        stats.translation = t.policy();
                    }
                    Shard { stats, translator }
                })
            })
            .collect();
        FramePass { shards, alg }
    }

    /// A pass with one shard holding everything (the advisors, which replay one frame at a
    /// time in one thread).
    pub fn single(cloud: &Cloud, alg: bool, policy: Option<Policy>) -> FramePass {
        FramePass::new(cloud, 1, |_| true, alg, policy)
    }

    /// A pass with one shard holding `stats` as they stand, without what-if translation (the
    /// mode advisor, which rewrites frames itself before the core and keeps its counters
    /// between runs); [`FramePass::into_stats`] gives them back.
    pub fn over(stats: Stats, alg: bool) -> FramePass {
        FramePass {
            shards: vec![Some(Shard {
                stats,
                translator: None,
            })],
            alg,
        }
    }

    /// The counters of the first shard held (of a pass made by [`FramePass::over`] or
    /// [`FramePass::single`]: all of them).
    pub fn into_stats(self) -> Stats {
        self.into_shards()
            .next()
            .map(|(_, s)| s.stats)
            .expect("a pass holds a shard")
    }

    /// Flows that leave the full flow table go to a spill file per shard, `path(s)` for shard
    /// `s`, `buffer` of them kept in memory at a time ([`Stats::spill_to`]).
    pub fn spill_to(&mut self, path: impl Fn(usize) -> std::path::PathBuf, buffer: usize) {
        for (i, s) in self.shards.iter_mut().enumerate() {
            if let Some(s) = s {
                s.stats.spill_to(path(i), buffer);
            }
        }
    }

    /// Whether this pass holds shard `s`.
    #[inline]
    pub fn owns(&self, s: usize) -> bool {
        self.shards.get(s).is_some_and(Option::is_some)
    }

    /// The counters of shard `s` (held by this pass), to change.
    pub fn stats_mut(&mut self, s: usize) -> &mut Stats {
        &mut self.shards[s].as_mut().expect("shard held").stats
    }

    /// Follows a cloud changed by a timed event (new ENIs, new NAT mappings).
    pub fn follow(&mut self, cloud: &Cloud) {
        let nat = std::sync::Arc::new(AlgTracker::nat_of(cloud));
        for s in self.shards.iter_mut().flatten() {
            s.stats.follow_shared(cloud, &nat);
        }
    }

    /// The counters of shard `s` (held by this pass).
    pub fn stats(&self, s: usize) -> &Stats {
        &self.shards[s].as_ref().expect("shard held").stats
    }

    /// Stages 3 to 6 for one frame of shard `shard` (held by this pass): `frame_no` is its
    /// 1-based number in the replay, `now_s` its capture time in seconds, `v` the core's
    /// verdict (joined to its first fragment here), `data` the frame as the core left it.
    /// Returns whether the what-if translation rewrote it into `out` (the frame to send
    /// instead of `data`).
    #[allow(clippy::too_many_arguments)]
    pub fn frame(
        &mut self,
        shard: usize,
        frame_no: u64,
        now_s: i64,
        v: &mut Verdict,
        data: &[u8],
        link: LinkType,
        out: &mut Vec<u8>,
    ) -> bool {
        let Some(s) = self.shards.get_mut(shard).and_then(Option::as_mut) else {
            return false;
        };
        s.stats.join_fragment(v);
        let flags = if v.tuple.proto == crate::wire::proto::TCP {
            v.layout.tcp(data).map_or(0, |t| t.flags())
        } else {
            0
        };
        let Some((key, local)) = s.stats.record_timed(frame_no, v, now_s, flags) else {
            return false;
        };
        if !self.alg {
            return false;
        }
        let (rewritten, covered) = translate(s, key, frame_no, v, data, link, out);
        // The private address the translation itself wrote towards the VPC is no finding.
        let mapped = (covered
            && matches!(
                v.outcome,
                Outcome::Forward(_, Action::Dnat | Action::Hairpin)
            ))
        .then_some(v.inside_dst);
        let data: &[u8] = if rewritten { out } else { data };
        if s.stats
            .alg
            .inspect((key, local), frame_no, (v, data, link), mapped)
            == Interest::NotAlg
        {
            s.stats.set_not_alg(&key);
        }
        rewritten
    }

    /// The shards held, by number.
    pub fn into_shards(self) -> impl Iterator<Item = (usize, Shard)> {
        self.shards
            .into_iter()
            .enumerate()
            .filter_map(|(i, s)| s.map(|s| (i, s)))
    }

    /// The shards' counters summed into `leader` (the timeline and segments are the
    /// leader's), in shard order.
    pub fn merge_into(leader: &mut Stats, shards: impl IntoIterator<Item = (usize, Shard)>) {
        let mut all: Vec<(usize, Shard)> = shards.into_iter().collect();
        all.sort_by_key(|(i, _)| *i);
        for (_, s) in all {
            leader.merge(s.stats);
        }
    }
}

/// Stage 5, what-if translation of a frame: whether `out` holds the frame to send, and
/// whether the translation covers the frame.
fn translate(
    s: &mut Shard,
    key: FlowKey,
    frame_no: u64,
    v: &Verdict,
    data: &[u8],
    link: LinkType,
    out: &mut Vec<u8>,
) -> (bool, bool) {
    let Some(tr) = &mut s.translator else {
        return (false, false);
    };
    match tr.apply(link, data, v, out) {
        Translation::NotCovered => (false, false),
        Translation::Covered {
            protocol,
            changes,
            rewritten,
        } => {
            s.stats
                .alg
                .translated(key, frame_no, protocol, &changes, rewritten, None);
            (rewritten, true)
        }
        Translation::Failed {
            protocol,
            reason,
            rewritten,
        } => {
            s.stats
                .alg
                .translated(key, frame_no, protocol, &[], rewritten, Some(reason));
            (rewritten, true)
        }
    }
}
