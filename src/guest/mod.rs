//! The instances behind the ENIs: one smoltcp [`Interface`](smoltcp::iface::Interface) per
//! attached NIC, holding the addresses the guest OS holds in each mode, the VPC's DHCP server
//! that gives a cut-through NIC its EIP, the guest's routing, and the services it answers
//! (`replay --respond`).
//!
//! The guests are driven from outside in capture time: [`Guests::deliver`] hands a guest a
//! frame the gateway delivered to one of its NICs, [`Guests::tick`] runs its timers, and what
//! they send comes back in [`Emitted`] for the frame pass. The provider's side of the NIC's
//! link is modelled here too: the gateway answers the guest's ARP requests for any address
//! but the NIC's own (not written to any output), and the VPC's DHCP server answers a
//! cut-through NIC's DHCP client ([`dhcp`]); its answers go to the ENI's output.

pub mod device;
pub mod dhcp;
pub mod link;
pub mod nic;
pub mod plan;
pub mod route;
pub mod services;
pub mod view;

use std::net::Ipv4Addr;

use smoltcp::wire::ArpOperation;

use crate::model::Cloud;
use crate::model::guest_cfg::{Connect, Service};

use nic::Nic;
use plan::{Addressing, NicPlan};
use route::Table;

/// Rounds of polling a NIC gets per event before it is left for the next one (each round
/// moves a DHCP exchange or a handshake one step; a chain this long is a loop).
const ROUNDS: usize = 32;

/// Who produced a frame on a NIC's link.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Emit {
    /// The guest sent it out of the NIC: it enters the frame pass from that ENI.
    Sent,
    /// The VPC's DHCP server answered the NIC: it goes to the ENI (its output), already
    /// delivered to the guest.
    Served,
}

/// Frames the guests' side produced, in the order produced: (ENI index, who, Ethernet frame).
#[derive(Default)]
pub struct Emitted {
    /// The frames.
    pub frames: Vec<(usize, Emit, Vec<u8>)>,
}

/// What the guests' side did that no output shows.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counts {
    /// ARP requests of the guests the gateway answered.
    pub arp_answered: u64,
    /// DHCP client messages the VPC's server received.
    pub dhcp_received: u64,
    /// DHCP answers it sent.
    pub dhcp_answered: u64,
    /// Frames delivered to a guest.
    pub delivered: u64,
    /// Frames the guests sent.
    pub sent: u64,
}

/// A connection the guest opened (`connect` of `[[instance]]`) and the way it left.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Opened {
    /// What was asked.
    pub connect: Connect,
    /// The NIC it left by (name) and its source address, when it could leave at all.
    pub left: Option<(String, Ipv4Addr)>,
    /// The route or rule that chose the NIC, or why none could.
    pub route: String,
}

/// One instance's guest.
pub struct Guest {
    /// Index in the cloud's instances.
    pub instance: usize,
    /// Its NICs, `eth0` first (None: a NIC smoltcp cannot hold).
    pub nics: Vec<Option<Nic>>,
    /// The NICs as planned (one per entry of `nics`).
    pub plans: Vec<NicPlan>,
    /// Its routing.
    pub table: Table,
    /// The connections it opened.
    pub opened: Vec<Opened>,
    next_port: u16,
    cfg: crate::model::guest_cfg::GuestConfig,
    eni_ids: Vec<String>,
}

impl Guest {
    /// What the topology says its guest runs.
    pub fn config(&self) -> &crate::model::guest_cfg::GuestConfig {
        &self.cfg
    }

    /// Rebuilds the routing table from the addresses the NICs hold now (a lease came or went).
    fn refresh_table(&mut self) {
        let addrs: Vec<Vec<(Ipv4Addr, u8)>> = self
            .nics
            .iter()
            .map(|n| n.as_ref().map(Nic::addrs).unwrap_or_default())
            .collect();
        self.table = Table::new(&self.plans, &addrs, &self.cfg, &self.eni_ids);
    }
}

/// The guests of every instance of a cloud.
pub struct Guests {
    guests: Vec<Guest>,
    /// ENI index -> (guest, NIC).
    by_eni: Vec<Option<(usize, usize)>>,
    gateway_mac: [u8; 6],
    started: bool,
    /// The earliest timer of any NIC (capture nanoseconds).
    wake: Option<i64>,
    /// Instances past this many get no stack (a view that lists only the first ones).
    limit: usize,
    /// What the guests' side did that no output shows.
    pub counts: Counts,
}

