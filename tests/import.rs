//! `eipsim import`: both fixtures import into topologies `eipsim check` accepts, with the
//! entries, comments and notes the inputs imply; broken inputs exit 1 naming the resource; a
//! capture replays through an imported topology.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use eipsim::import::{self, ImportError, Source};
use eipsim::model::Cloud;

fn eipsim() -> Command {
    Command::new(env!("CARGO_BIN_EXE_eipsim"))
}

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn fixture(p: &str) -> PathBuf {
    root().join("tests/fixtures/import").join(p)
}

fn tempdir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("eipsim-import-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Runs `eipsim import ARGS -o DIR/topology.toml`, asserts success, and returns the file's text
/// and stderr.
fn import_ok(args: &[&str], dir: &Path) -> (String, String) {
    let out = dir.join("topology.toml");
    let o = eipsim()
        .arg("import")
        .args(args)
        .arg("-o")
        .arg(&out)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    (std::fs::read_to_string(&out).unwrap(), stderr(&o))
}

/// `eipsim check FILE` accepts it.
fn check_ok(path: &Path) -> String {
    let o = eipsim().arg("check").arg(path).output().unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// The `[[association]]` tables of a topology.
fn associations(text: &str) -> Vec<toml::Table> {
    let t: toml::Table = text.parse().unwrap();
    t["association"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_table().unwrap().clone())
        .collect()
}

fn assoc<'a>(all: &'a [toml::Table], eip: &str) -> &'a toml::Table {
    all.iter()
        .find(|a| a["eip"].as_str() == Some(eip))
        .unwrap_or_else(|| panic!("no association of {eip}"))
}

/// The comment line right above the table that contains `line`.
fn comment_above(text: &str, header: &str, line: &str) -> String {
    let lines: Vec<&str> = text.lines().collect();
    let at = lines
        .iter()
        .position(|l| *l == line)
        .unwrap_or_else(|| panic!("no line {line:?} in\n{text}"));
    let h = (0..at)
        .rev()
        .find(|i| lines[*i] == header)
        .unwrap_or_else(|| panic!("no {header} above {line:?}"));
    assert!(h > 0, "{header} has nothing above it");
    lines[h - 1].to_string()
}

