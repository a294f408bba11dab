//! `eipsim trace` and `eipsim diff` on the bundled demo (pcaps/demo-topology.toml,
//! pcaps/demo.pcap): the explanation agrees with the forwarding core, the fixes name the change,
//! and the diff finds exactly the flows a console change affects.

use std::path::{Path, PathBuf};
use std::process::Command;

use eipsim::advisor::diff::{self, Diff, DiffOptions};
use eipsim::advisor::outcome_text;
use eipsim::advisor::trace::{self, Leg, Trace, TraceOptions};
use eipsim::dataplane::{Dataplane, Outcome};
use eipsim::model::Cloud;
use eipsim::wire::LinkType;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn demo_topology() -> PathBuf {
    root().join("pcaps/demo-topology.toml")
}

fn demo_pcap() -> PathBuf {
    root().join("pcaps/demo.pcap")
}

fn tempdir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("eipsim-advisor-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn eipsim() -> Command {
    Command::new(env!("CARGO_BIN_EXE_eipsim"))
}

fn trace_of(from: &str, to: &str, proto: Option<&str>) -> Trace {
    trace::run(&TraceOptions {
        topology: demo_topology(),
        from: from.into(),
        to: to.into(),
        proto: proto.map(str::to_string),
        sport: None,
        ttl: None,
    })
    .unwrap_or_else(|e| panic!("trace {from} -> {to}: {e}"))
}

/// The core's outcome for a leg's frame, computed here from scratch.
fn core_outcome(cloud: &Cloud, leg: &Leg) -> Outcome {
    let dp = Dataplane::new(cloud);
    let mut f = leg.bytes.clone();
    dp.process(&mut f, LinkType::Ethernet).outcome
}

fn step<'a>(leg: &'a Leg, name: &str) -> &'a str {
    &leg.hops
        .iter()
        .find(|h| h.step == name)
        .unwrap_or_else(|| panic!("no {name} step in {:#?}", leg.hops))
        .detail
}

#[test]
fn internet_to_a_nat_eip_is_dnated_and_the_reply_snated() {
    let t = trace_of("198.51.100.7", "47.0.0.1:5060", Some("udp"));
    let r = &t.request;
    assert_eq!(r.verdict.text, "forwarded to eni-web1 (dnat)");
    assert!(
        r.ingress
            .starts_with("Internet: source MAC 02:00:00:00:00:01")
    );
    assert_eq!(
        step(r, "destination"),
        "47.0.0.1: EIP eip-a, association NAT -> eni-web1 172.16.0.21"
    );
    assert_eq!(step(r, "eni"), "eni-web1 attached to i-web");
    let d = r.delivered.as_ref().unwrap();
    assert_eq!((d.dst.as_str(), d.ttl), ("172.16.0.21", 63));
    assert!(d.checksums_valid);
    let reply = t.reply.as_ref().expect("a reply");
    assert_eq!(
        (reply.frame.src.as_str(), reply.frame.dst.as_str()),
        ("172.16.0.21", "198.51.100.7")
    );
    assert_eq!(
        (reply.frame.sport, reply.frame.dport),
        (Some(5060), Some(49152))
    );
    assert!(
        reply
            .ingress
            .starts_with("eni-web1: source MAC 00:16:3e:00:00:20")
    );
    assert!(step(reply, "source-check").starts_with("172.16.0.21 owned by eni-web1"));
    assert_eq!(reply.verdict.text, "forwarded to internet (snat)");
    assert_eq!(reply.delivered.as_ref().unwrap().src, "47.0.0.1");
    assert!(t.request.consistent && reply.consistent);
    // SIP in NAT mode: the missing ALG is named.
    assert!(
        t.notes
            .iter()
            .any(|n| n.contains("sip") && n.contains("no ALG") && n.contains("documented")),
        "{:?}",
        t.notes
    );
}

#[test]
fn an_unassociated_eip_drops_with_the_fix() {
    let t = trace_of("198.51.100.7", "47.0.0.99:80", None);
    assert_eq!(t.request.frame.protocol, "tcp");
    assert_eq!(t.request.verdict.reason, Some("eip-not-associated"));
    let last = t.request.hops.last().unwrap();
    assert_eq!((last.step, last.result), ("destination", "drop"));
    assert!(
        t.request
            .fix
            .as_deref()
            .unwrap()
            .starts_with("associate eip-free with an ENI (AssociateEipAddress")
    );
    assert!(t.reply.is_none());
    assert_eq!(
        t.summary,
        "verdict: request dropped (eip-not-associated); no reply (the request was dropped)"
    );
}

