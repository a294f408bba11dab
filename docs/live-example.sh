#!/usr/bin/env bash
# eipsim live between two network namespaces: an Internet host and an instance whose ENI has a
# NAT-mode EIP. Run as root from the repository root after `cargo build --release` (or set
# EIPSIM to an eipsim binary). Needs ip (iproute2), ethtool, ping, curl and python3.
# Everything it makes (namespaces, veth pairs, files) is removed when it ends.
set -euo pipefail
EIPSIM=$(realpath "${EIPSIM:-target/release/eipsim}")
work=$(mktemp -d)
cd "$work"
cleanup() {
  kill %1 %2 2>/dev/null || true
  ip netns del inet 2>/dev/null || true
  ip netns del web 2>/dev/null || true
  rm -rf /etc/netns/inet /etc/netns/web "$work"
}
trap cleanup EXIT

# The topology: one instance, its primary ENI 172.16.0.10, the EIP 47.0.0.10 bound in NAT mode.
cat > live.toml <<'TOML'
region = "eu-central-1"

[vpc]
id = "vpc-live"
cidr = "172.16.0.0/12"
gateway_mac = "ee:ff:ff:ff:ff:ff"
internet_mac = "02:00:00:00:00:01"

[[instance]]
id = "i-web"
family = "ecs.g5"

[[eni]]
id = "eni-web0"
kind = "primary"
mac = "00:16:3e:00:00:10"
primary_ip = "172.16.0.10"
instance = "i-web"

[[eip]]
id = "eip-web"
address = "47.0.0.10"

[[association]]
eip = "eip-web"
eni = "eni-web0"
mode = "NAT"
TOML

# Two namespaces, loopback up, no IPv6 chatter, name lookups that fail at once (no DNS there).
for n in inet web; do
  mkdir -p /etc/netns/$n
  echo "nameserver 127.0.0.1" > /etc/netns/$n/resolv.conf
  ip netns add $n
  ip -n $n link set lo up
  ip netns exec $n sysctl -qw net.ipv6.conf.all.disable_ipv6=1
done
# One veth pair each: the gw-* ends stay here and are eipsim's interfaces.
ip link add gw-inet type veth peer name inet0 netns inet
ip link add gw-web type veth peer name web0 netns web
ip link set gw-inet up
ip link set gw-web up
# The Internet host: the Internet's MAC, the EIPs on-link (it asks ARP for them; eipsim answers).
ip -n inet link set inet0 address 02:00:00:00:00:01 up
ip -n inet addr add 198.51.100.7/24 dev inet0
ip -n inet route add 47.0.0.0/24 dev inet0
# The instance, as its OS is in NAT mode: the ENI's MAC and private IP, default route via the
# VPC router (eipsim answers ARP for it with gateway_mac).
ip -n web link set web0 address 00:16:3e:00:00:10 up
ip -n web addr add 172.16.0.10/12 dev web0
ip -n web route add default via 172.16.0.1
# Full checksums on the wire (see "Checksum offload" in docs/commands.md).
ip netns exec inet ethtool -K inet0 tx off >/dev/null
ip netns exec web ethtool -K web0 tx off >/dev/null

"$EIPSIM" live --topology live.toml --internet gw-inet --eni eni-web0=gw-web --out out-live &
mkdir site && echo "hello from i-web" > site/index.html
ip netns exec web python3 -m http.server 8000 --bind 172.16.0.10 --directory site >/dev/null 2>&1 &
until ip netns exec web ss -ltn | grep -q ':8000 '; do sleep 0.2; done

ip netns exec inet ping -c 3 47.0.0.10          # ttl=63: the gateway decrements the TTL once
ip netns exec inet curl -s http://47.0.0.10:8000/ # the instance's page, through the EIP
kill -INT %1 && wait %1                          # eipsim writes out-live/ and prints its summary
python3 -c 'import json,sys; r=json.load(open(sys.argv[1])); [print(f["protocol"], f["addresses"], f["verdict"]) for f in r["flows"]]' out-live/report.json
