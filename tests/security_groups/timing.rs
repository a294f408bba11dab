//! Capture time: "a session idle for 910 s of capture time ends", and timed events
//! (`replay --events`: "an event applies to every frame whose timestamp is at or after `at`")
//! that change groups while sessions stand.

use crate::kit::*;

/// eni-nat lets UDP out and nothing in (enterprise).
fn udp_out_only() -> String {
    topo(
        &[("eni-nat", "\"sg-out\"")],
        &group(
            "sg-out",
            "enterprise",
            "",
            &[rule("egress", "accept", 1, "udp", "-1/-1", "0.0.0.0/0")],
        ),
    )
}

/// "a session idle for 910 s of capture time ends": answers 910 s after the last frame of
/// their flow come in (exactly 910 s still holds), 911 s after do not; each accepted frame
/// refreshes the session (900 s, then 900 s more, then 911 s).
#[test]
fn a_session_idle_for_more_than_910_seconds_ends() {
    let eip = NAT.eip.unwrap();
    let out = |port| udp(NAT.mac, NAT.ip, port, CLIENT, 53);
    let back = |port| udp(INET, CLIENT, 53, eip, port);
    let s = 1000;
    let frames = [
        (0, out(5001)),
        (0, out(5002)),
        (0, out(5003)),
        (900 * s, back(5003)),
        (910 * s, back(5001)),
        (911 * s, back(5002)),
        (1800 * s, back(5003)),
        (2711 * s, back(5003)),
        // The flow opened again: a new session.
        (2712 * s, out(5003)),
        (2713 * s, back(5003)),
    ];
    let r = replay("idle", &udp_out_only(), &frames, None);
    assert_eq!(
        r.fates,
        [
            "snat internet",
            "snat internet",
            "snat internet",
            "dnat eni-nat",
            "dnat eni-nat",
            "drop security-group",
            "dnat eni-nat",
            "drop security-group",
            "snat internet",
            "dnat eni-nat",
        ]
    );
    assert_eq!(r.comment(5), "security-group: sg-out ingress default");
}

/// The same flow as [`a_session_idle_for_more_than_910_seconds_ends`] with milliseconds: 910.001 s
/// idle ends the session.
#[test]
fn a_session_ends_just_past_910_seconds() {
    let eip = NAT.eip.unwrap();
    let frames = [
        (0, udp(NAT.mac, NAT.ip, 5001, CLIENT, 53)),
        (0, udp(NAT.mac, NAT.ip, 5002, CLIENT, 53)),
        (910_000, udp(INET, CLIENT, 53, eip, 5001)),
        (910_001, udp(INET, CLIENT, 53, eip, 5002)),
    ];
    let r = replay("idle-ms", &udp_out_only(), &frames, None);
    assert_eq!(r.fates[2..], ["dnat eni-nat", "drop security-group"]);
}

/// eni-nat in sg-ev (enterprise: tcp/8080 in), eni-web in sg-open (tcp/80 in) and sg-closed.
fn evented() -> String {
    topo(
        &[
            ("eni-nat", "\"sg-ev\""),
            ("eni-web", "\"sg-open\", \"sg-closed\""),
        ],
        &(group(
            "sg-ev",
            "enterprise",
            "",
            &[rule(
                "ingress",
                "accept",
                1,
                "tcp",
                "8080/8080",
                "0.0.0.0/0",
            )],
        ) + &group(
            "sg-open",
            "enterprise",
            "",
            &[rule("ingress", "accept", 1, "tcp", "80/80", "0.0.0.0/0")],
        ) + &group("sg-closed", "enterprise", "", &[])),
    )
}