#[test]
fn from_an_eni_id_to_the_internet() {
    let t = trace_of("eni-web0", "8.8.8.8", None);
    assert_eq!(t.request.frame.protocol, "icmp");
    assert_eq!(t.request.frame.src, "172.16.0.10");
    assert!(
        t.request
            .ingress
            .starts_with("eni-web0: source MAC 00:16:3e:00:00:10")
    );
    assert_eq!(t.request.verdict.text, "forwarded to internet (snat)");
    assert_eq!(t.request.delivered.as_ref().unwrap().src, "47.0.0.10");
    let reply = t.reply.as_ref().unwrap();
    assert_eq!(reply.frame.dst, "47.0.0.10");
    assert_eq!(reply.verdict.text, "forwarded to eni-web0 (dnat)");
    assert_eq!(reply.delivered.as_ref().unwrap().dst, "172.16.0.10");
}

#[test]
fn a_binded_eip_passes_through_unchanged() {
    let t = trace_of("198.51.100.7", "47.0.0.20:22", None);
    assert_eq!(
        t.request.verdict.text,
        "forwarded to eni-cut (pass-through)"
    );
    assert!(step(&t.request, "guest").contains("i-app runs DHCP"));
    let d = t.request.delivered.as_ref().unwrap();
    assert_eq!((d.dst.as_str(), d.ttl), ("47.0.0.20", 63));
    let reply = t.reply.as_ref().unwrap();
    assert_eq!(reply.frame.src, "47.0.0.20");
    assert!(step(reply, "source-check").contains("BINDED EIP eip-cut"));
    assert_eq!(reply.verdict.text, "forwarded to internet (pass-through)");
    // From eni-cut's id: its guest sends from the EIP (it has no private IP).
    let t = trace_of("eni-cut", "198.51.100.7:443", None);
    assert_eq!(t.request.frame.src, "47.0.0.20");
    assert_eq!(
        t.request.verdict.text,
        "forwarded to internet (pass-through)"
    );
}

#[test]
fn each_drop_names_what_to_change() {
    let cases: [(&str, &str, Option<u8>, &str, &str); 8] = [
        (
            "198.51.100.7",
            "172.16.0.21:5060",
            None,
            "unknown-destination",
            "reachable as its NAT EIP 47.0.0.1 (eip-a)",
        ),
        (
            "198.51.100.7",
            "172.16.0.20:5060",
            None,
            "unknown-destination",
            "bind an EIP in NAT mode to it",
        ),
        (
            "172.16.0.20",
            "203.0.113.5:80",
            None,
            "no-public-address",
            "bind an EIP in NAT mode to 172.16.0.20",
        ),
        (
            "198.51.100.7",
            "47.0.0.50:80",
            None,
            "guest-not-configured",
            "enable DHCP on i-legacy",
        ),
        (
            "198.51.100.7",
            "47.0.0.32:80",
            None,
            "guest-not-configured",
            "static_eips",
        ),
        (
            "172.16.1.10",
            "203.0.113.5:80",
            None,
            "source-check",
            "send from an address eni-cut owns: 47.0.0.20",
        ),
        (
            "172.16.0.10",
            "172.16.1.10:80",
            None,
            "private-network-unavailable",
            "eni-cut has no private network",
        ),
        (
            "198.51.100.7",
            "47.0.0.1:80",
            Some(1),
            "ttl-expired",
            "TTL above 1",
        ),
    ];
    for (from, to, ttl, reason, fix) in cases {
        let t = trace::run(&TraceOptions {
            topology: demo_topology(),
            from: from.into(),
            to: to.into(),
            proto: None,
            sport: None,
            ttl,
        })
        .unwrap();
        assert_eq!(t.request.verdict.reason, Some(reason), "{from} -> {to}");
        let f = t.request.fix.as_deref().unwrap();
        assert!(f.contains(fix), "{from} -> {to}: {f}");
        assert!(
            t.request.consistent,
            "{from} -> {to}: {:#?}",
            t.request.hops
        );
    }
}

