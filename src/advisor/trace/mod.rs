//! `eipsim trace`: one synthetic packet and its reply through the EIP gateway, hop by hop.
//!
//! The packet is an Ethernet frame built from `--from`, `--to`, `--proto` and `--sport` (valid
//! checksums, TTL 64 unless `--ttl`): its source MAC is the ENI's when `--from` is an ENI id or
//! an address an ENI owns, else the Internet next hop's (`internet_mac`). It runs through the
//! forwarding core compiled from the topology, with the call the replay makes. The reply swaps
//! the delivered frame's addresses and ports and is sent from where the request went out (the
//! ENI it reached, or the Internet); it runs through the core too.
//!
//! The explanation walks the topology's tables in the order the core checks them (ingress by
//! source MAC; from the Internet: destination, ENI attached, TTL, guest; from an ENI: ENI
//! attached, source check, destination, public address, TTL, guest) and names the entry that
//! decided each step. The verdict printed is always the core's: when the walk would have
//! concluded otherwise, a `core` step says so and the core's verdict stands.

use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

use serde::Serialize;

use super::{AdvisorError, outcome_text, port_name};
use crate::dataplane::{Action, Dataplane, DropReason, Outcome, Port, Verdict};
use crate::model::{Cloud, Mac, Mode};
use crate::wire::{LinkType, checksum, proto};

/// The source port when `--sport` is not given (the first IANA ephemeral port).
pub const DEFAULT_SPORT: u16 = 49152;

/// The ICMP echo identifier of the request.
pub const ECHO_ID: u16 = 0x1234;

/// What to trace.
#[derive(Clone, Debug)]
pub struct TraceOptions {
    /// Topology file.
    pub topology: PathBuf,
    /// `--from`: an IPv4 address or an ENI id.
    pub from: String,
    /// `--to`: `ADDR` or `ADDR:PORT`.
    pub to: String,
    /// `--proto`: `tcp`, `udp` or `icmp` (default: tcp with a port, icmp echo without).
    pub proto: Option<String>,
    /// `--sport`: the source port (TCP/UDP).
    pub sport: Option<u16>,
    /// `--ttl`: the request's TTL (default 64).
    pub ttl: Option<u8>,
}

/// A frame's headers, as the trace shows them.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct Headers {
    /// `tcp`, `udp` or `icmp`.
    pub protocol: &'static str,
    /// Source address.
    pub src: String,
    /// Source port (TCP/UDP).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sport: Option<u16>,
    /// Destination address.
    pub dst: String,
    /// Destination port (TCP/UDP).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dport: Option<u16>,
    /// TTL.
    pub ttl: u8,
    /// Source MAC.
    pub src_mac: String,
    /// Destination MAC.
    pub dst_mac: String,
    /// The IPv4 header checksum and the TCP/UDP/ICMP checksum equal a full recomputation.
    pub checksums_valid: bool,
}

impl Headers {
    fn text(&self) -> String {
        let ep = |a: &str, p: Option<u16>| match p {
            Some(p) => format!("{a}:{p}"),
            None => a.to_string(),
        };
        format!(
            "{} {} -> {} TTL {}",
            self.protocol,
            ep(&self.src, self.sport),
            ep(&self.dst, self.dport),
            self.ttl
        )
    }
}

/// One step of the walk.
#[derive(Clone, Debug, Serialize)]
pub struct Hop {
    /// `ingress`, `eni`, `source-check`, `destination`, `public`, `hairpin`, `ttl`, `guest`,
    /// `translation`, `egress` or `core`.
    pub step: &'static str,
    /// `pass`, or `drop` for the step that decided a drop.
    pub result: &'static str,
    /// What the tables say, naming the entry.
    pub detail: String,
}

/// The core's verdict for one frame.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct VerdictView {
    /// `forwarded` or `dropped`.
    pub outcome: &'static str,
    /// Forwarded: `internet` or the ENI id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub egress: Option<String>,
    /// Forwarded: `dnat`, `snat`, `pass-through`, `intra-vpc` or `hairpin`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub action: Option<&'static str>,
    /// Dropped: the reason.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<&'static str>,
    /// The phrase the text output prints.
    pub text: String,
}

/// One frame through the gateway: the request or the reply.
#[derive(Clone, Debug, Serialize)]
pub struct Leg {
    /// The frame as sent.
    pub frame: Headers,
    /// How its ingress was decided.
    pub ingress: String,
    /// The walk, in the core's order, ending with the verdict's step.
    pub hops: Vec<Hop>,
    /// The frame as it left the gateway (forwarded frames).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub delivered: Option<Headers>,
    /// The core's verdict.
    pub verdict: VerdictView,
    /// For a drop: what to change.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fix: Option<String>,
    /// Whether the walk reached the core's verdict (always expected; the core's verdict
    /// stands otherwise).
    pub consistent: bool,
    /// The core's full verdict (not serialised).
    #[serde(skip)]
    pub core: Option<Verdict>,
    /// The frame's bytes as sent (not serialised).
    #[serde(skip)]
    pub bytes: Vec<u8>,
}

/// The trace: the request leg (flattened), the reply leg and notes.
#[derive(Clone, Debug, Serialize)]
pub struct Trace {
    /// Topology file.
    pub topology: String,
    /// The request.
    #[serde(flatten)]
    pub request: Leg,
    /// The reply, when the request was forwarded.
    pub reply: Option<Leg>,
    /// Notes: ALG protocols, security groups.
    pub notes: Vec<String>,
    /// The last line of the text output: both legs' verdicts.
    pub summary: String,
}

