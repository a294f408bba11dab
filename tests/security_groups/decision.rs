//! "A check decides, first match wins: (1) the frame belongs to a tracked session, either
//! direction, or is an ICMP error quoting one: accept; (2) basic group with inner access accept
//! and the peer is an ENI of the same group: accept; (3) the rules of all e's groups for that
//! direction, by priority, drop before accept at equal priority: the first that matches
//! (protocol, destination port, the peer's address in `cidr` or in `group`); (4) default:
//! basic, ingress drop and egress accept; enterprise, drop both."

use crate::kit::*;

/// "(1) the frame belongs to a tracked session, either direction": a session opened by an
/// accepted outbound frame lets the answer in over an explicit ingress drop rule, and one
/// opened inbound lets the answer out over an explicit egress drop rule.
#[test]
fn a_session_wins_over_drop_rules_in_either_direction() {
    let t = topo(
        &[("eni-cut", "\"sg-s\"")],
        &group(
            "sg-s",
            "enterprise",
            "",
            &[
                rule("ingress", "drop", 1, "tcp", "-1/-1", "0.0.0.0/0"),
                rule("ingress", "accept", 2, "udp", "-1/-1", "0.0.0.0/0"),
                rule("egress", "drop", 1, "udp", "-1/-1", "0.0.0.0/0"),
                rule("egress", "accept", 2, "tcp", "-1/-1", "0.0.0.0/0"),
            ],
        ),
    );
    let eip = CUT.eip.unwrap();
    let got = fates(
        &t,
        &[
            // TCP: opened outbound, the answer in.
            tcp(CUT.mac, eip, 40000, CLIENT, 443, true),
            tcp(INET, CLIENT, 443, eip, 40000, false),
            tcp(INET, CLIENT, 443, eip, 40001, false),
            // UDP: opened inbound, the answer out.
            udp(INET, CLIENT, 5000, eip, 53),
            udp(CUT.mac, eip, 53, CLIENT, 5000),
            udp(CUT.mac, eip, 53, CLIENT, 5001),
            // An echo request out: no egress rule covers ICMP, the enterprise default refuses.
            ping(CUT.mac, eip, CLIENT, 7, false),
        ],
    );
    assert_eq!(
        got,
        [
            "pass-through internet",
            "pass-through eni-cut",
            "drop security-group",
            "pass-through eni-cut",
            "pass-through internet",
            "drop security-group",
            "drop security-group",
        ]
    );
}

/// "ICMP echo: the identifier" keys the session: the reply with the request's identifier comes
/// back in through an ingress that admits nothing; another identifier does not.
#[test]
fn echo_sessions_are_keyed_by_the_identifier() {
    let t = topo(
        &[("eni-nat", "\"sg-ping\"")],
        &group(
            "sg-ping",
            "enterprise",
            "",
            &[rule("egress", "accept", 1, "icmp", "-1/-1", "0.0.0.0/0")],
        ),
    );
    let eip = NAT.eip.unwrap();
    let got = fates(
        &t,
        &[
            ping(NAT.mac, NAT.ip, CLIENT, 0x1234, false),
            ping(INET, CLIENT, eip, 0x1234, true),
            ping(INET, CLIENT, eip, 0x1235, true),
        ],
    );
    assert_eq!(
        got,
        ["snat internet", "dnat eni-nat", "drop security-group"]
    );
}

/// Members of one basic group on eni-nat, eni-web and eni-peer, its inner access as given,
/// with an ingress drop rule for the whole VPC at the highest priority.
fn inner(access: &str) -> String {
    let m = [
        ("eni-nat", "\"sg-in\""),
        ("eni-web", "\"sg-in\""),
        ("eni-peer", "\"sg-in\""),
    ];
    topo(
        &m,
        &group(
            "sg-in",
            "basic",
            &format!("inner_access = \"{access}\""),
            &[rule("ingress", "drop", 1, "all", "-1/-1", "172.16.0.0/12")],
        ),
    )
}

