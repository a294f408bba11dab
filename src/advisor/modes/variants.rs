//! The variant topologies: how one ENI's EIPs are bound in one mode ([`plan`]), checked and
//! built through the console's operations on the whole cloud or on an excerpt of it, and the
//! reference variant ([`Strategy::FullRebuild`](super::Strategy::FullRebuild)) replayed whole.

use std::collections::HashMap;
use std::net::Ipv4Addr;

use rustc_hash::FxHashMap;

use super::frames::{guest_rewriter, replay_frames};
use super::{Replayed, Run};
use crate::dataplane::CapturePoint;
use crate::model::{Cloud, EniKind, InstanceType, Mode, ModelError};
use crate::replay::dataplane;
use crate::report::Stats;

const NI: InstanceType = InstanceType::NetworkInterface;

/// An association as [`Cloud::rebuilt`] takes it: EIP, ENI, mode, NAT private IP, kind.
pub(super) type Binding = (usize, usize, Mode, Option<Ipv4Addr>, InstanceType);

/// How one ENI's EIPs are bound in one mode, and what its guest sends from.
pub(super) struct Variant {
    /// The ENI's associations in this mode (every other association stays as written).
    pub(super) associations: Vec<Binding>,
    /// The ENI's guest configuration of multi-EIP addresses, when it changes.
    pub(super) static_eips: Vec<(usize, Option<Vec<Ipv4Addr>>)>,
    /// Source address in the original capture -> the address the guest sends from in this mode.
    pub(super) guest: HashMap<Ipv4Addr, Ipv4Addr>,
    pub(super) note: String,
}

/// Binds ENI `x`'s EIPs in `mode` (every other association stays as it is).
pub(super) fn plan(cloud: &Cloud, x: usize, mode: Mode) -> Result<Variant, String> {
    let eni = &cloud.enis[x];
    let mine: Vec<_> = cloud.associations_of(x).cloned().collect();
    let mut associations: Vec<Binding> = Vec::new();
    let privates: Vec<Ipv4Addr> = eni.private_ips().collect();
    // The address the guest sends from today, per EIP.
    let today = |a: &crate::model::Association| match a.mode {
        Mode::Nat => a.private_ip.unwrap_or(eni.primary_ip),
        _ => cloud.eips[a.eip].address,
    };
    let mut guest = HashMap::new();
    let mut static_eips = Vec::new();
    let eip_name = |a: &crate::model::Association| {
        format!("{} ({})", cloud.eips[a.eip].id, cloud.eips[a.eip].address)
    };
    let note;
    match mode {
        Mode::Nat => {
            let reserved: Vec<Ipv4Addr> = mine
                .iter()
                .filter(|a| a.mode == Mode::Nat)
                .map(today)
                .collect();
            let mut used = Vec::new();
            let mut bound = Vec::new();
            let limit = if eni.kind == EniKind::Primary {
                1
            } else {
                usize::MAX
            };
            for a in &mine {
                let p = if a.mode == Mode::Nat {
                    Some(today(a))
                } else {
                    privates
                        .iter()
                        .copied()
                        .find(|p| !used.contains(p) && !reserved.contains(p))
                };
                match p {
                    Some(p) if used.len() < limit => {
                        used.push(p);
                        associations.push((a.eip, x, Mode::Nat, Some(p), a.instance_type));
                        guest.insert(today(a), p);
                        bound.push(format!("{} -> {p}", eip_name(a)));
                    }
                    _ => {
                        let from = today(a);
                        if !privates.contains(&from) {
                            guest.insert(from, eni.primary_ip);
                        }
                    }
                }
            }
            note = if bound.is_empty() {
                "no EIP bound".into()
            } else {
                format!("NAT: {}", bound.join(", "))
            };
        }
        Mode::Binded => {
            let Some(first) = mine.first() else {
                return Err("the ENI has no EIP in the topology to bind".into());
            };
            let e = cloud.eips[first.eip].address;
            associations.push((first.eip, x, Mode::Binded, None, NI));
            for a in &mine {
                guest.insert(today(a), e);
            }
            for p in &privates {
                guest.insert(*p, e);
            }
            note = format!(
                "BINDED: {}; the guest has no other address{}",
                eip_name(first),
                if mine.len() > 1 {
                    format!(
                        "; {} other EIP(s) left unbound (one per ENI)",
                        mine.len() - 1
                    )
                } else {
                    String::new()
                }
            );
        }
        Mode::MultiBinded => {
            if mine.is_empty() {
                return Err("the ENI has no EIP in the topology to bind".into());
            }
            let quota = cloud.account.multi_eip_quota as usize;
            let mut statics = Vec::new();
            for a in mine.iter().take(quota) {
                let e = cloud.eips[a.eip].address;
                associations.push((a.eip, x, Mode::MultiBinded, None, NI));
                statics.push(e);
                guest.insert(today(a), e);
            }
            note = format!(
                "MULTI_BINDED: {} EIP(s), all configured in the guest{}",
                statics.len(),
                if mine.len() > quota {
                    format!("; {} beyond the quota left unbound", mine.len() - quota)
                } else {
                    String::new()
                }
            );
            if !mine.iter().all(|a| a.mode == Mode::MultiBinded) {
                // As written, the guest's configuration stays as the topology says.
                static_eips.push((x, Some(statics)));
            }
        }
    }
    guest.retain(|a, b| a != b);
    // The ENI's mode as written: the capture is what its guest sent.
    if !mine.is_empty() && mine.iter().all(|a| a.mode == mode) {
        guest.clear();
    }
    Ok(Variant {
        associations,
        static_eips,
        guest,
        note,
    })
}