/// What an address is to the gateway (the core's table, read from the model).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Entry {
    /// Not in the tables.
    None,
    /// A private IP of ENI `eni`, with the NAT-mode EIP (index) mapped to it.
    Private { eni: usize, nat: Option<usize> },
    /// An EIP without association.
    Unassociated { eip: usize },
    /// A NAT-mode EIP mapped to `private` on ENI `eni`.
    Nat {
        eip: usize,
        eni: usize,
        private: Ipv4Addr,
    },
    /// A cut-through EIP of ENI `eni`.
    Binded { eip: usize, eni: usize },
    /// A multi-EIP of ENI `eni`; `configured`: in the guest's static_eips (or all).
    Multi {
        eip: usize,
        eni: usize,
        configured: bool,
    },
}

fn lookup(cloud: &Cloud, addr: Ipv4Addr) -> Entry {
    let mut entry = Entry::None;
    for (i, e) in cloud.enis.iter().enumerate().filter(|(_, e)| !e.deleted) {
        if e.private_ips().any(|p| p == addr) {
            entry = Entry::Private { eni: i, nat: None };
        }
    }
    for (i, eip) in cloud.eips.iter().enumerate() {
        if eip.released || eip.address != addr {
            continue;
        }
        entry = match cloud.association_of_eip(i) {
            None => Entry::Unassociated { eip: i },
            Some(a) => match a.mode {
                Mode::Nat => Entry::Nat {
                    eip: i,
                    eni: a.eni,
                    private: a.private_ip.unwrap_or(cloud.enis[a.eni].primary_ip),
                },
                Mode::Binded => Entry::Binded { eip: i, eni: a.eni },
                Mode::MultiBinded => Entry::Multi {
                    eip: i,
                    eni: a.eni,
                    configured: cloud.enis[a.eni]
                        .static_eips
                        .as_ref()
                        .is_none_or(|s| s.contains(&addr)),
                },
            },
        };
    }
    if let Entry::Private { eni, .. } = entry {
        let nat = cloud.associations.iter().find(|a| {
            a.mode == Mode::Nat
                && a.eni == eni
                && a.private_ip.unwrap_or(cloud.enis[a.eni].primary_ip) == addr
        });
        entry = Entry::Private {
            eni,
            nat: nat.map(|a| a.eip),
        };
    }
    entry
}

fn in_vpc(cloud: &Cloud, a: Ipv4Addr) -> bool {
    u32::from(a) & cloud.vpc.cidr.mask() == u32::from(cloud.vpc.cidr.network)
}

/// The facts of a frame the walk needs.
#[derive(Clone, Copy, Debug)]
struct Facts {
    src: Ipv4Addr,
    dst: Ipv4Addr,
    ttl: u8,
    src_mac: Mac,
}

/// The walk: the hops, the outcome it concludes, and the fix for a drop.
struct Walk<'a> {
    cloud: &'a Cloud,
    hops: Vec<Hop>,
}