/// "(2) basic group with inner access accept and the peer is an ENI of the same group: accept",
/// before the rules (a drop rule for the VPC's CIDR does not stop members); with
/// `inner_access = "drop"` the rules decide. A non-member (eni-multi, unfiltered) is refused.
#[test]
fn inner_access_lets_members_reach_each_other_over_the_vpc() {
    let f = || udp(PEER.mac, PEER.ip, 1000, WEB.ip, 2000);
    let g = || udp(NAT.mac, NAT.ip, 1000, PEER.ip, 2000);
    let outsider = || udp(MULTI.mac, MULTI.ip, 1000, WEB.ip, 2000);
    let on = fates(&inner("accept"), &[f(), g(), outsider()]);
    assert_eq!(
        on,
        [
            "intra-vpc eni-web",
            "intra-vpc eni-peer",
            "drop security-group"
        ]
    );
    let off = fates(&inner("drop"), &[f(), g()]);
    assert_eq!(off, ["drop security-group", "drop security-group"]);
    // The default, inner access accept, without the drop rule.
    let t = topo(
        &[("eni-web", "\"sg-d\""), ("eni-peer", "\"sg-d\"")],
        &group("sg-d", "basic", "", &[]),
    );
    assert_eq!(fate_of(&t, f()), "intra-vpc eni-web");
}

/// eni-web in `groups` (defined in `defs`); fates of tcp/80 from CLIENT to its EIP.
fn tcp80(groups: &str, defs: &str) -> String {
    let t = topo(&[("eni-web", groups)], defs);
    fate_of(&t, tcp(INET, CLIENT, 40000, WEB.eip.unwrap(), 80, true))
}

/// "(3) the rules ... by priority, drop before accept at equal priority: the first that
/// matches": 1 is the highest priority; at equal priority a drop wins over an accept, within a
/// group and across "all e's groups".
#[test]
fn rules_by_priority_drop_before_accept_at_equal_priority() {
    let two = |a: (&str, u8), d: (&str, u8)| {
        group(
            "sg-p",
            "basic",
            "",
            &[
                rule("ingress", a.0, a.1, "tcp", "80/80", "0.0.0.0/0"),
                rule("ingress", d.0, d.1, "tcp", "80/80", "0.0.0.0/0"),
            ],
        )
    };
    let ok = "dnat eni-web";
    let no = "drop security-group";
    assert_eq!(tcp80("\"sg-p\"", &two(("accept", 2), ("drop", 1))), no);
    assert_eq!(tcp80("\"sg-p\"", &two(("drop", 2), ("accept", 1))), ok);
    assert_eq!(tcp80("\"sg-p\"", &two(("accept", 5), ("drop", 5))), no);
    assert_eq!(tcp80("\"sg-p\"", &two(("drop", 5), ("accept", 5))), no);
    assert_eq!(tcp80("\"sg-p\"", &two(("accept", 1), ("drop", 100))), ok);
    // Across two groups of the ENI.
    let pair = |drop_priority: u8| {
        group(
            "sg-x",
            "basic",
            "",
            &[rule("ingress", "accept", 5, "tcp", "80/80", "0.0.0.0/0")],
        ) + &group(
            "sg-y",
            "basic",
            "",
            &[rule(
                "ingress",
                "drop",
                drop_priority,
                "tcp",
                "80/80",
                "0.0.0.0/0",
            )],
        )
    };
    assert_eq!(tcp80("\"sg-x\", \"sg-y\"", &pair(5)), no);
    assert_eq!(tcp80("\"sg-x\", \"sg-y\"", &pair(6)), ok);
    assert_eq!(tcp80("\"sg-y\", \"sg-x\"", &pair(4)), no);
}

/// "the first that matches (protocol, destination port, the peer's address in `cidr` ...)":
/// a rule for another protocol, port or source is skipped and the next decides.
#[test]
fn a_rule_matches_protocol_destination_port_and_peer() {
    let defs = group(
        "sg-m",
        "basic",
        "",
        &[
            rule("ingress", "drop", 1, "udp", "80/80", "0.0.0.0/0"),
            rule("ingress", "drop", 1, "tcp", "81/90", "0.0.0.0/0"),
            rule("ingress", "drop", 1, "tcp", "80/80", "203.0.113.0/24"),
            rule("ingress", "drop", 1, "tcp", "-1/-1", &host(CLIENT)),
            rule("ingress", "accept", 2, "tcp", "1/80", "198.51.100.0/24"),
        ],
    );
    let t = topo(&[("eni-web", "\"sg-m\"")], &defs);
    let eip = WEB.eip.unwrap();
    let got = fates(
        &t,
        &[
            // From another host of CLIENT's /24 to port 80: rules 1 to 4 do not match.
            tcp(INET, [198, 51, 100, 8], 40000, eip, 80, true),
            // The source port is not what a rule matches.
            tcp(INET, [198, 51, 100, 8], 85, eip, 79, true),
            tcp(INET, [198, 51, 100, 8], 40000, eip, 85, true),
            tcp(INET, CLIENT2, 40000, eip, 80, true),
            tcp(INET, CLIENT, 40000, eip, 80, true),
        ],
    );
    assert_eq!(
        got,
        [
            "dnat eni-web",
            "dnat eni-web",
            "drop security-group",
            "drop security-group",
            "drop security-group",
        ]
    );
}

