//! The command line: exit codes (0 done, 1 bad input, 2 usage), clear errors, no partial output.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

fn eipsim() -> Command {
    Command::new(env!("CARGO_BIN_EXE_eipsim"))
}

fn tempdir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("eipsim-cli-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

#[test]
fn replay_without_arguments_runs_the_demo() {
    let work = tempdir("demo");
    let out = work.join("out");
    let o = eipsim()
        .current_dir(root())
        .args(["replay", "--out"])
        .arg(&out)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(stdout.contains("50 frames in"), "{stdout}");
    assert!(stdout.contains("security-group"), "{stdout}");
    assert!(stdout.contains("tcp-25-restricted"), "{stdout}");
    assert!(stdout.contains("ttl-expired"), "{stdout}");
    assert!(out.join("report.json").exists());
}

#[test]
fn bad_topology_exits_1_naming_the_rule() {
    let work = tempdir("badtopo");
    let t = work.join("t.toml");
    let text =
        common::demo::TOPOLOGY.replace("region = \"eu-central-1\"", "region = \"cn-hongkong\"");
    std::fs::write(&t, text).unwrap();
    let o = eipsim()
        .args(["replay", "--topology"])
        .arg(&t)
        .arg("--out")
        .arg(work.join("out"))
        .arg(root().join("pcaps/demo.pcap"))
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("mode-not-in-region"), "{err}");
    assert!(err.contains("eip-cut"), "names the association: {err}");
    assert!(!work.join("out").join("report.json").exists());
}

#[test]
fn usage_errors_exit_2() {
    let o = eipsim()
        .args(["replay", "--topology", "x.toml"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    let o = eipsim().args(["frobnicate"]).output().unwrap();
    assert_eq!(o.status.code(), Some(2));
    let o = eipsim()
        .current_dir(root())
        .args([
            "replay",
            "--ingress",
            "eni-nope",
            "--topology",
            "pcaps/demo-topology.toml",
            "pcaps/demo.pcap",
            "--out",
        ])
        .arg(tempdir("ingress"))
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("eni-nope"));
    for (spec, says) in [
        ("dns=translate", "ftp and sip only"),
        ("ftp", "PROTOCOL=MODE"),
        ("ftp=maybe", "inspect or translate"),
    ] {
        let o = eipsim()
            .current_dir(root())
            .args(["replay", "--alg", spec, "--out"])
            .arg(tempdir("algspec"))
            .args(["--topology", "pcaps/demo-topology.toml", "pcaps/demo.pcap"])
            .output()
            .unwrap();
        assert_eq!(o.status.code(), Some(2), "{spec}");
        assert!(String::from_utf8_lossy(&o.stderr).contains(says), "{spec}");
    }
}

#[test]
fn not_a_capture_exits_1_and_writes_nothing() {
    let work = tempdir("notcap");
    let bogus = work.join("bogus.pcap");
    std::fs::write(&bogus, b"hello, this is not a capture").unwrap();
    let out = work.join("out");
    let o = eipsim()
        .args(["replay", "--topology"])
        .arg(root().join("pcaps/demo-topology.toml"))
        .arg("--out")
        .arg(&out)
        .arg(&bogus)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("bogus.pcap") && err.contains("magic"), "{err}");
    assert!(!out.join("internet.pcap").exists());
}

#[test]
fn corrupt_record_midway_keeps_the_frames_before_it() {
    let work = tempdir("corrupt");
    let mut pcap = std::fs::read(root().join("pcaps/demo.pcap")).unwrap();
    // Record 1 starts at 24; find record 4's header and make its caplen huge.
    let mut at = 24;
    for _ in 0..3 {
        let caplen = u32::from_le_bytes(pcap[at + 8..at + 12].try_into().unwrap()) as usize;
        at += 16 + caplen;
    }
    pcap[at + 8..at + 12].copy_from_slice(&0x0100_0000u32.to_le_bytes());
    let bad = work.join("bad.pcap");
    std::fs::write(&bad, &pcap).unwrap();
    let out = work.join("out");
    let o = eipsim()
        .args(["replay", "--no-progress", "--topology"])
        .arg(root().join("pcaps/demo-topology.toml"))
        .arg("--out")
        .arg(&out)
        .arg(&bad)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("bad.pcap") && err.contains("record 4"),
        "{err}"
    );
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("report.json")).unwrap()).unwrap();
    assert_eq!(report["frames"]["in"], 3);
    for e in std::fs::read_dir(&out).unwrap() {
        let name = e.unwrap().file_name().to_string_lossy().into_owned();
        assert!(!name.ends_with(".tmp"), "left behind: {name}");
    }
}