fn nanos(i: smoltcp::time::Instant) -> i64 {
    i.total_micros().saturating_mul(1000)
}

impl Guests {
    /// The guests of `cloud`'s instances, not started.
    pub fn new(cloud: &Cloud) -> Guests {
        Guests::first(cloud, usize::MAX)
    }

    /// The guests of `cloud`'s first `limit` instances (the others get no stack), not started.
    pub fn first(cloud: &Cloud, limit: usize) -> Guests {
        let mut g = Guests {
            limit,
            guests: Vec::new(),
            by_eni: Vec::new(),
            gateway_mac: cloud.vpc.gateway_mac.0,
            started: false,
            wake: None,
            counts: Counts::default(),
        };
        g.follow(cloud, None);
        g
    }

    /// The guests as they stand.
    pub fn guests(&self) -> &[Guest] {
        &self.guests
    }

    /// The guest and NIC of ENI `eni`, if it is attached.
    pub fn nic_of(&self, eni: usize) -> Option<(&Guest, Option<&Nic>)> {
        let (g, n) = (*self.by_eni.get(eni)?)?;
        let guest = &self.guests[g];
        Some((guest, guest.nics[n].as_ref()))
    }

    /// Follows a changed cloud: an instance whose NICs' plan changed boots again (new
    /// addresses, a new DHCP exchange); the others keep their state. `now_ns`: when (None:
    /// before the replay starts).
    pub fn follow(&mut self, cloud: &Cloud, now_ns: Option<i64>) -> Emitted {
        let mut out = Emitted::default();
        let mut old: Vec<Option<Guest>> = std::mem::take(&mut self.guests)
            .into_iter()
            .map(Some)
            .collect();
        let attached = plan::attached(cloud);
        for ii in 0..cloud.instances.len() {
            let plans = plan::nics(cloud, ii, &attached[ii]);
            let same = old
                .get(ii)
                .and_then(Option::as_ref)
                .is_some_and(|g| g.plans == plans && g.instance == ii);
            let g = if same {
                old[ii].take().expect("checked")
            } else if ii >= self.limit {
                Guest {
                    instance: ii,
                    nics: Vec::new(),
                    plans: Vec::new(),
                    table: Table::default(),
                    opened: Vec::new(),
                    next_port: 40_000,
                    cfg: Default::default(),
                    eni_ids: Vec::new(),
                }
            } else {
                let before = old.get_mut(ii).and_then(Option::take);
                self.boot(cloud, ii, plans, now_ns.unwrap_or(0), before)
            };
            self.guests.push(g);
        }
        self.by_eni = vec![None; cloud.enis.len()];
        for (gi, g) in self.guests.iter().enumerate() {
            for (ni, p) in g.plans.iter().enumerate() {
                self.by_eni[p.eni] = Some((gi, ni));
            }
        }
        if let Some(now) = now_ns
            && self.started
        {
            self.run_all(now, &mut out);
        }
        out
    }

    /// The guest of instance `ii` with NICs `plans`: a NIC whose plan is unchanged from
    /// `before` (the guest as it was) keeps its stack, connections and lease; the others boot.
    fn boot(
        &self,
        cloud: &Cloud,
        ii: usize,
        plans: Vec<NicPlan>,
        now_ns: i64,
        before: Option<Guest>,
    ) -> Guest {
        let inst = &cloud.instances[ii];
        let icmp = inst.guest.serves(Service::Icmp);
        let (mut kept, opened, next_port) = match before {
            Some(b) if b.instance == ii => (
                b.plans.into_iter().zip(b.nics).collect::<Vec<_>>(),
                b.opened,
                b.next_port,
            ),
            _ => (Vec::new(), Vec::new(), 40_000),
        };
        let nics: Vec<Option<Nic>> = plans
            .iter()
            .map(|p| {
                if let Some(k) = kept.iter().position(|(q, n)| q == p && n.is_some()) {
                    return kept.swap_remove(k).1;
                }
                let banner = format!(
                    "eipsim guest {} on {} ({})\n",
                    inst.id, p.name, cloud.enis[p.eni].id
                );
                Nic::new(
                    p.clone(),
                    &inst.guest.services,
                    self.gateway_mac,
                    banner,
                    now_ns,
                )
                .map(|mut n| {
                    n.set_icmp(icmp);
                    n
                })
            })
            .collect();
        let mut g = Guest {
            instance: ii,
            table: Table::default(),
            eni_ids: plans.iter().map(|p| cloud.enis[p.eni].id.clone()).collect(),
            nics,
            plans,
            opened,
            next_port,
            cfg: inst.guest.clone(),
        };
        g.refresh_table();
        g
    }

