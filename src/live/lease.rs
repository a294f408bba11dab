//! DHCP on an ENI's interface: the VPC's DHCP server answers a client there as it answers a
//! simulated guest's NIC ([`crate::guest::dhcp`]): the ENI's cut-through EIP is leased when its
//! instance has DHCP on; otherwise (DHCP off, no cut-through EIP, a detached ENI) no answer.

use crate::guest::dhcp::{self, Lease, Server};
use crate::guest::plan::{self, Addressing};
use crate::model::Cloud;

/// The lease of ENI `eni` (its cut-through EIP, its instance having DHCP on) and the server
/// that gives it, as the guests' DHCP server has them.
pub fn of_eni(cloud: &Cloud, eni: usize, gateway_mac: [u8; 6]) -> (Option<Lease>, Server) {
    let router = plan::vpc_router(cloud);
    let lease = cloud.enis.get(eni).and_then(|e| {
        let inst = e.instance.filter(|_| !e.deleted)?;
        let enis = plan::attached(cloud).swap_remove(inst);
        plan::nics(cloud, inst, &enis)
            .into_iter()
            .find(|n| n.eni == eni)
            .and_then(|n| match n.addressing {
                Addressing::Dhcp(l) => Some(l),
                _ => None,
            })
    });
    let server = Server {
        mac: gateway_mac,
        server: lease.map_or(router, |l: Lease| l.gateway),
    };
    (lease, server)
}

/// The server's answer to client frame `frame` read on ENI `eni`'s interface, in `out` (empty
/// when there is none: no lease, a message that gets no answer, a frame that does not parse).
pub fn answer(cloud: &Cloud, eni: usize, gateway_mac: [u8; 6], frame: &[u8], out: &mut Vec<u8>) {
    out.clear();
    let Some(e) = cloud.enis.get(eni) else {
        return;
    };
    let (lease, server) = of_eni(cloud, eni, gateway_mac);
    if dhcp::answer(frame, e.mac.0, lease.as_ref(), &server, out).is_err() {
        out.clear();
    }
}
