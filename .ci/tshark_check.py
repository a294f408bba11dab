#!/usr/bin/env python3
"""Replays captures through eipsim and has tshark validate every checksum of every output frame.

For each capture: a topology (the demo's own, or `eipsim suggest` for a shared capture, which makes
its private sources NAT-mode ENIs), `eipsim replay --trace`, then tshark with checksum validation
on the input and on every output. The trace maps each forwarded frame to its place in its output;
a checksum that tshark finds good in the input frame and bad in the output frame fails the check.
With `--alg SPEC` (such as ftp=translate,sip=translate) the replays translate as the what-if ALG
does; the check then also needs at least one flow reported `translated`.
With `--capture-point instance` the captures are replayed as taken on the instance (frames it
received are restored to the Internet's before the core), so restored-then-translated frames are
checked too; the check then also needs at least one frame restored.
Usage: tshark_check.py [--alg SPEC] [--capture-point POINT] EIPSIM_BINARY WORKDIR CAPTURE[=TOPOLOGY] ...
"""
import json
import csv
import os
import subprocess
import sys

FIELDS = ["ip.checksum.status", "tcp.checksum.status", "udp.checksum.status", "icmp.checksum.status"]
PREFS = ["-o", "ip.check_checksum:TRUE", "-o", "tcp.check_checksum:TRUE", "-o", "udp.check_checksum:TRUE"]


def statuses(path):
    """frame number -> tuple of per-field status lists (1 good, 0 bad, 2 unverified)."""
    cmd = ["tshark", "-n", "-r", path] + PREFS + ["-T", "fields", "-E", "separator=\t", "-e", "frame.number"]
    for f in FIELDS:
        cmd += ["-e", f]
    out = subprocess.run(cmd, capture_output=True, text=True)
    if out.returncode != 0 and not out.stdout:
        raise SystemExit(f"tshark failed on {path}: {out.stderr.strip()}")
    res = {}
    for line in out.stdout.splitlines():
        cols = line.split("\t")
        cols += [""] * (len(FIELDS) + 1 - len(cols))
        res[int(cols[0])] = tuple([c for c in col.split(",") if c != ""] for col in cols[1:])
    return res


def main():
    args = sys.argv[1:]
    alg = []
    point = []
    while args and args[0] in ("--alg", "--capture-point"):
        if args[0] == "--alg":
            alg = ["--alg", args[1]]
        else:
            point = ["--capture-point", args[1]]
        args = args[2:]
    restored = 0
    eipsim, work = args[0], args[1]
    translated = 0
    failures = 0
    checked = 0
    good_fields = 0
    for n, arg in enumerate(args[2:]):
        capture, _, topo = arg.partition("=")
        out = os.path.join(work, f"run{n}")
        os.makedirs(out, exist_ok=True)
        if not topo:
            topo = os.path.join(out, "topology.toml")
            s = subprocess.run([eipsim, "suggest", capture], capture_output=True, text=True)
            if s.returncode != 0:
                print(f"skip {capture}: {s.stderr.strip()}")
                continue
            with open(topo, "w") as f:
                f.write(s.stdout)
        trace = os.path.join(out, "trace.tsv")
        r = subprocess.run([eipsim, "replay", "--no-progress", "--topology", topo, "--out", out, "--trace", trace] + alg + point + [capture],
                           capture_output=True, text=True)
        if r.returncode not in (0, 1) or not os.path.exists(trace):
            print(f"skip {capture}: replay exit {r.returncode}: {r.stderr.strip()}")
            if r.returncode not in (0, 1):
                failures += 1
            continue
        report = os.path.join(out, "report.json")
        if os.path.exists(report):
            with open(report) as f:
                rep = json.load(f)
                translated += sum(1 for fl in rep["flows"] if fl["verdict"] == "translated")
                restored += rep.get("capture_point", {}).get("restored", 0)
        inp = statuses(capture)
        outs = {}
        with open(trace) as f:
            rows = list(csv.DictReader(f, delimiter="\t"))
        bad_here = 0
        for row in rows:
            egress = row["egress"]
            if egress == "dropped":
                continue
            if egress not in outs:
                outs[egress] = statuses(os.path.join(out, f"{egress}.pcap"))
            i = inp.get(int(row["record"]))
            o = outs[egress].get(int(row["out_frame"]))
            if i is None or o is None:
                print(f"FAIL {capture}: frame {row['record']} missing in tshark output")
                failures += 1
                continue
            checked += 1
            for field, ia, oa in zip(FIELDS, i, o):
                for k, (a, b) in enumerate(zip(ia, oa)):
                    if a == "1":
                        good_fields += 1
                        if b != "1" and b != "2":
                            bad_here += 1
                            print(f"FAIL {capture}: input record {row['record']} -> {egress} frame {row['out_frame']}: "
                                  f"{field}[{k}] good in input, {'bad' if b == '0' else b} in output")
        failures += bad_here
        print(f"ok {capture}: {len(rows)} frames, {sum(1 for r in rows if r['egress'] != 'dropped')} forwarded"
              if bad_here == 0 else f"BAD {capture}: {bad_here} checksum(s)")
    if alg:
        print(f"translated flows: {translated}")
        if translated == 0:
            print("FAIL: --alg given but no flow was reported translated")
            failures += 1
    if point:
        print(f"restored frames: {restored}")
        if point[1] == "instance" and restored == 0:
            print("FAIL: --capture-point instance given but no frame was restored")
            failures += 1
    print(f"tshark check: {checked} forwarded frames checked, {good_fields} good input checksums, {failures} failures")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
