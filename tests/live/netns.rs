//! Network namespaces for the live tests: veth pairs, commands run in a namespace, clean-up.
//! The tests that use them hold [`lock`] (they share the names and the machine's links).

use std::path::Path;
use std::process::{Child, Command, Output};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// The Internet host's namespace.
pub const INET: &str = "eipsim-inet";
/// The NAT-mode ENI's instance.
pub const ENI: &str = "eipsim-eni";
/// The cut-through ENI's instance.
pub const CUT: &str = "eipsim-cut";
/// Root-side ends of the veth pairs (eipsim's interfaces).
pub const INET_LINK: &str = "eipl-inet";
/// The NAT-mode ENI's interface.
pub const ENI_LINK: &str = "eipl-eni0";
/// The cut-through ENI's interface.
pub const CUT_LINK: &str = "eipl-cut";
/// Every namespace a live test makes is named with this prefix (clean-up removes them all).
pub const NS_PREFIX: &str = "eipsim-";
/// Every root-side link a live test makes is named with this prefix (at most 15 bytes in all).
pub const LINK_PREFIX: &str = "eipl-";

static LOCK: Mutex<()> = Mutex::new(());

/// One namespace test at a time (a failed one leaves the lock usable).
pub fn lock() -> MutexGuard<'static, ()> {
    LOCK.lock().unwrap_or_else(|p| p.into_inner())
}

/// Whether the test must skip (printing why): not root, or a tool is missing. In CI (`CI` set)
/// only "not root" may skip.
pub fn skip(extra: &[&str]) -> bool {
    let Some(why) = cannot_run().or_else(|| {
        extra
            .iter()
            .find(|t| {
                Command::new("sh")
                    .args(["-c", &format!("command -v {t}")])
                    .output()
                    .map_or(true, |o| !o.status.success())
            })
            .map(|t| format!("`{t}` is unavailable"))
    }) else {
        return false;
    };
    assert!(
        std::env::var("CI").is_err() || why == "not root",
        "live: {why} in CI (.ci/run installs ip, ping, curl, ethtool, busybox)"
    );
    println!("SKIPPED live: {why} (needs root, `ip netns`, ping, curl and {extra:?})");
    true
}

/// Runs a command with a time limit (coreutils `timeout`), returning its output.
pub fn run(secs: u32, args: &[&str]) -> Output {
    let mut c = Command::new("timeout");
    c.arg(secs.to_string()).args(args);
    c.output()
        .unwrap_or_else(|e| panic!("cannot run {args:?}: {e}"))
}

/// Runs a command that must succeed.
pub fn must(args: &[&str]) {
    let o = run(10, args);
    assert!(
        o.status.success(),
        "{args:?} failed: {}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
}

/// `ip netns exec NAME ARGS...`.
pub fn ns(name: &str, args: &[&str]) -> Vec<String> {
    let mut v: Vec<String> = ["ip", "netns", "exec", name].map(String::from).to_vec();
    v.extend(args.iter().map(|s| s.to_string()));
    v
}

/// Runs a command in namespace `name` that must succeed.
pub fn must_ns(name: &str, args: &[&str]) {
    let v = ns(name, args);
    must(&v.iter().map(String::as_str).collect::<Vec<_>>());
}

/// Removes the namespaces (and with them the veth pairs) and kills the children when dropped.
pub struct Cleanup {
    /// Processes to kill at the end.
    pub children: Vec<Child>,
}

impl Cleanup {
    /// Removes every namespace (named `eipsim-...`), root-side veth end (`eipl-...`) and
    /// /etc/netns folder the live tests make, whichever test made them.
    pub fn remove_namespaces() {
        let listed = |args: &[&str]| String::from_utf8_lossy(&run(10, args).stdout).into_owned();
        for line in listed(&["ip", "netns", "list"]).lines() {
            let n = line.split_whitespace().next().unwrap_or_default();
            if n.starts_with(NS_PREFIX) {
                let _ = run(10, &["ip", "netns", "del", n]);
                let _ = std::fs::remove_dir_all(Path::new("/etc/netns").join(n));
            }
        }
        for line in listed(&["ip", "-o", "link", "show"]).lines() {
            // "7: eipl-inet@if6: <...": the name, before any "@peer".
            let name = line.split(':').nth(1).unwrap_or_default().trim();
            let l = name.split('@').next().unwrap_or_default();
            if l.starts_with(LINK_PREFIX) {
                let _ = run(10, &["ip", "link", "del", l]);
            }
        }
    }
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        for c in &mut self.children {
            let _ = c.kill();
            let _ = c.wait();
        }
        Cleanup::remove_namespaces();
    }
}

/// Why the test cannot run here, if it cannot.
pub fn cannot_run() -> Option<String> {
    let uid = std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .and_then(|l| l.split_whitespace().nth(1).map(str::to_string))
        });
    if uid.as_deref() != Some("0") {
        return Some("not root".into());
    }
    for tool in [
        ["ip", "netns", "list"],
        ["ping", "-V", ""],
        ["curl", "--version", ""],
    ] {
        let args: Vec<&str> = tool.iter().copied().filter(|a| !a.is_empty()).collect();
        match Command::new(args[0]).args(&args[1..]).output() {
            Ok(o) if o.status.success() => {}
            _ => return Some(format!("`{}` is unavailable", args.join(" "))),
        }
    }
    None
}

