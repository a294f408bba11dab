//! [`Strategy::Incremental`](super::Strategy::Incremental): the tables of the topology as
//! written patched in place for each variant and put back, and only the frames whose verdict or
//! flow can change replayed.

use std::net::Ipv4Addr;

use rustc_hash::{FxHashMap, FxHashSet};

use super::frames::{guest_rewriter, has_flow, replay_frames};
use super::variants::{Binding, enis_by_instance, excerpt_cloud, plan};
use super::{Replayed, Run};
use crate::dataplane::{Dataplane, EniPatch, Fragment, Outcome, Port, Verdict};
use crate::model::{Cloud, Mode};
use crate::report::{FlowKeyTuple, MAX_FLOWS, MAX_FRAGMENTS, Stats, flow_key};

/// No flow (a frame that is not IPv4).
const NO_FLOW: u32 = u32::MAX;

/// What a variant patched: the tables' old entries and the NAT mappings it added.
pub(super) struct Lent {
    undo: EniPatch,
    added: Vec<u32>,
}

/// A NAT association's (EIP, private IP), host order, as the report maps announcements.
fn nat_mapping(c: &Cloud, a: &crate::model::Association) -> (u32, u32) {
    (
        u32::from(c.eips[a.eip].address),
        u32::from(a.private_ip.unwrap_or(c.enis[a.eni].primary_ip)),
    )
}

/// [`Strategy::Incremental`](super::Strategy::Incremental): indexes of the replay as written,
/// built once, and the state lent to each variant (the tables and the NAT mappings, patched and
/// put back).
pub(super) struct Incremental {
    /// The tables of the topology as written (patched during a variant).
    pub(super) dp: Dataplane,
    /// NAT-mode EIP -> private IP of the topology as written (patched during a variant).
    pub(super) nat: FxHashMap<u32, u32>,
    /// Per frame, its flow as written (an index into `frames_of`), or [`NO_FLOW`].
    flow_of: Vec<u32>,
    /// Flow key -> flow.
    ids: FxHashMap<FlowKeyTuple, u32>,
    /// Per flow, its frames (ascending).
    frames_of: Vec<Vec<u32>>,
    /// Per ENI, the frames that concern it.
    by_eni: FxHashMap<u32, Vec<u32>>,
    /// Per address, the frames carrying it as source or destination.
    by_addr: FxHashMap<u32, Vec<u32>>,
    /// Flows every variant replays: the ALG's and the fragmented ones.
    always: Vec<u32>,
    /// Per (address, port), the flows with that end.
    ends: FxHashMap<(u32, u16), Vec<u32>>,
    /// Per instance, its ENIs (ascending).
    pub(super) by_instance: FxHashMap<usize, Vec<usize>>,
    /// Whether a partial replay can match a whole one (the replay as written tracked every
    /// flow and remembered every fragment).
    pub(super) exact: bool,
    /// Flows of the replay as written.
    flows: usize,
    /// `mark[flow] == generation`: the flow is replayed in the current variant.
    mark: Vec<u32>,
    generation: u32,
}

