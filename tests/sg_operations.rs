//! The security-group console operations (AuthorizeSecurityGroup, AuthorizeSecurityGroupEgress,
//! RevokeSecurityGroup, RevokeSecurityGroupEgress, JoinSecurityGroup, LeaveSecurityGroup): the
//! fixture scenario runs each with `ok` and every refusal; the state they leave; the 1,000-rule
//! limit over an ENI's groups; the topology written back; `check` listing each ENI's rules in
//! evaluation order.

use std::path::Path;

use eipsim::guest::view::{guest_view, guest_view_limited};
use eipsim::model::Cloud;
use eipsim::model::scenario::{Operation, load_scenario, run_scenario};
use eipsim::model::sg::{Direction, Peer, Policy, Protocol};

fn fixture() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/sg-operations.toml")
}

/// An operation from its TOML table, as a scenario step gives it.
fn op(text: &str) -> Operation {
    toml::from_str(text).unwrap_or_else(|e| panic!("{e}\n{text}"))
}

/// Applies `text` to `cloud`: the error code, or `ok`.
fn apply(cloud: &mut Cloud, text: &str) -> String {
    let r = op(text).apply(cloud);
    cloud.check_invariants().expect("invariants hold");
    match r {
        Ok(_) => "ok".into(),
        Err(e) => e.code.code().into(),
    }
}

#[test]
fn the_fixture_runs_each_operation_and_each_refusal_as_expected() {
    let mut s = load_scenario(&fixture()).unwrap();
    let results = run_scenario(&mut s);
    for r in &results {
        assert!(
            r.as_expected,
            "{}: {:?} (expected {})",
            r.op, r.outcome, r.expect
        );
    }
    let mut codes: Vec<&str> = results
        .iter()
        .filter_map(|r| r.outcome.as_ref().err().map(|e| e.code.code()))
        .collect();
    codes.sort();
    codes.dedup();
    assert_eq!(
        codes,
        [
            "cidr-or-group",
            "duplicate-group",
            "invalid-port-range",
            "invalid-priority",
            "last-security-group",
            "mixed-group-types",
            "not-in-group",
            "unknown-group",
            "unknown-id",
            "unknown-rule",
        ]
    );
    for name in [
        "AuthorizeSecurityGroup ",
        "AuthorizeSecurityGroupEgress ",
        "RevokeSecurityGroup ",
        "RevokeSecurityGroupEgress ",
        "JoinSecurityGroup ",
        "LeaveSecurityGroup ",
    ] {
        assert!(
            results
                .iter()
                .any(|r| r.op.starts_with(name) && r.outcome.is_ok()),
            "{name}succeeds once"
        );
    }
    // The end state: the duplicate authorisation added nothing, the revoked rules are gone,
    // the drop rule is last in its group, the ENIs' groups follow the joins and leaves.
    let c = &s.cloud;
    let web = &c.security_groups[c.security_group_index("sg-web").unwrap()];
    let rules: Vec<String> = web.rules.iter().map(|r| r.to_string()).collect();
    assert_eq!(
        rules,
        [
            "accept priority 1 tcp 443/443 from 0.0.0.0/0",
            "drop priority 1 tcp 22/22 from 0.0.0.0/0",
        ]
    );
    let groups = |id: &str| c.enis[c.eni_index(id).unwrap()].security_groups.clone();
    assert_eq!(groups("eni-web0"), ["sg-app"]);
    assert_eq!(groups("eni-bare"), ["sg-ent"]);
}

#[test]
fn authorize_keeps_the_fields_and_egress_names_a_peer_group() {
    let mut s = load_scenario(&fixture()).unwrap();
    let c = &mut s.cloud;
    let text = "op = \"AuthorizeSecurityGroupEgress\"\ngroup = \"sg-app\"\npolicy = \"drop\"\npriority = 7\nprotocol = \"udp\"\nport_range = \"5060/5061\"\npeer_group = \"sg-web\"";
    assert_eq!(apply(c, text), "ok");
    let app = &c.security_groups[c.security_group_index("sg-app").unwrap()];
    let r = app.rules.last().unwrap();
    assert_eq!(r.direction, Direction::Egress);
    assert_eq!(r.policy, Policy::Drop);
    assert_eq!(r.priority, 7);
    assert_eq!(r.protocol, Protocol::Udp);
    assert_eq!(r.ports, Some((5060, 5061)));
    assert_eq!(r.peer, Peer::Group("sg-web".into()));
    // The same rule as ingress is another rule: revoking it finds none.
    let revoke = text.replace("AuthorizeSecurityGroupEgress", "RevokeSecurityGroup");
    assert_eq!(apply(c, &revoke), "unknown-rule");
    let revoke = text.replace("AuthorizeSecurityGroupEgress", "RevokeSecurityGroupEgress");
    assert_eq!(apply(c, &revoke), "ok");
    let app = &c.security_groups[c.security_group_index("sg-app").unwrap()];
    assert!(app.rules.is_empty());
}

