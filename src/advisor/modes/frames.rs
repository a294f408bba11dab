//! The frames of a variant: replayed through a core into the counters, the ones the ENI's guest
//! sent first rewritten as it sends them in the variant's mode.

use std::collections::HashMap;
use std::net::Ipv4Addr;

use crate::alg::translate::{Policy, Translator};
use crate::dataplane::{Dataplane, Outcome, Port, Verdict};
use crate::model::Cloud;
use crate::pass::{FrameIn, FramePass};
use crate::report::Stats;
use crate::wire::LinkType;

/// Whether a frame (by its verdict in the topology as written) concerns ENI `x`.
fn concerns(v: &Verdict, x: u32) -> bool {
    v.eni == Some(x)
        || v.ingress == Some(Port::Eni(x))
        || matches!(v.outcome, Outcome::Forward(Port::Eni(e), _) if e == x)
}

/// Whether a verdict has an IPv4 flow (the report counts no flow for the others).
pub(super) fn has_flow(v: &Verdict) -> bool {
    !(v.tuple.proto == 0 && v.tuple.src == 0 && v.tuple.dst == 0)
}

/// Replays `frames` (only those at the indexes `selected`, ascending, when given) through `dp`
/// into `stats`, each first rewritten by `prepare`, and returns each replayed frame's verdict.
/// Frames keep their number in the whole capture.
pub(super) fn replay_frames(
    dp: &Dataplane,
    stats: &mut Stats,
    cloud: &Cloud,
    frames: &[(Vec<u8>, LinkType)],
    selected: Option<&[u32]>,
    mut prepare: impl FnMut(usize, &[u8], LinkType, &mut Vec<u8>) -> bool,
) -> Vec<Verdict> {
    let n = selected.map_or(frames.len(), <[u32]>::len);
    let mut verdicts = Vec::with_capacity(n);
    let mut buf = Vec::new();
    let mut scratch = Vec::new();
    let mut before = Vec::new();
    // The replay's frame pass (stages 3, 4 and 6; no what-if translation: `prepare` rewrites
    // the guest's frames before the core instead) over these counters.
    let mut pass =
        FramePass::over(std::mem::replace(stats, Stats::new(0)), true).with_groups(cloud);
    let mut one = |i: usize| {
        let (data, link) = &frames[i];
        if !prepare(i, data, *link, &mut buf) {
            buf.clear();
            buf.extend_from_slice(data);
        }
        before.clear();
        before.extend_from_slice(&buf);
        let mut v = dp.process(&mut buf, *link);
        // The frames carry no capture time here: flows leave the table only once ended (and
        // the security groups' sessions never idle out).
        let f = FrameIn {
            dp,
            frame_no: i as u64 + 1,
            now_s: 0,
            now_ns: 0,
            data: &buf,
            before: &before,
            link: *link,
        };
        pass.frame(0, f, &mut v, &mut scratch);
        verdicts.push(v);
    };
    match selected {
        Some(sel) => sel.iter().for_each(|i| one(*i as usize)),
        None => (0..frames.len()).for_each(one),
    }
    *stats = pass.into_stats();
    verdicts
}

/// The guest side of a variant: frames ENI `x` sent are rewritten as its guest sends them in
/// the variant (`guest`: captured source -> source in this mode), frames towards it get their
/// acknowledgements shifted to match.
pub(super) fn guest_rewriter<'a>(
    base_verdicts: &'a [Verdict],
    x: u32,
    guest: &'a HashMap<Ipv4Addr, Ipv4Addr>,
) -> impl FnMut(usize, &[u8], LinkType, &mut Vec<u8>) -> bool + 'a {
    let mut t = Translator::new(Policy {
        ftp: true,
        sip: true,
    });
    move |i, data, link, out| {
        // Flows of other ENIs may be announced by this one's control channels; only this
        // ENI's frames change.
        let v = &base_verdicts[i];
        if !concerns(v, x) {
            return false;
        }
        let sent = (v.ingress == Some(Port::Eni(x)))
            .then(|| {
                let src = Ipv4Addr::from(v.tuple.src);
                guest.get(&src).map(|to| (src, *to))
            })
            .flatten();
        t.guest_rewrite(link, data, v, sent, out)
    }
}
