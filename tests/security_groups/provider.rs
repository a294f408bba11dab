//! "Outbound TCP to port 25 of an Internet address (not an EIP of the VPC) drops
//! `tcp-25-restricted` (the provider blocks it by default) unless `[account] tcp25_unblocked =
//! true`", and its place in the order: after the destination's checks, before `ttl-expired`.

use crate::kit::*;

/// [`BASE`] with the account's `tcp25_unblocked` set.
fn unblocked() -> String {
    BASE.replacen(
        "multi_eip_quota = 10\n",
        "multi_eip_quota = 10\ntcp25_unblocked = true\n",
        1,
    )
}

/// "Outbound TCP to port 25 of an Internet address ... drops `tcp-25-restricted`", from a NAT
/// private IP (SNAT), a cut-through EIP and a multi-EIP address (pass-through), and not with
/// `tcp25_unblocked = true`.
#[test]
fn outbound_tcp_25_to_the_internet_is_restricted_unless_unblocked() {
    let frames = [
        tcp(NAT.mac, NAT.ip, 40000, CLIENT, 25, true),
        tcp(CUT.mac, CUT.eip.unwrap(), 40000, CLIENT, 25, true),
        tcp(MULTI.mac, MULTI_EIP2, 40000, CLIENT, 25, false),
    ];
    assert_eq!(fates(BASE, &frames), ["drop tcp-25-restricted"; 3]);
    let t = unblocked();
    assert!(t.contains("tcp25_unblocked = true"));
    assert_eq!(
        fates(&t, &frames),
        [
            "snat internet",
            "pass-through internet",
            "pass-through internet"
        ]
    );
}

/// "(not an EIP of the VPC)": TCP to port 25 of an EIP of the VPC (a hairpin) is delivered; so
/// is intra-VPC TCP/25, UDP to port 25, TCP from source port 25, and inbound TCP to port 25.
#[test]
fn tcp_25_to_an_eip_of_the_vpc_udp_25_and_inbound_25_pass() {
    let got = fates(
        BASE,
        &[
            tcp(NAT.mac, NAT.ip, 40000, WEB.eip.unwrap(), 25, true),
            tcp(NAT.mac, NAT.ip, 40000, CUT.eip.unwrap(), 25, true),
            tcp(NAT.mac, NAT.ip, 40000, WEB.ip, 25, true),
            udp(NAT.mac, NAT.ip, 40000, CLIENT, 25),
            tcp(NAT.mac, NAT.ip, 25, CLIENT, 40000, false),
            tcp(INET, CLIENT, 40000, NAT.eip.unwrap(), 25, true),
        ],
    );
    assert_eq!(
        got,
        [
            "hairpin eni-web",
            "hairpin eni-cut",
            "intra-vpc eni-web",
            "snat internet",
            "snat internet",
            "dnat eni-nat",
        ]
    );
}

/// The drop order: "the destination's checks (..., `no-public-address`, ...),
/// `tcp-25-restricted`, `ttl-expired`": a private IP without an EIP is `no-public-address`, and
/// TTL 1 is still `tcp-25-restricted`.
#[test]
fn tcp_25_restricted_sits_between_no_public_address_and_ttl_expired() {
    assert_eq!(
        fate_of(BASE, tcp(PEER.mac, PEER.ip, 40000, CLIENT, 25, true)),
        "drop no-public-address"
    );
    assert_eq!(
        fate_of(BASE, ttl(tcp(NAT.mac, NAT.ip, 40000, CLIENT, 25, true), 1)),
        "drop tcp-25-restricted"
    );
    assert_eq!(
        fate_of(
            &unblocked(),
            ttl(tcp(NAT.mac, NAT.ip, 40000, CLIENT, 25, true), 1)
        ),
        "drop ttl-expired"
    );
}
