//! `eipsim split`: the shards' captures hold the input's records unchanged, every frame in
//! exactly one shard; a shard's replay refuses a split made for another run, and damaged shard
//! files are named; an input cut short splits, replays and merges as one machine reports it.

use super::*;

/// `eipsim split --shards N` of `inputs` into `out` with the topology `t`.
fn run_split(t: &Path, n: u32, out: &Path, inputs: &[&str]) -> Output {
    let n = n.to_string();
    let mut a = vec![
        "split",
        "--no-progress",
        "--topology",
        s(t),
        "--shards",
        &n,
        "--out",
        s(out),
    ];
    a.extend(inputs);
    eipsim(&a)
}

/// Records of a pcap file: (header, [(record header, data)]).
fn pcap_records(bytes: &[u8]) -> (Vec<u8>, Vec<Vec<u8>>) {
    let mut recs = Vec::new();
    let mut at = 24;
    // The magic number as written says the byte order.
    let big = bytes[0] == 0xa1;
    while at + 16 <= bytes.len() {
        let len: [u8; 4] = bytes[at + 8..at + 12].try_into().unwrap();
        let caplen = if big {
            u32::from_be_bytes(len)
        } else {
            u32::from_le_bytes(len)
        } as usize;
        recs.push(bytes[at..at + 16 + caplen].to_vec());
        at += 16 + caplen;
    }
    assert_eq!(at, bytes.len(), "whole records");
    (bytes[..24].to_vec(), recs)
}