impl Walk<'_> {
    fn pass(&mut self, step: &'static str, detail: String) {
        self.hops.push(Hop {
            step,
            result: "pass",
            detail,
        });
    }

    fn drop(&mut self, step: &'static str, detail: String, r: DropReason) -> Outcome {
        self.hops.push(Hop {
            step,
            result: "drop",
            detail: format!("{detail} -> {}", r.as_str()),
        });
        Outcome::Drop(r)
    }

    fn eip_name(&self, i: usize) -> String {
        format!("{} {}", self.cloud.eips[i].id, self.cloud.eips[i].address)
    }

    fn eni_name(&self, i: usize) -> &str {
        &self.cloud.enis[i].id
    }

    fn attached(&self, eni: usize) -> Option<&str> {
        self.cloud.enis[eni]
            .instance
            .map(|i| self.cloud.instances[i].id.as_str())
    }

    fn entry_text(&self, addr: Ipv4Addr, e: Entry) -> String {
        match e {
            Entry::None => format!("{addr}: no entry"),
            Entry::Private { eni, nat } => format!(
                "{addr}: private IP of {}{}",
                self.eni_name(eni),
                nat.map(|x| format!(", NAT EIP {}", self.eip_name(x)))
                    .unwrap_or_default()
            ),
            Entry::Unassociated { eip } => {
                format!("{addr}: EIP {}, not associated", self.cloud.eips[eip].id)
            }
            Entry::Nat { eip, eni, private } => format!(
                "{addr}: EIP {}, association NAT -> {} {private}",
                self.cloud.eips[eip].id,
                self.eni_name(eni)
            ),
            Entry::Binded { eip, eni } => format!(
                "{addr}: EIP {}, association BINDED -> {}",
                self.cloud.eips[eip].id,
                self.eni_name(eni)
            ),
            Entry::Multi { eip, eni, .. } => format!(
                "{addr}: EIP {}, association MULTI_BINDED -> {}",
                self.cloud.eips[eip].id,
                self.eni_name(eni)
            ),
        }
    }

    /// The checks of a frame arriving from the Internet (or a hairpin) at `dst`: the ENI it
    /// goes to and the action, or the drop. TTL and guest checks are the caller's (they come
    /// after a hairpin's no-public-address).
    fn inbound(&mut self, dst: Ipv4Addr, step: &'static str) -> Result<(usize, Entry), Outcome> {
        let e = lookup(self.cloud, dst);
        let text = self.entry_text(dst, e);
        let eni = match e {
            Entry::None => {
                return Err(self.drop(
                    step,
                    format!("{dst}: not an EIP of this topology"),
                    DropReason::UnknownDestination,
                ));
            }
            Entry::Private { .. } => {
                return Err(self.drop(
                    step,
                    format!("{text}: a private address is not reachable from the Internet"),
                    DropReason::UnknownDestination,
                ));
            }
            Entry::Unassociated { .. } => {
                return Err(self.drop(step, text, DropReason::EipNotAssociated));
            }
            Entry::Nat { eni, .. } | Entry::Binded { eni, .. } | Entry::Multi { eni, .. } => eni,
        };
        self.pass(step, text);
        Ok((eni, e))
    }

    /// The receiving ENI is attached (checked after the destination).
    fn receiver_attached(&mut self, eni: usize) -> Result<(), Outcome> {
        match self.attached(eni) {
            Some(i) => {
                let t = format!("{} attached to {i}", self.eni_name(eni));
                self.pass("eni", t);
                Ok(())
            }
            None => {
                let t = format!("{} is not attached to an instance", self.eni_name(eni));
                Err(self.drop("eni", t, DropReason::EniDetached))
            }
        }
    }

    fn ttl(&mut self, ttl: u8) -> Result<(), Outcome> {
        if ttl <= 1 {
            return Err(self.drop(
                "ttl",
                format!("TTL {ttl} on arrival at the gateway (must be > 1)"),
                DropReason::TtlExpired,
            ));
        }
        self.pass(
            "ttl",
            format!("TTL {ttl} > 1: the gateway decrements it to {}", ttl - 1),
        );
        Ok(())
    }

    /// The guest's configuration for an inbound EIP (cut-through: DHCP; multi-EIP: configured).
    fn guest(&mut self, dst: Ipv4Addr, e: Entry) -> Result<(), Outcome> {
        match e {
            Entry::Binded { eni, .. } => {
                let inst = self.cloud.enis[eni]
                    .instance
                    .map(|i| &self.cloud.instances[i]);
                match inst {
                    Some(i) if i.dhcp => {
                        self.pass(
                            "guest",
                            format!("{} runs DHCP: its OS configures {dst} (cut-through)", i.id),
                        );
                        Ok(())
                    }
                    _ => Err(self.drop(
                        "guest",
                        format!(
                            "{} has no DHCP on its secondary NICs: cut-through does not take effect",
                            inst.map_or("the instance", |i| i.id.as_str())
                        ),
                        DropReason::GuestNotConfigured,
                    )),
                }
            }
            Entry::Multi {
                eni, configured, ..
            } => {
                let inst = self.cloud.enis[eni]
                    .instance
                    .map(|i| &self.cloud.instances[i]);
                if inst.is_some_and(|i| !i.dhcp) {
                    return Err(self.drop(
                        "guest",
                        format!(
                            "{} has no DHCP on its secondary NICs: multi-EIP mode does not take effect",
                            inst.map_or("the instance", |i| i.id.as_str())
                        ),
                        DropReason::GuestNotConfigured,
                    ));
                }
                if configured {
                    self.pass(
                        "guest",
                        format!(
                            "{dst} is configured in the OS of {}'s instance (static_eips)",
                            self.eni_name(eni)
                        ),
                    );
                    Ok(())
                } else {
                    let t = format!(
                        "{dst} is not in {}'s static_eips: the OS does not answer for it",
                        self.eni_name(eni)
                    );
                    Err(self.drop("guest", t, DropReason::GuestNotConfigured))
                }
            }
            _ => Ok(()),
        }
    }

    /// The walk of a frame from the Internet.
    fn walk_internet(&mut self, f: &Facts) -> Outcome {
        let (eni, e) = match self.inbound(f.dst, "destination") {
            Ok(x) => x,
            Err(o) => return o,
        };
        if let Err(o) = self.receiver_attached(eni) {
            return o;
        }
        if let Err(o) = self.ttl(f.ttl) {
            return o;
        }
        if let Err(o) = self.guest(f.dst, e) {
            return o;
        }
        let action = if matches!(e, Entry::Nat { .. }) {
            Action::Dnat
        } else {
            Action::PassThrough
        };
        Outcome::Forward(Port::Eni(eni as u32), action)
    }

    /// The walk of a frame from ENI `x`.
    fn walk_eni(&mut self, x: usize, f: &Facts) -> Outcome {
        let cloud = self.cloud;
        let name = cloud.enis[x].id.clone();
        match self.attached(x) {
            Some(i) => {
                let t = format!("{name} attached to {i}");
                self.pass("eni", t);
            }
            None => {
                return self.drop(
                    "eni",
                    format!("{name} is not attached to an instance: it sends nothing"),
                    DropReason::EniDetached,
                );
            }
        }
        let no_private = cloud.private_network_unavailable(x);
        let s = lookup(cloud, f.src);
        // The source: a private IP of x (with its NAT EIP), or an EIP of x.
        let src_nat: Option<Option<usize>> = match s {
            Entry::Private { eni, nat } if eni == x && !no_private => {
                let t = format!(
                    "{} owned by {name} (private IP{})",
                    f.src,
                    nat.map(|i| format!("; NAT EIP {}", self.eip_name(i)))
                        .unwrap_or_default()
                );
                self.pass("source-check", t);
                Some(nat)
            }
            Entry::Binded { eni, eip } | Entry::Multi { eni, eip, .. } if eni == x => {
                let mode = if matches!(s, Entry::Binded { .. }) {
                    "BINDED"
                } else {
                    "MULTI_BINDED"
                };
                let t = format!(
                    "{} owned by {name} (its {mode} EIP {})",
                    f.src, cloud.eips[eip].id
                );
                self.pass("source-check", t);
                None
            }
            Entry::Private { eni, .. } if eni == x => {
                let why = if cloud.is_binded(x) {
                    "in cut-through (BINDED) mode it has no private IP"
                } else {
                    "it lost its private network (a subscription EIP bound in cut-through mode was released)"
                };
                return self.drop(
                    "source-check",
                    format!("{} is a private IP of {name}, but {why}", f.src),
                    DropReason::SourceCheck,
                );
            }
            other => {
                let owner = match other {
                    Entry::Private { eni, .. } => {
                        format!("it is a private IP of {}", cloud.enis[eni].id)
                    }
                    Entry::Binded { eni, eip } | Entry::Multi { eni, eip, .. } => {
                        format!("it is EIP {} of {}", cloud.eips[eip].id, cloud.enis[eni].id)
                    }
                    Entry::Nat { eip, eni, private } => format!(
                        "it is EIP {}, NAT mode: {}'s guest sends from {private}",
                        cloud.eips[eip].id, cloud.enis[eni].id
                    ),
                    Entry::Unassociated { eip } => {
                        format!("it is EIP {}, not associated", cloud.eips[eip].id)
                    }
                    Entry::None => "no ENI owns it".to_string(),
                };
                return self.drop(
                    "source-check",
                    format!("{} is not an address of {name}: {owner}", f.src),
                    DropReason::SourceCheck,
                );
            }
        };
        if in_vpc(cloud, f.dst) {
            let d = lookup(cloud, f.dst);
            let Entry::Private { eni: peer, .. } = d else {
                return self.drop(
                    "destination",
                    format!(
                        "{} is inside the VPC CIDR {} and no ENI owns it",
                        f.dst, cloud.vpc.cidr
                    ),
                    DropReason::UnknownDestination,
                );
            };
            let peer_name = cloud.enis[peer].id.clone();
            if no_private || cloud.private_network_unavailable(peer) {
                let who = if no_private { &name } else { &peer_name };
                return self.drop(
                    "destination",
                    format!(
                        "{}: intra-VPC, but {who} has no private network (cut-through)",
                        self.entry_text(f.dst, d)
                    ),
                    DropReason::PrivateNetworkUnavailable,
                );
            }
            let t = format!("{}: intra-VPC", self.entry_text(f.dst, d));
            self.pass("destination", t);
            if let Err(o) = self.receiver_attached(peer) {
                return o;
            }
            self.pass(
                "ttl",
                format!(
                    "TTL {}: intra-VPC delivery does not pass the gateway, TTL unchanged",
                    f.ttl
                ),
            );
            return Outcome::Forward(Port::Eni(peer as u32), Action::IntraVpc);
        }
        // Towards the Internet, or back in through an EIP of this VPC (hairpin).
        let d = lookup(cloud, f.dst);
        let hairpin = matches!(
            d,
            Entry::Unassociated { .. }
                | Entry::Nat { .. }
                | Entry::Binded { .. }
                | Entry::Multi { .. }
        );
        let mut inbound: Option<Result<(usize, Entry), ()>> = None;
        let mut pending_drop: Option<Hop> = None;
        if hairpin {
            match self.inbound(f.dst, "hairpin") {
                Ok((eni, e)) => {
                    let before = self.hops.len();
                    let r = self.receiver_attached(eni);
                    if r.is_err() {
                        // eni-detached of the hairpin's destination comes after no-public-address.
                        pending_drop = self.hops.pop();
                        self.hops.truncate(before);
                        inbound = Some(Err(()));
                    } else {
                        inbound = Some(Ok((eni, e)));
                    }
                }
                Err(o) => return o,
            }
        } else {
            self.pass(
                "destination",
                format!(
                    "{}: outside the VPC and not an EIP of it: towards the Internet",
                    f.dst
                ),
            );
        }
        let snat = match src_nat {
            Some(None) => {
                return self.drop(
                    "public",
                    format!(
                        "{} is a private IP of {name} with no NAT-mode EIP mapped to it",
                        f.src
                    ),
                    DropReason::NoPublicAddress,
                );
            }
            Some(Some(eip)) => {
                let t = format!(
                    "{} has NAT EIP {}: SNAT to {}",
                    f.src,
                    self.eip_name(eip),
                    cloud.eips[eip].address
                );
                self.pass("public", t);
                true
            }
            None => {
                self.pass(
                    "public",
                    format!("{} is an EIP {name}'s guest owns: sent unchanged", f.src),
                );
                false
            }
        };
        let (egress, entry) = match inbound {
            None => (Port::Internet, None),
            Some(Ok((eni, e))) => (Port::Eni(eni as u32), Some(e)),
            Some(Err(())) => {
                if let Some(h) = pending_drop {
                    self.hops.push(h);
                }
                return Outcome::Drop(DropReason::EniDetached);
            }
        };
        if let Err(o) = self.ttl(f.ttl) {
            return o;
        }
        if let Some(e) = entry
            && let Err(o) = self.guest(f.dst, e)
        {
            return o;
        }
        let action = match (entry, snat) {
            (Some(_), _) => Action::Hairpin,
            (None, true) => Action::Snat,
            (None, false) => Action::PassThrough,
        };
        Outcome::Forward(egress, action)
    }
}