/// A veth pair: `root` stays in the root namespace (up, no address, no IPv6), `inner` goes
/// into `name` as eth0 with `mac`, offloads off on both ends (full checksums on the wire).
pub fn veth(name: &str, root: &str, mac: &str) {
    let tmp = format!("{root}-p");
    // `ip netns exec` mounts these over /etc's: name lookups (http.server looks up its own
    // address) answer at once instead of waiting for a DNS server the namespace cannot reach.
    let etc = Path::new("/etc/netns").join(name);
    std::fs::create_dir_all(&etc).expect("/etc/netns/NAME");
    std::fs::write(
        etc.join("hosts"),
        "127.0.0.1 localhost\n172.16.0.10 instance\n",
    )
    .expect("hosts");
    std::fs::write(etc.join("resolv.conf"), "nameserver 127.0.0.1\n").expect("resolv.conf");
    must(&["ip", "netns", "add", name]);
    must(&[
        "ip", "link", "add", root, "type", "veth", "peer", "name", &tmp,
    ]);
    must(&["ip", "link", "set", &tmp, "netns", name]);
    must_ns(name, &["ip", "link", "set", &tmp, "name", "eth0"]);
    must_ns(name, &["ip", "link", "set", "eth0", "address", mac]);
    must_ns(name, &["sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=1"]);
    must(&[
        "sysctl",
        "-qw",
        &format!("net.ipv6.conf.{root}.disable_ipv6=1"),
    ]);
    must_ns(name, &["ip", "link", "set", "lo", "up"]);
    must_ns(name, &["ip", "link", "set", "eth0", "up"]);
    must(&["ip", "link", "set", root, "up"]);
    if Command::new("ethtool").arg("--version").output().is_ok() {
        for dev in [(None, root), (Some(name), "eth0")] {
            let off = [
                "ethtool", "-K", dev.1, "tx", "off", "rx", "off", "tso", "off", "gso", "off",
                "gro", "off",
            ];
            match dev.0 {
                Some(n) => must_ns(n, &off),
                None => must(&off),
            }
        }
    }
}

/// Waits for `child` until `limit`; kills it past that.
pub fn wait(child: &mut Child, limit: Duration) -> Option<std::process::ExitStatus> {
    let t = Instant::now();
    while t.elapsed() < limit {
        if let Ok(Some(s)) = child.try_wait() {
            return Some(s);
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let _ = child.kill();
    None
}

/// Packets (enhanced packet blocks) in a pcapng file, each IPv4 header and TCP segment
/// checked to carry a correct checksum (the bytes were complete on the wire).
pub fn packets(path: &Path) -> usize {
    use etherparse::{NetSlice, SlicedPacket, TransportSlice};
    let f = std::fs::File::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut r = pcap_file::pcapng::PcapNgReader::new(f).expect("a pcapng file");
    let mut n = 0;
    while let Some(b) = r.next_block() {
        let pcap_file::pcapng::Block::EnhancedPacket(p) = b.expect("a block") else {
            continue;
        };
        n += 1;
        let s = SlicedPacket::from_ethernet(&p.data).expect("an Ethernet frame");
        let Some(NetSlice::Ipv4(ip)) = &s.net else {
            continue;
        };
        let h = ip.header();
        assert_eq!(
            h.header_checksum(),
            h.to_header().calc_header_checksum(),
            "{} packet {n}: IPv4 checksum",
            path.display()
        );
        if let Some(TransportSlice::Tcp(t)) = &s.transport {
            let sum = t.calc_checksum_ipv4(h.source(), h.destination()).unwrap();
            assert_eq!(
                t.checksum(),
                sum,
                "{} packet {n}: TCP checksum",
                path.display()
            );
        }
    }
    n
}

/// Starts `eipsim live --topology TOPO --internet eipl-inet --eni E=L... --out OUT` with `extra`
/// arguments, its stdout and stderr piped.
pub fn start(topo: &Path, out: &Path, enis: &[(&str, &str)], extra: &[&str]) -> Child {
    let mut c = Command::new(env!("CARGO_BIN_EXE_eipsim"));
    c.args(["live", "--topology"])
        .arg(topo)
        .args(["--internet", INET_LINK]);
    for (e, l) in enis {
        c.arg("--eni").arg(format!("{e}={l}"));
    }
    c.arg("--out")
        .arg(out)
        .args(extra)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("eipsim live started")
}

/// Waits for a run of eipsim to end (at most `limit`), checks it succeeded and returns its
/// report.
pub fn finished(mut eipsim: Child, out: &Path, limit: Duration) -> serde_json::Value {
    let status = wait(&mut eipsim, limit).expect("eipsim live ended");
    let o = eipsim.wait_with_output().expect("eipsim output");
    println!("{}", String::from_utf8_lossy(&o.stdout));
    assert!(
        status.success(),
        "eipsim live failed: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    serde_json::from_slice(&std::fs::read(out.join("report.json")).expect("report.json written"))
        .expect("report.json parses")
}

/// The path of python3.
pub fn python() -> &'static str {
    ["/usr/bin/python3", "/usr/local/bin/python3"]
        .into_iter()
        .find(|p| Path::new(p).exists())
        .unwrap_or("python3")
}

/// Runs a command in namespace `name` with a time limit.
pub fn run_ns(secs: u32, name: &str, args: &[&str]) -> Output {
    let v = ns(name, args);
    run(secs, &v.iter().map(String::as_str).collect::<Vec<_>>())
}
