//! The topologies and events of the live mode tests (each after [`super::modes_hosts::HEAD`]).

/// A multi-EIP ENI (secondary, `dhcp = true`) with three `MULTI_BINDED` EIPs, the OS
/// configured with the first two only (`static_eips`).
pub const MULTI: &str = r#"
[[instance]]
id = "i-multi"
family = "ecs.g5"
dhcp = true

[[eni]]
id = "eni-multi"
kind = "secondary"
mac = "00:16:3e:00:02:10"
primary_ip = "172.16.2.10"
instance = "i-multi"
static_eips = ["47.0.0.31", "47.0.0.32"]

[[eip]]
id = "eip-m1"
address = "47.0.0.31"

[[eip]]
id = "eip-m2"
address = "47.0.0.32"

[[eip]]
id = "eip-m3"
address = "47.0.0.33"

[[association]]
eip = "eip-m1"
eni = "eni-multi"
mode = "MULTI_BINDED"

[[association]]
eip = "eip-m2"
eni = "eni-multi"
mode = "MULTI_BINDED"

[[association]]
eip = "eip-m3"
eni = "eni-multi"
mode = "MULTI_BINDED"
"#;

/// One instance with a primary ENI (NAT EIP 47.0.0.10 -> 172.16.0.10) and a secondary ENI in
/// cut-through mode (EIP 47.0.0.20).
pub const NAT_AND_CUT: &str = r#"
[[instance]]
id = "i-web"
family = "ecs.g5"
dhcp = true

[[eni]]
id = "eni-web0"
kind = "primary"
mac = "00:16:3e:00:00:10"
primary_ip = "172.16.0.10"
instance = "i-web"

[[eni]]
id = "eni-cut"
kind = "secondary"
mac = "00:16:3e:00:01:10"
primary_ip = "172.16.1.10"
instance = "i-web"

[[eip]]
id = "eip-web"
address = "47.0.0.10"

[[eip]]
id = "eip-cut"
address = "47.0.0.20"

[[association]]
eip = "eip-web"
eni = "eni-web0"
mode = "NAT"

[[association]]
eip = "eip-cut"
eni = "eni-cut"
mode = "BINDED"
"#;

/// Two instances, each with its primary ENI; the service's EIP NAT to the active one's.
pub const PAIR: &str = r#"
[[instance]]
id = "i-active"
family = "ecs.g5"

[[instance]]
id = "i-standby"
family = "ecs.g5"

[[eni]]
id = "eni-active"
kind = "primary"
mac = "00:16:3e:00:00:10"
primary_ip = "172.16.0.10"
instance = "i-active"

[[eni]]
id = "eni-standby"
kind = "primary"
mac = "00:16:3e:00:00:11"
primary_ip = "172.16.0.11"
instance = "i-standby"

[[eip]]
id = "eip-svc"
address = "47.0.0.10"

[[association]]
eip = "eip-svc"
eni = "eni-active"
mode = "NAT"
"#;

/// When the failover drill unassociates the EIP and re-associates it (seconds into the run).
pub const T_UNASSOCIATE: f64 = 2.0;
/// See [`T_UNASSOCIATE`].
pub const T_ASSOCIATE: f64 = 4.0;

/// The failover drill: the EIP leaves the active instance at 2 s and goes to the standby's
/// ENI at 4 s.
pub const FAILOVER: &str = r#"[[event]]
at = 2.0
op = "UnassociateEipAddress"
eip = "eip-svc"

[[event]]
at = 4.0
op = "AssociateEipAddress"
eip = "eip-svc"
eni = "eni-standby"
mode = "NAT"
"#;