#[test]
fn terraform_state_imports_into_a_topology_check_accepts() {
    let dir = tempdir("tf");
    let (text, notes) = import_ok(
        &[
            "terraform",
            fixture("terraform/state.json").to_str().unwrap(),
        ],
        &dir,
    );
    let view = check_ok(&dir.join("topology.toml"));
    assert!(view.contains("region eu-central-1"), "{view}");

    let t: toml::Table = text.parse().unwrap();
    assert_eq!(t["region"].as_str(), Some("eu-central-1"));
    assert_eq!(t["vpc"]["cidr"].as_str(), Some("172.16.0.0/12"));
    // MULTI_BINDED in the state: the account must be authorised.
    assert_eq!(t["account"]["multi_eip_authorized"].as_bool(), Some(true));
    assert_eq!(t["account"]["multi_eip_quota"].as_integer(), Some(10));
    // ecs.g5.large -> ecs.g5.
    let instances = t["instance"].as_array().unwrap();
    assert_eq!(instances.len(), 2);
    assert!(
        instances
            .iter()
            .all(|i| i["family"].as_str() == Some("ecs.g5"))
    );

    let a = associations(&text);
    assert_eq!(a.len(), 7);
    // NAT on a primary ENI, and on a secondary private IP of a secondary ENI.
    let web0 = assoc(&a, "eip-gw8web0");
    assert_eq!(web0["eni"].as_str(), Some("eni-gw8web0"));
    assert_eq!(web0["mode"].as_str(), Some("NAT"));
    assert!(
        web0.get("private_ip").is_none(),
        "the primary IP is the default"
    );
    let nat2 = assoc(&a, "eip-gw8nat2");
    assert_eq!(nat2["eni"].as_str(), Some("eni-gw8webnat"));
    assert_eq!(nat2["private_ip"].as_str(), Some("172.16.0.21"));
    // Cut-through on a secondary ENI that the state shows attached.
    let cut = assoc(&a, "eip-gw8cut");
    assert_eq!(cut["mode"].as_str(), Some("BINDED"));
    assert!(cut.get("private_ip").is_none());
    // Multi-EIP with two EIPs.
    for m in ["eip-gw8m1", "eip-gw8m2"] {
        let x = assoc(&a, m);
        assert_eq!(x["mode"].as_str(), Some("MULTI_BINDED"));
        assert_eq!(x["eni"].as_str(), Some("eni-gw8multi"));
    }
    // EcsInstance.
    let app = assoc(&a, "eip-gw8app");
    assert_eq!(app["instance"].as_str(), Some("i-gw8app"));
    assert_eq!(app["instance_type"].as_str(), Some("EcsInstance"));
    // The mode the state leaves out is NAT, and a note says so.
    assert_eq!(assoc(&a, "eip-gw8spare")["mode"].as_str(), Some("NAT"));
    assert!(
        notes.contains("note: alicloud_eip_association.spare: no mode: NAT"),
        "{notes}"
    );

    // A primary ENI per instance from its private_ip; the id the state lacks is defaulted.
    let enis = t["eni"].as_array().unwrap();
    let primary = enis
        .iter()
        .find(|e| e["id"].as_str() == Some("i-gw8app-primary-eni"))
        .expect("app's primary ENI");
    assert_eq!(primary["kind"].as_str(), Some("primary"));
    assert_eq!(primary["primary_ip"].as_str(), Some("172.16.1.10"));
    assert_eq!(
        primary["secondary_ips"].as_array().unwrap()[0].as_str(),
        Some("172.16.1.11")
    );
    assert!(
        notes.contains("note: module.app.alicloud_instance.app: the primary ENI's id is not in the input: using i-gw8app-primary-eni"),
        "{notes}"
    );
    assert!(
        notes.contains(
            "note: primary ENI of alicloud_instance.web: no MAC address: using 00:16:3e:fe:00:01"
        ),
        "{notes}"
    );
    assert!(notes.contains("gateway_mac ee:ff:ff:ff:ff:ff"), "{notes}");
    assert!(notes.contains("dhcp = true"), "{notes}");
    assert!(notes.contains("alicloud_key_pair"), "{notes}");
    let webnat = enis
        .iter()
        .find(|e| e["id"].as_str() == Some("eni-gw8webnat"))
        .unwrap();
    assert_eq!(webnat["kind"].as_str(), Some("secondary"));
    assert_eq!(webnat["instance"].as_str(), Some("i-gw8web"));
    assert_eq!(webnat["security_groups"].as_array().unwrap().len(), 1);

    // Security groups: both directions, a group-referencing rule, inner access.
    let groups = t["security_group"].as_array().unwrap();
    assert_eq!(groups.len(), 2);
    let web = &groups[0];
    assert_eq!(web["id"].as_str(), Some("sg-gw8web"));
    assert_eq!(web["type"].as_str(), Some("basic"));
    let rules = web["rule"].as_array().unwrap();
    assert_eq!(rules.len(), 3);
    assert_eq!(rules[1]["group"].as_str(), Some("sg-gw8app"));
    assert_eq!(rules[2]["direction"].as_str(), Some("egress"));
    assert_eq!(rules[2]["policy"].as_str(), Some("drop"));
    assert_eq!(groups[1]["inner_access"].as_str(), Some("drop"));
    assert!(
        view.contains("security groups sg-gw8app (basic, inner access drop)"),
        "{view}"
    );

    // Each entry names the resource address it came from.
    assert_eq!(
        comment_above(&text, "[[association]]", "eip = \"eip-gw8m2\""),
        "# from module.app.alicloud_eip_association.multi[1]"
    );
    assert_eq!(
        comment_above(&text, "[[eni]]", "id = \"eni-gw8cut\""),
        "# from module.app.alicloud_ecs_network_interface.cut"
    );
    assert_eq!(
        comment_above(&text, "[[eip]]", "id = \"eip-gw8app\""),
        "# from alicloud_eip.app"
    );
    assert_eq!(
        comment_above(&text, "[[security_group.rule]]", "group = \"sg-gw8web\""),
        "# from module.app.alicloud_security_group_rule.from_web"
    );
    assert!(text.contains("# region from alicloud_vswitch.web (zone eu-central-1a)"));
}

