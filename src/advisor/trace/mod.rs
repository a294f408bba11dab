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
//! attached, source check, destination, public address, the provider's SMTP block, TTL, guest)
//! and names the entry that decided each step. The verdict printed is always the core's: when
//! the walk would have concluded otherwise, a `core` step says so and the core's verdict stands.
//! The security groups' checks (the frame pass's stage after the core) come in their places:
//! the sender's egress right after the source check, the receiver's ingress before the guest;
//! the request runs first, so a session it opened admits the reply.

mod fix;
mod groups;
mod leg;
mod walk;

use std::net::Ipv4Addr;
use std::path::PathBuf;

use serde::Serialize;

use super::AdvisorError;
use crate::dataplane::{Dataplane, Outcome, Port, Verdict};
use crate::model::{Cloud, Mode};
use crate::wire::proto;

use leg::{L4, build, leg, sender_of};

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
    /// What it is beyond its addresses: the TCP flags (`SYN`, `SYN-ACK`, `RST-ACK`...) or
    /// the ICMP message (`echo request`, `port unreachable`...).
    pub kind: String,
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
            "{} {} -> {} {} TTL {}",
            self.protocol,
            ep(&self.src, self.sport),
            ep(&self.dst, self.dport),
            self.kind,
            self.ttl
        )
    }
}

/// One step of the walk.
#[derive(Clone, Debug, Serialize)]
pub struct Hop {
    /// `ingress`, `eni`, `source-check`, `destination`, `public`, `hairpin`, `smtp`, `ttl`,
    /// `security-group`, `guest`, `translation`, `egress` or `core`.
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
    /// The frame's bytes as the gateway delivered them, when forwarded (not serialised).
    #[serde(skip)]
    pub delivered_bytes: Vec<u8>,
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
    let tables = crate::groups::GroupTables::new(&cloud);
    let mut groups = tables
        .any()
        .then(|| crate::groups::GroupStage::new(std::sync::Arc::new(tables), 16));
    let request = leg(
        &cloud,
        &dp,
        &mut groups,
        build(src_mac, cloud.vpc.gateway_mac, src, dst, ttl, l4),
    );
    // Delivered to an ENI: its instance's guest stack answers (what `replay --respond` runs).
    let mut guest_note = None;
    let answer = match request.core.map(|v| v.outcome) {
        Some(Outcome::Forward(Port::Eni(x), _)) if !request.delivered_bytes.is_empty() => {
            let mut guests = crate::guest::view::settled(&cloud);
            let mut out = crate::guest::Emitted::default();
            let x = x as usize;
            let who = guests.nic_of(x).map(|(g, n)| {
                (
                    cloud.instances[g.instance].id.clone(),
                    n.map_or_else(String::new, |n| n.plan.name.clone()),
                )
            });
            if guests.deliver(x, &request.delivered_bytes, 0, &mut out) {
                let sent = out
                    .frames
                    .into_iter()
                    .find(|(e, k, _)| *e == x && *k == crate::guest::Emit::Sent)
                    .map(|f| f.2);
                let (inst, nic) = who.unwrap_or_default();
                let refused = sent.as_deref().and_then(refusal);
                guest_note = Some(match &sent {
                    Some(_) if refused.is_some() => format!(
                        "reply: sent by the guest of {inst} on {nic}: {} (nothing listens there: add it to the instance's `services` to model a server)",
                        refused.unwrap_or_default()
                    ),
                    Some(_) => format!(
                        "reply: sent by the guest of {inst} on {nic} (its IP stack and services, as replay --respond runs them)"
                    ),
                    None => format!(
                        "no reply: the guest of {inst} on {nic} sent nothing back (see its services in eipsim check)"
                    ),
                });
                Some(sent)
            } else {
                None
            }
        }
        _ => None,
    };
    let reply = match answer {
        Some(Some(bytes)) => Some(leg(&cloud, &dp, &mut groups, bytes)),
        Some(None) => None,
        None => match (request.core.map(|v| v.outcome), &request.delivered) {
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
                    &mut groups,
                    build(mac, cloud.vpc.gateway_mac, rs, rd, 64, rl4),
                ))
            }
            _ => None,
        },
    };
    let mut notes: Vec<String> = guest_note.into_iter().collect();
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
    if groups.is_some() {
        notes.push(
            "security groups: the reply is checked after the request, so a session the request opened admits it (stateful groups)".to_string(),
        );
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

/// What a guest's answer says when it refuses the request: a TCP reset or an ICMP port
/// unreachable (an untagged Ethernet frame).
fn refusal(eth: &[u8]) -> Option<String> {
    let ip = eth.get(14..)?;
    let l4 = ip.get(usize::from(ip.first()? & 0x0f) * 4..)?;
    match ip.get(9)? {
        6 if l4.get(13)? & 0x04 != 0 => Some(format!(
            "a reset: tcp/{} is not in its services",
            u16::from_be_bytes([*l4.first()?, *l4.get(1)?])
        )),
        1 if l4.first() == Some(&3) && l4.get(1) == Some(&3) => {
            let q = l4.get(8..)?;
            let qu = q.get(usize::from(q.first()? & 0x0f) * 4..)?;
            Some(format!(
                "ICMP port unreachable: udp/{} is not in its services",
                u16::from_be_bytes([*qu.get(2)?, *qu.get(3)?])
            ))
        }
        _ => None,
    }
}
