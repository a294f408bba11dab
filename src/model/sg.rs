//! Security groups in the topology: the `[[security_group]]` tables, their `[[security_group.rule]]`
//! entries and each ENI's `security_groups`, parsed and validated, and the order in which a
//! check meets an ENI's rules ([`effective_rules`]). The frame pass compiles them into its
//! security-group stage.
//!
//! Rules checked (the code in the error): group ids unique (`duplicate-id`); priority 1..100
//! (`invalid-priority`); a port range valid for the protocol (`invalid-port-range`); `cidr` xor
//! `group` (`cidr-or-group`) and `group` naming a group (`unknown-group`); `inner_access` on a
//! basic group only (`inner-access-basic-only`); an ENI's groups exist (`unknown-group`), are
//! listed once (`duplicate-group`) and are all of one type (`mixed-group-types`); at most 1,000
//! rules over all of an ENI's groups (`too-many-rules`).

use serde::{Deserialize, Serialize};

use super::Ipv4Cidr;
use super::rules::{ModelError, RuleCode, err};

/// The most rules an ENI may carry over all of its groups.
pub const MAX_RULES_PER_ENI: usize = 1000;

/// Basic or enterprise (the console's "advanced") security group.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum GroupType {
    /// Basic: inner access between members, all egress allowed, ingress denied by default.
    #[default]
    Basic,
    /// Enterprise: both directions denied by default, no inner access.
    Enterprise,
}

impl GroupType {
    /// `basic` or `enterprise`.
    pub fn name(self) -> &'static str {
        match self {
            GroupType::Basic => "basic",
            GroupType::Enterprise => "enterprise",
        }
    }
}

/// A basic group's policy between its own members.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum InnerAccess {
    /// Members reach each other over the VPC.
    #[default]
    Accept,
    /// Members are isolated from each other.
    Drop,
}

/// The direction a rule applies to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    /// Frames arriving at the ENI; the rule's peer is the source.
    Ingress,
    /// Frames leaving the ENI; the rule's peer is the destination.
    Egress,
}

/// What a matching rule does.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Policy {
    /// Let the frame through.
    Accept,
    /// Drop the frame.
    Drop,
}

/// The protocol a rule matches.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Protocol {
    /// TCP, with a destination port range.
    Tcp,
    /// UDP, with a destination port range.
    Udp,
    /// ICMP (ports `-1/-1`).
    Icmp,
    /// GRE (ports `-1/-1`).
    Gre,
    /// Every protocol (ports `-1/-1`).
    All,
}

impl Protocol {
    /// Whether the protocol has ports (TCP and UDP).
    pub fn has_ports(self) -> bool {
        matches!(self, Protocol::Tcp | Protocol::Udp)
    }
}

/// Whom a rule's peer is: addresses, or the ENIs of a group.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Peer {
    /// An IPv4 block (ingress: the source; egress: the destination).
    Cidr(Ipv4Cidr),
    /// The ENIs of the named group.
    Group(String),
}

/// A validated rule.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rule {
    /// Ingress or egress.
    pub direction: Direction,
    /// Accept or drop.
    pub policy: Policy,
    /// 1..100, 1 is the highest.
    pub priority: u8,
    /// The protocol matched.
    pub protocol: Protocol,
    /// Destination ports `(from, to)` for TCP and UDP; `None` is every port (`-1/-1`).
    pub ports: Option<(u16, u16)>,
    /// The peer.
    pub peer: Peer,
}

impl std::fmt::Display for Rule {
    /// `accept priority 1 tcp 80/443 from 0.0.0.0/0`: ingress rules name their peer with
    /// `from`, egress rules with `to`; a group peer reads `group sg-app`; every port `-1/-1`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} priority {} {} ",
            self.policy.name(),
            self.priority,
            self.protocol.name()
        )?;
        match self.ports {
            Some((from, to)) => write!(f, "{from}/{to}")?,
            None => f.write_str("-1/-1")?,
        }
        f.write_str(match self.direction {
            Direction::Ingress => " from ",
            Direction::Egress => " to ",
        })?;
        match &self.peer {
            Peer::Cidr(c) => write!(f, "{c}"),
            Peer::Group(g) => write!(f, "group {g}"),
        }
    }
}

/// A validated security group.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SecurityGroup {
    /// Group id.
    pub id: String,
    /// Basic or enterprise.
    pub kind: GroupType,
    /// Basic only: whether members reach each other (enterprise groups: `Drop`).
    pub inner_access: InnerAccess,
    /// The rules in file order (a rule's number in messages is its 1-based position).
    pub rules: Vec<Rule>,
}

