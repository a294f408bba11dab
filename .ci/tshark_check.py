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
With `--respond` the replays run with the guests answering (`replay --respond`). The frames the
guests' side generated are in no trace row: every output frame no row names is one of them, and
must have no bad checksum and a good IPv4 header checksum; their number must be the report's
`generated.frames` plus its DHCP answers, and a capture given with its own topology (the demo)
must make the guests answer (`generated.frames` > 0).
Usage: tshark_check.py [--alg SPEC] [--capture-point POINT] [--respond] EIPSIM_BINARY WORKDIR CAPTURE[=TOPOLOGY] ...
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


GEN = {"frames": 0, "checked": 0, "good": 0}


def check_generated(capture, out, rows, outs, rep, own_topology):
    """The frames the guests' side wrote (`--respond`): those of the outputs that no trace row
    names. Each must have no bad checksum and a good IPv4 header checksum; there must be as many
    as the report counts; a capture with its own topology must have some. Gives the failures."""
    bad = 0
    gen = (rep or {}).get("generated")
    if gen is None:
        print(f"FAIL {capture}: --respond given but report.json has no `generated`")
        return 1
    expected = gen["frames"] + sum(gen.get("dhcp_answers", {}).values())
    GEN["frames"] += gen["frames"]
    if own_topology and gen["frames"] == 0:
        print(f"FAIL {capture}: --respond given but the guests generated no frame")
        bad += 1
    traced = {}
    for row in rows:
        traced.setdefault(row["egress"], set()).add(int(row["out_frame"]))
    found = 0
    for name in sorted(os.listdir(out)):
        egress, ext = os.path.splitext(name)
        if ext not in (".pcap", ".pcapng"):
            continue
        if egress not in outs:
            outs[egress] = statuses(os.path.join(out, name))
        for number, st in sorted(outs[egress].items()):
            if number in traced.get(egress, ()):
                continue
            found += 1
            GEN["checked"] += 1
            ip = st[0]
            if ip and ip[0] not in ("0", "1"):
                bad += 1
                print(f"FAIL {capture}: generated frame {number} of {name}: IPv4 checksum not verified")
            for field, vals in zip(FIELDS, st):
                for k, v in enumerate(vals):
                    if v == "1":
                        GEN["good"] += 1
                    elif v == "0":
                        bad += 1
                        print(f"FAIL {capture}: generated frame {number} of {name}: {field}[{k}] bad")
    if found != expected:
        bad += 1
        print(f"FAIL {capture}: {found} output frames in no trace row, the report counts {gen['frames']} "
              f"generated + {expected - gen['frames']} DHCP answers")
    return bad


def main():
    args = sys.argv[1:]
    alg = []
    point = []
    respond = []
    while args and args[0] in ("--alg", "--capture-point", "--respond"):
        if args[0] == "--respond":
            respond = ["--respond"]
            args = args[1:]
            continue
        if args[0] == "--alg":
            alg = ["--alg", args[1]]
        else:
            point = ["--capture-point", args[1]]
        args = args[2:]
    generated_total = 0
    generated_checked = 0
    generated_good = 0
    restored = 0
    eipsim, work = args[0], args[1]
    translated = 0
    failures = 0
    checked = 0
    good_fields = 0
    for n, arg in enumerate(args[2:]):
        capture, _, topo = arg.partition("=")
        topo_given = topo
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
        r = subprocess.run([eipsim, "replay", "--no-progress", "--topology", topo, "--out", out, "--trace", trace] + alg + point + respond + [capture],
                           capture_output=True, text=True)
        if r.returncode not in (0, 1) or not os.path.exists(trace):
            print(f"skip {capture}: replay exit {r.returncode}: {r.stderr.strip()}")
            if r.returncode not in (0, 1):
                failures += 1
            continue
        report = os.path.join(out, "report.json")
        rep = None
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
        if respond:
            bad_here += check_generated(capture, out, rows, outs, rep, bool(topo_given))
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
    if respond:
        print(f"generated frames: {GEN['frames']} in the reports, {GEN['checked']} checked in the outputs, "
              f"{GEN['good']} good checksums")
    print(f"tshark check: {checked} forwarded frames checked, {good_fields} good input checksums, {failures} failures")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