/// "(4) default: basic, ingress drop and egress accept; enterprise, drop both."
#[test]
fn defaults_basic_ingress_drop_egress_accept_enterprise_both_drop() {
    for (kind, out) in [
        ("basic", "snat internet"),
        ("enterprise", "drop security-group"),
    ] {
        let t = topo(&[("eni-nat", "\"sg-0\"")], &group("sg-0", kind, "", &[]));
        let got = fates(
            &t,
            &[
                udp(INET, CLIENT, 1000, NAT.eip.unwrap(), 2000),
                udp(NAT.mac, NAT.ip, 3000, CLIENT, 4000),
            ],
        );
        assert_eq!(got, ["drop security-group", out], "{kind}");
    }
}

/// "the peer's address ... in `group`": a rule whose peer is a group matches the addresses of
/// that group's ENIs over the VPC: the private IPs of its members (primary and secondary,
/// intra-VPC); not a cut-through member's EIP (a hairpin comes through the gateway, from a
/// public address), not a non-member.
#[test]
fn a_group_peer_matches_the_member_enis_addresses() {
    let t = topo(
        &[
            ("eni-web", "\"sg-web\""),
            ("eni-peer", "\"sg-app\""),
            ("eni-cut", "\"sg-app\""),
        ],
        &(group(
            "sg-web",
            "basic",
            "",
            &[rule("ingress", "accept", 1, "tcp", "80/80", "group:sg-app")],
        ) + &group("sg-app", "basic", "", &[])),
    );
    let got = fates(
        &t,
        &[
            tcp(PEER.mac, PEER.ip, 40000, WEB.ip, 80, true),
            tcp(PEER.mac, PEER_IP2, 40000, WEB.ip, 80, true),
            tcp(CUT.mac, CUT.eip.unwrap(), 40000, WEB.eip.unwrap(), 80, true),
            tcp(MULTI.mac, MULTI.ip, 40000, WEB.ip, 80, true),
            tcp(INET, CLIENT, 40000, WEB.eip.unwrap(), 80, true),
            // The rule is for tcp/80 only.
            tcp(PEER.mac, PEER.ip, 40000, WEB.ip, 81, true),
        ],
    );
    assert_eq!(
        got,
        [
            "intra-vpc eni-web",
            "intra-vpc eni-web",
            "drop security-group",
            "drop security-group",
            "drop security-group",
            "drop security-group",
        ]
    );
}

/// "(1) ... or is an ICMP error quoting one: accept": a UDP flow eni-nat opened; an Internet
/// router's time-exceeded and the server's port-unreachable quoting it come in under a group
/// whose ingress drops ICMP; an error quoting a flow without a session does not.
#[test]
fn an_icmp_error_quoting_a_session_is_accepted() {
    let t = topo(
        &[("eni-nat", "\"sg-icmp\"")],
        &group(
            "sg-icmp",
            "enterprise",
            "",
            &[
                rule("ingress", "drop", 1, "icmp", "-1/-1", "0.0.0.0/0"),
                rule("egress", "accept", 1, "udp", "-1/-1", "0.0.0.0/0"),
            ],
        ),
    );
    let eip = NAT.eip.unwrap();
    let got = fates(
        &t,
        &[
            udp(NAT.mac, NAT.ip, 5000, CLIENT, 33434),
            icmp_error(INET, (ROUTER, eip), false, (eip, 5000), (CLIENT, 33434)),
            icmp_error(INET, (CLIENT, eip), true, (eip, 5000), (CLIENT, 33434)),
            icmp_error(INET, (CLIENT, eip), true, (eip, 5001), (CLIENT, 33434)),
            ping(INET, CLIENT, eip, 1, false),
        ],
    );
    assert_eq!(
        got,
        [
            "snat internet",
            "dnat eni-nat",
            "dnat eni-nat",
            "drop security-group",
            "drop security-group",
        ]
    );
}

