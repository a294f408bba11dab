//! Outputs a user can trust: one replay at a time per output directory, a clean stop on SIGINT
//! and SIGTERM, no debris of killed runs, no output over an input, and stdout failures that
//! never panic.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn eipsim() -> Command {
    Command::new(env!("CARGO_BIN_EXE_eipsim"))
}

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn tempdir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("eipsim-outputs-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn names(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

fn demo_replay(out: &Path) -> Command {
    let mut c = eipsim();
    c.current_dir(root())
        .args(["replay", "--no-progress", "--out"])
        .arg(out);
    c
}

#[test]
fn a_second_replay_into_a_busy_directory_names_the_holder() {
    let work = tempdir("lock");
    let out = work.join("out");
    std::fs::create_dir_all(&out).unwrap();
    // This test process plays the running replay: it holds the directory's lock.
    let mut held = std::fs::File::create(out.join(".eipsim.lock")).unwrap();
    held.try_lock().unwrap();
    use std::io::Write as _;
    writeln!(held, "424242").unwrap();
    let o = demo_replay(&out).output().unwrap();
    assert_eq!(o.status.code(), Some(1));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("in use by eipsim process 424242"), "{err}");
    assert!(!out.join("report.json").exists(), "nothing written");
    // Released: the next run goes through.
    drop(held);
    let o = demo_replay(&out).output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(out.join("report.json").exists());
}

#[test]
fn temporary_files_of_killed_runs_are_removed() {
    let work = tempdir("stale");
    let out = work.join("out");
    std::fs::create_dir_all(&out).unwrap();
    for n in [
        ".internet.pcap.99999991.tmp",
        ".eni-web0.pcap.99999992.tmp",
        ".report.json.99999993.tmp",
    ] {
        std::fs::write(out.join(n), b"debris").unwrap();
    }
    std::fs::write(out.join("notes.tmp"), b"mine").unwrap();
    let o = demo_replay(&out).output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let left = names(&out);
    assert!(
        !left.iter().any(|n| n.ends_with(".tmp") && n != "notes.tmp"),
        "{left:?}"
    );
    assert!(left.contains(&"notes.tmp".to_string()), "not ours: kept");
}

/// A capture long enough to be stopped midway: `n` copies of one demo frame (NAT inbound).
fn long_capture(path: &Path, n: usize) {
    let frame = common::demo::frames()
        .into_iter()
        .next()
        .expect("the demo has frames")
        .data;
    let mut w = pcap_file::pcap::PcapWriter::new(std::io::BufWriter::new(
        std::fs::File::create(path).unwrap(),
    ))
    .unwrap();
    for k in 0..n {
        let ts = Duration::new(
            1_700_000_000 + (k / 1_000_000) as u64,
            (k % 1_000_000) as u32,
        );
        w.write_packet(&pcap_file::pcap::PcapPacket::new(
            ts,
            frame.len() as u32,
            &frame,
        ))
        .unwrap();
    }
}

/// Starts a replay of `frames` frames, asks it to stop with `signal` once it is writing, and
/// returns its status code, stderr and what is left in its output directory.
fn stop_once(signal: &str, frames: usize) -> (Option<i32>, String, Vec<String>) {
    let work = tempdir(&format!("sig{signal}{frames}"));
    let cap = work.join("long.pcap");
    long_capture(&cap, frames);
    let out = work.join("out");
    let child = eipsim()
        .args(["replay", "--no-progress", "--topology"])
        .arg(root().join("pcaps/demo-topology.toml"))
        .arg("--out")
        .arg(&out)
        .arg(&cap)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Wait until it is writing (its temporary files exist), then ask it to stop.
    let start = Instant::now();
    while !(out.exists() && names(&out).iter().any(|n| n.ends_with(".tmp"))) {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "never started writing"
        );
        std::thread::sleep(Duration::from_millis(2));
    }
    // The shell's own `kill`: no package needed.
    let _ = Command::new("sh")
        .arg("-c")
        .arg(format!("kill -{signal} {}", child.id()))
        .status();
    let o = child.wait_with_output().unwrap();
    let left = names(&out);
    let _ = std::fs::remove_dir_all(&work);
    (
        o.status.code(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
        left,
    )
}

fn stopped_by(signal: &str, code: i32) {
    // A replay that finished before the signal arrived proves nothing: again, longer.
    for frames in [1_000_000, 4_000_000] {
        let (status, err, left) = stop_once(signal, frames);
        if status == Some(0) {
            continue;
        }
        assert_eq!(status, Some(code), "{err}");
        assert!(err.contains("stopped by a signal"), "{err}");
        assert_eq!(err.lines().count(), 1, "one line: {err}");
        assert_eq!(
            left,
            [".eipsim.lock"],
            "nothing but the lock stays: {left:?}"
        );
        return;
    }
    panic!("the replay always finished before SIG{signal} reached it");
}

