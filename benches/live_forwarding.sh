#!/usr/bin/env bash
# Live forwarding benchmark: frames per second through `eipsim live` between two network
# namespaces, against the Linux kernel forwarding between the same two namespaces with the same
# 1:1 NAT (nftables dnat/snat), measured in the same run.
#
#   sender (eipsim-ksnd, eth0 02:00:00:00:00:01, 198.51.100.7)
#     -- veth eipl-ksnd --  [ eipsim live  |  namespace eipsim-kfwd: ip_forward + nftables NAT ]
#     -- veth eipl-krcv --  receiver (eipsim-krcv, eth0 00:16:3e:00:00:10, 172.16.0.10)
#
# N small UDP frames (60 bytes, 198.51.100.7 -> the EIP 47.0.0.10, 64 source ports) are sent as
# fast as `tcpreplay --topspeed` goes from the sender; the receiver counts what reaches its eth0
# (the interface's rx_packets; a raw-table rule drops the datagrams there, so it sends no ICMP
# back), polled every 10 ms. A run's rate is the frames received between the first poll that
# sees frames arrive and the last one, divided by the time between those two polls. First eipsim (release build) between the
# root-side ends, then the same two ends moved into eipsim-kfwd for the kernel. Figures are
# worth comparing as the ratio eipsim/kernel of one run: absolute rates move with the machine.
#
# Usage (root; ip, nft, ethtool, tcpreplay, python3):
#   flock /tmp/eipsim-netns.lock benches/live_forwarding.sh           # 200,000 frames
#   flock /tmp/eipsim-netns.lock benches/live_forwarding.sh --quick   # 20,000 frames (smoke)
#   ... --frames N                                                    # any count
# EIPSIM=path/to/eipsim uses that binary; otherwise target/release/eipsim is built if missing.
# Exits 1 when either path delivered no frame. Leaves no namespace, link or file behind.
set -euo pipefail

N=200000
while [[ $# -gt 0 ]]; do
    case $1 in
        --quick) N=20000 ;;
        --frames) N=$2; shift ;;
        -h|--help) sed -n '2,24p' "$0"; exit 0 ;;
        *) echo "live_forwarding.sh: unknown argument $1 (--quick, --frames N)" >&2; exit 2 ;;
    esac
    shift
done
[[ $(id -u) == 0 ]] || { echo "live_forwarding.sh: needs root (network namespaces)" >&2; exit 2; }
for t in ip nft ethtool tcpreplay python3; do
    command -v "$t" >/dev/null || { echo "live_forwarding.sh: $t is missing" >&2; exit 2; }
done
cd "$(dirname "$0")/.."
EIPSIM=${EIPSIM:-target/release/eipsim}
[[ -x $EIPSIM ]] || cargo build --release --quiet --bin eipsim

SND=eipsim-ksnd RCV=eipsim-krcv FWD=eipsim-kfwd LS=eipl-ksnd LR=eipl-krcv
WORK=$(mktemp -d "${TMPDIR:-/tmp}/eipsim-live-bench.XXXXXX")
EIPSIM_PID=
cleanup() {
    [[ -n $EIPSIM_PID ]] && kill "$EIPSIM_PID" 2>/dev/null && wait "$EIPSIM_PID" 2>/dev/null
    for n in $SND $RCV $FWD; do ip netns del "$n" 2>/dev/null || true; done
    for l in $LS $LR; do ip link del "$l" 2>/dev/null || true; done
    rm -rf "$WORK"
}
trap cleanup EXIT
cleanup_before() { for n in $SND $RCV $FWD; do ip netns del "$n" 2>/dev/null || true; done
    for l in $LS $LR; do ip link del "$l" 2>/dev/null || true; done; }
cleanup_before

offloads_off() { ethtool -K "$1" tx off rx off tso off gso off gro off >/dev/null 2>&1 || true; }
in_ns() { ip netns exec "$@"; }

