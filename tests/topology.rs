//! Topology validation: one rejection test per rule of issue 2 item 2, each asserting the rule
//! code and that the message names the association or ENI concerned; and acceptance tests
//! (design.md's example, the bundled demo, every mode at its limits, the seeds' region lists).

mod common;

use eipsim::model::{Cloud, Mode, TopologyError};

// ---------------------------------------------------------------------------------------------
// A small writer for topology files

struct Topo {
    text: String,
}

impl Topo {
    fn new(region: &str) -> Topo {
        Topo::with_account(region, true, 10)
    }

    fn with_account(region: &str, authorized: bool, quota: u32) -> Topo {
        Topo {
            text: format!(
                r#"region = "{region}"

[account]
multi_eip_authorized = {authorized}
multi_eip_quota = {quota}

[vpc]
id = "vpc-t"
cidr = "192.168.0.0/16"
"#
            ),
        }
    }

    fn instance(mut self, id: &str, family: &str, dhcp: bool) -> Topo {
        self.text +=
            &format!("\n[[instance]]\nid = \"{id}\"\nfamily = \"{family}\"\ndhcp = {dhcp}\n");
        self
    }

    fn eni(
        mut self,
        id: &str,
        kind: &str,
        mac: u8,
        primary: &str,
        secondary: &[&str],
        instance: Option<&str>,
    ) -> Topo {
        let secondary: Vec<String> = secondary.iter().map(|s| format!("\"{s}\"")).collect();
        self.text += &format!(
            "\n[[eni]]\nid = \"{id}\"\nkind = \"{kind}\"\nmac = \"00:16:3e:00:00:{mac:02x}\"\nprimary_ip = \"{primary}\"\nsecondary_ips = [{}]\n",
            secondary.join(", ")
        );
        if let Some(i) = instance {
            self.text += &format!("instance = \"{i}\"\n");
        }
        self
    }

    fn raw(mut self, s: &str) -> Topo {
        self.text += s;
        self
    }

    fn eip(mut self, id: &str, address: &str) -> Topo {
        self.text += &format!("\n[[eip]]\nid = \"{id}\"\naddress = \"{address}\"\n");
        self
    }

    fn assoc(mut self, eip: &str, eni: &str, mode: &str, private_ip: Option<&str>) -> Topo {
        self.text +=
            &format!("\n[[association]]\neip = \"{eip}\"\neni = \"{eni}\"\nmode = \"{mode}\"\n");
        if let Some(p) = private_ip {
            self.text += &format!("private_ip = \"{p}\"\n");
        }
        self
    }

    /// `n` EIPs eip-1.. at 47.0.0.1..
    fn eips(mut self, n: u8) -> Topo {
        for k in 1..=n {
            self = self.eip(&format!("eip-{k}"), &format!("47.0.0.{k}"));
        }
        self
    }

    /// A typical start: instance i-1 (ecs.g5, DHCP), its primary ENI eni-p (192.168.0.10), a
    /// secondary ENI eni-s (192.168.0.20, .21, .22) attached to it, and `n` EIPs.
    fn web(region: &str, n: u8) -> Topo {
        Topo::new(region)
            .instance("i-1", "ecs.g5", true)
            .eni("eni-p", "primary", 1, "192.168.0.10", &[], Some("i-1"))
            .eni(
                "eni-s",
                "secondary",
                2,
                "192.168.0.20",
                &["192.168.0.21", "192.168.0.22"],
                Some("i-1"),
            )
            .eips(n)
    }

    fn load(&self) -> Result<Cloud, TopologyError> {
        Cloud::from_toml(&self.text)
    }
}

/// Asserts that the topology is rejected under rule `code`, with a message naming every string
/// of `names` (the association's EIP and ENI, or the ENI) and the rule.
#[track_caller]
fn reject(t: &Topo, code: &str, names: &[&str]) -> String {
    let e = match t.load() {
        Ok(_) => panic!("accepted, expected rule {code}:\n{}", t.text),
        Err(e) => e,
    };
    let msg = e.to_string();
    assert_eq!(e.code(), Some(code), "wrong rule: {msg}\n{}", t.text);
    assert!(msg.contains(code), "the message names the rule: {msg}");
    for n in names {
        assert!(msg.contains(n), "the message names {n:?}: {msg}");
    }
    msg
}