/// Variant `p` of ENI `x`: the whole cloud rebuilt through the console's operations.
pub(super) fn whole_cloud(cloud: &Cloud, x: usize, p: &Variant) -> Result<Cloud, String> {
    let mut associations: Vec<Binding> = cloud
        .associations
        .iter()
        .filter(|a| a.eni != x)
        .map(|a| (a.eip, a.eni, a.mode, a.private_ip, a.instance_type))
        .collect();
    associations.extend(p.associations.iter().cloned());
    cloud
        .rebuilt(&associations, &p.static_eips)
        .map_err(|e: ModelError| e.to_string())
}

/// Variant `p` of ENI `x` checked on an excerpt of the cloud (see [`Cloud::excerpt`]): the ENI,
/// the ENIs of its instance (`by_instance`: per instance, its ENIs), and their EIPs, rebuilt
/// with the variant's bindings. Returns the excerpt and the ENI's index in it.
pub(super) fn excerpt_cloud(
    cloud: &Cloud,
    by_instance: &FxHashMap<usize, Vec<usize>>,
    x: usize,
    p: &Variant,
) -> Result<(Cloud, usize), String> {
    let group: Vec<usize> = match cloud.enis[x].instance {
        Some(inst) => by_instance[&inst].clone(),
        None => vec![x],
    };
    let mut eips: Vec<usize> = Vec::new();
    for &g in &group {
        eips.extend(cloud.associations_of(g).map(|a| a.eip));
    }
    for b in &p.associations {
        if !eips.contains(&b.0) {
            eips.push(b.0);
        }
    }
    let local_eni = |g: usize| group.iter().position(|e| *e == g).expect("in the group");
    let local_eip = |g: usize| eips.iter().position(|e| *e == g).expect("in the excerpt");
    let mut bindings: Vec<Binding> = Vec::new();
    for &g in group.iter().filter(|g| **g != x) {
        bindings.extend(cloud.associations_of(g).map(|a| {
            (
                local_eip(a.eip),
                local_eni(a.eni),
                a.mode,
                a.private_ip,
                a.instance_type,
            )
        }));
    }
    bindings.extend(
        p.associations
            .iter()
            .map(|b| (local_eip(b.0), local_eni(b.1), b.2, b.3, b.4)),
    );
    let statics: Vec<_> = p
        .static_eips
        .iter()
        .map(|(e, s)| (local_eni(*e), s.clone()))
        .collect();
    let sub = cloud
        .excerpt(&group, &eips)
        .and_then(|c| c.rebuilt(&bindings, &statics))
        .map_err(|e| e.to_string())?;
    Ok((sub, local_eni(x)))
}

/// ENIs per instance (ascending).
pub(super) fn enis_by_instance(cloud: &Cloud) -> FxHashMap<usize, Vec<usize>> {
    let mut m: FxHashMap<usize, Vec<usize>> = FxHashMap::default();
    for (i, e) in cloud.enis.iter().enumerate() {
        if let Some(inst) = e.instance {
            m.entry(inst).or_default().push(i);
        }
    }
    m
}

/// [`Strategy::FullRebuild`](super::Strategy::FullRebuild): the whole cloud rebuilt, its tables
/// compiled, every frame replayed.
pub(super) fn full_variant(
    run: &Run<'_>,
    x: usize,
    mode: Mode,
    firsts: &[usize],
) -> Result<Replayed, String> {
    let p = plan(run.cloud, x, mode)?;
    let variant = whole_cloud(run.cloud, x, &p)?;
    let dp = dataplane(&variant, run.hint, CapturePoint::Gateway);
    let mut stats = Stats::for_cloud(&variant);
    let verdicts = replay_frames(
        &dp,
        &mut stats,
        &variant,
        run.frames,
        None,
        guest_rewriter(run.base_verdicts, x as u32, &p.guest),
    );
    Ok(Replayed {
        note: p.note,
        stats,
        firsts: firsts.iter().map(|i| verdicts[*i]).collect(),
    })
}