/// `[[security_group]]` as written in the file.
#[derive(Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub(super) struct GroupFile {
    id: String,
    #[serde(rename = "type", default)]
    kind: GroupType,
    #[serde(skip_serializing_if = "Option::is_none")]
    inner_access: Option<InnerAccess>,
    #[serde(default)]
    rule: Vec<RuleFile>,
}

/// `[[security_group.rule]]` as written in the file.
#[derive(Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
struct RuleFile {
    direction: Direction,
    policy: Policy,
    priority: i64,
    protocol: Protocol,
    port_range: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    cidr: Option<Ipv4Cidr>,
    #[serde(skip_serializing_if = "Option::is_none")]
    group: Option<String>,
}

/// The `[[security_group]]` tables that give `groups` (the inverse of [`build_groups`]).
pub(super) fn group_files(groups: &[SecurityGroup]) -> Vec<GroupFile> {
    groups
        .iter()
        .map(|g| GroupFile {
            id: g.id.clone(),
            kind: g.kind,
            inner_access: (g.kind == GroupType::Basic).then_some(g.inner_access),
            rule: g
                .rules
                .iter()
                .map(|r| RuleFile {
                    direction: r.direction,
                    policy: r.policy,
                    priority: i64::from(r.priority),
                    protocol: r.protocol,
                    port_range: match r.ports {
                        Some((from, to)) => format!("{from}/{to}"),
                        None => "-1/-1".into(),
                    },
                    cidr: match &r.peer {
                        Peer::Cidr(c) => Some(*c),
                        Peer::Group(_) => None,
                    },
                    group: match &r.peer {
                        Peer::Group(g) => Some(g.clone()),
                        Peer::Cidr(_) => None,
                    },
                })
                .collect(),
        })
        .collect()
}

/// Parses a port range for `protocol`: `"from/to"` with 1 <= from <= to <= 65535 for TCP and
/// UDP (`-1/-1` also allowed: every port), only `-1/-1` for ICMP, GRE and all.
pub fn parse_port_range(protocol: Protocol, text: &str) -> Result<Option<(u16, u16)>, String> {
    let t = text.trim();
    if t == "-1/-1" {
        return Ok(None);
    }
    if !protocol.has_ports() {
        return Err(format!(
            "port_range {text:?}: \"-1/-1\" is the only value for protocol {}",
            protocol.name()
        ));
    }
    let bad = || {
        format!(
            "port_range {text:?} is not \"from/to\" with 1 <= from <= to <= 65535 (or \"-1/-1\")"
        )
    };
    let (a, b) = t.split_once('/').ok_or_else(bad)?;
    let from: u16 = a.trim().parse().map_err(|_| bad())?;
    let to: u16 = b.trim().parse().map_err(|_| bad())?;
    if from == 0 || from > to {
        return Err(bad());
    }
    Ok(Some((from, to)))
}

/// A rule's fields as written, before validation: a `[[security_group.rule]]` table, or the
/// parameters of AuthorizeSecurityGroup and its kin (the direction given by the operation).
#[derive(Clone, Copy, Debug)]
pub struct RuleSpec<'a> {
    /// Ingress or egress.
    pub direction: Direction,
    /// Accept or drop.
    pub policy: Policy,
    /// The priority as written (valid: 1..100).
    pub priority: i64,
    /// The protocol.
    pub protocol: Protocol,
    /// The port range as written (`"from/to"` or `"-1/-1"`).
    pub port_range: &'a str,
    /// The peer's block, if the peer is addresses.
    pub cidr: Option<Ipv4Cidr>,
    /// The peer group's id, if the peer is a group (its existence is checked by the caller).
    pub group: Option<&'a str>,
}