#[track_caller]
fn accept(t: &Topo) -> Cloud {
    match t.load() {
        Ok(c) => c,
        Err(e) => panic!("rejected: {e}\n{}", t.text),
    }
}

// ---------------------------------------------------------------------------------------------
// Rejections, one per rule

#[test]
fn primary_eni_binded() {
    let msg = reject(
        &Topo::web("eu-central-1", 1).assoc("eip-1", "eni-p", "BINDED", None),
        "primary-eni-nat-only",
        &["association", "eip-1", "eni-p", "BINDED"],
    );
    assert!(msg.contains("primary"), "{msg}");
}

#[test]
fn primary_eni_multi_binded() {
    reject(
        &Topo::web("eu-central-1", 1).assoc("eip-1", "eni-p", "MULTI_BINDED", None),
        "primary-eni-nat-only",
        &["association", "eip-1", "eni-p", "MULTI_BINDED"],
    );
}

#[test]
fn primary_eni_two_eips() {
    reject(
        &Topo::web("eu-central-1", 2)
            .assoc("eip-1", "eni-p", "NAT", None)
            .assoc("eip-2", "eni-p", "NAT", None),
        "primary-eni-one-eip",
        &["association 2", "eip-2", "eni-p"],
    );
}

#[test]
fn primary_eni_two_eips_on_two_private_ips() {
    let t = Topo::new("eu-central-1")
        .instance("i-1", "ecs.g5", true)
        .eni(
            "eni-p",
            "primary",
            1,
            "192.168.0.10",
            &["192.168.0.11"],
            Some("i-1"),
        )
        .eips(2)
        .assoc("eip-1", "eni-p", "NAT", None)
        .assoc("eip-2", "eni-p", "NAT", Some("192.168.0.11"));
    reject(
        &t,
        "primary-eni-one-eip",
        &["association 2", "eip-2", "eni-p"],
    );
}

#[test]
fn nat_private_ip_not_owned() {
    // Another ENI's address, and an address nobody owns.
    reject(
        &Topo::web("eu-central-1", 1).assoc("eip-1", "eni-s", "NAT", Some("192.168.0.10")),
        "private-ip-not-owned",
        &["association 1", "eip-1", "eni-s", "192.168.0.10"],
    );
    reject(
        &Topo::web("eu-central-1", 1).assoc("eip-1", "eni-s", "NAT", Some("192.168.0.99")),
        "private-ip-not-owned",
        &["eip-1", "eni-s", "192.168.0.99"],
    );
}

#[test]
fn nat_two_eips_on_one_private_ip() {
    reject(
        &Topo::web("eu-central-1", 2)
            .assoc("eip-1", "eni-s", "NAT", Some("192.168.0.21"))
            .assoc("eip-2", "eni-s", "NAT", Some("192.168.0.21")),
        "one-eip-per-private-ip",
        &["association 2", "eip-2", "eni-s", "192.168.0.21"],
    );
    // The default private IP is the primary IP: two EIPs without private_ip collide too.
    reject(
        &Topo::web("eu-central-1", 2)
            .assoc("eip-1", "eni-s", "NAT", None)
            .assoc("eip-2", "eni-s", "NAT", Some("192.168.0.20")),
        "one-eip-per-private-ip",
        &["eip-2", "eni-s", "192.168.0.20"],
    );
}

#[test]
fn binded_two_eips() {
    let t = Topo::new("eu-central-1")
        .instance("i-1", "ecs.g5", true)
        .eni("eni-c", "secondary", 3, "192.168.0.30", &[], Some("i-1"))
        .eips(2)
        .assoc("eip-1", "eni-c", "BINDED", None)
        .assoc("eip-2", "eni-c", "BINDED", None);
    reject(&t, "binded-one-eip", &["association 2", "eip-2", "eni-c"]);
}