/// What to change for a drop (one line).
fn fix_for(cloud: &Cloud, v: &Verdict, f: &Facts, ingress: Port) -> String {
    let Outcome::Drop(r) = v.outcome else {
        return String::new();
    };
    let eip_of = |a: Ipv4Addr| {
        cloud
            .eips
            .iter()
            .position(|e| !e.released && e.address == a)
    };
    let sender = match ingress {
        Port::Eni(x) => Some(x as usize),
        Port::Internet => None,
    };
    // Matched on the stable name, so that reasons added later fall through to the default.
    match r.as_str() {
        "eip-not-associated" => match eip_of(f.dst) {
            Some(i) => format!(
                "associate {} with an ENI (AssociateEipAddress), or send to an associated EIP",
                cloud.eips[i].id
            ),
            None => "associate the EIP with an ENI (AssociateEipAddress)".into(),
        },
        "unknown-destination" if sender.is_none() && in_vpc(cloud, f.dst) => {
            match cloud.associations.iter().find(|a| {
                a.mode == Mode::Nat && a.private_ip.unwrap_or(cloud.enis[a.eni].primary_ip) == f.dst
            }) {
                Some(a) => format!(
                    "{} is private and no Internet frame reaches it; it is reachable as its NAT EIP {} ({}): send to that (a capture taken on the instance shows it addressed to {}: replay it with --capture-point instance)",
                    f.dst, cloud.eips[a.eip].address, cloud.eips[a.eip].id, f.dst
                ),
                None => format!(
                    "{} is private: bind an EIP in NAT mode to it (AssociateEipAddress mode = \"NAT\", private_ip = \"{}\") and send to that EIP",
                    f.dst, f.dst
                ),
            }
        }
        "unknown-destination" if sender.is_none() => format!(
            "{} is not an EIP of this topology: send to an associated EIP, or allocate one (AllocateEipAddress) and associate it (AssociateEipAddress)",
            f.dst
        ),
        "unknown-destination" => format!(
            "no ENI owns {}: assign it to an ENI (AssignPrivateIpAddresses) or send to an existing private IP",
            f.dst
        ),
        "eni-detached" => {
            // The sender when it is detached, else the destination's ENI.
            let x = match sender {
                Some(x) if cloud.enis[x].instance.is_none() => Some(x),
                _ => match lookup(cloud, f.dst) {
                    Entry::Private { eni, .. }
                    | Entry::Nat { eni, .. }
                    | Entry::Binded { eni, .. }
                    | Entry::Multi { eni, .. } => Some(eni),
                    _ => v.eni.map(|x| x as usize),
                },
            };
            let e = x.map_or_else(|| "the ENI".to_string(), |x| cloud.enis[x].id.clone());
            format!("attach {e} to an instance (AttachNetworkInterface)")
        }
        "source-check" => {
            let x = sender.unwrap_or(0);
            let owned = owned_addresses(cloud, x);
            if owned.is_empty() {
                format!(
                    "{} owns no address it may send from: assign a private IP or bind an EIP",
                    cloud.enis[x].id
                )
            } else {
                format!(
                    "send from an address {} owns: {}",
                    cloud.enis[x].id,
                    owned.join(", ")
                )
            }
        }
        "no-public-address" => {
            let x = sender.unwrap_or(0);
            let with: Vec<String> = cloud
                .enis
                .get(x)
                .into_iter()
                .flat_map(|e| e.private_ips())
                .filter_map(|p| match lookup(cloud, p) {
                    Entry::Private { nat: Some(i), .. } => {
                        Some(format!("{p} (NAT EIP {})", cloud.eips[i].id))
                    }
                    _ => None,
                })
                .collect();
            let free = cloud
                .eips
                .iter()
                .enumerate()
                .find(|(i, e)| !e.released && cloud.association_of_eip(*i).is_none())
                .map(|(_, e)| format!("; {} {} is unassociated", e.id, e.address))
                .unwrap_or_default();
            let mut s = format!(
                "bind an EIP in NAT mode to {} (AssociateEipAddress mode = \"NAT\", private_ip = \"{}\"{free})",
                f.src, f.src
            );
            if !with.is_empty() {
                s.push_str(&format!(", or send from {}", with.join(" or ")));
            }
            s
        }
        "private-network-unavailable" => {
            let cut: Vec<String> = [sender, lookup_private_owner(cloud, f.dst)]
                .into_iter()
                .flatten()
                .filter(|x| cloud.private_network_unavailable(*x))
                .map(|x| cloud.enis[x].id.clone())
                .collect();
            format!(
                "{} has no private network (cut-through): reach it through its EIP, or bind its EIP in NAT or MULTI_BINDED mode instead (UnassociateEipAddress, then AssociateEipAddress)",
                cut.join(" and ")
            )
        }
        "guest-not-configured" => match lookup(cloud, f.dst) {
            Entry::Binded { eni, .. } => {
                let inst = cloud.enis[eni]
                    .instance
                    .map_or("the instance", |i| cloud.instances[i].id.as_str());
                format!(
                    "enable DHCP on {inst}'s secondary NICs (dhcp = true) so that its OS takes {} (cut-through)",
                    f.dst
                )
            }
            Entry::Multi { eni, .. } => match cloud.enis[eni].instance.map(|i| &cloud.instances[i])
            {
                Some(i) if !i.dhcp => format!(
                    "enable DHCP on {}'s secondary NICs (dhcp = true): multi-EIP mode takes effect only with DHCP",
                    i.id
                ),
                _ => format!(
                    "configure {} in the OS of {}'s instance (add it to static_eips; DescribeEipGatewayInfo gives the gateway and mask)",
                    f.dst, cloud.enis[eni].id
                ),
            },
            _ => "configure the address in the guest OS".into(),
        },
        "ttl-expired" => format!(
            "the frame reached the gateway with TTL {}: send it with a TTL above 1",
            f.ttl
        ),
        other => format!("dropped {other}: see the drop reasons in the documentation"),
    }
}