#[test]
fn sigint_stops_cleanly_with_130() {
    stopped_by("INT", 130);
}

#[test]
fn sigterm_stops_cleanly_with_143() {
    stopped_by("TERM", 143);
}

#[test]
fn no_output_may_overwrite_an_input() {
    let work = tempdir("overwrite");
    let out = work.join("out");
    std::fs::create_dir_all(&out).unwrap();
    // The capture to replay is an earlier run's internet.pcap, in the same directory.
    let cap = out.join("internet.pcap");
    std::fs::copy(root().join("pcaps/demo.pcap"), &cap).unwrap();
    let before = std::fs::read(&cap).unwrap();
    let topo = root().join("pcaps/demo-topology.toml");
    let o = eipsim()
        .args(["replay", "--no-progress", "--topology"])
        .arg(&topo)
        .arg("--out")
        .arg(&out)
        .arg(&cap)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("would overwrite the input"), "{err}");
    assert_eq!(std::fs::read(&cap).unwrap(), before, "the input is intact");
    assert!(!out.join("report.json").exists());
    // The topology as report.json, the trace as the capture: refused the same way.
    let t2 = out.join("report.json");
    std::fs::copy(&topo, &t2).unwrap();
    let o = eipsim()
        .args(["replay", "--no-progress", "--topology"])
        .arg(&t2)
        .arg("--out")
        .arg(&out)
        .arg(root().join("pcaps/demo.pcap"))
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1));
    std::fs::remove_file(&t2).unwrap();
    let o = eipsim()
        .args(["replay", "--no-progress", "--topology"])
        .arg(&topo)
        .arg("--out")
        .arg(work.join("elsewhere"))
        .arg("--trace")
        .arg(&cap)
        .arg(&cap)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(std::fs::read(&cap).unwrap(), before);
    // A trace inside --out is fine.
    let clean = work.join("clean");
    let o = demo_replay(&clean)
        .arg("--trace")
        .arg(clean.join("trace.tsv"))
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let trace = std::fs::read_to_string(clean.join("trace.tsv")).unwrap();
    assert_eq!(trace.lines().count(), 51, "a header and 50 frames");
}

#[test]
fn a_full_stdout_is_an_error_message_not_a_panic() {
    let full = std::fs::OpenOptions::new()
        .write(true)
        .open("/dev/full")
        .unwrap();
    let o = eipsim()
        .arg("check")
        .arg(root().join("pcaps/demo-topology.toml"))
        .stdout(full)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(err.contains("No space left on device"), "{err}");
    assert!(!err.contains("panicked"), "{err}");
}

/// A small tmpfs, unmounted when dropped.
struct SmallDisk(PathBuf);

impl SmallDisk {
    fn mount(name: &str, size: &str) -> SmallDisk {
        let dir = tempdir(name);
        let ok = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(&dir)
            .status()
            .unwrap();
        assert!(ok.success(), "mounting a tmpfs needs root");
        SmallDisk(dir)
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
    }
}

#[test]
#[ignore = "needs root (mounts a 96 KiB tmpfs); run by .ci/run with --ignored"]
fn a_full_disk_names_the_file_and_says_so() {
    let disk = SmallDisk::mount("full", "96k");
    let work = tempdir("full-input");
    // 4,000 frames: more than fits, so the capture writers themselves hit the full disk.
    let cap = work.join("c.pcap");
    long_capture(&cap, 4000);
    let out = disk.0.join("out");
    let o = eipsim()
        .args(["replay", "--no-progress", "--topology"])
        .arg(root().join("pcaps/demo-topology.toml"))
        .arg("--out")
        .arg(&out)
        .arg(&cap)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(err.contains("No space left on device"), "{err}");
    assert!(
        err.contains(&out.display().to_string()),
        "names the file: {err}"
    );
    assert!(!err.contains("Error reading bytes"), "{err}");
    assert_eq!(names(&out), [".eipsim.lock"], "nothing half-written stays");
}

#[test]
fn a_failure_while_renaming_leaves_no_output_at_all() {
    let work = tempdir("allornothing");
    let out = work.join("out");
    // report.json cannot be put in place (a directory holds its name): it is renamed last, so
    // the captures were already in place when it fails. They go too.
    std::fs::create_dir_all(out.join("report.json")).unwrap();
    std::fs::write(out.join("report.json").join("keep"), b"x").unwrap();
    let o = demo_replay(&out)
        .arg("--trace")
        .arg(out.join("trace.tsv"))
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(err.contains("report.json"), "{err}");
    assert_eq!(names(&out), [".eipsim.lock", "report.json"], "{err}");
}