# host NS ROOT_LINK MAC ADDR/PREFIX: a namespace whose eth0 is the peer of ROOT_LINK.
host() {
    ip netns add "$1"
    ip link add "$2" type veth peer name "$2-p"
    ip link set "$2-p" netns "$1"
    in_ns "$1" ip link set "$2-p" name eth0
    in_ns "$1" ip link set eth0 address "$3"
    in_ns "$1" sysctl -qw net.ipv6.conf.all.disable_ipv6=1
    sysctl -qw "net.ipv6.conf.$2.disable_ipv6=1"
    in_ns "$1" ip addr add "$4" dev eth0
    in_ns "$1" ip link set lo up
    in_ns "$1" ip link set eth0 up
    ip link set "$2" up
    offloads_off "$2"
    in_ns "$1" ethtool -K eth0 tx off rx off tso off gso off gro off >/dev/null 2>&1 || true
}
host $SND $LS 02:00:00:00:00:01 198.51.100.7/24
host $RCV $LR 00:16:3e:00:00:10 172.16.0.10/12
in_ns $RCV nft -f - <<'EOF'
table ip sink {
  chain raw { type filter hook prerouting priority raw; policy accept; udp dport 9000 drop; }
}
EOF

python3 - "$WORK/udp.pcap" "$N" <<'EOF'
import struct, sys
path, n = sys.argv[1], int(sys.argv[2])
def csum(b):
    s = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    while s > 0xffff: s = (s & 0xffff) + (s >> 16)
    return ~s & 0xffff