impl Incremental {
    /// The indexes of the replay as written (`base`, `run.base_verdicts`) and its tables.
    ///
    /// An excerpt gives the refusals of the whole rebuild because the rest of the cloud
    /// rebuilds unchanged: the topology was built by [`Cloud::load`] through the operations
    /// `rebuilt` runs, in the same order, and the variant changes the associations of one ENI
    /// only, which no other ENI's operations look at. Debug builds check the first half.
    pub(super) fn new(run: &Run<'_>, dp: Dataplane, base: &Stats) -> Incremental {
        let cloud = run.cloud;
        debug_assert!({
            let written: Vec<Binding> = cloud
                .associations
                .iter()
                .map(|a| (a.eip, a.eni, a.mode, a.private_ip, a.instance_type))
                .collect();
            cloud.rebuilt(&written, &[]).is_ok()
        });
        let mut inc = Incremental {
            dp,
            nat: Stats::nat_of(cloud),
            flow_of: Vec::with_capacity(run.base_verdicts.len()),
            ids: FxHashMap::default(),
            frames_of: Vec::new(),
            by_eni: FxHashMap::default(),
            by_addr: FxHashMap::default(),
            always: Vec::new(),
            ends: FxHashMap::default(),
            by_instance: enis_by_instance(cloud),
            exact: base.flows_untracked == 0,
            flows: base.flow_count(),
            mark: Vec::new(),
            generation: 0,
        };
        let mut first_fragments = 0usize;
        let mut always = FxHashSet::default();
        for (i, v) in run.base_verdicts.iter().enumerate() {
            let n = i as u32;
            if !has_flow(v) {
                inc.flow_of.push(NO_FLOW);
                continue;
            }
            let key = flow_key(v);
            let next = inc.frames_of.len() as u32;
            let id = *inc.ids.entry(key).or_insert(next);
            if id == next {
                inc.frames_of.push(Vec::new());
                for end in [key.1, key.2] {
                    inc.ends.entry(end).or_default().push(id);
                }
            }
            inc.frames_of[id as usize].push(n);
            inc.flow_of.push(id);
            let mut enis = [v.eni, None, None];
            if let Some(Port::Eni(e)) = v.ingress {
                enis[1] = Some(e);
            }
            if let Outcome::Forward(Port::Eni(e), _) = v.outcome {
                enis[2] = Some(e);
            }
            for (k, e) in enis.iter().enumerate() {
                if let Some(e) = *e
                    && !enis[..k].contains(&Some(e))
                {
                    inc.by_eni.entry(e).or_default().push(n);
                }
            }
            inc.by_addr.entry(v.tuple.src).or_default().push(n);
            if v.tuple.dst != v.tuple.src {
                inc.by_addr.entry(v.tuple.dst).or_default().push(n);
            }
            if v.fragment != Fragment::Whole {
                first_fragments += usize::from(matches!(v.fragment, Fragment::First(_)));
                always.insert(id);
            }
        }
        for key in base.alg_flow_keys() {
            if let Some(id) = inc.ids.get(&key) {
                always.insert(*id);
            }
        }
        inc.always = always.into_iter().collect();
        inc.always.sort_unstable();
        inc.exact &= first_fragments < MAX_FRAGMENTS;
        inc.mark = vec![0; inc.frames_of.len()];
        inc
    }

    /// ENI `x` in `mode`, validated on an excerpt, replayed with the patched tables.
    pub(super) fn variant(
        &mut self,
        run: &Run<'_>,
        x: usize,
        mode: Mode,
        firsts: &[usize],
    ) -> Result<Replayed, String> {
        let cloud = run.cloud;
        let p = plan(cloud, x, mode)?;
        let (sub, lx) = excerpt_cloud(cloud, &self.by_instance, x, &p)?;

        // The tables and the NAT mappings of the variant, lent for the replay.
        let (mine, lent) = self.lend(cloud, x, &sub, lx);
        let mut selected = self.select(run, x, &mine, firsts);
        let replay = |nat, selected: Option<&[u32]>, dp: &Dataplane| {
            let mut stats = Stats::with_nat(cloud.enis.len(), cloud.vpc.cidr, nat);
            let verdicts = replay_frames(
                dp,
                &mut stats,
                cloud,
                run.frames,
                selected,
                guest_rewriter(run.base_verdicts, x as u32, &p.guest),
            );
            (stats, verdicts)
        };
        let nat = std::mem::take(&mut self.nat);
        let (mut stats, mut verdicts) = replay(nat, selected.as_deref(), &self.dp);
        if selected.is_some() && !self.closed(&stats, &verdicts) {
            let nat = stats.take_nat();
            (stats, verdicts) = replay(nat, None, &self.dp);
            selected = None;
        }
        let firsts = firsts
            .iter()
            .map(|i| match &selected {
                Some(sel) => verdicts[sel.binary_search(&(*i as u32)).expect("replayed")],
                None => verdicts[*i],
            })
            .collect();

        self.nat = stats.take_nat();
        self.put_back(cloud, x, lent);
        Ok(Replayed {
            note: p.note,
            stats,
            firsts,
        })
    }

