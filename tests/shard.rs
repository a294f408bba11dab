//! A replay split by inside endpoint: `replay --shard K/N` for every K, then `merge`, gives
//! the files one machine writes, byte for byte (report.json included: the shards read the same
//! inputs under the same names), for N = 1, 2, 3 and 7, on the demo (with and without timed
//! events and what-if ALG translation), on a failover with events, and on a seeded random
//! capture; so does `split` then `replay --shard K/N --split DIR` for every K then `merge`;
//! `merge` refuses shards that do not belong together, and a split's shard refuses a replay
//! that does not match the split.

#[path = "shard/random.rs"]
mod random;
#[path = "shard/split.rs"]
mod split;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn tempdir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("eipsim-shard-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn eipsim(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_eipsim"))
        .args(args)
        .output()
        .unwrap()
}

fn ok(o: &Output) {
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
}

/// The files of a directory (hidden ones aside), by name.
fn files(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut v: Vec<(String, Vec<u8>)> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| !p.file_name().unwrap().to_string_lossy().starts_with('.'))
        .map(|p| {
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            (name, std::fs::read(&p).unwrap())
        })
        .collect();
    v.sort();
    v
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// `dir/nano.pcap`: a seeded random capture of `frames` frames with nanosecond time stamps.
fn nano_capture(dir: &Path, seed: u64, frames: usize) -> PathBuf {
    let nano = dir.join("nano.pcap");
    let header = pcap_file::pcap::PcapHeader {
        ts_resolution: pcap_file::TsResolution::NanoSecond,
        ..Default::default()
    };
    random::capture_with(&nano, header, seed, frames, 1, false);
    nano
}

/// A plain replay, then every shard and the merge for each `n`: the same files.
/// Runs `replay --shard K/N ARGS...` for every K into `dir/{prefix}{K}`, each run checked to
/// succeed and to leave its sidecars: the shard directories, in shard order.
fn shard_runs(dir: &Path, prefix: &str, n: u32, args: &[&str]) -> Vec<PathBuf> {
    (0..n)
        .map(|k| {
            let d = dir.join(format!("{prefix}{k}"));
            let spec = format!("{k}/{n}");
            let mut a = vec!["replay", "--no-progress", "--shard", &spec, "--out", s(&d)];
            a.extend(args);
            ok(&eipsim(&a));
            assert!(d.join("positions.bin").is_file() && d.join("shard.json").is_file());
            d
        })
        .collect()
}

/// The trailing captures of a replay's arguments, and the options before them.
fn options_and_captures<'a>(args: &[&'a str]) -> (Vec<&'a str>, Vec<&'a str>) {
    let is_cap = |a: &&str| a.ends_with(".pcap") || a.ends_with(".pcapng");
    let k = args.len() - args.iter().rev().take_while(|a| is_cap(a)).count();
    (args[..k].to_vec(), args[k..].to_vec())
}

/// `split --shards N` of the captures in `args` (with the options a split takes) into
/// `dir/{prefix}split`, then `replay --shard K/N --split` for every K: the shard directories.
fn split_runs(dir: &Path, prefix: &str, n: u32, args: &[&str]) -> Vec<PathBuf> {
    let (opts, caps) = options_and_captures(args);
    let split = dir.join(format!("{prefix}split"));
    let shards = n.to_string();
    let mut a = vec![
        "split",
        "--no-progress",
        "--shards",
        &shards,
        "--out",
        s(&split),
    ];
    for w in opts.windows(2) {
        if ["--topology", "--events", "--ingress", "--capture-point"].contains(&w[0]) {
            a.extend(w);
        }
    }
    a.extend(&caps);
    ok(&eipsim(&a));
    let m: serde_json::Value =
        serde_json::from_slice(&std::fs::read(split.join("split.json")).unwrap()).unwrap();
    assert_eq!(m["shard_frames"].as_array().unwrap().len(), n as usize);
    let sum: u64 = m["shard_frames"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f.as_u64().unwrap())
        .sum();
    assert_eq!(
        sum,
        m["frames"].as_u64().unwrap(),
        "every frame in one shard"
    );
    (0..n)
        .map(|k| {
            let d = dir.join(format!("{prefix}{k}"));
            let spec = format!("{k}/{n}");
            let mut a = vec![
                "replay",
                "--no-progress",
                "--shard",
                &spec,
                "--split",
                s(&split),
                "--out",
                s(&d),
            ];
            a.extend(&opts);
            ok(&eipsim(&a));
            let sh = split.join(format!("shard-{k}"));
            // Each shard's positions: 16 bytes per frame of its captures.
            let frames = m["shard_frames"][k as usize].as_u64().unwrap();
            assert_eq!(
                std::fs::metadata(sh.join("positions.bin")).unwrap().len(),
                16 * frames
            );
            d
        })
        .collect()
}