#[test]
fn binded_mixed_with_other_modes() {
    let base = || {
        Topo::new("eu-central-1")
            .instance("i-1", "ecs.g5", true)
            .eni(
                "eni-c",
                "secondary",
                3,
                "192.168.0.30",
                &["192.168.0.31"],
                Some("i-1"),
            )
            .eips(2)
    };
    // BINDED, then NAT on the same ENI.
    reject(
        &base().assoc("eip-1", "eni-c", "BINDED", None).assoc(
            "eip-2",
            "eni-c",
            "NAT",
            Some("192.168.0.31"),
        ),
        "binded-exclusive",
        &["association 2", "eip-2", "eni-c"],
    );
    // NAT, then BINDED.
    reject(
        &base()
            .assoc("eip-1", "eni-c", "NAT", Some("192.168.0.31"))
            .assoc("eip-2", "eni-c", "BINDED", None),
        "binded-exclusive",
        &["association 2", "eip-2", "eni-c"],
    );
    // MULTI_BINDED, then BINDED.
    reject(
        &base()
            .assoc("eip-1", "eni-c", "MULTI_BINDED", None)
            .assoc("eip-2", "eni-c", "BINDED", None),
        "binded-exclusive",
        &["association 2", "eip-2", "eni-c"],
    );
}

fn multi(region: &str, authorized: bool, quota: u32, family: &str, n: u8) -> Topo {
    let mut t = Topo::with_account(region, authorized, quota)
        .instance("i-1", family, true)
        .eni(
            "eni-m",
            "secondary",
            5,
            "192.168.0.50",
            &["192.168.0.51"],
            Some("i-1"),
        )
        .eips(n);
    for k in 1..=n {
        t = t.assoc(&format!("eip-{k}"), "eni-m", "MULTI_BINDED", None);
    }
    t
}

#[test]
fn multi_binded_over_quota() {
    reject(
        &multi("eu-central-1", true, 10, "ecs.g5", 11),
        "multi-eip-quota",
        &["association 11", "eip-11", "eni-m", "10"],
    );
    reject(
        &multi("eu-central-1", true, 2, "ecs.g5", 3),
        "multi-eip-quota",
        &["association 3", "eip-3", "eni-m"],
    );
}

#[test]
fn multi_binded_default_quota_is_10() {
    let t = |n: u8| {
        let mut t = Topo {
            text: "region = \"eu-central-1\"\n[account]\nmulti_eip_authorized = true\n[vpc]\ncidr = \"192.168.0.0/16\"\n".into(),
        }
        .instance("i-1", "ecs.g5", true)
        .eni("eni-m", "secondary", 5, "192.168.0.50", &[], Some("i-1"))
        .eips(n);
        for k in 1..=n {
            t = t.assoc(&format!("eip-{k}"), "eni-m", "MULTI_BINDED", None);
        }
        t
    };
    accept(&t(10));
    reject(&t(11), "multi-eip-quota", &["eip-11", "eni-m"]);
}

#[test]
fn multi_binded_unauthorised_account() {
    reject(
        &multi("eu-central-1", false, 10, "ecs.g5", 1),
        "multi-eip-not-authorized",
        &["association 1", "eip-1", "eni-m"],
    );
    // The account table omitted: not authorised.
    let t = Topo {
        text: "region = \"eu-central-1\"\n[vpc]\ncidr = \"192.168.0.0/16\"\n".into(),
    }
    .eni("eni-m", "secondary", 5, "192.168.0.50", &[], None)
    .eips(1)
    .assoc("eip-1", "eni-m", "MULTI_BINDED", None);
    reject(&t, "multi-eip-not-authorized", &["eip-1", "eni-m"]);
}

#[test]
fn multi_binded_bad_instance_family() {
    for family in ["ecs.g6", "ecs.g7", "ecs.g5x", "", "g5"] {
        reject(
            &multi("eu-central-1", true, 10, family, 2),
            "multi-eip-instance-family",
            &["eni-m", "i-1"],
        );
    }
}

#[test]
fn multi_binded_good_instance_families() {
    for family in [
        "ecs.g5",
        "ecs.g5.large",
        "ecs.c5",
        "ecs.r5.2xlarge",
        "ecs.t5",
        "ecs.c5-618",
        "ecs.g5-618",
        "ecs.sn1ne",
        "ecs.x1.i8",
        "ecs.ebmg5ne",
    ] {
        accept(&multi("eu-central-1", true, 10, family, 2));
    }
}

