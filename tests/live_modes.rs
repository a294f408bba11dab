//! `eipsim live` with each binding mode's guest as its OS configures itself, and real software
//! through the simulated gateway (root only; every namespace `eipsim-...`, every root link
//! `eipl-...`): multi-EIP with one EIP the OS did not configure, TTL and traceroute through a NAT
//! EIP, SIP with kamailio, sipsak and baresip in NAT and cut-through mode, and a failover drill
//! driven by timed events. Each case asserts what the real client reports and compares it with
//! eipsim's verdict for the flow in report.json.
//!
//! Run with `flock /tmp/eipsim-netns.lock cargo test --test live_modes` (the namespaces are
//! shared with the other live tests). Every step is bounded in time; the namespaces are removed
//! however a test ends.

#[allow(dead_code)]
#[path = "live/fixtures.rs"]
mod fixtures;
#[allow(dead_code)]
#[path = "live/modes_hosts.rs"]
mod modes_hosts;
#[path = "live/modes_sip.rs"]
mod modes_sip;
#[path = "live/modes_topo.rs"]
mod modes_topo;
#[allow(dead_code)]
#[path = "live/netns.rs"]
mod netns;
#[allow(dead_code)]
#[path = "live/verdict.rs"]
mod verdict;

use std::time::{Duration, Instant};

use modes_hosts::*;
use modes_topo::*;
use netns::*;
use serde_json::Value;

/// The flows of `report` with `address` among their two addresses (inside view).
fn flows_of<'a>(report: &'a Value, proto: &str, address: &str) -> Vec<&'a Value> {
    verdict::flows(report, proto, address, None)
}

/// The report's count of frames dropped for `reason`.
fn dropped(report: &Value, reason: &str) -> u64 {
    report["dropped"][reason].as_u64().unwrap_or(0)
}

#[test]
fn multi_eip_answers_on_the_configured_eips_only() {
    if skip(&["python3"]) {
        return;
    }
    let _one = lock();
    Cleanup::remove_namespaces();
    let _guard = Cleanup {
        children: Vec::new(),
    };
    let mut servers = Servers::default();
    let (dir, topo) = scratch("live-multi", &format!("{HEAD}{MULTI}"));
    internet_host();
    // The OS holds its private IP and the two EIPs it was configured with (`static_eips`).
    let (m, link) = ("eipsim-multi", "eipl-multi");
    let addrs = ["172.16.2.10/12", "47.0.0.31/32", "47.0.0.32/32"];
    instance(m, link, "00:16:3e:00:02:10", &addrs, "172.16.0.1");
    http_server(&mut servers, &dir, m, "47.0.0.31", "multi-eip instance\n");
    http_server(&mut servers, &dir, INET, INET_IP, "internet host\n");

    let out = dir.join("out");
    let eipsim = start(&topo, &out, &[("eni-multi", link)], &["--duration", "12"]);
    std::thread::sleep(Duration::from_millis(500));
    let mut got = Vec::new();
    for eip in ["47.0.0.31", "47.0.0.32", "47.0.0.33"] {
        let f = fetch(INET, &format!("http://{eip}:8000/"), "2", &[]);
        let (pinged, ttls, text) = ping(INET, eip, 2);
        println!("{eip}: curl {f:?}; ping {pinged} {ttls:?}\n{text}");
        got.push((eip, f, pinged, ttls));
    }
    // The instance opens a connection from a configured EIP: it leaves unchanged.
    let out_fetch = fetch(
        m,
        &format!("http://{INET_IP}:8000/"),
        "3",
        &["--interface", "47.0.0.31"],
    );
    let report = stop(eipsim, &out);
    drop(servers);

    for (eip, f, pinged, ttls) in &got[..2] {
        assert!(f.ok && f.body == "multi-eip instance\n", "{eip}: {f:?}");
        assert!(*pinged && ttls.len() == 2, "{eip}: ping {ttls:?}");
        verdict::agree(&report, "curl", ("tcp", eip, Some(8000)), true);
        verdict::agree(&report, "ping", ("icmp", eip, None), true);
    }
    // The third EIP: the OS never configured it. Neither curl nor ping got an answer.
    let (eip, f, pinged, _) = &got[2];
    assert!(!f.ok && f.body.is_empty(), "{eip}: {f:?}");
    assert!(!pinged, "{eip}: ping answered");
    verdict::agree(&report, "curl", ("tcp", eip, Some(8000)), false);
    verdict::agree(&report, "ping", ("icmp", eip, None), false);
    let third = flows_of(&report, "tcp", eip)
        .into_iter()
        .chain(flows_of(&report, "icmp", eip))
        .collect::<Vec<_>>();
    for f in &third {
        assert_eq!(f["verdict"], "dropped", "{f:#}");
        assert_eq!(f["forwarded"], 0, "{f:#}");
        assert!(
            f["dropped"]["guest-not-configured"].as_u64() > Some(0),
            "{f:#}"
        );
        assert_eq!(f["decided_by"]["reason"], "guest-not-configured", "{f:#}");
        assert_eq!(f["mode"], "MULTI_BINDED", "{f:#}");
    }
    // At least a SYN and two echo requests.
    assert!(dropped(&report, "guest-not-configured") >= 3, "{report:#}");

    // Outbound from a configured EIP: the Internet host saw the EIP as the source.
    assert!(
        out_fetch.ok && out_fetch.body == "internet host\n",
        "{out_fetch:?}"
    );
    let log = std::fs::read_to_string(dir.join(format!("http-{INET}.log"))).unwrap();
    assert!(log.contains("47.0.0.31 - -"), "the server's log: {log}");
    let port = Some(out_fetch.port);
    verdict::agree(&report, "curl out", ("tcp", "47.0.0.31", port), true);
    let f = verdict::flows(&report, "tcp", INET_IP, port);
    assert_eq!(f.len(), 1, "{f:#?}");
    assert_eq!(f[0]["local"]["address"], "47.0.0.31", "{:#}", f[0]);
    assert_eq!(f[0]["mode"], "MULTI_BINDED", "{:#}", f[0]);
    assert!(f[0]["actions"].get("snat").is_none(), "{:#}", f[0]);
}

