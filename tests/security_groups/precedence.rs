//! Where the groups' checks sit among the drops: "The sender's `security-group` (egress) comes
//! right after `source-check`"; "`ttl-expired`, the receiver's `security-group`,
//! `guest-not-configured`"; "Intra-VPC: the sender's egress, then the receiver's ingress".

use crate::kit::*;

/// Every ENI of the topology in an enterprise group without rules: nothing in, nothing out.
fn closed() -> String {
    let members: Vec<(&str, &str)> = ALL.iter().map(|e| (e.id, "\"sg-closed\"")).collect();
    topo(&members, &group("sg-closed", "enterprise", "", &[]))
}

/// "A frame leaving ENI e is checked against e's egress rules right after `source-check`": a
/// spoofed source is still `source-check`, and a frame from a detached ENI's MAC is still
/// `eni-detached` (the ingress checks come first).
#[test]
fn source_check_and_eni_detached_precede_the_senders_egress() {
    let t = closed();
    assert_eq!(
        fate_of(&t, udp(NAT.mac, [172, 16, 0, 99], 1, CLIENT, 2)),
        "drop source-check"
    );
    // A cut-through ENI owns no private IP: its primary IP as a source is spoofed.
    assert_eq!(
        fate_of(&t, udp(CUT.mac, CUT.ip, 1, CLIENT, 2)),
        "drop source-check"
    );
    assert_eq!(
        fate_of(&t, udp(DETACHED.mac, DETACHED.ip, 1, CLIENT, 2)),
        "drop eni-detached"
    );
}

/// "The sender's `security-group` (egress) comes right after `source-check`": before the
/// destination's checks, `tcp-25-restricted` and `ttl-expired`. Each frame drops its own reason
/// without groups and `security-group` when the sender's egress refuses it.
#[test]
fn the_senders_egress_precedes_every_later_drop() {
    let cases: [(&str, Vec<u8>); 8] = [
        (
            "unknown-destination",
            udp(NAT.mac, NAT.ip, 1, [172, 16, 5, 5], 2),
        ),
        ("eip-not-associated", udp(NAT.mac, NAT.ip, 1, FREE_EIP, 2)),
        (
            "private-network-unavailable",
            udp(NAT.mac, NAT.ip, 1, CUT.ip, 2),
        ),
        ("no-public-address", udp(PEER.mac, PEER.ip, 1, CLIENT, 2)),
        ("eni-detached", udp(NAT.mac, NAT.ip, 1, DETACHED.ip, 2)),
        (
            "tcp-25-restricted",
            tcp(NAT.mac, NAT.ip, 40000, CLIENT, 25, true),
        ),
        ("ttl-expired", ttl(udp(NAT.mac, NAT.ip, 1, CLIENT, 2), 1)),
        (
            "guest-not-configured",
            udp(NAT.mac, NAT.ip, 1, CUT_NODHCP.eip.unwrap(), 2),
        ),
    ];
    for (reason, f) in cases {
        assert_eq!(
            fate_of(BASE, f.clone()),
            format!("drop {reason}"),
            "{reason}"
        );
        assert_eq!(
            fate_of(&closed(), f),
            "drop security-group",
            "egress refused over {reason}"
        );
    }
}

/// An accepting egress (a basic group's default) leaves the later drops as they are.
#[test]
fn an_accepted_egress_keeps_the_later_drops() {
    let t = topo(
        &[("eni-nat", "\"sg-b\""), ("eni-peer", "\"sg-b\"")],
        &group("sg-b", "basic", "", &[]),
    );
    assert_eq!(
        fate_of(&t, ttl(udp(NAT.mac, NAT.ip, 1, CLIENT, 2), 1)),
        "drop ttl-expired"
    );
    assert_eq!(
        fate_of(&t, tcp(NAT.mac, NAT.ip, 40000, CLIENT, 25, true)),
        "drop tcp-25-restricted"
    );
    assert_eq!(
        fate_of(&t, udp(PEER.mac, PEER.ip, 1, CLIENT, 2)),
        "drop no-public-address"
    );
    assert_eq!(
        fate_of(&t, udp(NAT.mac, NAT.ip, 1, CLIENT, 2)),
        "snat internet"
    );
}

