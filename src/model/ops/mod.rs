//! Every console operation on a [`Cloud`], each checked against the seeds' rules:
//! - [`create`]: CreateInstance, CreateNetworkInterface, AllocateEipAddress;
//! - [`bind`]: AssociateEipAddress (to an ENI or an ECS instance), the guest's static
//!   multi-EIP list, AttachNetworkInterface;
//! - [`change`]: DetachNetworkInterface, DeleteNetworkInterface, Assign/UnassignPrivateIpAddresses,
//!   UnassociateEipAddress, ReleaseEipAddress;
//! - [`describe`]: the read-only DescribeEipGatewayInfo and DescribeNetworkInterfaces, and
//!   billing;
//! - [`groups`]: Authorize/RevokeSecurityGroup(Egress), Join/LeaveSecurityGroup.
//!
//! The topology loader builds a file's end state through the same operations.
//!
//! Deleted ENIs and released EIPs stay in their vectors, flagged, so that every index (the
//! forwarding tables', the output files') stays valid; they own no address, MAC or id lookup,
//! and their ids are not given out again.

pub mod bind;
pub mod change;
pub mod create;
pub mod describe;
pub mod groups;

pub use describe::{Billing, GatewayInfo};

use super::Cloud;
use super::rules::{ModelError, RuleCode, err};

impl Cloud {
    /// The ENI, unless deleted.
    pub(super) fn live_eni(&self, eni: usize, subject: &str) -> Result<(), ModelError> {
        if self.enis[eni].deleted {
            return Err(err(
                RuleCode::EniDeleted,
                subject,
                format!("ENI {} was deleted", self.enis[eni].id),
            ));
        }
        Ok(())
    }

    /// The EIP, unless released.
    pub(super) fn live_eip(&self, eip: usize, subject: &str) -> Result<(), ModelError> {
        if self.eips[eip].released {
            return Err(err(
                RuleCode::EipReleased,
                subject,
                format!("EIP {} was released", self.eips[eip].id),
            ));
        }
        Ok(())
    }

    /// Removes association `i` and rebuilds the association indexes.
    fn remove_association(&mut self, i: usize) {
        self.associations.remove(i);
        self.index.eip_assoc.clear();
        self.index.eni_assocs.clear();
        for (k, a) in self.associations.iter().enumerate() {
            self.index.eip_assoc.set(a.eip, Some(k));
            self.index.eni_assocs.push(a.eni, k);
        }
    }

    /// Whether ENI `eni` has no private network: bound in cut-through mode, or left without it
    /// by a released subscription EIP (seed 001's note).
    pub fn private_network_unavailable(&self, eni: usize) -> bool {
        self.is_binded(eni) || self.enis[eni].private_network_lost
    }
}
