//! The proposal for one dropped flow: per drop reason of the flow, the narrowest change that
//! would admit it, built as `[[step]]` tables parsed with [`Operation`] (so that `fixes.toml`
//! loads), or why there is none.
//!
//! Choices that several flows could compete for (a free EIP, a private IP without one, an
//! ENI's mode) are claimed by the first flow that needs them and reused by the next ones, so
//! that the fixes of a file apply together.

use std::collections::{HashMap, HashSet};
use std::net::Ipv4Addr;

use super::groups;
use super::{Change, Setting};
use crate::groups::GroupTables;
use crate::model::scenario::Operation;
use crate::model::sg::Direction;
use crate::model::{Cloud, Mode};
use crate::report::DroppedFlow;

/// The first placeholder address of a new EIP: TEST-NET-1 (RFC 5737), a documentation
/// address the user replaces with the one the provider allocates.
const PLACEHOLDER_NET: [u8; 3] = [192, 0, 2];

/// Candidate private IPs tried for an unassociated EIP.
const MAX_CANDIDATES: usize = 64;

/// Proposes fixes against one topology, remembering what earlier fixes claimed.
pub(super) struct Proposer<'c> {
    pub(super) cloud: &'c Cloud,
    pub(super) tables: GroupTables,
    /// Private IP -> the changes that map an EIP to it.
    pub(super) by_ip: HashMap<Ipv4Addr, Vec<Change>>,
    /// EIP index -> the changes that associate it.
    pub(super) by_eip: HashMap<usize, Vec<Change>>,
    /// ENI index -> the changes that attach or convert it.
    pub(super) by_eni: HashMap<usize, Vec<Change>>,
    /// EIPs and placeholder addresses taken by earlier fixes.
    pub(super) claimed_eips: HashSet<usize>,
    /// Placeholder addresses handed out so far.
    pub(super) placeholders: u32,
    /// Address -> the ENI that owns it: private IPs, cut-through and multi-EIP addresses.
    pub(super) owners: HashMap<Ipv4Addr, usize>,
    /// Why a resource took no fix (`ip A`, `eip A`, `eni X`).
    pub(super) failed: HashMap<String, String>,
}

/// One `[[step]]`: the table as written and the operation it parses into.
pub(super) fn step(op: &str, fields: Vec<(&str, toml::Value)>) -> Result<Change, String> {
    let mut t = toml::Table::new();
    t.insert("op".into(), op.into());
    for (k, v) in fields {
        t.insert(k.to_string(), v);
    }
    let parsed: Operation = toml::Value::Table(t.clone())
        .try_into()
        .map_err(|e: toml::de::Error| format!("{op}: {e}"))?;
    Ok(Change::Op(parsed, t))
}

pub(super) fn s(v: impl ToString) -> toml::Value {
    toml::Value::String(v.to_string())
}

/// The IP protocol number of a flow's protocol name (`tcp`, `udp`, `icmp`, `ip-N`).
fn proto_number(name: &str) -> u8 {
    match name {
        "tcp" => 6,
        "udp" => 17,
        "icmp" => 1,
        n => n
            .strip_prefix("ip-")
            .and_then(|n| n.parse().ok())
            .unwrap_or(0),
    }
}

pub(super) fn ip(a: u32) -> Ipv4Addr {
    Ipv4Addr::from(a)
}

/// Every address an ENI owns, with the ENI (the first, should a topology give one twice).
fn owners(c: &Cloud) -> HashMap<Ipv4Addr, usize> {
    let mut m = HashMap::new();
    for (x, e) in c.enis.iter().enumerate().filter(|(_, e)| !e.deleted) {
        for p in e.private_ips() {
            m.entry(p).or_insert(x);
        }
    }
    for a in c.associations.iter().filter(|a| a.mode != Mode::Nat) {
        m.entry(c.eips[a.eip].address).or_insert(a.eni);
    }
    m
}

