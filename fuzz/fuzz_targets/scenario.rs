//! Any sequence of console operations, decoded from the bytes, on the shipped scenarios' base
//! topology: after every step the model's invariants hold (an EIP bound at most once, the
//! quotas kept, a cut-through ENI with one EIP and no private network, NAT mappings to owned
//! private IPs, indexes in agreement; security groups defined, one type per ENI, at most 1,000
//! rules per ENI) and every entry of the compiled forwarding tables points at an existing, live
//! ENI. The base gets security groups for the six security-group operations, one of them
//! (`sg-big`) 2 rules short of the 1,000-rule limit.
#![no_main]

use std::net::Ipv4Addr;
use std::sync::OnceLock;

use eipsim::dataplane::Dataplane;
use eipsim::model::scenario::{Operation, RuleParams};
use eipsim::model::sg::{Policy, Protocol};
use eipsim::model::{Charge, Cloud, EniKind, InstanceType, Mac, Mode};
use libfuzzer_sys::fuzz_target;

const BASE: &str = include_str!("../../pcaps/scenarios/base.toml");
const GROUPS: [&str; 5] = ["sg-a", "sg-b", "sg-e", "sg-big", "sg-nope"];
const PROTOCOLS: [Protocol; 5] = [
    Protocol::Tcp,
    Protocol::Udp,
    Protocol::Icmp,
    Protocol::Gre,
    Protocol::All,
];
const PORTS: [&str; 6] = ["-1/-1", "80/80", "22/443", "0/1", "5/4", "1/65535"];
const PRIORITIES: [i64; 6] = [0, 1, 2, 5, 100, 101];

/// The base topology with groups sg-a (basic, 2 rules), sg-b (basic, inner access drop), sg-e
/// (enterprise, 1 rule) and sg-big (basic, 998 rules), built once.
fn base() -> &'static Cloud {
    static CLOUD: OnceLock<Cloud> = OnceLock::new();
    CLOUD.get_or_init(|| {
        let rule = |dir: &str, ports: &str| {
            format!(
                "\n[[security_group.rule]]\ndirection = \"{dir}\"\npolicy = \"accept\"\npriority = 1\nprotocol = \"tcp\"\nport_range = \"{ports}\"\ncidr = \"0.0.0.0/0\"\n"
            )
        };
        let mut text = format!("{BASE}\n[[security_group]]\nid = \"sg-a\"\n");
        text += &rule("ingress", "80/80");
        text += &rule("egress", "53/53");
        text += "\n[[security_group]]\nid = \"sg-b\"\ninner_access = \"drop\"\n";
        text += "\n[[security_group]]\nid = \"sg-e\"\ntype = \"enterprise\"\n";
        text += &rule("ingress", "22/22");
        text += "\n[[security_group]]\nid = \"sg-big\"\n";
        for p in 1..=998 {
            text += &rule("ingress", &format!("{p}/{p}"));
        }
        Cloud::from_toml(&text).expect("base topology")
    })
}

/// A rule's parameters from the bytes: any group (one undefined), policy, priority (some out of
/// range), protocol, port range (some invalid) and peer (`cidr`, `peer_group`, both, neither).
fn rule(b: &[u8]) -> RuleParams {
    let pick = |i: usize| b.get(i).copied().unwrap_or(0);
    RuleParams {
        group: GROUPS[usize::from(pick(1)) % GROUPS.len()].to_string(),
        policy: if pick(2) % 2 == 0 {
            Policy::Accept
        } else {
            Policy::Drop
        },
        priority: PRIORITIES[usize::from(pick(2) / 2) % PRIORITIES.len()],
        protocol: PROTOCOLS[usize::from(pick(3)) % PROTOCOLS.len()],
        port_range: PORTS[usize::from(pick(4)) % PORTS.len()].to_string(),
        cidr: matches!(pick(5) % 4, 0 | 2).then(|| "10.0.0.0/8".parse().expect("cidr")),
        peer_group: matches!(pick(5) % 4, 1 | 2)
            .then(|| GROUPS[usize::from(pick(5) / 4) % GROUPS.len()].to_string()),
    }
}
const ENIS: [&str; 5] = ["eni-a0", "eni-b0", "eni-s1", "eni-s2", "eni-s3"];
const EIPS: [&str; 6] = ["eip-1", "eip-2", "eip-3", "eip-sub", "eip-n1", "eip-n2"];
const INSTANCES: [&str; 2] = ["i-a", "i-b"];
const MODES: [Mode; 3] = [Mode::Nat, Mode::Binded, Mode::MultiBinded];

