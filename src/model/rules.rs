//! The rules of the seeds (and of the file format) as a typed code, and the error a broken rule
//! gives: [`RuleCode`] names the rule with a stable kebab-case code (`eni-attached`, ...), shown
//! in messages, reports and a scenario's `expect`; [`ModelError`] adds the resource concerned
//! and what is wrong, in words.

use std::fmt;

use serde::{Serialize, Serializer};

/// Defines [`RuleCode`] with its code and its one-line statement of the rule, each variant
/// documented by that statement, and [`RuleCode::ALL`] listing every variant in order.
macro_rules! rule_codes {
    ($($name:ident = $code:literal, $message:literal;)*) => {
        /// A rule of the seeds or of the file format, by its stable kebab-case code.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum RuleCode {
            $(
                #[doc = $message]
                $name,
            )*
        }

        impl RuleCode {
            /// Every rule, in the order of their codes.
            pub const ALL: &[RuleCode] = &[$(RuleCode::$name,)*];

            /// The stable kebab-case code (`eni-attached`, ...).
            pub const fn code(self) -> &'static str {
                match self {
                    $(RuleCode::$name => $code,)*
                }
            }

            /// The rule, in one sentence (the variant's documentation).
            pub const fn message(self) -> &'static str {
                match self {
                    $(RuleCode::$name => $message,)*
                }
            }
        }
    };
}