#[test]
fn aliyun_responses_import_into_a_topology_check_accepts() {
    let dir = tempdir("aliyun");
    let (text, notes) = import_ok(&["aliyun", fixture("aliyun").to_str().unwrap()], &dir);
    check_ok(&dir.join("topology.toml"));
    let t: toml::Table = text.parse().unwrap();
    assert_eq!(t["region"].as_str(), Some("eu-central-1"));
    assert_eq!(t["account"]["multi_eip_authorized"].as_bool(), Some(true));
    let a = associations(&text);
    assert_eq!(a.len(), 7);
    assert_eq!(
        assoc(&a, "eip-gw8nat2")["private_ip"].as_str(),
        Some("172.16.0.21")
    );
    assert_eq!(assoc(&a, "eip-gw8cut")["mode"].as_str(), Some("BINDED"));
    assert_eq!(
        assoc(&a, "eip-gw8m2")["mode"].as_str(),
        Some("MULTI_BINDED")
    );
    assert_eq!(
        assoc(&a, "eip-gw8app")["instance_type"].as_str(),
        Some("EcsInstance")
    );
    // The primary ENIs come with their ids and MACs: no default needed.
    let enis = t["eni"].as_array().unwrap();
    let app0 = enis
        .iter()
        .find(|e| e["id"].as_str() == Some("eni-gw8app0"))
        .unwrap();
    assert_eq!(app0["mac"].as_str(), Some("00:16:3e:0b:00:10"));
    assert_eq!(app0["kind"].as_str(), Some("primary"));
    assert!(!notes.contains("no MAC address"), "{notes}");
    // The unassociated EIP of page2.json (recognised by its keys, not its name) is kept.
    assert!(text.contains("id = \"eip-gw8free\""));
    assert_eq!(
        comment_above(&text, "[[eip]]", "id = \"eip-gw8free\""),
        "# from page2.json (DescribeEipAddresses) eip-gw8free"
    );
    assert_eq!(
        comment_above(&text, "[[security_group.rule]]", "group = \"sg-gw8app\""),
        "# from sg-web.json (DescribeSecurityGroupAttribute) sg-gw8web permission 2"
    );
    // DescribeSecurityGroupAttribute has no group type unless given: basic, with a note.
    assert!(
        notes.contains("note: sg-web.json (DescribeSecurityGroupAttribute) sg-gw8web: the group's type is not in the input: basic"),
        "{notes}"
    );
    let groups = t["security_group"].as_array().unwrap();
    let web = groups
        .iter()
        .find(|g| g["id"].as_str() == Some("sg-gw8web"))
        .unwrap();
    // Upper-case API values become the topology's lower-case ones.
    assert_eq!(web["rule"][0]["protocol"].as_str(), Some("tcp"));
    assert_eq!(web["rule"][0]["policy"].as_str(), Some("accept"));
    assert_eq!(web["rule"][2]["direction"].as_str(), Some("egress"));
    assert_eq!(web["rule"][2]["cidr"].as_str(), Some("0.0.0.0/0"));
}

#[test]
fn both_sources_describe_the_same_bindings() {
    let tf = import::import_terraform(&fixture("terraform/state.json"), None).unwrap();
    let al = import::import_aliyun(&fixture("aliyun"), None).unwrap();
    let a = Cloud::from_toml(&tf.toml).unwrap();
    let b = Cloud::from_toml(&al.toml).unwrap();
    let bindings = |c: &Cloud| {
        let mut v: Vec<(String, String, Option<std::net::Ipv4Addr>, String)> = c
            .associations
            .iter()
            .map(|x| {
                (
                    c.eips[x.eip].id.clone(),
                    x.mode.api_name().to_string(),
                    x.private_ip,
                    format!("{:?}", x.instance_type),
                )
            })
            .collect();
        v.sort();
        v
    };
    assert_eq!(bindings(&a), bindings(&b));
    let groups = |c: &Cloud| {
        let mut g = c.security_groups.clone();
        g.sort_by(|x, y| x.id.cmp(&y.id));
        g
    };
    assert_eq!(groups(&a), groups(&b));
    assert_eq!(groups(&a).len(), 2);
}