#[test]
fn multi_binded_mixed_with_nat_or_binded() {
    let base = || {
        Topo::new("eu-central-1")
            .instance("i-1", "ecs.g5", true)
            .eni(
                "eni-m",
                "secondary",
                5,
                "192.168.0.50",
                &["192.168.0.51"],
                Some("i-1"),
            )
            .eips(2)
    };
    reject(
        &base()
            .assoc("eip-1", "eni-m", "NAT", None)
            .assoc("eip-2", "eni-m", "MULTI_BINDED", None),
        "multi-eip-exclusive",
        &["association 2", "eip-2", "eni-m"],
    );
    reject(
        &base().assoc("eip-1", "eni-m", "MULTI_BINDED", None).assoc(
            "eip-2",
            "eni-m",
            "NAT",
            Some("192.168.0.51"),
        ),
        "multi-eip-exclusive",
        &["association 2", "eip-2", "eni-m"],
    );
    reject(
        &base().assoc("eip-1", "eni-m", "BINDED", None).assoc(
            "eip-2",
            "eni-m",
            "MULTI_BINDED",
            None,
        ),
        "multi-eip-exclusive",
        &["association 2", "eip-2", "eni-m"],
    );
}

/// Seed 001's list of regions offering cut-through mode, as region ids.
const SEED_001_BINDED: &[&str] = &[
    "cn-hangzhou",
    "cn-shanghai",
    "cn-qingdao",
    "cn-beijing",
    "cn-zhangjiakou",
    "cn-huhehaote",
    "cn-shenzhen",
    "cn-chengdu",
    "ap-southeast-1",
    "ap-southeast-5",
    "eu-central-1",
    "eu-west-1",
    "us-east-1",
];

/// Seed 003's list of regions offering multi-EIP to ENI mode, as region ids.
const SEED_003_MULTI: &[&str] = &[
    "cn-shenzhen",
    "cn-shanghai",
    "cn-beijing",
    "cn-zhangjiakou",
    "cn-chengdu",
    "ap-southeast-1",
    "eu-central-1",
    "ap-south-1",
    "us-east-1",
    "eu-west-1",
];

fn binded(region: &str) -> Topo {
    Topo::new(region)
        .instance("i-1", "ecs.g5", true)
        .eni("eni-c", "secondary", 3, "192.168.0.30", &[], Some("i-1"))
        .eips(1)
        .assoc("eip-1", "eni-c", "BINDED", None)
}

#[test]
fn binded_outside_seed_001_regions() {
    for region in [
        "ap-south-1",
        "cn-guangzhou",
        "ap-northeast-1",
        "us-west-1",
        "cn-hongkong",
    ] {
        let msg = reject(
            &binded(region),
            "mode-not-in-region",
            &["association 1", "eip-1", "eni-c", region],
        );
        assert!(msg.contains("BINDED"), "{msg}");
    }
}

#[test]
fn multi_binded_outside_seed_003_regions() {
    for region in [
        "cn-hangzhou",
        "cn-qingdao",
        "cn-huhehaote",
        "ap-southeast-5",
        "us-west-1",
    ] {
        let msg = reject(
            &multi(region, true, 10, "ecs.g5", 1),
            "mode-not-in-region",
            &["association 1", "eip-1", "eni-m", region],
        );
        assert!(msg.contains("MULTI_BINDED"), "{msg}");
    }
}

#[test]
fn region_lists_match_the_seeds() {
    for (region, _) in eipsim::model::regions::REGIONS {
        let b = binded(region).load();
        assert_eq!(
            b.is_ok(),
            SEED_001_BINDED.contains(region),
            "BINDED in {region}: {:?}",
            b.err().map(|e| e.to_string())
        );
        let m = multi(region, true, 10, "ecs.g5", 1).load();
        assert_eq!(
            m.is_ok(),
            SEED_003_MULTI.contains(region),
            "MULTI_BINDED in {region}: {:?}",
            m.err().map(|e| e.to_string())
        );
        // NAT mode exists everywhere.
        accept(&Topo::web(region, 1).assoc("eip-1", "eni-s", "NAT", None));
    }
    for r in SEED_001_BINDED.iter().chain(SEED_003_MULTI) {
        assert!(
            eipsim::model::regions::REGIONS
                .iter()
                .any(|(id, _)| id == r),
            "{r} is a known region"
        );
    }
}