    /// Boots the guests at `now_ns` and lets them settle (DHCP clients take their lease),
    /// without opening connections: what a view of the guests needs.
    pub fn settle(&mut self, now_ns: i64) -> Emitted {
        let mut out = Emitted::default();
        self.started = true;
        self.run_all(now_ns, &mut out);
        out
    }

    /// Starts the guests at `now_ns` (the first frame's time): DHCP clients ask for their
    /// lease, the gateway's ARP entry is taught, the connections of `connect` are opened.
    pub fn start(&mut self, cloud: &Cloud, now_ns: i64) -> Emitted {
        let mut out = self.settle(now_ns);
        for gi in 0..self.guests.len() {
            let connects = cloud.instances[self.guests[gi].instance]
                .guest
                .connect
                .clone();
            for c in connects {
                self.open(gi, &c, now_ns, &mut out);
            }
        }
        out
    }

    /// Whether the guests have started.
    pub fn started(&self) -> bool {
        self.started
    }

    /// When the earliest timer of any NIC is due (capture nanoseconds), once started.
    pub fn next_wake(&self) -> Option<i64> {
        self.wake.filter(|_| self.started)
    }

    fn run_all(&mut self, now_ns: i64, out: &mut Emitted) {
        for gi in 0..self.guests.len() {
            for ni in 0..self.guests[gi].nics.len() {
                self.run(gi, ni, now_ns, out);
            }
        }
        self.rewake(now_ns);
    }

    fn rewake(&mut self, now_ns: i64) {
        self.wake = None;
        for g in &mut self.guests {
            for n in g.nics.iter_mut().flatten() {
                if let Some(t) = n.poll_at(now_ns).map(nanos) {
                    self.wake = Some(self.wake.map_or(t, |w| w.min(t)));
                }
            }
        }
    }

    /// Runs one NIC until it is quiet: polls it, answers its ARP requests and DHCP messages
    /// (the provider's side of the link), and collects what it sends.
    fn run(&mut self, gi: usize, ni: usize, now_ns: i64, out: &mut Emitted) {
        let gateway_mac = self.gateway_mac;
        let counts = &mut self.counts;
        let Some(nic) = self.guests[gi].nics[ni].as_mut() else {
            return;
        };
        let eni = nic.plan.eni;
        let held = nic.held;
        nic.teach_gateway(now_ns);
        let lease = match &nic.plan.addressing {
            Addressing::Dhcp(l) => Some(*l),
            _ => None,
        };
        let mut answer = Vec::new();
        for _ in 0..ROUNDS {
            let more = nic.step(now_ns);
            let tx = std::mem::take(&mut nic.dev.tx);
            let mut fed = false;
            for f in tx {
                if let Some((mac, sender, target)) = nic::arp_request(&f) {
                    let own = nic.addrs().iter().any(|(a, _)| *a == target);
                    if !own {
                        let reply = nic::arp_frame(
                            ArpOperation::Reply,
                            (gateway_mac, target),
                            (mac, sender),
                            mac,
                        );
                        nic.dev.push_rx(&reply);
                        counts.arp_answered += 1;
                        fed = true;
                    }
                } else if f.get(12..14) == Some(&[0x08, 0x06]) {
                    // The guest's ARP reply to the gateway: the gateway learns nothing new.
                } else if dhcp::is_client_message(&f) {
                    counts.dhcp_received += 1;
                    answer.clear();
                    let server = dhcp::Server {
                        mac: gateway_mac,
                        server: lease.map_or(nic.plan.gateway, |l| l.gateway),
                    };
                    if let Ok(Some(_)) =
                        dhcp::answer(&f, nic.plan.mac, lease.as_ref(), &server, &mut answer)
                        && !answer.is_empty()
                    {
                        counts.dhcp_answered += 1;
                        nic.dev.push_rx(&answer);
                        out.frames.push((eni, Emit::Served, answer.clone()));
                        fed = true;
                    }
                } else {
                    counts.sent += 1;
                    out.frames.push((eni, Emit::Sent, f));
                    continue;
                }
                nic.dev.recycle(f);
            }
            if !more && !fed {
                break;
            }
        }
        if nic.held != held {
            self.guests[gi].refresh_table();
        }
    }

