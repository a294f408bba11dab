//! "Security groups filter at the ENI, on addresses and ports as the ENI sees them (after DNAT
//! inbound, before SNAT outbound)", and the hairpin: "a frame arriving at ENI e (from the
//! Internet, a hairpin or another ENI)" is checked as e sees it.

use crate::kit::*;

/// eni-nat in an enterprise group that lets in only tcp/8080 from CLIENT and lets nothing
/// out.
fn nat_service() -> String {
    topo(
        &[("eni-nat", "\"sg-svc\"")],
        &group(
            "sg-svc",
            "enterprise",
            "",
            &[rule(
                "ingress",
                "accept",
                1,
                "tcp",
                "8080/8080",
                &host(CLIENT),
            )],
        ),
    )
}

/// "on addresses and ports as the ENI sees them (after DNAT inbound)": a connection to the NAT
/// EIP is matched on the source and destination port (the rule's CIDR is the client /32); its
/// session is keyed by the private IP, so the ENI's reply from 172.16.0.10 passes although the
/// enterprise group's egress denies everything.
#[test]
fn inbound_to_a_nat_eip_is_filtered_as_the_eni_sees_it() {
    let eip = NAT.eip.unwrap();
    let got = fates(
        &nat_service(),
        &[
            tcp(INET, CLIENT, 40000, eip, 8080, true),
            // The reply from the private IP: the session of the accepted SYN.
            tcp(NAT.mac, NAT.ip, 8080, CLIENT, 40000, false),
            // Another client, another port: no rule, enterprise default.
            tcp(INET, CLIENT2, 40000, eip, 8080, true),
            tcp(INET, CLIENT, 40001, eip, 8081, true),
            // A new connection out of the ENI: no session, egress denies.
            tcp(NAT.mac, NAT.ip, 8080, CLIENT2, 40000, false),
        ],
    );
    assert_eq!(
        got,
        [
            "dnat eni-nat",
            "snat internet",
            "drop security-group",
            "drop security-group",
            "drop security-group",
        ]
    );
}

/// "before SNAT outbound": a datagram the ENI sends from its private IP opens a session keyed by
/// that IP; the answer, addressed to the EIP and DNATed, belongs to it and passes an ingress
/// that admits nothing.
#[test]
fn outbound_sessions_are_keyed_by_the_private_ip() {
    let t = topo(
        &[("eni-nat", "\"sg-out\"")],
        &group(
            "sg-out",
            "enterprise",
            "",
            &[rule("egress", "accept", 1, "udp", "53/53", "0.0.0.0/0")],
        ),
    );
    let eip = NAT.eip.unwrap();
    let got = fates(
        &t,
        &[
            udp(NAT.mac, NAT.ip, 5353, CLIENT, 53),
            udp(INET, CLIENT, 53, eip, 5353),
            // The same answer to another port of the EIP: no session.
            udp(INET, CLIENT, 53, eip, 5354),
            // Out to another port: the egress rule does not cover it.
            udp(NAT.mac, NAT.ip, 5353, CLIENT, 54),
        ],
    );
    assert_eq!(
        got,
        [
            "snat internet",
            "dnat eni-nat",
            "drop security-group",
            "drop security-group"
        ]
    );
}

/// Cut-through and multi-EIP ENIs see their EIPs: an ingress rule on the destination port
/// admits the frame to the EIP, unchanged; the reply from the EIP is in the session.
#[test]
fn cut_through_and_multi_eip_enis_see_their_eips() {
    let t = topo(
        &[("eni-cut", "\"sg-ssh\""), ("eni-multi", "\"sg-ssh\"")],
        &group(
            "sg-ssh",
            "enterprise",
            "",
            &[rule("ingress", "accept", 1, "tcp", "22/22", "0.0.0.0/0")],
        ),
    );
    let (cut, multi) = (CUT.eip.unwrap(), MULTI.eip.unwrap());
    let got = fates(
        &t,
        &[
            tcp(INET, CLIENT, 40000, cut, 22, true),
            tcp(CUT.mac, cut, 22, CLIENT, 40000, false),
            tcp(INET, CLIENT, 40000, multi, 22, true),
            tcp(MULTI.mac, multi, 22, CLIENT, 40000, false),
            tcp(INET, CLIENT, 40000, MULTI_EIP2, 23, true),
        ],
    );
    assert_eq!(
        got,
        [
            "pass-through eni-cut",
            "pass-through internet",
            "pass-through eni-multi",
            "pass-through internet",
            "drop security-group",
        ]
    );
}

/// eni-web's group admits tcp/22 from one /32 only; eni-nat is not filtered.
fn hairpin_to_web(cidr: &str) -> String {
    topo(
        &[("eni-web", "\"sg-web\"")],
        &group(
            "sg-web",
            "basic",
            "",
            &[rule("ingress", "accept", 1, "tcp", "22/22", cidr)],
        ),
    )
}

