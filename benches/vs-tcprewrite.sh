#!/usr/bin/env bash
# eipsim replay against `cp` and `tcprewrite --pnat` on the same synthetic NAT capture, and the
# replay's peak memory as the capture and the topology grow.
#
# Usage: benches/vs-tcprewrite.sh [--compare | --rss | --all] [--rounds N] [--frames N] [--hosts N]
#                                 [--tcprewrite-frames N]
#
#   --compare (default)  gen_bulk writes a capture of FRAMES frames (2,000,000) over HOSTS NAT
#                        EIPs (1024). Each round runs, one after the other: `cp` of the capture,
#                        the I/O floor (examples/io_floor: the capture's records written unchanged
#                        into as many files as the replay writes, one per ENI plus the Internet
#                        and the drops, with no processing), `eipsim replay` with 1 worker, with
#                        2 workers, and `tcprewrite --pnat`
#                        doing the same 1:1 address mapping (EIP -> private IP inbound, private
#                        IP -> EIP outbound, one /32 pair per address, built from the topology).
#                        tcprewrite tries its --pnat pairs in order for every address, about
#                        0.7 ms per frame with 2048 pairs: it runs on the first
#                        --tcprewrite-frames frames (20,000; gen_bulk writes them identically
#                        as a capture of their own; 0 = the whole capture), and its ratio is
#                        per frame. Prints the medians over the rounds (3) and the ratios with
#                        their targets: replay/cp <= 2, tcprewrite/replay >= 10 (per frame),
#                        workers 2/workers 1 < 1, replay peak RSS <= 64 MiB. Each round also
#                        replays an ALG-heavy capture (examples/gen_alg: 20,000 calls of FTP,
#                        DNS and SIP with RTP over 256 NAT EIPs, 720,000 frames) with 1 and 2
#                        workers (target: workers 2 / workers 1 < 1). The outputs of 1 and 2
#                        workers are compared (diff -r): they must be identical.
#   --rss                peak RSS of `eipsim replay` (1 worker): 20M frames against 2M frames
#                        over 1024 EIPs (within 10%), and 1M frames over 500k flows and 50k EIPs
#                        (<= 128 MiB). Rounds default to 1 here. Needs about 4 GB of free disk.
#   --all                both.
#
# Wall time is taken around each command (date +%s%N); peak RSS is /usr/bin/time's %M; the
# CPU column (user + system) is for information: on a loaded machine wall time exceeds it. The
# machine may be shared and noisy: the ratios, taken within the same run, are what matter. A missed
# target is marked MISSED; the script still exits 0 (non-zero only when a command fails).
# Everything it writes goes to a temporary directory removed on exit (TMPDIR to move it).
set -euo pipefail

usage() {
  sed -n '2,/^set -euo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//'
}

mode=compare
rounds=""
frames=2000000
hosts=1024
tr_frames=20000
while [ $# -gt 0 ]; do
  case "$1" in
    --compare) mode=compare ;;
    --rss) mode=rss ;;
    --all) mode=all ;;
    --rounds | --frames | --hosts | --tcprewrite-frames)
      [ $# -ge 2 ] || { echo "$0: $1 needs a value" >&2; exit 2; }
      case "$1:$2" in
        *: | *:*[!0-9]* | --rounds:0 | --frames:0 | --hosts:0)
          echo "$0: $1 needs a positive integer, not '$2'" >&2; exit 2 ;;
      esac
      case "$1" in
        --rounds) rounds=$2 ;; --frames) frames=$2 ;; --hosts) hosts=$2 ;;
        --tcprewrite-frames) tr_frames=$2 ;;
      esac
      shift
      ;;
    -h | --help) usage; exit 0 ;;
    *) echo "$0: unknown argument '$1' (--help for usage)" >&2; exit 2 ;;
  esac
  shift
done

if [ ! -x /usr/bin/time ]; then
  echo "$0: /usr/bin/time is needed for peak RSS; install it with: apt-get install -y time" >&2
  exit 1
fi
if [ "$mode" != rss ] && ! command -v tcprewrite >/dev/null 2>&1; then
  echo "$0: tcprewrite not found; install it with: apt-get update && apt-get install -y tcpreplay" >&2
  exit 1