#[test]
fn stdout_output_equals_the_file_and_no_temporary_is_left() {
    let dir = tempdir("stdout");
    let state = fixture("terraform/state.json");
    let o = eipsim()
        .args(["import", "terraform"])
        .arg(&state)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let (file, _) = import_ok(&["terraform", state.to_str().unwrap()], &dir);
    assert_eq!(String::from_utf8_lossy(&o.stdout), file);
    let names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names, vec!["topology.toml"]);
}

// ---------------------------------------------------------------------------------------------
// Errors

/// Writes the Terraform fixture with `edit` applied and runs `eipsim import terraform` on it.
fn import_edited(name: &str, edit: impl Fn(String) -> String, extra: &[&str]) -> (Output, PathBuf) {
    let dir = tempdir(name);
    let text = std::fs::read_to_string(fixture("terraform/state.json")).unwrap();
    let edited = edit(text.clone());
    assert_ne!(edited, text, "the edit changed nothing");
    let path = dir.join("state.json");
    std::fs::write(&path, edited).unwrap();
    let out = dir.join("topology.toml");
    let o = eipsim()
        .args(["import", "terraform"])
        .arg(&path)
        .arg("-o")
        .arg(&out)
        .args(extra)
        .output()
        .unwrap();
    (o, out)
}

fn refused(o: &Output, out: &Path, needles: &[&str]) {
    assert_eq!(o.status.code(), Some(1), "{}", stderr(o));
    assert!(!out.exists(), "no output on failure");
    let e = stderr(o);
    for n in needles {
        assert!(e.contains(n), "{e:?} should contain {n:?}");
    }
}

#[test]
fn an_association_to_a_missing_eni_names_the_association() {
    let (o, out) = import_edited(
        "missing-eni",
        |t| {
            t.replace(
                "\"instance_id\": \"eni-gw8webnat\"",
                "\"instance_id\": \"eni-gone\"",
            )
        },
        &[],
    );
    refused(
        &o,
        &out,
        &[
            "alicloud_eip_association.nat2",
            "eni-gone",
            "not in the input",
        ],
    );
}

#[test]
fn an_unknown_mode_names_the_association() {
    let (o, out) = import_edited(
        "bad-mode",
        |t| t.replace("\"mode\": \"BINDED\"", "\"mode\": \"TURBO\""),
        &[],
    );
    refused(
        &o,
        &out,
        &["module.app.alicloud_eip_association.cut", "\"TURBO\""],
    );
}

#[test]
fn a_mode_the_region_lacks_names_the_association() {
    // China (Hong Kong) offers neither cut-through nor multi-EIP.
    let (o, out) = import_edited(
        "mode-region",
        |t| t.replace("eu-central-1a", "cn-hongkong-b"),
        &[],
    );
    refused(
        &o,
        &out,
        &[
            "module.app.alicloud_eip_association.cut",
            "BINDED is not offered in region cn-hongkong",
        ],
    );
}