/// Hairpin ("D an EIP of this VPC: SNAT first, then handled as from the Internet"): the receiver
/// sees the sender's EIP as the source, so a rule with cidr = the sender's EIP /32 admits the
/// frame, and one with the sender's private IP does not.
#[test]
fn a_hairpin_receiver_sees_the_senders_eip() {
    let f = || tcp(NAT.mac, NAT.ip, 40000, WEB.eip.unwrap(), 22, true);
    assert_eq!(
        fate_of(&hairpin_to_web(&host(NAT.eip.unwrap())), f()),
        "hairpin eni-web"
    );
    assert_eq!(
        fate_of(&hairpin_to_web(&host(NAT.ip)), f()),
        "drop security-group"
    );
    // From a cut-through ENI the source is its own EIP, unchanged.
    let g = || tcp(CUT.mac, CUT.eip.unwrap(), 40000, WEB.eip.unwrap(), 22, true);
    assert_eq!(
        fate_of(&hairpin_to_web(&host(CUT.eip.unwrap())), g()),
        "hairpin eni-web"
    );
    assert_eq!(
        fate_of(&hairpin_to_web(&host(CUT.ip)), g()),
        "drop security-group"
    );
}

/// A hairpin's round trip between two filtered ENIs: the sender's session (to the receiver's
/// EIP) lets the reply in, which arrives from the receiver's EIP; the receiver's session (from
/// the sender's EIP) lets its reply out although its egress denies everything.
#[test]
fn a_hairpin_round_trip_follows_both_sessions() {
    let t = topo(
        &[("eni-nat", "\"sg-client\""), ("eni-web", "\"sg-server\"")],
        &(group(
            "sg-client",
            "enterprise",
            "",
            &[rule("egress", "accept", 1, "tcp", "22/22", "47.0.0.0/24")],
        ) + &group(
            "sg-server",
            "enterprise",
            "",
            &[rule(
                "ingress",
                "accept",
                1,
                "tcp",
                "22/22",
                &host(NAT.eip.unwrap()),
            )],
        )),
    );
    let (a, b) = (NAT.eip.unwrap(), WEB.eip.unwrap());
    let got = fates(
        &t,
        &[
            tcp(NAT.mac, NAT.ip, 40000, b, 22, true),
            tcp(WEB.mac, WEB.ip, 22, a, 40000, false),
            tcp(NAT.mac, NAT.ip, 40000, b, 22, false),
            // Not part of the session: eni-web's egress denies, eni-nat's ingress too.
            tcp(WEB.mac, WEB.ip, 22, a, 40001, false),
        ],
    );
    assert_eq!(
        got,
        [
            "hairpin eni-web",
            "hairpin eni-nat",
            "hairpin eni-web",
            "drop security-group"
        ]
    );
}

/// eni-nat (enterprise) lets tcp/22 out to `cidr` only.
fn egress_to(cidr: &str) -> String {
    topo(
        &[("eni-nat", "\"sg-o\"")],
        &group(
            "sg-o",
            "enterprise",
            "",
            &[rule("egress", "accept", 1, "tcp", "22/22", cidr)],
        ),
    )
}

/// "(before SNAT outbound)" and "the peer's address in `cidr`" for egress, the destination as
/// the ENI sees it: towards another ENI's EIP (hairpin) the rule must name that EIP, not the
/// private IP it maps to; towards the Internet, the Internet host.
#[test]
fn egress_rules_match_the_destination_as_the_eni_sees_it() {
    let hairpin = || tcp(NAT.mac, NAT.ip, 40000, WEB.eip.unwrap(), 22, true);
    assert_eq!(
        fate_of(&egress_to(&host(WEB.eip.unwrap())), hairpin()),
        "hairpin eni-web"
    );
    assert_eq!(
        fate_of(&egress_to(&host(WEB.ip)), hairpin()),
        "drop security-group"
    );
    let t = egress_to(&host(CLIENT));
    let got = fates(
        &t,
        &[
            tcp(NAT.mac, NAT.ip, 40000, CLIENT, 22, true),
            tcp(NAT.mac, NAT.ip, 40000, CLIENT2, 22, true),
            tcp(NAT.mac, NAT.ip, 40000, CLIENT, 23, true),
        ],
    );
    assert_eq!(
        got,
        [
            "snat internet",
            "drop security-group",
            "drop security-group"
        ]
    );
}

/// With `--capture-point instance` a frame the instance received (addressed to its private IP)
/// is first turned back into the frame the Internet sent, then filtered like any other: the
/// client's connection to the service passes, its reply goes out in the session, another
/// client is refused.
#[test]
fn instance_captures_are_filtered_after_restoring() {
    use eipsim::advisor::QuietReplay;
    use eipsim::dataplane::CapturePoint;
    use eipsim::wire::LinkType;
    let t = nat_service();
    let c = cloud(&t);
    let mut q = QuietReplay::new(&c, None, CapturePoint::Instance);
    let got: Vec<String> = [
        ttl(tcp(INET, CLIENT, 40000, NAT.ip, 8080, true), 63),
        tcp(NAT.mac, NAT.ip, 8080, CLIENT, 40000, false),
        ttl(tcp(INET, CLIENT2, 40000, NAT.ip, 8080, true), 63),
    ]
    .iter()
    .map(|f| fate(&c, &q.push(f, LinkType::Ethernet)))
    .collect();
    assert_eq!(
        got,
        ["dnat eni-nat", "snat internet", "drop security-group"]
    );
}