/// Validates one rule's fields (`subject` names the rule in errors): priority 1..100
/// (`invalid-priority`), a port range valid for the protocol (`invalid-port-range`), exactly
/// one of `cidr` and a peer group (`cidr-or-group`). Whether the peer group exists is left to
/// the caller (a file's rules may name a group defined further down).
pub fn build_rule(subject: &str, spec: RuleSpec<'_>) -> Result<Rule, ModelError> {
    let priority = u8::try_from(spec.priority)
        .ok()
        .filter(|p| (1..=100).contains(p))
        .ok_or_else(|| {
            err(
                RuleCode::InvalidPriority,
                subject,
                format!(
                    "priority {} is not 1 to 100 (1 is the highest)",
                    spec.priority
                ),
            )
        })?;
    let ports = parse_port_range(spec.protocol, spec.port_range)
        .map_err(|m| err(RuleCode::InvalidPortRange, subject, m))?;
    let peer = match (spec.cidr, spec.group) {
        (Some(c), None) => Peer::Cidr(c),
        (None, Some(group)) => Peer::Group(group.to_string()),
        _ => {
            return Err(err(
                RuleCode::CidrOrGroup,
                subject,
                "give exactly one of `cidr` (an IPv4 block) and a peer group (a security group id: `group` in a topology file, `peer_group` in an operation)",
            ));
        }
    };
    Ok(Rule {
        direction: spec.direction,
        policy: spec.policy,
        priority,
        protocol: spec.protocol,
        ports,
        peer,
    })
}

/// Validates the file's groups: ids unique, each rule's priority, ports and peer.
pub(super) fn build_groups(files: Vec<GroupFile>) -> Result<Vec<SecurityGroup>, ModelError> {
    let mut groups: Vec<SecurityGroup> = Vec::with_capacity(files.len());
    let mut peers: Vec<(String, String)> = Vec::new();
    for g in files {
        let subject = format!("security group {}", g.id);
        if groups.iter().any(|x| x.id == g.id) {
            return Err(err(RuleCode::DuplicateId, subject, "the id is used twice"));
        }
        if g.kind == GroupType::Enterprise && g.inner_access.is_some() {
            return Err(err(
                RuleCode::InnerAccessBasicOnly,
                subject,
                "inner_access applies to basic groups only: an enterprise group never lets its members reach each other by membership",
            ));
        }
        let mut rules = Vec::with_capacity(g.rule.len());
        for (n, r) in g.rule.into_iter().enumerate() {
            let rs = format!("security group {} rule {}", g.id, n + 1);
            let rule = build_rule(
                &rs,
                RuleSpec {
                    direction: r.direction,
                    policy: r.policy,
                    priority: r.priority,
                    protocol: r.protocol,
                    port_range: &r.port_range,
                    cidr: r.cidr,
                    group: r.group.as_deref(),
                },
            )?;
            if let Peer::Group(group) = &rule.peer {
                peers.push((rs, group.clone()));
            }
            rules.push(rule);
        }
        groups.push(SecurityGroup {
            inner_access: if g.kind == GroupType::Enterprise {
                InnerAccess::Drop
            } else {
                g.inner_access.unwrap_or_default()
            },
            id: g.id,
            kind: g.kind,
            rules,
        });
    }
    for (subject, group) in peers {
        if !groups.iter().any(|g| g.id == group) {
            return Err(err(
                RuleCode::UnknownGroup,
                subject,
                format!("group {group:?} is not defined in [[security_group]]"),
            ));
        }
    }
    Ok(groups)
}

/// Checks the groups an ENI lists: each exists once, all of one type, 1,000 rules at most.
pub(super) fn check_eni_groups(
    groups: &[SecurityGroup],
    eni: &str,
    ids: &[String],
) -> Result<(), ModelError> {
    let subject = format!("ENI {eni}");
    let mut kind: Option<(GroupType, &str)> = None;
    let mut rules = 0usize;
    for (n, id) in ids.iter().enumerate() {
        if ids[..n].contains(id) {
            return Err(err(
                RuleCode::DuplicateGroup,
                subject,
                format!("security group {id} is listed twice"),
            ));
        }
        let g = groups.iter().find(|g| &g.id == id).ok_or_else(|| {
            err(
                RuleCode::UnknownGroup,
                subject.clone(),
                format!("security group {id:?} is not defined in [[security_group]]"),
            )
        })?;
        match kind {
            Some((k, first)) if k != g.kind => {
                return Err(err(
                    RuleCode::MixedGroupTypes,
                    subject,
                    format!(
                        "security group {first} is {} and {id} is {}: an ENI's groups are all basic or all enterprise",
                        k.name(),
                        g.kind.name()
                    ),
                ));
            }
            Some(_) => {}
            None => kind = Some((g.kind, id)),
        }
        rules += g.rules.len();
    }
    if rules > MAX_RULES_PER_ENI {
        return Err(err(
            RuleCode::TooManyRules,
            subject,
            format!(
                "its security groups hold {rules} rules; an ENI takes at most {MAX_RULES_PER_ENI} over all of its groups"
            ),
        ));
    }
    Ok(())
}

