//! Real servers and clients for the application tests (tests/live_apps.rs): the topology, the
//! hosts' namespaces, vsftpd and curl (FTP), in.tftpd and tftp (TFTP), and a run of
//! `eipsim live` ended by SIGTERM once the clients are done.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use super::netns::{self, CUT, CUT_LINK, Cleanup, ENI, ENI_LINK, INET, must, must_ns, run_ns};

/// The Internet host's address.
pub const INET_IP: &str = "198.51.100.7";
/// The NAT-mode ENI's private IP and its EIP.
pub const NAT_IP: &str = "172.16.0.10";
/// The NAT-mode ENI's EIP.
pub const NAT_EIP: &str = "47.0.0.10";
/// The cut-through ENI's EIP (its instance holds it).
pub const CUT_EIP: &str = "47.0.0.20";

/// A NAT-mode ENI (`eni-web0`) and a cut-through one (`eni-cut`) on two instances; `groups`,
/// when given, is a `[[security_group]]` table `sg-app` that `eni-web0` is put in.
pub fn topology(groups: Option<&str>) -> String {
    let (member, defs) = match groups {
        Some(g) => ("security_groups = [\"sg-app\"]\n", g),
        None => ("", ""),
    };
    format!(
        r#"region = "eu-central-1"

[vpc]
id = "vpc-live"
cidr = "172.16.0.0/12"
gateway_mac = "ee:ff:ff:ff:ff:ff"
internet_mac = "02:00:00:00:00:01"

[[instance]]
id = "i-web"
family = "ecs.g5"
dhcp = false

[[instance]]
id = "i-app"
family = "ecs.g5"
dhcp = true
{defs}
[[eni]]
id = "eni-web0"
kind = "primary"
mac = "00:16:3e:00:00:10"
primary_ip = "172.16.0.10"
instance = "i-web"
{member}
[[eni]]
id = "eni-cut"
kind = "secondary"
mac = "00:16:3e:00:01:10"
primary_ip = "172.16.1.10"
instance = "i-app"

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
"#
    )
}

/// A fresh scratch folder `name` under the target's temporary folder.
pub fn scratch(name: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("scratch dir");
    dir
}

/// The three hosts: the Internet's (198.51.100.7/24, the EIPs on-link: it asks ARP for them),
/// the NAT-mode instance (its private IP, default route via a VPC address eipsim answers ARP
/// for) and the cut-through instance (no address: it takes its EIP from eipsim's DHCP server,
/// [`lease`]).
pub fn hosts() {
    netns::veth(INET, netns::INET_LINK, "02:00:00:00:00:01");
    must_ns(
        INET,
        &["ip", "addr", "add", "198.51.100.7/24", "dev", "eth0"],
    );
    must_ns(INET, &["ip", "route", "add", "47.0.0.0/24", "dev", "eth0"]);
    netns::veth(ENI, ENI_LINK, "00:16:3e:00:00:10");
    must_ns(ENI, &["ip", "addr", "add", "172.16.0.10/12", "dev", "eth0"]);
    must_ns(ENI, &["ip", "route", "add", "default", "via", "172.16.0.1"]);
    netns::veth(CUT, CUT_LINK, "00:16:3e:00:01:10");
}

/// The cut-through instance takes its lease with `busybox udhcpc` (eipsim must be running):
/// its EIP, /24, the router the first address of it.
pub fn lease(dir: &Path) {
    let o = super::fixtures::udhcpc(dir);
    assert!(o.status.success(), "udhcpc got no lease: {o:?}");
    let leased = std::fs::read_to_string(dir.join("leased")).expect("the lease");
    assert!(leased.starts_with("47.0.0.20 "), "leased: {leased}");
}

