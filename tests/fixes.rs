//! `replay --fixes` (issue 10, item 5): for each dropped flow of the demo, the smallest change
//! that admits it, and its verification by a replay with it applied.

use std::path::{Path, PathBuf};
use std::process::Command;

use eipsim::advisor::diff::{self, DiffOptions};
use eipsim::advisor::fixes::{self, Change, Fix, Status, Verifier};
use eipsim::dataplane::CapturePoint;
use eipsim::model::Cloud;
use eipsim::model::scenario::{Operation, load_operations};
use eipsim::replay::{self, ReplayOptions};

fn demo() -> (PathBuf, PathBuf) {
    replay::demo_paths()
}

fn scratch(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("eipsim-fixes-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn options(topology: PathBuf, capture: PathBuf, out: PathBuf) -> ReplayOptions {
    ReplayOptions {
        topology,
        out,
        ingress: None,
        workers: 1,
        inputs: vec![capture],
        progress: false,
        trace: None,
        max_open_files: None,
        alg: true,
        alg_spec: None,
        events: None,
        capture_point: CapturePoint::Gateway,
        respond: false,
    }
}

/// `replay --fixes` of `topology` over the demo capture: the report and the output directory.
fn replay_fixes(name: &str, topology: Option<&str>) -> (serde_json::Value, PathBuf, String) {
    let dir = scratch(name);
    let (t, c) = demo();
    let t = match topology {
        Some(text) => {
            let p = dir.join("topology.toml");
            std::fs::write(&p, text).unwrap();
            p
        }
        None => t,
    };
    let out = dir.join("out");
    let o = fixes::replay(&options(t, c, out.clone())).unwrap();
    let r: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("report.json")).unwrap()).unwrap();
    (r, out, o.summary)
}

/// The fix of `report` that targets the flow labelled `flow`.
fn fix_of<'a>(report: &'a serde_json::Value, flow: &str) -> &'a serde_json::Value {
    let all = report["fixes"].as_array().expect("fixes in report.json");
    let hits: Vec<&serde_json::Value> = all
        .iter()
        .filter(|f| f["flows"].as_array().unwrap().iter().any(|l| l == flow))
        .collect();
    assert_eq!(hits.len(), 1, "one fix targets {flow}: {all:#?}");
    hits[0]
}