/// The other direction: a flow the group admitted inbound; the ENI's port-unreachable quoting
/// it goes out although the enterprise group's egress denies everything.
#[test]
fn an_outbound_icmp_error_quoting_a_session_is_accepted() {
    let t = topo(
        &[("eni-nat", "\"sg-in\"")],
        &group(
            "sg-in",
            "enterprise",
            "",
            &[rule(
                "ingress",
                "accept",
                1,
                "udp",
                "8080/8080",
                "0.0.0.0/0",
            )],
        ),
    );
    let got = fates(
        &t,
        &[
            udp(INET, CLIENT, 40000, NAT.eip.unwrap(), 8080),
            icmp_error(
                NAT.mac,
                (NAT.ip, CLIENT),
                true,
                (CLIENT, 40000),
                (NAT.ip, 8080),
            ),
            icmp_error(
                NAT.mac,
                (NAT.ip, CLIENT),
                true,
                (CLIENT, 40001),
                (NAT.ip, 8080),
            ),
        ],
    );
    assert_eq!(
        got,
        ["dnat eni-nat", "snat internet", "drop security-group"]
    );
}

/// "An accepted frame opens or refreshes a session keyed by its 5-tuple": a later IPv4 fragment
/// carries no ports but belongs to its first fragment's datagram; it passes with an admitted
/// first fragment (inbound under an ingress rule for the port, outbound under an enterprise
/// egress rule) and is refused with a refused one.
#[test]
fn later_fragments_follow_their_first_fragment() {
    let t = topo(
        &[("eni-nat", "\"sg-f\"")],
        &group(
            "sg-f",
            "enterprise",
            "",
            &[
                rule("ingress", "accept", 1, "udp", "7000/7000", "0.0.0.0/0"),
                rule("egress", "accept", 1, "udp", "9000/9000", "0.0.0.0/0"),
            ],
        ),
    );
    let eip = NAT.eip.unwrap();
    let [a1, a2] = fragments(INET, CLIENT, 40000, eip, 7000);
    let [b1, b2] = fragments(INET, CLIENT2, 40000, eip, 7001);
    let [c1, c2] = fragments(NAT.mac, NAT.ip, 40000, CLIENT2, 9000);
    let [d1, d2] = fragments(NAT.mac, NAT.ip, 40000, CLIENT2, 9001);
    let got = fates(&t, &[a1, a2, b1, b2, c1, c2, d1, d2]);
    assert_eq!(
        got,
        [
            "dnat eni-nat",
            "dnat eni-nat",
            "drop security-group",
            "drop security-group",
            "snat internet",
            "snat internet",
            "drop security-group",
            "drop security-group",
        ]
    );
}

/// An IP datagram of protocol `proto` (no ports), TTL 64.
fn raw(from: [u8; 6], src: [u8; 4], dst: [u8; 4], proto: u8) -> Vec<u8> {
    let mut v = Vec::new();
    etherparse::PacketBuilder::ethernet2(from, GW)
        .ipv4(src, dst, 64)
        .write(
            &mut v,
            etherparse::IpNumber(proto),
            &[0, 0, 0x08, 0, 1, 2, 3, 4],
        )
        .unwrap();
    v
}

/// "the first that matches (protocol, ...)" for the protocols without ports: a `gre` rule
/// admits GRE (IP protocol 47) only, an `all` rule any protocol (here ESP, 50); their answers
/// go out in the session.
#[test]
fn gre_and_all_rules_match_protocols_without_ports() {
    let t = topo(
        &[("eni-nat", "\"sg-gre\""), ("eni-web", "\"sg-all\"")],
        &(group(
            "sg-gre",
            "enterprise",
            "",
            &[rule("ingress", "accept", 1, "gre", "-1/-1", &host(CLIENT))],
        ) + &group(
            "sg-all",
            "enterprise",
            "",
            &[rule("ingress", "accept", 1, "all", "-1/-1", &host(CLIENT))],
        )),
    );
    let (a, b) = (NAT.eip.unwrap(), WEB.eip.unwrap());
    let got = fates(
        &t,
        &[
            raw(INET, CLIENT, a, 47),
            raw(NAT.mac, NAT.ip, CLIENT, 47),
            raw(INET, CLIENT, a, 50),
            raw(INET, CLIENT2, a, 47),
            raw(INET, CLIENT, b, 50),
            raw(WEB.mac, WEB.ip, CLIENT, 50),
            raw(WEB.mac, WEB.ip, CLIENT2, 50),
        ],
    );
    assert_eq!(
        got,
        [
            "dnat eni-nat",
            "snat internet",
            "drop security-group",
            "drop security-group",
            "dnat eni-web",
            "snat internet",
            "drop security-group",
        ]
    );
}

