//! What the live tests run: the cut-through topology, the DHCP client and the events file.

use std::path::Path;

use super::netns::{CUT, must, run_ns};

/// A cut-through ENI alone on its instance (no primary ENI is needed for the gateway).
pub fn cut_topology(dhcp: bool) -> String {
    format!(
        r#"region = "eu-central-1"

[vpc]
id = "vpc-live"
cidr = "172.16.0.0/12"
gateway_mac = "ee:ff:ff:ff:ff:ff"
internet_mac = "02:00:00:00:00:01"

[[instance]]
id = "i-app"
family = "ecs.g5"
dhcp = {dhcp}

[[eni]]
id = "eni-cut"
kind = "secondary"
mac = "00:16:3e:00:01:10"
primary_ip = "172.16.1.10"
instance = "i-app"

[[eip]]
id = "eip-cut"
address = "47.0.0.20"

[[association]]
eip = "eip-cut"
eni = "eni-cut"
mode = "BINDED"
"#
    )
}

/// The DHCP client's script: the lease's address and router on the interface, and the address
/// written to `leased`.
pub const UDHCPC_SCRIPT: &str = r#"#!/bin/sh
case "$1" in
  bound|renew)
    ip addr flush dev "$interface"
    ip addr add "$ip/$mask" dev "$interface"
    [ -n "$router" ] && ip route replace default via "$router" dev "$interface" onlink
    echo "$ip $mask $router" > "$LEASED"
    ;;
esac
exit 0
"#;

/// `busybox udhcpc` in the cut-through namespace: three DISCOVERs a second apart, quit once
/// bound or when none was answered.
pub fn udhcpc(dir: &Path) -> std::process::Output {
    let script = dir.join("udhcpc.sh");
    std::fs::write(&script, UDHCPC_SCRIPT).expect("script written");
    must(&["chmod", "+x", script.to_str().unwrap()]);
    let leased = format!("LEASED={}", dir.join("leased").display());
    run_ns(
        15,
        CUT,
        &[
            "env",
            &leased,
            "busybox",
            "udhcpc",
            "-i",
            "eth0",
            "-n",
            "-q",
            "-f",
            "-t",
            "3",
            "-T",
            "1",
            "-s",
            script.to_str().unwrap(),
        ],
    )
}

/// The NAT EIP unassociated 1.5 s into the run; an event after the run's end is never reached.
pub const EVENTS: &str = r#"[[event]]
at = 1.5
op = "UnassociateEipAddress"
eip = "eip-web"

[[event]]
at = 100
op = "AssociateEipAddress"
eip = "eip-web"
eni = "eni-web0"
mode = "NAT"
"#;
