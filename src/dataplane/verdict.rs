//! What the core decides for a frame.

use std::fmt;

use crate::model::Mode;
use crate::wire::Layout;

/// Why a frame was dropped. Stable kebab-case names (design.md section 4); the discriminant is
/// the counter index. The declaration order is not the precedence order: see design.md sec. 5.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, PartialOrd, Ord)]
#[repr(u8)]
pub enum DropReason {
    /// Link or IPv4 header cut short or invalid.
    Malformed = 0,
    /// IPv6 or not IP.
    NotIpv4,
    /// Destination is not an EIP (from the Internet) or has no owner (inside the VPC).
    UnknownDestination,
    /// Destination is an EIP without an association.
    EipNotAssociated,
    /// The ENI concerned is not attached to an instance.
    EniDetached,
    /// Source address not owned by the ENI the frame came from (anti-spoofing).
    SourceCheck,
    /// A private address without a NAT association sends to the Internet.
    NoPublicAddress,
    /// A cut-through ENI on either side of intra-VPC traffic.
    PrivateNetworkUnavailable,
    /// The guest OS is not configured for the address (no DHCP; multi-EIP not configured).
    GuestNotConfigured,
    /// TTL <= 1 on arrival at the gateway.
    TtlExpired,
    /// The frame's capture interface has a link type eipsim does not replay (a pcapng
    /// interface); decided by the reader, never by the core.
    UnsupportedLink,
    /// A security group of the sending ENI (egress) or of the receiving ENI (ingress) refused
    /// the frame; decided by the frame pass's security-group stage, never by the core.
    SecurityGroup,
    /// Outbound TCP to port 25 of an Internet address: the provider blocks it unless the
    /// account has it lifted (`[account] tcp25_unblocked`).
    Tcp25Restricted,
}

impl DropReason {
    /// Every reason, in counter-index order.
    pub const ALL: [DropReason; 13] = [
        DropReason::Malformed,
        DropReason::NotIpv4,
        DropReason::UnknownDestination,
        DropReason::EipNotAssociated,
        DropReason::EniDetached,
        DropReason::SourceCheck,
        DropReason::NoPublicAddress,
        DropReason::PrivateNetworkUnavailable,
        DropReason::GuestNotConfigured,
        DropReason::TtlExpired,
        DropReason::UnsupportedLink,
        DropReason::SecurityGroup,
        DropReason::Tcp25Restricted,
    ];

    /// Number of reasons (size of a counter array).
    pub const COUNT: usize = DropReason::ALL.len();

    /// The counter index.
    pub fn index(self) -> usize {
        self as usize
    }

    /// The stable kebab-case name.
    pub fn as_str(self) -> &'static str {
        match self {
            DropReason::Malformed => "malformed",
            DropReason::NotIpv4 => "not-ipv4",
            DropReason::UnknownDestination => "unknown-destination",
            DropReason::EipNotAssociated => "eip-not-associated",
            DropReason::EniDetached => "eni-detached",
            DropReason::SourceCheck => "source-check",
            DropReason::NoPublicAddress => "no-public-address",
            DropReason::PrivateNetworkUnavailable => "private-network-unavailable",
            DropReason::GuestNotConfigured => "guest-not-configured",
            DropReason::TtlExpired => "ttl-expired",
            DropReason::UnsupportedLink => "unsupported-link",
            DropReason::SecurityGroup => "security-group",
            DropReason::Tcp25Restricted => "tcp-25-restricted",
        }
    }
}

impl fmt::Display for DropReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where a frame comes from or goes to: the Internet side of the gateway or one ENI.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum Port {
    /// The Internet side.
    Internet,
    /// An ENI, by index into [`crate::model::Cloud::enis`].
    Eni(u32),
}

/// How to decide a frame's ingress.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub enum IngressHint {
    /// By source MAC (Ethernet) or by the owner of the source address (other link types).
    #[default]
    Auto,
    /// Every frame comes from this port (`--ingress`).
    Fixed(Port),
}

/// Where a capture was taken (`replay --capture-point`).
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub enum CapturePoint {
    /// At the gateway: the Internet side's frames carry EIPs.
    #[default]
    Gateway,
    /// On an instance (tcpdump in the guest): frames it received through NAT carry its
    /// private IP and are turned back into the Internet's frames before the core sees them.
    Instance,
}

impl CapturePoint {
    /// The option's value: `gateway` or `instance`.
    pub fn as_str(self) -> &'static str {
        match self {
            CapturePoint::Gateway => "gateway",
            CapturePoint::Instance => "instance",
        }
    }
}

