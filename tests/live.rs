//! `eipsim live` between network namespaces (root only): an "internet" host and a NAT-mode ENI's
//! instance, each behind a veth pair whose root-side end eipsim reads and writes. Real `ping` and
//! `curl` go through the simulated gateway; then the report and the captures are checked.
//!
//! Skipped, with a message saying why, when not root or when `ip netns` is unavailable. Every
//! step is bounded in time; the namespaces are removed however the test ends.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

const INET: &str = "eipsim-inet";
const ENI: &str = "eipsim-eni";
/// Root-side ends of the veth pairs (eipsim's interfaces).
const INET_LINK: &str = "eipl-inet";
const ENI_LINK: &str = "eipl-eni0";

const TOPOLOGY: &str = r#"region = "eu-central-1"

[vpc]
id = "vpc-live"
cidr = "172.16.0.0/12"
gateway_mac = "ee:ff:ff:ff:ff:ff"
internet_mac = "02:00:00:00:00:01"

[[instance]]
id = "i-web"
family = "ecs.g5"
dhcp = true

[[eni]]
id = "eni-web0"
kind = "primary"
mac = "00:16:3e:00:00:10"
primary_ip = "172.16.0.10"
instance = "i-web"

[[eip]]
id = "eip-web"
address = "47.0.0.10"

[[association]]
eip = "eip-web"
eni = "eni-web0"
mode = "NAT"
"#;

/// Runs a command with a time limit (coreutils `timeout`), returning its output.
fn run(secs: u32, args: &[&str]) -> Output {
    let mut c = Command::new("timeout");
    c.arg(secs.to_string()).args(args);
    c.output()
        .unwrap_or_else(|e| panic!("cannot run {args:?}: {e}"))
}

