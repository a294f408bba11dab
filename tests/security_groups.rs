//! Security groups in the packet path, clause by clause (the forwarding semantics' paragraph on
//! security groups, the drop precedence around `security-group`, and the provider rules that
//! sit next to it: `tcp-25-restricted`, multi-EIP needs DHCP). Each test's doc comment quotes
//! the clause it checks.
//!
//! The topology (`kit::BASE`) has NAT, cut-through (BINDED) and multi-EIP (MULTI_BINDED) ENIs,
//! on instances with and without DHCP, and a detached ENI; each test puts its own basic and
//! enterprise groups on it.
//!
//! - `view`: addresses and ports as the ENI sees them; hairpin sources.
//! - `precedence`: where the sender's egress and the receiver's ingress checks sit among the
//!   other drops; intra-VPC; multi-EIP without DHCP.
//! - `decision`: sessions, inner access, rules by priority, defaults, group peers, ICMP errors.
//! - `timing`: 910 s sessions in capture time; timed events (`--events`).
//! - `provider`: `tcp-25-restricted`.
//! - `outputs`: the drop comments in `dropped.pcapng`;
//!   refused frames as they arrived; sessions in a sharded replay.
//! - `invariance`: accept-all groups change no output byte (proptest); outputs do not depend
//!   on `--workers`.

#[path = "security_groups/decision.rs"]
mod decision;
#[path = "security_groups/invariance.rs"]
mod invariance;
#[path = "security_groups/kit.rs"]
mod kit;
#[path = "security_groups/outputs.rs"]
mod outputs;
#[path = "security_groups/precedence.rs"]
mod precedence;
#[path = "security_groups/provider.rs"]
mod provider;
#[path = "security_groups/timing.rs"]
mod timing;
#[path = "security_groups/view.rs"]
mod view;