/// "a frame arriving at ENI e ... against e's ingress rules after `ttl-expired`": TTL 1 to a
/// filtered ENI (from the Internet, and through a hairpin) is `ttl-expired`; TTL 2 reaches the
/// check and is `security-group`.
#[test]
fn ttl_expired_precedes_the_receivers_ingress() {
    let t = topo(
        &[("eni-cut", "\"sg-closed\"")],
        &group("sg-closed", "enterprise", "", &[]),
    );
    let cut = CUT.eip.unwrap();
    for (what, f) in [
        ("internet", udp(INET, CLIENT, 1, cut, 2)),
        ("hairpin", udp(NAT.mac, NAT.ip, 1, cut, 2)),
    ] {
        assert_eq!(fate_of(&t, ttl(f.clone(), 1)), "drop ttl-expired", "{what}");
        assert_eq!(fate_of(&t, ttl(f, 2)), "drop security-group", "{what}");
    }
}

/// A basic group on the no-DHCP ENIs that admits udp/7000 only.
fn nodhcp_groups() -> String {
    topo(
        &[
            ("eni-cut-nodhcp", "\"sg-7000\""),
            ("eni-multi-nodhcp", "\"sg-7000\""),
        ],
        &group(
            "sg-7000",
            "basic",
            "",
            &[rule(
                "ingress",
                "accept",
                1,
                "udp",
                "7000/7000",
                "0.0.0.0/0",
            )],
        ),
    )
}

/// "against e's ingress rules after `ttl-expired`, before `guest-not-configured`": a
/// cut-through ENI of an instance without DHCP (and a multi-EIP one, "Multi-EIP needs DHCP
/// too") drops a frame its group refuses `security-group`, and one its group admits
/// `guest-not-configured`; from the Internet and through a hairpin.
#[test]
fn the_receivers_ingress_precedes_guest_not_configured() {
    let t = nodhcp_groups();
    for eni in [CUT_NODHCP, MULTI_NODHCP] {
        let eip = eni.eip.unwrap();
        for (what, from, src) in [("internet", INET, CLIENT), ("hairpin", NAT.mac, NAT.ip)] {
            assert_eq!(
                fate_of(&t, udp(from, src, 1, eip, 7001)),
                "drop security-group",
                "{} {what}",
                eni.id
            );
            assert_eq!(
                fate_of(&t, udp(from, src, 1, eip, 7000)),
                "drop guest-not-configured",
                "{} {what}",
                eni.id
            );
        }
    }
}

/// "Multi-EIP needs DHCP too ... a MULTI_BINDED ENI of an instance with `dhcp = false` drops
/// inbound frames `guest-not-configured`". Without groups this is
/// `tests/topology.rs::multi_eip_needs_dhcp_on_the_instance` (the demo's multi-EIP ENI with
/// and without DHCP); here: with an unfiltered ENI of this topology, and next to the same
/// ENI's cut-through neighbour with DHCP, which delivers.
#[test]
fn multi_eip_without_dhcp_is_guest_not_configured() {
    assert_eq!(
        fate_of(BASE, udp(INET, CLIENT, 1, MULTI_NODHCP.eip.unwrap(), 7000)),
        "drop guest-not-configured"
    );
    assert_eq!(
        fate_of(BASE, udp(INET, CLIENT, 1, MULTI.eip.unwrap(), 7000)),
        "pass-through eni-multi"
    );
}

/// eni-nat's egress and eni-peer's ingress, each admitting or refusing.
fn intra(nat_out: bool, peer_in: bool) -> String {
    let accept = |dir: &str, on: bool| {
        if on {
            vec![rule(dir, "accept", 1, "udp", "-1/-1", "172.16.0.0/12")]
        } else {
            Vec::new()
        }
    };
    topo(
        &[("eni-nat", "\"sg-a\""), ("eni-peer", "\"sg-b\"")],
        &(group("sg-a", "enterprise", "", &accept("egress", nat_out))
            + &group("sg-b", "enterprise", "", &accept("ingress", peer_in))),
    )
}

