//! What each ENI (with its instance and NAT-mode EIP) costs in memory, measured:
//! `cargo run --release --example mem_cost -- TOPOLOGY.toml` (a `gen_bulk` topology).
//! Prints the resident set (Linux `/proc/self/status`: VmRSS, and VmHWM for the peak) after each
//! step: the topology loaded as `eipsim check` and `eipsim replay` load it (`Cloud::load`: its
//! peak while loading, and the cloud it leaves), the forwarding tables compiled, the report's
//! counters for the 16 shards, each per ENI; then what an ENI (secondary, detached) and an EIP
//! (allocated, unbound) cost the model, 100,000 of each created in an empty cloud with the
//! topology's VPC (the lists' and indexes' growth included), each in a process of its own.

use std::net::Ipv4Addr;

use eipsim::dataplane::Dataplane;
use eipsim::model::{Charge, Cloud, Eip, Eni, EniKind, Mac};
use eipsim::pass::FramePass;

/// A field of `/proc/self/status`, in KiB.
fn status_kib(field: &str) -> u64 {
    let s = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    s.lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

fn rss_kib() -> u64 {
    status_kib("VmRSS:")
}

/// ENIs, then EIPs, created in an empty cloud to measure each.
const MORE: u32 = 100_000;

fn main() {
    let Some(path) = std::env::args().nth(1) else {
        eprintln!("usage: mem_cost TOPOLOGY.toml");
        std::process::exit(2);
    };
    let size = std::fs::metadata(&path).map_or(0, |m| m.len());
    if let Some(what) = std::env::args().nth(2) {
        // A topology with one instance: only its region and VPC are used.
        let text = std::fs::read_to_string(&path).expect("read the topology");
        let end = text.find("[[").unwrap_or(text.len());
        let topology = Cloud::from_toml(&text[..end]).expect("a valid topology");
        drop(text);
        return one_kind(&topology, &what);
    }
    let start = rss_kib();
    let cloud = Cloud::load(path.as_ref()).expect("a valid topology");
    let peak = status_kib("VmHWM:");
    let built = rss_kib();
    let n = cloud.enis.len().max(1) as f64;
    let dp = Dataplane::new(&cloud);
    let tables = rss_kib();
    let shards = FramePass::new(&cloud, eipsim::pass::SHARDS, |_| true, true, None);
    let stats = rss_kib();
    let per = |a: u64, b: u64| (b.saturating_sub(a) as f64) * 1024.0 / n;
    println!(
        "{} ENIs, {} EIPs, {} instances; topology file {} KiB",
        cloud.enis.len(),
        cloud.eips.len(),
        cloud.instances.len(),
        size / 1024
    );
    println!(
        "  load peak          {:>8} KiB  {:>8.0} bytes per ENI (Cloud::load, file text included)",
        peak.saturating_sub(start),
        per(start, peak)
    );
    println!(
        "  cloud (model)      {:>8} KiB  {:>8.0} bytes per ENI (with its instance, EIP and association)",
        built.saturating_sub(start),
        per(start, built)
    );
    println!(
        "  forwarding tables  {:>8} KiB  {:>8.0} bytes per ENI",
        tables.saturating_sub(built),
        per(built, tables)
    );
    println!(
        "  report, 16 shards  {:>8} KiB  {:>8.0} bytes per ENI",
        stats.saturating_sub(tables),
        per(tables, stats)
    );
    std::hint::black_box((&dp, &shards));

    // An ENI, then an EIP, each measured in a process of its own (this program again), where
    // no memory freed before is there to be reused.
    let each = |what: &str| -> String {
        let out = std::env::current_exe()
            .and_then(|exe| std::process::Command::new(exe).args([&path, what]).output());
        match out {
            Ok(o) if o.status.success() => String::from_utf8_lossy(&o.stdout).trim().to_string(),
            _ => "?".into(),
        }
    };
    println!(
        "  an ENI             {:>8} bytes (model: {MORE} secondary ENIs created)",
        each("eni")
    );
    println!(
        "  an EIP             {:>8} bytes (model: {MORE} EIPs allocated)",
        each("eip")
    );
}

/// Prints the resident bytes per resource of `MORE` ENIs or EIPs created, as the console creates
/// them, in an empty cloud with the VPC of `topology`.
fn one_kind(topology: &Cloud, what: &str) {
    let mut cloud = Cloud::new(
        topology.region.clone(),
        topology.account.clone(),
        topology.vpc.clone(),
    )
    .expect("VPC");
    let before = rss_kib();
    for i in 0..MORE {
        let [_, b, c, d] = (i + 1).to_be_bytes();
        let made = if what == "eni" {
            cloud.create_network_interface(Eni::new(
                format!("eni-{i}"),
                EniKind::Secondary,
                Mac([0x00, 0x17, 0, b, c, d]),
                Ipv4Addr::new(10, b, c, d),
                Vec::new(),
            ))
        } else {
            cloud.allocate_eip_address(Eip::new(
                format!("eip-{i}"),
                Ipv4Addr::new(47, b, c, d),
                Charge::PayByTraffic,
            ))
        };
        if let Err(e) = made {
            eprintln!("mem_cost: {e} (give a gen_bulk topology: VPC 10.0.0.0/8)");
            std::process::exit(1);
        }
    }
    let after = rss_kib();
    println!(
        "{:.0}",
        (after.saturating_sub(before) as f64) * 1024.0 / f64::from(MORE)
    );
    std::hint::black_box(&cloud);
}