rule_codes! {
    AddressOutsideVpc = "address-outside-vpc", "A private IP lies outside the VPC's CIDR block.";
    BindedExclusive = "binded-exclusive", "A cut-through (BINDED) ENI takes no other association, and an ENI with EIPs in another mode takes no cut-through EIP.";
    BindedNoPrivateIp = "binded-no-private-ip", "An ENI without a private network (cut-through, or lost with a released subscription EIP) takes no private IP.";
    BindedOneEip = "binded-one-eip", "A secondary ENI in cut-through mode is associated with only one EIP (seed 001).";
    CidrOrGroup = "cidr-or-group", "A security group rule names exactly one peer: a CIDR block or a security group.";
    DuplicateAddress = "duplicate-address", "An address (private IP or EIP) is owned once.";
    DuplicateGroup = "duplicate-group", "An ENI lists a security group once.";
    DuplicateId = "duplicate-id", "An id names one resource, and the id of a deleted or released one is not given out again.";
    DuplicateMac = "duplicate-mac", "A MAC address belongs to one ENI.";
    EipAssociatedTwice = "eip-associated-twice", "An EIP is bound once.";
    EipInUse = "eip-in-use", "A pay-by-traffic EIP is unassociated before it is released.";
    EipInsideVpc = "eip-inside-vpc", "An EIP is a public address, outside the VPC's CIDR block.";
    EipNotAssociated = "eip-not-associated", "Only an associated EIP can be unassociated.";
    EipReleased = "eip-released", "A released EIP takes no operation.";
    EniAttached = "eni-attached", "The ENI is attached to an instance where the operation needs it detached (binding a secondary ENI, deleting it, attaching it again).";
    EniDeleted = "eni-deleted", "A deleted ENI takes no operation.";
    EniHasEip = "eni-has-eip", "An ENI with an associated EIP is not deleted.";
    EniMacGroup = "eni-mac-group", "An ENI's MAC is a unicast address.";
    EniMacReserved = "eni-mac-reserved", "An ENI's MAC is neither the gateway's nor the Internet next hop's.";
    EniNotAttached = "eni-not-attached", "Only an attached ENI can be detached.";
    GatewayMacIsInternetMac = "gateway-mac-is-internet-mac", "The VPC's gateway MAC and Internet next-hop MAC differ.";
    GuestNic = "guest-nic", "A guest route or source rule names an ENI attached to its instance.";
    InnerAccessBasicOnly = "inner-access-basic-only", "inner_access applies to basic security groups only.";
    InstanceNatOnly = "instance-nat-only", "An EIP associated with an ECS instance is NAT to its primary ENI's primary private IP.";
    InstanceNoPrimaryEni = "instance-no-primary-eni", "An EIP associated with an instance needs the instance's primary ENI.";
    InstanceOneEip = "instance-one-eip", "Each ECS instance can be associated with only one EIP (seed 004).";
    InstanceOnePrimaryEni = "instance-one-primary-eni", "An instance has one primary ENI.";
    InvalidAddress = "invalid-address", "An EIP is not in a block no public address can be in (this network, loopback, link-local, multicast, reserved).";
    InvalidAlg = "invalid-alg", "An `[alg]` entry names a known protocol and mode.";
    InvalidAssociation = "invalid-association", "An association names either an ENI or an instance, as its instance_type says.";
    InvalidId = "invalid-id", "An ENI id is letters, digits, '-', '_' and '.', not starting with '.'.";
    InvalidPortRange = "invalid-port-range", "A security group rule's port range is valid for its protocol.";
    InvalidPriority = "invalid-priority", "A security group rule's priority is 1 to 100.";
    LastSecurityGroup = "last-security-group", "An ENI stays in at least one security group: it does not leave its last one.";
    MixedGroupTypes = "mixed-group-types", "An ENI's security groups are all basic or all enterprise.";
    ModeNotInRegion = "mode-not-in-region", "The binding mode is offered in the cloud's region.";
    MultiEipExclusive = "multi-eip-exclusive", "Multi-EIP to ENI mode does not mix with other modes on one ENI.";
    MultiEipInstanceFamily = "multi-eip-instance-family", "A multi-EIP ENI is attached only to an instance of a listed family (seed 003).";
    MultiEipNotAuthorized = "multi-eip-not-authorized", "Only an authorised account uses multi-EIP to ENI mode (seed 003).";
    MultiEipQuota = "multi-eip-quota", "A secondary ENI takes at most the multi-EIP quota of EIPs (seed 003).";
    NoAddress = "no-address", "An assignment names at least one private IP.";
    NotInGroup = "not-in-group", "An ENI leaves only a security group it is in.";
    NotMultiBinded = "not-multi-binded", "Only an EIP in multi-EIP to ENI mode has a gateway for the OS (seed 003).";
    OneEipPerPrivateIp = "one-eip-per-private-ip", "Each NAT EIP maps to a separate private IP (seed 004).";
    PrimaryEniDelete = "primary-eni-delete", "A primary ENI is deleted with its instance, not on its own.";
    PrimaryEniDetach = "primary-eni-detach", "A primary ENI is not detached from its instance.";
    PrimaryEniNatOnly = "primary-eni-nat-only", "A primary ENI supports NAT mode only (seed 002).";
    PrimaryEniNeedsInstance = "primary-eni-needs-instance", "A primary ENI is created with its instance.";
    PrimaryEniOneEip = "primary-eni-one-eip", "A primary ENI can be associated with one EIP (seed 002).";
    PrimaryIpUnassign = "primary-ip-unassign", "An ENI's primary private IP stays with it.";
    PrivateIpHasEip = "private-ip-has-eip", "A private IP a NAT EIP maps to is not unassigned before the EIP is unassociated (seed 004).";
    PrivateIpNatOnly = "private-ip-nat-only", "Only NAT mode maps an EIP to a private IP.";
    PrivateIpNotOwned = "private-ip-not-owned", "The private IP is one of the ENI's.";
    PrivateNetworkLost = "private-network-lost", "An ENI that lost its private network takes only a cut-through EIP, once detached (seed 001).";
    ReservedId = "reserved-id", "`internet`, `dropped` and `report` name the replay's other outputs, not ENIs.";
    StaticEipNotOwned = "static-eip-not-owned", "An ENI's static_eips lists only EIPs associated with it.";
    TooManyRules = "too-many-rules", "An ENI's security groups hold at most the per-ENI number of rules in all.";
    UnknownGroup = "unknown-group", "A security group named is defined.";
    UnknownId = "unknown-id", "A resource named is defined (and not deleted or released).";
    UnknownRegion = "unknown-region", "The region is one eipsim knows.";
    UnknownRule = "unknown-rule", "A security group rule revoked is one the group holds.";
    VpcReservedAddress = "vpc-reserved-address", "A private IP is not the network or broadcast address of the VPC's CIDR block.";
}

