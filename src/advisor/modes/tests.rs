//! Unit tests of the mode advisor: the incremental strategy against whole rebuilds.

use std::net::Ipv4Addr;
use std::path::PathBuf;

use super::frames::{has_flow, replay_frames};
use super::incremental::Incremental;
use super::variants::{excerpt_cloud, full_variant, plan, whole_cloud};
use super::*;
use crate::dataplane::Dataplane;

const DEMO: &str = include_str!("../../../pcaps/demo-topology.toml");

/// A mixed topology: three instances (one family without multi-EIP, DHCP on and off),
/// primary ENIs in NAT, through their instance or with no EIP, secondary ENIs attached and
/// detached with secondary IPs in every mode, multi-EIP with and without the guest's list.
fn mixed(k: usize) -> String {
    let authorised = k.is_multiple_of(2);
    let quota = 1 + k % 3;
    let families = ["ecs.g5", "ecs.g6", "ecs.g5"];
    let mut t = format!(
        "region = \"eu-central-1\"\n[account]\nmulti_eip_authorized = {authorised}\nmulti_eip_quota = {quota}\n[vpc]\ncidr = \"10.0.0.0/16\"\n"
    );
    for (i, f) in families.iter().enumerate() {
        t += &format!(
            "[[instance]]\nid = \"i-{i}\"\nfamily = \"{f}\"\ndhcp = {}\n",
            i != 1
        );
    }
    let placement = [
        Some(0),
        Some(0),
        Some(0),
        Some(1),
        Some(1),
        Some(2),
        Some(2),
        Some(2),
        None,
        None,
        Some(1),
        Some(0),
        None,
        Some(2),
    ];
    let (mut eips, mut assoc) = (String::new(), String::new());
    let mut next = 0;
    let mut eip = |eips: &mut String| {
        next += 1;
        *eips += &format!("[[eip]]\nid = \"e{next}\"\naddress = \"47.1.0.{next}\"\n");
        next
    };
    let mut seen = [false; 3];
    for (n, inst) in placement.iter().enumerate() {
        let primary = inst.is_some_and(|i| !std::mem::replace(&mut seen[i], true));
        let ips: Vec<String> = (0..=n % 3).map(|j| format!("10.0.{n}.{}", j + 4)).collect();
        t += &format!(
            "[[eni]]\nid = \"eni-{n}\"\nkind = \"{}\"\nmac = \"00:16:3e:00:00:{n:02x}\"\nprimary_ip = \"{}\"\nsecondary_ips = [{}]\n",
            if primary { "primary" } else { "secondary" },
            ips[0],
            ips[1..]
                .iter()
                .map(|a| format!("\"{a}\""))
                .collect::<Vec<_>>()
                .join(", ")
        );
        if let Some(i) = inst {
            t += &format!("instance = \"i-{i}\"\n");
        }
        let id = format!("eni-{n}");
        if primary {
            match (n + k) % 3 {
                0 => {
                    let e = format!("e{}", eip(&mut eips));
                    assoc += &format!(
                        "[[association]]\neip = \"{e}\"\neni = \"{id}\"\nmode = \"NAT\"\n"
                    );
                }
                1 => {
                    let e = format!("e{}", eip(&mut eips));
                    assoc += &format!(
                        "[[association]]\neip = \"{e}\"\ninstance = \"i-{}\"\ninstance_type = \"EcsInstance\"\n",
                        inst.unwrap()
                    );
                }
                _ => {}
            }
            continue;
        }
        let multi_ok = authorised && inst.is_none_or(|i| families[i] == "ecs.g5");
        match (n + k) % 5 {
            1 => {
                for ip in &ips {
                    let e = format!("e{}", eip(&mut eips));
                    assoc += &format!(
                        "[[association]]\neip = \"{e}\"\neni = \"{id}\"\nmode = \"NAT\"\nprivate_ip = \"{ip}\"\n"
                    );
                }
            }
            2 => {
                let e = format!("e{}", eip(&mut eips));
                assoc +=
                    &format!("[[association]]\neip = \"{e}\"\neni = \"{id}\"\nmode = \"BINDED\"\n");
            }
            3 if multi_ok => {
                let mut first = None;
                for _ in 0..quota.min(2) {
                    let n = eip(&mut eips);
                    first.get_or_insert(n);
                    let e = format!("e{n}");
                    assoc += &format!(
                        "[[association]]\neip = \"{e}\"\neni = \"{id}\"\nmode = \"MULTI_BINDED\"\n"
                    );
                }
                if n.is_multiple_of(2) {
                    t += &format!("static_eips = [\"47.1.0.{}\"]\n", first.unwrap());
                }
            }
            3 | 4 => {
                let e = format!("e{}", eip(&mut eips));
                assoc += &format!(
                    "[[association]]\neip = \"{e}\"\neni = \"{id}\"\nmode = \"NAT\"\nprivate_ip = \"{}\"\n",
                    ips[ips.len() - 1]
                );
            }
            _ => {}
        }
    }
    eip(&mut eips); // one never bound
    t + &eips + &assoc
}