#[test]
fn malformed_json_names_file_and_position() {
    let (o, out) = import_edited(
        "malformed",
        |t| t.replacen("\"values\": {", "\"values\": {,", 1),
        &[],
    );
    refused(&o, &out, &["state.json: malformed JSON at line 4, column"]);
    // And in a directory of responses.
    let dir = tempdir("malformed-aliyun");
    for f in std::fs::read_dir(fixture("aliyun")).unwrap() {
        let p = f.unwrap().path();
        std::fs::copy(&p, dir.join(p.file_name().unwrap())).unwrap();
    }
    std::fs::write(dir.join("eips.json"), "{\n  \"EipAddresses\": [\n}\n").unwrap();
    let o = eipsim()
        .args(["import", "aliyun"])
        .arg(&dir)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("eips.json: malformed JSON at line 3, column 1"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn a_rule_check_would_break_names_the_rule_and_the_resource() {
    // ecs.g6 is not a family that takes a multi-EIP ENI.
    let (o, out) = import_edited(
        "family",
        |t| t.replace("ecs.g5.xlarge", "ecs.g6.xlarge"),
        &[],
    );
    refused(
        &o,
        &out,
        &[
            "module.app.alicloud_ecs_network_interface.multi",
            "[rule multi-eip-instance-family]",
        ],
    );
}

#[test]
fn conflicting_zones_and_region_name_both() {
    let (o, out) = import_edited(
        "zones",
        |t| {
            t.replacen(
                "\"zone_id\": \"eu-central-1a\"",
                "\"zone_id\": \"eu-west-1b\"",
                1,
            )
        },
        &[],
    );
    refused(
        &o,
        &out,
        &[
            "alicloud_vswitch.web (zone eu-west-1b)",
            "module.app",
            "eu-central-1",
        ],
    );
    let (o, out) = import_edited(
        "region-arg",
        |t| t.replace("\"1.9.8\"", "\"1.9.9\""),
        &["--region", "us-east-1"],
    );
    refused(&o, &out, &["--region us-east-1", "eu-central-1"]);
}

#[test]
fn usage_errors_exit_2() {
    let o = eipsim()
        .args(["import", "cloudformation", "x.json"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    let o = eipsim().args(["import", "terraform"]).output().unwrap();
    assert_eq!(o.status.code(), Some(2));
}

/// The state with attribute `key` of the resource at `address` set to `value`.
fn set(state: &str, address: &str, key: &str, value: serde_json::Value) -> String {
    let mut v: serde_json::Value = serde_json::from_str(state).unwrap();
    let mut done = false;
    let mut modules = vec![&mut v["values"]["root_module"]];
    while let Some(m) = modules.pop() {
        let m = m.as_object_mut().unwrap();
        for r in m
            .get_mut("resources")
            .and_then(|r| r.as_array_mut())
            .into_iter()
            .flatten()
        {
            if r["address"] == address {
                r["values"][key] = value.clone();
                done = true;
            }
        }
        if let Some(c) = m.get_mut("child_modules").and_then(|c| c.as_array_mut()) {
            modules.extend(c.iter_mut());
        }
    }
    assert!(done, "no resource {address}");
    v.to_string()
}

#[test]
fn inconsistent_inputs_are_errors_naming_the_resource() {
    let state = std::fs::read_to_string(fixture("terraform/state.json")).unwrap();
    let run = |edited: String| {
        import::import_terraform_text(&edited, "state.json", None)
            .expect_err("the import should fail")
            .to_string()
    };
    // An ENI in another VPC (through its vSwitch).
    let e = run(set(
        &state,
        "module.app.alicloud_vswitch.app",
        "vpc_id",
        "vpc-other".into(),
    ));
    assert!(e.contains("VPC vpc-other"), "{e}");
    assert!(e.contains("module.app.alicloud_instance.app"), "{e}");
    // An attachment to an instance the state lacks.
    let e = run(set(
        &state,
        "alicloud_ecs_network_interface_attachment.web_nat",
        "instance_id",
        "i-gone".into(),
    ));
    assert!(
        e.starts_with("alicloud_ecs_network_interface_attachment.web_nat: instance i-gone"),
        "{e}"
    );
    // An EcsInstance association naming an ENI.
    let e = run(set(
        &state,
        "module.app.alicloud_eip_association.app",
        "instance_id",
        "eni-gw8cut".into(),
    ));
    assert!(
        e.starts_with("module.app.alicloud_eip_association.app: instance eni-gw8cut is not in the input (it is an ENI"),
        "{e}"
    );
    // A rule of a group the state lacks.
    let e = run(set(
        &state,
        "module.app.alicloud_security_group_rule.ping_out",
        "security_group_id",
        "sg-gone".into(),
    ));
    assert!(
        e.starts_with("module.app.alicloud_security_group_rule.ping_out: security group sg-gone is not in the input"),
        "{e}"
    );
    // A NAT private IP the ENI does not have.
    let e = run(set(
        &state,
        "alicloud_eip_association.nat2",
        "private_ip_address",
        "172.16.0.99".into(),
    ));
    assert!(
        e.starts_with("alicloud_eip_association.nat2: private IP 172.16.0.99 is not one of ENI eni-gw8webnat's addresses"),
        "{e}"
    );
    // The same EIP associated twice: the model's rule, named with the second association.
    let e = run(set(
        &state,
        "alicloud_eip_association.spare",
        "allocation_id",
        "eip-gw8web0".into(),
    ));
    assert!(
        e.starts_with("alicloud_eip_association.spare: the imported topology would be refused"),
        "{e}"
    );
    assert!(e.contains("[rule eip-associated-twice]"), "{e}");
}

#[test]
fn two_vpcs_without_instances_cannot_be_chosen_between() {
    let text = r#"{"values": {"root_module": {"resources": [
        {"address": "alicloud_vpc.a", "mode": "managed", "type": "alicloud_vpc", "name": "a", "values": {"id": "vpc-a", "cidr_block": "10.0.0.0/16"}},
        {"address": "alicloud_vpc.b", "mode": "managed", "type": "alicloud_vpc", "name": "b", "values": {"id": "vpc-b", "cidr_block": "10.1.0.0/16"}}
    ]}}}"#;
    let e = import::import_text(Source::Terraform, text, Some("eu-central-1")).unwrap_err();
    let m = e.to_string();
    assert!(matches!(e, ImportError::Input { .. }), "{m}");
    assert!(
        m.contains("alicloud_vpc.a") && m.contains("alicloud_vpc.b"),
        "{m}"
    );
    // One VPC and --region: an empty but valid topology.
    let one = r#"{"values": {"root_module": {"resources": [
        {"address": "alicloud_vpc.a", "mode": "managed", "type": "alicloud_vpc", "name": "a", "values": {"id": "vpc-a", "cidr_block": "10.0.0.0/16"}}
    ]}}}"#;
    assert!(
        import::import_text(Source::Terraform, one, None).is_err(),
        "no region"
    );
    let ok = import::import_text(Source::Terraform, one, Some("eu-central-1")).unwrap();
    let c = Cloud::from_toml(&ok.toml).unwrap();
    assert_eq!(c.vpc.id, "vpc-a");
}

