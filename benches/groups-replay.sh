#!/usr/bin/env bash
# eipsim replay with security groups against the same replay without them.
#
# Usage: benches/groups-replay.sh [--rounds N] [--frames N] [--hosts N] [--workers N]
#
# gen_bulk writes a capture of FRAMES frames (1,000,000) over HOSTS NAT EIPs (1024): 64-byte
# UDP, half Internet (198.51.0.0/16, port 5000) -> EIP (ports 40000-40999), half the replies.
# The script writes a second topology, the same with every ENI in one basic group `sg-bulk` of
# 10 rules: `accept udp 40000/40999 from 198.51.0.0/16` at priority 100 (met last, so every
# inbound frame without a session walks the other rules first) and 9 rules no frame of the
# capture matches, of varied protocols and ports (TCP 22, 80/443 and 3389, UDP 53, UDP
# 1024-65535 from 100.64.0.0/10, a priority-1 UDP drop from 192.0.2.0/24, ICMP, GRE, an
# egress TCP 25 drop). So the groups accept every frame and both replays write the same frames:
# the script checks that their captures are identical (cmp of every .pcap) and that the report
# with groups counts no `security-group` drop.
#
# Each round runs `eipsim replay` (WORKERS workers, default 1) without groups, then with them,
# each into a new output folder (folders are removed only at the end: on ext4, creating files
# right after deleting thousands is slow). Prints the medians over the rounds (3) and the ratio
# with groups / without (target <= 1.3). Wall time is taken around each command (date +%s%N);
# the machine may be shared and noisy: the ratio within one run is what matters. A missed
# target is marked MISSED; the script still exits 0 (non-zero only when a command fails or the
# outputs differ). Everything goes to a temporary directory removed on exit (TMPDIR to move it;
# TMPDIR=/dev/shm keeps the file system out of the figures).
set -euo pipefail

usage() {
  sed -n '2,/^set -euo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//'
}

rounds=3
frames=1000000
hosts=1024
workers=1
while [ $# -gt 0 ]; do
  case "$1" in
    --rounds | --frames | --hosts | --workers)
      [ $# -ge 2 ] || { echo "$0: $1 needs a value" >&2; exit 2; }
      case "$2" in
        '' | *[!0-9]* | 0) echo "$0: $1 needs a positive integer, not '$2'" >&2; exit 2 ;;
      esac
      case "$1" in
        --rounds) rounds=$2 ;; --frames) frames=$2 ;; --hosts) hosts=$2 ;; --workers) workers=$2 ;;
      esac
      shift
      ;;
    -h | --help) usage; exit 0 ;;
    *) echo "$0: unknown argument '$1' (--help for usage)" >&2; exit 2 ;;
  esac
  shift
done

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
target=${CARGO_TARGET_DIR:-$root/target}
echo "building: cargo build --release --bin eipsim --example gen_bulk" >&2
cargo build --release --bin eipsim --example gen_bulk --quiet
eipsim=$target/release/eipsim
gen=$target/release/examples/gen_bulk