fn lookup_private_owner(cloud: &Cloud, a: Ipv4Addr) -> Option<usize> {
    match lookup(cloud, a) {
        Entry::Private { eni, .. } => Some(eni),
        _ => None,
    }
}

/// The addresses ENI `x`'s guest may send from.
fn owned_addresses(cloud: &Cloud, x: usize) -> Vec<String> {
    let mut v: Vec<String> = Vec::new();
    if !cloud.private_network_unavailable(x) {
        v.extend(cloud.enis[x].private_ips().map(|p| p.to_string()));
    }
    for a in cloud.associations_of(x) {
        if a.mode != Mode::Nat {
            v.push(format!(
                "{} ({} {})",
                cloud.eips[a.eip].address,
                a.mode.api_name(),
                cloud.eips[a.eip].id
            ));
        }
    }
    v
}

/// The L4 part of a frame to build.
#[derive(Clone, Copy, Debug)]
enum L4 {
    Tcp { sport: u16, dport: u16, ack: bool },
    Udp { sport: u16, dport: u16 },
    Echo { id: u16, reply: bool },
}

fn build(src_mac: Mac, dst_mac: Mac, src: Ipv4Addr, dst: Ipv4Addr, ttl: u8, l4: L4) -> Vec<u8> {
    let b = etherparse::PacketBuilder::ethernet2(src_mac.0, dst_mac.0).ipv4(
        src.octets(),
        dst.octets(),
        ttl,
    );
    let mut out = Vec::new();
    let res = match l4 {
        L4::Tcp { sport, dport, ack } => {
            let t = b.tcp(sport, dport, 1_000, 64_240).syn();
            if ack { t.ack(1_001) } else { t }.write(&mut out, &[])
        }
        L4::Udp { sport, dport } => b.udp(sport, dport).write(&mut out, b"eipsim trace"),
        L4::Echo { id, reply } => {
            let e = if reply {
                b.icmpv4_echo_reply(id, 1)
            } else {
                b.icmpv4_echo_request(id, 1)
            };
            e.write(&mut out, b"eipsim trace")
        }
    };
    // Writing headers of valid values into a Vec cannot fail.
    res.expect("a synthetic frame serialises");
    out
}