#[test]
fn check_prints_the_guest_view() {
    let o = eipsim()
        .arg("check")
        .arg(root().join("pcaps/demo-topology.toml"))
        .output()
        .unwrap();
    assert!(o.status.success());
    let s = String::from_utf8_lossy(&o.stdout);
    // Cut-through: the OS shows the EIP, not the private IP.
    assert!(s.contains("inet 47.0.0.20"), "{s}");
    assert!(!s.contains("inet 172.16.1.10"), "{s}");
    // Multi-EIP: private IP and the configured EIP.
    assert!(s.contains("inet 172.16.2.10/12"), "{s}");
    assert!(s.contains("inet 47.0.0.31"), "{s}");
}

#[test]
fn suggest_makes_a_topology_that_loads() {
    let o = eipsim()
        .arg("suggest")
        .arg(root().join("pcaps/demo.pcap"))
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let t = String::from_utf8(o.stdout).unwrap();
    let cloud = eipsim::model::Cloud::from_toml(&t).unwrap();
    assert!(
        cloud
            .associations
            .iter()
            .all(|a| a.mode == eipsim::model::Mode::Nat)
    );
    assert!(!cloud.associations.is_empty());
}

#[test]
fn modes_prints_the_matrix_for_the_demo() {
    let out = tempdir("modes");
    let o = eipsim()
        .current_dir(root())
        .args(["modes", "--out"])
        .arg(&out)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(
        text.contains("NAT*") && text.contains("MULTI_BINDED"),
        "{text}"
    );
    assert!(text.contains("every flow ok in: NAT\n"), "{text}");
    assert!(out.join("modes.json").exists());
    let o = eipsim()
        .args(["modes", "--topology", "x.toml"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    let o = eipsim()
        .args([
            "modes",
            "--topology",
            "/nonexistent.toml",
            "/nonexistent.pcap",
        ])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1));
}

#[test]
fn scenario_exits_1_when_a_step_differs() {
    let ok = eipsim()
        .arg("scenario")
        .arg(root().join("pcaps/scenarios/seed004-nat-multi.toml"))
        .output()
        .unwrap();
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stdout)
    );
    let text = String::from_utf8_lossy(&ok.stdout);
    assert!(text.contains("all 13 steps as expected"), "{text}");
    assert!(text.contains("resulting state:"));
    let work = tempdir("scenario");
    let bad = work.join("bad.toml");
    std::fs::write(
        &bad,
        format!(
            "topology = {:?}\n[[step]]\nop = \"DetachNetworkInterface\"\neni = \"eni-a0\"\nexpect = \"ok\"\n",
            root().join("pcaps/scenarios/base.toml").display().to_string()
        ),
    )
    .unwrap();
    let o = eipsim().arg("scenario").arg(&bad).output().unwrap();
    assert_eq!(o.status.code(), Some(1));
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(
        text.contains("UNEXPECTED") && text.contains("primary-eni-detach"),
        "{text}"
    );
    // A malformed step names the step and the field.
    std::fs::write(
        &bad,
        "topology = \"nope.toml\"\n[[step]]\nop = \"Frobnicate\"\nexpect = \"ok\"\n",
    )
    .unwrap();
    let o = eipsim().arg("scenario").arg(&bad).output().unwrap();
    assert_eq!(o.status.code(), Some(1));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("step 1") && err.contains("Frobnicate"),
        "{err}"
    );
}

#[test]
fn an_eni_without_frames_gets_no_file_and_a_stale_one_goes() {
    let work = tempdir("noframes");
    let out = work.join("out");
    std::fs::create_dir_all(&out).unwrap();
    // A file left by an earlier run with another capture.
    std::fs::write(out.join("eni-spare.pcap"), b"stale").unwrap();
    let o = eipsim()
        .current_dir(root())
        .args(["replay", "--no-progress", "--out"])
        .arg(&out)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(!out.join("eni-spare.pcap").exists());
    assert!(out.join("eni-web0.pcap").exists());
    assert!(out.join("internet.pcap").exists() && out.join("dropped.pcapng").exists());
}

