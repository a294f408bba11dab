//! The frame pass: the stages every frame goes through, in this order, each a named step with
//! one input and one output.
//!
//! ```text
//!  1 restore   capture point `instance`: a frame the instance received becomes the frame
//!              the Internet sent                  (bytes in place; Dataplane::restore_received)
//!  2 core      the forwarding decision and 1:1 NAT (bytes in place -> Verdict; Dataplane)
//!  3 fragment  a later IP fragment joins its first fragment's flow (Verdict -> Verdict)
//!  4 groups    security groups, stateful: the sender's egress and the receiver's ingress
//!              checks in their places of the drop precedence (Verdict -> Verdict, refusal;
//!              crate::groups)
//!  5 record    counters and the flow table        (Verdict -> whether the flow wants the ALG)
//!  6 translate what-if ALG translation (--alg)   (bytes -> rewritten bytes, findings)
//!  7 inspect   ALG inspection of the payload     (bytes -> findings, announcements)
//! ```
//!
//! Stages 1 and 2 are pure and run on any worker ([`crate::dataplane`]). Stages 3 to 7 keep
//! per-flow state ([`FramePass`]): it lives in [`SHARDS`] fixed shards, a flow's shard chosen
//! by its inside endpoint ([`crate::dataplane::Dataplane::owner`]), so a control flow and the
//! flows it announces, and every fragment of a datagram, meet in one shard. A replay with
//! `--workers N` gives each worker the shards `s` with `s % N == w`; the report is the shards'
//! sum, merged in shard order, so its bytes do not depend on the number of workers.
//!
//! Every user of frames goes through [`FramePass::frame`]: the replay (`replay`, `--events`),
//! `trace` and `diff` ([`crate::advisor::QuietReplay`]), and the mode advisor (`modes`), which
//! rewrites a guest's frames as the guest would send them in another mode before stage 2 and
//! so runs without stage 6 ([`FramePass::over`]).

use std::sync::Arc;

use crate::alg::tracker::{AlgTracker, Interest};
use crate::alg::translate::{Policy, Translation, Translator};
use crate::dataplane::{Action, Dataplane, FlowKey, Outcome, Verdict};
use crate::groups::{GroupStage, GroupTables, Refusal, SESSIONS_PER_SHARD, Views};
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

/// The per-flow state of one shard: counters and flows, the what-if translator's
/// sequence-number adjustments, and the security groups' sessions.
pub struct Shard {
    /// Counters, flows and ALG state of the flows of this shard.
    pub stats: Stats,
    translator: Option<Translator>,
    /// The security-group stage (none when no ENI of the topology is in a group).
    groups: Option<GroupStage>,
}

/// One frame handed to [`FramePass::frame`]: the frame as the core left it and as it arrived,
/// with its number and capture time.
#[derive(Clone, Copy)]
pub struct FrameIn<'a> {
    /// The tables the core decided it with.
    pub dp: &'a Dataplane,
    /// Its 1-based number in the replay.
    pub frame_no: u64,
    /// Its capture time, seconds since the epoch (rounded down).
    pub now_s: i64,
    /// Its capture time, nanoseconds since the epoch.
    pub now_ns: i64,
    /// The frame as the core left it.
    pub data: &'a [u8],
    /// The frame as it arrived (before the core rewrote it; the same bytes for a frame the
    /// core dropped).
    pub before: &'a [u8],
    /// Its link type.
    pub link: LinkType,
}

/// What [`FramePass::frame`] did to a frame beyond the core.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FrameOut {
    /// The what-if translation rewrote it: send the frame in `out` instead.
    pub rewritten: bool,
    /// A security group refused it: the verdict is now a `security-group` drop, and the frame
    /// to write to the drops is [`FrameIn::before`].
    pub refused: Option<Refusal>,
}

