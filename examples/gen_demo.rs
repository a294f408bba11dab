//! Writes the bundled demos: `pcaps/demo-topology.toml` and `pcaps/demo.pcap`; the failover
//! demo `pcaps/failover-topology.toml`, `pcaps/failover.pcap`, `pcaps/failover-events.toml`.
//! Usage: `cargo run --example gen_demo [DIR]` (default `pcaps`).

// The fixtures live with the tests (they are not part of the library); tests/demo.rs checks
// that the committed files are what they produce.
#[allow(dead_code)]
#[path = "../tests/common/demo/mod.rs"]
mod demo;

fn main() -> std::io::Result<()> {
    let dir = std::env::args().nth(1).unwrap_or_else(|| "pcaps".into());
    std::fs::create_dir_all(&dir)?;
    let dir = std::path::Path::new(&dir);
    std::fs::write(dir.join("demo-topology.toml"), demo::TOPOLOGY)?;
    std::fs::write(dir.join("demo.pcap"), demo::capture())?;
    use demo::failover;
    std::fs::write(dir.join("failover-topology.toml"), failover::TOPOLOGY)?;
    std::fs::write(dir.join("failover-events.toml"), failover::EVENTS)?;
    std::fs::write(dir.join("failover.pcap"), failover::capture())?;
    for (i, f) in demo::frames().iter().enumerate() {
        println!("{:>3}  {:<32} {}", i + 1, f.expect, f.what);
    }
    Ok(())
}