    /// Hands the guest of ENI `eni` a frame the gateway delivered to it (an untagged Ethernet
    /// frame) at `now_ns`; what it sends is added to `out`. False when no guest holds the ENI.
    pub fn deliver(&mut self, eni: usize, eth: &[u8], now_ns: i64, out: &mut Emitted) -> bool {
        let Some(Some((gi, ni))) = self.by_eni.get(eni).copied() else {
            return false;
        };
        let Some(nic) = self.guests[gi].nics[ni].as_mut() else {
            return false;
        };
        self.counts.delivered += 1;
        nic.teach_gateway(now_ns);
        nic.deliver(eth);
        self.run(gi, ni, now_ns, out);
        if let Some(t) = self.guests[gi].nics[ni]
            .as_mut()
            .and_then(|n| n.poll_at(now_ns))
            .map(nanos)
        {
            self.wake = Some(self.wake.map_or(t, |w| w.min(t)));
        }
        true
    }

    /// Runs the guests' timers due at `now_ns` (retransmissions, DHCP renewals).
    pub fn tick(&mut self, now_ns: i64, out: &mut Emitted) {
        if !self.started || self.wake.is_none_or(|w| w > now_ns) {
            return;
        }
        for gi in 0..self.guests.len() {
            for ni in 0..self.guests[gi].nics.len() {
                let due = self.guests[gi].nics[ni]
                    .as_mut()
                    .and_then(|n| n.poll_at(now_ns))
                    .is_some_and(|t| nanos(t) <= now_ns);
                if due {
                    self.run(gi, ni, now_ns, out);
                }
            }
        }
        self.rewake(now_ns);
    }

    /// Opens `c` from guest `gi`: the NIC by the routing table (a source rule first), the
    /// source address bound or the NIC's first.
    fn open(&mut self, gi: usize, c: &Connect, now_ns: i64, out: &mut Emitted) {
        let g = &mut self.guests[gi];
        let taken = g.table.lookup(*c.to.ip(), c.from);
        let opened = match taken {
            None => Opened {
                connect: c.clone(),
                left: None,
                route: "no route (network unreachable)".into(),
            },
            Some(t) => {
                let own = |a: Ipv4Addr| {
                    g.nics
                        .iter()
                        .flatten()
                        .any(|n| n.addrs().iter().any(|x| x.0 == a))
                };
                let foreign = c.from.filter(|a| !own(*a));
                let nic = g.nics[t.nic].as_mut();
                let src = c
                    .from
                    .or_else(|| nic.as_ref().and_then(|n| n.addrs().first().map(|a| a.0)));
                match (nic, src) {
                    (_, Some(a)) if foreign == Some(a) => Opened {
                        connect: c.clone(),
                        left: None,
                        route: format!(
                            "{}; cannot bind {a}: no NIC of this host holds it (EADDRNOTAVAIL)",
                            t.why
                        ),
                    },
                    (Some(n), Some(src)) => {
                        let port = g.next_port;
                        g.next_port = g.next_port.wrapping_add(1).max(40_000);
                        let name = n.plan.name.clone();
                        match n.open(c, src, port) {
                            Ok(()) => Opened {
                                connect: c.clone(),
                                left: Some((name, src)),
                                route: t.why,
                            },
                            Err(e) => Opened {
                                connect: c.clone(),
                                left: None,
                                route: format!("{}; {e}", t.why),
                            },
                        }
                    }
                    _ => Opened {
                        connect: c.clone(),
                        left: None,
                        route: format!("{}; the NIC has no address to send from", t.why),
                    },
                }
            }
        };
        let nic = opened
            .left
            .as_ref()
            .and_then(|(name, _)| g.plans.iter().position(|p| &p.name == name));
        g.opened.push(opened);
        if let Some(ni) = nic {
            self.run(gi, ni, now_ns, out);
        }
        self.rewake(now_ns);
    }
}