/// Timed events: AuthorizeSecurityGroup at 10 s admits from the frame at 10 s on (the frame at
/// 9.999 s is refused); a session opened before RevokeSecurityGroup (30 s) or
/// LeaveSecurityGroup (50 s) survives the new tables (its later frames pass both ways), while a
/// new connection is refused.
#[test]
fn events_change_groups_and_sessions_survive() {
    let events = format!(
        r#"
[[event]]
at = {a}
op = "AuthorizeSecurityGroup"
group = "sg-ev"
policy = "accept"
priority = 1
protocol = "tcp"
port_range = "9090/9090"
cidr = "0.0.0.0/0"

[[event]]
at = {r}
op = "RevokeSecurityGroup"
group = "sg-ev"
policy = "accept"
priority = 1
protocol = "tcp"
port_range = "8080/8080"
cidr = "0.0.0.0/0"

[[event]]
at = {l}
op = "LeaveSecurityGroup"
group = "sg-open"
eni = "eni-web"
"#,
        a = START + 10,
        r = START + 30,
        l = START + 50
    );
    let (nat, web) = (NAT.eip.unwrap(), WEB.eip.unwrap());
    let s = 1000;
    let frames = [
        (9_999, tcp(INET, CLIENT, 40000, nat, 9090, true)),
        (10 * s, tcp(INET, CLIENT, 40000, nat, 9090, true)),
        (20 * s, tcp(INET, CLIENT, 40001, nat, 8080, true)),
        (31 * s, tcp(INET, CLIENT, 40001, nat, 8080, false)),
        (31 * s, tcp(NAT.mac, NAT.ip, 8080, CLIENT, 40001, false)),
        (32 * s, tcp(INET, CLIENT, 40002, nat, 8080, true)),
        (40 * s, tcp(INET, CLIENT, 40003, web, 80, true)),
        (51 * s, tcp(INET, CLIENT, 40003, web, 80, false)),
        (51 * s, tcp(WEB.mac, WEB.ip, 80, CLIENT, 40003, false)),
        (52 * s, tcp(INET, CLIENT, 40004, web, 80, true)),
    ];
    let r = replay("events", &evented(), &frames, Some(&events));
    assert_eq!(
        r.fates,
        [
            "drop security-group",
            "dnat eni-nat",
            "dnat eni-nat",
            "dnat eni-nat",
            "snat internet",
            "drop security-group",
            "dnat eni-web",
            "dnat eni-web",
            "snat internet",
            "drop security-group",
        ]
    );
    assert_eq!(r.comment(0), "security-group: sg-ev ingress default");
    assert_eq!(r.comment(5), "security-group: sg-ev ingress default");
    assert_eq!(r.comment(9), "security-group: sg-closed ingress default");
    let t = r.report["timeline"].as_array().unwrap();
    let frames: Vec<_> = t.iter().map(|e| e["frame"].as_u64()).collect();
    assert_eq!(frames, [Some(2), Some(4), Some(8)]);
    assert!(t.iter().all(|e| e["result"] == "ok"), "{t:?}");
}

/// Without the events the same capture keeps the topology's groups: 9090 stays closed and
/// 8080 and 80 stay open (the events above made the difference).
#[test]
fn without_events_the_groups_stay() {
    let (nat, web) = (NAT.eip.unwrap(), WEB.eip.unwrap());
    let frames = [
        (10_000, tcp(INET, CLIENT, 40000, nat, 9090, true)),
        (32_000, tcp(INET, CLIENT, 40002, nat, 8080, true)),
        (52_000, tcp(INET, CLIENT, 40004, web, 80, true)),
    ];
    let r = replay("no-events", &evented(), &frames, None);
    assert_eq!(
        r.fates,
        ["drop security-group", "dnat eni-nat", "dnat eni-web"]
    );
}

/// eni-web admits UDP from sg-app's members; eni-peer is in sg-app; eni-multi in no group.
fn joined() -> String {
    topo(
        &[("eni-web", "\"sg-web\""), ("eni-peer", "\"sg-app\"")],
        &(group(
            "sg-web",
            "basic",
            "",
            &[rule("ingress", "accept", 1, "udp", "-1/-1", "group:sg-app")],
        ) + &group("sg-app", "basic", "", &[])),
    )
}

