//! Security groups compiled for the frame pass: per ENI, the rules of its groups in evaluation
//! order, indexed by direction, protocol and destination port, so that a check walks only the
//! rules that can match the frame's protocol and port.
//!
//! ENIs with the same list of groups share one compiled profile. For TCP and UDP the port space
//! is cut at every rule's range ends into intervals, and each interval keeps the rules covering
//! it (in evaluation order): a check finds its interval by binary search and walks that list
//! until a rule's peer matches. ICMP, GRE and other protocols have one list each.

use std::collections::HashMap;
use std::net::Ipv4Addr;

use rustc_hash::FxHashMap;

use crate::model::Cloud;
use crate::model::sg::{self, Direction, GroupType, InnerAccess, Peer, Policy, Protocol};
use crate::wire::proto;

/// No profile: the ENI is not filtered.
const UNFILTERED: u32 = u32::MAX;

/// A compiled rule: what a check needs to match it and to name it.
#[derive(Clone, Debug)]
pub(crate) struct CRule {
    pub(crate) policy: Policy,
    pub(crate) peer: CPeer,
    /// Index into [`GroupTables::groups`].
    pub(crate) group: u32,
    /// 1-based position in its group.
    pub(crate) position: u32,
    /// The rule as written (for reports: rules change with timed events).
    pub(crate) text: RuleText,
}

/// A rule's fields as the topology writes them.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct RuleText {
    /// `accept` or `drop`.
    pub policy: &'static str,
    /// 1..100.
    pub priority: u8,
    /// `tcp`, `udp`, `icmp`, `gre` or `all`.
    pub protocol: &'static str,
    /// `from/to`, or `-1/-1` for every port.
    pub port_range: String,
    /// The peer block, if the rule names one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cidr: Option<String>,
    /// The peer group, if the rule names one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub group: Option<String>,
}

/// A rule's peer, compiled.
#[derive(Clone, Copy, Debug)]
pub(crate) enum CPeer {
    /// `addr & mask == net`.
    Cidr { net: u32, mask: u32 },
    /// The addresses of the ENIs of a group (index into [`GroupTables::groups`]).
    Group(u32),
}

/// A rule as a candidate of a port interval, with its CIDR peer inline: the peer matches when
/// `peer & mask == net`. A rule whose peer is a group has `mask` 0 and `net` [`GROUP_NET`],
/// which no address matches that way (the check then asks the rule).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Cand {
    mask: u32,
    net: u32,
    /// Index into [`GroupTables::rules`].
    rule: u32,
}

/// `net` of a candidate whose peer is a group (with `mask` 0: never a CIDR match).
const GROUP_NET: u32 = 1;

impl Cand {
    fn of(rule: u32, r: &CRule) -> Cand {
        let (mask, net) = match r.peer {
            CPeer::Cidr { net, mask } => (mask, net),
            CPeer::Group(_) => (0, GROUP_NET),
        };
        Cand { mask, net, rule }
    }

    /// Whether a check must ask the rule itself: a group peer (or a CIDR whose network has
    /// host bits, which the same test never matches either).
    fn asks_rule(&self) -> bool {
        self.mask == 0 && self.net == GROUP_NET
    }
}

/// Candidates tested 16 at a time (the compiler turns a group's test into vector compares).
const LANES: usize = 16;

/// The candidates of one port interval (or of a protocol without ports), in evaluation order,
/// as arrays of masks, networks and rule indexes.
#[derive(Clone, Debug, Default)]
struct List {
    /// One per candidate, then padding to a multiple of [`LANES`] that matches no address
    /// (mask 0, network [`GROUP_NET`]).
    masks: Vec<u32>,
    /// As `masks`.
    nets: Vec<u32>,
    /// Indexes into [`GroupTables::rules`].
    rules: Vec<u32>,
    /// Whether some candidate asks its rule ([`Cand::asks_rule`]): such a list is walked one
    /// candidate at a time.
    asks: bool,
}

impl List {
    fn new(cands: &[Cand]) -> List {
        let padded = cands.len().next_multiple_of(LANES);
        let pad = |v: Vec<u32>, with: u32| {
            let mut v = v;
            v.resize(padded, with);
            v
        };
        List {
            masks: pad(cands.iter().map(|c| c.mask).collect(), 0),
            nets: pad(cands.iter().map(|c| c.net).collect(), GROUP_NET),
            rules: cands.iter().map(|c| c.rule).collect(),
            asks: cands.iter().any(Cand::asks_rule),
        }
    }

