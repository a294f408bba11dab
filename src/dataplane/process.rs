//! Per frame: the ingress, the forwarding decision (design.md section 5), the batch functions
//! with their prefetching, and the capture point `instance`'s restoration.

use super::apply::{apply, parse};
use super::{
    Action, AddrEntry, AddrKind, Dataplane, DropReason, Fragment, Frame, IngressHint, Outcome,
    PREFETCH_DISTANCE, Parsed, Plan, Port, Tuple, Verdict, mac_key,
};
use crate::model::Mode;
use crate::wire::link::ethernet;
use crate::wire::plain::{self, PlainFrame};
use crate::wire::{self, Layout, LinkError, LinkType, ipv4};

/// The TCP port the provider blocks outbound by default (`tcp-25-restricted`).
const SMTP_PORT: u16 = 25;

impl Dataplane {
    /// Capture point `instance` (design.md section 5): a frame the instance received through
    /// the gateway is turned back into the frame the Internet sent, in place: destination =
    /// the NAT-mode EIP of the private IP it is addressed to, TTL one higher, the IPv4, L4 and
    /// ICMP checksums updated (RFC 1624), and an ICMP error's quoted source too (RFC 5508).
    /// Returns whether the frame was restored.
    ///
    /// A frame is restored when it does not come from an ENI (not its source MAC, not
    /// `--ingress ENI`), its source lies outside the VPC (a frame from inside never crossed the
    /// gateway) and is no cut-through or multi-EIP address, and its destination is a private
    /// IP with a NAT-mode EIP. A frame with TTL 255 cannot have crossed the gateway and is left
    /// as it is. Frames the instance sent are never touched: they are what the gateway got.
    pub fn restore_received(&self, frame: &mut [u8], link: LinkType) -> bool {
        let from_eni = match self.ingress {
            IngressHint::Fixed(p) => matches!(p, Port::Eni(_)),
            IngressHint::Auto if link.has_macs() => frame
                .get(ethernet::SRC_ADDR)
                .is_some_and(|m| self.mac_port(m) != Port::Internet),
            IngressHint::Auto => false,
        };
        if from_eni {
            return false;
        }
        let Ok(p) = parse(link, frame) else {
            return false;
        };
        if self.in_vpc(p.src) || p.ttl == u8::MAX {
            return false;
        }
        if self
            .public_entry(p.src)
            .is_some_and(|e| matches!(e.kind, AddrKind::EipBinded | AddrKind::EipMulti))
        {
            return false;
        }
        let Some(eip) = self.nat_eip_of(p.dst) else {
            return false;
        };
        apply(
            frame,
            &p,
            &Plan {
                new_src: None,
                new_dst: Some(eip),
                dec_ttl: false,
                inc_ttl: true,
                egress: Port::Internet,
                action: Action::Dnat,
            },
        );
        true
    }
    /// Processes a batch: one verdict per frame, in order. With large tables the table lines
    /// of the frame [`PREFETCH_DISTANCE`] places ahead are prefetched while the current one is
    /// translated, so that the cache misses of several frames overlap.
    pub fn process_batch(&self, frames: &mut [Frame<'_>], verdicts: &mut [Verdict]) {
        assert_eq!(frames.len(), verdicts.len(), "one verdict slot per frame");
        if !self.prefetch {
            for (f, v) in frames.iter_mut().zip(verdicts.iter_mut()) {
                self.process_into(f.data, f.link, v);
            }
            return;
        }
        for f in frames.iter().take(PREFETCH_DISTANCE) {
            self.prefetch_frame(f.data, f.link);
        }
        for i in 0..frames.len() {
            if let Some(ahead) = frames.get(i + PREFETCH_DISTANCE) {
                self.prefetch_frame(ahead.data, ahead.link);
            }
            let f = &mut frames[i];
            self.process_into(f.data, f.link, &mut verdicts[i]);
        }
    }

    /// Processes a packed batch: frame `i` is `buf[ranges[i].0..ranges[i].1]` with link type
    /// `ranges[i].2`. Same semantics and prefetching as [`Dataplane::process_batch`], without
    /// building a slice of frame references (the replay's batches are packed this way).
    pub fn process_packed(
        &self,
        buf: &mut [u8],
        ranges: &[(usize, usize, LinkType)],
        verdicts: &mut [Verdict],
    ) {
        assert_eq!(ranges.len(), verdicts.len(), "one verdict slot per frame");
        if !self.prefetch {
            for (&(s, e, link), v) in ranges.iter().zip(verdicts.iter_mut()) {
                self.process_into(&mut buf[s..e], link, v);
            }
            return;
        }
        for &(s, e, link) in ranges.iter().take(PREFETCH_DISTANCE) {
            self.prefetch_frame(&buf[s..e], link);
        }
        for i in 0..ranges.len() {
            if let Some(&(s, e, link)) = ranges.get(i + PREFETCH_DISTANCE) {
                self.prefetch_frame(&buf[s..e], link);
            }
            let (s, e, link) = ranges[i];
            self.process_into(&mut buf[s..e], link, &mut verdicts[i]);
        }
    }

    /// Prefetches the table lines a frame will touch: its source MAC's (unless the MAC filter
    /// rules it out), its source address's and its destination address's (the EIP bitmap
    /// spares Internet hosts).
    #[inline]
    fn prefetch_frame(&self, data: &[u8], link: LinkType) {
        if link.has_macs()
            && let Some(m) = data.get(ethernet::SRC_ADDR)
            && self.mac_may_be_eni(m)
        {
            self.macs.prefetch(mac_key(m));
        }
        if let Ok(l3) = wire::ipv4_offset(link, data)
            && let Some((src, dst)) = data.get(l3..).and_then(ipv4::addrs_if_captured)
        {
            if self.in_vpc(src) || self.may_be_eip(src) {
                self.addrs.prefetch(src);
            }
            if self.in_vpc(dst) || self.may_be_eip(dst) {
                self.addrs.prefetch(dst);
            }
        }
    }

    /// Processes one frame: decides its fate and, when it is forwarded, rewrites it in place
    /// (addresses, TTL, checksums, MACs). A dropped frame is left unchanged.
    #[inline(always)]
    pub fn process(&self, frame: &mut [u8], link: LinkType) -> Verdict {
        let mut v = Verdict::early_drop(DropReason::Malformed, None);
        self.process_into(frame, link, &mut v);
        v
    }

    /// [`Dataplane::process`] writing the verdict into `v` (the batch functions' slots),
    /// without a copy.
    #[inline(always)]
    fn process_into(&self, frame: &mut [u8], link: LinkType, v: &mut Verdict) {
        if link == LinkType::Ethernet && self.fast_path && self.fast_nat_inbound(frame, v) {
            return;
        }
        self.process_general(frame, link, self.ingress, v);
    }

    /// [`Dataplane::process`] for a frame known to enter from `ingress` whatever its MACs or
    /// addresses say (a frame a guest sent out of one NIC: `replay --respond`).
    pub fn process_from(&self, frame: &mut [u8], link: LinkType, ingress: Port) -> Verdict {
        let mut v = Verdict::early_drop(DropReason::Malformed, None);
        self.process_general(frame, link, IngressHint::Fixed(ingress), &mut v);
        v
    }

    /// The fast path: a plain frame ([`PlainFrame`]) from the Internet to an attached NAT-mode
    /// EIP with a TTL above 1, decided and rewritten through fixed offsets. Returns false,
    /// having written nothing, for any other frame: the general path decides it. The verdict
    /// and the bytes are those of the general path (`tests/properties.rs` compares them).
    #[inline(always)]
    fn fast_nat_inbound(&self, frame: &mut [u8], v: &mut Verdict) -> bool {
        let Some(mut f) = PlainFrame::new(frame) else {
            return false;
        };
        match self.ingress {
            IngressHint::Auto if !self.mac_may_be_eni(f.src_mac()) => {}
            IngressHint::Fixed(Port::Internet) => {}
            _ => return false,
        }
        let dst = f.dst_addr();
        let Some(d) = self.public_entry(dst) else {
            return false;
        };
        if d.kind != AddrKind::EipNat || f.ttl() <= 1 {
            return false;
        }
        let Some(eni) = self.enis.get(d.eni as usize).filter(|e| e.attached) else {
            return false;
        };
        let (sport, dport) = f.ports();
        *v = Verdict {
            outcome: Outcome::Forward(Port::Eni(d.eni), Action::Dnat),
            ingress: Some(Port::Internet),
            tuple: Tuple {
                proto: f.protocol(),
                src: f.src_addr(),
                dst,
                sport,
                dport,
            },
            inside_dst: d.other,
            eni: Some(d.eni),
            mode: Some(Mode::Nat),
            eip: Some(dst),
            fragment: Fragment::Whole,
            layout: Layout::new(plain::L3, plain::L4),
        };
        f.dnat_and_send(d.other, &eni.mac, &self.gateway_mac);
        true
    }

    /// Every frame the fast path leaves: the decision of design.md section 5 in full.
    #[inline(always)]
    fn process_general(
        &self,
        frame: &mut [u8],
        link: LinkType,
        hint: IngressHint,
        v: &mut Verdict,
    ) {
        let mac_ingress = match hint {
            IngressHint::Fixed(p) => Some(p),
            IngressHint::Auto if link.has_macs() && frame.len() >= ethernet::MACS_LEN => {
                Some(self.mac_port(&frame[ethernet::SRC_ADDR]))
            }
            IngressHint::Auto => None,
        };
        let p = match parse(link, frame) {
            Ok(p) => p,
            Err(e) => {
                let reason = match e {
                    LinkError::Malformed => DropReason::Malformed,
                    LinkError::NotIpv4 => DropReason::NotIpv4,
                };
                *v = Verdict::early_drop(reason, mac_ingress);
                return;
            }
        };
        // The source's entry: needed for frames from an ENI (source check, SNAT) and to find
        // the ingress of frames without MACs; never for Ethernet frames from the Internet.
        let mut src_entry = None;
        let ingress = match mac_ingress {
            Some(port) => port,
            None => {
                src_entry = self.addrs.get(p.src);
                match src_entry {
                    Some(e)
                        if matches!(
                            e.kind,
                            AddrKind::Private | AddrKind::EipBinded | AddrKind::EipMulti
                        ) =>
                    {
                        Port::Eni(e.eni)
                    }
                    _ => Port::Internet,
                }
            }
        };
        let tuple = Tuple {
            proto: p.proto,
            src: p.src,
            dst: p.dst,
            sport: p.sport,
            dport: p.dport,
        };
        *v = Verdict {
            outcome: Outcome::Drop(DropReason::Malformed),
            ingress: Some(ingress),
            tuple,
            inside_dst: p.dst,
            eni: None,
            mode: None,
            eip: None,
            fragment: p.fragment,
            layout: p.layout,
        };
        // One call site of `forward` per ingress, so that each is specialised for its plans.
        match ingress {
            Port::Internet => match self.decide_inbound(&p, v) {
                Ok(plan) => self.forward(frame, link, &p, &plan, v),
                Err(r) => v.outcome = Outcome::Drop(r),
            },
            Port::Eni(e) => match self.decide_from_eni(&p, e, src_entry, v) {
                Ok(plan) => self.forward(frame, link, &p, &plan, v),
                Err(r) => v.outcome = Outcome::Drop(r),
            },
        }
    }

    /// Applies a plan to a frame (addresses, TTL, checksums, MACs) and records it in the
    /// verdict.
    #[inline(always)]
    fn forward(&self, frame: &mut [u8], link: LinkType, p: &Parsed, plan: &Plan, v: &mut Verdict) {
        apply(frame, p, plan);
        if link.has_macs() {
            let dst = match plan.egress {
                Port::Internet => self.internet_mac,
                Port::Eni(e) => self.enis[e as usize].mac,
            };
            let macs: &mut [u8; ethernet::MACS_LEN] = (&mut frame[..ethernet::MACS_LEN])
                .try_into()
                .expect("an Ethernet frame that parsed has its MACs");
            macs[ethernet::DST_ADDR].copy_from_slice(&dst);
            macs[ethernet::SRC_ADDR].copy_from_slice(&self.gateway_mac);
        }
        v.outcome = Outcome::Forward(plan.egress, plan.action);
    }

    /// The forwarding decision for a frame from the Internet (design.md section 5), checks in
    /// the documented precedence.
    #[inline(always)]
    fn decide_inbound(&self, p: &Parsed, v: &mut Verdict) -> Result<Plan, DropReason> {
        let (egress, new_dst, mode, guest_ok) = self.inbound(p.dst, self.public_entry(p.dst), v)?;
        if p.ttl <= 1 {
            return Err(DropReason::TtlExpired);
        }
        if !guest_ok {
            return Err(DropReason::GuestNotConfigured);
        }
        Ok(Plan {
            new_src: None,
            new_dst,
            dec_ttl: true,
            inc_ttl: false,
            egress,
            action: if mode == Mode::Nat {
                Action::Dnat
            } else {
                Action::PassThrough
            },
        })
    }

    /// The forwarding decision for a frame from ENI `e` (design.md section 5), checks in the
    /// documented precedence. `src_entry` is the source's entry when it was already looked up.
    #[inline(always)]
    fn decide_from_eni(
        &self,
        p: &Parsed,
        e: u32,
        src_entry: Option<AddrEntry>,
        v: &mut Verdict,
    ) -> Result<Plan, DropReason> {
        let eni = self.enis[e as usize];
        v.eni = Some(e);
        if !eni.attached {
            return Err(DropReason::EniDetached);
        }
        let src = match src_entry {
            Some(s) => Some(s),
            None => self.addrs.get(p.src),
        }
        .filter(|s| s.eni == e);
        // What the source is: a private IP (with its NAT EIP or 0) or an EIP of e.
        let src_nat = match src {
            Some(s) if s.kind == AddrKind::Private && !eni.binded => Some(s.other),
            Some(s) if matches!(s.kind, AddrKind::EipBinded | AddrKind::EipMulti) => {
                v.mode = Some(if s.kind == AddrKind::EipBinded {
                    Mode::Binded
                } else {
                    Mode::MultiBinded
                });
                v.eip = Some(p.src);
                None
            }
            _ => return Err(DropReason::SourceCheck),
        };
        if let Some(eip) = src_nat.filter(|x| *x != 0) {
            v.mode = Some(Mode::Nat);
            v.eip = Some(eip);
        }
        if self.in_vpc(p.dst) {
            let d = match self.addrs.get(p.dst) {
                Some(d) if d.kind == AddrKind::Private => d,
                _ => return Err(DropReason::UnknownDestination),
            };
            let peer = self.enis[d.eni as usize];
            if eni.binded || peer.binded {
                return Err(DropReason::PrivateNetworkUnavailable);
            }
            if !peer.attached {
                return Err(DropReason::EniDetached);
            }
            return Ok(Plan {
                new_src: None,
                new_dst: None,
                dec_ttl: false,
                inc_ttl: false,
                egress: Port::Eni(d.eni),
                action: Action::IntraVpc,
            });
        }
        // Towards the Internet, or back in through an EIP of this VPC (hairpin).
        let dst_entry = self.public_entry(p.dst);
        let mut inbound = None;
        if dst_entry.is_some_and(|d| d.kind != AddrKind::Private) {
            // The destination's own checks come first: eip-not-associated precedes
            // no-public-address, and eni-detached follows it.
            let mut scratch = *v;
            match self.inbound(p.dst, dst_entry, &mut scratch) {
                Err(DropReason::EipNotAssociated) => {
                    return Err(DropReason::EipNotAssociated);
                }
                r => inbound = Some(r),
            }
        }
        let new_src = match src_nat {
            Some(0) => return Err(DropReason::NoPublicAddress),
            Some(eip) => Some(eip),
            None => None,
        };
        // The provider's block of outbound SMTP (towards the Internet, not a hairpin).
        if inbound.is_none()
            && p.proto == wire::proto::TCP
            && p.first_fragment
            && p.dport == SMTP_PORT
            && !self.tcp25_unblocked
        {
            return Err(DropReason::Tcp25Restricted);
        }
        let (egress, new_dst, guest_ok, action) = match inbound {
            None => (
                Port::Internet,
                None,
                true,
                if new_src.is_some() {
                    Action::Snat
                } else {
                    Action::PassThrough
                },
            ),
            Some(r) => {
                let (egress, new_dst, _, guest_ok) = r?;
                if let Some(d) = new_dst {
                    v.inside_dst = d;
                }
                (egress, new_dst, guest_ok, Action::Hairpin)
            }
        };
        if p.ttl <= 1 {
            return Err(DropReason::TtlExpired);
        }
        if !guest_ok {
            return Err(DropReason::GuestNotConfigured);
        }
        Ok(Plan {
            new_src,
            new_dst,
            dec_ttl: true,
            inc_ttl: false,
            egress,
            action,
        })
    }

    /// The checks of a frame arriving from the Internet at `dst` (whose table entry is `d`):
    /// egress, DNAT target, mode and whether the guest is configured for it.
    #[inline(always)]
    fn inbound(
        &self,
        dst: u32,
        d: Option<AddrEntry>,
        v: &mut Verdict,
    ) -> Result<(Port, Option<u32>, Mode, bool), DropReason> {
        let d = d.ok_or(DropReason::UnknownDestination)?;
        let mode = match d.kind {
            AddrKind::Private => return Err(DropReason::UnknownDestination),
            AddrKind::EipUnassociated => {
                v.eip = Some(dst);
                return Err(DropReason::EipNotAssociated);
            }
            AddrKind::EipNat => {
                // Both sides of the gateway share the inside view: the private address.
                v.inside_dst = d.other;
                Mode::Nat
            }
            AddrKind::EipBinded => Mode::Binded,
            AddrKind::EipMulti => Mode::MultiBinded,
        };
        v.eni = Some(d.eni);
        v.mode = Some(mode);
        v.eip = Some(dst);
        let eni = self.enis[d.eni as usize];
        if !eni.attached {
            return Err(DropReason::EniDetached);
        }
        let (new_dst, guest_ok) = match mode {
            Mode::Nat => (Some(d.other), true),
            Mode::Binded => (None, eni.dhcp),
            // Seed 003: multi-EIP needs DHCP on the instance too, and the EIP configured.
            Mode::MultiBinded => (None, d.configured && eni.dhcp),
        };
        Ok((Port::Eni(d.eni), new_dst, mode, guest_ok))
    }
}