/// Starts `eipsim live` on both ENIs with `extra` arguments (no `--duration`: [`stop`] ends
/// it), and waits until its channels are open.
pub fn start(guard: &mut Cleanup, topo: &Path, out: &Path, extra: &[&str]) {
    let eipsim = netns::start(
        topo,
        out,
        &[("eni-web0", ENI_LINK), ("eni-cut", CUT_LINK)],
        extra,
    );
    guard.children.insert(0, eipsim);
    std::thread::sleep(Duration::from_millis(500));
    if let Ok(Some(s)) = guard.children[0].try_wait() {
        let mut e = String::new();
        if let Some(mut err) = guard.children[0].stderr.take() {
            let _ = std::io::Read::read_to_string(&mut err, &mut e);
        }
        panic!("eipsim live ended early ({s}): {e}");
    }
}

/// Ends the run [`start`] began (SIGTERM) and returns its report.
pub fn stop(guard: &mut Cleanup, out: &Path) -> serde_json::Value {
    let eipsim = guard.children.remove(0);
    must(&["kill", "-TERM", &eipsim.id().to_string()]);
    netns::finished(eipsim, out, Duration::from_secs(15))
}

/// The servers a test started, each in a process group of its own, killed whole when
/// dropped: a server's children (vsftpd's sessions, in.tftpd's per-transfer processes, which
/// go on retransmitting to a client that gave up) go with it, and none outlives the test
/// holding the namespace lock's file open.
#[derive(Default)]
pub struct Servers(Vec<std::process::Child>);