fn merged_equals_single(dir: &Path, args: &[&str], ns: &[u32]) -> serde_json::Value {
    let single = dir.join("single");
    let mut a = vec!["replay", "--no-progress", "--out", s(&single)];
    a.extend(args);
    ok(&eipsim(&a));
    let want = files(&single);
    assert!(want.iter().any(|f| f.0 == "report.json") && want.len() >= 3);
    let ways = ns
        .iter()
        .flat_map(|&n| [(n, false), (n, true)])
        .collect::<Vec<_>>();
    for (n, split) in ways {
        let (dirs, merged) = if split {
            let dirs = split_runs(dir, &format!("p{n}-"), n, args);
            (dirs, dir.join(format!("mp{n}")))
        } else {
            (
                shard_runs(dir, &format!("s{n}-"), n, args),
                dir.join(format!("m{n}")),
            )
        };
        let mut a = vec!["merge", "--out", s(&merged)];
        // Any order: each directory names its shard.
        a.extend(dirs.iter().rev().map(|d| s(d)));
        ok(&eipsim(&a));
        let got = files(&merged);
        let names = |f: &[(String, Vec<u8>)]| f.iter().map(|x| x.0.clone()).collect::<Vec<_>>();
        assert_eq!(
            names(&want),
            names(&got),
            "files of the merge of {n} shards (split: {split})"
        );
        for (w, g) in want.iter().zip(&got) {
            assert!(
                w.1 == g.1,
                "{} differs after the merge of {n} shards (split: {split})",
                w.0
            );
        }
        if n > 1 {
            // Each shard alone has only some of the frames.
            let r0: serde_json::Value =
                serde_json::from_slice(&std::fs::read(dirs[0].join("report.json")).unwrap())
                    .unwrap();
            let all: serde_json::Value =
                serde_json::from_slice(&std::fs::read(single.join("report.json")).unwrap())
                    .unwrap();
            assert!(r0["frames"]["in"].as_u64() <= all["frames"]["in"].as_u64());
        }
    }
    serde_json::from_slice(&std::fs::read(single.join("report.json")).unwrap()).unwrap()
}

const NS: &[u32] = &[1, 2, 3, 7];

/// The demo's capture time of frame `n` (1-based), as an events file's `at`.
fn demo_time(n: usize) -> String {
    let f = std::fs::File::open(root().join("pcaps/demo.pcap")).unwrap();
    let mut r = pcap_file::pcap::PcapReader::new(f).unwrap();
    let mut k = 0;
    while let Some(p) = r.next_packet() {
        k += 1;
        if k == n {
            let t = p.unwrap().timestamp;
            return format!("{}.{:06}", t.as_secs(), t.subsec_micros());
        }
    }
    panic!("the demo has fewer than {n} frames");
}