/// Stages 3 to 7 of the frame pass over the shards a worker owns.
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
        let tables = Arc::new(GroupTables::new(cloud));
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
                    let groups = tables
                        .any()
                        .then(|| GroupStage::new(tables.clone(), SESSIONS_PER_SHARD));
                    Shard {
                        stats,
                        translator,
                        groups,
                    }
                })
            })
            .collect();
        FramePass { shards, alg }
    }

    /// The peers of translated connections are real hosts (`eipsim live`): the what-if
    /// translation maps their acknowledgements back ([`Translator::peers_see_translation`]).
    pub fn peers_see_translation(&mut self) {
        for t in self.shards.iter_mut().flatten() {
            if let Some(t) = &mut t.translator {
                t.peers_see_translation();
            }
        }
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
                groups: None,
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

    /// Follows a cloud changed by a timed event (new ENIs, new NAT mappings, changed security
    /// groups: the sessions survive the new tables).
    pub fn follow(&mut self, cloud: &Cloud) {
        let nat = std::sync::Arc::new(AlgTracker::nat_of(cloud));
        let tables = Arc::new(GroupTables::new(cloud));
        for s in self.shards.iter_mut().flatten() {
            s.stats.follow_shared(cloud, &nat);
            match &mut s.groups {
                Some(g) => g.follow(tables.clone()),
                None if tables.any() => {
                    s.groups = Some(GroupStage::new(tables.clone(), SESSIONS_PER_SHARD));
                }
                None => {}
            }
        }
    }

    /// Turns the security-group stage on for a pass made by [`FramePass::over`] (the mode
    /// advisor), over `cloud`'s groups.
    pub fn with_groups(mut self, cloud: &Cloud) -> FramePass {
        let tables = Arc::new(GroupTables::new(cloud));
        if tables.any() {
            for s in self.shards.iter_mut().flatten() {
                s.groups = Some(GroupStage::new(tables.clone(), SESSIONS_PER_SHARD));
            }
        }
        self
    }

    /// The security-group stage of shard `s`, if groups are on.
    pub fn groups(&self, s: usize) -> Option<&GroupStage> {
        self.shards.get(s)?.as_ref()?.groups.as_ref()
    }

    /// The counters of shard `s` (held by this pass).
    pub fn stats(&self, s: usize) -> &Stats {
        &self.shards[s].as_ref().expect("shard held").stats
    }

    /// Stages 3 to 7 for one frame of shard `shard` (held by this pass): `f` the frame, `v`
    /// the core's verdict (joined to its first fragment, and changed to a `security-group`
    /// drop when a group refuses the frame). Says whether the what-if translation rewrote the
    /// frame into `out` (the frame to send instead) and whether a group refused it.
    pub fn frame(
        &mut self,
        shard: usize,
        f: FrameIn<'_>,
        v: &mut Verdict,
        out: &mut Vec<u8>,
    ) -> FrameOut {
        let mut done = FrameOut::default();
        let Some(s) = self.shards.get_mut(shard).and_then(Option::as_mut) else {
            return done;
        };
        s.stats.join_fragment(v);
        let mut data = f.data;
        if let Some(g) = &mut s.groups {
            let views = Views {
                after: f.data,
                before: f.before,
                link: f.link,
            };
            done.refused = g.check(f.dp, v, views, f.now_ns);
            if done.refused.is_some() {
                data = f.before;
            }
        }
        let (frame_no, link, now_s) = (f.frame_no, f.link, f.now_s);
        let flags = if v.tuple.proto == crate::wire::proto::TCP {
            v.layout.tcp(data).map_or(0, |t| t.flags())
        } else {
            0
        };
        let Some((key, local)) = s.stats.record_timed(frame_no, v, now_s, flags) else {
            return done;
        };
        if let (Some(r), Some(g)) = (&done.refused, &s.groups) {
            s.stats.note_refusal(&key, r.decided(g.tables()));
        }
        if !self.alg {
            return done;
        }
        let (rewritten, covered) = translate(s, key, frame_no, v, data, link, out);
        done.rewritten = rewritten;
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
        done
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
        for (_, mut s) in all {
            if let Some(g) = &s.groups {
                s.stats.sessions.get_or_insert_default().add(&g.counts());
            }
            leader.merge(s.stats);
        }
    }
}

/// Stage 6, what-if translation of a frame: whether `out` holds the frame to send, and
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
