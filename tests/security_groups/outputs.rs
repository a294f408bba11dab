//! What a replay writes for refused frames: "A comment in `dropped.pcapng` is the reason,
//! optionally followed by `: ` and the detail that decided it (for `security-group`: the group,
//! the direction and `rule N` (the rule's 1-based position in its group), `default` or
//! `inner-access`)", the frame as it arrived, and the report's counters.

use crate::kit::*;

fn commented() -> String {
    topo(
        &[
            ("eni-web", "\"sg-x\""),
            ("eni-nat", "\"sg-e\""),
            ("eni-cut", "\"sg-e1\", \"sg-e2\""),
        ],
        &(group(
            "sg-x",
            "basic",
            "",
            &[
                rule("ingress", "accept", 1, "tcp", "80/80", "0.0.0.0/0"),
                rule("ingress", "drop", 1, "tcp", "81/81", "0.0.0.0/0"),
                rule("egress", "drop", 1, "udp", "53/53", "0.0.0.0/0"),
            ],
        ) + &group("sg-e", "enterprise", "", &[])
            + &group(
                "sg-e1",
                "enterprise",
                "",
                &[rule("ingress", "accept", 3, "tcp", "-1/-1", "0.0.0.0/0")],
            )
            + &group(
                "sg-e2",
                "enterprise",
                "",
                &[
                    rule("egress", "accept", 1, "all", "-1/-1", "0.0.0.0/0"),
                    rule("ingress", "drop", 2, "tcp", "22/22", "0.0.0.0/0"),
                ],
            )),
    )
}

/// The comment names the group, the direction and `rule N` (its 1-based position in its own
/// group, also when the ENI has several groups) or `default`; e.g. `security-group: sg-web
/// ingress rule 2`, `security-group: sg-web ingress default`.
#[test]
fn drop_comments_name_group_direction_and_rule_or_default() {
    let (web, cut) = (WEB.eip.unwrap(), CUT.eip.unwrap());
    let frames = [
        (0, tcp(INET, CLIENT, 40000, web, 81, true)),
        (1, tcp(INET, CLIENT, 40000, web, 82, true)),
        (2, udp(WEB.mac, WEB.ip, 5000, CLIENT, 53)),
        (3, udp(NAT.mac, NAT.ip, 5000, CLIENT, 53)),
        (4, udp(INET, CLIENT, 5000, NAT.eip.unwrap(), 53)),
        (5, tcp(INET, CLIENT, 40000, cut, 22, true)),
        (6, tcp(INET, CLIENT, 40000, cut, 23, true)),
        (7, tcp(INET, CLIENT, 40000, web, 80, true)),
    ];
    let r = replay("comments", &commented(), &frames, None);
    let want = [
        "security-group: sg-x ingress rule 2",
        "security-group: sg-x ingress default",
        "security-group: sg-x egress rule 3",
        "security-group: sg-e egress default",
        "security-group: sg-e ingress default",
        "security-group: sg-e2 ingress rule 2",
    ];
    for (n, c) in want.iter().enumerate() {
        assert_eq!(r.comment(n), *c, "frame {}", n + 1);
    }
    assert_eq!(r.fates[6], "pass-through eni-cut");
    assert_eq!(r.fates[7], "dnat eni-web");
    assert_eq!(r.report["dropped"]["security-group"], 6);
    assert_eq!(r.report["frames"]["dropped"], 6);
    assert_eq!(r.report["frames"]["forwarded"], 2);
}

/// "`dropped.pcapng`: every dropped frame": a refused frame is written as it arrived, not as the
/// core translated it (the inbound frame to the NAT EIP keeps its EIP, TTL and MACs; the
/// outbound one its private source).
#[test]
fn refused_frames_are_written_as_they_arrived() {
    let frames = [
        (0, tcp(INET, CLIENT, 40000, WEB.eip.unwrap(), 81, true)),
        (1, udp(NAT.mac, NAT.ip, 5000, CLIENT, 53)),
    ];
    let r = replay("as-arrived", &commented(), &frames, None);
    for (n, (_, f)) in frames.iter().enumerate() {
        let (_, bytes) = r.drops[n].as_ref().expect("dropped");
        assert_eq!(bytes, f, "frame {}", n + 1);
    }
}

/// The groups' sessions in a replay (fixed shards by inside endpoint, capture times): an
/// intra-VPC and a hairpin round trip between filtered ENIs pass both ways, as in the frame
/// pass without writers.
#[test]
fn round_trips_between_filtered_enis_in_a_replay() {
    let t = topo(
        &[
            ("eni-nat", "\"sg-client\""),
            ("eni-web", "\"sg-server\""),
            ("eni-cut", "\"sg-client\""),
        ],
        &(group(
            "sg-client",
            "enterprise",
            "",
            &[rule("egress", "accept", 1, "tcp", "22/22", "0.0.0.0/0")],
        ) + &group(
            "sg-server",
            "enterprise",
            "",
            &[rule("ingress", "accept", 1, "tcp", "22/22", "0.0.0.0/0")],
        )),
    );
    let (a, b, c) = (NAT.eip.unwrap(), WEB.eip.unwrap(), CUT.eip.unwrap());
    let frames: Vec<(u64, Vec<u8>)> = [
        tcp(NAT.mac, NAT.ip, 40000, WEB.ip, 22, true),
        tcp(WEB.mac, WEB.ip, 22, NAT.ip, 40000, false),
        tcp(NAT.mac, NAT.ip, 40001, b, 22, true),
        tcp(WEB.mac, WEB.ip, 22, a, 40001, false),
        tcp(CUT.mac, c, 40002, b, 22, true),
        tcp(WEB.mac, WEB.ip, 22, c, 40002, false),
        // Not answers: refused by eni-web's egress.
        tcp(WEB.mac, WEB.ip, 22, a, 40009, false),
    ]
    .into_iter()
    .enumerate()
    .map(|(n, f)| (n as u64 * 1000, f))
    .collect();
    let r = replay("round-trips", &t, &frames, None);
    assert_eq!(
        r.fates,
        [
            "intra-vpc eni-web",
            "intra-vpc eni-nat",
            "hairpin eni-web",
            "hairpin eni-nat",
            "hairpin eni-web",
            "hairpin eni-cut",
            "drop security-group",
        ]
    );
    assert_eq!(r.comment(6), "security-group: sg-server egress default");
}