/// For every (ENI, mode) of `text`: the excerpt refuses what the whole rebuild refuses,
/// with the same words, and otherwise the patched tables and NAT mappings equal those of
/// the whole rebuilt cloud, and are put back exactly. Returns (variants built, refused).
fn check(text: &str) -> (usize, usize) {
    let cloud = Cloud::from_toml(text).unwrap_or_else(|e| panic!("{e}\n{text}"));
    let dp = Dataplane::new(&cloud);
    let base = Stats::for_cloud(&cloud);
    let run = Run {
        cloud: &cloud,
        hint: None,
        frames: &[],
        base_verdicts: &[],
    };
    let mut inc = Incremental::new(&run, dp.clone(), &base);
    let (mut built, mut refused) = (0, 0);
    for x in 0..cloud.enis.len() {
        for mode in MODES {
            let what = format!("{} {}", cloud.enis[x].id, mode.api_name());
            let Ok(p) = plan(&cloud, x, mode) else {
                refused += 1;
                continue;
            };
            match (
                whole_cloud(&cloud, x, &p),
                excerpt_cloud(&cloud, &inc.by_instance, x, &p),
            ) {
                (Ok(whole), Ok((sub, lx))) => {
                    let (_, lent) = inc.lend(&cloud, x, &sub, lx);
                    assert_eq!(inc.dp.diff_tables(&Dataplane::new(&whole)), None, "{what}");
                    assert_eq!(inc.nat, Stats::nat_of(&whole), "{what}");
                    inc.put_back(&cloud, x, lent);
                    assert_eq!(inc.dp.diff_tables(&dp), None, "{what}: put back");
                    assert_eq!(inc.nat, Stats::nat_of(&cloud), "{what}: put back");
                    built += 1;
                }
                (Err(a), Err(b)) => {
                    assert_eq!(a, b, "{what}");
                    refused += 1;
                }
                (a, b) => panic!(
                    "{what}: whole {:?}, excerpt {:?}",
                    a.map(|_| ()),
                    b.map(|_| ())
                ),
            }
        }
    }
    (built, refused)
}

#[test]
fn patched_tables_equal_whole_rebuilds() {
    let (built, refused) = check(DEMO);
    assert!(built >= 15 && refused >= 4, "{built} {refused}");
    let mut totals = (0, 0);
    for k in 0..6 {
        let (b, r) = check(&mixed(k));
        totals = (totals.0 + b, totals.1 + r);
    }
    assert!(totals.0 >= 100 && totals.1 >= 30, "{totals:?}");
    // The seeds' other refusals: a region without the modes, an account without the
    // authorisation, a family outside seed 003's list (the demo bound in NAT only).
    let nat_only = DEMO
        .replace(
            "[[association]]\neip = \"eip-m2\"\neni = \"eni-multi\"\nmode = \"MULTI_BINDED\"\n",
            "",
        )
        .replace("mode = \"BINDED\"", "mode = \"NAT\"")
        .replace("mode = \"MULTI_BINDED\"", "mode = \"NAT\"");
    for (from, to) in [
        ("region = \"eu-central-1\"", "region = \"ap-northeast-1\""),
        (
            "multi_eip_authorized = true",
            "multi_eip_authorized = false",
        ),
        ("family = \"ecs.g5\"", "family = \"ecs.g6\""),
    ] {
        let (b, r) = check(&nat_only.replace(from, to));
        assert!(b > 0 && r > 0, "{to}");
    }
}

/// The demo's topology, frames, and replay as written.
type DemoRun = (Cloud, Vec<(Vec<u8>, LinkType)>, Stats, Vec<Verdict>);