impl Drop for Servers {
    fn drop(&mut self) {
        for c in &mut self.0 {
            let group = format!("-{}", c.id());
            let _ = Command::new("kill").args(["-KILL", "--", &group]).status();
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// Starts a server (`args`, run in namespace `ns`, its output in `log`) in a process group of
/// its own (`ip netns exec` replaces itself with the server).
fn server(servers: &mut Servers, ns: &str, args: &[&str], log: &Path) {
    use std::os::unix::process::CommandExt;
    let log = std::fs::File::create(log).expect("server log");
    let child = Command::new("ip")
        .args(["netns", "exec", ns])
        .args(args)
        .process_group(0)
        .stdin(Stdio::null())
        .stdout(log.try_clone().expect("log"))
        .stderr(log)
        .spawn()
        .unwrap_or_else(|e| panic!("{args:?} started: {e}"));
    servers.0.push(child);
}

/// Polls `ready` (at most 10 s) until it holds; panics with `log`'s content else.
fn wait_ready(what: &str, log: &Path, mut ready: impl FnMut() -> bool) {
    let t = Instant::now();
    while !ready() {
        assert!(
            t.elapsed() < Duration::from_secs(10),
            "{what} did not start: {}",
            std::fs::read_to_string(log).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The file every server offers and its content.
pub const FILE: &str = "hello.txt";

/// The content of [`FILE`]: long enough to take several segments (TFTP: several blocks).
pub fn content() -> Vec<u8> {
    (0..3000u32)
        .flat_map(|i| format!("line {i} of the file eipsim carries\n").into_bytes())
        .take(70_000)
        .collect()
}

/// vsftpd in namespace `ns` on `addr`:21, in the foreground, anonymous read-only access to a
/// folder holding [`FILE`]; active mode (PORT, from port 20) and passive mode (PASV, data on
/// `pasv_port` only) both enabled. A PORT whose address is not the control connection's peer
/// is refused (`port_promiscuous` is off by default). Returns once it answers.
pub fn vsftpd(servers: &mut Servers, dir: &Path, ns: &str, addr: &str, pasv_port: u16) {
    let root = dir.join(format!("ftp-{ns}"));
    let empty = dir.join(format!("ftp-empty-{ns}"));
    std::fs::create_dir_all(&root).expect("ftp root");
    std::fs::create_dir_all(&empty).expect("empty dir");
    std::fs::write(root.join(FILE), content()).expect("file written");
    let conf = dir.join(format!("vsftpd-{ns}.conf"));
    std::fs::write(
        &conf,
        format!(
            "listen=YES\nbackground=NO\nlisten_address={addr}\nanonymous_enable=YES\n\
             local_enable=NO\nwrite_enable=NO\nno_anon_password=YES\nanon_root={}\n\
             secure_chroot_dir={}\nallow_writeable_chroot=YES\nport_enable=YES\n\
             pasv_enable=YES\nconnect_from_port_20=YES\npasv_min_port={pasv_port}\n\
             pasv_max_port={pasv_port}\nxferlog_enable=NO\n",
            root.display(),
            empty.display()
        ),
    )
    .expect("vsftpd.conf written");
    let log = dir.join(format!("vsftpd-{ns}.log"));
    server(servers, ns, &["vsftpd", conf.to_str().unwrap()], &log);
    let url = format!("ftp://{addr}/");
    wait_ready("vsftpd", &log, || {
        run_ns(3, ns, &["curl", "-s", "--max-time", "1", "-l", &url])
            .status
            .success()
    });
}

/// in.tftpd (tftpd-hpa) in namespace `ns` on `addr`:69, in the foreground, serving a folder
/// holding [`FILE`] (`--secure`), each transfer from a port of `ports` (`A:B`). Returns once it
/// answers.
pub fn tftpd(servers: &mut Servers, dir: &Path, ns: &str, addr: &str, ports: &str) {
    let root = dir.join(format!("tftp-{ns}"));
    std::fs::create_dir_all(&root).expect("tftp root");
    std::fs::write(root.join(FILE), content()).expect("file written");
    let log = dir.join(format!("tftpd-{ns}.log"));
    let address = format!("{addr}:69");
    server(
        servers,
        ns,
        &[
            "in.tftpd",
            "--foreground",
            "--listen",
            "--address",
            &address,
            "--port-range",
            ports,
            "--secure",
            root.to_str().unwrap(),
        ],
        &log,
    );
    let probe = dir.join(format!("probe-{ns}"));
    wait_ready("in.tftpd", &log, || {
        tftp_get(ns, addr, "40990:40999", &probe, 2).as_deref() == Some(&content()[..])
    });
}

/// `curl` in namespace `ns` fetching `url` into `to` with `args` (at most 5 s): its exit code
/// and what arrived (none when nothing was written).
pub fn curl(ns: &str, url: &str, to: &Path, args: &[&str]) -> (i32, Option<Vec<u8>>) {
    let _ = std::fs::remove_file(to);
    let mut v = vec!["curl", "-sS", "--max-time", "5", "-o", to.to_str().unwrap()];
    v.extend_from_slice(args);
    v.push(url);
    let o = run_ns(10, ns, &v);
    println!(
        "{ns}: curl {args:?} {url}: {:?} {}",
        o.status.code(),
        String::from_utf8_lossy(&o.stderr)
    );
    (o.status.code().unwrap_or(-1), std::fs::read(to).ok())
}

/// tftp-hpa in namespace `ns` fetching [`FILE`] from `host` into `to`, its own port in `ports`
/// (`A:B`), giving up after `secs` seconds without an answer (retransmissions each second):
/// the file's content, when it arrived. tftp-hpa exits 0 whatever happens and creates the
/// file before the first block: an empty file is a failure.
pub fn tftp_get(ns: &str, host: &str, ports: &str, to: &Path, secs: u32) -> Option<Vec<u8>> {
    let _ = std::fs::remove_file(to);
    let cmds = format!(
        "binary\nrexmt 1\ntimeout {secs}\nget {FILE} {}\nquit\n",
        to.display()
    );
    let v = netns::ns(ns, &["tftp", "-R", ports, host]);
    let mut c = Command::new("timeout");
    c.arg((secs + 5).to_string())
        .args(&v)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = c.spawn().expect("tftp started");
    std::io::Write::write_all(&mut child.stdin.take().expect("stdin"), cmds.as_bytes())
        .expect("tftp commands written");
    let o = child.wait_with_output().expect("tftp ended");
    println!(
        "{ns}: tftp {host} -R {ports}: {:?} {}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout).replace("tftp> ", "")
    );
    std::fs::read(to).ok().filter(|d| !d.is_empty())
}
