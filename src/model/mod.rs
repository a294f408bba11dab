//! Control plane, pure: the topology file, validated into a [`Cloud`] through the same operations
//! the console offers (create an ENI, allocate an EIP, bind it while the ENI is detached, attach the
//! ENI to an instance), so that every rule of the seeds is checked in one place.
//!
//! The model depends on nothing else in the crate; the forwarding tables, the ALG translator,
//! the replay and the reports read it. Its modules, by job:
//!
//! | module | job |
//! | --- | --- |
//! | `cloud` | the domain types ([`Mode`], [`Eni`], [`Eip`], [`Instance`], [`Association`], ...) and the [`Cloud`] with its look-up indexes |
//! | `file` | the topology file's TOML schema, read and written ([`Cloud::to_toml`]) |
//! | `load` | [`Cloud::load`] and [`Cloud::from_toml`]: the file built through the operations; [`TopologyError`] |
//! | `chunked` | a large file read a few sections at a time (the same result as one parse of it) |
//! | `index` | the cloud's look-up indexes (a few bytes per resource) |
//! | `ops` | every console operation: `ops::create` (CreateInstance, CreateNetworkInterface, AllocateEipAddress), `ops::bind` (AssociateEipAddress, AttachNetworkInterface), `ops::change` (detach, delete, assign and unassign private IPs, unassociate, release), `ops::describe` (DescribeEipGatewayInfo, DescribeNetworkInterfaces, billing), `ops::groups` (Authorize/RevokeSecurityGroup(Egress), Join/LeaveSecurityGroup) |
//! | `rebuild` | [`Cloud::rebuilt`] and [`Cloud::excerpt`]: clouds made again through the operations (the mode advisor's variants) |
//! | `invariants` | [`Cloud::check_invariants`] |
//! | [`rules`] | [`RuleCode`], the typed code of every rule, and [`ModelError`] |
//! | [`checks`] | the list of codes a scenario may expect, and TOML error text |
//! | `guest_view` | [`guest_view`]: what each instance's OS shows (`eipsim check`) |
//! | [`alg_policy`] | the `[alg]` what-if policy a cloud carries (re-exported by the ALG translator) |
//! | [`sg`] | security groups |
//! | [`regions`] | regions, the modes each offers, the instance families of multi-EIP mode |
//! | [`scenario`] | operations as data: scenario and event files |
//! | `addr` | [`Mac`] and [`Ipv4Cidr`] |

mod addr;
pub mod alg_policy;
pub mod checks;
mod chunked;
mod cloud;
mod file;
pub mod guest_cfg;
mod guest_view;
mod index;
mod invariants;
mod load;
mod ops;
mod rebuild;
pub mod regions;
pub mod rules;
pub mod scenario;
pub mod sg;

pub use addr::{Ipv4Cidr, Mac};
pub use cloud::{
    Account, Association, Charge, Cloud, Eip, Eni, EniKind, Instance, InstanceType, Mode, Vpc,
};
pub use guest_view::{CHECK_LIST_LIMIT, StackLines, guest_view, guest_view_limited};
pub use load::TopologyError;
pub use ops::{Billing, GatewayInfo};
pub use rules::{ModelError, RuleCode};
