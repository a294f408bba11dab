//! The read-only operations: DescribeEipGatewayInfo, DescribeNetworkInterfaces, and an EIP's
//! billing state.

use std::fmt;
use std::net::Ipv4Addr;

use serde::Serialize;

use super::super::rules::{ModelError, RuleCode, err};
use super::super::{Charge, Cloud, EniKind, InstanceType, Mode};

/// What DescribeEipGatewayInfo returns: what the OS needs to configure a MULTI_BINDED EIP
/// statically (seed 003, step 8).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct GatewayInfo {
    /// The EIP.
    pub ip: Ipv4Addr,
    /// Its gateway.
    pub gateway: Ipv4Addr,
    /// Its subnet mask.
    pub mask: Ipv4Addr,
}

impl fmt::Display for GatewayInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "ip {} gateway {} mask {}",
            self.ip, self.gateway, self.mask
        )
    }
}

/// An EIP's billing state as the seeds state it (seed 002, FAQ).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Billing {
    /// `PayByTraffic` or `Subscription`.
    pub charge: &'static str,
    /// Whether the EIP instance fee is charged.
    pub instance_fee: bool,
    /// Why.
    pub why: String,
}

impl fmt::Display for Billing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}; instance fee {} ({})",
            self.charge,
            if self.instance_fee {
                "charged"
            } else {
                "not charged"
            },
            self.why
        )
    }
}

impl Cloud {
    /// DescribeEipGatewayInfo: the gateway and mask the OS needs for a MULTI_BINDED EIP (seed
    /// 003, steps 8 and 9).
    pub fn describe_eip_gateway_info(&self, eip: usize) -> Result<GatewayInfo, ModelError> {
        let e = &self.eips[eip];
        let subject = format!("EIP {}", e.id);
        self.live_eip(eip, &subject)?;
        match self.association_of_eip(eip) {
            Some(a) if a.mode == Mode::MultiBinded => Ok(self.gateway_info(eip)),
            _ => Err(err(
                RuleCode::NotMultiBinded,
                subject,
                "only an EIP associated in multi-EIP to ENI mode has a gateway for the OS (seed 003)",
            )),
        }
    }

    /// The gateway and mask of an EIP (see [`crate::model::Eip::gateway`]).
    pub fn gateway_info(&self, eip: usize) -> GatewayInfo {
        let e = &self.eips[eip];
        let mask = e.mask.unwrap_or(Ipv4Addr::new(255, 255, 255, 0));
        let net = u32::from(e.address) & u32::from(mask);
        let first = Ipv4Addr::from(net | 1);
        let last = Ipv4Addr::from((net | !u32::from(mask)) - 1);
        let gateway = e
            .gateway
            .unwrap_or(if first == e.address { last } else { first });
        GatewayInfo {
            ip: e.address,
            gateway,
            mask,
        }
    }

    /// DescribeNetworkInterfaces for one ENI: its kind, instance, private IPs (none while it
    /// has no private network), EIPs with their modes, and state.
    pub fn describe_network_interface(&self, eni: usize) -> Result<String, ModelError> {
        use std::fmt::Write as _;
        let e = &self.enis[eni];
        let subject = format!("ENI {}", e.id);
        self.live_eni(eni, &subject)?;
        let mut s = format!(
            "{} {} {} {}",
            e.id,
            match e.kind {
                EniKind::Primary => "primary",
                EniKind::Secondary => "secondary",
            },
            e.mac,
            match e.instance {
                Some(i) => format!("attached to {}", self.instances[i].id),
                None => "detached".into(),
            }
        );
        if self.private_network_unavailable(eni) {
            let why = if self.is_binded(eni) {
                "cut-through"
            } else {
                "lost with a released subscription EIP (seed 001)"
            };
            let _ = write!(s, "; private IPs: none ({why})");
        } else {
            let ips: Vec<String> = e.private_ips().map(|i| i.to_string()).collect();
            let _ = write!(s, "; private IPs: {}", ips.join(", "));
        }
        let eips: Vec<String> = self
            .associations_of(eni)
            .map(|a| {
                let ip = self.eips[a.eip].address;
                match a.mode {
                    Mode::Nat => format!(
                        "{} {ip} NAT -> {}",
                        self.eips[a.eip].id,
                        a.private_ip.unwrap_or(e.primary_ip)
                    ),
                    m => format!("{} {ip} {}", self.eips[a.eip].id, m.api_name()),
                }
            })
            .collect();
        let _ = write!(
            s,
            "; EIPs: {}",
            if eips.is_empty() {
                "none".into()
            } else {
                eips.join(", ")
            }
        );
        Ok(s)
    }

    /// The billing state of an EIP: the instance fee is charged unless the EIP is associated
    /// with an ECS instance; associated with an ENI, it is charged (seed 002, FAQ).
    pub fn billing(&self, eip: usize) -> Billing {
        let e = &self.eips[eip];
        let charge = match e.charge {
            Charge::PayByTraffic => "PayByTraffic",
            Charge::Subscription => "Subscription",
        };
        let (instance_fee, why) = if e.released {
            (false, "released".to_string())
        } else {
            match self.association_of_eip(eip) {
                Some(a) if a.instance_type == InstanceType::EcsInstance => (
                    false,
                    "bound to an ECS instance: the one case without it, seed 002".to_string(),
                ),
                Some(_) => (true, "bound to an ENI, seed 002".to_string()),
                None => (true, "not bound".to_string()),
            }
        };
        Billing {
            charge,
            instance_fee,
            why,
        }
    }
}