    /// The first candidate whose CIDR matches `peer` (one that asks its rule never does, nor
    /// does the padding).
    fn first_cidr(&self, peer: u32) -> Option<usize> {
        let (masks, mask_tail) = self.masks.as_chunks::<LANES>();
        let (nets, net_tail) = self.nets.as_chunks::<LANES>();
        for (c, (m, n)) in masks.iter().zip(nets).enumerate() {
            // Whether any of the group matches (branch-free), then which one first.
            let any = m
                .iter()
                .zip(n)
                .fold(false, |a, (m, n)| a | (peer & m == *n));
            if any {
                return m
                    .iter()
                    .zip(n)
                    .position(|(m, n)| peer & m == *n)
                    .map(|k| c * LANES + k);
            }
        }
        let base = masks.len() * LANES;
        mask_tail
            .iter()
            .zip(net_tail)
            .position(|(m, n)| peer & m == *n)
            .map(|k| base + k)
    }
}

/// The rules of one protocol in one direction: intervals of destination ports (TCP, UDP) or one
/// list, each a list of rules in evaluation order.
#[derive(Clone, Debug, Default)]
struct ProtoRules {
    /// The first port of each interval (the first is 0), ascending.
    starts: Vec<u16>,
    /// The rules of each interval.
    lists: Vec<List>,
}

impl ProtoRules {
    fn candidates(&self, port: u16) -> Option<&List> {
        let i = self.starts.partition_point(|s| *s <= port);
        i.checked_sub(1).and_then(|i| self.lists.get(i))
    }
}

/// Protocol slots of a direction.
const TCP: usize = 0;
const UDP: usize = 1;
const ICMP: usize = 2;
const GRE: usize = 3;
const OTHER: usize = 4;

fn slot(ip_proto: u8) -> usize {
    match ip_proto {
        proto::TCP => TCP,
        proto::UDP => UDP,
        proto::ICMP => ICMP,
        GRE_PROTO => GRE,
        _ => OTHER,
    }
}

/// The IP protocol number of GRE.
const GRE_PROTO: u8 = 47;

/// One ENI's groups, compiled.
#[derive(Clone, Debug)]
pub(crate) struct Profile {
    pub(crate) kind: GroupType,
    /// The ENI's groups (indexes into [`GroupTables::groups`]), in its order.
    pub(crate) groups: Vec<u32>,
    /// Per direction (ingress, egress), per protocol slot.
    dirs: [[ProtoRules; 5]; 2],
}

/// A compiled group: its id and kind, for messages and inner access.
#[derive(Clone, Debug)]
pub(crate) struct GroupInfo {
    pub(crate) id: String,
    pub(crate) inner_accept: bool,
    /// A basic group with inner access `drop`: its members are isolated from each other.
    pub(crate) isolated: bool,
}

/// What decided a check (design.md section 5), for the verdict and the drop's comment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Decider {
    /// A tracked session (or an ICMP error quoting one).
    Session,
    /// Inner access of a basic group the peer is also in (index into the groups): accepted
    /// (inner access `accept`), or refused where no rule decided (inner access `drop`: the
    /// members are isolated from each other).
    InnerAccess(u32),
    /// Rule `position` (1-based) of group `group`.
    Rule {
        /// Index of the group.
        group: u32,
        /// 1-based position of the rule in its group.
        position: u32,
        /// Index of the compiled rule (its text: [`GroupTables::rule_text`]).
        rule: u32,
    },
    /// The default of the ENI's group type for the direction, named by the first group the
    /// ENI lists.
    Default(u32),
}

/// Every ENI's groups compiled, shared read-only by the shards.
#[derive(Clone, Debug, Default)]
pub struct GroupTables {
    /// Per ENI index: its profile, or [`UNFILTERED`].
    eni_profile: Vec<u32>,
    profiles: Vec<Profile>,
    rules: Vec<CRule>,
    pub(crate) groups: Vec<GroupInfo>,
    /// Per address owned by an ENI that is in a group: the groups (sorted indexes).
    members: FxHashMap<u32, Vec<u32>>,
}

fn dir_index(d: Direction) -> usize {
    match d {
        Direction::Ingress => 0,
        Direction::Egress => 1,
    }
}