    /// Patches the tables and the NAT mappings as written for variant `sub` (an excerpt in
    /// which ENI `x` is `lx`). Returns the ENI's EIPs as written and what to put back.
    pub(super) fn lend(
        &mut self,
        cloud: &Cloud,
        x: usize,
        sub: &Cloud,
        lx: usize,
    ) -> (Vec<Ipv4Addr>, Lent) {
        let mine: Vec<Ipv4Addr> = cloud
            .associations_of(x)
            .map(|a| cloud.eips[a.eip].address)
            .collect();
        let undo = self.dp.patch_eni(sub, lx, x as u32, &mine);
        for a in &mine {
            self.nat.remove(&u32::from(*a));
        }
        let added: Vec<u32> = sub
            .associations_of(lx)
            .filter(|a| a.mode == Mode::Nat)
            .map(|a| {
                let (eip, private) = nat_mapping(sub, a);
                self.nat.insert(eip, private);
                eip
            })
            .collect();
        (mine, Lent { undo, added })
    }

    /// Puts back what [`Incremental::lend`] patched.
    pub(super) fn put_back(&mut self, cloud: &Cloud, x: usize, lent: Lent) {
        for e in &lent.added {
            self.nat.remove(e);
        }
        self.nat.extend(
            cloud
                .associations_of(x)
                .filter(|a| a.mode == Mode::Nat)
                .map(|a| nat_mapping(cloud, a)),
        );
        self.dp.restore(lent.undo);
    }

    /// The frames a variant of ENI `x` (whose EIPs as written are `mine`) replays: every frame
    /// of the flows of the frames that concern it or carry one of its addresses, of its rows'
    /// flows (first frames `firsts`) and of the flows every variant replays; `None`: all of
    /// them. Marks the flows chosen.
    pub(super) fn select(
        &mut self,
        run: &Run<'_>,
        x: usize,
        mine: &[Ipv4Addr],
        firsts: &[usize],
    ) -> Option<Vec<u32>> {
        self.generation += 1;
        let generation = self.generation;
        let mut chosen: Vec<u32> = Vec::new();
        let mut add = |id: u32, mark: &mut Vec<u32>| {
            if id != NO_FLOW && mark[id as usize] != generation {
                mark[id as usize] = generation;
                chosen.push(id);
            }
        };
        let eni = &run.cloud.enis[x];
        let addrs = eni.private_ips().chain(mine.iter().copied()).map(u32::from);
        let touching = self
            .by_eni
            .get(&(x as u32))
            .into_iter()
            .chain(addrs.filter_map(|a| self.by_addr.get(&a)))
            .flatten();
        for i in touching {
            add(self.flow_of[*i as usize], &mut self.mark);
        }
        for i in firsts {
            add(self.flow_of[*i], &mut self.mark);
        }
        for id in &self.always {
            add(*id, &mut self.mark);
        }
        let mut frames: Vec<u32> = chosen
            .iter()
            .flat_map(|id| self.frames_of[*id as usize].iter().copied())
            .collect();
        // Below the flow limit whatever the frames left out do, the partial replay tracks the
        // same flows as the whole one.
        if !self.exact || self.flows + frames.len() >= MAX_FLOWS {
            return None;
        }
        frames.sort_unstable();
        Some(frames)
    }

    /// Whether a partial replay stayed within the flows it chose: no replayed frame fell into a
    /// flow left out, and no announcement names an end of a flow left out.
    pub(super) fn closed(&self, stats: &Stats, verdicts: &[Verdict]) -> bool {
        let chosen = |id: &u32| self.mark[*id as usize] == self.generation;
        let into_left_out = verdicts
            .iter()
            .filter(|v| has_flow(v))
            .any(|v| self.ids.get(&flow_key(v)).is_some_and(|id| !chosen(id)));
        let announces_left_out = stats.announced().any(|end| {
            self.ends
                .get(&end)
                .is_some_and(|ids| !ids.iter().all(chosen))
        });
        !into_left_out && !announces_left_out
    }
}