#[test]
fn unknown_region() {
    let t = Topo::new("mars-north-1");
    let e = t.load().unwrap_err();
    assert_eq!(e.code(), Some("unknown-region"));
    assert!(e.to_string().contains("mars-north-1"));
}

#[test]
fn eip_associated_twice() {
    reject(
        &Topo::web("eu-central-1", 1)
            .assoc("eip-1", "eni-s", "NAT", None)
            .assoc("eip-1", "eni-p", "NAT", None),
        "eip-associated-twice",
        &["association 2", "eip-1", "eni-p"],
    );
    reject(
        &Topo::web("eu-central-1", 1)
            .assoc("eip-1", "eni-s", "NAT", Some("192.168.0.21"))
            .assoc("eip-1", "eni-s", "NAT", Some("192.168.0.22")),
        "eip-associated-twice",
        &["association 2", "eip-1", "eni-s"],
    );
}

#[test]
fn duplicate_mac() {
    let t = Topo::new("eu-central-1")
        .eni("eni-a", "secondary", 7, "192.168.0.1", &[], None)
        .eni("eni-b", "secondary", 7, "192.168.0.2", &[], None);
    reject(
        &t,
        "duplicate-mac",
        &["eni-b", "eni-a", "00:16:3e:00:00:07"],
    );
}

#[test]
fn duplicate_ip() {
    // Two ENIs with one primary IP.
    reject(
        &Topo::new("eu-central-1")
            .eni("eni-a", "secondary", 1, "192.168.0.1", &[], None)
            .eni("eni-b", "secondary", 2, "192.168.0.1", &[], None),
        "duplicate-address",
        &["eni-b", "eni-a", "192.168.0.1"],
    );
    // A secondary IP that is another ENI's primary IP.
    reject(
        &Topo::new("eu-central-1")
            .eni("eni-a", "secondary", 1, "192.168.0.1", &[], None)
            .eni(
                "eni-b",
                "secondary",
                2,
                "192.168.0.2",
                &["192.168.0.1"],
                None,
            ),
        "duplicate-address",
        &["eni-b", "192.168.0.1"],
    );
    // One ENI listing an address twice.
    reject(
        &Topo::new("eu-central-1").eni(
            "eni-a",
            "secondary",
            1,
            "192.168.0.1",
            &["192.168.0.5", "192.168.0.5"],
            None,
        ),
        "duplicate-address",
        &["eni-a", "192.168.0.5"],
    );
    // Two EIPs with one address.
    reject(
        &Topo::new("eu-central-1")
            .eip("eip-a", "47.0.0.1")
            .eip("eip-b", "47.0.0.1"),
        "duplicate-address",
        &["eip-b", "eip-a", "47.0.0.1"],
    );
}

#[test]
fn address_outside_vpc_cidr() {
    reject(
        &Topo::new("eu-central-1").eni("eni-a", "secondary", 1, "10.0.0.1", &[], None),
        "address-outside-vpc",
        &["eni-a", "10.0.0.1", "192.168.0.0/16"],
    );
    reject(
        &Topo::new("eu-central-1").eni(
            "eni-a",
            "secondary",
            1,
            "192.168.0.1",
            &["172.16.0.1"],
            None,
        ),
        "address-outside-vpc",
        &["eni-a", "172.16.0.1"],
    );
    // An EIP is public: not inside the VPC.
    reject(
        &Topo::new("eu-central-1").eip("eip-a", "192.168.7.7"),
        "eip-inside-vpc",
        &["eip-a", "192.168.7.7"],
    );
}

