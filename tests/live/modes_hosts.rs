//! Hosts of the live mode tests: the namespaces as each guest OS configures itself, servers
//! stopped with SIGTERM (so that their own children stop too), and the clients' results read
//! from what they print.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::netns::{INET, INET_LINK, must_ns, ns, run_ns, veth, wait};

/// The Internet host's address.
pub const INET_IP: &str = "198.51.100.7";

/// The head of every topology of these tests: the VPC, its gateway and an authorised account.
pub const HEAD: &str = r#"region = "eu-central-1"

[account]
multi_eip_authorized = true

[vpc]
id = "vpc-live"
cidr = "172.16.0.0/12"
gateway_mac = "ee:ff:ff:ff:ff:ff"
internet_mac = "02:00:00:00:00:01"
"#;

/// A fresh scratch folder `name` under the target's temporary folder, holding `topology` as
/// `topology.toml`: (the folder, the topology's path).
pub fn scratch(name: &str, topology: &str) -> (PathBuf, PathBuf) {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("scratch dir");
    let topo = dir.join("topology.toml");
    std::fs::write(&topo, topology).expect("topology written");
    (dir, topo)
}

/// The Internet host's namespace: 198.51.100.7/24, the EIPs on-link (it asks ARP for an EIP,
/// which eipsim answers). No other route: a private address of the VPC is unreachable from it,
/// as from any host of the Internet.
pub fn internet_host() {
    veth(INET, INET_LINK, "02:00:00:00:00:01");
    must_ns(
        INET,
        &["ip", "addr", "add", "198.51.100.7/24", "dev", "eth0"],
    );
    must_ns(INET, &["ip", "route", "add", "47.0.0.0/24", "dev", "eth0"]);
}

/// An instance's namespace `name` behind root link `link` with its ENI's `mac`, the addresses
/// `addrs` (`ADDR/LEN`, as its OS configures them in its mode) and a default route via `gw`.
pub fn instance(name: &str, link: &str, mac: &str, addrs: &[&str], gw: &str) {
    veth(name, link, mac);
    for a in addrs {
        must_ns(name, &["ip", "addr", "add", a, "dev", "eth0"]);
    }
    must_ns(
        name,
        &[
            "ip", "route", "add", "default", "via", gw, "dev", "eth0", "onlink",
        ],
    );
}

/// Long-running servers in namespaces, each under `timeout` (so none outlives its bound):
/// stopped with SIGTERM when dropped (coreutils `timeout` passes it to the server's whole
/// process group), killed if still there a second later. Declare it after the test's
/// `Cleanup` so that it is dropped first, while the namespaces still exist.
#[derive(Default)]
pub struct Servers(pub Vec<Child>);

impl Servers {
    /// Starts `args` in namespace `name` for at most `secs` seconds, its stdout and stderr
    /// written to `log`.
    pub fn start(&mut self, name: &str, secs: u32, args: &[&str], log: &Path) {
        let mut v = ns(name, &["timeout", &secs.to_string()]);
        v.extend(args.iter().map(|s| s.to_string()));
        let out = std::fs::File::create(log).expect("log file");
        let child = Command::new(&v[0])
            .args(&v[1..])
            .stdin(Stdio::null())
            .stdout(out.try_clone().expect("log file"))
            .stderr(out)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {args:?}: {e}"));
        self.0.push(child);
    }
}

impl Drop for Servers {
    fn drop(&mut self) {
        for c in &mut self.0 {
            let _ = Command::new("kill")
                .args(["-TERM", &c.id().to_string()])
                .output();
        }
        for c in &mut self.0 {
            wait(c, Duration::from_secs(1));
            let _ = c.wait();
        }
    }
}

/// Starts `python3 -m http.server 8000` in `name`, serving a folder whose `index.html` is
/// `body`, and waits (at most 10 s) until it answers inside its namespace on `addr`.
pub fn http_server(servers: &mut Servers, dir: &Path, name: &str, addr: &str, body: &str) {
    let root = dir.join(format!("www-{name}"));
    std::fs::create_dir_all(&root).expect("www folder");
    std::fs::write(root.join("index.html"), body).expect("index.html");
    let log = dir.join(format!("http-{name}.log"));
    let r = root.to_str().unwrap();
    let args = [super::netns::python(), "-m", "http.server", "8000"];
    servers.start(name, 60, &[&args[..], &["--directory", r]].concat(), &log);
    let t = Instant::now();
    let url = format!("http://{addr}:8000/");
    while !run_ns(3, name, &["curl", "-s", "--max-time", "1", &url])
        .status
        .success()
    {
        assert!(
            t.elapsed() < Duration::from_secs(10),
            "http.server in {name} did not start: {}",
            std::fs::read_to_string(&log).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// What one curl saw: whether it got a whole answer, the body, and its local port (0 when it
/// never connected).
#[derive(Debug, Clone)]
pub struct Fetch {
    /// curl exited 0.
    pub ok: bool,
    /// The body received.
    pub body: String,
    /// The client's local TCP port.
    pub port: u16,
}

/// `curl` in namespace `name` with `extra` options and a time limit of `max` seconds.
pub fn fetch(name: &str, url: &str, max: &str, extra: &[&str]) -> Fetch {
    let marker = "\n@@local_port=";
    let w = format!("{marker}%{{local_port}}");
    let mut args = vec!["curl", "-s", "--max-time", max, "-w", &w];
    args.extend_from_slice(extra);
    args.push(url);
    let o = run_ns(10, name, &args);
    let text = String::from_utf8_lossy(&o.stdout).to_string();
    let (body, port) = text.rsplit_once(marker).unwrap_or((&text, "0"));
    Fetch {
        ok: o.status.success(),
        body: body.to_string(),
        port: port.trim().parse().unwrap_or(0),
    }
}

/// `ping -n -c COUNT -W 1 ADDR` in `name`: (exit status 0, the TTLs of the replies, the text).
pub fn ping(name: &str, addr: &str, count: u32) -> (bool, Vec<u8>, String) {
    let c = count.to_string();
    let o = run_ns(
        count + 5,
        name,
        &["ping", "-n", "-c", &c, "-i", "0.2", "-W", "1", addr],
    );
    let text = String::from_utf8_lossy(&o.stdout).to_string();
    let ttls = text
        .lines()
        .filter(|l| l.contains("bytes from"))
        .filter_map(|l| l.split("ttl=").nth(1))
        .filter_map(|s| s.split_whitespace().next()?.parse().ok())
        .collect();
    (o.status.success(), ttls, text)
}

/// Ends a run of `eipsim live` that has done its work: SIGTERM (it writes its outputs and
/// exits 0) 300 ms after the last exchange (the frames still in flight are read), then its
/// report (at most 20 s).
pub fn stop(eipsim: Child, out: &Path) -> serde_json::Value {
    std::thread::sleep(Duration::from_millis(300));
    let _ = Command::new("kill")
        .args(["-TERM", &eipsim.id().to_string()])
        .output();
    super::netns::finished(eipsim, out, Duration::from_secs(20))
}