/// Reads the headers of an Ethernet/IPv4 frame the trace built or the core rewrote.
fn headers(frame: &[u8]) -> Option<Headers> {
    let eth = etherparse::Ethernet2HeaderSlice::from_slice(frame).ok()?;
    let l3 = &frame[14..];
    let ip = etherparse::Ipv4HeaderSlice::from_slice(l3).ok()?;
    let ihl = ip.slice().len();
    let end = usize::from(ip.total_len()).min(l3.len());
    let seg = l3.get(ihl..end)?;
    let p = ip.protocol().0;
    let (protocol, ports) = match p {
        proto::TCP if seg.len() >= 4 => ("tcp", true),
        proto::UDP if seg.len() >= 4 => ("udp", true),
        _ => ("icmp", false),
    };
    let port = |at: usize| ports.then(|| u16::from_be_bytes([seg[at], seg[at + 1]]));
    let ip_ok = checksum::checksum(ip.slice()) == 0;
    let l4_ok = match p {
        proto::TCP | proto::UDP => {
            checksum::l4_checksum(ip.source(), ip.destination(), p, seg) == 0
        }
        _ => checksum::checksum(seg) == 0,
    };
    Some(Headers {
        protocol,
        src: Ipv4Addr::from(ip.source()).to_string(),
        sport: port(0),
        dst: Ipv4Addr::from(ip.destination()).to_string(),
        dport: port(2),
        ttl: ip.ttl(),
        src_mac: Mac(eth.source()).to_string(),
        dst_mac: Mac(eth.destination()).to_string(),
        checksums_valid: ip_ok && l4_ok,
    })
}

fn verdict_view(cloud: &Cloud, o: &Outcome) -> VerdictView {
    match o {
        Outcome::Forward(p, a) => VerdictView {
            outcome: "forwarded",
            egress: Some(port_name(cloud, *p)),
            action: Some(a.as_str()),
            reason: None,
            text: outcome_text(cloud, o),
        },
        Outcome::Drop(r) => VerdictView {
            outcome: "dropped",
            egress: None,
            action: None,
            reason: Some(r.as_str()),
            text: outcome_text(cloud, o),
        },
    }
}

/// The ENI whose guest owns `a` (a private IP of a live ENI with private network, or its
/// cut-through or multi-EIP address); `None` for anything else.
fn sender_of(cloud: &Cloud, a: Ipv4Addr) -> Option<usize> {
    match lookup(cloud, a) {
        Entry::Private { eni, .. } | Entry::Binded { eni, .. } | Entry::Multi { eni, .. } => {
            Some(eni)
        }
        _ => None,
    }
}