#[test]
fn trace_json_parses_with_hops_verdict_and_reply() {
    let o = eipsim()
        .args(["trace", "--topology"])
        .arg(demo_topology())
        .args([
            "--from",
            "198.51.100.7",
            "--to",
            "47.0.0.1:5060",
            "--proto",
            "udp",
        ])
        .arg("--json")
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["verdict"]["outcome"], "forwarded");
    assert_eq!(v["verdict"]["action"], "dnat");
    assert_eq!(v["verdict"]["egress"], "eni-web1");
    assert_eq!(v["hops"][0]["step"], "ingress");
    assert_eq!(v["delivered"]["dst"], "172.16.0.21");
    assert_eq!(v["reply"]["verdict"]["action"], "snat");
    assert_eq!(v["reply"]["delivered"]["src"], "47.0.0.1");
    assert!(v["notes"].as_array().is_some_and(|n| !n.is_empty()));
}

#[test]
fn the_final_line_is_the_cores_outcome() {
    let cloud = Cloud::load(&demo_topology()).unwrap();
    for (from, to) in [
        ("198.51.100.7", "47.0.0.1:5060"),
        ("198.51.100.7", "47.0.0.99"),
        ("eni-multi", "198.51.100.7:53"),
        ("eni-spare", "198.51.100.7"),
    ] {
        let t = trace_of(from, to, None);
        let expected = format!(
            "verdict: request {}; {}",
            outcome_text(&cloud, &core_outcome(&cloud, &t.request)),
            match &t.reply {
                Some(r) => format!("reply {}", outcome_text(&cloud, &core_outcome(&cloud, r))),
                None => "no reply (the request was dropped)".into(),
            }
        );
        let o = eipsim()
            .args(["trace", "--topology"])
            .arg(demo_topology())
            .args(["--from", from, "--to", to])
            .output()
            .unwrap();
        assert_eq!(o.status.code(), Some(0));
        let text = String::from_utf8(o.stdout).unwrap();
        assert_eq!(text.lines().last(), Some(expected.as_str()), "{text}");
    }
}

/// Writes Ethernet frames as a pcap.
fn write_pcap(path: &Path, frames: &[&[u8]]) {
    use pcap_file::pcap::{PcapHeader, PcapPacket, PcapWriter};
    let mut w = PcapWriter::with_header(
        std::fs::File::create(path).unwrap(),
        PcapHeader {
            datalink: pcap_file::DataLink::ETHERNET,
            ..Default::default()
        },
    )
    .unwrap();
    for (i, f) in frames.iter().enumerate() {
        w.write_packet(&PcapPacket::new(
            std::time::Duration::from_secs(i as u64),
            f.len() as u32,
            f,
        ))
        .unwrap();
    }
}

#[test]
fn the_trace_verdict_equals_a_replay_of_the_same_frames() {
    let work = tempdir("replay-same");
    for (from, to) in [
        ("198.51.100.7", "47.0.0.1:5060"),
        ("eni-web0", "8.8.8.8"),
        ("198.51.100.7", "47.0.0.32:80"),
        ("172.16.0.10", "47.0.0.1:8080"),
    ] {
        let t = trace_of(from, to, None);
        let mut frames: Vec<&[u8]> = vec![&t.request.bytes];
        if let Some(r) = &t.reply {
            frames.push(&r.bytes);
        }
        let pcap = work.join("trace.pcap");
        write_pcap(&pcap, &frames);
        let tsv = work.join("frames.tsv");
        let o = eipsim::replay::run(&eipsim::replay::ReplayOptions {
            capture_point: Default::default(),
            respond: false,
            topology: demo_topology(),
            out: work.join("out"),
            ingress: None,
            workers: 1,
            inputs: vec![pcap],
            progress: false,
            trace: Some(tsv.clone()),
            max_open_files: None,
            alg: true,
            alg_spec: None,
            events: None,
        })
        .unwrap();
        assert_eq!(o.stats.frames_in, frames.len() as u64);
        let lines: Vec<Vec<String>> = std::fs::read_to_string(&tsv)
            .unwrap()
            .lines()
            .skip(1)
            .map(|l| l.split('\t').map(str::to_string).collect())
            .collect();
        let legs: Vec<&Leg> = std::iter::once(&t.request)
            .chain(t.reply.as_ref())
            .collect();
        for (leg, cols) in legs.iter().zip(&lines) {
            let v = &leg.verdict;
            let (verdict, egress) = match v.outcome {
                "forwarded" => (v.action.unwrap(), v.egress.clone().unwrap()),
                _ => (v.reason.unwrap(), "dropped".to_string()),
            };
            assert_eq!(
                (cols[3].as_str(), cols[4].as_str()),
                (verdict, egress.as_str()),
                "{from} -> {to}"
            );
        }
    }
}

