//! `eipsim live` between network namespaces (root only): an "internet" host and a NAT-mode ENI's
//! instance, each behind a veth pair whose root-side end eipsim reads and writes. Real `ping` and
//! `curl` go through the simulated gateway; then the report and the captures are checked.
//!
//! Skipped, with a message saying why, when not root or when `ip netns` is unavailable. Every
//! step is bounded in time; the namespaces are removed however the test ends.

#[path = "live/fixtures.rs"]
mod fixtures;
#[path = "live/netns.rs"]
mod netns;
#[path = "live/verdict.rs"]
mod verdict;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use fixtures::*;
use netns::*;

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

/// A fresh scratch folder `name` under the target's temporary folder, holding `topology` as
/// `topology.toml`: (the folder, the topology's path).
fn scratch(name: &str, topology: &str) -> (PathBuf, PathBuf) {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("scratch dir");
    let topo = dir.join("topology.toml");
    std::fs::write(&topo, topology).expect("topology written");
    (dir, topo)
}

/// The Internet host's namespace: 198.51.100.7/24, the EIPs on-link (it asks ARP for an EIP,
/// which eipsim answers).
fn internet_host() {
    veth(INET, INET_LINK, "02:00:00:00:00:01");
    must_ns(
        INET,
        &["ip", "addr", "add", "198.51.100.7/24", "dev", "eth0"],
    );
    must_ns(INET, &["ip", "route", "add", "47.0.0.0/24", "dev", "eth0"]);
}

/// The NAT-mode ENI's namespace: its private IP with the VPC's prefix, the default route via a
/// VPC address that is not the ENI's (eipsim answers ARP for it, as the VPC router).
fn nat_eni_host() {
    veth(ENI, ENI_LINK, "00:16:3e:00:00:10");
    must_ns(ENI, &["ip", "addr", "add", "172.16.0.10/12", "dev", "eth0"]);
    must_ns(ENI, &["ip", "route", "add", "default", "via", "172.16.0.1"]);
}