/// Runs one frame through the core and explains it.
fn leg(cloud: &Cloud, dp: &Dataplane, bytes: Vec<u8>) -> Leg {
    let frame = headers(&bytes).expect("the trace builds Ethernet/IPv4 frames");
    let mut buf = bytes.clone();
    let mut v = [Verdict::early_drop(DropReason::Malformed, None)];
    let len = buf.len();
    dp.process_packed(&mut buf, &[(0, len, LinkType::Ethernet)], &mut v);
    let v = v[0];
    let src_mac = Mac([bytes[6], bytes[7], bytes[8], bytes[9], bytes[10], bytes[11]]);
    let f = Facts {
        src: frame.src.parse().expect("an address the trace wrote"),
        dst: frame.dst.parse().expect("an address the trace wrote"),
        ttl: frame.ttl,
        src_mac,
    };
    // Ingress, as the core decides it for Ethernet frames: by source MAC.
    let by_mac = cloud
        .enis
        .iter()
        .position(|e| !e.deleted && e.mac == f.src_mac);
    let (ingress, ingress_text) = match by_mac {
        Some(x) => (
            Port::Eni(x as u32),
            format!(
                "{}: source MAC {} is {}'s",
                cloud.enis[x].id, f.src_mac, cloud.enis[x].id
            ),
        ),
        None => (
            Port::Internet,
            format!("Internet: source MAC {} is no ENI's", f.src_mac),
        ),
    };
    let mut walk = Walk {
        cloud,
        hops: vec![Hop {
            step: "ingress",
            result: "pass",
            detail: ingress_text.clone(),
        }],
    };
    let expected = match ingress {
        Port::Internet => walk.walk_internet(&f),
        Port::Eni(x) => walk.walk_eni(x as usize, &f),
    };
    let mut hops = walk.hops;
    let consistent = expected == v.outcome && v.ingress == Some(ingress);
    if !consistent {
        hops.push(Hop {
            step: "core",
            result: if matches!(v.outcome, Outcome::Drop(_)) {
                "drop"
            } else {
                "pass"
            },
            detail: format!(
                "the walk above expected {}; the core decided {}: the core's verdict stands",
                outcome_text(cloud, &expected),
                outcome_text(cloud, &v.outcome)
            ),
        });
    }
    let mut delivered = None;
    if let Outcome::Forward(p, _) = v.outcome {
        let after = headers(&buf).expect("the core keeps an Ethernet/IPv4 frame so");
        hops.push(Hop {
            step: "translation",
            result: "pass",
            detail: format!(
                "{}  =>  {}{}",
                frame.text(),
                after.text(),
                if after.checksums_valid {
                    "; checksums valid"
                } else {
                    "; CHECKSUMS INVALID"
                }
            ),
        });
        hops.push(Hop {
            step: "egress",
            result: "pass",
            detail: format!(
                "{} (source MAC {}, destination MAC {})",
                port_name(cloud, p),
                after.src_mac,
                after.dst_mac
            ),
        });
        delivered = Some(after);
    }
    let fix = matches!(v.outcome, Outcome::Drop(_)).then(|| fix_for(cloud, &v, &f, ingress));
    Leg {
        frame,
        ingress: ingress_text,
        hops,
        delivered,
        verdict: verdict_view(cloud, &v.outcome),
        fix,
        consistent,
        core: Some(v),
        bytes,
    }
}

/// Parses `--to`: `ADDR` or `ADDR:PORT`.
fn parse_to(to: &str) -> Result<(Ipv4Addr, Option<u16>), AdvisorError> {
    let bad = |why: &str| AdvisorError::Usage(format!("--to {to:?}: {why}"));
    let (a, p) = match to.split_once(':') {
        Some((a, p)) => (a, Some(p)),
        None => (to, None),
    };
    let addr: Ipv4Addr = a
        .parse()
        .map_err(|_| bad("not an IPv4 address (ADDR or ADDR:PORT)"))?;
    let port = match p {
        None => None,
        Some(p) => match p.parse::<u16>() {
            Ok(n) if n > 0 => Some(n),
            _ => return Err(bad("the port is a number from 1 to 65535")),
        },
    };
    Ok((addr, port))
}

/// Whether the topology file defines security groups (read as plain TOML: they are not
/// applied by this version of the core).
fn security_groups_defined(path: &Path) -> usize {
    let Ok(text) = std::fs::read_to_string(path) else {
        return 0;
    };
    let Ok(t) = text.parse::<toml::Table>() else {
        return 0;
    };
    t.get("security_group")
        .and_then(|v| v.as_array())
        .map_or(0, Vec::len)
}