/// The demo, as `run_with` prepares it.
fn demo_run() -> DemoRun {
    let (topology, capture) = crate::replay::demo_paths();
    let (cloud, hint, frames) = load(&ModesOptions {
        topology,
        inputs: vec![capture],
        out: PathBuf::new(),
        ingress: None,
        capture_point: CapturePoint::Gateway,
    })
    .unwrap();
    assert!(hint.is_none());
    let dp = dataplane(&cloud, hint, CapturePoint::Gateway);
    let mut base = Stats::for_cloud(&cloud);
    let verdicts = replay_frames(&dp, &mut base, &cloud, &frames, None, |_, _, _, _| false);
    (cloud, frames, base, verdicts)
}

#[test]
fn partial_replays_match_whole_ones() {
    let (cloud, frames, base, base_verdicts) = demo_run();
    let run = Run {
        cloud: &cloud,
        hint: None,
        frames: &frames,
        base_verdicts: &base_verdicts,
    };
    let mut inc = Incremental::new(&run, dataplane(&cloud, None, CapturePoint::Gateway), &base);
    let flows = base.summaries();
    let (mut partial, mut compared) = (0, 0);
    let cells = |r: &Replayed| serde_json::to_string(&r.stats.summaries_for(&r.firsts)).unwrap();
    for x in 0..cloud.enis.len() {
        let firsts: Vec<usize> = flows
            .iter()
            .filter(|f| f.eni == Some(x as u32))
            .map(|f| (f.first_frame - 1) as usize)
            .collect();
        if firsts.is_empty() {
            continue;
        }
        let mine: Vec<Ipv4Addr> = cloud
            .associations_of(x)
            .map(|a| cloud.eips[a.eip].address)
            .collect();
        if inc
            .select(&run, x, &mine, &firsts)
            .is_some_and(|s| s.len() < frames.len())
        {
            partial += 1;
        }
        for mode in MODES {
            let what = format!("{} {}", cloud.enis[x].id, mode.api_name());
            let restricted = inc.variant(&run, x, mode, &firsts);
            inc.exact = false; // every frame, through the patched tables
            let every = inc.variant(&run, x, mode, &firsts);
            inc.exact = true;
            let whole = full_variant(&run, x, mode, &firsts);
            match (restricted, every, whole) {
                (Ok(a), Ok(b), Ok(c)) => {
                    assert_eq!(a.note, c.note, "{what}");
                    assert_eq!(cells(&a), cells(&c), "{what}: partial");
                    assert_eq!(cells(&b), cells(&c), "{what}: every frame");
                    compared += 1;
                }
                (Err(a), Err(b), Err(c)) => {
                    assert_eq!(a, c, "{what}");
                    assert_eq!(b, c, "{what}");
                }
                _ => panic!("{what}: availability differs"),
            }
        }
    }
    assert!(partial >= 4, "{partial} ENIs replayed in part");
    assert!(compared >= 12, "{compared}");
}

#[test]
fn a_frame_in_a_flow_left_out_means_every_frame() {
    let (cloud, frames, base, base_verdicts) = demo_run();
    let run = Run {
        cloud: &cloud,
        hint: None,
        frames: &frames,
        base_verdicts: &base_verdicts,
    };
    let mut inc = Incremental::new(&run, dataplane(&cloud, None, CapturePoint::Gateway), &base);
    let x = cloud.eni_index("eni-cut").unwrap();
    let mine: Vec<Ipv4Addr> = cloud
        .associations_of(x)
        .map(|a| cloud.eips[a.eip].address)
        .collect();
    let sel = inc.select(&run, x, &mine, &[]).expect("a partial replay");
    let chosen = |i: usize| sel.contains(&(i as u32));
    let inside = (0..frames.len()).find(|i| chosen(*i)).unwrap();
    let outside = (0..frames.len())
        .find(|i| !chosen(*i) && has_flow(&base_verdicts[*i]))
        .unwrap();
    let empty = Stats::new(cloud.enis.len());
    assert!(inc.closed(&empty, &[base_verdicts[inside]]));
    assert!(!inc.closed(&empty, &[base_verdicts[outside]]));
    // Every announcement of the demo is by a flow replayed in every variant.
    assert!(base.announced().count() > 0);
    assert!(inc.closed(&base, &[]));
}
