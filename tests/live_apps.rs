//! Real FTP and TFTP software through `eipsim live` (root only): vsftpd and curl, in.tftpd
//! (tftpd-hpa) and tftp (tftp-hpa), in network namespaces behind the simulated gateway. Each
//! case is asserted on what the real client reports (its exit status, the bytes that arrived)
//! and compares eipsim's verdict for the flow (report.json) with it (`verdict::agree`).
//!
//! The clients choose their own ports (`--local-port`, `-P ADDR:PORT`, `tftp -R`) so that each
//! case's flows can be told apart in the report: a passive transfer's data connection takes the
//! next port of its `--local-port` range, the control connection the first. Every command is
//! bounded in time; the namespaces and the servers are removed however a test ends.
//!
//! Run as root under the machine-wide namespace lock:
//! `flock /tmp/eipsim-netns.lock cargo test --test live_apps` (about 11 s).

#[allow(dead_code)]
#[path = "live/apps.rs"]
mod apps;
#[allow(dead_code)]
#[path = "live/fixtures.rs"]
mod fixtures;
#[allow(dead_code)]
#[path = "live/netns.rs"]
mod netns;
#[allow(dead_code)]
#[path = "live/verdict.rs"]
mod verdict;

use apps::*;
use netns::{CUT, Cleanup, ENI, INET};

/// The tools these tests run (in CI they must be there: .ci/run installs them).
const TOOLS: [&str; 4] = ["vsftpd", "in.tftpd", "tftp", "busybox"];

/// `curl` options forcing active mode (PORT, never EPRT) with the data connection to `addr`
/// port `port` of the client.
fn active(addr: &str, port: u16) -> Vec<String> {
    vec![
        "--disable-eprt".into(),
        "-P".into(),
        format!("{addr}:{port}"),
    ]
}