/// Runs the trace.
pub fn run(opts: &TraceOptions) -> Result<Trace, AdvisorError> {
    let cloud = Cloud::load(&opts.topology)?;
    let (dst, dport) = parse_to(&opts.to)?;
    let proto = match (opts.proto.as_deref(), dport) {
        (None, Some(_)) | (Some("tcp"), Some(_)) => "tcp",
        (Some("udp"), Some(_)) => "udp",
        (None, None) | (Some("icmp"), None) => "icmp",
        (Some("icmp"), Some(_)) => {
            return Err(AdvisorError::Usage(format!(
                "--to {}: ICMP has no port (give the address only, or --proto tcp|udp)",
                opts.to
            )));
        }
        (Some(p @ ("tcp" | "udp")), None) => {
            return Err(AdvisorError::Usage(format!(
                "--proto {p} needs a destination port: --to ADDR:PORT"
            )));
        }
        (Some(p), _) => {
            return Err(AdvisorError::Usage(format!(
                "--proto {p:?}: tcp, udp or icmp"
            )));
        }
    };
    if proto == "icmp" && opts.sport.is_some() {
        return Err(AdvisorError::Usage("--sport: ICMP echo has no port".into()));
    }
    if opts.sport == Some(0) {
        return Err(AdvisorError::Usage(
            "--sport: a number from 1 to 65535".into(),
        ));
    }
    // The sender: an ENI id, or an address (owned by an ENI, or on the Internet).
    let (src, sender) = match opts.from.parse::<Ipv4Addr>() {
        Ok(a) => (a, sender_of(&cloud, a)),
        Err(_) => {
            let x = cloud
                .eni_index(&opts.from)
                .filter(|x| !cloud.enis[*x].deleted)
                .ok_or_else(|| {
                    AdvisorError::Usage(format!(
                        "--from {:?}: neither an IPv4 address nor an ENI id of the topology",
                        opts.from
                    ))
                })?;
            // The address its guest sends from: its cut-through EIP, else its primary IP.
            let binded = cloud
                .associations_of(x)
                .find(|a| a.mode == Mode::Binded)
                .map(|a| cloud.eips[a.eip].address);
            (binded.unwrap_or(cloud.enis[x].primary_ip), Some(x))
        }
    };
    let src_mac = match sender {
        Some(x) => cloud.enis[x].mac,
        None => cloud.vpc.internet_mac,
    };
    let sport = opts.sport.unwrap_or(DEFAULT_SPORT);
    let l4 = match (proto, dport) {
        ("tcp", Some(d)) => L4::Tcp {
            sport,
            dport: d,
            ack: false,
        },
        ("udp", Some(d)) => L4::Udp { sport, dport: d },
        _ => L4::Echo {
            id: ECHO_ID,
            reply: false,
        },
    };
    let ttl = opts.ttl.unwrap_or(64);
    let dp = Dataplane::new(&cloud);
    let request = leg(
        &cloud,
        &dp,
        build(src_mac, cloud.vpc.gateway_mac, src, dst, ttl, l4),
    );
    let reply = match (request.core.map(|v| v.outcome), &request.delivered) {
        (Some(Outcome::Forward(p, _)), Some(d)) => {
            let mac = match p {
                Port::Internet => cloud.vpc.internet_mac,
                Port::Eni(x) => cloud.enis[x as usize].mac,
            };
            let rl4 = match l4 {
                L4::Tcp { sport, dport, .. } => L4::Tcp {
                    sport: dport,
                    dport: sport,
                    ack: true,
                },
                L4::Udp { sport, dport } => L4::Udp {
                    sport: dport,
                    dport: sport,
                },
                L4::Echo { id, .. } => L4::Echo { id, reply: true },
            };
            let rs: Ipv4Addr = d.dst.parse().expect("an address the core wrote");
            let rd: Ipv4Addr = d.src.parse().expect("an address the core wrote");
            Some(leg(
                &cloud,
                &dp,
                build(mac, cloud.vpc.gateway_mac, rs, rd, 64, rl4),
            ))
        }
        _ => None,
    };
    let mut notes = Vec::new();
    if let Some(d) = dport
        && let Some(p) = crate::alg::identify(
            if proto == "tcp" {
                proto::TCP
            } else {
                proto::UDP
            },
            sport,
            d,
            b"",
        )
    {
        let mode = request
            .core
            .and_then(|v| v.mode)
            .or_else(|| reply.as_ref().and_then(|r| r.core.and_then(|v| v.mode)));
        let embeds = match p {
            crate::alg::Protocol::Sip => "SIP embeds addresses (Via, Contact, SDP c=)",
            crate::alg::Protocol::Ftp => "FTP embeds addresses (PORT, EPRT, 227)",
            crate::alg::Protocol::Rtsp => "RTSP embeds addresses (Transport)",
            crate::alg::Protocol::Dns => "DNS answers carry addresses (A records)",
            crate::alg::Protocol::H323 => "H.323 embeds transport addresses",
            crate::alg::Protocol::Tftp => "TFTP answers from a new port",
        };
        let doc = p.documented().map_or_else(
            || "not named by the provider".to_string(),
            |d| format!("documented: {d}"),
        );
        notes.push(match mode {
            Some(Mode::Nat) => format!(
                "port {d} is {p}: no ALG in NAT mode: {embeds} and the gateway translates the headers only ({doc}); `eipsim replay` on a capture shows what breaks"
            ),
            Some(_) => format!(
                "port {d} is {p}: cut-through and multi-EIP pass the payload unchanged and the OS owns the public address, so embedded addresses are right as sent"
            ),
            None => format!("port {d} is {p}: {embeds}; NAT mode has no ALG ({doc})"),
        });
    }
    let groups = security_groups_defined(&opts.topology);
    if groups > 0 {
        notes.push(format!(
            "the topology defines {groups} security group(s): this trace does not apply them (the verdicts above are the gateway's alone)"
        ));
    }
    let summary = format!(
        "verdict: request {}; {}",
        request.verdict.text,
        match &reply {
            Some(r) => format!("reply {}", r.verdict.text),
            None => "no reply (the request was dropped)".to_string(),
        }
    );
    Ok(Trace {
        topology: opts.topology.display().to_string(),
        request,
        reply,
        notes,
        summary,
    })
}

/// The trace as text, one hop per line; the last line is [`Trace::summary`].
pub fn text(t: &Trace) -> String {
    use std::fmt::Write as _;
    let mut s = String::new();
    let _ = writeln!(
        s,
        "eipsim trace: {} (topology {})",
        t.request.frame.text(),
        t.topology
    );
    let leg = |s: &mut String, name: &str, l: &Leg| {
        let _ = writeln!(
            s,
            "\n{name}: {}, source MAC {}",
            l.frame.text(),
            l.frame.src_mac
        );
        for h in &l.hops {
            let _ = writeln!(s, "  {:<13} {:<5} {}", h.step, h.result, h.detail);
        }
        let _ = writeln!(s, "  {:<13} {:<5} {}", "verdict", "", l.verdict.text);
        if let Some(f) = &l.fix {
            let _ = writeln!(s, "  {:<13} {:<5} {f}", "fix", "");
        }
    };
    leg(&mut s, "request", &t.request);
    match &t.reply {
        Some(r) => leg(&mut s, "reply", r),
        None => {
            let _ = writeln!(s, "\nreply: none (the request was dropped)");
        }
    }
    if !t.notes.is_empty() {
        let _ = writeln!(s, "\nnotes");
        for n in &t.notes {
            let _ = writeln!(s, "  {n}");
        }
    }
    let _ = writeln!(s, "\n{}", t.summary);
    s
}