#[test]
fn ping_and_http_through_a_nat_eip() {
    // CI runs as root with the tools installed (.ci/run): there it must run, not skip.
    if skip(&[]) {
        return;
    }
    let _one = lock();
    Cleanup::remove_namespaces(); // debris of an earlier run
    let mut guard = Cleanup {
        children: Vec::new(),
    };
    let (dir, topo) = scratch("live", TOPOLOGY);
    let out = dir.join("out");
    internet_host();
    nat_eni_host();

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
    // ping and curl worked: the report calls their flows ok.
    verdict::agree(&report, "ping", ("icmp", "172.16.0.10", None), true);
    verdict::agree(&report, "curl", ("tcp", "172.16.0.10", Some(8000)), true);
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

#[test]
fn dhcp_gives_the_cut_through_eip_to_a_real_client() {
    if skip(&["busybox"]) {
        return;
    }
    let _one = lock();
    Cleanup::remove_namespaces();
    let mut guard = Cleanup {
        children: Vec::new(),
    };
    let (dir, topo) = scratch("live-dhcp", &cut_topology(true));
    internet_host();
    // No address: the ENI's instance gets its EIP from DHCP.
    veth(CUT, CUT_LINK, "00:16:3e:00:01:10");

    let out = dir.join("out");
    let eipsim = start(&topo, &out, &[("eni-cut", CUT_LINK)], &["--duration", "14"]);
    guard.children.push(eipsim);
    std::thread::sleep(Duration::from_millis(500));
    let o = udhcpc(&dir);
    println!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(o.status.success(), "udhcpc got no lease: {o:?}");
    let leased = std::fs::read_to_string(dir.join("leased")).expect("the lease");
    assert!(leased.starts_with("47.0.0.20 "), "leased: {leased}");
    let addr = run_ns(5, CUT, &["ip", "-4", "addr", "show", "dev", "eth0"]);
    assert!(
        String::from_utf8_lossy(&addr.stdout).contains("inet 47.0.0.20/"),
        "{addr:?}"
    );

    let server = Command::new("ip")
        .args(["netns", "exec", CUT, python(), "-m", "http.server", "8000"])
        .args(["--bind", "47.0.0.20", "--directory"])
        .arg(&dir)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("http.server started");
    guard.children.push(server);
    let t = Instant::now();
    while !run_ns(
        3,
        CUT,
        &["curl", "-s", "--max-time", "1", "http://47.0.0.20:8000/"],
    )
    .status
    .success()
    {
        assert!(
            t.elapsed() < Duration::from_secs(10),
            "http.server did not start"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    // Cut-through: the Internet host reaches the EIP itself, which the instance holds.
    let o = run_ns(10, INET, &["ping", "-c", "3", "-W", "1", "47.0.0.20"]);
    let text = String::from_utf8_lossy(&o.stdout).to_string();
    assert!(o.status.success() && text.contains("3 received"), "{text}");
    let o = run_ns(
        10,
        INET,
        &["curl", "-s", "--max-time", "5", "http://47.0.0.20:8000/"],
    );
    assert!(o.status.success(), "curl through the EIP failed: {o:?}");
    assert!(
        String::from_utf8_lossy(&o.stdout).contains("udhcpc.sh"),
        "{o:?}"
    );

    let eipsim = guard.children.remove(0);
    let report = finished(eipsim, &out, Duration::from_secs(25));
    let live = &report["live"];
    println!("live: {live}; frames: {}", report["frames"]);
    // DISCOVER -> OFFER, REQUEST -> ACK.
    assert!(live["dhcp_answered"].as_u64().unwrap() >= 2, "{live}");
    assert_eq!(live["dhcp_answered"], live["dhcp_received"], "{live}");
    let frames = &report["frames"];
    assert!(frames["forwarded"].as_u64().unwrap() >= 6 + 8, "{frames}");
    // The DHCP frames are not gateway traffic: none of them reached the captures.
    let flows = report["flows"].as_array().expect("flows");
    assert!(
        flows.iter().all(|f| f["protocol"] != "udp"),
        "no UDP flow: {flows:?}"
    );
    verdict::agree(&report, "ping", ("icmp", "47.0.0.20", None), true);
    verdict::agree(&report, "curl", ("tcp", "47.0.0.20", Some(8000)), true);

    // DHCP off on the instance: the server does not answer, the client gives up.
    must_ns(CUT, &["ip", "addr", "flush", "dev", "eth0"]);
    let _ = std::fs::remove_file(dir.join("leased"));
    std::fs::write(&topo, cut_topology(false)).expect("topology written");
    let out = dir.join("out-off");
    let eipsim = start(&topo, &out, &[("eni-cut", CUT_LINK)], &["--duration", "7"]);
    guard.children.insert(0, eipsim);
    std::thread::sleep(Duration::from_millis(500));
    let t = Instant::now();
    let o = udhcpc(&dir);
    assert!(!o.status.success(), "a lease with DHCP off: {o:?}");
    assert!(
        t.elapsed() < Duration::from_secs(10),
        "udhcpc gave up in time"
    );
    assert!(!dir.join("leased").exists(), "no lease");
    let eipsim = guard.children.remove(0);
    let report = finished(eipsim, &out, Duration::from_secs(20));
    let live = &report["live"];
    assert!(live["dhcp_received"].as_u64().unwrap() >= 3, "{live}");
    assert_eq!(live["dhcp_answered"], 0, "{live}");
    assert_eq!(report["frames"]["in"], 0, "{}", report["frames"]);
}

#[test]
fn events_apply_at_wall_clock_offsets() {
    if skip(&[]) {
        return;
    }
    let _one = lock();
    Cleanup::remove_namespaces();
    let mut guard = Cleanup {
        children: Vec::new(),
    };
    let (dir, topo) = scratch("live-events", TOPOLOGY);
    let events = dir.join("events.toml");
    std::fs::write(&events, EVENTS).expect("events written");
    internet_host();
    nat_eni_host();

    let out = dir.join("out");
    let ev = events.to_str().unwrap();
    let eipsim = start(
        &topo,
        &out,
        &[("eni-web0", ENI_LINK)],
        &["--duration", "6", "--events", ev],
    );
    guard.children.push(eipsim);
    std::thread::sleep(Duration::from_millis(200));
    // 20 pings 0.2 s apart: about 6 before the event, the rest after it.
    let o = run_ns(
        15,
        INET,
        &[
            "ping",
            "-n",
            "-c",
            "20",
            "-i",
            "0.2",
            "-W",
            "1",
            "47.0.0.10",
        ],
    );
    let text = String::from_utf8_lossy(&o.stdout).to_string();
    println!("{text}");
    let answered: Vec<u32> = text
        .lines()
        .filter(|l| l.contains("bytes from"))
        .filter_map(|l| l.split("icmp_seq=").nth(1))
        .filter_map(|s| s.split_whitespace().next()?.parse().ok())
        .collect();
    assert!(answered.len() >= 2, "answered before the event: {text}");
    assert!(
        answered.len() <= 12,
        "none answered after the event: {text}"
    );
    let (first, last) = (answered[0], *answered.last().unwrap());
    assert_eq!(
        answered,
        (first..=last).collect::<Vec<_>>(),
        "answered until the event, then none: {text}"
    );
    assert!(last < 20, "{text}");

    let eipsim = guard.children.remove(0);
    let report = finished(eipsim, &out, Duration::from_secs(20));
    let timeline = report["timeline"].as_array().expect("a timeline");
    println!("timeline: {timeline:?}");
    assert_eq!(timeline.len(), 2, "{timeline:?}");
    assert_eq!(
        timeline[0]["op"], "UnassociateEipAddress eip-web",
        "{timeline:?}"
    );
    assert_eq!(timeline[0]["at"], "1.5");
    assert_eq!(timeline[0]["result"], "ok", "{timeline:?}");
    assert_eq!(timeline[1]["result"], "not-reached", "{timeline:?}");
    let before = &timeline[0]["before"];
    let after = &timeline[0]["after"];
    assert_eq!(
        before["forwarded"].as_u64().unwrap(),
        2 * answered.len() as u64,
        "echo requests and replies before: {before}"
    );
    assert_eq!(after["forwarded"], 0, "{after}");
    assert!(
        after["frames"].as_u64().unwrap() >= (20 - answered.len()) as u64,
        "the echo requests after, dropped: {after}"
    );
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
    let events = dir.join("no-such-events.toml");
    // (the --eni value, more arguments, the exit status, what the message says). A bad events
    // file is refused (1) and a bad --alg (2) before the interfaces are looked at.
    let cases: [(&str, &[&str], i32, &str); 10] = [
        (
            "eni-nope=lo2",
            &["--out", o],
            2,
            "eni-nope is not an ENI of the topology",
        ),
        ("eni-web0", &["--out", o], 2, "ENI_ID=IFACE"),
        (
            "eni-web0=lo",
            &["--out", o],
            2,
            "interface lo is given twice",
        ),
        (
            "eni-web0=eipsim-none0",
            &["--out", o],
            2,
            "\"eipsim-none0\": no such interface",
        ),
        (
            "eni-web0=x",
            &["--duration", "0"],
            2,
            "positive number of seconds",
        ),
        (
            "eni-web0=lo",
            &["--events", events.to_str().unwrap(), "--out", o],
            1,
            "no-such-events.toml",
        ),
        (
            "eni-web0=lo",
            &["--alg", "ftp=maybe", "--out", o],
            2,
            "--alg: ftp: unknown mode \"maybe\"",
        ),
        (
            "eni-web0=lo",
            &["--alg", "tftp=translate", "--out", o],
            2,
            "--alg: tftp: what-if translation is built for ftp and sip only",
        ),
        (
            "eni-web0=lo",
            &["--alg", "ftp", "--out", o],
            2,
            "expected PROTOCOL=MODE",
        ),
        (
            "eni-web0=lo",
            &["--alg", "ftp=translate", "--no-alg", "--out", o],
            2,
            "--no-alg turns ALG handling off: choose one",
        ),
    ];
    for (eni, more, status, says) in cases {
        let mut args = vec!["--topology", t, "--internet", "lo", "--eni", eni];
        args.extend_from_slice(more);
        let (code, err) = refused(&args);
        assert_eq!(code, status, "{args:?}: {err}");
        assert!(err.contains(says), "{args:?}: {err}");
    }
    assert!(!out.exists(), "nothing written for refused arguments");
}