tmp=$(mktemp -d "${TMPDIR:-/tmp}/groups-replay.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
results=$tmp/results
: >"$results"

echo "generating: gen_bulk $frames frames, $hosts hosts" >&2
"$gen" "$tmp" "$frames" "$hosts"

# rule DIRECTION POLICY PRIORITY PROTOCOL PORTS CIDR: one [[security_group.rule]] table.
rule() {
  printf '[[security_group.rule]]\ndirection = "%s"\npolicy = "%s"\npriority = %s\nprotocol = "%s"\nport_range = "%s"\ncidr = "%s"\n\n' "$@"
}

# The topology with groups: every [[eni]] gets `security_groups`, and the group is appended.
{
  awk '{ print } /^\[\[eni\]\]$/ { print "security_groups = [\"sg-bulk\"]" }' "$tmp/topology.toml"
  printf '[[security_group]]\nid = "sg-bulk"\ntype = "basic"\n\n'
  rule ingress drop 1 udp 40000/40999 192.0.2.0/24
  rule ingress accept 10 tcp 22/22 203.0.113.0/24
  rule ingress accept 20 tcp 80/443 0.0.0.0/0
  rule ingress accept 30 tcp 3389/3389 10.0.0.0/8
  rule ingress accept 40 udp 53/53 0.0.0.0/0
  rule ingress accept 50 udp 1024/65535 100.64.0.0/10
  rule ingress accept 60 icmp -1/-1 0.0.0.0/0
  rule ingress accept 70 gre -1/-1 198.18.0.0/15
  rule egress drop 1 tcp 25/25 0.0.0.0/0
  rule ingress accept 100 udp 40000/40999 198.51.0.0/16
} >"$tmp/groups.toml"
n=$(grep -c '^security_groups = \["sg-bulk"\]$' "$tmp/groups.toml")
[ "$n" -eq "$hosts" ] || { echo "$0: $n ENIs in the group, expected $hosts" >&2; exit 1; }
"$eipsim" check "$tmp/groups.toml" >"$tmp/check.log" 2>&1 ||
  { echo "$0: the topology with groups does not load:" >&2; tail -n 20 "$tmp/check.log" >&2; exit 1; }

# measure NAME CMD...: runs CMD (output to a log), appends "NAME wall_ns".
measure() {
  local name=$1 t0 t1
  shift
  t0=$(date +%s%N)
  if ! "$@" >"$tmp/log" 2>&1; then
    echo "$0: '$name' failed: $*" >&2
    tail -n 20 "$tmp/log" >&2
    exit 1
  fi
  t1=$(date +%s%N)
  echo "$name $((t1 - t0))" >>"$results"
}

# median NAME: the median wall time (ns) of NAME's runs.
median() {
  awk -v n="$1" '$1 == n { print $2 }' "$results" | sort -n |
    awk '{ v[NR] = $1 } END {
      if (NR == 0) { print "nan"; exit }
      if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

for i in $(seq 1 "$rounds"); do
  echo "round $i of $rounds" >&2
  measure plain "$eipsim" replay --no-progress --workers "$workers" --topology "$tmp/topology.toml" --out "$tmp/plain-$i" "$tmp/bulk.pcap"
  measure groups "$eipsim" replay --no-progress --workers "$workers" --topology "$tmp/groups.toml" --out "$tmp/groups-$i" "$tmp/bulk.pcap"
done

# The groups accepted every frame: the same captures out, no security-group drop.
files=0
for f in "$tmp/plain-1"/*.pcap; do
  cmp -s "$f" "$tmp/groups-1/$(basename "$f")" ||
    { echo "$0: $(basename "$f") differs with groups" >&2; exit 1; }
  files=$((files + 1))
done
[ "$(ls "$tmp/groups-1"/*.pcap | wc -l)" -eq "$files" ] ||
  { echo "$0: the replay with groups wrote other captures" >&2; exit 1; }
if grep -q '"security-group": *[1-9]' "$tmp/groups-1/report.json"; then
  grep -o '"security-group": *[0-9]*' "$tmp/groups-1/report.json" | head -n 3 >&2
  echo "$0: the report with groups counts security-group drops" >&2
  exit 1
fi

p=$(median plain) g=$(median groups)
echo
echo "eipsim replay with and without security groups: $frames frames, $hosts NAT EIPs, workers $workers, median of $rounds rounds ($files identical captures out)"
awk -v p="$p" -v g="$g" -v f="$frames" 'BEGIN {
  printf "  %-40s %8s %12s\n", "", "wall s", "ns/frame"
  printf "  %-40s %8.3f %12.1f\n", "replay without groups", p / 1e9, p / f
  printf "  %-40s %8.3f %12.1f\n", "replay with groups (10 rules per ENI)", g / 1e9, g / f
  r = g / p
  printf "  %-40s %8.2f   target <= 1.3 %s\n", "with / without", r, r <= 1.3 ? "ok" : "MISSED"
}'
echo "  runs (ns): $(awk '{ printf "%s=%s ", $1, $2 }' "$results")"