#[test]
fn the_walk_agrees_with_the_core_for_every_pair() {
    let cloud = Cloud::load(&demo_topology()).unwrap();
    let mut senders: Vec<String> = cloud.enis.iter().map(|e| e.id.clone()).collect();
    let mut addrs: Vec<String> = cloud
        .enis
        .iter()
        .flat_map(|e| e.private_ips())
        .chain(cloud.eips.iter().map(|e| e.address))
        .map(|a| a.to_string())
        .collect();
    addrs.extend(["198.51.100.7", "172.16.9.9", "47.0.0.77"].map(String::from));
    senders.extend(addrs.iter().cloned());
    let mut n = 0;
    let mut seen = std::collections::BTreeSet::new();
    for from in &senders {
        for to in &addrs {
            for (to, proto) in [(to.clone(), None), (format!("{to}:5060"), Some("udp"))] {
                let t = trace_of(from, &to, proto);
                // The frame pass (core and security groups), the request before the reply.
                let mut pass = eipsim::advisor::QuietReplay::new(&cloud, None, Default::default());
                for leg in std::iter::once(&t.request).chain(t.reply.as_ref()) {
                    assert!(leg.consistent, "{from} -> {to}: {:#?}", leg.hops);
                    let passed = pass.push(&leg.bytes, LinkType::Ethernet).outcome;
                    assert_eq!(leg.verdict.text, outcome_text(&cloud, &passed));
                    let core = core_outcome(&cloud, leg);
                    if passed != core {
                        assert_eq!(
                            passed,
                            Outcome::Drop(eipsim::dataplane::DropReason::SecurityGroup),
                            "{from} -> {to}: only the groups change the core's verdict"
                        );
                    }
                    n += 1;
                    seen.insert(leg.verdict.reason.or(leg.verdict.action).unwrap());
                }
            }
        }
    }
    assert!(n > 500, "{n} legs");
    // Every check of the walk was exercised, forwarded and dropped.
    for r in [
        "dnat",
        "snat",
        "pass-through",
        "intra-vpc",
        "hairpin",
        "unknown-destination",
        "eip-not-associated",
        "eni-detached",
        "source-check",
        "no-public-address",
        "private-network-unavailable",
        "guest-not-configured",
        "security-group",
    ] {
        assert!(seen.contains(r), "{r} never seen: {seen:?}");
    }
}