impl<'c> Proposer<'c> {
    pub(super) fn new(cloud: &'c Cloud) -> Proposer<'c> {
        Proposer {
            cloud,
            tables: GroupTables::new(cloud),
            by_ip: HashMap::new(),
            by_eip: HashMap::new(),
            by_eni: HashMap::new(),
            claimed_eips: HashSet::new(),
            placeholders: 0,
            owners: owners(cloud),
            failed: HashMap::new(),
        }
    }

    /// What decided the flow's drops, in a few words (for the fix's list of flows).
    pub(super) fn why(&self, f: &DroppedFlow) -> String {
        let mut parts: Vec<String> = Vec::new();
        for (r, n) in &f.summary.dropped {
            match (&f.decided, *r) {
                (Some(d), "security-group") => parts.push(format!("{r} x{n}: {}", d.detail)),
                _ => parts.push(format!("{r} x{n}")),
            }
        }
        parts.join(", ")
    }

    /// The flow's proposal: the reasons it answers, the changes (empty: none possible) and a
    /// note (why this change, or why none).
    pub(super) fn propose(&mut self, f: &DroppedFlow) -> (Vec<&'static str>, Vec<Change>, String) {
        let mut reasons = Vec::new();
        let mut changes: Vec<Change> = Vec::new();
        let mut notes: Vec<String> = Vec::new();
        let mut nones: Vec<String> = Vec::new();
        for r in f.summary.dropped.keys() {
            reasons.push(*r);
            match self.one(r, f) {
                Ok((c, note)) => {
                    for c in c {
                        if !changes.contains(&c) {
                            changes.push(c);
                        }
                    }
                    notes.push(note);
                }
                Err(why) => nones.push(format!("{r}: {why}")),
            }
        }
        if changes.is_empty() {
            return (reasons, changes, nones.join("; "));
        }
        notes.extend(nones.into_iter().map(|n| format!("no fix for {n}")));
        (reasons, changes, notes.join("; "))
    }

    /// The changes for `reasons` that a replay with a fix uncovered in flow `f` (what
    /// dropped it once the first drop was fixed), with a note; none when no reason has one.
    pub(super) fn extend(
        &mut self,
        f: &DroppedFlow,
        reasons: &[&'static str],
    ) -> Option<(Vec<Change>, String)> {
        let mut g = f.clone();
        g.summary.dropped = reasons.iter().map(|r| (*r, 1)).collect();
        g.decided = None;
        let (_, changes, note) = self.propose(&g);
        (!changes.is_empty()).then_some((changes, note))
    }

    /// One reason's changes and note, or why there are none.
    fn one(&mut self, reason: &str, f: &DroppedFlow) -> Result<(Vec<Change>, String), String> {
        let (local, remote) = (ip(f.local.0), ip(f.remote.0));
        match reason {
            "security-group" => self.security_group(f),
            "no-public-address" => {
                self.remembered(format!("ip {local}"), |p| p.no_public_address(f))
            }
            "eip-not-associated" => {
                let key = format!("eip {}", ip(f.public.unwrap_or(f.local.0)));
                let (c, n, eni) = self.remembered(key, |p| p.eip_not_associated(f))?;
                // From the Internet to the EIP, now delivered: the receiver's ingress.
                let checks = eni.map(|eni| groups::Check {
                    eni: eni as u32,
                    dir: Direction::Ingress,
                    proto: proto_number(&f.summary.protocol),
                    port: f.local.1,
                    peer: f.remote.0,
                });
                self.then_groups(c, vec![n], checks.into_iter().collect())
            }
            "eni-detached" => {
                let key = format!("eni {:?}", f.summary.eni);
                self.remembered(key, |p| p.eni_detached(f))
            }
            "private-network-unavailable" => {
                let mut xs: Vec<usize> = Vec::new();
                let owners = [f.summary.eni.map(|e| e as usize)]
                    .into_iter()
                    .chain([self.owner(remote), self.owner(local)]);
                for x in owners.flatten() {
                    if self.cloud.private_network_unavailable(x) && !xs.contains(&x) {
                        xs.push(x);
                    }
                }
                if xs.is_empty() {
                    return Err("no ENI of the flow is in cut-through mode".into());
                }
                let mut all = Vec::new();
                let mut notes = Vec::new();
                for x in xs {
                    let (c, n) = self.convert(x)?;
                    all.extend(c);
                    notes.push(n);
                }
                self.then_groups(all, notes, self.vpc_path(f))
            }
            "source-check" => {
                let x = f.summary.eni.map(|e| e as usize).ok_or("no sender ENI")?;
                let e = &self.cloud.enis[x];
                let cut = self.cloud.private_network_unavailable(x);
                let bound = self.cloud.associations_of(x).find(|a| a.mode == Mode::Binded);
                if e.private_ips().any(|a| a == local) && cut {
                    match bound {
                        Some(a) if !self.cloud.vpc.cidr.contains(remote) => Err(format!(
                            "{} is in cut-through mode: its guest sends to the Internet from its EIP {} (which DHCP configures), not from {local}",
                            e.id, self.cloud.eips[a.eip].address
                        )),
                        _ => {
                            let (c, n) = self.convert(x)?;
                            self.then_groups(c, vec![n], self.vpc_path(f))
                        }
                    }
                } else {
                    Err(format!(
                        "{local} is not an address {} owns (a spoofed or misconfigured source): the guest must send from its own address",
                        e.id
                    ))
                }
            }
            "guest-not-configured" => self.guest(f),
            "tcp-25-restricted" => Ok((
                vec![Change::Setting(Setting::Tcp25Unblocked)],
                "no console operation: the provider blocks outbound TCP to port 25 by default; ask it to lift the block (then [account] tcp25_unblocked = true)".into(),
            )),
            "unknown-destination" if f.summary.eni.is_none() => Err(format!(
                "{local} is not an EIP of the topology: an EIP's address is the provider's to allocate"
            )),
            "unknown-destination" => Err(format!(
                "no ENI owns {remote}: assign it to the ENI meant to receive it (AssignPrivateIpAddresses)"
            )),
            "ttl-expired" => Err("the sender's TTL ran out at the gateway".into()),
            other => Err(format!("the seeds allow no change for {other}")),
        }
    }

    /// `run`'s outcome, or the error it gave before for the same `key` (a resource that
    /// takes no fix is not tried again for every flow).
    fn remembered<T>(
        &mut self,
        key: String,
        run: impl FnOnce(&mut Self) -> Result<T, String>,
    ) -> Result<T, String> {
        if let Some(e) = self.failed.get(&key) {
            return Err(e.clone());
        }
        run(self).inspect_err(|e| {
            self.failed.insert(key, e.clone());
        })
    }

    /// The ENI that owns `a`: a private IP, or a cut-through or multi-EIP address.
    pub(super) fn owner(&self, a: Ipv4Addr) -> Option<usize> {
        self.owners.get(&a).copied()
    }

    /// Whether `changes` apply to the topology, in order.
    pub(super) fn applies(&self, changes: &[Change]) -> Result<(), String> {
        let mut c = self.cloud.clone();
        for (n, ch) in changes.iter().enumerate() {
            ch.apply(&mut c)
                .map_err(|e| format!("step {} ({}) fails: {e}", n + 1, ch.text()))?;
        }
        Ok(())
    }

    /// A security group's drop: see [`groups::admit`], from the deciding ENI and direction.
    fn security_group(&mut self, f: &DroppedFlow) -> Result<(Vec<Change>, String), String> {
        let d = f.decided.as_ref().ok_or("no deciding rule was recorded")?;
        let dir = if d.direction == "egress" {
            Direction::Egress
        } else {
            Direction::Ingress
        };
        let m = d.matched;
        let check = groups::Check {
            eni: d.eni,
            dir,
            proto: m.proto,
            port: m.port,
            peer: m.peer,
        };
        let (changes, notes) = groups::admit(self.cloud, &self.tables, None, check)?;
        if changes.is_empty() {
            return Err("the group's rules admit it now".into());
        }
        Ok((changes, notes.join("; ")))
    }

    /// The checks of the path through a cut-through ENI made whole: the sender's (the flow's
    /// ENI) egress to the far end, and the receiver's (the far end's owner) ingress.
    fn vpc_path(&self, f: &DroppedFlow) -> Vec<groups::Check> {
        let proto = proto_number(&f.summary.protocol);
        let ends = [
            f.summary.eni.map(|e| (e, Direction::Egress, f.remote.0)),
            self.owner(ip(f.remote.0))
                .map(|r| (r as u32, Direction::Ingress, f.local.0)),
        ];
        ends.into_iter()
            .flatten()
            .map(|(eni, dir, peer)| groups::Check {
                eni,
                dir,
                proto,
                port: f.remote.1,
                peer,
            })
            .collect()
    }

    /// `changes`, then what the security groups need for `checks` on the topology so changed.
    fn then_groups(
        &self,
        mut changes: Vec<Change>,
        mut notes: Vec<String>,
        checks: Vec<groups::Check>,
    ) -> Result<(Vec<Change>, String), String> {
        if !checks.is_empty() {
            let mut w = self.cloud.clone();
            for c in &changes {
                c.apply(&mut w)?;
            }
            let tables = GroupTables::new(&w);
            for check in checks {
                let (c, n) = groups::admit(&w, &tables, None, check)?;
                changes.extend(c);
                notes.extend(n);
            }
        }
        Ok((changes, notes.join("; ")))
    }

    /// The first EIP that is neither associated nor claimed, or a new one at a placeholder
    /// address: its id, and the step that allocates it when new.
    fn free_eip(&mut self) -> Result<(String, Option<Change>, Option<String>), String> {
        let c = self.cloud;
        if let Some(i) = (0..c.eips.len()).find(|i| {
            !c.eips[*i].released
                && c.association_of_eip(*i).is_none()
                && !self.claimed_eips.contains(i)
        }) {
            self.claimed_eips.insert(i);
            return Ok((c.eips[i].id.clone(), None, None));
        }
        loop {
            self.placeholders += 1;
            let n = self.placeholders;
            if n > 254 {
                return Err("no free EIP and no placeholder address left".into());
            }
            let [a, b, x] = PLACEHOLDER_NET;
            let addr = Ipv4Addr::new(a, b, x, n as u8);
            let id = format!("eip-fix-{n}");
            if c.eips.iter().any(|e| e.address == addr) || c.eip_index(&id).is_some() {
                continue;
            }
            let alloc = step(
                "AllocateEipAddress",
                vec![("id", s(&id)), ("address", s(addr))],
            )?;
            let note = format!(
                "no unassociated EIP: {id} is a new one at {addr}, a placeholder (documentation) address; the provider allocates the real one"
            );
            return Ok((id, Some(alloc), Some(note)));
        }
    }

    /// `no-public-address`: an EIP associated in NAT mode with the sender's private IP.
    fn no_public_address(&mut self, f: &DroppedFlow) -> Result<(Vec<Change>, String), String> {
        let src = ip(f.local.0);
        if let Some(c) = self.by_ip.get(&src) {
            return Ok((c.clone(), format!("an EIP mapped to {src} in NAT mode")));
        }
        let x = f.summary.eni.map(|e| e as usize).ok_or("no sender ENI")?;
        let c = self.cloud;
        if let Some(a) = c.associations_of(x).find(|a| a.mode != Mode::Nat) {
            return Err(format!(
                "{} is bound in {} mode, which NAT does not join: the guest must send from its EIP {}",
                c.enis[x].id,
                a.mode.api_name(),
                c.eips[a.eip].address
            ));
        }
        let (eip, alloc, note) = self.free_eip()?;
        let mut changes: Vec<Change> = alloc.into_iter().collect();
        changes.push(step(
            "AssociateEipAddress",
            vec![
                ("eip", s(&eip)),
                ("eni", s(&c.enis[x].id)),
                ("mode", s("NAT")),
                ("private_ip", s(src)),
            ],
        )?);
        self.applies(&changes)?;
        self.by_ip.insert(src, changes.clone());
        if let Some(i) = c.eip_index(&eip) {
            self.by_eip.insert(i, changes.clone());
        }
        let mut n = format!("{eip} associated in NAT mode with {src}");
        if let Some(p) = note {
            n = format!("{n} ({p})");
        }
        Ok((changes, n))
    }

    /// `eip-not-associated`: the EIP associated in NAT mode with the first private IP (of an
    /// attached ENI, in the topology's order) that has no EIP and takes it.
    /// Also the ENI that gets it (none when an earlier fix associated it).
    fn eip_not_associated(
        &mut self,
        f: &DroppedFlow,
    ) -> Result<(Vec<Change>, String, Option<usize>), String> {
        let c = self.cloud;
        let addr = ip(f.public.unwrap_or(f.local.0));
        let e = (0..c.eips.len())
            .find(|i| !c.eips[*i].released && c.eips[*i].address == addr)
            .ok_or_else(|| format!("{addr} is not an EIP of the topology"))?;
        if let Some(ch) = self.by_eip.get(&e) {
            return Ok((ch.clone(), format!("{} associated", c.eips[e].id), None));
        }
        let mapped: HashSet<Ipv4Addr> =
            c.associations.iter().filter_map(|a| a.private_ip).collect();
        let candidates = c
            .enis
            .iter()
            .enumerate()
            .filter(|(_, x)| !x.deleted && x.instance.is_some())
            .flat_map(|(i, x)| x.private_ips().map(move |p| (i, x.id.clone(), p)))
            .filter(|(_, _, p)| !mapped.contains(p) && !self.by_ip.contains_key(p))
            .take(MAX_CANDIDATES);
        let mut first_err = None;
        for (x, eni, p) in candidates {
            let ch = vec![step(
                "AssociateEipAddress",
                vec![
                    ("eip", s(&c.eips[e].id)),
                    ("eni", s(&eni)),
                    ("mode", s("NAT")),
                    ("private_ip", s(p)),
                ],
            )?];
            match self.applies(&ch) {
                Ok(()) => {
                    self.by_eip.insert(e, ch.clone());
                    self.by_ip.insert(p, ch.clone());
                    self.claimed_eips.insert(e);
                    return Ok((
                        ch,
                        format!(
                            "{} associated in NAT mode with {p} of {eni}, the first private IP without an EIP that takes it: choose the one its service runs on",
                            c.eips[e].id
                        ),
                        Some(x),
                    ));
                }
                Err(err) => {
                    first_err.get_or_insert(err);
                }
            }
        }
        Err(first_err.unwrap_or_else(|| "no private IP without an EIP to map it to".into()))
    }

    /// `eni-detached`: the ENI attached to the first instance that takes it.
    fn eni_detached(&mut self, f: &DroppedFlow) -> Result<(Vec<Change>, String), String> {
        let c = self.cloud;
        let x = f.summary.eni.map(|e| e as usize).ok_or("no ENI")?;
        if let Some(ch) = self.by_eni.get(&x) {
            return Ok((ch.clone(), format!("{} attached", c.enis[x].id)));
        }
        if c.enis[x].instance.is_some() {
            return Err(format!("{} is attached", c.enis[x].id));
        }
        let mut first_err = None;
        for i in &c.instances {
            let ch = vec![step(
                "AttachNetworkInterface",
                vec![("eni", s(&c.enis[x].id)), ("instance", s(&i.id))],
            )?];
            match self.applies(&ch) {
                Ok(()) => {
                    self.by_eni.insert(x, ch.clone());
                    return Ok((
                        ch,
                        format!(
                            "{} attached to {}, the first instance that takes it: choose its instance",
                            c.enis[x].id, i.id
                        ),
                    ));
                }
                Err(e) => {
                    first_err.get_or_insert(e);
                }
            }
        }
        Err(first_err.unwrap_or_else(|| "no instance to attach it to".into()))
    }
}