#[test]
fn unknown_ids() {
    reject(
        &Topo::web("eu-central-1", 1).assoc("eip-nope", "eni-s", "NAT", None),
        "unknown-id",
        &["association 1", "eip-nope"],
    );
    reject(
        &Topo::web("eu-central-1", 1).assoc("eip-1", "eni-nope", "NAT", None),
        "unknown-id",
        &["association 1", "eni-nope"],
    );
    reject(
        &Topo::new("eu-central-1").eni("eni-a", "secondary", 1, "192.168.0.1", &[], Some("i-nope")),
        "unknown-id",
        &["eni-a", "i-nope"],
    );
}

#[test]
fn duplicate_ids() {
    reject(
        &Topo::new("eu-central-1")
            .eni("x", "secondary", 1, "192.168.0.1", &[], None)
            .eip("x", "47.0.0.1"),
        "duplicate-id",
        &["x"],
    );
}

#[test]
fn syntax_errors_have_no_rule_code() {
    for text in [
        "region = \"eu-central-1\"\n", // no [vpc]
        "region = \"eu-central-1\"\n[vpc]\ncidr = \"192.168.0.1/16\"\n", // host bits
        "region = \"eu-central-1\"\n[vpc]\ncidr = \"192.168.0.0/33\"\n",
        "region = \"eu-central-1\"\n[vpc]\ncidr = \"192.168.0.0/16\"\nbogus = 1\n",
        "region = \"eu-central-1\"\n[vpc]\ncidr = \"192.168.0.0/16\"\n[[eni]]\nid = \"e\"\nkind = \"secondary\"\nmac = \"00:16:3e:00:00\"\nprimary_ip = \"192.168.0.1\"\n",
        "region = \"eu-central-1\"\n[vpc]\ncidr = \"192.168.0.0/16\"\n[[eip]]\nid = \"e\"\naddress = \"47.0.0.1\"\n[[association]]\neip = \"e\"\neni = \"x\"\nmode = \"nat\"\n",
    ] {
        let e = Cloud::from_toml(text).expect_err(text);
        assert!(matches!(e, TopologyError::Syntax { .. }), "{e}");
        assert_eq!(e.code(), None);
    }
}

// ---------------------------------------------------------------------------------------------
// Acceptance

/// design.md section 2's example, verbatim.
const DESIGN_EXAMPLE: &str = r#"
region = "eu-central-1"            # Alibaba region id; decides which modes exist (seeds' region lists)

[account]
multi_eip_authorized = true        # multi-EIP mode takes no new applications: only authorised accounts
multi_eip_quota = 10               # EIPs per secondary ENI in multi-EIP mode (raised by ticket)

[vpc]
id = "vpc-main"
cidr = "172.16.0.0/12"
gateway_mac = "ee:ff:ff:ff:ff:ff"  # the VPC router / EIP gateway seen by ENIs
internet_mac = "02:00:00:00:00:01" # next hop on the Internet side (destination MAC of egress frames)

[[instance]]
id = "i-web"
family = "ecs.g5"                  # checked against the multi-EIP instance-family list
dhcp = true                        # DHCP on secondary NICs; cut-through needs it to take effect

[[eni]]
id = "eni-web2"
kind = "secondary"                 # primary | secondary
mac = "00:16:3e:00:00:02"
primary_ip = "172.16.0.20"
secondary_ips = ["172.16.0.21", "172.16.0.22"]
instance = "i-web"                 # omitted: detached
static_eips = ["47.0.0.5"]         # multi-EIP only: EIPs the OS configured statically (default: all)

[[eip]]
id = "eip-a"
address = "47.0.0.1"

[[association]]
eip = "eip-a"
eni = "eni-web2"
mode = "NAT"                       # NAT | BINDED (cut-through) | MULTI_BINDED (multi-EIP to ENI)
private_ip = "172.16.0.21"         # NAT only: the ENI's private IP the EIP maps to (default: primary_ip)
"#;