#[test]
fn trace_exit_codes() {
    let run = |args: &[&str]| {
        let o = eipsim()
            .args(["trace", "--topology"])
            .arg(demo_topology())
            .args(args)
            .output()
            .unwrap();
        (
            o.status.code(),
            String::from_utf8_lossy(&o.stderr).to_string(),
        )
    };
    let (c, e) = run(&["--from", "198.51.100.300", "--to", "47.0.0.1"]);
    assert_eq!(c, Some(2));
    assert!(e.contains("--from \"198.51.100.300\""), "{e}");
    let (c, e) = run(&["--from", "eni-nope", "--to", "47.0.0.1"]);
    assert_eq!(c, Some(2));
    assert!(e.contains("ENI id"), "{e}");
    let (c, e) = run(&[
        "--from",
        "198.51.100.7",
        "--to",
        "47.0.0.1:80",
        "--proto",
        "icmp",
    ]);
    assert_eq!(c, Some(2));
    assert!(e.contains("ICMP has no port"), "{e}");
    let (c, _) = run(&[
        "--from",
        "198.51.100.7",
        "--to",
        "47.0.0.1",
        "--proto",
        "udp",
    ]);
    assert_eq!(c, Some(2));
    let (c, _) = run(&["--from", "198.51.100.7", "--to", "47.0.0.1:99999"]);
    assert_eq!(c, Some(2));
    // Drops are results: exit 0.
    let (c, _) = run(&["--from", "198.51.100.7", "--to", "47.0.0.99"]);
    assert_eq!(c, Some(0));
    let work = tempdir("trace-bad");
    let bad = work.join("bad.toml");
    std::fs::write(&bad, "region = 3\n").unwrap();
    let o = eipsim()
        .args(["trace", "--topology"])
        .arg(&bad)
        .args(["--from", "198.51.100.7", "--to", "47.0.0.1"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("bad.toml"));
}

fn diff_of(b: Option<PathBuf>, apply: Option<PathBuf>) -> Diff {
    diff::run(&DiffOptions {
        topology_a: demo_topology(),
        topology_b: b,
        apply,
        inputs: vec![demo_pcap()],
        ingress: None,
        capture_point: Default::default(),
    })
    .unwrap()
}

#[test]
fn the_demo_against_itself_has_no_change() {
    let d = diff_of(Some(demo_topology()), None);
    assert_eq!(d.frames, 50);
    assert!(d.counts.compared > 30);
    assert_eq!(d.counts.changed, 0);
    assert_eq!(d.counts.unchanged, d.counts.compared);
    assert_eq!((d.counts.only_in_a, d.counts.only_in_b), (0, 0));
    assert!(d.flows.iter().all(|r| !r.changed && r.a == r.b));
    assert!(diff::text(&d).contains("no flow differs"));
}

#[test]
fn unassociating_an_eip_changes_its_flows_only() {
    let work = tempdir("unassoc");
    let ops = work.join("ops.toml");
    std::fs::write(
        &ops,
        "[[step]]\nop = \"UnassociateEipAddress\"\neip = \"eip-a\"\n",
    )
    .unwrap();
    let d = diff_of(None, Some(ops));
    assert_eq!(d.b.operations, ["step 1: UnassociateEipAddress eip-a (ok)"]);
    let base = diff_of(Some(demo_topology()), None);
    assert_eq!(d.counts.compared, base.counts.compared);
    assert!(d.counts.changed > 0);
    assert_eq!(d.counts.unchanged + d.counts.changed, d.counts.compared);
    for r in &d.flows {
        // A flow that used eip-a: 172.16.0.21's, directly or through a hairpin.
        let used = r.a.public.contains("47.0.0.1 NAT")
            || (r.a.actions.contains("hairpin") && r.a.flows[0].contains("172.16.0.21"));
        assert_eq!(r.changed, used, "{r:#?}");
        if r.changed {
            assert_eq!(r.b.forwarded, 0, "{r:#?}");
            assert!(r.b.public.is_empty());
            // Inbound frames to the EIP now find it unassociated.
            if r.a.actions.contains("dnat") || r.a.actions.contains("hairpin") {
                assert!(r.b.dropped.contains_key("eip-not-associated"), "{r:#?}");
            }
        }
    }
    // The SIP flow only went out: SNAT had no EIP left.
    let sip = d.flows.iter().find(|r| r.flow.contains(":5060")).unwrap();
    assert_eq!(sip.a.verdict, "alg-broken");
    assert_eq!(sip.b.verdict_text(), "dropped (no-public-address x1)");
    // An events-style file gives the same B.
    let ev = work.join("events.toml");
    std::fs::write(
        &ev,
        "[[event]]\nat = 5\nop = \"UnassociateEipAddress\"\neip = \"eip-a\"\n",
    )
    .unwrap();
    let e = diff_of(None, Some(ev));
    assert_eq!(e.counts, d.counts);
}

#[test]
fn a_mode_change_between_two_files_shows_the_new_translation() {
    let work = tempdir("two-files");
    let text = std::fs::read_to_string(demo_topology()).unwrap();
    let old = "eip = \"eip-cut\"\neni = \"eni-cut\"\nmode = \"BINDED\"";
    assert!(text.contains(old));
    let b = work.join("nat-cut.toml");
    std::fs::write(
        &b,
        text.replace(old, "eip = \"eip-cut\"\neni = \"eni-cut\"\nmode = \"NAT\""),
    )
    .unwrap();
    let d = diff_of(Some(b), None);
    let ssh = d
        .flows
        .iter()
        .find(|r| r.flow == "tcp 47.0.0.20:22 <-> 198.51.100.7:40002")
        .unwrap();
    assert!(ssh.changed);
    assert!(ssh.fields.contains(&"public") && ssh.fields.contains(&"actions"));
    assert_eq!(ssh.a.public.iter().next().unwrap(), "47.0.0.20 BINDED");
    assert_eq!(ssh.b.public.iter().next().unwrap(), "47.0.0.20 NAT");
    assert!(ssh.b.actions.contains("dnat"));
    // Intra-VPC to 172.16.1.10 reaches eni-cut once it has its private network back, where
    // its security group (ingress: SSH only; eni-web0 is no member) drops it.
    let intra = d
        .flows
        .iter()
        .find(|r| r.flow == "udp 172.16.0.10:1 <-> 172.16.1.10:1")
        .unwrap();
    assert_eq!(
        intra.a.verdict_text(),
        "dropped (private-network-unavailable x1)"
    );
    assert_eq!(intra.b.verdict_text(), "dropped (security-group x1)");
    assert_eq!(
        d.counts.changed,
        d.flows.iter().filter(|r| r.changed).count() as u64
    );
    let text = diff::text(&d);
    assert!(
        text.contains(&format!("{} changed", d.counts.changed)),
        "{text}"
    );
}

#[test]
fn diff_cli_json_exit_codes_and_no_files_written() {
    let work = tempdir("diff-cli");
    let cwd = work.join("cwd");
    std::fs::create_dir_all(&cwd).unwrap();
    let run = |args: &[&std::ffi::OsStr]| {
        let o = eipsim()
            .current_dir(&cwd)
            .arg("diff")
            .args(args)
            .output()
            .unwrap();
        (
            o.status.code(),
            String::from_utf8_lossy(&o.stdout).to_string(),
            String::from_utf8_lossy(&o.stderr).to_string(),
        )
    };
    let t = demo_topology();
    let p = demo_pcap();
    let os = |s: &'static str| std::ffi::OsStr::new(s);
    let (c, out, _) = run(&[
        os("--topology"),
        t.as_os_str(),
        os("--topology"),
        t.as_os_str(),
        os("--json"),
        p.as_os_str(),
    ]);
    assert_eq!(c, Some(0));
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["counts"]["changed"], 0);
    assert!(v["counts"]["compared"].as_u64().unwrap() > 30);
    assert!(v["flows"][0]["a"]["verdict"].is_string());
    // Usage: no B; B twice; no capture.
    let (c, _, e) = run(&[os("--topology"), t.as_os_str(), p.as_os_str()]);
    assert_eq!(c, Some(2), "{e}");
    let ops = work.join("ops.toml");
    std::fs::write(
        &ops,
        "[[step]]\nop = \"UnassociateEipAddress\"\neip = \"eip-free\"\n",
    )
    .unwrap();
    let (c, _, e) = run(&[
        os("--topology"),
        t.as_os_str(),
        os("--topology"),
        t.as_os_str(),
        os("--apply"),
        ops.as_os_str(),
        p.as_os_str(),
    ]);
    assert_eq!(c, Some(2), "{e}");
    let (c, _, _) = run(&[
        os("--topology"),
        t.as_os_str(),
        os("--topology"),
        t.as_os_str(),
    ]);
    assert_eq!(c, Some(2));
    // A failing operation names the step: bad input.
    let (c, _, e) = run(&[
        os("--topology"),
        t.as_os_str(),
        os("--apply"),
        ops.as_os_str(),
        p.as_os_str(),
    ]);
    assert_eq!(c, Some(1));
    assert!(
        e.contains("step 1 (UnassociateEipAddress eip-free)") && e.contains("eip-not-associated"),
        "{e}"
    );
    // A misspelled expect code is refused when the file is read, with the nearest code.
    let typo = work.join("typo.toml");
    std::fs::write(
        &typo,
        "[[step]]\nop = \"UnassociateEipAddress\"\neip = \"eip-free\"\nexpect = \"eip-not-asociated\"\n",
    )
    .unwrap();
    let (c, _, e) = run(&[
        os("--topology"),
        t.as_os_str(),
        os("--apply"),
        typo.as_os_str(),
        p.as_os_str(),
    ]);
    assert_eq!(c, Some(1));
    assert!(
        e.contains("did you mean \"eip-not-associated\"") && e.contains("step 1"),
        "{e}"
    );
    // A missing capture: bad input.
    let missing = work.join("missing.pcap");
    let (c, _, e) = run(&[
        os("--topology"),
        t.as_os_str(),
        os("--topology"),
        t.as_os_str(),
        missing.as_os_str(),
    ]);
    assert_eq!(c, Some(1));
    assert!(e.contains("missing.pcap"), "{e}");
    // An unknown --ingress: usage.
    let (c, _, _) = run(&[
        os("--topology"),
        t.as_os_str(),
        os("--topology"),
        t.as_os_str(),
        os("--ingress"),
        os("eni-nope"),
        p.as_os_str(),
    ]);
    assert_eq!(c, Some(2));
    // Nothing was written where it ran.
    assert_eq!(std::fs::read_dir(&cwd).unwrap().count(), 0);
}