#[test]
fn demo_merged_equals_single() {
    let dir = tempdir("demo");
    let t = root().join("pcaps/demo-topology.toml");
    let c = root().join("pcaps/demo.pcap");
    let events = dir.join("events.toml");
    std::fs::write(
        &events,
        format!(
            "[[event]]\nat = \"{}\"\nop = \"UnassociateEipAddress\"\neip = \"eip-web\"\n\n\
             [[event]]\nat = \"{}\"\nop = \"AssociateEipAddress\"\neip = \"eip-free\"\neni = \"eni-web0\"\nmode = \"NAT\"\n",
            demo_time(15),
            demo_time(30)
        ),
    )
    .unwrap();
    let alg = "ftp=translate,sip=translate";
    let cases: [&[&str]; 4] = [
        &[],
        &["--events", s(&events)],
        &["--alg", alg],
        &["--events", s(&events), "--alg", alg, "--workers", "2"],
    ];
    for (i, extra) in cases.iter().enumerate() {
        let mut args = vec!["--topology", s(&t)];
        args.extend(*extra);
        args.push(s(&c));
        let r = merged_equals_single(&dir.join(format!("case{i}")), &args, NS);
        assert!(r["flows"].as_array().unwrap().len() > 5);
        if extra.contains(&"--events") {
            let tl = r["timeline"].as_array().unwrap();
            assert_eq!(tl.len(), 2);
            assert!(tl.iter().all(|e| e["result"] == "ok"), "{tl:?}");
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn failover_with_events_merged_equals_single() {
    let dir = tempdir("failover");
    let t = root().join("pcaps/failover-topology.toml");
    let e = root().join("pcaps/failover-events.toml");
    let c = root().join("pcaps/failover.pcap");
    let r = merged_equals_single(&dir, &["--topology", s(&t), "--events", s(&e), s(&c)], NS);
    assert_eq!(r["timeline"].as_array().unwrap().len(), 2);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn random_capture_merged_equals_single() {
    let dir = tempdir("random");
    let t = root().join("pcaps/demo-topology.toml");
    let cap = dir.join("random.pcap");
    let at = random::capture(&cap, 0x5eed_0013, 6000, 2500, false);
    let events = dir.join("events.toml");
    std::fs::write(
        &events,
        format!(
            "[[event]]\nat = \"{at}\"\nop = \"UnassociateEipAddress\"\neip = \"eip-a\"\n\n\
             [[event]]\nat = \"{at}\"\nop = \"AssociateEipAddress\"\neip = \"eip-free\"\neni = \"eni-spare\"\nmode = \"NAT\"\n"
        ),
    )
    .unwrap();
    let r = merged_equals_single(&dir.join("plain"), &["--topology", s(&t), s(&cap)], NS);
    assert_eq!(r["frames"]["in"], 6000);
    let dropped = r["dropped"].as_object().unwrap();
    for reason in [
        "malformed",
        "not-ipv4",
        "unknown-destination",
        "ttl-expired",
    ] {
        assert!(dropped[reason].as_u64().unwrap() > 0, "no {reason} drop");
    }
    assert!(r["flows"].as_array().unwrap().len() > 500);
    merged_equals_single(
        &dir.join("events-alg"),
        &[
            "--topology",
            s(&t),
            "--events",
            s(&events),
            "--alg",
            "ftp=translate,sip=translate",
            s(&cap),
        ],
        &[2, 3, 7],
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// A merge allowed only a few open files (the shards' positions and two captures of each
/// kind): shard captures and merged captures are closed and reopened where they were left,
/// and the files are still one machine's.
#[test]
fn a_merge_with_few_open_files_gives_the_same_bytes() {
    let dir = tempdir("budget");
    let t = root().join("pcaps/demo-topology.toml");
    let c = root().join("pcaps/demo.pcap");
    // Two inputs of different headers: pcapng outputs, interface descriptions to carry over.
    let nano = nano_capture(&dir, 0x5eed_0016, 3000);
    let args = ["--topology", s(&t), s(&c), s(&nano)];
    let single = dir.join("single");
    let mut a = vec!["replay", "--no-progress", "--out", s(&single)];
    a.extend(args);
    ok(&eipsim(&a));
    let want = files(&single);
    assert!(want.len() >= 6, "several ENI captures to merge");
    let dirs = shard_runs(&dir, "s", 3, &args);
    for budget in [0, 5, 7] {
        let m = dir.join(format!("m{budget}"));
        eipsim::shard::merge_with_budget(&m, &dirs, budget).unwrap();
        let got = files(&m);
        assert_eq!(want.len(), got.len(), "budget {budget}");
        for (w, g) in want.iter().zip(&got) {
            assert!(w == g, "{} differs with a budget of {budget}", w.0);
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// Two inputs whose headers differ (microsecond and nanosecond time stamps): the outputs are
/// pcapng with an interface per input, described before its first frame in each file; the
/// merge numbers the interfaces as one machine does, whichever shard saw them first.
#[test]
fn two_inputs_in_pcapng_merged_equals_single() {
    let dir = tempdir("two-inputs");
    let t = root().join("pcaps/demo-topology.toml");
    let demo = root().join("pcaps/demo.pcap");
    let nano = nano_capture(&dir, 0x5eed_0014, 3000);
    merged_equals_single(
        &dir,
        &["--topology", s(&t), s(&nano), s(&demo), s(&nano)],
        &[2, 3, 7],
    );
    let merged = std::fs::read(dir.join("m3/internet.pcap")).unwrap();
    // A pcapng section header block, and a description per input interface.
    assert_eq!(&merged[..4], &[0x0a, 0x0d, 0x0d, 0x0a]);
    let r: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("m3/report.json")).unwrap()).unwrap();
    assert_eq!(r["inputs"].as_array().unwrap().len(), 3);
    assert_eq!(r["frames"]["in"], 6050);
    let _ = std::fs::remove_dir_all(&dir);
}

/// ALG control channels between two VPC hosts announce endpoints that the flows of another
/// shard use: the merge refuses, naming the endpoint and the frames, rather than write a report
/// that differs from one machine's.
#[test]
fn related_flows_across_shards_are_refused() {
    let dir = tempdir("cross");
    let t = root().join("pcaps/demo-topology.toml");
    let cap = dir.join("cross.pcap");
    random::capture(&cap, 0x5eed_0013, 6000, 1, true);
    let dirs = shard_runs(&dir, "s", 2, &["--topology", s(&t), s(&cap)]);
    let out = dir.join("m");
    let o = eipsim(&["merge", "--out", s(&out), s(&dirs[0]), s(&dirs[1])]);
    let e = stderr(&o);
    assert_eq!(o.status.code(), Some(1), "{e}");
    assert!(
        e.contains("links flows of two shards") && e.contains("unsharded"),
        "{e}"
    );
    assert!(!out.join("report.json").exists() && !out.join("internet.pcap").exists());
    // Without ALG inspection nothing links flows: the merge is exact.
    merged_equals_single(
        &dir.join("no-alg"),
        &["--topology", s(&t), "--no-alg", s(&cap)],
        &[2, 3],
    );
    let _ = std::fs::remove_dir_all(&dir);
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn bad_shard_arguments_are_usage_errors() {
    let dir = tempdir("usage");
    let t = root().join("pcaps/demo-topology.toml");
    let c = root().join("pcaps/demo.pcap");
    let out = dir.join("o");
    for (spec, extra) in [
        ("2/2", None),
        ("0/0", None),
        ("1", None),
        ("a/3", None),
        ("0/2", Some("--respond")),
        ("0/2", Some("--fixes")),
    ] {
        let mut a = vec![
            "replay",
            "--shard",
            spec,
            "--topology",
            s(&t),
            "--out",
            s(&out),
        ];
        a.extend(extra);
        a.push(s(&c));
        let o = eipsim(&a);
        assert_eq!(
            o.status.code(),
            Some(2),
            "--shard {spec} {extra:?}: {}",
            stderr(&o)
        );
        assert!(stderr(&o).contains("--shard"), "{}", stderr(&o));
    }
    let tr = dir.join("t.tsv");
    let o = eipsim(&[
        "replay",
        "--shard",
        "0/2",
        "--trace",
        s(&tr),
        "--topology",
        s(&t),
        "--out",
        s(&out),
        s(&c),
    ]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(!out.join("report.json").exists());
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn merge_refuses_shards_that_do_not_belong_together() {
    let dir = tempdir("refuse");
    let t = root().join("pcaps/demo-topology.toml");
    let c = root().join("pcaps/demo.pcap");
    let shard = |name: &str, spec: &str, extra: &[&str]| {
        let d = dir.join(name);
        let mut a = vec!["replay", "--no-progress", "--shard", spec, "--out", s(&d)];
        a.extend(extra);
        a.extend(["--topology", s(&t), s(&c)]);
        ok(&eipsim(&a));
        d
    };
    let a0 = shard("a0", "0/2", &[]);
    let a1 = shard("a1", "1/2", &[]);
    let b1 = shard("b1", "1/3", &[]);
    let c1 = shard("c1", "1/2", &["--no-alg"]);
    let out = dir.join("m");
    let merge = |dirs: &[&Path]| {
        let mut a = vec!["merge", "--out", s(&out)];
        a.extend(dirs.iter().map(|d| s(d)));
        eipsim(&a)
    };
    let cases: [(&[&Path], &str, &str); 5] = [
        (&[&a0], "shard 1 of 2 is missing", ""),
        (&[&a0, &a1, &a1], "given twice", "a1"),
        (&[&a0, &b1], "shard of 2", "b1"),
        (&[&a0, &c1], "`alg` differs", "c1"),
        (&[&a0, &t], "shard.json", "demo-topology.toml"),
    ];
    for (dirs, what, names) in cases {
        let o = merge(dirs);
        let e = stderr(&o);
        assert_eq!(o.status.code(), Some(1), "{e}");
        assert!(e.contains(what) && e.contains(names), "{what}: {e}");
        assert!(
            !out.exists() || std::fs::read_dir(&out).unwrap().next().is_none(),
            "a refused merge wrote files"
        );
    }
    // A shard whose capture lost a record: named, nothing written.
    let cut = dir.join("cut");
    std::fs::create_dir_all(&cut).unwrap();
    for (name, bytes) in files(&a1) {
        std::fs::write(cut.join(&name), bytes).unwrap();
    }
    let dropped = std::fs::read(cut.join("dropped.pcapng")).unwrap();
    let p = std::fs::read(cut.join("positions.bin")).unwrap();
    std::fs::write(cut.join("positions.bin"), &p[..p.len() - 16]).unwrap();
    let o = merge(&[&a0, &cut]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(stderr(&o).contains("cut"), "{}", stderr(&o));
    assert!(!out.join("report.json").exists());
    assert!(!dropped.is_empty());
    // The two that belong together merge.
    ok(&merge(&[&a1, &a0]));
    assert!(out.join("report.json").is_file());
    let _ = std::fs::remove_dir_all(&dir);
}

/// Damaged shard files (a positions entry cut short, an output index or interface slot out of
/// any range, a capture cut in a record): exit 1 naming the file, no panic, nothing written.
#[test]
fn damaged_shard_files_are_named_not_panicked_on() {
    let dir = tempdir("damaged");
    let t = root().join("pcaps/demo-topology.toml");
    let c = root().join("pcaps/demo.pcap");
    let dirs = shard_runs(&dir, "s", 2, &["--topology", s(&t), s(&c)]);
    let good = std::fs::read(dirs[1].join("positions.bin")).unwrap();
    let cap = std::fs::read(dirs[1].join("dropped.pcapng")).unwrap();
    let mut slot = good.clone();
    slot[12..16].copy_from_slice(&u32::MAX.to_le_bytes());
    let mut output = good.clone();
    output[8..12].copy_from_slice(&u32::MAX.to_le_bytes());
    let damages: [(&str, Vec<u8>); 4] = [
        ("positions.bin", good[..good.len() - 5].to_vec()),
        ("positions.bin", output),
        ("dropped.pcapng", cap[..cap.len() - 7].to_vec()),
        ("positions.bin", [good.clone(), good.clone()].concat()),
    ];
    let out = dir.join("m");
    for (file, bytes) in damages {
        std::fs::write(dirs[1].join(file), &bytes).unwrap();
        let o = eipsim(&["merge", "--out", s(&out), s(&dirs[0]), s(&dirs[1])]);
        let e = stderr(&o);
        assert_eq!(o.status.code(), Some(1), "{file}: {e}");
        assert!(e.contains("s1"), "{file}: {e}");
        assert!(!out.join("report.json").exists(), "{file}");
        std::fs::write(dirs[1].join("positions.bin"), &good).unwrap();
        std::fs::write(dirs[1].join("dropped.pcapng"), &cap).unwrap();
    }
    // A slot no interface has is only a number: the merge still places every frame.
    std::fs::write(dirs[1].join("positions.bin"), &slot).unwrap();
    let o = eipsim(&["merge", "--out", s(&out), s(&dirs[0]), s(&dirs[1])]);
    assert!(
        o.status.code() == Some(0) || o.status.code() == Some(1),
        "{}",
        stderr(&o)
    );
    let _ = std::fs::remove_dir_all(&dir);
}

fn shared_captures(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).expect("../shared/pcaps must exist for this test") {
        let p = e.unwrap().path();
        if p.is_dir() {
            shared_captures(&p, out);
        } else if p.extension().is_some_and(|x| x == "pcap" || x == "pcapng") {
            out.push(p);
        }
    }
}

#[test]
#[ignore = "needs ../shared/pcaps; run by .ci/run with --ignored"]
fn shared_captures_merged_equal_single() {
    use eipsim::replay::{self, ReplayOptions, shard::ShardSpec};
    let mut caps = Vec::new();
    shared_captures(&root().join("../shared/pcaps"), &mut caps);
    caps.sort();
    assert!(caps.len() >= 40, "found only {} captures", caps.len());
    let work = tempdir("shared");
    let mut compared = 0;
    for (i, cap) in caps.iter().enumerate() {
        let Ok(topo_text) = eipsim::advisor::suggest::topology_for(std::slice::from_ref(cap))
        else {
            continue;
        };
        let dir = work.join(format!("{i}"));
        std::fs::create_dir_all(&dir).unwrap();
        let topo = dir.join("topology.toml");
        std::fs::write(&topo, topo_text).unwrap();
        let opts = |out: PathBuf| ReplayOptions {
            capture_point: Default::default(),
            respond: false,
            topology: topo.clone(),
            out,
            ingress: None,
            workers: 1,
            inputs: vec![cap.clone()],
            progress: false,
            trace: None,
            max_open_files: None,
            alg: true,
            alg_spec: None,
            events: None,
        };
        if replay::run(&opts(dir.join("single"))).is_err() {
            continue;
        }
        let want = files(&dir.join("single"));
        for n in [1u32, 2, 3, 7] {
            let runs = |prefix: &str, split: Option<&Path>| -> Vec<PathBuf> {
                (0..n)
                    .map(|k| {
                        let d = dir.join(format!("{prefix}{n}-{k}"));
                        let spec = ShardSpec { k, n };
                        let r = match split {
                            None => replay::run_shard(&opts(d.clone()), spec),
                            Some(s) => {
                                let mut o = opts(d.clone());
                                o.inputs.clear();
                                replay::run_split_shard(&o, spec, s)
                            }
                        };
                        r.unwrap_or_else(|e| panic!("{}: {prefix} {k}/{n}: {e}", cap.display()));
                        d
                    })
                    .collect()
            };
            let split = dir.join(format!("split{n}"));
            replay::split::split(&replay::split::SplitOptions {
                topology: topo.clone(),
                out: split.clone(),
                shards: n,
                inputs: vec![cap.clone()],
                events: None,
                ingress: None,
                capture_point: Default::default(),
                progress: false,
            })
            .unwrap_or_else(|e| panic!("{}: split {n}: {e}", cap.display()));
            for (name, dirs) in [("s", runs("s", None)), ("p", runs("p", Some(&split)))] {
                let m = dir.join(format!("m{name}{n}"));
                eipsim::shard::merge(&m, &dirs)
                    .unwrap_or_else(|e| panic!("{}: merge of {n} ({name}): {e}", cap.display()));
                let got = files(&m);
                assert_eq!(
                    want.len(),
                    got.len(),
                    "{}: {n} shards ({name})",
                    cap.display()
                );
                for (w, g) in want.iter().zip(&got) {
                    assert!(
                        w == g,
                        "{}: {} differs with {n} shards ({name})",
                        cap.display(),
                        w.0
                    );
                }
            }
        }
        compared += 1;
        let _ = std::fs::remove_dir_all(&dir);
    }
    assert!(compared >= 30, "compared only {compared} captures");
    let _ = std::fs::remove_dir_all(&work);
}
