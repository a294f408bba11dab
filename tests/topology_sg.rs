//! Security groups in the topology: one rejection test per rule, each asserting the rule code
//! and the subject named; acceptance of a valid file (groups stored per ENI, shown by `check`).

use eipsim::guest::view::guest_view;
use eipsim::model::Cloud;
use eipsim::model::sg::{Direction, GroupType, InnerAccess, Peer, Policy, Protocol};

const BASE: &str = r#"region = "eu-central-1"

[vpc]
cidr = "172.16.0.0/12"

[[instance]]
id = "i-web"
family = "ecs.g5"

[[eni]]
id = "eni-web0"
kind = "primary"
mac = "00:16:3e:00:00:10"
primary_ip = "172.16.0.10"
instance = "i-web"
"#;

/// The base topology plus `extra`, and `groups` as eni-web0's `security_groups`.
fn topo(groups: &str, extra: &str) -> String {
    let with = BASE.replace(
        "instance = \"i-web\"\n",
        &format!("instance = \"i-web\"\nsecurity_groups = [{groups}]\n"),
    );
    format!("{with}\n{extra}")
}

fn group(id: &str, kind: &str, rules: &[&str]) -> String {
    let mut s = format!("[[security_group]]\nid = \"{id}\"\ntype = \"{kind}\"\n");
    for r in rules {
        s += &format!("\n[[security_group.rule]]\n{r}\n");
    }
    s
}

fn rule(protocol: &str, ports: &str, priority: i64, peer: &str) -> String {
    format!(
        "direction = \"ingress\"\npolicy = \"accept\"\npriority = {priority}\nprotocol = \"{protocol}\"\nport_range = \"{ports}\"\n{peer}"
    )
}

/// Asserts the text is refused with `code` and a message naming `subject`.
fn refused(text: &str, code: &str, subject: &str) {
    let e = Cloud::from_toml(text).expect_err("the topology should be refused");
    assert_eq!(e.code(), Some(code), "{e}");
    let m = e.to_string();
    assert!(m.contains(subject), "{m:?} should name {subject:?}");
}

const CIDR: &str = "cidr = \"0.0.0.0/0\"";

#[test]
fn a_valid_file_is_stored_per_eni_and_listed_by_check() {
    let web = group(
        "sg-web",
        "basic",
        &[
            &rule("tcp", "80/443", 1, CIDR),
            &rule("udp", "5060/5061", 100, "group = \"sg-app\""),
            "direction = \"egress\"\npolicy = \"drop\"\npriority = 5\nprotocol = \"icmp\"\nport_range = \"-1/-1\"\ncidr = \"10.0.0.0/8\"",
        ],
    )
    .replacen("type = \"basic\"\n", "type = \"basic\"\ninner_access = \"drop\"\n", 1);
    let app = group("sg-app", "basic", &[&rule("all", "-1/-1", 2, CIDR)]);
    let t = topo("\"sg-web\", \"sg-app\"", &(web + &app));
    let c = Cloud::from_toml(&t).unwrap_or_else(|e| panic!("{e}\n{t}"));
    assert_eq!(c.security_groups.len(), 2);
    let web = &c.security_groups[0];
    assert_eq!(web.id, "sg-web");
    assert_eq!(web.kind, GroupType::Basic);
    assert_eq!(web.inner_access, InnerAccess::Drop);
    assert_eq!(web.rules.len(), 3);
    assert_eq!(web.rules[0].ports, Some((80, 443)));
    assert_eq!(web.rules[0].protocol, Protocol::Tcp);
    assert_eq!(web.rules[1].peer, Peer::Group("sg-app".into()));
    assert_eq!(web.rules[1].priority, 100);
    assert_eq!(web.rules[2].direction, Direction::Egress);
    assert_eq!(web.rules[2].policy, Policy::Drop);
    assert_eq!(web.rules[2].ports, None);
    assert_eq!(c.security_groups[1].inner_access, InnerAccess::Accept);
    let eni = c.eni_index("eni-web0").unwrap();
    assert_eq!(c.enis[eni].security_groups, vec!["sg-web", "sg-app"]);
    let view = guest_view(&c);
    assert!(
        view.contains(
            "security groups sg-web (basic, inner access drop), sg-app (basic, inner access accept)"
        ),
        "{view}"
    );
    // Evaluation order: priority 1 (sg-web rule 1), then priority 2 (sg-app rule 1), then
    // priority 100 (sg-web rule 2).
    let a = view.find("1. sg-web rule 1: accept priority 1 tcp 80/443 from 0.0.0.0/0");
    let b = view.find("2. sg-app rule 1: accept priority 2 all -1/-1 from 0.0.0.0/0");
    let d = view.find("3. sg-web rule 2: accept priority 100 udp 5060/5061 from group sg-app");
    assert!(a.is_some() && a < b && b < d, "{view}");
    assert!(view.contains("1. sg-web rule 3: drop priority 5 icmp -1/-1 to 10.0.0.0/8"));
}