/// Design section 5: outbound TCP to port 25 of an Internet address drops `tcp-25-restricted`
/// unless `[account] tcp25_unblocked = true`; the trace names the step and the fix.
#[test]
fn trace_shows_the_providers_smtp_block_and_the_account_setting() {
    let t = trace_of("172.16.0.10", "203.0.113.5:25", Some("tcp"));
    assert_eq!(t.request.verdict.reason, Some("tcp-25-restricted"));
    assert!(step(&t.request, "smtp").contains("tcp25_unblocked"));
    assert!(
        t.request
            .fix
            .as_deref()
            .unwrap()
            .contains("tcp25_unblocked = true")
    );
    let work = tempdir("smtp");
    let topo = work.join("t.toml");
    let text = std::fs::read_to_string(demo_topology()).unwrap().replace(
        "multi_eip_quota = 10",
        "multi_eip_quota = 10\ntcp25_unblocked = true",
    );
    std::fs::write(&topo, text).unwrap();
    let t = trace::run(&TraceOptions {
        topology: topo,
        from: "172.16.0.10".into(),
        to: "203.0.113.5:25".into(),
        proto: Some("tcp".into()),
        sport: None,
        ttl: None,
    })
    .unwrap();
    assert_eq!(t.request.verdict.action, Some("snat"));
    assert!(t.request.consistent);
}