fn steps(fix: &serde_json::Value) -> Vec<&str> {
    fix["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap())
        .collect()
}

const RDP: &str = "tcp 47.0.0.20:3389 <-> 198.51.100.7:40003";
const PING: &str = "icmp 47.0.0.20 <-> 198.51.100.7";

#[test]
fn the_demo_drops_get_the_narrowest_fix_each_verified_or_none_possible() {
    let (r, out, summary) = replay_fixes("demo", None);
    // Every dropped flow is targeted by exactly one fix.
    let dropped = r["flows"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| !f["dropped"].as_object().unwrap().is_empty())
        .count() as u64;
    let targeted: u64 = r["fixes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["flow_count"].as_u64().unwrap())
        .sum();
    assert_eq!(targeted, dropped);

    // Decided by sg-cut's ingress default: an accept rule at priority 100 for that port and
    // the peer /32.
    let f = fix_of(&r, RDP);
    assert_eq!(
        steps(f),
        ["AuthorizeSecurityGroup sg-cut (accept priority 100 tcp 3389/3389 cidr 198.51.100.7/32)"]
    );
    assert_eq!(f["status"], "verified", "{f:#}");
    assert_eq!(f["reasons"], serde_json::json!(["security-group"]));

    // Decided by rule 2, an ICMP drop at priority 1, which no rule beats: revoked; then the
    // default decides, beaten by an accept rule at priority 100.
    let f = fix_of(&r, PING);
    assert_eq!(
        steps(f),
        [
            "RevokeSecurityGroup sg-cut (drop priority 1 icmp -1/-1 cidr 0.0.0.0/0)",
            "AuthorizeSecurityGroup sg-cut (accept priority 100 icmp -1/-1 cidr 198.51.100.7/32)"
        ]
    );
    assert_eq!(f["status"], "verified", "{f:#}");

    // no-public-address and eip-not-associated: the unassociated EIP mapped to the private IP
    // in NAT mode, one fix for both flows.
    let f = fix_of(&r, "udp 172.16.0.20:1 <-> 203.0.113.5:1");
    assert_eq!(
        steps(f),
        ["AssociateEipAddress eip-free -> eni-web1 (NAT, 172.16.0.20)"]
    );
    assert_eq!(f["flow_count"], 2);
    assert!(
        f["flows"]
            .as_array()
            .unwrap()
            .iter()
            .any(|l| l == "udp 47.0.0.99:1 <-> 198.51.100.7:1")
    );
    assert_eq!(f["status"], "verified", "{f:#}");

    // guest-not-configured: DHCP on (a setting, no console operation), and a multi-EIP
    // address configured in the guest.
    let f = fix_of(&r, "udp 47.0.0.50:1 <-> 198.51.100.7:1");
    assert_eq!(steps(f).len(), 1);
    assert!(
        steps(f)[0].starts_with("topology: [[instance]] i-legacy dhcp = true"),
        "{f:#}"
    );
    assert_eq!(f["status"], "verified", "{f:#}");
    let f = fix_of(&r, "udp 47.0.0.32:1 <-> 198.51.100.7:1");
    assert!(
        steps(f)[0].starts_with("topology: [[eni]] eni-multi static_eips += 47.0.0.32"),
        "{f:#}"
    );
    assert_eq!(f["status"], "verified", "{f:#}");

    // tcp-25-restricted: no console operation, the account setting.
    let f = fix_of(&r, "tcp 172.16.0.10:40025 <-> 203.0.113.5:25");
    assert!(
        steps(f)[0].starts_with("topology: [account] tcp25_unblocked = true"),
        "{f:#}"
    );
    assert!(f["note"].as_str().unwrap().contains("no console operation"));
    assert_eq!(f["status"], "verified", "{f:#}");

    // private-network-unavailable: out of cut-through into multi-EIP, in the order the
    // console takes it (a multi-EIP binding needs the ENI detached).
    let f = fix_of(&r, "udp 47.0.0.20:1 <-> 172.16.0.10:1");
    assert_eq!(
        steps(f),
        [
            "UnassociateEipAddress eip-cut",
            "DetachNetworkInterface eni-cut",
            "AssociateEipAddress eip-cut -> eni-cut (MULTI_BINDED)",
            "AttachNetworkInterface eni-cut -> i-app"
        ]
    );
    assert_eq!(f["status"], "verified", "{f:#}");

    // The same towards eni-cut's private IP, which then meets sg-cut's ingress default: the
    // rule it needs for that path comes with it.
    let f = fix_of(&r, "udp 172.16.0.10:1 <-> 172.16.1.10:1");
    assert_eq!(steps(f).len(), 5, "{f:#}");
    assert_eq!(
        steps(f)[4],
        "AuthorizeSecurityGroup sg-cut (accept priority 100 udp 1/1 cidr 172.16.0.10/32)"
    );
    assert_eq!(f["status"], "verified", "{f:#}");

    // eni-detached: attached to an instance.
    let f = fix_of(&r, "udp 172.16.3.10:1 <-> 198.51.100.7:1");
    assert_eq!(steps(f), ["AttachNetworkInterface eni-spare -> i-web"]);
    assert_eq!(f["status"], "verified", "{f:#}");

    // None possible: a spoofed source, an expired TTL, an address that is no EIP.
    for flow in [
        "udp 172.16.0.21:1 <-> 203.0.113.5:1",
        "udp 172.16.0.10:1 <-> 198.51.100.7:1",
        "udp 47.0.0.200:1 <-> 198.51.100.7:1",
    ] {
        let f = fix_of(&r, flow);
        assert_eq!(f["status"], "none-possible", "{f:#}");
        assert!(steps(f).is_empty(), "{f:#}");
        assert!(!f["detail"].as_str().unwrap().is_empty());
    }
    assert!(
        r["fixes"]
            .as_array()
            .unwrap()
            .iter()
            .all(|f| f["status"] != "not-verified")
    );

    // The summary has its section, fixes.toml its comments.
    assert!(summary.contains("fixes (fixes.toml)"), "{summary}");
    assert!(summary.contains("none-possible"), "{summary}");
    let text = std::fs::read_to_string(out.join("fixes.toml")).unwrap();
    assert!(
        text.contains(&format!("#     {RDP} (first frame 42;")),
        "{text}"
    );
    assert!(text.contains("dhcp = true"), "{text}");
}

#[test]
fn fixes_toml_loads_and_its_steps_admit_the_flows_of_the_verified_fixes() {
    let (r, out, _) = replay_fixes("apply", None);
    let path = out.join("fixes.toml");
    // It loads as an operations file, every step an Operation.
    let ops = load_operations(&path).unwrap();
    assert!(
        ops.iter()
            .any(|p| matches!(p.op, Operation::AuthorizeSecurityGroup(_)))
    );
    assert!(
        ops.iter()
            .any(|p| matches!(p.op, Operation::RevokeSecurityGroup(_)))
    );
    // Applied whole to the demo topology (diff --apply), the flows of every verified fix
    // made of console operations only now pass.
    let (t, c) = demo();
    let d = diff::run(&DiffOptions {
        topology_a: t,
        topology_b: None,
        apply: Some(path),
        inputs: vec![c],
        ingress: None,
        capture_point: CapturePoint::Gateway,
    })
    .unwrap();
    let mut checked = 0;
    for f in r["fixes"].as_array().unwrap() {
        let console = steps(f).iter().all(|s| !s.starts_with("topology:"));
        if f["status"] != "verified" || !console {
            continue;
        }
        for flow in f["flows"].as_array().unwrap() {
            let row = d
                .flows
                .iter()
                .find(|row| row.a.flows.iter().any(|l| l == flow))
                .unwrap_or_else(|| panic!("{flow} in the diff"));
            assert!(row.b.dropped.is_empty(), "{flow}: {:?}", row.b);
            assert!(!row.a.dropped.is_empty(), "{flow}: {:?}", row.a);
            checked += 1;
        }
    }
    assert!(checked >= 7, "{checked}");
    let rdp = d.flows.iter().find(|r| r.flow == RDP).unwrap();
    assert_eq!(rdp.b.verdict, "ok");
}

#[test]
fn a_drop_the_first_fix_uncovers_gets_its_own_fix_added_when_that_verifies() {
    // i-app without DHCP: eni-cut's cut-through EIP is not configured in the guest. The
    // group's ingress check comes first, so the RDP flow drops `security-group`; admitting it
    // there moves the drop to `guest-not-configured`, whose fix (DHCP on) is added.
    let (t, _) = demo();
    let text = std::fs::read_to_string(t).unwrap().replace(
        "id = \"i-app\"\nfamily = \"ecs.g5\"\ndhcp = true",
        "id = \"i-app\"\nfamily = \"ecs.g5\"\ndhcp = false",
    );
    assert!(text.contains("id = \"i-app\"\nfamily = \"ecs.g5\"\ndhcp = false"));
    let (r, _, _) = replay_fixes("nodhcp", Some(&text));
    let f = fix_of(&r, RDP);
    assert_eq!(steps(f).len(), 2, "{f:#}");
    assert_eq!(
        steps(f)[0],
        "AuthorizeSecurityGroup sg-cut (accept priority 100 tcp 3389/3389 cidr 198.51.100.7/32)"
    );
    assert!(
        steps(f)[1].starts_with("topology: [[instance]] i-app dhcp = true"),
        "{f:#}"
    );
    assert_eq!(
        f["reasons"],
        serde_json::json!(["security-group", "guest-not-configured"])
    );
    assert!(
        f["note"]
            .as_str()
            .unwrap()
            .contains("; then guest-not-configured: "),
        "{f:#}"
    );
    assert_eq!(f["status"], "verified", "{f:#}");
}

#[test]
fn a_fix_that_does_not_admit_the_flow_is_not_verified_and_says_what_still_drops_it() {
    // eni-web0 in an enterprise group without rules: its frame to 172.16.9.9, which no ENI
    // owns, is refused by the sender's egress check (it comes before the destination's
    // checks). Admitting it there uncovers `unknown-destination`, which has no fix.
    let (t, _) = demo();
    let text = std::fs::read_to_string(t).unwrap();
    let web0 = "primary_ip = \"172.16.0.10\"\ninstance = \"i-web\"";
    assert!(text.contains(web0));
    let text = text.replace(web0, &format!("{web0}\nsecurity_groups = [\"sg-ent\"]"))
        + "\n[[security_group]]\nid = \"sg-ent\"\ntype = \"enterprise\"\n";
    let (r, out, summary) = replay_fixes("enterprise", Some(&text));
    let flow = "udp 172.16.0.10:1 <-> 172.16.9.9:1";
    let f = fix_of(&r, flow);
    assert_eq!(
        steps(f),
        ["AuthorizeSecurityGroupEgress sg-ent (accept priority 100 udp 1/1 cidr 172.16.9.9/32)"]
    );
    assert_eq!(f["status"], "not-verified", "{f:#}");
    assert_eq!(
        f["detail"],
        format!("flow {flow} still dropped unknown-destination x1")
    );
    assert!(summary.contains("not-verified"), "{summary}");
    let toml = std::fs::read_to_string(out.join("fixes.toml")).unwrap();
    assert!(
        toml.contains(&format!("#   verification: flow {flow} still dropped")),
        "{toml}"
    );
    // HTTPS from the Internet (enterprise: ingress dropped by default): an ingress rule for
    // port 443 and the client's /32; the replies ride the session.
    let f = fix_of(&r, "tcp 172.16.0.10:443 <-> 198.51.100.7:40001");
    assert_eq!(
        steps(f),
        ["AuthorizeSecurityGroup sg-ent (accept priority 100 tcp 443/443 cidr 198.51.100.7/32)"]
    );
    assert_eq!(f["status"], "verified", "{f:#}");
    // tcp/25 hid behind the egress check: the account setting is added.
    let f = fix_of(&r, "tcp 172.16.0.10:40025 <-> 203.0.113.5:25");
    assert_eq!(
        steps(f)[0],
        "AuthorizeSecurityGroupEgress sg-ent (accept priority 100 tcp 25/25 cidr 203.0.113.5/32)"
    );
    assert!(steps(f)[1].starts_with("topology: [account] tcp25_unblocked = true"));
    assert_eq!(f["status"], "verified", "{f:#}");
}

/// A fix built by hand from one `[[step]]` table, targeting the RDP flow.
fn hand_fix(step: &str) -> Fix {
    let table: toml::Table = step.parse().unwrap();
    let op: Operation = toml::Value::Table(table.clone()).try_into().unwrap();
    Fix {
        reasons: vec!["security-group"],
        changes: vec![Change::Op(op, table)],
        note: String::new(),
        flows: vec![RDP.to_string()],
        flow_notes: Vec::new(),
        flow_count: 1,
        status: Status::Unverified,
        detail: String::new(),
        first_flow: None,
    }
}

fn demo_diff_options() -> (Cloud, DiffOptions) {
    let (t, c) = demo();
    let cloud = Cloud::load(&t).unwrap();
    let opts = DiffOptions {
        topology_a: t,
        topology_b: None,
        apply: None,
        inputs: vec![c],
        ingress: None,
        capture_point: CapturePoint::Gateway,
    };
    (cloud, opts)
}

/// A fix built by hand: the verifier names a flow that fares worse with it.
#[test]
fn a_fix_that_makes_another_flow_worse_is_not_verified() {
    let (cloud, opts) = demo_diff_options();
    let fix = hand_fix("op = \"UnassociateEipAddress\"\neip = \"eip-web\"");
    let (status, detail) = Verifier::new(&cloud, &opts).check(&fix).unwrap();
    assert_eq!(status, Status::NotVerified);
    assert!(
        detail.contains(&format!("flow {RDP} still dropped security-group x1")),
        "{detail}"
    );
    // eni-web0's flows lose their EIP: they were forwarded, now they drop.
    assert!(detail.contains("now dropped"), "{detail}");
    assert!(detail.contains("(was ok)"), "{detail}");

    // A step that the console refuses: not verified, naming the step and the rule.
    let fix = hand_fix(
        "op = \"AssociateEipAddress\"\neip = \"eip-web\"\neni = \"eni-web1\"\nmode = \"NAT\"\nprivate_ip = \"172.16.0.20\"",
    );
    let (status, detail) = Verifier::new(&cloud, &opts).check(&fix).unwrap();
    assert_eq!(status, Status::NotVerified);
    assert!(
        detail.starts_with("step 1 (AssociateEipAddress eip-web"),
        "{detail}"
    );
    assert!(detail.contains("already associated"), "{detail}");
}

#[test]
fn fixes_are_off_by_default_and_do_not_take_events() {
    let dir = scratch("cli");
    let bin = env!("CARGO_BIN_EXE_eipsim");
    let run = |args: &[&str]| {
        Command::new(bin)
            .args(args)
            .current_dir(Path::new(env!("CARGO_MANIFEST_DIR")))
            .output()
            .unwrap()
    };
    let plain = dir.join("plain");
    let o = run(&["replay", "--no-progress", "--out", plain.to_str().unwrap()]);
    assert!(o.status.success());
    assert!(!plain.join("fixes.toml").exists());
    let r = std::fs::read_to_string(plain.join("report.json")).unwrap();
    assert!(!r.contains("\"fixes\""));

    let with = dir.join("with");
    let o = run(&["replay", "--fixes", "--out", with.to_str().unwrap()]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(with.join("fixes.toml").is_file());
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(stdout.contains("fixes (fixes.toml)"), "{stdout}");
    // The section sits before the last line.
    assert!(
        stdout
            .trim_end()
            .lines()
            .last()
            .unwrap()
            .contains("outputs in")
    );

    let (t, c) = demo();
    let ev = dir.join("events.toml");
    std::fs::write(
        &ev,
        "[[event]]\nat = 0\nop = \"UnassociateEipAddress\"\neip = \"eip-web\"\n",
    )
    .unwrap();
    let o = run(&[
        "replay",
        "--fixes",
        "--events",
        ev.to_str().unwrap(),
        "--topology",
        t.to_str().unwrap(),
        "--out",
        dir.join("ev").to_str().unwrap(),
        c.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("--events"));
}

/// The demo with eni-web1 in a group that drops all ingress at priority 5.
fn demo_with_web1_group() -> String {
    let (t, _) = demo();
    let text = std::fs::read_to_string(t).unwrap();
    let from = "secondary_ips = [\"172.16.0.21\", \"172.16.0.22\"]\ninstance = \"i-web\"";
    assert!(text.contains(from));
    text.replace(from, &format!("{from}\nsecurity_groups = [\"sg-web1\"]"))
        + r#"
[[security_group]]
id = "sg-web1"
type = "basic"

[[security_group.rule]]
direction = "ingress"
policy = "drop"
priority = 5
protocol = "all"
port_range = "-1/-1"
cidr = "0.0.0.0/0"
"#
}

#[test]
fn a_drop_rule_of_priority_p_is_beaten_at_p_minus_1_for_the_peer_as_the_eni_sees_it() {
    let (r, _, _) = replay_fixes("web1", Some(&demo_with_web1_group()));
    // From the Internet (DNAT): the peer is the Internet host, the port the private one.
    let f = fix_of(&r, "udp 172.16.0.22:7000 <-> 198.51.100.7:7000");
    assert_eq!(
        steps(f),
        ["AuthorizeSecurityGroup sg-web1 (accept priority 4 udp 7000/7000 cidr 198.51.100.7/32)"]
    );
    assert_eq!(f["status"], "verified", "{f:#}");
    assert!(
        f["note"]
            .as_str()
            .unwrap()
            .contains("sg-web1 ingress rule 1 (drop, priority 5) decided"),
        "{f:#}"
    );
    // A hairpin (eni-web0 to eip-a): eni-web1 sees the sender's EIP as the source.
    let f = fix_of(&r, "tcp 172.16.0.10:33001 <-> 172.16.0.21:8080");
    assert_eq!(
        steps(f),
        ["AuthorizeSecurityGroup sg-web1 (accept priority 4 tcp 8080/8080 cidr 47.0.0.10/32)"]
    );
    assert_eq!(f["status"], "verified", "{f:#}");
    // An EIP associated to a private IP of eni-web1 needs the group's rule too; the flow that
    // sends from that private IP needs only the association (its replies are a session).
    let f = fix_of(&r, "udp 47.0.0.99:1 <-> 198.51.100.7:1");
    assert_eq!(
        steps(f),
        [
            "AssociateEipAddress eip-free -> eni-web1 (NAT, 172.16.0.20)",
            "AuthorizeSecurityGroup sg-web1 (accept priority 4 udp 1/1 cidr 198.51.100.7/32)"
        ]
    );
    assert_eq!(f["status"], "verified", "{f:#}");
    let f = fix_of(&r, "udp 172.16.0.20:1 <-> 203.0.113.5:1");
    assert_eq!(
        steps(f),
        ["AssociateEipAddress eip-free -> eni-web1 (NAT, 172.16.0.20)"]
    );
    assert_eq!(f["status"], "verified", "{f:#}");
}

#[test]
fn without_a_free_eip_a_new_one_is_allocated_at_a_placeholder_address() {
    let (t, _) = demo();
    let text = std::fs::read_to_string(t).unwrap();
    let free = "[[eip]]\nid = \"eip-free\"                    # allocated, never associated\naddress = \"47.0.0.99\"\n";
    assert!(text.contains(free));
    let (r, out, _) = replay_fixes("noeip", Some(&text.replace(free, "")));
    let f = fix_of(&r, "udp 172.16.0.20:1 <-> 203.0.113.5:1");
    assert_eq!(
        steps(f),
        [
            "AllocateEipAddress eip-fix-1 192.0.2.1 (PayByTraffic)",
            "AssociateEipAddress eip-fix-1 -> eni-web1 (NAT, 172.16.0.20)"
        ]
    );
    assert!(f["note"].as_str().unwrap().contains("placeholder"), "{f:#}");
    assert_eq!(f["status"], "verified", "{f:#}");
    let ops = load_operations(&out.join("fixes.toml")).unwrap();
    assert!(ops.iter().any(|p| matches!(
        &p.op,
        Operation::AllocateEipAddress { id, .. } if id == "eip-fix-1"
    )));
}

#[test]
fn verification_stops_after_max_verified_replays_and_says_how_many_fixes_it_left() {
    let (cloud, opts) = demo_diff_options();
    let fix = |port: u16| {
        hand_fix(&format!(
            "op = \"AuthorizeSecurityGroup\"\ngroup = \"sg-cut\"\npriority = 100\nprotocol = \"tcp\"\nport_range = \"{port}/{port}\"\ncidr = \"198.51.100.7/32\""
        ))
    };
    let n = fixes::MAX_VERIFIED + 2;
    let mut all = fixes::Fixes {
        fixes: (0..n).map(|i| fix(3389 - i as u16)).collect(),
        flows_without_fix: 0,
    };
    all.verify(&Verifier::new(&cloud, &opts)).unwrap();
    // The first admits the RDP flow; the next ones open other ports and do not.
    assert_eq!(all.fixes[0].status, Status::Verified);
    assert_eq!(all.fixes[1].status, Status::NotVerified);
    assert_eq!(all.unverified(), 2);
    assert_eq!(all.fixes[n - 1].status, Status::Unverified);
    assert!(all.fixes[n - 1].detail.contains("not replayed"));
    let text = fixes::summary_text(&all);
    assert!(
        text.contains("2 fixes were not replayed: at most 50 verification replays are run"),
        "{text}"
    );
    let json = all.json();
    assert_eq!(json[n - 1]["status"], "unverified");
}
