//! SIP through a NAT EIP and a cut-through EIP with real software: kamailio as proxy and
//! registrar on the Internet host, `sipsak` and `baresip` on the instance.
//!
//! What the report calls `alg-broken` and what the real software sees:
//! - An OPTIONS request from the instance through the NAT EIP **succeeds** (sipsak exits 0 with
//!   `200 OK`): kamailio answers the request's source address and port (RFC 3261 `received`
//!   and `rport`), not the private address its Via carries. The report calls that flow
//!   `alg-broken` for the private address in Via, From and Contact: a finding about the
//!   payload, not a failure of this exchange. Here eipsim and the client disagree, and the
//!   test asserts both sides as they are.
//! - Where the private address does break SIP: baresip registers through the NAT EIP with the
//!   Contact `172.16.0.10:5060`; a request from the Internet for that user is routed by
//!   kamailio (`lookup("location")`, `t_relay()`) to the Contact, which no host of the Internet
//!   can reach: the caller gets `477` and fails. The report calls the REGISTER's flow
//!   `alg-broken`, which agrees with that failure (the relayed request never reaches the wire,
//!   so eipsim sees no frame of it). In cut-through mode the Contact is the EIP, the request
//!   reaches baresip, which answers `200 OK`, and that flow is `ok`.

use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::Value;

use super::fixtures::udhcpc;
use super::modes_hosts::*;
use super::modes_topo::NAT_AND_CUT;
use super::netns::*;
use super::verdict;

/// kamailio: proxy and registrar in memory on 198.51.100.7:5060. OPTIONS to the server itself
/// answer 200; REGISTER is saved; any other request goes to the registered Contact.
const KAMAILIO_CFG: &str = r#"#!KAMAILIO
debug=2
log_stderror=yes
children=1
listen=udp:198.51.100.7:5060
mpath="/usr/lib/x86_64-linux-gnu/kamailio/modules/"
loadmodule "tm.so"
loadmodule "sl.so"
loadmodule "textops.so"
loadmodule "siputils.so"
loadmodule "pv.so"
loadmodule "xlog.so"
loadmodule "usrloc.so"
loadmodule "registrar.so"
modparam("usrloc", "db_mode", 0)

request_route {
    xlog("L_INFO", "$rm from $si:$sp ruri $ru contact $ct\n");
    if (is_method("OPTIONS") && $rU == $null) {
        sl_send_reply("200", "OK");
        exit;
    }
    if (is_method("REGISTER")) {
        save("location");
        exit;
    }
    if (is_method("ACK") && !t_check_trans()) {
        exit;
    }
    if (!lookup("location")) {
        sl_send_reply("404", "Not Found");
        exit;
    }
    xlog("L_INFO", "relaying $rm to $ru\n");
    if (!t_relay()) {
        sl_reply_error();
    }
}
"#;

/// What sipsak printed and its exit status (0: a 200 was received; 1: another final answer;
/// 3: no answer).
fn sipsak(name: &str, args: &[&str]) -> (i32, String) {
    let mut a = vec!["sipsak", "-vv"];
    a.extend_from_slice(args);
    let o = run_ns(10, name, &a);
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    println!("sipsak {args:?} in {name}: {text}");
    (o.status.code().unwrap_or(-1), text)
}