fi

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
target=${CARGO_TARGET_DIR:-$root/target}
echo "building: cargo build --release --examples" >&2
cargo build --release --examples --quiet
eipsim=$target/release/eipsim
gen=$target/release/examples/gen_bulk
floor=$target/release/examples/io_floor
gen_alg=$target/release/examples/gen_alg
alg_calls=20000

tmp=$(mktemp -d "${TMPDIR:-/tmp}/vs-tcprewrite.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
results=$tmp/results
: >"$results"

# measure NAME CMD...: runs CMD (output to a log), appends "NAME wall_ns peak_KiB cpu_s".
measure() {
  local name=$1 t0 t1
  shift
  t0=$(date +%s%N)
  if ! /usr/bin/time -f '%M %U %S' -o "$tmp/rss" "$@" >"$tmp/log" 2>&1; then
    echo "$0: '$name' failed: $*" >&2
    tail -n 20 "$tmp/log" >&2
    exit 1
  fi
  t1=$(date +%s%N)
  echo "$name $((t1 - t0)) $(tail -n 1 "$tmp/rss" | awk '{ print $1, $2 + $3 }')" >>"$results"
}

# median NAME FIELD: the median of field 2 (wall ns), 3 (peak KiB) or 4 (CPU s) of NAME's lines.
median() {
  awk -v n="$1" -v f="$2" '$1 == n { print $f }' "$results" | sort -n |
    awk '{ v[NR] = $1 } END {
      if (NR == 0) { print "nan"; exit }
      if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

# check LABEL VALUE OP TARGET: one ratio line with its verdict.
check() {
  awk -v l="$1" -v v="$2" -v op="$3" -v t="$4" 'BEGIN {
    ok = (op == "<=" && v <= t) || (op == ">=" && v >= t) || (op == "<" && v < t)
    printf "  %-36s %9.2f   target %-2s %-6s %s\n", l, v, op, t, ok ? "ok" : "MISSED"
  }'
}

# row NAME LABEL FRAMES: the medians of one command.
row() {
  local ns kib cpu
  ns=$(median "$1" 2)
  kib=$(median "$1" 3)
  cpu=$(median "$1" 4)
  awk -v l="$2" -v ns="$ns" -v kib="$kib" -v cpu="$cpu" -v fr="$3" 'BEGIN {
    printf "  %-30s %10.3f %8.2f %12.0f %12.1f\n", l, ns / 1e9, cpu, fr / (ns / 1e9), kib / 1024 }'
}

header() {
  printf '  %-30s %10s %8s %12s %12s\n' "" "wall s" "CPU s" "frames/s" "peak RSS MiB"
}