#[test]
fn enterprise_groups_deny_inner_access_and_a_rebuilt_cloud_keeps_groups() {
    let t = topo(
        "\"sg-e\"",
        &group("sg-e", "enterprise", &[&rule("tcp", "22/22", 1, CIDR)]),
    );
    let c = Cloud::from_toml(&t).unwrap();
    assert_eq!(c.security_groups[0].kind, GroupType::Enterprise);
    assert_eq!(c.security_groups[0].inner_access, InnerAccess::Drop);
    let r = c.rebuilt(&[], &[]).unwrap();
    assert_eq!(r.security_groups, c.security_groups);
    assert_eq!(r.enis[0].security_groups, vec!["sg-e"]);
}

#[test]
fn duplicate_group_id() {
    let t = topo(
        "",
        &(group("sg-a", "basic", &[]) + &group("sg-a", "basic", &[])),
    );
    refused(&t, "duplicate-id", "security group sg-a");
}

#[test]
fn priority_out_of_range() {
    for p in [0, 101, -1, 300] {
        let t = topo(
            "",
            &group("sg-a", "basic", &[&rule("tcp", "80/80", p, CIDR)]),
        );
        refused(&t, "invalid-priority", "security group sg-a rule 1");
    }
}

#[test]
fn port_range_invalid_for_the_protocol() {
    for (proto, ports) in [
        ("icmp", "1/1"),
        ("gre", "80/80"),
        ("all", "1/65535"),
        ("tcp", "80"),
        ("tcp", "90/80"),
        ("udp", "0/10"),
        ("tcp", "1/65536"),
        ("udp", "a/b"),
    ] {
        let t = topo(
            "",
            &group(
                "sg-a",
                "basic",
                &[&rule("tcp", "1/2", 1, CIDR), &rule(proto, ports, 1, CIDR)],
            ),
        );
        refused(&t, "invalid-port-range", "security group sg-a rule 2");
    }
}

#[test]
fn cidr_xor_group() {
    let both = format!("{CIDR}\ngroup = \"sg-a\"");
    for peer in [both.as_str(), ""] {
        let t = topo(
            "",
            &group("sg-a", "basic", &[&rule("tcp", "80/80", 1, peer)]),
        );
        refused(&t, "cidr-or-group", "security group sg-a rule 1");
    }
}

#[test]
fn rule_group_must_exist() {
    let t = topo(
        "",
        &group(
            "sg-a",
            "basic",
            &[&rule("tcp", "80/80", 1, "group = \"sg-nope\"")],
        ),
    );
    refused(&t, "unknown-group", "security group sg-a rule 1");
}

#[test]
fn eni_group_must_exist() {
    let t = topo("\"sg-nope\"", &group("sg-a", "basic", &[]));
    refused(&t, "unknown-group", "ENI eni-web0");
}

#[test]
fn eni_group_listed_twice() {
    let t = topo("\"sg-a\", \"sg-a\"", &group("sg-a", "basic", &[]));
    refused(&t, "duplicate-group", "ENI eni-web0");
}

#[test]
fn eni_groups_of_mixed_types() {
    let t = topo(
        "\"sg-a\", \"sg-e\"",
        &(group("sg-a", "basic", &[]) + &group("sg-e", "enterprise", &[])),
    );
    refused(&t, "mixed-group-types", "ENI eni-web0");
}

#[test]
fn inner_access_is_basic_only() {
    let t = topo(
        "",
        "[[security_group]]\nid = \"sg-e\"\ntype = \"enterprise\"\ninner_access = \"accept\"\n",
    );
    refused(&t, "inner-access-basic-only", "security group sg-e");
}

#[test]
fn at_most_1000_rules_per_eni() {
    let r = rule("tcp", "80/80", 1, CIDR);
    let six: Vec<&str> = std::iter::repeat_n(r.as_str(), 600).collect();
    let four: Vec<&str> = std::iter::repeat_n(r.as_str(), 400).collect();
    let one: Vec<&str> = vec![r.as_str()];
    // 1,000 is allowed ...
    let ok = topo(
        "\"sg-a\", \"sg-b\"",
        &(group("sg-a", "basic", &six) + &group("sg-b", "basic", &four)),
    );
    assert!(Cloud::from_toml(&ok).is_ok());
    // ... 1,001 is not.
    let t = topo(
        "\"sg-a\", \"sg-b\", \"sg-c\"",
        &(group("sg-a", "basic", &six)
            + &group("sg-b", "basic", &four)
            + &group("sg-c", "basic", &one)),
    );
    refused(&t, "too-many-rules", "ENI eni-web0");
}
