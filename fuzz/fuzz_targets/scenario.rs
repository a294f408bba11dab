//! Any sequence of console operations, decoded from the bytes, on the shipped scenarios' base
//! topology: after every step the model's invariants hold (an EIP bound at most once, the
//! quotas kept, a cut-through ENI with one EIP and no private network, NAT mappings to owned
//! private IPs, indexes in agreement) and every entry of the compiled forwarding tables points
//! at an existing, live ENI.
#![no_main]

use std::net::Ipv4Addr;

use eipsim::dataplane::Dataplane;
use eipsim::model::scenario::Operation;
use eipsim::model::{Charge, Cloud, EniKind, InstanceType, Mac, Mode};
use libfuzzer_sys::fuzz_target;

const BASE: &str = include_str!("../../pcaps/scenarios/base.toml");
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
    match pick(0) % 12 {
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
    let mut cloud = Cloud::from_toml(BASE).expect("base topology");
    for chunk in data.chunks(6).take(64) {
        let op = decode(chunk);
        let _ = op.apply(&mut cloud);
        if let Err(e) = cloud.check_invariants() {
            panic!("after {op}: {e}");
        }
        if let Err(e) = Dataplane::new(&cloud).check_tables(&cloud) {
            panic!("after {op}: tables: {e}");
        }
        let _ = eipsim::model::guest_view(&cloud);
    }
});
