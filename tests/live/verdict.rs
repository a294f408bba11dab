//! eipsim's verdict for a flow (report.json) against what the real client saw.

use serde_json::Value;

/// The flows of `report` of protocol `proto` (`tcp`, `udp`, `icmp`) with `port` as one of its
/// two ports (any port when `None`; ICMP flows have none), and `address` (inside view: a NAT
/// EIP's private IP) as one of its two addresses.
pub fn flows<'a>(
    report: &'a Value,
    proto: &str,
    address: &str,
    port: Option<u16>,
) -> Vec<&'a Value> {
    report["flows"]
        .as_array()
        .map(|a| a.iter().collect::<Vec<_>>())
        .unwrap_or_default()
        .into_iter()
        .filter(|f| f["protocol"] == proto)
        .filter(|f| {
            f["addresses"]
                .as_array()
                .is_some_and(|a| a.iter().any(|x| x == address))
        })
        .filter(|f| {
            port.is_none_or(|p| {
                f["ports"]
                    .as_array()
                    .is_some_and(|a| a.iter().any(|x| x.as_u64() == Some(u64::from(p))))
            })
        })
        .collect()
}

/// Asserts that the report agrees with the client: when the client `worked`, there is such a
/// flow and every such flow is `ok`, `translated` or `alg-at-risk`; when it failed, at least
/// one is `dropped` or `alg-broken`. Returns the verdicts seen (for the test's own further
/// checks).
///
/// `alg-at-risk` agrees with a client that worked: it says only that the provider names the
/// protocol as unsupported in NAT mode while the traffic shows no failure (no payload carried a
/// VPC address, nothing the flow announced was dropped). TFTP through a NAT-mode EIP is such a
/// flow: its transfer works when nothing else stops the server's new port.
pub fn agree(
    report: &Value,
    what: &str,
    (proto, address, port): (&str, &str, Option<u16>),
    worked: bool,
) -> Vec<String> {
    let found = flows(report, proto, address, port);
    let verdicts: Vec<String> = found
        .iter()
        .map(|f| f["verdict"].as_str().unwrap_or("?").to_string())
        .collect();
    assert!(
        !found.is_empty(),
        "{what}: no {proto} flow of {address} port {port:?} in report.json: {}",
        serde_json::to_string_pretty(&report["flows"]).unwrap_or_default()
    );
    if worked {
        assert!(
            verdicts
                .iter()
                .all(|v| v == "ok" || v == "translated" || v == "alg-at-risk"),
            "{what}: the client worked, the report says {verdicts:?}: {found:#?}"
        );
    } else {
        assert!(
            verdicts.iter().any(|v| v == "dropped" || v == "alg-broken"),
            "{what}: the client failed, the report says {verdicts:?}: {found:#?}"
        );
    }
    verdicts
}