/// Waits (at most 8 s) until `log` has a line containing `what`.
fn logged(log: &Path, what: &str) {
    let t = Instant::now();
    loop {
        let text = std::fs::read_to_string(log).unwrap_or_default();
        if text.contains(what) {
            return;
        }
        assert!(
            t.elapsed() < Duration::from_secs(8),
            "{} never showed {what:?}: {text}",
            log.display()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// baresip's configuration folder for `user` registering at the Internet host.
fn baresip_config(dir: &Path, user: &str) -> String {
    let conf = dir.join(format!("baresip-{user}"));
    std::fs::create_dir_all(&conf).expect("baresip folder");
    let config = "sip_listen\t0.0.0.0:5060\nmodule_path\t/usr/lib/baresip/modules\n\
                  module\tg711.so\nmodule_app\taccount.so\n";
    std::fs::write(conf.join("config"), config).expect("config");
    let account = format!("<sip:{user}@{INET_IP};transport=udp>;regint=60\n");
    std::fs::write(conf.join("accounts"), account).expect("accounts");
    conf.to_str().unwrap().to_string()
}

/// The embedded-address findings of `flow`: (field, value).
fn embedded(flow: &Value) -> Vec<(String, String)> {
    flow["findings"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|f| f["kind"] == "embedded-address")
        .map(|f| {
            let s = |k: &str| f[k].as_str().unwrap_or_default().to_string();
            (s("field"), s("value"))
        })
        .collect()
}

/// The test (see the module's comment).
pub fn run() {
    if skip(&["kamailio", "sipsak", "baresip", "busybox"]) {
        return;
    }
    let _one = lock();
    Cleanup::remove_namespaces();
    let _guard = Cleanup {
        children: Vec::new(),
    };
    let mut servers = Servers::default();
    let (dir, topo) = scratch("live-sip", &format!("{HEAD}{NAT_AND_CUT}"));
    internet_host();
    instance(
        ENI,
        ENI_LINK,
        "00:16:3e:00:00:10",
        &["172.16.0.10/12"],
        "172.16.0.1",
    );
    // The cut-through ENI's OS learns its EIP by DHCP (below).
    veth(CUT, CUT_LINK, "00:16:3e:00:01:10");

    let cfg = dir.join("kamailio.cfg");
    std::fs::write(&cfg, KAMAILIO_CFG).expect("kamailio.cfg");
    let kam_log = dir.join("kamailio.log");
    let d = dir.to_str().unwrap();
    let kam = [
        "kamailio",
        "-f",
        cfg.to_str().unwrap(),
        "-DD",
        "-E",
        "-n",
        "1",
    ];
    servers.start(
        INET,
        40,
        &[&kam[..], &["-Y", d, "-w", d]].concat(),
        &kam_log,
    );
    logged(&kam_log, "Listening on");
    let out = dir.join("out");
    let enis = [("eni-web0", ENI_LINK), ("eni-cut", CUT_LINK)];
    let eipsim = start(&topo, &out, &enis, &["--duration", "16"]);
    std::thread::sleep(Duration::from_millis(500));
    let lease = udhcpc(&dir);
    assert!(lease.status.success(), "no DHCP lease: {lease:?}");

    // OPTIONS from each instance, sent and answered on port 5070 (-S).
    let sip = format!("sip:{INET_IP}");
    let opt_nat = sipsak(ENI, &["-S", "-l", "5070", "-H", "172.16.0.10", "-s", &sip]);
    let opt_cut = sipsak(CUT, &["-S", "-l", "5070", "-H", "47.0.0.20", "-s", &sip]);
    // baresip registers alice (NAT) and bob (cut-through); a caller on the Internet then
    // sends OPTIONS to each through kamailio.
    for (name, user) in [(ENI, "alice"), (CUT, "bob")] {
        let conf = baresip_config(&dir, user);
        let log = dir.join(format!("baresip-{user}.log"));
        servers.start(name, 30, &["baresip", "-f", &conf, "-t", "12"], &log);
    }
    logged(&kam_log, "REGISTER from 47.0.0.10:5060");
    logged(&kam_log, "REGISTER from 47.0.0.20:5060");
    let to_alice = sipsak(
        INET,
        &["-H", INET_IP, "-s", &format!("sip:alice@{INET_IP}")],
    );
    let to_bob = sipsak(INET, &["-H", INET_IP, "-s", &format!("sip:bob@{INET_IP}")]);
    let report = stop(eipsim, &out);
    drop(servers);
    let kamailio = std::fs::read_to_string(&kam_log).unwrap_or_default();

    // What the real software saw.
    assert_eq!(opt_nat.0, 0, "OPTIONS through the NAT EIP: {}", opt_nat.1);
    assert!(opt_nat.1.contains("SIP/2.0 200 OK"), "{}", opt_nat.1);
    assert!(opt_nat.1.contains("received=47.0.0.10"), "{}", opt_nat.1);
    assert_eq!(
        opt_cut.0, 0,
        "OPTIONS through the cut-through EIP: {}",
        opt_cut.1
    );
    assert!(opt_cut.1.contains("SIP/2.0 200 OK"), "{}", opt_cut.1);
    assert!(kamailio.contains("contact <sip:alice-"), "{kamailio}");
    assert!(kamailio.contains("@172.16.0.10:5060>"), "{kamailio}");
    assert!(
        kamailio.contains("relaying OPTIONS to sip:alice-"),
        "{kamailio}"
    );
    assert_eq!(to_alice.0, 1, "the call to alice: {}", to_alice.1);
    assert!(to_alice.1.contains("SIP/2.0 477"), "{}", to_alice.1);
    assert_eq!(to_bob.0, 0, "the call to bob: {}", to_bob.1);
    assert!(to_bob.1.contains("Server: baresip"), "{}", to_bob.1);
    assert!(to_bob.1.contains("@47.0.0.20:5060>"), "{}", to_bob.1);

    // sipsak's OPTIONS through NAT: the report calls it alg-broken for the private address in
    // Via, From and Contact, though the exchange worked (see the module's comment).
    let f = verdict::flows(&report, "udp", "172.16.0.10", Some(5070));
    assert_eq!(f.len(), 1, "{f:#?}");
    assert_eq!(f[0]["verdict"], "alg-broken", "{:#}", f[0]);
    assert_eq!(f[0]["alg_protocol"], "sip", "{:#}", f[0]);
    let found = embedded(f[0]);
    for field in ["Via", "From", "Contact"] {
        assert!(
            found
                .iter()
                .any(|(k, v)| k == field && v.starts_with("172.16.0.10")),
            "{field}: {found:?}"
        );
    }
    // Cut-through: ok, and the client worked.
    verdict::agree(
        &report,
        "OPTIONS cut",
        ("udp", "47.0.0.20", Some(5070)),
        true,
    );
    // baresip's REGISTER through NAT (5060 both sides): alg-broken for its Contact, and a
    // request to that Contact failed.
    let reg = verdict::flows(&report, "udp", "172.16.0.10", Some(5060))
        .into_iter()
        .filter(|f| f["ports"] == serde_json::json!([5060, 5060]))
        .collect::<Vec<_>>();
    assert_eq!(reg.len(), 1, "{reg:#?}");
    assert_eq!(reg[0]["verdict"], "alg-broken", "{:#}", reg[0]);
    let found = embedded(reg[0]);
    assert!(
        found.contains(&("Contact".into(), "172.16.0.10:5060".into())),
        "{found:?}"
    );
    let v = verdict::agree(
        &report,
        "call alice",
        ("udp", "172.16.0.10", Some(5060)),
        false,
    );
    assert!(v.contains(&"alg-broken".to_string()), "{v:?}");
    // bob's flow: the REGISTER and the OPTIONS relayed to the EIP, answered: ok.
    verdict::agree(&report, "call bob", ("udp", "47.0.0.20", Some(5060)), true);
    let bob = verdict::flows(&report, "udp", "47.0.0.20", Some(5060))
        .into_iter()
        .filter(|f| f["ports"] == serde_json::json!([5060, 5060]))
        .collect::<Vec<_>>();
    assert_eq!(bob.len(), 1, "{bob:#?}");
    assert_eq!(bob[0]["verdict"], "ok", "{:#}", bob[0]);
    assert!(bob[0]["forwarded"].as_u64() >= Some(4), "{:#}", bob[0]);
}