#[test]
fn design_example_loads() {
    let c = Cloud::from_toml(DESIGN_EXAMPLE).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(c.region, "eu-central-1");
    assert_eq!(c.vpc.id, "vpc-main");
    assert_eq!(c.vpc.cidr.to_string(), "172.16.0.0/12");
    assert_eq!(c.vpc.gateway_mac.to_string(), "ee:ff:ff:ff:ff:ff");
    assert_eq!(c.vpc.internet_mac.to_string(), "02:00:00:00:00:01");
    assert!(c.account.multi_eip_authorized);
    assert_eq!(c.account.multi_eip_quota, 10);
    assert_eq!(c.enis.len(), 1);
    let e = &c.enis[0];
    assert_eq!(e.id, "eni-web2");
    assert_eq!(e.instance, Some(0));
    assert_eq!(
        e.private_ips().map(|a| a.to_string()).collect::<Vec<_>>(),
        ["172.16.0.20", "172.16.0.21", "172.16.0.22"]
    );
    assert_eq!(c.associations.len(), 1);
    let a = &c.associations[0];
    assert_eq!(a.mode, Mode::Nat);
    assert_eq!(
        a.private_ip.map(|p| p.to_string()).as_deref(),
        Some("172.16.0.21")
    );
}

/// The example as design.md holds it today, when the shared directory is there.
#[test]
fn design_md_example_loads() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/design.md");
    let Ok(md) = std::fs::read_to_string(path) else {
        return;
    };
    let start = md.find("## 2. Topology file").expect("section 2");
    let rest = &md[start..];
    let body = &rest[rest.find("```toml\n").expect("a toml block") + 8..];
    let toml = &body[..body.find("```").expect("end of block")];
    Cloud::from_toml(toml).unwrap_or_else(|e| panic!("{e}\n{toml}"));
}

#[test]
fn bundled_demo_topology_loads() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/pcaps/demo-topology.toml");
    if std::path::Path::new(path).exists() {
        Cloud::load(std::path::Path::new(path)).unwrap_or_else(|e| panic!("{e}"));
    }
}

#[test]
fn every_mode_at_its_limits() {
    let t = Topo::new("eu-central-1")
        .instance("i-1", "ecs.g5", true)
        .instance("i-2", "ecs.c5.large", false)
        .eni("eni-p", "primary", 1, "192.168.0.10", &[], Some("i-1"))
        .eni(
            "eni-s",
            "secondary",
            2,
            "192.168.0.20",
            &["192.168.0.21", "192.168.0.22"],
            Some("i-1"),
        )
        .eni("eni-c", "secondary", 3, "192.168.0.30", &[], Some("i-2"))
        .eni("eni-m", "secondary", 4, "192.168.0.40", &[], Some("i-2"))
        .eni("eni-d", "secondary", 5, "192.168.0.50", &[], None)
        .eni("eni-p2", "primary", 6, "192.168.0.60", &[], Some("i-2"))
        .eips(20)
        // Primary ENI: one NAT EIP.
        .assoc("eip-1", "eni-p", "NAT", None)
        // Secondary ENI in NAT mode: one EIP per private IP.
        .assoc("eip-2", "eni-s", "NAT", None)
        .assoc("eip-3", "eni-s", "NAT", Some("192.168.0.21"))
        .assoc("eip-4", "eni-s", "NAT", Some("192.168.0.22"))
        // Cut-through: one EIP.
        .assoc("eip-5", "eni-c", "BINDED", None)
        // A detached ENI may hold a NAT EIP.
        .assoc("eip-6", "eni-d", "NAT", None);
    let mut t = t;
    // Multi-EIP: exactly the quota.
    for k in 7..=16 {
        t = t.assoc(&format!("eip-{k}"), "eni-m", "MULTI_BINDED", None);
    }
    let c = accept(&t);
    assert_eq!(c.associations.len(), 16);
    assert_eq!(c.eips.len(), 20);
    let d = c.eni_index("eni-d").unwrap();
    assert_eq!(c.enis[d].instance, None);
    assert!(c.is_binded(c.eni_index("eni-c").unwrap()));
    assert!(!c.is_binded(c.eni_index("eni-m").unwrap()));
    // A raised quota takes more.
    accept(&multi("eu-central-1", true, 20, "ecs.g5", 20));
}

