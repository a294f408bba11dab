//! The instances behind the ENIs: one smoltcp [`Interface`](smoltcp::iface::Interface) per
//! attached NIC, holding the addresses the guest OS holds in each mode, the VPC's DHCP server
//! that gives a cut-through NIC its EIP, the guest's routing, and the services it answers
//! (`replay --respond`).
pub mod dhcp;
pub mod link;