/// "Intra-VPC: the sender's egress, then the receiver's ingress": each can refuse, and the drop
/// comment names the group and direction that did; when both would, the sender's egress.
#[test]
fn intra_vpc_checks_the_senders_egress_then_the_receivers_ingress() {
    let frames = [(0, udp(NAT.mac, NAT.ip, 1000, PEER.ip, 2000))];
    for (out, inn, want) in [
        (true, true, None),
        (false, true, Some("security-group: sg-a egress default")),
        (true, false, Some("security-group: sg-b ingress default")),
        (false, false, Some("security-group: sg-a egress default")),
    ] {
        let r = replay(
            &format!("intra-{out}-{inn}"),
            &intra(out, inn),
            &frames,
            None,
        );
        match want {
            None => assert_eq!(r.fates, ["intra-vpc eni-peer"]),
            Some(c) => {
                assert_eq!(r.fates, ["drop security-group"], "{out} {inn}");
                assert_eq!(r.comment(0), c);
            }
        }
    }
}

/// "the destination's checks (`unknown-destination`, `eip-not-associated`,
/// `private-network-unavailable`, `no-public-address`, `eni-detached`, ...)" come before "the
/// receiver's `security-group`": with every possible receiver closed and the sender not
/// filtered, these drops keep their reasons.
#[test]
fn the_destinations_checks_precede_the_receivers_ingress() {
    let members: Vec<(&str, &str)> = ALL
        .iter()
        .filter(|e| e.id != "eni-nat")
        .map(|e| (e.id, "\"sg-closed\""))
        .collect();
    let t = topo(&members, &group("sg-closed", "enterprise", "", &[]));
    for (reason, f) in [
        (
            "unknown-destination",
            udp(INET, CLIENT, 1, [47, 0, 0, 99], 2),
        ),
        (
            "unknown-destination",
            udp(NAT.mac, NAT.ip, 1, [172, 16, 5, 5], 2),
        ),
        ("eip-not-associated", udp(INET, CLIENT, 1, FREE_EIP, 2)),
        (
            "private-network-unavailable",
            udp(NAT.mac, NAT.ip, 1, CUT.ip, 2),
        ),
        ("eni-detached", udp(NAT.mac, NAT.ip, 1, DETACHED.ip, 2)),
    ] {
        assert_eq!(fate_of(&t, f), format!("drop {reason}"));
    }
}

/// "An accepted frame opens or refreshes a session": the sender's egress check accepts the
/// frame before the later drops are decided, so a frame that then drops (`ttl-expired`,
/// `tcp-25-restricted`) has opened its session at the ENI, and the answer comes in under an
/// ingress that admits nothing. A frame the egress refuses opens none.
#[test]
fn an_accepted_egress_opens_its_session_before_later_drops() {
    let t = topo(
        &[("eni-nat", "\"sg-o\"")],
        &group(
            "sg-o",
            "enterprise",
            "",
            &[rule("egress", "accept", 1, "all", "-1/-1", &host(CLIENT))],
        ),
    );
    let eip = NAT.eip.unwrap();
    let got = fates(
        &t,
        &[
            ttl(udp(NAT.mac, NAT.ip, 5000, CLIENT, 33434), 1),
            udp(INET, CLIENT, 33434, eip, 5000),
            tcp(NAT.mac, NAT.ip, 40000, CLIENT, 25, true),
            tcp(INET, CLIENT, 25, eip, 40000, false),
            udp(NAT.mac, NAT.ip, 5000, CLIENT2, 33434),
            udp(INET, CLIENT2, 33434, eip, 5000),
        ],
    );
    assert_eq!(
        got,
        [
            "drop ttl-expired",
            "dnat eni-nat",
            "drop tcp-25-restricted",
            "dnat eni-nat",
            "drop security-group",
            "drop security-group",
        ]
    );
}