/// The security groups in a trace: the receiver's ingress check in its place (after the TTL,
/// before the guest), the rule or default that decided, the fix; a session the request opened
/// admits the reply.
#[test]
fn trace_applies_the_security_groups_with_sessions() {
    let t = trace_of("198.51.100.7", "47.0.0.20:3389", Some("tcp"));
    assert_eq!(t.request.verdict.reason, Some("security-group"));
    assert!(step(&t.request, "security-group").contains("default of sg-cut"));
    let fix = t.request.fix.as_deref().unwrap();
    assert!(
        fix.contains("AuthorizeSecurityGroup group=sg-cut")
            && fix.contains("port_range=3389/3389")
            && fix.contains("cidr=198.51.100.7/32"),
        "{fix}"
    );
    let t = trace_of("198.51.100.7", "47.0.0.20:22", Some("tcp"));
    let names: Vec<&str> = t.request.hops.iter().map(|h| h.step).collect();
    let sg = names.iter().position(|s| *s == "security-group").unwrap();
    assert!(
        names[..sg].contains(&"ttl") && names[sg + 1..].contains(&"guest"),
        "{names:?}"
    );
    assert!(step(&t.request, "security-group").contains("sg-cut rule 1"));
    let reply = t.reply.as_ref().unwrap();
    assert_eq!(reply.verdict.action, Some("pass-through"));
    assert!(step(reply, "security-group").contains("session"));
    // ICMP is dropped by rule 2 at priority 1: no rule can beat it, the fix says revoke.
    let t = trace_of("198.51.100.7", "47.0.0.20", None);
    assert!(
        t.request
            .fix
            .as_deref()
            .unwrap()
            .contains("RevokeSecurityGroup")
    );
}