/// The hop lines of traceroute's output: (hop number, the rest of the line).
fn hops(text: &str) -> Vec<(u32, String)> {
    text.lines()
        .filter_map(|l| {
            let (n, rest) = l.trim().split_once(char::is_whitespace)?;
            Some((n.parse().ok()?, rest.trim().to_string()))
        })
        .collect()
}

#[test]
fn ttl_and_traceroute_through_a_nat_eip() {
    if skip(&["traceroute"]) {
        return;
    }
    let _one = lock();
    Cleanup::remove_namespaces();
    let _guard = Cleanup {
        children: Vec::new(),
    };
    let (dir, topo) = scratch("live-ttl", &format!("{HEAD}{NAT_AND_CUT}"));
    internet_host();
    instance(
        ENI,
        ENI_LINK,
        "00:16:3e:00:00:10",
        &["172.16.0.10/12"],
        "172.16.0.1",
    );
    let out = dir.join("out");
    let eipsim = start(
        &topo,
        &out,
        &[("eni-web0", ENI_LINK)],
        &["--duration", "12"],
    );
    std::thread::sleep(Duration::from_millis(500));

    // Linux sends 64; the gateway decrements once each way.
    let (ok_in, ttl_in, text_in) = ping(INET, "47.0.0.10", 2);
    let (ok_out, ttl_out, text_out) = ping(ENI, INET_IP, 2);
    println!("{text_in}{text_out}");
    let trace = |extra: &[&str]| {
        let mut a = vec!["traceroute", "-n", "-q", "1", "-w", "1", "-m", "4"];
        a.extend_from_slice(extra);
        a.push("47.0.0.10");
        let o = run_ns(15, INET, &a);
        let text = String::from_utf8_lossy(&o.stdout).to_string();
        println!(
            "traceroute {extra:?}:\n{text}{}",
            String::from_utf8_lossy(&o.stderr)
        );
        (o.status.success(), hops(&text), text)
    };
    let udp = trace(&[]);
    let icmp = trace(&["-I"]);
    let report = stop(eipsim, &out);

    assert!(ok_in && ttl_in == [63, 63], "{text_in}");
    assert!(ok_out && ttl_out == [63, 63], "{text_out}");
    for (what, (ok, hops, text)) in [("UDP", &udp), ("ICMP", &icmp)] {
        assert!(ok, "traceroute {what}: {text}");
        // Hop 1: the gateway drops TTL 1 and sends no time-exceeded. Hop 2: the instance
        // answers (port unreachable or echo reply), translated back to the EIP, and traceroute
        // stops there.
        assert_eq!(hops.len(), 2, "traceroute {what}: {text}");
        assert_eq!(hops[0], (1, "*".to_string()), "traceroute {what}: {text}");
        assert_eq!(hops[1].0, 2, "{text}");
        assert!(hops[1].1.starts_with("47.0.0.10 "), "{what}: {text}");
        assert!(!hops[1].1.contains('!'), "no annotation: {text}");
    }
    // One TTL-1 probe of each traceroute, and the TTL-1 pings of none.
    assert!(
        dropped(&report, "ttl-expired") >= 2,
        "{:#}",
        report["dropped"]
    );
    // The UDP probe of hop 1 (port 33434) got nothing; the one of hop 2 (33435) an answer.
    let v = verdict::agree(&report, "hop 1", ("udp", "172.16.0.10", Some(33434)), false);
    assert!(v.iter().all(|v| v == "dropped"), "{v:?}");
    for f in verdict::flows(&report, "udp", "172.16.0.10", Some(33434)) {
        assert_eq!(f["dropped"]["ttl-expired"], 1, "{f:#}");
    }
    verdict::agree(&report, "hop 2", ("udp", "172.16.0.10", Some(33435)), true);
    // ICMP flows have no ports: the two pings' flows (in and out) and the port unreachables'
    // are `ok`; traceroute -I's echo requests share one identifier, so one flow holds the
    // dropped TTL-1 probe and the answered ones: `dropped` (some of its frames were), though
    // traceroute did what it set out to (hop 1 silent, the destination at hop 2).
    let icmp = flows_of(&report, "icmp", "172.16.0.10");
    let (ok, other): (Vec<&Value>, Vec<&Value>) =
        icmp.into_iter().partition(|f| f["verdict"] == "ok");
    assert!(ok.len() >= 3, "{ok:#?}");
    assert_eq!(other.len(), 1, "{other:#?}");
    assert_eq!(other[0]["verdict"], "dropped", "{:#}", other[0]);
    assert_eq!(other[0]["dropped"], serde_json::json!({"ttl-expired": 1}));
    assert!(other[0]["forwarded"].as_u64() >= Some(2), "{:#}", other[0]);
}

