#!/usr/bin/env bash
# Checks the Ray driver against a single-machine replay, byte for byte.
#
#   bash contrib/ray/check.sh
#
# 1. makes a Python virtual environment with requirements.txt (or reuses $VENV if it has Ray);
# 2. generates a capture of $FRAMES frames (default 300000) with examples/gen_bulk;
# 3. runs `eipsim replay` on it, then eipsim_ray.py with 4 shards on a local Ray instance
#    (--mode shard: every shard reads the capture), and compares every output file (cmp; the
#    lock file `.eipsim.lock` is not an output);
# 4. the split path (the default mode, auto, picks split for one capture: `eipsim split`, then
#    every shard reads its own part) with the split and a shard crashing once (SIGKILL), and
#    (--mode shard) a shard whose Ray worker is killed: retried, the outputs still identical;
# 5. a shard that crashes every time exits 3 after --retries 1 (two attempts), without merge;
# 6. a missing capture exits 1, naming the shard (mode shard) or the split (mode split), with
#    every command run at most once (no retry);
# 7. the capture given as an http:// URL (served by `python3 -m http.server` on 127.0.0.1):
#    downloaded into the work directory, then mode split; every output identical except that
#    report.json names the staged copy (compared after putting the original path back); a URL
#    that gives 404 exits 1 naming it, with no split, shard or merge run.
# Prints the times of the runs. Exits non-zero on any difference or failure.
# Environment: FRAMES, SHARDS (default 4), VENV (default: a new one in the scratch directory),
# SCRATCH (default: a new temporary directory, removed at the end unless KEEP=1), EIPSIM_BIN
# (an eipsim binary to use instead of building one with cargo; gen_bulk is then GEN_BULK,
# default examples/gen_bulk next to it).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
frames=${FRAMES:-300000}
shards=${SHARDS:-4}
scratch=${SCRATCH:-$(mktemp -d "${TMPDIR:-/tmp}/eipsim-ray-check.XXXXXX")}
mkdir -p "$scratch"
scratch=$(cd "$scratch" && pwd)
venv=${VENV:-$scratch/venv}
server_pid=
# At exit, also on a failure or an interrupt: stop the HTTP server of step 7 if it runs, and
# remove the scratch directory if it is ours.
clean_up() {
    if [ -n "$server_pid" ]; then kill "$server_pid" 2>/dev/null || true; fi
    if [ "${KEEP:-0}" != 1 ] && [ -z "${SCRATCH:-}" ]; then rm -rf "$scratch"; fi
}
trap clean_up EXIT
trap 'exit 130' INT TERM

say() { echo "check.sh: $*" >&2; }
fail() { say "FAIL: $*"; exit 1; }
now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.2f", b - a }'; }

# --- 1. virtual environment ---------------------------------------------------------------
if ! "$venv/bin/python" -c 'import ray' 2>/dev/null; then
    t=$(now)
    python3 -m venv "$venv" \
        || fail "python3 -m venv failed (on Debian/Ubuntu: apt-get install python3-venv)"
    "$venv/bin/pip" install -q --disable-pip-version-check -r "$here/requirements.txt"
    say "venv with $(cat "$here/requirements.txt" | tr '\n' ' ')installed in $(since "$t") s"
fi
py="$venv/bin/python"

# --- 2. binary and capture ----------------------------------------------------------------
if [ -n "${EIPSIM_BIN:-}" ]; then
    bin=$(cd "$(dirname "$EIPSIM_BIN")" && pwd)/$(basename "$EIPSIM_BIN")
    gen_bulk=${GEN_BULK:-$(dirname "$bin")/examples/gen_bulk}
    [ -x "$bin" ] || fail "EIPSIM_BIN=$EIPSIM_BIN: not an executable file"
    [ -x "$gen_bulk" ] || fail "$gen_bulk: not an executable file (set GEN_BULK)"