#[test]
fn a_closed_stdout_is_no_panic() {
    // `eipsim modes | head -1`: the reader is gone before eipsim writes.
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    let o = eipsim()
        .current_dir(root())
        .args(["modes", "--out"])
        .arg(tempdir("epipe"))
        .stdout(writer)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!err.contains("panicked"), "{err}");
    assert_eq!(o.status.code(), Some(0), "{err}");
}

/// A topology of `hosts` NAT-mode instances (10.0.x.y behind 47.0.x.y) and a capture with
/// `frames_per_host[i]` frames from the Internet to host i's EIP.
fn many_hosts(work: &Path, hosts: u32, frames_per_host: impl Fn(u32) -> u32) -> (PathBuf, PathBuf) {
    use std::fmt::Write as _;
    let mut t = String::from("region = \"eu-central-1\"\n[vpc]\ncidr = \"10.0.0.0/8\"\n");
    let mut frames = Vec::new();
    for i in 0..hosts {
        let (a, b) = ((i >> 8) as u8, (i & 0xff) as u8 + 1);
        let _ = write!(
            t,
            "[[instance]]\nid = \"i-{i}\"\n[[eni]]\nid = \"eni-{i}\"\nkind = \"primary\"\nmac = \"00:16:3e:00:{a:02x}:{b:02x}\"\nprimary_ip = \"10.0.{a}.{b}\"\ninstance = \"i-{i}\"\n[[eip]]\nid = \"eip-{i}\"\naddress = \"47.0.{a}.{b}\"\n[[association]]\neip = \"eip-{i}\"\neni = \"eni-{i}\"\nmode = \"NAT\"\n"
        );
        for _ in 0..frames_per_host(i) {
            let mut v = Vec::new();
            etherparse::PacketBuilder::ethernet2(
                [2, 0, 0, 0, 0, 0xfe],
                [0xee, 0xff, 0xff, 0xff, 0xff, 0xff],
            )
            .ipv4([198, 51, 100, 7], [47, 0, a, b], 64)
            .udp(5000, 6000)
            .write(&mut v, b"x")
            .unwrap();
            frames.push(v);
        }
    }
    let topo = work.join("many.toml");
    std::fs::write(&topo, t).unwrap();
    let cap = work.join("many.pcap");
    let mut w = pcap_file::pcap::PcapWriter::new(std::fs::File::create(&cap).unwrap()).unwrap();
    for (k, f) in frames.iter().enumerate() {
        let ts = std::time::Duration::new(1_700_000_000, k as u32 * 1000);
        w.write_packet(&pcap_file::pcap::PcapPacket::new(ts, f.len() as u32, f))
            .unwrap();
    }
    (topo, cap)
}

#[test]
fn summaries_stay_readable_at_any_size() {
    let work = tempdir("many");
    // 70 hosts; host i gets 1 + i % 7 frames, host 69 the most of all.
    let (topo, cap) = many_hosts(&work, 70, |i| if i == 69 { 20 } else { 1 + i % 7 });
    let o = eipsim()
        .args(["replay", "--no-progress", "--topology"])
        .arg(&topo)
        .arg("--out")
        .arg(work.join("out"))
        .arg(&cap)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let text = String::from_utf8_lossy(&o.stdout);
    let listed: Vec<&str> = text
        .lines()
        .filter(|l| l.trim_start().starts_with("eni-"))
        .collect();
    assert_eq!(listed.len(), 20, "{text}");
    assert!(
        listed[0].contains("eni-69") && listed[0].contains("20"),
        "{text}"
    );
    assert!(text.contains("... and 50 more ENIs with"), "{text}");
    let report: serde_json::Value =
        serde_json::from_slice(&std::fs::read(work.join("out/report.json")).unwrap()).unwrap();
    assert_eq!(
        report["egress"].as_object().unwrap().len(),
        71,
        "every egress in the report"
    );
    // check: the first 50 instances and EIPs, then how many more; --all lists them all.
    let o = eipsim().arg("check").arg(&topo).output().unwrap();
    let text = String::from_utf8_lossy(&o.stdout);
    assert_eq!(
        text.lines().filter(|l| l.starts_with("instance ")).count(),
        50
    );
    assert!(text.contains("... and 20 more instance(s)"), "{text}");
    assert!(text.contains("... and 20 more EIP(s)"), "{text}");
    let o = eipsim()
        .args(["check", "--all"])
        .arg(&topo)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&o.stdout);
    assert_eq!(
        text.lines().filter(|l| l.starts_with("instance ")).count(),
        70
    );
    assert!(!text.contains("more instance"), "{text}");
}