#[test]
fn zones_map_to_regions_and_types_to_families() {
    assert_eq!(import::region_of_zone("eu-central-1a"), "eu-central-1");
    assert_eq!(import::region_of_zone("cn-hangzhou-h"), "cn-hangzhou");
    assert_eq!(import::region_of_zone("ap-southeast-1c"), "ap-southeast-1");
    assert_eq!(import::region_of_zone("xx-test-9z"), "xx-test-9");
    assert_eq!(import::family_of("ecs.g5.large"), "ecs.g5");
    assert_eq!(import::family_of("ecs.x1.i2.16xlarge"), "ecs.x1.i2");
    assert_eq!(import::family_of("ecs.c5-618.large"), "ecs.c5-618");
    assert_eq!(import::family_of("ecs.g7.2xlarge"), "ecs.g7");
}

// ---------------------------------------------------------------------------------------------
// A capture through an imported topology

fn pcap(frames: &[Vec<u8>]) -> Vec<u8> {
    use pcap_file::pcap::{PcapHeader, PcapPacket, PcapWriter};
    let mut w = PcapWriter::with_header(Vec::new(), PcapHeader::default()).unwrap();
    for (i, f) in frames.iter().enumerate() {
        let ts = std::time::Duration::new(1_700_000_000, (i as u32) * 1_000_000);
        w.write_packet(&PcapPacket::new(ts, f.len() as u32, f))
            .unwrap();
    }
    w.into_writer()
}

fn tcp(
    src_mac: [u8; 6],
    src: [u8; 4],
    sport: u16,
    dst: [u8; 4],
    dport: u16,
    syn_ack: bool,
) -> Vec<u8> {
    let b = etherparse::PacketBuilder::ethernet2(src_mac, [0xee, 0xff, 0xff, 0xff, 0xff, 0xff])
        .ipv4(src, dst, 64)
        .tcp(sport, dport, 1000, 64240);
    let b = if syn_ack { b.syn().ack(1) } else { b.syn() };
    let mut v = Vec::new();
    b.write(&mut v, &[]).unwrap();
    v
}

/// The IPv4 source and destination of each frame of a pcap file.
fn addresses(path: &Path) -> Vec<([u8; 4], [u8; 4])> {
    let data = std::fs::read(path).unwrap();
    let mut r = pcap_file::pcap::PcapReader::new(data.as_slice()).unwrap();
    let mut v = Vec::new();
    while let Some(p) = r.next_packet() {
        let p = p.unwrap();
        let s = etherparse::SlicedPacket::from_ethernet(&p.data).unwrap();
        let Some(etherparse::NetSlice::Ipv4(ip)) = s.net else {
            panic!("not IPv4")
        };
        v.push((ip.header().source(), ip.header().destination()));
    }
    v
}

