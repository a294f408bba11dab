//! What each ENI (with its instance and NAT-mode EIP) costs in memory, measured:
//! `cargo run --release --example mem_cost -- TOPOLOGY.toml` (a `gen_bulk` topology).
//! Prints the resident set (Linux `/proc/self/status`, VmRSS) after each step: the file read,
//! the cloud built (parse + console operations), the parser's memory returned, the forwarding
//! tables compiled, and the report's counters for the 16 shards, each per ENI.

use eipsim::dataplane::Dataplane;
use eipsim::model::Cloud;
use eipsim::pass::FramePass;

fn rss_kib() -> u64 {
    let s = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    s.lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

fn main() {
    let Some(path) = std::env::args().nth(1) else {
        eprintln!("usage: mem_cost TOPOLOGY.toml");
        std::process::exit(2);
    };
    let start = rss_kib();
    let text = std::fs::read_to_string(&path).expect("read the topology");
    let read = rss_kib();
    let cloud = Cloud::from_toml(&text).expect("a valid topology");
    drop(text);
    let built = rss_kib();
    let n = cloud.enis.len().max(1) as f64;
    let dp = Dataplane::new(&cloud);
    let tables = rss_kib();
    let shards = FramePass::new(&cloud, eipsim::pass::SHARDS, |_| true, true, None);
    let stats = rss_kib();
    let per = |a: u64, b: u64| (b.saturating_sub(a) as f64) * 1024.0 / n;
    println!(
        "{} ENIs, {} EIPs, {} instances",
        cloud.enis.len(),
        cloud.eips.len(),
        cloud.instances.len()
    );
    println!("  file read          {:>8} KiB", read - start);
    println!(
        "  cloud (model)      {:>8} KiB  {:>8.0} bytes per ENI (with its instance and EIP)",
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
}