#[test]
fn split_captures_hold_the_input_records_unchanged() {
    let dir = tempdir("split-records");
    let t = root().join("pcaps/demo-topology.toml");
    let demo = root().join("pcaps/demo.pcap");
    let nano = nano_capture(&dir, 0x5eed_0015, 2000);
    let out = dir.join("split");
    let o = run_split(&t, 3, &out, &[s(&nano), s(&demo)]);
    ok(&o);
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(
        text.contains("into 3 shard(s)") && text.contains("--split"),
        "{text}"
    );
    let inputs = [std::fs::read(&nano).unwrap(), std::fs::read(&demo).unwrap()];
    let (heads, originals): (Vec<_>, Vec<_>) = inputs.iter().map(|b| pcap_records(b)).unzip();
    // Every record back in its place: by the positions, shard by shard.
    let mut placed: Vec<Option<Vec<u8>>> = vec![None; originals.iter().map(Vec::len).sum()];
    let mut non_empty = 0;
    for k in 0..3 {
        let sh = out.join(format!("shard-{k}"));
        let pos = std::fs::read(sh.join("positions.bin")).unwrap();
        let mut next = [0usize; 2];
        let parts: Vec<Vec<Vec<u8>>> = ["0-nano.pcap", "1-demo.pcap"]
            .iter()
            .enumerate()
            .map(|(i, name)| {
                let (h, recs) = pcap_records(&std::fs::read(sh.join(name)).unwrap());
                assert_eq!(h, heads[i], "{name}: the input's file header");
                recs
            })
            .collect();
        non_empty += usize::from(!pos.is_empty());
        for e in pos.chunks(16) {
            let p = u64::from_le_bytes(e[..8].try_into().unwrap()) as usize;
            let input = u32::from_le_bytes(e[8..12].try_into().unwrap()) as usize;
            let rec = parts[input][next[input]].clone();
            next[input] += 1;
            assert!(placed[p - 1].is_none(), "position {p} twice");
            placed[p - 1] = Some(rec);
        }
        assert_eq!(
            next,
            [parts[0].len(), parts[1].len()],
            "shard {k}: every record placed"
        );
    }
    assert!(non_empty >= 2, "the frames spread over the shards");
    let want: Vec<Vec<u8>> = originals.into_iter().flatten().collect();
    let got: Vec<Vec<u8>> = placed.into_iter().map(Option::unwrap).collect();
    assert!(want == got, "the records, in input order");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_split_shard_refuses_another_run_and_names_damaged_files() {
    let dir = tempdir("split-refuse");
    let t = root().join("pcaps/demo-topology.toml");
    let c = root().join("pcaps/demo.pcap");
    let split = dir.join("split");
    ok(&run_split(&t, 2, &split, &[s(&c)]));
    let other = dir.join("other.toml");
    let text = std::fs::read_to_string(&t).unwrap();
    std::fs::write(&other, format!("{text}\n# another topology\n")).unwrap();
    let out = dir.join("o");
    let run = |extra: &[&str]| {
        let mut a = vec!["replay", "--no-progress", "--out", s(&out)];
        a.extend(extra);
        eipsim(&a)
    };
    let cases: [(&[&str], i32, &str); 6] = [
        (
            &[
                "--topology",
                s(&other),
                "--shard",
                "0/2",
                "--split",
                s(&split),
            ],
            1,
            "split.json",
        ),
        (
            &["--topology", s(&t), "--shard", "0/3", "--split", s(&split)],
            2,
            "2 shards",
        ),
        (
            &[
                "--topology",
                s(&t),
                "--shard",
                "0/2",
                "--split",
                s(&split),
                s(&c),
            ],
            2,
            "no capture",
        ),
        (&["--topology", s(&t), "--split", s(&split)], 2, "--shard"),
        (
            &[
                "--topology",
                s(&t),
                "--shard",
                "0/2",
                "--split",
                s(&split),
                "--capture-point",
                "instance",
            ],
            1,
            "--capture-point",
        ),
        (
            &["--topology", s(&t), "--shard", "0/2", "--split", s(&dir)],
            1,
            "split.json",
        ),
    ];
    for (args, code, what) in cases {
        let o = run(args);
        let e = stderr(&o);
        assert_eq!(o.status.code(), Some(code), "{args:?}: {e}");
        assert!(e.contains(what), "{args:?}: {e}");
        assert!(!out.join("report.json").exists(), "{args:?}");
    }
    // Damaged shard files: positions cut short, one too many, an input that is not its own.
    let sh = split.join("shard-1");
    let good = std::fs::read(sh.join("positions.bin")).unwrap();
    assert!(good.len() >= 32, "shard 1 has frames");
    let mut wrong_input = good.clone();
    wrong_input[8..12].copy_from_slice(&5u32.to_le_bytes());
    let mut huge_slot = good.clone();
    huge_slot[12..16].copy_from_slice(&u32::MAX.to_le_bytes());
    let mut backwards = good.clone();
    backwards[16..24].copy_from_slice(&good[..8]);
    let damages: [(Vec<u8>, &str); 6] = [
        (good[..good.len() - 16].to_vec(), "ends before"),
        ([good.clone(), good[..16].to_vec()].concat(), "damaged"),
        (good[..good.len() - 5].to_vec(), "cut short"),
        (wrong_input, "input 5"),
        (huge_slot, "damaged"),
        (backwards, "damaged"),
    ];
    for (bytes, what) in damages {
        std::fs::write(sh.join("positions.bin"), &bytes).unwrap();
        let o = run(&["--topology", s(&t), "--shard", "1/2", "--split", s(&split)]);
        let e = stderr(&o);
        assert_eq!(o.status.code(), Some(1), "{what}: {e}");
        assert!(
            e.contains("positions.bin") && e.contains(what),
            "{what}: {e}"
        );
        assert!(!out.join("report.json").exists(), "{what}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// An input cut inside its last record and one that does not exist, among good ones: the
/// replay reports both and exits 1 after writing what it read; the split, each shard's replay
/// and the merge give the same files.
#[test]
fn an_input_cut_short_splits_as_one_machine_reports_it() {
    let dir = tempdir("split-cut");
    let t = root().join("pcaps/demo-topology.toml");
    let whole = std::fs::read(root().join("pcaps/demo.pcap")).unwrap();
    let cut = dir.join("cut.pcap");
    std::fs::write(&cut, &whole[..whole.len() - 9]).unwrap();
    let missing = dir.join("missing.pcap");
    let demo = root().join("pcaps/demo.pcap");
    let inputs = [s(&cut), s(&missing), s(&demo)];
    let single = dir.join("single");
    let mut a = vec![
        "replay",
        "--no-progress",
        "--topology",
        s(&t),
        "--out",
        s(&single),
    ];
    a.extend(inputs);
    let o = eipsim(&a);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(stderr(&o).contains("cut.pcap"), "{}", stderr(&o));
    let split = dir.join("split");
    let o = run_split(&t, 2, &split, &inputs);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(stderr(&o).contains("cut.pcap"), "{}", stderr(&o));
    assert!(stderr(&o).contains("missing.pcap"), "{}", stderr(&o));
    let dirs: Vec<PathBuf> = (0..2)
        .map(|k| {
            let d = dir.join(format!("p{k}"));
            let spec = format!("{k}/2");
            let o = eipsim(&[
                "replay",
                "--no-progress",
                "--topology",
                s(&t),
                "--shard",
                &spec,
                "--split",
                s(&split),
                "--out",
                s(&d),
            ]);
            assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
            assert!(stderr(&o).contains("cut.pcap"), "{}", stderr(&o));
            assert!(stderr(&o).contains("missing.pcap"), "{}", stderr(&o));
            d
        })
        .collect();
    let m = dir.join("m");
    ok(&eipsim(&[
        "merge",
        "--out",
        s(&m),
        s(&dirs[0]),
        s(&dirs[1]),
    ]));
    let (want, got) = (files(&single), files(&m));
    assert_eq!(want.len(), got.len());
    for (w, g) in want.iter().zip(&got) {
        assert!(w == g, "{} differs", w.0);
    }
    let _ = std::fs::remove_dir_all(&dir);
}