eth = bytes.fromhex("eeffffffffff" "020000000001" "0800")
src, dst = bytes([198, 51, 100, 7]), bytes([47, 0, 0, 10])
with open(path, "wb") as f:
    f.write(struct.pack("<IHHiIII", 0xa1b2c3d4, 2, 4, 0, 0, 65535, 1))
    for i in range(n):
        payload = struct.pack("!I", i) + bytes(14)
        udp = struct.pack("!HHHH", 10000 + i % 64, 9000, 8 + len(payload), 0) + payload
        ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), i & 0xffff, 0, 64, 17, 0, src, dst)
        ip = ip[:10] + struct.pack("!H", csum(ip)) + ip[12:]
        frame = eth + ip + udp
        f.write(struct.pack("<IIII", i // 1000000, i % 1000000, len(frame), len(frame)) + frame)
EOF

# The packets the receiver's eth0 has received.
rx() { ip -n $RCV -s -o link show dev eth0 | awk -F'\\\\' '{split($4, a, " "); print a[2]}'; }

# The wall clock in microseconds.
us() { local t=$EPOCHREALTIME; echo "${t/./}"; }

# measure LABEL: sends the capture, prints "LABEL RECEIVED MICROSECONDS".
measure() {
    local before t0 last tlast now c idle tfirst='' first
    before=$(rx)
    t0=$(us)
    in_ns $SND tcpreplay -q --preload-pcap --topspeed -i eth0 "$WORK/udp.pcap" >"$WORK/$1.tcpreplay" 2>&1 &
    local sender=$!
    last=$before tlast=$t0 idle=0
    while :; do
        sleep 0.01
        now=$(us)
        c=$(rx)
        if [[ $c != "$last" ]]; then
            # The window starts at the first poll that sees frames (tcpreplay's start-up and
            # preload are not in it); the frames counted by then are left out of the rate.
            [[ -z $tfirst ]] && tfirst=$now first=$c
            last=$c tlast=$now idle=0
        elif ! kill -0 $sender 2>/dev/null; then
            idle=$((idle + 1))
            ((idle >= 50)) && break # 0.5 s without a frame after the send ended
        fi
        ((now - t0 < 60000000)) || break # at most 60 s
    done
    wait $sender || true
    # tcpreplay's own rate ("Rated: ... Bps, ... Mbps, N pps"): the offered load.
    local offered
    offered=$(grep -o '[0-9.]* pps' "$WORK/$1.tcpreplay" | head -1 | cut -d' ' -f1)
    [[ -n $tfirst ]] || tfirst=$t0 first=$before
    echo "$1 $((last - before)) $((last - first)) $((tlast - tfirst)) ${offered:-0}"
}

# (a) eipsim live between the root-side ends.
cat >"$WORK/topology.toml" <<'EOF'
region = "eu-central-1"
[vpc]
id = "vpc-bench"
cidr = "172.16.0.0/12"
gateway_mac = "ee:ff:ff:ff:ff:ff"
internet_mac = "02:00:00:00:00:01"
[[instance]]
id = "i-sink"
family = "ecs.g5"
dhcp = true
[[eni]]
id = "eni-sink0"
kind = "primary"
mac = "00:16:3e:00:00:10"
primary_ip = "172.16.0.10"
instance = "i-sink"
[[eip]]
id = "eip-sink"
address = "47.0.0.10"
[[association]]
eip = "eip-sink"
eni = "eni-sink0"
mode = "NAT"
EOF
"$EIPSIM" live --topology "$WORK/topology.toml" --internet $LS --eni eni-sink0=$LR \
    --out "$WORK/out" >"$WORK/eipsim.log" 2>&1 &
EIPSIM_PID=$!
sleep 1.5
kill -0 $EIPSIM_PID || { cat "$WORK/eipsim.log" >&2; exit 1; }
read -r _ E_RX E_W E_T E_OFF < <(measure eipsim)
kill -INT $EIPSIM_PID
wait $EIPSIM_PID || { echo "eipsim live failed:" >&2; cat "$WORK/eipsim.log" >&2; exit 1; }
EIPSIM_PID=

# (b) the kernel: the same two ends moved into a forwarding namespace with the same NAT.
ip netns add $FWD
for l in $LS $LR; do
    ip link set $l netns $FWD
    in_ns $FWD ip link set $l address ee:ff:ff:ff:ff:ff
    in_ns $FWD ip link set $l up
done
in_ns $FWD sysctl -qw net.ipv4.ip_forward=1 net.ipv4.conf.all.rp_filter=0 \
    net.ipv4.conf.default.rp_filter=0 net.ipv6.conf.all.disable_ipv6=1
in_ns $FWD ip addr add 10.255.0.1/30 dev $LS
in_ns $FWD ip addr add 172.16.0.1/12 dev $LR
in_ns $FWD ip neigh replace 10.255.0.2 lladdr 02:00:00:00:00:01 dev $LS nud permanent
in_ns $FWD ip neigh replace 172.16.0.10 lladdr 00:16:3e:00:00:10 dev $LR nud permanent
in_ns $FWD ip route add default via 10.255.0.2 dev $LS
in_ns $FWD nft -f - <<'EOF'
table ip nat {
  chain pre { type nat hook prerouting priority dstnat; policy accept; ip daddr 47.0.0.10 dnat to 172.16.0.10; }
  chain post { type nat hook postrouting priority srcnat; policy accept; ip saddr 172.16.0.10 snat to 47.0.0.10; }
}
EOF
read -r _ K_RX K_W K_T K_OFF < <(measure kernel)

python3 - "$N" "$E_RX" "$E_T" "$K_RX" "$K_T" "$E_OFF" "$K_OFF" "$E_W" "$K_W" <<'EOF'
import sys
n, e_rx, e_t, k_rx, k_t = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]) / 1e6, int(sys.argv[4]), int(sys.argv[5]) / 1e6
e_w, k_w = int(sys.argv[8]), int(sys.argv[9])  # frames inside each timed window
rate = lambda rx, t: rx / t if t > 0 else 0.0
e, k = rate(e_w, e_t), rate(k_w, k_t)
print(f"live forwarding: {n} UDP frames of 60 bytes, tcpreplay --topspeed, through a 1:1 NAT EIP")
offered = (float(sys.argv[6]), float(sys.argv[7]))
for (name, rx, t, r), o in zip((("eipsim live", e_rx, e_t, e), ("kernel (nftables NAT)", k_rx, k_t, k)), offered):
    print(f"  {name:<22} received {rx:>8} of {n} ({100 * (n - rx) / n:5.1f}% lost) in {t:6.3f} s: "
          f"{r:>9.0f} frames/s (sent at {o:.0f} frames/s)")
print(f"  ratio eipsim/kernel: {e / k:.3f}" if k > 0 else "  ratio eipsim/kernel: n/a")
if k_rx == n:
    print("  note: the kernel lost nothing: its rate is the sender's, a lower bound of what it can "
          "forward (the ratio is an upper bound)")
if e_rx < n:
    print("  note: eipsim lost frames: its rate is what it can forward at that offered load")
sys.exit(0 if e_rx > 0 and k_rx > 0 else 1)
EOF