/// One rule of an ENI's groups, as a check meets it.
#[derive(Clone, Copy, Debug)]
pub struct EffectiveRule<'a> {
    /// The group holding the rule.
    pub group: &'a SecurityGroup,
    /// The rule's 1-based position in its group (`rule N` in messages).
    pub position: usize,
    /// The rule.
    pub rule: &'a Rule,
}

/// The rules of the groups `ids` (an ENI's, in the order it lists them) for `direction`, in
/// the order a check evaluates them (design.md section 5): by priority, 1 first; at equal
/// priority drop rules before accept rules; then in the ENI's order of groups and each group's
/// order of rules. The first that matches a frame decides. Ids that name no group are skipped
/// (a validated cloud has none).
pub fn effective_rules<'a>(
    groups: &'a [SecurityGroup],
    ids: &[String],
    direction: Direction,
) -> Vec<EffectiveRule<'a>> {
    let mut out: Vec<EffectiveRule<'a>> = ids
        .iter()
        .filter_map(|id| groups.iter().find(|g| &g.id == id))
        .flat_map(|g| {
            g.rules
                .iter()
                .enumerate()
                .filter(move |(_, r)| r.direction == direction)
                .map(move |(i, rule)| EffectiveRule {
                    group: g,
                    position: i + 1,
                    rule,
                })
        })
        .collect();
    // A stable sort keeps the groups' and rules' order among equals.
    out.sort_by_key(|r| (r.rule.priority, r.rule.policy != Policy::Drop));
    out
}

/// What a check decides when no session, inner access or rule did (design.md section 5):
/// basic groups drop ingress and accept egress; enterprise groups drop both.
pub fn default_policy(kind: GroupType, direction: Direction) -> Policy {
    match (kind, direction) {
        (GroupType::Basic, Direction::Egress) => Policy::Accept,
        _ => Policy::Drop,
    }
}

impl Direction {
    /// `ingress` or `egress`.
    pub fn name(self) -> &'static str {
        match self {
            Direction::Ingress => "ingress",
            Direction::Egress => "egress",
        }
    }
}

impl Policy {
    /// `accept` or `drop`.
    pub fn name(self) -> &'static str {
        match self {
            Policy::Accept => "accept",
            Policy::Drop => "drop",
        }
    }
}

impl Protocol {
    /// `tcp`, `udp`, `icmp`, `gre` or `all`.
    pub fn name(self) -> &'static str {
        match self {
            Protocol::Tcp => "tcp",
            Protocol::Udp => "udp",
            Protocol::Icmp => "icmp",
            Protocol::Gre => "gre",
            Protocol::All => "all",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(direction: Direction, policy: Policy, priority: u8) -> Rule {
        Rule {
            direction,
            policy,
            priority,
            protocol: Protocol::All,
            ports: None,
            peer: Peer::Cidr("0.0.0.0/0".parse().expect("cidr")),
        }
    }

    /// Section 5: by priority, drop before accept at equal priority; then the ENI's order of
    /// groups and the rules' order; the other direction left out.
    #[test]
    fn evaluation_order() {
        use Direction::*;
        use Policy::*;
        let g = |id: &str, rules: Vec<Rule>| SecurityGroup {
            id: id.into(),
            kind: GroupType::Basic,
            inner_access: InnerAccess::Accept,
            rules,
        };
        let groups = vec![
            g(
                "sg-a",
                vec![
                    rule(Ingress, Accept, 5),
                    rule(Egress, Drop, 1),
                    rule(Ingress, Drop, 5),
                    rule(Ingress, Accept, 1),
                ],
            ),
            g(
                "sg-b",
                vec![rule(Ingress, Accept, 5), rule(Ingress, Drop, 2)],
            ),
        ];
        let ids = vec!["sg-b".to_string(), "sg-a".to_string()];
        let order: Vec<(String, usize)> = effective_rules(&groups, &ids, Ingress)
            .iter()
            .map(|r| (r.group.id.clone(), r.position))
            .collect();
        let want = [
            ("sg-a", 4),
            ("sg-b", 2),
            ("sg-a", 3),
            ("sg-b", 1),
            ("sg-a", 1),
        ];
        assert_eq!(
            order,
            want.iter()
                .map(|(g, n)| (g.to_string(), *n))
                .collect::<Vec<_>>()
        );
        assert_eq!(effective_rules(&groups, &ids, Egress).len(), 1);
        assert_eq!(default_policy(GroupType::Basic, Ingress), Drop);
        assert_eq!(default_policy(GroupType::Basic, Egress), Accept);
        assert_eq!(default_policy(GroupType::Enterprise, Egress), Drop);
    }
}