impl GroupTables {
    /// Compiles the groups of `cloud`.
    pub fn new(cloud: &Cloud) -> GroupTables {
        let index: HashMap<&str, u32> = cloud
            .security_groups
            .iter()
            .enumerate()
            .map(|(i, g)| (g.id.as_str(), i as u32))
            .collect();
        let groups = cloud
            .security_groups
            .iter()
            .map(|g| GroupInfo {
                id: g.id.clone(),
                inner_accept: g.kind == GroupType::Basic && g.inner_access == InnerAccess::Accept,
                isolated: g.kind == GroupType::Basic && g.inner_access == InnerAccess::Drop,
            })
            .collect();
        let mut t = GroupTables {
            eni_profile: vec![UNFILTERED; cloud.enis.len()],
            groups,
            ..GroupTables::default()
        };
        let mut by_list: HashMap<&[String], u32> = HashMap::new();
        for (i, e) in cloud.enis.iter().enumerate() {
            if e.deleted || e.security_groups.is_empty() {
                continue;
            }
            let p = match by_list.get(e.security_groups.as_slice()) {
                Some(p) => *p,
                None => {
                    let p = t.profiles.len() as u32;
                    let prof = t.compile_profile(cloud, &index, &e.security_groups);
                    t.profiles.push(prof);
                    by_list.insert(e.security_groups.as_slice(), p);
                    p
                }
            };
            t.eni_profile[i] = p;
            // Members are reached over the VPC: by their private IPs.
            let addrs: Vec<Ipv4Addr> = e.private_ips().collect();
            for a in addrs {
                let m = t.members.entry(u32::from(a)).or_default();
                for id in &e.security_groups {
                    if let Some(g) = index.get(id.as_str()) {
                        m.push(*g);
                    }
                }
                m.sort_unstable();
                m.dedup();
            }
        }
        t
    }

    fn compile_profile(
        &mut self,
        cloud: &Cloud,
        index: &HashMap<&str, u32>,
        ids: &[String],
    ) -> Profile {
        let kind = ids
            .first()
            .and_then(|id| cloud.security_groups.iter().find(|g| &g.id == id))
            .map_or(GroupType::Basic, |g| g.kind);
        let mut dirs: [[ProtoRules; 5]; 2] = Default::default();
        for d in [Direction::Ingress, Direction::Egress] {
            let ordered = sg::effective_rules(&cloud.security_groups, ids, d);
            let mut per_slot: [Vec<PortedRule>; 5] = Default::default();
            for r in ordered {
                let at = self.rules.len() as u32;
                self.rules.push(CRule {
                    policy: r.rule.policy,
                    peer: match &r.rule.peer {
                        Peer::Cidr(c) => CPeer::Cidr {
                            net: u32::from(c.network),
                            mask: c.mask(),
                        },
                        Peer::Group(g) => {
                            CPeer::Group(index.get(g.as_str()).copied().unwrap_or(u32::MAX))
                        }
                    },
                    group: index.get(r.group.id.as_str()).copied().unwrap_or(u32::MAX),
                    position: r.position as u32,
                    text: RuleText {
                        policy: r.rule.policy.name(),
                        priority: r.rule.priority,
                        protocol: r.rule.protocol.name(),
                        port_range: match r.rule.ports {
                            Some((from, to)) => format!("{from}/{to}"),
                            None => "-1/-1".into(),
                        },
                        cidr: match &r.rule.peer {
                            Peer::Cidr(c) => Some(c.to_string()),
                            Peer::Group(_) => None,
                        },
                        group: match &r.rule.peer {
                            Peer::Group(g) => Some(g.clone()),
                            Peer::Cidr(_) => None,
                        },
                    },
                });
                let slots: &[usize] = match r.rule.protocol {
                    Protocol::Tcp => &[TCP],
                    Protocol::Udp => &[UDP],
                    Protocol::Icmp => &[ICMP],
                    Protocol::Gre => &[GRE],
                    Protocol::All => &[TCP, UDP, ICMP, GRE, OTHER],
                };
                for s in slots {
                    per_slot[*s].push((at, r.rule.ports));
                }
            }
            for (s, rules) in per_slot.into_iter().enumerate() {
                dirs[dir_index(d)][s] = intervals(&rules, |i| Cand::of(i, &self.rules[i as usize]));
            }
        }
        Profile {
            kind,
            groups: ids
                .iter()
                .filter_map(|id| index.get(id.as_str()).copied())
                .collect(),
            dirs,
        }
    }

    /// Whether any ENI is filtered.
    pub fn any(&self) -> bool {
        !self.profiles.is_empty()
    }

    /// The profile of ENI `eni`, if it is filtered.
    pub(crate) fn profile(&self, eni: u32) -> Option<&Profile> {
        match self.eni_profile.get(eni as usize) {
            Some(&p) if p != UNFILTERED => self.profiles.get(p as usize),
            _ => None,
        }
    }