/// FTP without ALG translation. vsftpd on the Internet host; curl on the NAT-mode instance
/// (a), on the cut-through instance (b); and vsftpd on the NAT-mode instance with curl on the
/// Internet (d).
#[test]
fn ftp_active_fails_through_nat_and_works_cut_through() {
    if netns::skip(&TOOLS) {
        return;
    }
    let _one = netns::lock();
    Cleanup::remove_namespaces();
    let mut guard = Cleanup {
        children: Vec::new(),
    };
    // Dropped before `guard`: the servers die before their namespaces go.
    let mut servers = Servers::default();
    let dir = scratch("live-apps-ftp");
    let topo = dir.join("topology.toml");
    std::fs::write(&topo, topology(None)).expect("topology written");
    hosts();
    vsftpd(&mut servers, &dir, INET, INET_IP, 30000);
    vsftpd(&mut servers, &dir, ENI, NAT_IP, 30100);
    let out = dir.join("out");
    start(&mut guard, &topo, &out, &[]);
    lease(&dir);
    let want = content();
    let url = format!("ftp://{INET_IP}/{FILE}");
    let got = dir.join("got");

    // a. NAT client, passive: the 227 reply names the server's own address; the data
    // connection goes out through the EIP like the control connection.
    let pasv = ["--disable-epsv", "--local-port", "40021-40029"];
    let (code, data) = curl(ENI, &url, &got, &pasv);
    assert_eq!(code, 0, "NAT client, passive");
    assert_eq!(data.as_deref(), Some(&want[..]), "NAT client, passive");
    // a. NAT client, active: the PORT argument carries the private address, which is not the
    // control connection's peer (the EIP): vsftpd answers "500 Illegal PORT command" and curl
    // gives up (exit 30, FTP PORT failed); nothing arrives.
    let mut act: Vec<String> = active(NAT_IP, 40120);
    act.extend(["--local-port".into(), "40030".into()]);
    let act_ref: Vec<&str> = act.iter().map(String::as_str).collect();
    let (code, data) = curl(ENI, &url, &got, &act_ref);
    assert_eq!(code, 30, "NAT client, active: PORT refused");
    assert!(data.is_none_or(|d| d.is_empty()), "NAT client, active");

    // b. Cut-through client: the instance holds its EIP, so the PORT address is the peer the
    // server sees; active and passive both work.
    let pasv = ["--disable-epsv", "--local-port", "40031-40039"];
    let (code, data) = curl(CUT, &url, &got, &pasv);
    assert_eq!(code, 0, "cut-through client, passive");
    assert_eq!(data.as_deref(), Some(&want[..]), "cut-through, passive");
    let mut act: Vec<String> = active(CUT_EIP, 40130);
    act.extend(["--local-port".into(), "40040".into()]);
    let act_ref: Vec<&str> = act.iter().map(String::as_str).collect();
    let (code, data) = curl(CUT, &url, &got, &act_ref);
    assert_eq!(code, 0, "cut-through client, active");
    assert_eq!(data.as_deref(), Some(&want[..]), "cut-through, active");

    // d. vsftpd on the NAT-mode instance, curl on the Internet, passive: the 227 reply carries
    // the private address. curl by default ignores the 227's address (--ftp-skip-pasv-ip) and
    // connects to the control connection's (the EIP): it works. Told to use the 227's address
    // (--no-ftp-skip-pasv-ip), it tries the private address, which the Internet cannot reach
    // (no route: the connection is refused locally): it fails (exit 7, cannot connect; curl
    // 7.88's message names the control connection's address, not the one it tried).
    let nat_url = format!("ftp://{NAT_EIP}/{FILE}");
    let pasv = ["--disable-epsv", "--local-port", "40041-40049"];
    let (code, data) = curl(INET, &nat_url, &got, &pasv);
    assert_eq!(code, 0, "server behind NAT, passive, 227 address ignored");
    assert_eq!(data.as_deref(), Some(&want[..]));
    let strict = [
        "--disable-epsv",
        "--no-ftp-skip-pasv-ip",
        "--local-port",
        "40051-40059",
    ];
    let (code, data) = curl(INET, &nat_url, &got, &strict);
    assert_eq!(code, 7, "server behind NAT, passive, 227 address used");
    assert!(data.is_none_or(|d| d.is_empty()));

    let report = stop(&mut guard, &out);
    let tcp = |addr, port| ("tcp", addr, Some(port));
    // a: the control flows and the passive data flow (server port 30000).
    verdict::agree(&report, "a passive control", tcp(NAT_IP, 40021), true);
    verdict::agree(&report, "a passive data", tcp(NAT_IP, 30000), true);
    let v = verdict::agree(&report, "a active control", tcp(NAT_IP, 40030), false);
    assert_eq!(v, ["alg-broken"], "the PORT carried the private address");
    assert!(
        verdict::flows(&report, "tcp", NAT_IP, Some(40120)).is_empty(),
        "no data connection was tried"
    );
    // b: every flow of the cut-through client ok, the active data flow from port 20.
    verdict::agree(&report, "b passive control", tcp(CUT_EIP, 40031), true);
    verdict::agree(&report, "b passive data", tcp(CUT_EIP, 30000), true);
    verdict::agree(&report, "b active control", tcp(CUT_EIP, 40040), true);
    verdict::agree(&report, "b active data", tcp(CUT_EIP, 40130), true);
    verdict::agree(&report, "b active data", tcp(CUT_EIP, 20), true);
    // d: the report calls both control flows alg-broken: the 227 reply carried the VPC
    // address in both. The strict client failed, as the report says. The default curl
    // worked around the broken payload (it never used the address), so its control flow is
    // alg-broken although the transfer succeeded: the report describes the payload, not
    // this client's workaround. Its data connection (to the EIP) is ok.
    let strict = verdict::flows(&report, "tcp", NAT_IP, Some(40051));
    assert!(
        strict.len() == 1
            && strict[0]["findings"]
                .to_string()
                .contains("embedded-address"),
        "the control connection worked and its 227 carried the VPC address: {strict:?}"
    );
    verdict::agree(&report, "d strict control", tcp(NAT_IP, 40051), false);
    assert!(
        verdict::flows(&report, "tcp", NAT_IP, Some(40052)).is_empty(),
        "the data connection to the private address never reached the gateway"
    );
    let v = verdict::flows(&report, "tcp", NAT_IP, Some(40041));
    assert_eq!(v.len(), 1, "{v:?}");
    assert_eq!(v[0]["verdict"], "alg-broken", "{:#}", v[0]);
    verdict::agree(&report, "d data", tcp(NAT_IP, 30100), true);
}