#[test]
fn multi_binded_static_eips() {
    let t = multi("eu-central-1", true, 10, "ecs.g5", 3)
        .raw("")
        .text
        .replace(
            "instance = \"i-1\"\n",
            "instance = \"i-1\"\nstatic_eips = [\"47.0.0.1\", \"47.0.0.3\"]\n",
        );
    let c = Cloud::from_toml(&t).unwrap_or_else(|e| panic!("{e}"));
    let m = &c.enis[c.eni_index("eni-m").unwrap()];
    assert_eq!(
        m.static_eips
            .as_ref()
            .unwrap()
            .iter()
            .map(|a| a.to_string())
            .collect::<Vec<_>>(),
        ["47.0.0.1", "47.0.0.3"]
    );
}

#[test]
fn eni_ids_that_would_escape_or_clash_with_outputs_are_rejected() {
    for (id, code) in [
        ("../evil", "invalid-id"),
        (".hidden", "invalid-id"),
        ("a/b", "invalid-id"),
        ("internet", "reserved-id"),
        ("dropped", "reserved-id"),
    ] {
        let text = format!(
            "region = \"eu-central-1\"\n[vpc]\ncidr = \"10.0.0.0/8\"\n[[eni]]\nid = \"{id}\"\nkind = \"secondary\"\nmac = \"00:16:3e:00:00:01\"\nprimary_ip = \"10.0.0.1\"\n"
        );
        let e = eipsim::model::Cloud::from_toml(&text).unwrap_err();
        assert_eq!(e.code(), Some(code), "{id}: {e}");
        assert!(e.to_string().contains(id), "{e}");
    }
}

// ---------------------------------------------------------------------------------------------
// The `[alg]` table: what-if translation per protocol

#[test]
fn alg_table_turns_translation_on() {
    let c = accept(
        &Topo::web("eu-central-1", 1)
            .raw("[alg]\nftp = \"translate\"\nsip = \"inspect\"\ndns = \"inspect\"\n"),
    );
    assert!(c.alg.ftp && !c.alg.sip);
    let c = accept(&Topo::web("eu-central-1", 1));
    assert!(
        !c.alg.any(),
        "no ALG unless asked: the provider's NAT mode has none"
    );
}

#[test]
fn alg_table_rejects_what_is_not_built() {
    let m = reject(
        &Topo::web("eu-central-1", 1).raw("[alg]\ndns = \"translate\"\n"),
        "invalid-alg",
        &["[alg] dns", "ftp and sip only"],
    );
    assert!(m.contains("dns"));
    reject(
        &Topo::web("eu-central-1", 1).raw("[alg]\nhttp = \"inspect\"\n"),
        "invalid-alg",
        &["http"],
    );
    reject(
        &Topo::web("eu-central-1", 1).raw("[alg]\nsip = \"on\"\n"),
        "invalid-alg",
        &["sip", "inspect or translate"],
    );
}

/// Seed 003: "enable DHCP ... Otherwise, the multi-EIP to ENI mode does not take effect": a
/// multi-EIP address of an instance without DHCP is not configured in its OS.
#[test]
fn multi_eip_needs_dhcp_on_the_instance() {
    use eipsim::dataplane::{Dataplane, DropReason, Outcome};
    let frame = || {
        let mut v = Vec::new();
        etherparse::PacketBuilder::ethernet2(
            [2, 0, 0, 0, 0, 0xfe],
            [0xee, 0xff, 0xff, 0xff, 0xff, 0xff],
        )
        .ipv4([198, 51, 100, 7], [47, 0, 0, 31], 64)
        .udp(6000, 6000)
        .write(&mut v, b"x")
        .unwrap();
        v
    };
    let with = common::demo::TOPOLOGY;
    let without = with.replace(
        "id = \"i-app\"\nfamily = \"ecs.g5\"\ndhcp = true",
        "id = \"i-app\"\nfamily = \"ecs.g5\"\ndhcp = false",
    );
    assert_ne!(with, without, "the demo's i-app block changed shape");
    let run = |t: &str| {
        let dp = Dataplane::new(&Cloud::from_toml(t).unwrap());
        dp.process(&mut frame(), eipsim::wire::LinkType::Ethernet)
            .outcome
    };
    assert!(matches!(run(with), Outcome::Forward(..)));
    assert_eq!(run(&without), Outcome::Drop(DropReason::GuestNotConfigured));
}
