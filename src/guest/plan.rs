//! What the guest OS of an instance holds per NIC in each mode, read from the cloud: the
//! addresses configured statically, or the lease a cut-through NIC waits for.

use std::net::Ipv4Addr;

use crate::model::{Cloud, EniKind, Mode};

use super::dhcp::Lease;

/// How long the VPC's DHCP server leases a cut-through NIC its EIP, in seconds (one day).
pub const LEASE_S: u32 = 86_400;

/// How a NIC gets its addresses.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Addressing {
    /// Configured statically (NAT-mode and plain NICs: the private IPs; multi-EIP NICs: the
    /// private IPs plus the EIPs in `static_eips`): address, prefix length and a note.
    Static(Vec<(Ipv4Addr, u8, String)>),
    /// Cut-through: nothing until its DHCP client gets this lease from the VPC's server.
    Dhcp(Lease),
    /// Cut-through on an instance with DHCP off: no lease, ever (seed 001 step 6).
    DhcpOff(Ipv4Addr),
    /// No address at all: the ENI lost its private network (a subscription EIP bound in
    /// cut-through mode was released while it was attached, seed 001).
    Lost,
}

/// One NIC of an instance as its guest OS sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NicPlan {
    /// The ENI's index in the cloud.
    pub eni: usize,
    /// Its device name in the guest (`eth0` is the primary ENI, then the secondary ENIs in the
    /// topology's order).
    pub name: String,
    /// Its MAC.
    pub mac: [u8; 6],
    /// Whether it is the primary ENI.
    pub primary: bool,
    /// Whether it is in cut-through mode.
    pub binded: bool,
    /// Its addresses.
    pub addressing: Addressing,
    /// The next hop of its static addresses: the VPC router ([`vpc_router`]).
    pub gateway: Ipv4Addr,
    /// Multi-EIP: the gateways of its EIPs (DescribeEipGatewayInfo), each with the prefix it
    /// serves.
    pub eip_gateways: Vec<(Ipv4Addr, u8, Ipv4Addr)>,
}

/// The VPC router's address as a guest sees it: the third address from the top of the VPC's
/// block (a `/24` vSwitch's `.253`, where the provider puts its gateway).
pub fn vpc_router(cloud: &Cloud) -> Ipv4Addr {
    let c = cloud.vpc.cidr;
    let top = u32::from(c.network) | !c.mask();
    Ipv4Addr::from(top.saturating_sub(2).max(u32::from(c.network)))
}

/// The ENIs attached to each instance, by instance index, in the topology's order.
pub fn attached(cloud: &Cloud) -> Vec<Vec<usize>> {
    let mut by = vec![Vec::new(); cloud.instances.len()];
    for (i, e) in cloud.enis.iter().enumerate() {
        if let Some(x) = e.instance
            && !e.deleted
        {
            by[x].push(i);
        }
    }
    by
}

/// The NICs of instance `inst`, whose attached ENIs are `enis` ([`attached`]): primary first,
/// then the secondary ENIs in the topology's order.
pub fn nics(cloud: &Cloud, inst: usize, enis: &[usize]) -> Vec<NicPlan> {
    let dhcp = cloud.instances[inst].dhcp;
    let prefix = cloud.vpc.cidr.prefix;
    let gateway = vpc_router(cloud);
    let mut enis = enis.to_vec();
    enis.sort_by_key(|&i| (cloud.enis[i].kind != EniKind::Primary, i));
    enis.iter()
        .enumerate()
        .map(|(n, &i)| {
            let e = &cloud.enis[i];
            let assocs: Vec<_> = cloud.associations_of(i).collect();
            let binded = assocs.iter().find(|a| a.mode == Mode::Binded);
            let mut eip_gateways = Vec::new();
            let addressing = match binded {
                Some(a) => {
                    let g = cloud.gateway_info(a.eip);
                    if dhcp {
                        Addressing::Dhcp(Lease {
                            address: g.ip,
                            mask: g.mask,
                            gateway: g.gateway,
                            lease_s: LEASE_S,
                        })
                    } else {
                        Addressing::DhcpOff(g.ip)
                    }
                }
                None if e.private_network_lost => Addressing::Lost,
                None => {
                    let mut addrs: Vec<(Ipv4Addr, u8, String)> = e
                        .private_ips()
                        .map(|ip| (ip, prefix, String::new()))
                        .collect();
                    for a in assocs.iter().filter(|a| a.mode == Mode::MultiBinded) {
                        let g = cloud.gateway_info(a.eip);
                        let len = u32::from(g.mask).count_ones() as u8;
                        let listed = e.static_eips.as_ref().is_none_or(|x| x.contains(&g.ip));
                        // Multi-EIP takes effect only with DHCP on (seed 003).
                        if listed && dhcp {
                            let id = &cloud.eips[a.eip].id;
                            addrs.push((g.ip, len, format!("multi-EIP {id}, static")));
                            eip_gateways.push((g.ip, len, g.gateway));
                        }
                    }
                    Addressing::Static(addrs)
                }
            };
            NicPlan {
                eni: i,
                name: format!("eth{n}"),
                mac: e.mac.0,
                primary: e.kind == EniKind::Primary,
                binded: binded.is_some(),
                addressing,
                gateway,
                eip_gateways,
            }
        })
        .collect()
}