/// Timed events on membership and rules: JoinSecurityGroup makes eni-multi a member (a group
/// peer for eni-web's rule, from then on) and filters it (basic: ingress default drop);
/// AuthorizeSecurityGroup with `peer_group`; AuthorizeSecurityGroupEgress adds a drop rule
/// (named `rule 1` in its comment), RevokeSecurityGroupEgress removes it. The same replay with
/// 4 workers writes the same bytes.
#[test]
fn join_authorize_egress_and_revoke_egress_events() {
    let rule53 = "group = \"sg-app\"\npolicy = \"drop\"\npriority = 1\nprotocol = \"udp\"\nport_range = \"53/53\"\ncidr = \"0.0.0.0/0\"";
    let events = format!(
        "[[event]]\nat = {}\nop = \"JoinSecurityGroup\"\ngroup = \"sg-app\"\neni = \"eni-multi\"\n\n\
         [[event]]\nat = {}\nop = \"AuthorizeSecurityGroup\"\ngroup = \"sg-web\"\nprotocol = \"tcp\"\nport_range = \"80/80\"\npeer_group = \"sg-app\"\n\n\
         [[event]]\nat = {}\nop = \"AuthorizeSecurityGroupEgress\"\n{rule53}\n\n\
         [[event]]\nat = {}\nop = \"RevokeSecurityGroupEgress\"\n{rule53}\n",
        START + 10,
        START + 20,
        START + 30,
        START + 40
    );
    let m = MULTI.eip.unwrap();
    let s = 1000;
    let frames = [
        (4 * s, udp(INET, CLIENT, 1, m, 2)),
        (5 * s, udp(MULTI.mac, MULTI.ip, 1, WEB.ip, 2)),
        (10 * s, udp(MULTI.mac, MULTI.ip, 1, WEB.ip, 2)),
        (11 * s, udp(INET, CLIENT, 1, m, 3)),
        (19 * s, tcp(PEER.mac, PEER.ip, 40000, WEB.ip, 80, true)),
        (20 * s, tcp(PEER.mac, PEER.ip, 40001, WEB.ip, 80, true)),
        (29 * s, udp(MULTI.mac, m, 5000, CLIENT, 53)),
        (30 * s, udp(MULTI.mac, m, 5001, CLIENT, 53)),
        (40 * s, udp(MULTI.mac, m, 5002, CLIENT, 53)),
    ];
    let r = replay("join", &joined(), &frames, Some(&events));
    assert_eq!(
        r.fates,
        [
            "pass-through eni-multi",
            "drop security-group",
            "intra-vpc eni-web",
            "drop security-group",
            "drop security-group",
            "intra-vpc eni-web",
            "pass-through internet",
            "drop security-group",
            "pass-through internet",
        ]
    );
    assert_eq!(r.comment(1), "security-group: sg-web ingress default");
    assert_eq!(r.comment(3), "security-group: sg-app ingress default");
    assert_eq!(r.comment(4), "security-group: sg-web ingress default");
    assert_eq!(r.comment(7), "security-group: sg-app egress rule 1");
    let t = r.report["timeline"].as_array().unwrap();
    assert!(t.iter().all(|e| e["result"] == "ok"), "{t:?}");
    let four = r.dir.join("out4");
    eipsim::replay::run(&options(
        &r.dir.join("topology.toml"),
        &four,
        vec![r.dir.join("capture.pcap")],
        Some(r.dir.join("events.toml")),
        4,
    ))
    .unwrap();
    let (a, b) = (outputs(&r.dir.join("out")), outputs(&four));
    assert_eq!(a.len(), b.len());
    for (x, y) in a.iter().zip(&b) {
        assert!(x.0 == y.0 && x.1 == y.1, "{} differs with 4 workers", x.0);
    }
}

/// "A failing event is reported and replay goes on with the tables unchanged": leaving the
/// ENI's last group (`last-security-group`) and a rule with priority 0 (`invalid-priority`)
/// change nothing; eni-nat's group goes on filtering and its session goes on.
#[test]
fn failing_group_events_leave_the_tables_unchanged() {
    let events = format!(
        "[[event]]\nat = {t}\nop = \"LeaveSecurityGroup\"\ngroup = \"sg-ev\"\neni = \"eni-nat\"\n\n\
         [[event]]\nat = {t}\nop = \"AuthorizeSecurityGroup\"\ngroup = \"sg-ev\"\npriority = 0\nprotocol = \"tcp\"\nport_range = \"9090/9090\"\ncidr = \"0.0.0.0/0\"\n",
        t = START + 10
    );
    let nat = NAT.eip.unwrap();
    let frames = [
        (0, tcp(INET, CLIENT, 40000, nat, 8080, true)),
        (10_000, tcp(INET, CLIENT, 40000, nat, 8080, false)),
        (10_000, tcp(INET, CLIENT, 40001, nat, 9090, true)),
        (11_000, tcp(NAT.mac, NAT.ip, 8080, CLIENT, 40000, false)),
        (11_000, tcp(NAT.mac, NAT.ip, 8080, CLIENT, 40009, false)),
    ];
    let r = replay("failing", &evented(), &frames, Some(&events));
    assert_eq!(
        r.fates,
        [
            "dnat eni-nat",
            "dnat eni-nat",
            "drop security-group",
            "snat internet",
            "drop security-group",
        ]
    );
    let t = r.report["timeline"].as_array().unwrap();
    let codes: Vec<_> = t.iter().map(|e| e["error_code"].as_str()).collect();
    assert_eq!(
        codes,
        [Some("last-security-group"), Some("invalid-priority")]
    );
}