impl std::str::FromStr for CapturePoint {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "gateway" => Ok(CapturePoint::Gateway),
            "instance" => Ok(CapturePoint::Instance),
            _ => Err(format!(
                "{s:?}: the capture point is `gateway` or `instance`"
            )),
        }
    }
}

/// What the gateway did to a forwarded frame.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum Action {
    /// Internet to a NAT-mode EIP: destination translated.
    Dnat,
    /// A NAT-mode private IP to the Internet: source translated.
    Snat,
    /// Cut-through or multi-EIP traffic, unchanged but for TTL and MACs.
    PassThrough,
    /// ENI to ENI inside the VPC, unchanged (TTL kept).
    IntraVpc,
    /// ENI to an EIP of the same VPC: out through the gateway and back in.
    Hairpin,
}

impl Action {
    /// A short lower-case name.
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Dnat => "dnat",
            Action::Snat => "snat",
            Action::PassThrough => "pass-through",
            Action::IntraVpc => "intra-vpc",
            Action::Hairpin => "hairpin",
        }
    }
}

/// The result for one frame.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Outcome {
    /// Sent out of this port (the frame was rewritten in place).
    Forward(Port, Action),
    /// Dropped for this reason (the frame is unchanged).
    Drop(DropReason),
}

/// Addresses and ports of a frame, host byte order, for flow accounting.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Default)]
pub struct Tuple {
    /// IP protocol (0 when the frame is not IPv4).
    pub proto: u8,
    /// Source address.
    pub src: u32,
    /// Destination address.
    pub dst: u32,
    /// Source port (ICMP queries: the identifier; otherwise 0 when there is none).
    pub sport: u16,
    /// Destination port (ICMP queries: the identifier).
    pub dport: u16,
}

/// Whether a frame is an IPv4 fragment, and which.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Default)]
pub enum Fragment {
    /// A whole datagram.
    #[default]
    Whole,
    /// The fragment at offset 0 (it carries the L4 header), with the datagram's identification.
    First(u16),
    /// A later fragment (no L4 header, so no ports), with the datagram's identification.
    Later(u16),
}

/// The core's verdict for one frame.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Verdict {
    /// Forwarded where, or dropped why.
    pub outcome: Outcome,
    /// The port it came from (`None` when the frame is not parseable IPv4 and has no MAC).
    pub ingress: Option<Port>,
    /// The frame's addresses and ports as they arrived.
    pub tuple: Tuple,
    /// The destination as seen inside the VPC: a NAT-mode EIP destination is replaced by its
    /// private IP (DNAT, hairpin, and frames to it dropped at the gateway). The source is always
    /// seen as it is (see [`Verdict::inside`]).
    pub inside_dst: u32,
    /// The ENI on the VPC side of the frame (the sender for ENI traffic, the receiver otherwise).
    pub eni: Option<u32>,
    /// The association mode concerned, if any.
    pub mode: Option<Mode>,
    /// The EIP concerned (host order), if any.
    pub eip: Option<u32>,
    /// Whether the frame is an IPv4 fragment (later fragments carry no ports: the report joins
    /// them to their first fragment's flow).
    pub fragment: Fragment,
    /// Where the frame's IPv4 and L4 headers are, as the core parsed them
    /// ([`Layout::NONE`] when the frame did not parse as IPv4): read the frame through it
    /// (`v.layout.payload(frame)`, `v.layout.tcp_seq(frame)`, `v.layout.l4_payload(frame)`)
    /// instead of parsing it again. The core's rewriting moves no header, so it holds for the
    /// frame before and after.
    pub layout: Layout,
}

impl Verdict {
    /// A verdict for a frame dropped before anything about it was known.
    pub fn early_drop(reason: DropReason, ingress: Option<Port>) -> Verdict {
        Verdict {
            outcome: Outcome::Drop(reason),
            ingress,
            tuple: Tuple::default(),
            inside_dst: 0,
            eni: None,
            mode: None,
            eip: None,
            fragment: Fragment::Whole,
            layout: Layout::NONE,
        }
    }

    /// The frame's addresses and ports as seen inside the VPC. Both directions and both sides
    /// of the gateway of one connection share this view, so it keys the report's flows.
    pub fn inside(&self) -> Tuple {
        Tuple {
            dst: self.inside_dst,
            ..self.tuple
        }
    }

    /// The drop reason, if dropped.
    pub fn drop_reason(&self) -> Option<DropReason> {
        match self.outcome {
            Outcome::Drop(r) => Some(r),
            Outcome::Forward(..) => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The verdict is copied per frame: the layout fits in what was padding.
    #[test]
    fn verdict_stays_one_cache_line() {
        assert_eq!(std::mem::size_of::<Layout>(), 2);
        assert!(std::mem::size_of::<Verdict>() <= 64);
    }
}