#[test]
fn a_capture_replays_through_an_imported_topology() {
    let dir = tempdir("replay");
    let (_, _) = import_ok(
        &[
            "terraform",
            fixture("terraform/state.json").to_str().unwrap(),
        ],
        &dir,
    );
    let client = [198, 51, 100, 7];
    let frames = vec![
        // The Internet to the NAT EIP of 172.16.0.21 ...
        tcp(
            [0x02, 0, 0, 0, 0, 0x09],
            client,
            40000,
            [47, 91, 0, 21],
            80,
            false,
        ),
        // ... and the reply from that ENI's MAC.
        tcp(
            [0x00, 0x16, 0x3e, 0x0a, 0x00, 0x20],
            [172, 16, 0, 21],
            80,
            client,
            40000,
            true,
        ),
    ];
    let cap = dir.join("capture.pcap");
    std::fs::write(&cap, pcap(&frames)).unwrap();
    let out = dir.join("out");
    let o = eipsim()
        .args(["replay", "--no-progress", "--topology"])
        .arg(dir.join("topology.toml"))
        .arg("--out")
        .arg(&out)
        .arg(&cap)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("report.json")).unwrap()).unwrap();
    assert_eq!(report["frames"]["in"], 2);
    assert_eq!(report["frames"]["forwarded"], 2);
    let flows = report["flows"].as_array().unwrap();
    assert_eq!(flows.len(), 1, "{report}");
    let f = &flows[0];
    assert_eq!(f["mode"], "NAT");
    assert_eq!(f["eni"], "eni-gw8webnat");
    assert_eq!(f["eip"], "47.91.0.21");
    assert_eq!(f["actions"]["dnat"], 1);
    assert_eq!(f["actions"]["snat"], 1);
    // DNAT delivered to the private IP; SNAT sent the reply from the EIP.
    assert_eq!(
        addresses(&out.join("eni-gw8webnat.pcap")),
        vec![(client, [172, 16, 0, 21])]
    );
    assert_eq!(
        addresses(&out.join("internet.pcap")),
        vec![([47, 91, 0, 21], client)]
    );
}

#[test]
fn more_multi_eip_addresses_than_10_raise_the_quota() {
    let r = |address: &str, kind: &str, values: serde_json::Value| serde_json::json!({"address": address, "mode": "managed", "type": kind, "name": "x", "values": values});
    let mut resources = vec![
        r(
            "alicloud_vpc.v",
            "alicloud_vpc",
            serde_json::json!({"id": "vpc-v", "cidr_block": "10.0.0.0/16"}),
        ),
        r(
            "alicloud_vswitch.s",
            "alicloud_vswitch",
            serde_json::json!({"id": "vsw-s", "vpc_id": "vpc-v", "zone_id": "ap-southeast-1a"}),
        ),
        r(
            "alicloud_ecs_network_interface.m",
            "alicloud_ecs_network_interface",
            serde_json::json!({"id": "eni-m", "mac": "00:16:3e:00:00:01", "primary_ip_address": "10.0.0.5", "vswitch_id": "vsw-s"}),
        ),
    ];
    for n in 1..=12 {
        resources.push(r(
            &format!("alicloud_eip_address.e[{n}]"),
            "alicloud_eip_address",
            serde_json::json!({"id": format!("eip-{n}"), "ip_address": format!("47.1.0.{n}"), "payment_type": "PayAsYouGo"}),
        ));
        resources.push(r(
            &format!("alicloud_eip_association.e[{n}]"),
            "alicloud_eip_association",
            serde_json::json!({"allocation_id": format!("eip-{n}"), "instance_id": "eni-m", "instance_type": "NetworkInterface", "mode": "MULTI_BINDED", "private_ip_address": "10.0.0.5"}),
        ));
    }
    let state =
        serde_json::json!({"values": {"root_module": {"resources": resources}}}).to_string();
    let i = import::import_text(Source::Terraform, &state, None).unwrap();
    let c = Cloud::from_toml(&i.toml).unwrap();
    assert_eq!(c.region, "ap-southeast-1");
    assert!(c.account.multi_eip_authorized);
    assert_eq!(c.account.multi_eip_quota, 12);
    assert_eq!(c.associations.len(), 12);
    assert!(
        i.toml
            .contains("# inferred: an ENI has 12 MULTI_BINDED EIPs")
    );
}
