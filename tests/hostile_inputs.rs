//! Odd and hostile inputs, handled the way a user needs: faulty captures among good ones,
//! records larger than a reader's buffer, pcapng options that are not UTF-8, interfaces of a
//! link type eipsim does not replay, topologies and scenario/event files that break a rule,
//! and `eipsim suggest` on captures with many private sources. Every input is written here.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn eipsim() -> Command {
    Command::new(env!("CARGO_BIN_EXE_eipsim"))
}

fn tempdir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("eipsim-hostile-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn demo_pcap() -> Vec<u8> {
    std::fs::read(root().join("pcaps/demo.pcap")).unwrap()
}

/// Byte offsets of each record of a little-endian classic pcap.
fn record_offsets(pcap: &[u8]) -> Vec<usize> {
    let mut at = 24;
    let mut v = Vec::new();
    while at + 16 <= pcap.len() {
        v.push(at);
        let caplen = u32::from_le_bytes(pcap[at + 8..at + 12].try_into().unwrap()) as usize;
        at += 16 + caplen;
    }
    v
}

fn replay(work: &Path, topology: &Path, inputs: &[PathBuf]) -> (Output, serde_json::Value) {
    let out = work.join("out");
    let o = eipsim()
        .args(["replay", "--no-progress", "--topology"])
        .arg(topology)
        .arg("--out")
        .arg(&out)
        .args(inputs)
        .output()
        .unwrap();
    let report = std::fs::read_to_string(out.join("report.json"))
        .map(|t| serde_json::from_str(&t).unwrap())
        .unwrap_or(serde_json::Value::Null);
    (o, report)
}

fn assert_balanced(report: &serde_json::Value) {
    let f = &report["frames"];
    assert_eq!(
        f["in"].as_u64().unwrap(),
        f["forwarded"].as_u64().unwrap() + f["dropped"].as_u64().unwrap(),
        "{f}"
    );
}

// ---------------------------------------------------------------------------------------------
// a. A faulty input is read up to its fault, reported, and the replay goes on with the next.

#[test]
fn faulty_inputs_are_reported_and_the_next_inputs_replayed() {
    let work = tempdir("faulty");
    let demo = demo_pcap();
    let offs = record_offsets(&demo);
    assert_eq!(offs.len(), 47);
    // 1: cut short inside record 6's data.
    let cut = work.join("cut.pcap");
    std::fs::write(&cut, &demo[..offs[5] + 16 + 5]).unwrap();
    // 2: record 3's length field corrupt (16 MB): the file ends inside it.
    let mut bad = demo.clone();
    bad[offs[2] + 8..offs[2] + 12].copy_from_slice(&0x0100_0000u32.to_le_bytes());
    let corrupt = work.join("corrupt.pcap");
    std::fs::write(&corrupt, &bad).unwrap();
    // 3: not a capture at all.
    let junk = work.join("junk.pcap");
    std::fs::write(&junk, b"this is no capture").unwrap();
    // 4: whole.
    let good = work.join("good.pcap");
    std::fs::write(&good, &demo).unwrap();

    let topo = root().join("pcaps/demo-topology.toml");
    let inputs = [cut.clone(), corrupt.clone(), junk.clone(), good.clone()];
    let (o, report) = replay(&work, &topo, &inputs);
    assert_eq!(o.status.code(), Some(1), "a faulty input exits 1");
    let stdout = String::from_utf8_lossy(&o.stdout);
    let stderr = String::from_utf8_lossy(&o.stderr);
    let ins = report["inputs"].as_array().unwrap();
    assert_eq!(ins.len(), 4);
    assert_eq!(ins[0]["frames"], 5);
    assert_eq!(ins[1]["frames"], 2);
    assert_eq!(ins[2]["frames"], 0);
    assert_eq!(
        ins[3]["frames"], 47,
        "the input after the faulty ones is read"
    );
    let e0 = ins[0]["error"].as_str().unwrap();
    assert!(e0.contains("cut.pcap") && e0.contains("record 6"), "{e0}");
    let e1 = ins[1]["error"].as_str().unwrap();
    assert!(
        e1.contains("corrupt.pcap") && e1.contains("record 3"),
        "{e1}"
    );
    let e2 = ins[2]["error"].as_str().unwrap();
    assert!(e2.contains("junk.pcap") && e2.contains("magic"), "{e2}");
    assert!(ins[3].get("error").is_none(), "{}", ins[3]);
    for e in [e0, e1, e2] {
        assert!(stdout.contains(e), "the summary names {e}: {stdout}");
        assert!(stderr.contains(e), "stderr names {e}: {stderr}");
    }
    assert_eq!(report["frames"]["in"], 5 + 2 + 47);
    assert_balanced(&report);
}

#[test]
fn only_unreadable_inputs_write_nothing() {
    let work = tempdir("allbad");
    let junk = work.join("junk.pcap");
    std::fs::write(&junk, b"").unwrap();
    let (o, report) = replay(
        &work,
        &root().join("pcaps/demo-topology.toml"),
        &[junk.clone(), junk],
    );
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("junk.pcap"));
    assert!(report.is_null());
    assert!(!work.join("out/internet.pcap").exists());
}

#[test]
fn a_fault_with_workers_is_handled_the_same() {
    let work = tempdir("faulty-workers");
    let demo = demo_pcap();
    let offs = record_offsets(&demo);
    let cut = work.join("cut.pcap");
    std::fs::write(&cut, &demo[..offs[10] + 3]).unwrap();
    let good = work.join("good.pcap");
    std::fs::write(&good, &demo).unwrap();
    let out = work.join("out");
    let o = eipsim()
        .args(["replay", "--no-progress", "--workers", "3", "--topology"])
        .arg(root().join("pcaps/demo-topology.toml"))
        .arg("--out")
        .arg(&out)
        .arg(&cut)
        .arg(&good)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1));
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("report.json")).unwrap()).unwrap();
    assert_eq!(report["inputs"][0]["frames"], 10);
    let e = report["inputs"][0]["error"].as_str().unwrap();
    assert!(e.contains("record 11"), "{e}");
    assert_eq!(report["inputs"][1]["frames"], 47);
    assert_eq!(report["frames"]["in"], 57);
    assert_balanced(&report);
}