/// "or is an ICMP error quoting one", as routers send them: the quote cut after the first 8
/// bytes of the TCP header (RFC 792), and a time-exceeded quoting an echo request (keyed by its
/// identifier), into a cut-through ENI whose ingress drops ICMP.
#[test]
fn icmp_errors_with_short_quotes_and_quoted_echoes_are_accepted() {
    let t = topo(
        &[("eni-cut", "\"sg-icmp\"")],
        &group(
            "sg-icmp",
            "enterprise",
            "",
            &[
                rule("ingress", "drop", 1, "icmp", "-1/-1", "0.0.0.0/0"),
                rule("egress", "accept", 1, "all", "-1/-1", "0.0.0.0/0"),
            ],
        ),
    );
    let eip = CUT.eip.unwrap();
    let quote = |sport: u16| {
        let mut q = Vec::new();
        etherparse::PacketBuilder::ipv4(eip, CLIENT, 1)
            .tcp(sport, 443, 1000, 64240)
            .syn()
            .write(&mut q, b"")
            .unwrap();
        q.truncate(28);
        q
    };
    let echo = |id: u16| {
        let mut q = Vec::new();
        etherparse::PacketBuilder::ipv4(eip, CLIENT, 1)
            .icmpv4_echo_request(id, 1)
            .write(&mut q, b"ping")
            .unwrap();
        q
    };
    let got = fates(
        &t,
        &[
            tcp(CUT.mac, eip, 40000, CLIENT, 443, true),
            icmp_error_quoting(INET, (ROUTER, eip), false, &quote(40000)),
            icmp_error_quoting(INET, (ROUTER, eip), false, &quote(40001)),
            ping(CUT.mac, eip, CLIENT, 0x77, false),
            icmp_error_quoting(INET, (ROUTER, eip), false, &echo(0x77)),
            icmp_error_quoting(INET, (ROUTER, eip), false, &echo(0x78)),
        ],
    );
    assert_eq!(
        got,
        [
            "pass-through internet",
            "pass-through eni-cut",
            "drop security-group",
            "pass-through internet",
            "pass-through eni-cut",
            "drop security-group",
        ]
    );
}

/// A basic group with `inner_access = "drop"` isolates its members: a member's frame that no
/// rule admits is refused by the inner-access policy (the drop's comment says `inner-access`,
/// `decided_by` too), a non-member's by the default; a rule still admits members.
#[test]
fn isolated_members_are_refused_by_inner_access() {
    let t = |rules: &[String]| {
        topo(
            &[("eni-web", "\"sg-iso\""), ("eni-peer", "\"sg-iso\"")],
            &group("sg-iso", "basic", "inner_access = \"drop\"", rules),
        )
    };
    let member = || udp(PEER.mac, PEER.ip, 1000, WEB.ip, 2000);
    let outsider = || udp(MULTI.mac, MULTI.ip, 1000, WEB.ip, 2000);
    let run = replay("isolated", &t(&[]), &[(0, member()), (1, outsider())], None);
    assert_eq!(run.fates, ["drop security-group", "drop security-group"]);
    assert_eq!(
        run.comment(0),
        "security-group: sg-iso ingress inner-access"
    );
    assert_eq!(run.comment(1), "security-group: sg-iso ingress default");
    let by: Vec<&str> = run.report["flows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["decided_by"]["by"].as_str().unwrap())
        .collect();
    assert_eq!(by, ["inner-access", "default"]);
    let admitted = t(&[rule(
        "ingress",
        "accept",
        1,
        "udp",
        "2000/2000",
        "group:sg-iso",
    )]);
    assert_eq!(fate_of(&admitted, member()), "intra-vpc eni-web");
}