/// FTP with the what-if ALG (`--alg ftp=translate`): the NAT-mode client's active transfer
/// works (the PORT argument is rewritten to the EIP, shortening the segment: the sequence
/// numbers of the rest of the connection are shifted frame by frame), and a client on the
/// Internet that uses the 227 reply's address reaches a server behind NAT.
#[test]
fn ftp_active_works_through_nat_with_the_what_if_alg() {
    if netns::skip(&TOOLS) {
        return;
    }
    let _one = netns::lock();
    Cleanup::remove_namespaces();
    let mut guard = Cleanup {
        children: Vec::new(),
    };
    // Dropped before `guard`: the servers die before their namespaces go.
    let mut servers = Servers::default();
    let dir = scratch("live-apps-ftp-alg");
    let topo = dir.join("topology.toml");
    std::fs::write(&topo, topology(None)).expect("topology written");
    hosts();
    vsftpd(&mut servers, &dir, INET, INET_IP, 30000);
    vsftpd(&mut servers, &dir, ENI, NAT_IP, 30100);
    let out = dir.join("out");
    start(&mut guard, &topo, &out, &["--alg", "ftp=translate"]);
    let want = content();
    let url = format!("ftp://{INET_IP}/{FILE}");
    let got = dir.join("got");

    // c. NAT client, active: "PORT 172,16,0,10,..." leaves as "PORT 47,0,0,10,..." (two bytes
    // shorter); vsftpd accepts it and connects from port 20 to the EIP, which the gateway
    // forwards to the instance. Two transfers on one control connection: the second PORT and
    // everything after the first depend on the shifted sequence numbers.
    let mut act: Vec<String> = active(NAT_IP, 40220);
    act.extend(["--local-port".into(), "40061".into()]);
    let act_ref: Vec<&str> = act.iter().map(String::as_str).collect();
    let (code, data) = curl(ENI, &url, &got, &act_ref);
    assert_eq!(code, 0, "NAT client, active, translated");
    assert_eq!(data.as_deref(), Some(&want[..]), "the file arrived intact");
    let got2 = dir.join("got2");
    let mut two = act.clone();
    two[2] = format!("{NAT_IP}:40221-40229");
    two[4] = "40062".into();
    two.extend([url.clone(), "-o".into(), got2.to_str().unwrap().to_string()]);
    let two_ref: Vec<&str> = two.iter().map(String::as_str).collect();
    let (code, data) = curl(ENI, &url, &got, &two_ref);
    assert_eq!(code, 0, "two active transfers on one control connection");
    assert_eq!(data.as_deref(), Some(&want[..]));
    assert_eq!(std::fs::read(&got2).ok().as_deref(), Some(&want[..]));

    // The client's numbers stayed its own: the server's acknowledgements of the shortened
    // stream were mapped back, so both control connections close cleanly (no socket left
    // waiting for the acknowledgement of its last bytes or its FIN).
    let t = std::time::Instant::now();
    loop {
        let o = netns::run_ns(
            5,
            ENI,
            &[
                "ss",
                "-Htan",
                "state",
                "fin-wait-1",
                "state",
                "last-ack",
                "state",
                "closing",
                "( sport = :40061 or sport = :40062 )",
            ],
        );
        let left = String::from_utf8_lossy(&o.stdout).trim().to_string();
        if o.status.success() && left.is_empty() {
            break;
        }
        assert!(
            t.elapsed() < std::time::Duration::from_secs(3),
            "control connections not closed: {left} {o:?}"
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }

    // The 227 reply of a server behind NAT is rewritten to the EIP: a client that uses its
    // address connects.
    let nat_url = format!("ftp://{NAT_EIP}/{FILE}");
    let strict = [
        "--disable-epsv",
        "--no-ftp-skip-pasv-ip",
        "--local-port",
        "40071-40079",
    ];
    let (code, data) = curl(INET, &nat_url, &got, &strict);
    assert_eq!(code, 0, "server behind NAT, 227 address used, translated");
    assert_eq!(data.as_deref(), Some(&want[..]));

    let report = stop(&mut guard, &out);
    let tcp = |addr, port| ("tcp", addr, Some(port));
    for (what, port) in [("c control", 40061), ("c two", 40062), ("227", 40071)] {
        let v = verdict::agree(&report, what, tcp(NAT_IP, port), true);
        assert_eq!(v, ["translated"], "{what}");
    }
    verdict::agree(&report, "c data", tcp(NAT_IP, 40220), true);
    verdict::agree(&report, "c data", tcp(NAT_IP, 20), true);
    verdict::agree(&report, "227 data", tcp(NAT_IP, 30100), true);
    assert!(
        report["frames"]["dropped"] == 0,
        "nothing dropped: {}",
        report["frames"]
    );
}

/// A basic security group with no ingress rule (`sg-app` on the NAT-mode ENI).
const GROUP_CLOSED: &str = r#"
[[security_group]]
id = "sg-app"
type = "basic"
"#;

/// The same group, with an ingress rule admitting the Internet host's UDP to any port.
const GROUP_UDP: &str = r#"
[[security_group]]
id = "sg-app"
type = "basic"

[[security_group.rule]]
direction = "ingress"
policy = "accept"
priority = 1
protocol = "udp"
port_range = "1/65535"
cidr = "198.51.100.7/32"
"#;

/// TFTP with tftpd-hpa and tftp-hpa through a NAT-mode EIP, the ENI in a stateful basic
/// security group: with no ingress rule, the server's DATA (from a new port) is no part of the
/// session the request opened and is dropped; with a rule admitting it, the transfer works, and
/// so does the server on the NAT-mode instance.
#[test]
fn tftp_through_nat_and_a_stateful_group() {
    if netns::skip(&TOOLS) {
        return;
    }
    let _one = netns::lock();
    Cleanup::remove_namespaces();
    let mut guard = Cleanup {
        children: Vec::new(),
    };
    // Dropped before `guard`: the servers die before their namespaces go.
    let mut servers = Servers::default();
    let dir = scratch("live-apps-tftp");
    let topo = dir.join("topology.toml");
    std::fs::write(&topo, topology(Some(GROUP_CLOSED))).expect("topology written");
    hosts();
    tftpd(&mut servers, &dir, INET, INET_IP, "40600:40609");
    tftpd(&mut servers, &dir, ENI, NAT_IP, "40500:40509");
    let want = content();
    let got = dir.join("got");

    // b. The client on the NAT-mode instance: its request to port 69 leaves (egress is
    // accepted and opens a session for that 5-tuple); the DATA comes from the server's new
    // port, matches no session, and the group's default drops it. The client times out.
    let out = dir.join("out-closed");
    start(&mut guard, &topo, &out, &[]);
    let data = tftp_get(ENI, INET_IP, "40700:40700", &got, 3);
    assert!(data.is_none(), "no DATA got through the closed group");
    let report = stop(&mut guard, &out);
    let udp = |addr, port| ("udp", addr, Some(port));
    verdict::agree(&report, "tftp b, closed", udp(NAT_IP, 40700), false);
    // The request's flow is alg-broken (what it announced, the answer from a new port, was
    // dropped); each answer (the server retried from a new port per retransmitted request) is
    // a flow dropped `security-group`.
    let (request, data) = request_and_data(&report, 40700);
    assert_eq!(request["verdict"], "alg-broken", "{request:#}");
    assert!(!data.is_empty(), "the DATA's flow is in the report");
    for f in data {
        assert_eq!(f["verdict"], "dropped", "{f:#}");
        assert!(f["forwarded"] == 0, "{f:#}");
        assert!(f["dropped"]["security-group"].as_u64() > Some(0), "{f:#}");
    }

    // With --no-alg the same failure has no ALG verdict: the request's flow is ok, the
    // answers dropped, and no finding is made.
    let out = dir.join("out-no-alg");
    start(&mut guard, &topo, &out, &["--no-alg"]);
    let data = tftp_get(ENI, INET_IP, "40703:40703", &got, 2);
    assert!(data.is_none(), "no DATA got through the closed group");
    let report = stop(&mut guard, &out);
    verdict::agree(&report, "tftp b, --no-alg", udp(NAT_IP, 40703), false);
    let (request, data) = request_and_data(&report, 40703);
    assert_eq!(request["verdict"], "ok", "{request:#}");
    assert!(data.iter().all(|f| f["verdict"] == "dropped"), "{data:?}");
    assert!(
        report["flows"].as_array().unwrap().iter().all(|f| f
            .get("findings")
            .is_none_or(|x| x.as_array().is_some_and(Vec::is_empty))),
        "no finding with --no-alg"
    );

    // The same with an ingress rule for the server's UDP: the DATA is admitted, the file
    // arrives.
    std::fs::write(&topo, topology(Some(GROUP_UDP))).expect("topology written");
    let out = dir.join("out-open");
    start(&mut guard, &topo, &out, &[]);
    let data = tftp_get(ENI, INET_IP, "40701:40701", &got, 3);
    assert_eq!(data.as_deref(), Some(&want[..]), "tftp b, admitted");
    // a. The server on the NAT-mode instance, the client on the Internet (the group admits
    // its request): the server answers from a new port, which the gateway's 1:1 NAT sends out
    // from the EIP like any other; the client takes the new port as the transfer's and the
    // file arrives.
    let data = tftp_get(INET, NAT_EIP, "40702:40702", &got, 3);
    assert_eq!(data.as_deref(), Some(&want[..]), "tftp a");
    let report = stop(&mut guard, &out);
    assert_eq!(report["frames"]["dropped"], 0, "{}", report["frames"]);
    // The requests' flows are alg-at-risk (TFTP is named unsupported in NAT mode, and nothing
    // failed); the answers from the servers' new ports are flows of their own, ok.
    for (what, port, server) in [("b", 40701, 40600..=40609), ("a", 40702, 40500..=40509)] {
        let v = verdict::agree(&report, what, udp(NAT_IP, port), true);
        assert!(v.contains(&"alg-at-risk".to_string()), "{what}: {v:?}");
        let (request, data) = request_and_data(&report, port);
        assert_eq!(request["verdict"], "alg-at-risk", "{request:#}");
        assert!(!data.is_empty(), "tftp {what}: the DATA's flow");
        for f in data {
            assert_eq!(f["verdict"], "ok", "{f:#}");
            assert!(
                server.contains(&f["ports"][0].as_u64().unwrap())
                    || server.contains(&f["ports"][1].as_u64().unwrap()),
                "from the server's port range: {f:#}"
            );
        }
    }
}

/// The UDP flows of the NAT-mode instance with client port `port`: the request's (to port 69)
/// and the others (the server's answers from its new ports).
fn request_and_data(
    report: &serde_json::Value,
    port: u16,
) -> (&serde_json::Value, Vec<&serde_json::Value>) {
    let (request, data): (Vec<_>, Vec<_>) = verdict::flows(report, "udp", NAT_IP, Some(port))
        .into_iter()
        .partition(|f| {
            f["ports"]
                .as_array()
                .is_some_and(|p| p.contains(&69.into()))
        });
    assert_eq!(request.len(), 1, "one request flow: {request:?}");
    (request[0], data)
}