else
    (cd "$root" && cargo build --release --quiet --bin eipsim --example gen_bulk)
    bin="$root/target/release/eipsim"
    gen_bulk="$root/target/release/examples/gen_bulk"
fi
"$gen_bulk" "$scratch/bulk" "$frames" 256 4 >/dev/null
topo="$scratch/bulk/topology.toml"
cap="$scratch/bulk/bulk.pcap"

# compare DIR_A DIR_B [SKIP]: the same output files, byte for byte (but for the file SKIP,
# which must be there and is compared by the caller)
compare() {
    local a=$1 b=$2 skip=${3:-} n=0 f
    diff <(cd "$a" && find . -type f ! -name .eipsim.lock | sort) \
         <(cd "$b" && find . -type f ! -name .eipsim.lock | sort) \
        || fail "$a and $b do not hold the same files"
    while IFS= read -r f; do
        [ "$f" != "./$skip" ] || continue
        cmp "$a/$f" "$b/$f" || fail "$b/$f differs from $a/$f"
        n=$((n + 1))
    done < <(cd "$a" && find . -type f ! -name .eipsim.lock | sort)
    [ "$n" -gt 2 ] || fail "only $n output files in $a"
    say "$b: $n files identical to $a${skip:+ (all but $skip)}"
}

# --- 3. single machine vs Ray -------------------------------------------------------------
t=$(now)
"$bin" replay --topology "$topo" --out "$scratch/single" "$cap" >/dev/null
single_s=$(since "$t")
t=$(now)
"$py" "$here/eipsim_ray.py" --eipsim "$bin" --topology "$topo" --shards "$shards" \
    --mode shard --out "$scratch/ray" "$cap"
ray_s=$(since "$t")
compare "$scratch/single" "$scratch/ray"

# A wrapper around eipsim that logs each call (its shard K/N, or "split", or "merge") and can
# crash some. wrapper "CALL..." MODE: MODE once: each CALL's first attempt is killed (SIGKILL);
# always: every attempt is; worker: on the first attempt the Ray worker running it is killed
# (a lost worker).
wrapper() {
    local crash=$1 mode=$2
    cat > "$scratch/eipsim-wrapper" <<WRAP
#!/usr/bin/env bash
call=\$1; prev=
for a in "\$@"; do [ "\$prev" = --shard ] && call=\$a; prev=\$a; done
echo "\$call" >> "$scratch/calls.log"
for c in $crash; do
    [ "\$call" = "\$c" ] || continue
    if [ "$mode" = always ] || mkdir "$scratch/crashed-\${c%%/*}" 2>/dev/null; then
        [ "$mode" = worker ] && kill -9 \$PPID
        kill -9 \$\$
    fi
done
exec "$bin" "\$@"
WRAP
    chmod +x "$scratch/eipsim-wrapper"
    rm -rf "$scratch/calls.log" "$scratch"/crashed-*
}
calls() { grep -c -x "$1" "$scratch/calls.log" || true; }

# --- 4. the split path; a crashed split, a crashed shard and a lost worker are retried -----
# (the default mode, auto, is split for one capture: the progress lines say so)
wrapper "split 1/$shards" once
t=$(now)
"$py" "$here/eipsim_ray.py" --eipsim "$scratch/eipsim-wrapper" --topology "$topo" \
    --shards "$shards" --retries 2 --out "$scratch/ray-split" "$cap" 2> "$scratch/split.err" \
    || { cat "$scratch/split.err" >&2; fail "the split path failed"; }
split_s=$(since "$t")
cat "$scratch/split.err" >&2
grep -q "^eipsim-ray: mode split (auto" "$scratch/split.err" || fail "one capture: auto did not pick split"
grep -q "^eipsim-ray: split done in .* $frames frames of 1 input(s) into $shards shard(s)" \
    "$scratch/split.err" || fail "no progress line of the split"
