//! The failover demo (seed 004: "mask the failure of the ECS instance by rapidly remapping the
//! EIP"): `pcaps/failover-topology.toml`, `pcaps/failover.pcap` and
//! `pcaps/failover-events.toml`. A client asks the service EIP once a second; at 5.5 s the
//! EIP is unbound from the failed instance's ENI, at 5.8 s bound to the standby's.

use etherparse::PacketBuilder;

/// The topology: two instances, each with a secondary ENI; the EIP on the active one.
pub const TOPOLOGY: &str = r#"# eipsim failover demo: one EIP remapped from eni-active to eni-standby mid-capture
# (pcaps/failover-events.toml), as seed 004 suggests to mask an instance failure.
region = "eu-central-1"

[vpc]
id = "vpc-failover"
cidr = "172.16.0.0/12"
gateway_mac = "ee:ff:ff:ff:ff:ff"
internet_mac = "02:00:00:00:00:01"

[[instance]]
id = "i-active"
family = "ecs.g5"

[[instance]]
id = "i-standby"
family = "ecs.g5"

[[eni]]
id = "eni-active"
kind = "secondary"
mac = "00:16:3e:00:05:10"
primary_ip = "172.16.5.10"
instance = "i-active"

[[eni]]
id = "eni-standby"
kind = "secondary"
mac = "00:16:3e:00:06:10"
primary_ip = "172.16.6.10"
instance = "i-standby"

[[eip]]
id = "eip-svc"
address = "47.0.0.100"

[[association]]
eip = "eip-svc"
eni = "eni-active"
mode = "NAT"
"#;

/// The events: unbind at 5.5 s, bind to the standby at 5.8 s (capture time).
pub const EVENTS: &str = r#"# Timed operations for pcaps/failover.pcap (eipsim replay --events): the EIP leaves the
# failed instance's ENI and is bound to the standby's 0.3 s later.
[[event]]
at = "1700000005.5"
op = "UnassociateEipAddress"
eip = "eip-svc"

[[event]]
at = "1700000005.8"
op = "AssociateEipAddress"
eip = "eip-svc"
eni = "eni-standby"
mode = "NAT"
"#;

/// Capture start, seconds since the epoch.
pub const T0: u64 = 1_700_000_000;

const CLIENT: [u8; 4] = [198, 51, 100, 7];
const EIP: [u8; 4] = [47, 0, 0, 100];
const ACTIVE: ([u8; 6], [u8; 4]) = ([0x00, 0x16, 0x3e, 0, 0x05, 0x10], [172, 16, 5, 10]);
const STANDBY: ([u8; 6], [u8; 4]) = ([0x00, 0x16, 0x3e, 0, 0x06, 0x10], [172, 16, 6, 10]);
const GATEWAY: [u8; 6] = [0xee, 0xff, 0xff, 0xff, 0xff, 0xff];
const ROUTER: [u8; 6] = [0x02, 0, 0, 0, 0, 0xfe];

/// One frame: time after T0 in milliseconds, bytes, and its expected fate.
pub struct Frame {
    /// Milliseconds after [`T0`].
    pub ms: u64,
    /// Ethernet frame.
    pub data: Vec<u8>,
    /// `egress <port>` or `drop <reason>`.
    pub expect: &'static str,
}

fn udp(macs: ([u8; 6], [u8; 6]), src: [u8; 4], dst: [u8; 4], sport: u16, dport: u16) -> Vec<u8> {
    let mut v = Vec::new();
    PacketBuilder::ethernet2(macs.0, macs.1)
        .ipv4(src, dst, 64)
        .udp(sport, dport)
        .write(&mut v, b"health?")
        .expect("failover frame");
    v
}

/// The frames, in capture order.
pub fn frames() -> Vec<Frame> {
    let mut v = Vec::new();
    let request = |n: u16| udp((ROUTER, GATEWAY), CLIENT, EIP, 40000 + n, 8080);
    let reply =
        |who: ([u8; 6], [u8; 4]), n: u16| udp((who.0, GATEWAY), who.1, CLIENT, 8080, 40000 + n);
    for n in 0..6u16 {
        let ms = u64::from(n) * 1000;
        v.push(Frame {
            ms,
            data: request(n),
            expect: "egress eni-active",
        });
        v.push(Frame {
            ms: ms + 1,
            data: reply(ACTIVE, n),
            expect: "egress internet",
        });
    }
    // Between the two events: the EIP is bound to nothing.
    v.push(Frame {
        ms: 5600,
        data: request(56),
        expect: "drop eip-not-associated",
    });
    // The failed instance answers late: its private IP has no EIP any more.
    v.push(Frame {
        ms: 5700,
        data: reply(ACTIVE, 5),
        expect: "drop no-public-address",
    });
    for n in 6..10u16 {
        let ms = u64::from(n) * 1000;
        v.push(Frame {
            ms,
            data: request(n),
            expect: "egress eni-standby",
        });
        v.push(Frame {
            ms: ms + 1,
            data: reply(STANDBY, n),
            expect: "egress internet",
        });
    }
    v
}

/// The capture as pcap bytes (Ethernet, microseconds).
pub fn capture() -> Vec<u8> {
    let frames = frames();
    super::pcap_bytes(frames.iter().map(|f| {
        let ts = std::time::Duration::from_millis(T0 * 1000 + f.ms);
        (ts, f.data.len() as u32, f.data.as_slice())
    }))
}
