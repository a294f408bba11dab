//! `decided_by` of a dropped flow in `report.json`: what decided the flow's main drop reason (the
//! reason with the most frames; the first in counter order on a tie). A security group's refusal
//! is recorded when it happens (the rule as it was then); the other reasons are described from
//! the topology as it stands at the end of the replay: the association, ENI, instance setting or
//! table entry behind them.

use std::net::Ipv4Addr;

use super::Stats;
use super::rec::FlowRec;
use crate::dataplane::{DropReason, FlowKey};
use crate::model::{Cloud, Mode};

/// The flow's main drop reason: the most frames, the first in counter order on a tie.
pub(super) fn main_reason(f: &FlowRec) -> Option<DropReason> {
    let mut best: Option<(DropReason, u64)> = None;
    for r in DropReason::ALL {
        let n = f.dropped(r);
        if n > 0 && best.is_none_or(|(_, b)| n > b) {
            best = Some((r, n));
        }
    }
    best.map(|(r, _)| r)
}

/// `decided_by` of flow `k`, `None` when it has no drop.
pub(super) fn decided_by(
    stats: &Stats,
    cloud: &Cloud,
    k: &FlowKey,
    f: &FlowRec,
) -> Option<serde_json::Value> {
    let reason = main_reason(f)?;
    if reason == DropReason::SecurityGroup
        && let Some(d) = stats.refusal(k, f.first_frame)
    {
        return Some(security_group(d, cloud));
    }
    let eni = f
        .eni()
        .and_then(|e| cloud.enis.get(e as usize).map(|x| (e as usize, x)));
    let eni_id = eni.map(|(_, e)| e.id.clone());
    let local = Ipv4Addr::from(f.local(k).0);
    let remote = Ipv4Addr::from(f.remote(k).0);
    let eip = f.eip().map(Ipv4Addr::from);
    let eip_entry = eip.and_then(|a| cloud.eips.iter().find(|e| !e.released && e.address == a));
    let mut o = serde_json::Map::new();
    o.insert("reason".into(), reason.as_str().into());
    let mut put = |k: &str, v: Option<String>| {
        if let Some(v) = v {
            o.insert(k.into(), v.into());
        }
    };
    let detail = match reason {
        DropReason::EipNotAssociated => {
            put("eip", eip_entry.map(|e| e.id.clone()));
            put("address", eip.map(|a| a.to_string()));
            match eip_entry {
                Some(e) => format!("EIP {} ({}) has no association", e.id, e.address),
                None => "the destination EIP has no association".into(),
            }
        }
        DropReason::EniDetached => {
            put("eni", eni_id.clone());
            match &eni_id {
                Some(id) => format!("{id} is attached to no instance"),
                None => "the ENI concerned is attached to no instance".into(),
            }
        }
        DropReason::SourceCheck => {
            put("eni", eni_id.clone());
            put("address", Some(local.to_string()));
            format!(
                "{local} is not an address {} owns (anti-spoofing)",
                eni_id.as_deref().unwrap_or("the sending ENI")
            )
        }
        DropReason::NoPublicAddress => {
            put("eni", eni_id.clone());
            put("address", Some(local.to_string()));
            format!(
                "{local} is a private IP of {} with no NAT-mode EIP",
                eni_id.as_deref().unwrap_or("the sending ENI")
            )
        }
        DropReason::PrivateNetworkUnavailable => {
            let binded = [Some(local), Some(remote)]
                .into_iter()
                .flatten()
                .find_map(|a| binded_owner(cloud, a))
                .or_else(|| eni.filter(|(i, _)| cloud.is_binded(*i)).map(|(i, _)| i));
            let id = binded.map(|i| cloud.enis[i].id.clone());
            put("eni", id.clone().or(eni_id.clone()));
            match id {
                Some(id) => format!("{id} is bound in cut-through mode: it has no private network"),
                None => "an ENI of this traffic has no private network".into(),
            }
        }
        DropReason::GuestNotConfigured => {
            put("eni", eni_id.clone());
            let inst = eni
                .and_then(|(_, e)| e.instance)
                .and_then(|i| cloud.instances.get(i));
            put("instance", inst.map(|i| i.id.clone()));
            put("eip", eip_entry.map(|e| e.id.clone()));
            match (inst, f.mode()) {
                (Some(i), _) if !i.dhcp => {
                    o_note_dhcp(&mut put);
                    format!("{} has dhcp = false", i.id)
                }
                (_, Some(Mode::MultiBinded)) => format!(
                    "{} is not in {}'s static_eips: the guest did not configure it",
                    eip.map_or_else(|| "the EIP".to_string(), |a| a.to_string()),
                    eni_id.as_deref().unwrap_or("the ENI")
                ),
                _ => "the guest has not configured the address".into(),
            }
        }
        DropReason::TtlExpired => "TTL at most 1 on arrival at the gateway".into(),
        DropReason::Tcp25Restricted => {
            put("setting", Some("[account] tcp25_unblocked = false".into()));
            "the provider blocks outbound TCP to port 25 of Internet addresses".into()
        }
        DropReason::UnknownDestination => {
            format!("no EIP of the topology and no ENI's address among {local} and {remote}")
        }
        DropReason::SecurityGroup => "a security group refused it".into(),
        DropReason::Malformed | DropReason::NotIpv4 | DropReason::UnsupportedLink => {
            format!("{}: no table entry decided it", reason.as_str())
        }
    };
    o.insert("detail".into(), detail.into());
    Some(serde_json::Value::Object(o))
}

/// Marks that DHCP decided (the instance setting).
fn o_note_dhcp(put: &mut impl FnMut(&str, Option<String>)) {
    put("setting", Some("dhcp = false".into()));
}

/// The ENI bound in cut-through mode whose former private IP or EIP is `a`.
fn binded_owner(cloud: &Cloud, a: Ipv4Addr) -> Option<usize> {
    let by_private = cloud
        .enis
        .iter()
        .position(|e| !e.deleted && e.private_ips().any(|p| p == a));
    let by_eip = cloud
        .eips
        .iter()
        .position(|e| !e.released && e.address == a)
        .and_then(|i| cloud.association_of_eip(i))
        .filter(|x| x.mode == Mode::Binded)
        .map(|x| x.eni);
    by_private.or(by_eip).filter(|i| cloud.is_binded(*i))
}

/// A security group's refusal: the ENI by id.
pub(super) fn security_group(d: &crate::groups::Decided, cloud: &Cloud) -> serde_json::Value {
    let mut v = serde_json::to_value(d).unwrap_or_default();
    if let Some(o) = v.as_object_mut() {
        let eni = cloud
            .enis
            .get(d.eni as usize)
            .map_or_else(|| d.eni.to_string(), |e| e.id.clone());
        o.insert("eni".into(), serde_json::Value::String(eni));
    }
    v
}