/// A private IP from a small pool (so that operations collide), or one outside the VPC.
fn private(b: u8) -> Ipv4Addr {
    if b % 9 == 8 {
        Ipv4Addr::new(192, 168, 0, 1)
    } else {
        Ipv4Addr::new(172, 16, 20, b % 9)
    }
}

fn decode(b: &[u8]) -> Operation {
    let pick = |i: usize| b.get(i).copied().unwrap_or(0);
    let eni = ENIS[usize::from(pick(1)) % ENIS.len()].to_string();
    let eip = EIPS[usize::from(pick(2)) % EIPS.len()].to_string();
    let inst = INSTANCES[usize::from(pick(3)) % INSTANCES.len()].to_string();
    match pick(0) % 16 {
        0 => Operation::CreateNetworkInterface {
            id: eni,
            kind: if pick(3) % 5 == 0 {
                EniKind::Primary
            } else {
                EniKind::Secondary
            },
            mac: Mac([0, 0x16, 0x3e, 0, 0x30, pick(1) % 6]),
            primary_ip: private(pick(2)),
            secondary_ips: if pick(3) % 2 == 0 {
                vec![private(pick(2).wrapping_add(1))]
            } else {
                Vec::new()
            },
            instance: (pick(3) % 3 == 0).then_some(inst),
        },
        1 => Operation::DeleteNetworkInterface { eni },
        2 => Operation::AttachNetworkInterface {
            eni,
            instance: inst,
        },
        3 => Operation::DetachNetworkInterface { eni },
        4 => Operation::AssignPrivateIpAddresses {
            eni,
            ips: vec![private(pick(2))],
        },
        5 => Operation::UnassignPrivateIpAddresses {
            eni,
            ips: vec![private(pick(2))],
        },
        6 => Operation::AllocateEipAddress {
            id: eip,
            address: Ipv4Addr::new(47, 0, 1, pick(3) % 12),
            charge: if pick(1) % 2 == 0 {
                Charge::PayByTraffic
            } else {
                Charge::Subscription
            },
        },
        7 => Operation::ReleaseEipAddress { eip },
        8 | 9 => {
            let to_instance = pick(3) % 7 == 0;
            Operation::AssociateEipAddress {
                eip,
                eni: (!to_instance).then_some(eni),
                instance: to_instance.then_some(inst),
                instance_type: if to_instance {
                    InstanceType::EcsInstance
                } else {
                    InstanceType::NetworkInterface
                },
                mode: MODES[usize::from(pick(4)) % 3],
                private_ip: (pick(4) % 4 == 0).then(|| private(pick(5))),
            }
        }
        10 => Operation::UnassociateEipAddress { eip },
        12 => Operation::AuthorizeSecurityGroup(rule(b)),
        13 => Operation::AuthorizeSecurityGroupEgress(rule(b)),
        14 => {
            if pick(5) % 2 == 0 {
                Operation::RevokeSecurityGroup(rule(b))
            } else {
                Operation::RevokeSecurityGroupEgress(rule(b))
            }
        }
        15 => {
            let group = GROUPS[usize::from(pick(2)) % GROUPS.len()].to_string();
            if pick(3) % 2 == 0 {
                Operation::JoinSecurityGroup { group, eni }
            } else {
                Operation::LeaveSecurityGroup { group, eni }
            }
        }
        _ => {
            if pick(1) % 2 == 0 {
                Operation::DescribeEipGatewayInfo { eip }
            } else {
                Operation::DescribeNetworkInterfaces {
                    eni: (pick(2) % 3 != 0).then_some(eni),
                }
            }
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let mut cloud = base().clone();
    for chunk in data.chunks(6).take(64) {
        let op = decode(chunk);
        let _ = op.apply(&mut cloud);
        if let Err(e) = cloud.check_invariants() {
            panic!("after {op}: {e}");
        }
        if let Err(e) = Dataplane::new(&cloud).check_tables(&cloud) {
            panic!("after {op}: tables: {e}");
        }
        let _ =
            eipsim::guest::view::guest_view_limited(&cloud, Some(eipsim::model::CHECK_LIST_LIMIT));
    }
});