# pnat TOPOLOGY: tcprewrite's --pnat list for the topology's NAT associations: EIP/32:private/32
# (inbound) and private/32:EIP/32 (outbound). Reads the topology as gen_bulk writes it (one
# `key = "value"` per line, tables [[eni]], [[eip]], [[association]]).
pnat() {
  awk '
    /^\[\[/ { sect = $0; n[sect]++; next }
    /^[a-z_]+ *= *"/ {
      key = $1; val = $0; sub(/^[^"]*"/, "", val); sub(/".*$/, "", val)
      i = n[sect]
      if (sect == "[[eni]]") { if (key == "id") eni_id[i] = val; if (key == "primary_ip") eni_ip[i] = val }
      if (sect == "[[eip]]") { if (key == "id") eip_id[i] = val; if (key == "address") eip_ip[i] = val }
      if (sect == "[[association]]") {
        if (key == "eip") a_eip[i] = val; if (key == "eni") a_eni[i] = val
        if (key == "mode") a_mode[i] = val; if (key == "private_ip") a_priv[i] = val
      }
    }
    END {
      for (i in eni_id) primary[eni_id[i]] = eni_ip[i]
      for (i in eip_id) address[eip_id[i]] = eip_ip[i]
      for (i = 1; i <= n["[[association]]"]; i++) {
        if (a_mode[i] != "NAT") continue
        priv = (i in a_priv) ? a_priv[i] : primary[a_eni[i]]
        inb = inb sep address[a_eip[i]] "/32:" priv "/32"
        outb = outb sep priv "/32:" address[a_eip[i]] "/32"
        sep = ","
      }
      print inb "," outb
    }' "$1"
}

compare() {
  local r=${rounds:-3} dir=$tmp/compare list pairs size enis trf=$tr_frames trcap i
  mkdir -p "$dir"
  echo "generating: gen_bulk $frames frames, $hosts hosts" >&2
  "$gen" "$dir" "$frames" "$hosts"
  list=$(pnat "$dir/topology.toml")
  pairs=$(printf '%s' "$list" | tr ',' '\n' | grep -c .)
  [ "$pairs" -eq $((2 * hosts)) ] || { echo "$0: --pnat has $pairs pairs, expected $((2 * hosts))" >&2; exit 1; }
  size=$(wc -c <"$dir/bulk.pcap")
  echo "generating: gen_alg $alg_calls calls over 256 hosts" >&2
  "$gen_alg" "$dir/alg" "$alg_calls" 256
  enis=$(grep -c '^\[\[eni\]\]' "$dir/topology.toml")
  trcap=$dir/bulk.pcap
  if [ "$trf" -eq 0 ] || [ "$trf" -ge "$frames" ]; then
    trf=$frames
  else
    # gen_bulk is deterministic: fewer frames are the first frames of the larger capture.
    "$gen" "$dir/prefix" "$trf" "$hosts"
    trcap=$dir/prefix/bulk.pcap
    cmp -s -n "$(wc -c <"$trcap")" "$trcap" "$dir/bulk.pcap" ||
      { echo "$0: the $trf-frame capture is not a prefix of the full one" >&2; exit 1; }
  fi
  # Every command writes into a new folder, and the outputs are removed only after the last
  # round: on ext4, creating files right after deleting thousands of others in the same block
  # group makes the inode allocator skip every recently freed inode (ext4's `recently_deleted`),
  # which would charge one round's clean-up to the next round's file creation.
  for i in $(seq 1 "$r"); do
    echo "round $i of $r" >&2
    measure cp cp "$dir/bulk.pcap" "$dir/copy-$i.pcap"
    measure floor "$floor" "$dir/bulk.pcap" "$dir/floor-$i" "$enis"
    measure w1 "$eipsim" replay --no-progress --topology "$dir/topology.toml" --out "$dir/out1-$i" "$dir/bulk.pcap"
    measure w2 "$eipsim" replay --no-progress --workers 2 --topology "$dir/topology.toml" --out "$dir/out2-$i" "$dir/bulk.pcap"
    measure tcprewrite tcprewrite "--pnat=$list" --infile="$trcap" --outfile="$dir/tcprewrite-$i.pcap"
    measure a1 "$eipsim" replay --no-progress --topology "$dir/alg/topology.toml" --out "$dir/alg1-$i" "$dir/alg/alg.pcap"
    measure a2 "$eipsim" replay --no-progress --workers 2 --topology "$dir/alg/topology.toml" --out "$dir/alg2-$i" "$dir/alg/alg.pcap"
  done
  for i in $(seq 1 "$r"); do
    diff -r -x .eipsim.lock "$dir/out1-1" "$dir/out2-$i" >/dev/null ||
      { echo "$0: replay outputs differ between workers 1 and 2 (round $i)" >&2; exit 1; }
    diff -r -x .eipsim.lock "$dir/alg1-1" "$dir/alg2-$i" >/dev/null ||
      { echo "$0: ALG-heavy replay outputs differ between workers 1 and 2 (round $i)" >&2; exit 1; }
  done
  rm -rf "$dir"/copy-* "$dir"/floor-* "$dir"/out1-* "$dir"/out2-* "$dir"/tcprewrite-* "$dir"/alg1-* "$dir"/alg2-*
  echo
  echo "eipsim replay vs cp vs tcprewrite --pnat: $frames frames ($((size / 1048576)) MiB), $hosts NAT EIPs ($pairs --pnat pairs), median of $r rounds"
  header
  row cp "cp" "$frames"
  row floor "I/O floor (examples/io_floor)" "$frames"
  row w1 "replay (workers 1)" "$frames"
  row w2 "replay (workers 2)" "$frames"
  row tcprewrite "tcprewrite --pnat ($trf fr)" "$trf"
  echo "ALG-heavy capture (gen_alg: $alg_calls FTP+DNS+SIP/RTP calls, $((alg_calls * 36)) frames, 256 NAT EIPs)"
  row a1 "replay (workers 1)" "$((alg_calls * 36))"
  row a2 "replay (workers 2)" "$((alg_calls * 36))"
  local cp fl w1 w2 tr r1 r2
  cp=$(median cp 2) fl=$(median floor 2) w1=$(median w1 2) w2=$(median w2 2) tr=$(median tcprewrite 2)
  r1=$(median w1 3) r2=$(median w2 3)
  echo "ratios (wall time)"
  check "replay (workers 1) / cp" "$(awk -v a="$w1" -v b="$cp" 'BEGIN { print a / b }')" "<=" 2
  echo "  (for information: I/O floor / cp $(awk -v a="$fl" -v b="$cp" 'BEGIN { printf "%.2f", a / b }'), replay w1 / floor $(awk -v a="$w1" -v b="$fl" 'BEGIN { printf "%.2f", a / b }'), replay w2 / floor $(awk -v a="$w2" -v b="$fl" 'BEGIN { printf "%.2f", a / b }'))"
  check "tcprewrite / replay w1, per frame" "$(awk -v a="$tr" -v b="$w1" -v fa="$trf" -v fb="$frames" 'BEGIN { print (a / fa) / (b / fb) }')" ">=" 10
  check "replay workers 2 / workers 1" "$(awk -v a="$w2" -v b="$w1" 'BEGIN { print a / b }')" "<" 1
  check "ALG-heavy: workers 2 / workers 1" "$(awk -v a="$(median a2 2)" -v b="$(median a1 2)" 'BEGIN { print a / b }')" "<" 1
  check "replay peak RSS, workers 1 (MiB)" "$(awk -v a="$r1" 'BEGIN { print a / 1024 }')" "<=" 64
  check "replay peak RSS, workers 2 (MiB)" "$(awk -v a="$r2" 'BEGIN { print a / 1024 }')" "<=" 64
  rm -rf "$dir"
}

rss() {
  local r=${rounds:-1} small=$tmp/rss-2m big=$tmp/rss-20m wide=$tmp/rss-wide i
  echo "generating: gen_bulk 2M and 20M frames over 1024 hosts; 1M frames over 50k hosts x 10 flows" >&2
  "$gen" "$small" 2000000 1024
  "$gen" "$big" 20000000 1024
  "$gen" "$wide" 1000000 50000 10
  for i in $(seq 1 "$r"); do
    echo "round $i of $r" >&2
    measure rss2m "$eipsim" replay --no-progress --topology "$small/topology.toml" --out "$small/out" "$small/bulk.pcap"
    rm -rf "$small/out"
    measure rss20m "$eipsim" replay --no-progress --topology "$big/topology.toml" --out "$big/out" "$big/bulk.pcap"
    rm -rf "$big/out"
    measure wide "$eipsim" replay --no-progress --topology "$wide/topology.toml" --out "$wide/out" "$wide/bulk.pcap"
    rm -rf "$wide/out"
  done
  echo
  echo "eipsim replay (workers 1) peak RSS, median of $r rounds"
  header
  row rss2m "2M fr, 1024 EIPs" 2000000
  row rss20m "20M fr, 1024 EIPs" 20000000
  row wide "1M fr, 50k EIPs, 500k flows" 1000000
  local a b w
  a=$(median rss2m 3) b=$(median rss20m 3) w=$(median wide 3)
  echo "ratios"
  check "peak RSS 20M / 2M frames, % off" "$(awk -v a="$a" -v b="$b" 'BEGIN { d = (b / a - 1) * 100; print d < 0 ? -d : d }')" "<=" 10
  check "peak RSS 50k EIPs, 500k flows (MiB)" "$(awk -v w="$w" 'BEGIN { print w / 1024 }')" "<=" 128
  rm -rf "$small" "$big" "$wide"
}

case "$mode" in
  compare) compare ;;
  rss) rss ;;
  all) compare; echo; rss ;;
esac