[ "$(grep -c "^eipsim-ray: shard [0-9]*/$shards done in .* frames$" "$scratch/split.err")" = "$shards" ] \
    || fail "not one progress line per shard with its frames"
[ "$(calls split)" = 2 ] || fail "the split ran $(calls split) times, expected 2 (crash + retry)"
[ "$(calls "1/$shards")" = 2 ] \
    || fail "shard 1/$shards ran $(calls "1/$shards") times, expected 2 (crash + retry)"
[ "$(calls "0/$shards")" = 1 ] || fail "shard 0/$shards ran $(calls "0/$shards") times, expected 1"
compare "$scratch/single" "$scratch/ray-split"
wrapper "3/$shards" worker
"$py" "$here/eipsim_ray.py" --eipsim "$scratch/eipsim-wrapper" --topology "$topo" \
    --shards "$shards" --mode shard --retries 2 --out "$scratch/ray-lost" "$cap"
[ "$(calls "3/$shards")" = 2 ] \
    || fail "shard 3/$shards ran $(calls "3/$shards") times, expected 2 (lost worker + retry)"
compare "$scratch/single" "$scratch/ray-lost"

# --- 5. a shard that crashes every time: exit 3 after its retries -------------------------
wrapper "2/$shards" always
set +e
"$py" "$here/eipsim_ray.py" --eipsim "$scratch/eipsim-wrapper" --topology "$topo" \
    --shards "$shards" --retries 1 --out "$scratch/ray-crash" "$cap" 2> "$scratch/crash.err"
code=$?
set -e
grep "^eipsim-ray:" "$scratch/crash.err" >&2 || true
[ "$code" = 3 ] || fail "a shard crashing every time exited $code, expected 3"
[ "$(calls "2/$shards")" = 2 ] || fail "shard 2/$shards ran $(calls "2/$shards") times, expected 2"
[ "$(calls split)" = 1 ] || fail "the split ran $(calls split) times, expected 1"
[ "$(calls merge)" = 0 ] || fail "merge ran after a shard crashed"
[ ! -e "$scratch/ray-crash" ] || fail "a failed run left $scratch/ray-crash"

# --- 6. bad input: exit 1, no retry -------------------------------------------------------
wrapper none never
set +e
"$py" "$here/eipsim_ray.py" --eipsim "$scratch/eipsim-wrapper" --topology "$topo" \
    --shards "$shards" --out "$scratch/ray-bad" "$cap" "$scratch/missing.pcap" 2> "$scratch/bad.err"
code=$?
set -e
cat "$scratch/bad.err" >&2
[ "$code" = 1 ] || fail "a missing capture exited $code, expected 1"
grep -q "shard [0-9]*/$shards: .*missing.pcap" "$scratch/bad.err" || fail "no shard error naming missing.pcap"
for k in $(seq 0 $((shards - 1))); do
    [ "$(calls "$k/$shards")" -le 1 ] \
        || fail "shard $k/$shards ran $(calls "$k/$shards") times after bad input"
done
[ "$(calls merge)" = 0 ] || fail "merge ran after a shard failed"
[ ! -e "$scratch/ray-bad" ] || fail "a failed run left $scratch/ray-bad"
wrapper none never
set +e
"$py" "$here/eipsim_ray.py" --eipsim "$scratch/eipsim-wrapper" --topology "$topo" --mode split \
    --shards "$shards" --out "$scratch/ray-bad" "$cap" "$scratch/missing.pcap" 2> "$scratch/bad.err"
code=$?
set -e
cat "$scratch/bad.err" >&2
[ "$code" = 1 ] || fail "mode split: a missing capture exited $code, expected 1"
grep -q "^eipsim-ray: split: .*missing.pcap" "$scratch/bad.err" || fail "no split error naming missing.pcap"
[ "$(calls split)" = 1 ] || fail "the split ran $(calls split) times after bad input, expected 1"
[ "$(grep -c -v -x split "$scratch/calls.log")" = 0 ] || fail "shards or merge ran after the split failed"
[ ! -e "$scratch/ray-bad" ] || fail "a failed run left $scratch/ray-bad"