    /// Steps 2 to 4 of a check (section 5; step 1, the sessions, is the caller's): whether a
    /// frame of IP protocol `ip_proto` to destination port `port` (0 when it has none), whose
    /// peer (the source for ingress, the destination for egress) is `peer`, passes profile `p`
    /// in direction `d`, and what decided.
    pub(crate) fn decide(
        &self,
        p: &Profile,
        d: Direction,
        ip_proto: u8,
        port: u16,
        peer: u32,
    ) -> (Policy, Decider) {
        let peer_groups = self.members.get(&peer).map_or(&[][..], Vec::as_slice);
        if let Some(g) = p
            .groups
            .iter()
            .find(|g| self.groups[**g as usize].inner_accept && peer_groups.contains(g))
        {
            return (Policy::Accept, Decider::InnerAccess(*g));
        }
        if let Some(l) = p.dirs[dir_index(d)][slot(ip_proto)].candidates(port) {
            let at = if l.asks {
                (0..l.rules.len()).find(|&k| {
                    peer & l.masks[k] == l.nets[k]
                        || (l.masks[k] == 0
                            && l.nets[k] == GROUP_NET
                            && self.peer_matches(l.rules[k], peer, peer_groups))
                })
            } else {
                l.first_cidr(peer)
            };
            let hit = at.and_then(|k| {
                let r_index = *l.rules.get(k)?;
                Some((r_index, self.rules.get(r_index as usize)?))
            });
            if let Some((r_index, r)) = hit {
                return (
                    r.policy,
                    Decider::Rule {
                        group: r.group,
                        position: r.position,
                        rule: r_index,
                    },
                );
            }
        }
        let policy = sg::default_policy(p.kind, d);
        // A member of an isolated group of the ENI (inner access drop) is refused by that.
        if policy == Policy::Drop
            && let Some(g) = p
                .groups
                .iter()
                .find(|g| self.groups[**g as usize].isolated && peer_groups.contains(g))
        {
            return (Policy::Drop, Decider::InnerAccess(*g));
        }
        let first = p.groups.first().copied().unwrap_or(u32::MAX);
        (policy, Decider::Default(first))
    }

    /// The fields of compiled rule `rule` as written.
    pub fn rule_text(&self, rule: u32) -> Option<&RuleText> {
        self.rules.get(rule as usize).map(|r| &r.text)
    }

    /// Whether rule `r`'s own peer matches `peer` (in the groups `peer_groups`).
    fn peer_matches(&self, r: u32, peer: u32, peer_groups: &[u32]) -> bool {
        match self.rules.get(r as usize).map(|r| r.peer) {
            Some(CPeer::Group(g)) => peer_groups.contains(&g),
            Some(CPeer::Cidr { net, mask }) => peer & mask == net,
            None => false,
        }
    }

    /// A group's id (`?` for an index that names none).
    pub(crate) fn group_id(&self, g: u32) -> &str {
        self.groups.get(g as usize).map_or("?", |g| g.id.as_str())
    }

    /// The number of rules a check of this protocol and port walks at most (for the bench).
    pub fn candidates(&self, eni: u32, d: Direction, ip_proto: u8, port: u16) -> usize {
        self.profile(eni).map_or(0, |p| {
            p.dirs[dir_index(d)][slot(ip_proto)]
                .candidates(port)
                .map_or(0, |l| l.rules.len())
        })
    }
}

/// A rule's index and its destination ports (`None`: every port).
type PortedRule = (u32, Option<(u16, u16)>);

/// The port intervals of a protocol's rules (in evaluation order, with their ranges; `None` is
/// every port), each with the rules covering it (`cand` makes a rule's entry from its index).
fn intervals(rules: &[PortedRule], cand: impl Fn(u32) -> Cand) -> ProtoRules {
    if rules.is_empty() {
        return ProtoRules::default();
    }
    let mut starts: Vec<u16> = vec![0];
    for (_, r) in rules {
        if let Some((from, to)) = r {
            starts.push(*from);
            if let Some(next) = to.checked_add(1) {
                starts.push(next);
            }
        }
    }
    starts.sort_unstable();
    starts.dedup();
    let lists = starts
        .iter()
        .map(|&s| {
            let cands: Vec<Cand> = rules
                .iter()
                .filter(|(_, r)| r.is_none_or(|(from, to)| from <= s && s <= to))
                .map(|(i, _)| cand(*i))
                .collect();
            List::new(&cands)
        })
        .collect();
    ProtoRules { starts, lists }
}

#[cfg(test)]
#[path = "compile_tests.rs"]
mod tests;