#[test]
fn sip_options_and_a_call_to_the_registered_contact() {
    modes_sip::run();
}

/// What the Internet host saw at one moment of the drill: (seconds since eipsim started, the
/// curl).
type Seen = (f64, Fetch);

#[test]
fn failover_drill_moves_the_eip_to_the_standby() {
    if skip(&["python3"]) {
        return;
    }
    let _one = lock();
    Cleanup::remove_namespaces();
    let _guard = Cleanup {
        children: Vec::new(),
    };
    let mut servers = Servers::default();
    let (dir, topo) = scratch("live-failover", &format!("{HEAD}{PAIR}"));
    let events = dir.join("events.toml");
    std::fs::write(&events, FAILOVER).expect("events written");
    internet_host();
    let pair = [
        (
            "eipsim-active",
            "eipl-active",
            "00:16:3e:00:00:10",
            "172.16.0.10",
        ),
        (
            "eipsim-standby",
            "eipl-standby",
            "00:16:3e:00:00:11",
            "172.16.0.11",
        ),
    ];
    for (name, link, mac, ip) in pair {
        instance(name, link, mac, &[&format!("{ip}/12")], "172.16.0.1");
        let body = format!("{}\n", name.trim_start_matches("eipsim-"));
        http_server(&mut servers, &dir, name, ip, &body);
    }
    let out = dir.join("out");
    let ev = events.to_str().unwrap();
    let enis = [("eni-active", pair[0].1), ("eni-standby", pair[1].1)];
    let eipsim = start(&topo, &out, &enis, &["--duration", "8", "--events", ev]);
    let t0 = Instant::now();
    std::thread::sleep(Duration::from_millis(300));
    // The gateway answers (and the Internet host knows the EIP's MAC) before the loop.
    while !ping(INET, "47.0.0.10", 1).0 {
        assert!(
            t0.elapsed() < Duration::from_secs(2),
            "the EIP never answered"
        );
    }
    let mut seen: Vec<Seen> = Vec::new();
    while t0.elapsed() < Duration::from_millis(7000) {
        let at = t0.elapsed().as_secs_f64();
        seen.push((at, fetch(INET, "http://47.0.0.10:8000/", "0.5", &[])));
        let next = Duration::from_secs_f64(at + 0.2);
        std::thread::sleep(next.saturating_sub(t0.elapsed()));
    }
    let report = finished(eipsim, &out, Duration::from_secs(20));
    drop(servers);

    let phase = |f: &Fetch| match (f.ok, f.body.as_str()) {
        (true, "active\n") => "active",
        (true, "standby\n") => "standby",
        (false, "") => "failed",
        _ => panic!("an unexpected answer: {f:?}"),
    };
    for (at, f) in &seen {
        println!("{at:6.3} {:8} port {}", phase(f), f.port);
    }
    let mut phases: Vec<&str> = seen.iter().map(|(_, f)| phase(f)).collect();
    phases.dedup();
    assert_eq!(phases, ["active", "failed", "standby"], "{seen:?}");
    // At the events' times (the test's clock starts a little before eipsim's).
    let at = |p: &str| -> Vec<f64> {
        seen.iter()
            .filter(|(_, f)| phase(f) == p)
            .map(|(t, _)| *t)
            .collect()
    };
    let last_active = at("active").into_iter().fold(0.0, f64::max);
    let first_standby = at("standby").into_iter().fold(f64::MAX, f64::min);
    assert!(last_active < T_UNASSOCIATE + 0.5, "{seen:?}");
    assert!(first_standby > T_ASSOCIATE - 0.3, "{seen:?}");

    let timeline = report["timeline"].as_array().expect("a timeline");
    println!("timeline: {timeline:#?}");
    assert_eq!(timeline.len(), 2, "{timeline:?}");
    assert_eq!(timeline[0]["op"], "UnassociateEipAddress eip-svc");
    assert!(
        timeline[1]["op"]
            .as_str()
            .is_some_and(|o| o.starts_with("AssociateEipAddress eip-svc -> eni-standby")),
        "{timeline:?}"
    );
    assert!(timeline.iter().all(|t| t["result"] == "ok"), "{timeline:?}");
    // Between the two events, the SYNs to the EIP were dropped.
    let between = &timeline[1]["before"];
    assert!(
        between["dropped"]["eip-not-associated"].as_u64() >= Some(1),
        "{between}"
    );
    assert_eq!(between["forwarded"], 0, "{between}");
    assert!(dropped(&report, "eip-not-associated") >= 1, "{report:#}");

    // Each curl against its flow. A curl that ended within 0.6 s before the unassociate could
    // have its last ACK or FIN dropped after it got the page: not compared.
    for (at, f) in &seen {
        let straddles = (T_UNASSOCIATE - 0.6..T_UNASSOCIATE + 0.1).contains(at);
        match phase(f) {
            "active" if !straddles => {
                let v = verdict::agree(
                    &report,
                    "active",
                    ("tcp", "172.16.0.10", Some(f.port)),
                    true,
                );
                assert_eq!(v.len(), 1, "one flow per connection");
            }
            "standby" => {
                let v = verdict::agree(
                    &report,
                    "standby",
                    ("tcp", "172.16.0.11", Some(f.port)),
                    true,
                );
                assert_eq!(v.len(), 1, "one flow per connection");
            }
            _ => {}
        }
    }
    // The failed curls' SYNs: dropped flows to the unassociated EIP.
    let failed = seen.iter().filter(|(_, f)| !f.ok).count();
    assert!(failed >= 2, "{seen:?}");
    let to_eip = verdict::flows(&report, "tcp", "47.0.0.10", Some(8000));
    assert!(to_eip.len() >= failed, "{to_eip:#?}");
    verdict::agree(&report, "outage", ("tcp", "47.0.0.10", Some(8000)), false);
    for f in to_eip {
        assert_eq!(f["forwarded"], 0, "{f:#}");
        assert!(
            f["dropped"]["eip-not-associated"].as_u64() > Some(0),
            "{f:#}"
        );
    }
}
