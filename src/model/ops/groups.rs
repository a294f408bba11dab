//! The security-group operations: AuthorizeSecurityGroup and AuthorizeSecurityGroupEgress (add a
//! rule to a group), RevokeSecurityGroup and RevokeSecurityGroupEgress (remove one),
//! JoinSecurityGroup and LeaveSecurityGroup (an ENI enters or leaves a group).
//!
//! Each is checked with the topology loader's own checks ([`sg::build_rule`],
//! [`sg::check_eni_groups`]), so an operation accepts exactly what a topology file accepts,
//! plus the provider's rules on changes:
//! - authorizing a rule the group already holds (equal in every field) succeeds and adds
//!   nothing (the provider's AuthorizeSecurityGroup does the same);
//! - a new rule that would give a member ENI more than 1,000 rules over its groups is refused
//!   (`too-many-rules`);
//! - revoking a rule the group does not hold is refused (`unknown-rule`, as the provider's
//!   RevokeSecurityGroup does since July 2024);
//! - joining a group twice is refused (`duplicate-group`), and leaving one the ENI is not in
//!   (`not-in-group`) or its last one (`last-security-group`: the provider keeps every ENI in
//!   at least one group).

use super::super::Cloud;
use super::super::rules::{ModelError, RuleCode, err};
use super::super::sg::{self, Peer, RuleSpec};

impl Cloud {
    /// Index into [`Cloud::security_groups`] of the group with this id.
    pub fn security_group_index(&self, id: &str) -> Option<usize> {
        self.security_groups.iter().position(|g| g.id == id)
    }

    /// The group `id`, or `unknown-group` naming `subject`.
    fn group_named(&self, id: &str, subject: &str) -> Result<usize, ModelError> {
        self.security_group_index(id).ok_or_else(|| {
            err(
                RuleCode::UnknownGroup,
                subject,
                format!("security group {id:?} is not defined"),
            )
        })
    }

    /// The rule `spec` for group `group`, validated as a topology file's rule is, its peer
    /// group included.
    fn group_rule(&self, group: &str, spec: RuleSpec<'_>) -> Result<(usize, sg::Rule), ModelError> {
        let subject = format!("security group {group}");
        let g = self.group_named(group, &subject)?;
        let rule = sg::build_rule(
            &format!("security group {group}, {} rule", spec.direction.name()),
            spec,
        )?;
        if let Peer::Group(peer) = &rule.peer {
            self.group_named(peer, &format!("security group {group}, rule's peer group"))?;
        }
        Ok((g, rule))
    }

    /// AuthorizeSecurityGroup (ingress) or AuthorizeSecurityGroupEgress (egress, as
    /// `spec.direction` says): adds the rule at the end of group `group`. Returns `false` when
    /// the group already holds an equal rule (nothing is added, as the provider does). Refused
    /// when the group or the peer group is not defined (`unknown-group`), the rule's fields are
    /// not valid (`invalid-priority`, `invalid-port-range`, `cidr-or-group`), or a live ENI of
    /// the group would then hold more than 1,000 rules over its groups (`too-many-rules`).
    pub fn authorize_security_group(
        &mut self,
        group: &str,
        spec: RuleSpec<'_>,
    ) -> Result<bool, ModelError> {
        let (g, rule) = self.group_rule(group, spec)?;
        if self.security_groups[g].rules.contains(&rule) {
            return Ok(false);
        }
        self.security_groups[g].rules.push(rule);
        for e in self.enis.iter().filter(|e| !e.deleted) {
            if !e.security_groups.iter().any(|id| id == group) {
                continue;
            }
            if let Err(mut broken) =
                sg::check_eni_groups(&self.security_groups, &e.id, &e.security_groups)
            {
                self.security_groups[g].rules.pop();
                broken.message = format!("with the new rule in {group}, {}", broken.message);
                return Err(broken);
            }
        }
        Ok(true)
    }

    /// RevokeSecurityGroup (ingress) or RevokeSecurityGroupEgress (egress): removes from group
    /// `group` the rule equal to `spec` in every field (direction, policy, priority, protocol,
    /// ports, peer), every copy of it. Refused with `unknown-rule` when the group holds none,
    /// and like [`Cloud::authorize_security_group`] when the group or the fields are not valid.
    pub fn revoke_security_group(
        &mut self,
        group: &str,
        spec: RuleSpec<'_>,
    ) -> Result<(), ModelError> {
        let (g, rule) = self.group_rule(group, spec)?;
        let rules = &mut self.security_groups[g].rules;
        let before = rules.len();
        rules.retain(|r| *r != rule);
        if rules.len() == before {
            return Err(err(
                RuleCode::UnknownRule,
                format!("security group {group}"),
                format!(
                    "the group holds no {} rule `{rule}`; a rule is revoked by all of its fields, priority and policy included",
                    rule.direction.name()
                ),
            ));
        }
        Ok(())
    }

    /// JoinSecurityGroup: ENI `eni` enters group `group` (listed last). Refused as a topology
    /// file's `security_groups` would be: the group not defined (`unknown-group`), already
    /// joined (`duplicate-group`), of the other type than the ENI's groups
    /// (`mixed-group-types`), or more than 1,000 rules over the ENI's groups
    /// (`too-many-rules`).
    pub fn join_security_group(&mut self, eni: usize, group: &str) -> Result<(), ModelError> {
        let e = &self.enis[eni];
        let subject = format!("ENI {}", e.id);
        self.live_eni(eni, &subject)?;
        self.group_named(group, &subject)?;
        let mut ids = e.security_groups.clone();
        ids.push(group.to_string());
        sg::check_eni_groups(&self.security_groups, &e.id, &ids)?;
        self.enis[eni].security_groups = ids;
        Ok(())
    }

    /// LeaveSecurityGroup: ENI `eni` leaves group `group`. Refused when it is not in that group
    /// (`not-in-group`) or when that is its last group (`last-security-group`: the provider
    /// keeps an ENI in at least one group).
    pub fn leave_security_group(&mut self, eni: usize, group: &str) -> Result<(), ModelError> {
        let e = &self.enis[eni];
        let subject = format!("ENI {}", e.id);
        self.live_eni(eni, &subject)?;
        self.group_named(group, &subject)?;
        let Some(k) = e.security_groups.iter().position(|id| id == group) else {
            return Err(err(
                RuleCode::NotInGroup,
                subject,
                format!(
                    "the ENI is not in security group {group} (its groups: {})",
                    if e.security_groups.is_empty() {
                        "none".to_string()
                    } else {
                        e.security_groups.join(", ")
                    }
                ),
            ));
        };
        if e.security_groups.len() == 1 {
            return Err(err(
                RuleCode::LastSecurityGroup,
                subject,
                format!(
                    "{group} is the ENI's only security group: an ENI stays in at least one (join another first)"
                ),
            ));
        }
        self.enis[eni].security_groups.remove(k);
        Ok(())
    }
}