/// Runs a command that must succeed.
fn must(args: &[&str]) {
    let o = run(10, args);
    assert!(
        o.status.success(),
        "{args:?} failed: {}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
}

fn ns(name: &str, args: &[&str]) -> Vec<String> {
    let mut v: Vec<String> = ["ip", "netns", "exec", name].map(String::from).to_vec();
    v.extend(args.iter().map(|s| s.to_string()));
    v
}

fn must_ns(name: &str, args: &[&str]) {
    let v = ns(name, args);
    must(&v.iter().map(String::as_str).collect::<Vec<_>>());
}

/// Removes the namespaces (and with them the veth pairs) and kills the children when dropped.
struct Cleanup {
    children: Vec<Child>,
}

impl Cleanup {
    fn remove_namespaces() {
        for n in [INET, ENI] {
            let _ = run(10, &["ip", "netns", "del", n]);
        }
        for l in [INET_LINK, ENI_LINK] {
            let _ = run(10, &["ip", "link", "del", l]);
        }
        for n in [INET, ENI] {
            let _ = std::fs::remove_dir_all(Path::new("/etc/netns").join(n));
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
fn cannot_run() -> Option<String> {
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
fn veth(name: &str, root: &str, mac: &str) {
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
fn wait(child: &mut Child, limit: Duration) -> Option<std::process::ExitStatus> {
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
fn packets(path: &Path) -> usize {
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

#[test]
fn ping_and_http_through_a_nat_eip() {
    if let Some(why) = cannot_run() {
        // CI runs as root with the tools installed (.ci/run): there it must run, not skip.
        assert!(
            std::env::var("CI").is_err() || why == "not root",
            "live: {why} in CI (.ci/run installs ip, ping, curl, ethtool)"
        );
        println!("SKIPPED live: {why} (needs root, `ip netns`, ping and curl)");
        return;
    }
    Cleanup::remove_namespaces(); // debris of an earlier run
    let mut guard = Cleanup {
        children: Vec::new(),
    };
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("live");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("scratch dir");
    let topo = dir.join("topology.toml");
    std::fs::write(&topo, TOPOLOGY).expect("topology written");
    let out = dir.join("out");

    veth(INET, INET_LINK, "02:00:00:00:00:01");
    must_ns(
        INET,
        &["ip", "addr", "add", "198.51.100.7/24", "dev", "eth0"],
    );
    // The EIPs are on-link: the Internet host asks ARP for the EIP, which eipsim answers.
    must_ns(INET, &["ip", "route", "add", "47.0.0.0/24", "dev", "eth0"]);
    veth(ENI, ENI_LINK, "00:16:3e:00:00:10");
    must_ns(ENI, &["ip", "addr", "add", "172.16.0.10/12", "dev", "eth0"]);
    // The VPC router: any VPC address that is not the ENI's; eipsim answers ARP for it.
    must_ns(ENI, &["ip", "route", "add", "default", "via", "172.16.0.1"]);

    let eipsim = Command::new(env!("CARGO_BIN_EXE_eipsim"))
        .args(["live", "--topology"])
        .arg(&topo)
        .args(["--internet", INET_LINK, "--eni"])
        .arg(format!("eni-web0={ENI_LINK}"))
        .arg("--out")
        .arg(&out)
        .args(["--duration", "8"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("eipsim live started");
    let started = Instant::now();
    guard.children.push(eipsim);
    let python = ["/usr/bin/python3", "/usr/local/bin/python3"]
        .into_iter()
        .find(|p| Path::new(p).exists())
        .unwrap_or("python3");
    let server = Command::new("ip")
        .args(["netns", "exec", ENI, python, "-m", "http.server", "8000"])
        .args(["--bind", "172.16.0.10", "--directory"])
        .arg(&dir)
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(dir.join("http.log")).expect("log"))
        .spawn()
        .expect("http.server started");
    guard.children.push(server);
    // The server listens (checked from inside its namespace) and eipsim's channels are open.
    let t = Instant::now();
    loop {
        let local = ns(
            ENI,
            &["curl", "-s", "--max-time", "1", "http://172.16.0.10:8000/"],
        );
        let o = run(3, &local.iter().map(String::as_str).collect::<Vec<_>>());
        if o.status.success() {
            break;
        }
        assert!(
            t.elapsed() < Duration::from_secs(10),
            "http.server did not start: {}",
            std::fs::read_to_string(dir.join("http.log")).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    std::thread::sleep(Duration::from_millis(500).saturating_sub(started.elapsed()));

    if let Ok(Some(s)) = guard.children[0].try_wait() {
        let mut e = String::new();
        if let Some(mut err) = guard.children[0].stderr.take() {
            let _ = std::io::Read::read_to_string(&mut err, &mut e);
        }
        panic!("eipsim live ended early ({s}): {e}");
    }
    let ping = ns(INET, &["ping", "-c", "3", "-W", "1", "47.0.0.10"]);
    let o = run(10, &ping.iter().map(String::as_str).collect::<Vec<_>>());
    let text = String::from_utf8_lossy(&o.stdout).to_string();
    println!("{text}");
    assert!(o.status.success(), "ping through the EIP failed: {text}");
    assert!(text.contains("3 received"), "{text}");

    let curl = ns(
        INET,
        &["curl", "-s", "--max-time", "5", "http://47.0.0.10:8000/"],
    );
    let o = run(10, &curl.iter().map(String::as_str).collect::<Vec<_>>());
    let body = String::from_utf8_lossy(&o.stdout).to_string();
    assert!(o.status.success(), "curl through the EIP failed: {o:?}");
    assert!(
        body.contains("topology.toml"),
        "the directory listing: {body}"
    );

    // eipsim ends at its duration and writes its outputs.
    let mut eipsim = guard.children.remove(0);
    let status = wait(&mut eipsim, Duration::from_secs(20)).expect("eipsim live ended");
    let o = eipsim.wait_with_output().expect("eipsim output");
    let stdout = String::from_utf8_lossy(&o.stdout);
    println!("{stdout}");
    assert!(
        status.success(),
        "eipsim live failed: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(
        &std::fs::read(out.join("report.json")).expect("report.json written"),
    )
    .expect("report.json parses");
    let live = &report["live"];
    println!("live: {live}; frames: {}", report["frames"]);
    // The Internet host asked for the EIP, the instance for its gateway.
    assert!(live["arp_answered"].as_u64().unwrap() >= 2, "{live}");
    let frames = &report["frames"];
    let (n, fwd, drop) = (
        frames["in"].as_u64().unwrap(),
        frames["forwarded"].as_u64().unwrap(),
        frames["dropped"].as_u64().unwrap(),
    );
    assert_eq!(n, fwd + drop, "{frames}");
    // 3 echo requests and replies, and a TCP connection of at least 8 frames.
    assert!(fwd >= 14, "{frames}");
    assert!(
        live["frames_sent"].as_u64().unwrap() >= fwd,
        "every forwarded frame was sent: {live} {frames}"
    );
    let flows = report["flows"].as_array().expect("flows");
    for proto in ["icmp", "tcp"] {
        let f = flows
            .iter()
            .find(|f| f["protocol"] == proto && f["public"] == "47.0.0.10")
            .unwrap_or_else(|| panic!("a {proto} flow through the EIP: {flows:?}"));
        assert_eq!(f["verdict"], "ok", "{f}");
    }
    assert!(
        packets(&out.join("internet.pcap")) >= 3 + 4,
        "replies to the Internet"
    );
    assert!(
        packets(&out.join("eni-web0.pcap")) >= 3 + 4,
        "requests to the ENI"
    );
    assert!(out.join("dropped.pcapng").is_file());

    // Without --duration, SIGTERM ends the run and the outputs are written all the same.
    let out2 = dir.join("out-term");
    let eipsim = Command::new(env!("CARGO_BIN_EXE_eipsim"))
        .args(["live", "--topology"])
        .arg(&topo)
        .args(["--internet", INET_LINK, "--eni"])
        .arg(format!("eni-web0={ENI_LINK}"))
        .arg("--out")
        .arg(&out2)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("eipsim live started");
    guard.children.insert(0, eipsim);
    std::thread::sleep(Duration::from_millis(500));
    let ping = ns(INET, &["ping", "-c", "1", "-W", "2", "47.0.0.10"]);
    let o = run(5, &ping.iter().map(String::as_str).collect::<Vec<_>>());
    assert!(o.status.success(), "a ping while running: {o:?}");
    let pid = guard.children[0].id().to_string();
    must(&["kill", "-TERM", &pid]);
    let mut eipsim = guard.children.remove(0);
    let status = wait(&mut eipsim, Duration::from_secs(10)).expect("eipsim live stopped");
    assert!(status.success(), "exit status after SIGTERM: {status}");
    let report: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out2.join("report.json")).expect("report.json"))
            .expect("report.json parses");
    assert_eq!(report["frames"]["forwarded"], 2, "{}", report["frames"]);
    assert_eq!(packets(&out2.join("eni-web0.pcap")), 1);
}

/// Runs `eipsim live` with `args` (no interface is opened: each is refused first).
fn refused(args: &[&str]) -> (i32, String) {
    let o = Command::new(env!("CARGO_BIN_EXE_eipsim"))
        .arg("live")
        .args(args)
        .output()
        .expect("eipsim ran");
    (
        o.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&o.stderr).to_string(),
    )
}

#[test]
fn bad_arguments_are_refused_before_any_interface_is_opened() {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("live-args");
    std::fs::create_dir_all(&dir).expect("scratch dir");
    let topo = dir.join("topology.toml");
    std::fs::write(&topo, TOPOLOGY).expect("topology written");
    let out = dir.join("out");
    let _ = std::fs::remove_dir_all(&out);
    let t = topo.to_str().unwrap();
    let o = out.to_str().unwrap();
    let (code, err) = refused(&[
        "--topology",
        t,
        "--internet",
        "lo",
        "--eni",
        "eni-nope=lo2",
        "--out",
        o,
    ]);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("eni-nope is not an ENI of the topology"),
        "{err}"
    );
    let (code, err) = refused(&[
        "--topology",
        t,
        "--internet",
        "lo",
        "--eni",
        "eni-web0",
        "--out",
        o,
    ]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("ENI_ID=IFACE"), "{err}");
    let (code, err) = refused(&[
        "--topology",
        t,
        "--internet",
        "lo",
        "--eni",
        "eni-web0=lo",
        "--out",
        o,
    ]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("interface lo is given twice"), "{err}");
    let (code, err) = refused(&[
        "--topology",
        t,
        "--internet",
        "lo",
        "--eni",
        "eni-web0=eipsim-none0",
        "--out",
        o,
    ]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("\"eipsim-none0\": no such interface"), "{err}");
    let (code, err) = refused(&[
        "--topology",
        t,
        "--internet",
        "lo",
        "--eni",
        "eni-web0=x",
        "--duration",
        "0",
    ]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("positive number of seconds"), "{err}");
    assert!(!out.exists(), "nothing written for refused arguments");
}