#[test]
fn operation_parameters_are_checked_when_the_file_is_read() {
    // `group` is the target; a peer group is `peer_group`; `direction` comes from the op.
    for bad in [
        "op = \"AuthorizeSecurityGroup\"\ngroup = \"sg-web\"\nprotocol = \"tcp\"\nport_range = \"80/80\"\nsource_group = \"sg-app\"",
        "op = \"AuthorizeSecurityGroup\"\ngroup = \"sg-web\"\ndirection = \"egress\"\nprotocol = \"tcp\"\nport_range = \"80/80\"\ncidr = \"0.0.0.0/0\"",
        "op = \"JoinSecurityGroup\"\ngroup = \"sg-web\"",
        "op = \"AuthorizeSecurityGroup\"\ngroup = \"sg-web\"\nprotocol = \"sctp\"\nport_range = \"80/80\"\ncidr = \"0.0.0.0/0\"",
    ] {
        assert!(toml::from_str::<Operation>(bad).is_err(), "{bad}");
    }
}

/// A topology whose ENI eni-web0 is in sg-a (600 rules) and sg-b (400 rules): 1,000, the most
/// an ENI takes; eni-spare is in sg-c (1 rule) only.
fn thousand() -> Cloud {
    let rules = |n: usize| -> String {
        (0..n)
            .map(|i| {
                format!(
                    "\n[[security_group.rule]]\ndirection = \"ingress\"\npolicy = \"accept\"\npriority = 1\nprotocol = \"tcp\"\nport_range = \"{p}/{p}\"\ncidr = \"0.0.0.0/0\"\n",
                    p = i + 1
                )
            })
            .collect()
    };
    let text = format!(
        "region = \"eu-central-1\"\n[vpc]\ncidr = \"172.16.0.0/12\"\n[[instance]]\nid = \"i-web\"\n\
         [[eni]]\nid = \"eni-web0\"\nkind = \"primary\"\nmac = \"00:16:3e:00:00:10\"\nprimary_ip = \"172.16.0.10\"\ninstance = \"i-web\"\nsecurity_groups = [\"sg-a\", \"sg-b\"]\n\
         [[eni]]\nid = \"eni-spare\"\nkind = \"secondary\"\nmac = \"00:16:3e:00:00:11\"\nprimary_ip = \"172.16.0.11\"\nsecurity_groups = [\"sg-c\"]\n\
         [[security_group]]\nid = \"sg-a\"\n{}\n[[security_group]]\nid = \"sg-b\"\n{}\n[[security_group]]\nid = \"sg-c\"\n{}",
        rules(600),
        rules(400),
        rules(1)
    );
    Cloud::from_toml(&text).unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn no_member_eni_goes_over_1000_rules() {
    let mut c = thousand();
    let auth = |g: &str| {
        format!(
            "op = \"AuthorizeSecurityGroupEgress\"\ngroup = \"{g}\"\nprotocol = \"all\"\nport_range = \"-1/-1\"\ncidr = \"0.0.0.0/0\""
        )
    };
    // sg-b's member eni-web0 would hold 1,001 rules: refused, sg-b unchanged.
    let r = op(&auth("sg-b")).apply(&mut c).unwrap_err();
    assert_eq!(r.code.code(), "too-many-rules");
    assert!(r.subject.contains("eni-web0"), "{r}");
    assert!(r.message.contains("1001"), "{r}");
    assert_eq!(c.security_groups[1].rules.len(), 400);
    // A rule the group already holds adds nothing, so it is not refused.
    let again = "op = \"AuthorizeSecurityGroup\"\ngroup = \"sg-b\"\nprotocol = \"tcp\"\nport_range = \"1/1\"\ncidr = \"0.0.0.0/0\"";
    assert_eq!(apply(&mut c, again), "ok");
    // sg-c's only member has 1 rule: fine; then eni-web0 cannot join sg-c.
    assert_eq!(apply(&mut c, &auth("sg-c")), "ok");
    let join = "op = \"JoinSecurityGroup\"\ngroup = \"sg-c\"\neni = \"eni-web0\"";
    assert_eq!(apply(&mut c, join), "too-many-rules");
    // Once eni-web0 leaves sg-a, sg-b takes the rule and eni-web0 may join sg-c.
    let leave = "op = \"LeaveSecurityGroup\"\ngroup = \"sg-a\"\neni = \"eni-web0\"";
    assert_eq!(apply(&mut c, leave), "ok");
    assert_eq!(apply(&mut c, &auth("sg-b")), "ok");
    assert_eq!(apply(&mut c, join), "ok");
    let e = c.eni_index("eni-web0").unwrap();
    assert_eq!(c.enis[e].security_groups, ["sg-b", "sg-c"]);
}

#[test]
fn the_topology_written_back_keeps_the_groups_after_operations() {
    let mut s = load_scenario(&fixture()).unwrap();
    run_scenario(&mut s);
    let c = &mut s.cloud;
    for text in [
        "op = \"AuthorizeSecurityGroupEgress\"\ngroup = \"sg-ent\"\npolicy = \"drop\"\npriority = 100\nprotocol = \"gre\"\nport_range = \"-1/-1\"\ncidr = \"10.1.0.0/16\"",
        "op = \"AuthorizeSecurityGroup\"\ngroup = \"sg-app\"\nprotocol = \"udp\"\nport_range = \"-1/-1\"\npeer_group = \"sg-web\"",
        "op = \"JoinSecurityGroup\"\ngroup = \"sg-web\"\neni = \"eni-web0\"",
    ] {
        assert_eq!(apply(c, text), "ok", "{text}");
    }
    let text = c.to_toml().expect("the topology serialises");
    let back = Cloud::from_toml(&text).unwrap_or_else(|e| panic!("{e}\n{text}"));
    assert_eq!(back.security_groups, c.security_groups);
    for e in c.enis.iter().filter(|e| !e.deleted) {
        let b = &back.enis[back.eni_index(&e.id).unwrap()];
        assert_eq!(b.security_groups, e.security_groups, "{}", e.id);
    }
    assert_eq!(guest_view(&back), guest_view(c));
}

const VIEW: &str = r#"region = "eu-central-1"
[vpc]
cidr = "172.16.0.0/12"
[[instance]]
id = "i-web"
[[eni]]
id = "eni-web0"
kind = "primary"
mac = "00:16:3e:00:00:10"
primary_ip = "172.16.0.10"
instance = "i-web"
security_groups = ["sg-b", "sg-a"]
[[security_group]]
id = "sg-a"
[[security_group.rule]]
direction = "ingress"
policy = "accept"
priority = 5
protocol = "tcp"
port_range = "80/80"
cidr = "0.0.0.0/0"
[[security_group]]
id = "sg-b"
inner_access = "drop"
"#;

#[test]
fn check_lists_rules_in_evaluation_order_with_the_defaults() {
    let mut c = Cloud::from_toml(VIEW).unwrap();
    for text in [
        // sg-a rule 2: accept at priority 1.
        "op = \"AuthorizeSecurityGroup\"\ngroup = \"sg-a\"\nprotocol = \"tcp\"\nport_range = \"22/22\"\ncidr = \"10.0.0.0/8\"",
        // sg-b rule 1: drop at priority 1, before the accept of equal priority.
        "op = \"AuthorizeSecurityGroup\"\ngroup = \"sg-b\"\npolicy = \"drop\"\nprotocol = \"tcp\"\nport_range = \"22/22\"\ncidr = \"0.0.0.0/0\"",
        // sg-a rule 3: drop at priority 5, before sg-a rule 1 (accept, priority 5).
        "op = \"AuthorizeSecurityGroup\"\ngroup = \"sg-a\"\npolicy = \"drop\"\npriority = 5\nprotocol = \"icmp\"\nport_range = \"-1/-1\"\npeer_group = \"sg-b\"",
    ] {
        assert_eq!(apply(&mut c, text), "ok", "{text}");
    }
    let view = guest_view(&c);
    assert!(!view.contains("not applied"), "{view}");
    let want =
        "    security groups sg-b (basic, inner access drop), sg-a (basic, inner access accept)
    members of sg-a reach each other over the VPC (inner access accept), before any rule
    ingress, in evaluation order (first match decides; default: drop):
        1. sg-b rule 1: drop priority 1 tcp 22/22 from 0.0.0.0/0
        2. sg-a rule 2: accept priority 1 tcp 22/22 from 10.0.0.0/8
        3. sg-a rule 3: drop priority 5 icmp -1/-1 from group sg-b
        4. sg-a rule 1: accept priority 5 tcp 80/80 from 0.0.0.0/0
    egress: no rule; default: accept
";
    assert!(view.contains(want), "{view}");
    // The listing limit applies per direction.
    let short = guest_view_limited(&c, Some(2));
    assert!(short.contains("2. sg-a rule 2"), "{short}");
    assert!(!short.contains("3. sg-a rule 3"), "{short}");
    assert!(
        short.contains("... and 2 more rule(s) (eipsim check --all lists them)"),
        "{short}"
    );
    // An enterprise group drops by default in both directions, with no inner access line.
    let ent = VIEW.replace("inner_access = \"drop\"", "type = \"enterprise\"");
    let ent = ent.replace("id = \"sg-a\"\n", "id = \"sg-a\"\ntype = \"enterprise\"\n");
    let view = guest_view(&Cloud::from_toml(&ent).unwrap());
    assert!(view.contains("egress: no rule; default: drop"), "{view}");
    assert!(!view.contains("members of"), "{view}");
}