# --- 7. the capture as an http:// URL; a URL that gives 404 ---------------------------------
# The server picks a free port (port 0) and prints it.
"$py" -u -m http.server --bind 127.0.0.1 --directory "$scratch/bulk" 0 \
    > "$scratch/http.log" 2>&1 &
server_pid=$!
port=
for _ in $(seq 50); do
    port=$(sed -n 's/^Serving HTTP on [^ ]* port \([0-9]*\).*/\1/p' "$scratch/http.log")
    [ -n "$port" ] && break
    sleep 0.1
done
[ -n "$port" ] || { cat "$scratch/http.log" >&2; fail "python3 -m http.server did not start"; }
url="http://127.0.0.1:$port/bulk.pcap"
staged="$scratch/work-url/inputs/0-bulk.pcap"
t=$(now)
"$py" "$here/eipsim_ray.py" --eipsim "$bin" --topology "$topo" --shards "$shards" --mode split \
    --work-dir "$scratch/work-url" --out "$scratch/ray-url" "$url" 2> "$scratch/url.err" \
    || { cat "$scratch/url.err" >&2; fail "the run on $url failed"; }
url_s=$(since "$t")
cat "$scratch/url.err" >&2
grep -q -F "eipsim-ray: download $url done in " "$scratch/url.err" \
    || fail "no progress line of the download of $url"
grep -q -F ", $(stat -c %s "$cap") bytes into $staged" "$scratch/url.err" \
    || fail "the progress line does not give the size of $cap and $staged"
[ ! -e "$staged" ] || fail "the staged copy $staged was not removed at the end"
compare "$scratch/single" "$scratch/ray-url" report.json
"$py" - "$scratch/single/report.json" "$scratch/ray-url/report.json" "$staged" "$cap" <<'PY' \
    || fail "report.json of the run on $url differs by more than the input's name"
import json, sys
single_path, ray_path, staged, cap = sys.argv[1:]
with open(single_path) as f:
    single = json.load(f)
with open(ray_path) as f:
    ray = json.load(f)
files = [i.get("file") for i in ray["inputs"]]
if files != [staged]:
    sys.exit(f"{ray_path}: inputs name {files}, expected [{staged!r}]")
ray["inputs"][0]["file"] = cap
if ray != single:
    sys.exit(f"{ray_path} differs from {single_path} beyond inputs[0].file")
PY
say "$scratch/ray-url/report.json: identical to $scratch/single/report.json but for inputs[0].file"
wrapper none never
set +e
"$py" "$here/eipsim_ray.py" --eipsim "$scratch/eipsim-wrapper" --topology "$topo" --mode split \
    --shards "$shards" --out "$scratch/ray-404" "http://127.0.0.1:$port/missing.pcap" \
    2> "$scratch/404.err"
code=$?
set -e
cat "$scratch/404.err" >&2
[ "$code" = 1 ] || fail "a URL that gives 404 exited $code, expected 1"
grep -q -F "eipsim-ray: download http://127.0.0.1:$port/missing.pcap: HTTP 404" "$scratch/404.err" \
    || fail "no error naming http://127.0.0.1:$port/missing.pcap and its 404"
[ ! -s "$scratch/calls.log" ] \
    || fail "eipsim ran after a download failed: $(tr '\n' ' ' < "$scratch/calls.log")"
[ ! -e "$scratch/ray-404" ] || fail "a failed run left $scratch/ray-404"
kill "$server_pid"
wait "$server_pid" 2>/dev/null || true
server_pid=

say "OK: $frames frames; single replay ${single_s} s; Ray, $shards shards (with Ray's start):" \
    "mode shard ${ray_s} s; mode split, with two crashes and their retries: ${split_s} s;" \
    "mode split from $url: ${url_s} s"