/// The number of rules.
pub const RULE_COUNT: usize = RuleCode::ALL.len();

/// The codes of [`RuleCode::ALL`], in the same order.
pub const CODES: [&str; RULE_COUNT] = {
    let mut out = [""; RULE_COUNT];
    let mut i = 0;
    while i < RULE_COUNT {
        out[i] = RuleCode::ALL[i].code();
        i += 1;
    }
    out
};

impl RuleCode {
    /// The rule with this code.
    pub fn from_code(code: &str) -> Option<RuleCode> {
        RuleCode::ALL.iter().copied().find(|r| r.code() == code)
    }
}

impl fmt::Display for RuleCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

impl Serialize for RuleCode {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.code())
    }
}

impl PartialEq<str> for RuleCode {
    fn eq(&self, other: &str) -> bool {
        self.code() == other
    }
}

impl PartialEq<&str> for RuleCode {
    fn eq(&self, other: &&str) -> bool {
        self.code() == *other
    }
}

impl PartialEq<String> for RuleCode {
    fn eq(&self, other: &String) -> bool {
        self.code() == other
    }
}

/// A rule of the seeds (or of the file format) that the topology broke.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{subject}: {message} [rule {code}]")]
pub struct ModelError {
    /// The rule broken; its [`RuleCode::code`] is shown.
    pub code: RuleCode,
    /// The resource concerned (an association, ENI, EIP, instance or the file).
    pub subject: String,
    /// What is wrong, in words, citing the seed where one states the rule.
    pub message: String,
}

/// A [`ModelError`].
pub(crate) fn err(
    code: RuleCode,
    subject: impl Into<String>,
    message: impl Into<String>,
) -> ModelError {
    ModelError {
        code,
        subject: subject.into(),
        message: message.into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The codes are kebab-case, sorted and unique; each reads back to its rule; each states
    /// its rule in one sentence.
    #[test]
    fn codes_are_sorted_unique_and_read_back() {
        const { assert!(RULE_COUNT > 40) };
        for w in CODES.windows(2) {
            assert!(w[0] < w[1], "{} then {}: sorted, no duplicates", w[0], w[1]);
        }
        for r in RuleCode::ALL {
            let c = r.code();
            assert!(
                !c.is_empty() && c.bytes().all(|b| b.is_ascii_lowercase() || b == b'-'),
                "{c}"
            );
            assert_eq!(RuleCode::from_code(c), Some(*r));
            assert_eq!(r.to_string(), c);
            assert_eq!(serde_json::to_value(r).unwrap(), serde_json::json!(c));
            assert!(r.message().ends_with('.'), "{c}: {}", r.message());
        }
        assert_eq!(RuleCode::from_code("no-such-rule"), None);
    }

    /// Every rule is emitted somewhere in the model's sources (no code is listed that no
    /// operation gives).
    #[test]
    fn every_rule_is_emitted() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src/model");
        let mut text = String::new();
        let mut dirs = vec![dir];
        while let Some(d) = dirs.pop() {
            for entry in std::fs::read_dir(&d).unwrap() {
                let path = entry.unwrap().path();
                if path.is_dir() {
                    dirs.push(path);
                } else if path.extension().is_some_and(|e| e == "rs") && !path.ends_with("rules.rs")
                {
                    text.push_str(&std::fs::read_to_string(&path).unwrap());
                }
            }
        }
        for r in RuleCode::ALL {
            let name = format!("RuleCode::{r:?}");
            assert!(
                text.contains(&name),
                "{name} ({}) is never emitted",
                r.code()
            );
        }
    }
}
