//! The services a guest answers on one NIC (`services` of `[[instance]]`): a TCP listener per
//! port that completes the handshake and answers HTTP (a request starting `GET `, `HEAD ` or
//! `POST `) or echoes, a UDP echo per port. ICMP echo is answered by the interface itself.
//! A TCP port without a listener answers RST and a UDP port without a socket ICMP port
//! unreachable, as smoltcp does (and a Linux guest).

use smoltcp::iface::{SocketHandle, SocketSet};
use smoltcp::socket::{tcp, udp};

use crate::model::guest_cfg::Service;

/// Listening sockets kept ready per TCP port (each takes one connection).
const LISTENERS: usize = 2;
/// Sockets per TCP port at most: past it a new SYN is dropped unanswered (a Linux listener
/// whose backlog is full does the same).
const MAX_PER_PORT: usize = 1024;
/// Buffer bytes per socket and direction.
const BUFFER: usize = 4096;
/// A half-open connection (SYN-ACK sent, no valid ACK) is forgotten after this long, in
/// capture nanoseconds: Linux gives up after five SYN-ACK retransmissions (1 + 2 + 4 + 8 + 16
/// + 32 s).
pub const SYN_RECV_NS: i64 = 63_000_000_000;

/// What a TCP connection does with what it receives.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Talk {
    /// Listening.
    Fresh,
    /// Connected, nothing received yet.
    Open,
    /// Echoes.
    Echo,
    /// Answered HTTP; closing.
    Answered,
}

/// One TCP socket of a port: its handle, what its connection does, and since when it is
/// half-open (capture nanoseconds).
type Conn = (SocketHandle, Talk, Option<i64>);

/// The sockets of one NIC's services.
#[derive(Default)]
pub struct Services {
    /// Per TCP port: its sockets, what each connection does and since when it is half-open.
    tcp: Vec<(u16, Vec<Conn>)>,
    udp: Vec<SocketHandle>,
    /// The body of the HTTP answer.
    banner: String,
    /// Connections completed (reached Established) so far.
    pub accepted: u64,
}

fn tcp_socket() -> tcp::Socket<'static> {
    tcp::Socket::new(
        tcp::SocketBuffer::new(vec![0; BUFFER]),
        tcp::SocketBuffer::new(vec![0; BUFFER]),
    )
}

impl Services {
    /// Opens the sockets of `services` in `sockets`; `banner` is the body of HTTP answers.
    pub fn new(services: &[Service], sockets: &mut SocketSet<'static>, banner: String) -> Services {
        let mut s = Services {
            banner,
            ..Services::default()
        };
        for svc in services {
            match *svc {
                Service::Tcp(port) => {
                    if s.tcp.iter().any(|(p, _)| *p == port) {
                        continue;
                    }
                    s.tcp.push((port, Vec::new()));
                }
                Service::Udp(port) => {
                    let mut u = udp::Socket::new(
                        udp::PacketBuffer::new(
                            vec![udp::PacketMetadata::EMPTY; 16],
                            vec![0; BUFFER],
                        ),
                        udp::PacketBuffer::new(
                            vec![udp::PacketMetadata::EMPTY; 16],
                            vec![0; BUFFER],
                        ),
                    );
                    if u.bind(port).is_ok() {
                        s.udp.push(sockets.add(u));
                    }
                }
                Service::Icmp => {}
            }
        }
        s.refill(sockets);
        s
    }

    /// Keeps [`LISTENERS`] sockets listening on each TCP port: a closed socket listens again,
    /// a new one is added while the port has fewer than [`MAX_PER_PORT`].
    fn refill(&mut self, sockets: &mut SocketSet<'static>) {
        for (port, socks) in &mut self.tcp {
            let mut listening = 0;
            for (h, talk, _) in socks.iter_mut() {
                let s = sockets.get_mut::<tcp::Socket>(*h);
                if s.state() == tcp::State::Closed {
                    let _ = s.listen(*port);
                    *talk = Talk::Fresh;
                }
                if s.is_listening() {
                    listening += 1;
                }
            }
            while listening < LISTENERS && socks.len() < MAX_PER_PORT {
                let mut s = tcp_socket();
                if s.listen(*port).is_err() {
                    break;
                }
                socks.push((sockets.add(s), Talk::Fresh, None));
                listening += 1;
            }
        }
    }

    /// Whether TCP port `port` is served and holds no free listener and no room for one: a
    /// new SYN to it is dropped unanswered.
    pub fn saturated(&self, port: u16, sockets: &SocketSet<'static>) -> bool {
        self.tcp.iter().any(|(p, socks)| {
            *p == port
                && socks.len() >= MAX_PER_PORT
                && !socks
                    .iter()
                    .any(|(h, _, _)| sockets.get::<tcp::Socket>(*h).is_listening())
        })
    }

    /// Forgets the half-open connections older than [`SYN_RECV_NS`] at `now_ns` (before the
    /// interface is polled, so that no retransmission leaves after it): each socket listens
    /// again, without a word to the peer, as Linux drops a request that never completed.
    pub fn expire(&mut self, sockets: &mut SocketSet<'static>, now_ns: i64) {
        for (port, socks) in &mut self.tcp {
            for (h, talk, since) in socks.iter_mut() {
                if sockets.get::<tcp::Socket>(*h).state() == tcp::State::SynReceived {
                    let t = *since.get_or_insert(now_ns);
                    if now_ns.saturating_sub(t) >= SYN_RECV_NS {
                        sockets.remove(*h);
                        let mut fresh = tcp_socket();
                        let _ = fresh.listen(*port);
                        *h = sockets.add(fresh);
                        *talk = Talk::Fresh;
                        *since = None;
                    }
                } else {
                    *since = None;
                }
            }
        }
    }

    /// One step of the applications: read what arrived, answer or echo it, close what the
    /// peer closed, refill the listeners. Says whether anything was queued to send.
    pub fn serve(&mut self, sockets: &mut SocketSet<'static>) -> bool {
        let mut busy = false;
        let mut buf = [0u8; 2048];
        for (_, socks) in &mut self.tcp {
            for (h, talk, _) in socks.iter_mut() {
                let s = sockets.get_mut::<tcp::Socket>(*h);
                if *talk == Talk::Fresh
                    && !s.is_listening()
                    && s.state() != tcp::State::SynReceived
                    && s.state() != tcp::State::Closed
                {
                    self.accepted += 1;
                    *talk = Talk::Open;
                }
                while s.can_recv() && s.may_send() {
                    let room = s.send_capacity() - s.send_queue();
                    let n = match s.recv_slice(&mut buf[..room.min(2048)]) {
                        Ok(n) if n > 0 => n,
                        _ => break,
                    };
                    if *talk == Talk::Open {
                        let http = [&b"GET "[..], b"HEAD ", b"POST "]
                            .iter()
                            .any(|m| buf[..n].starts_with(m));
                        if http {
                            let head = buf[..n].starts_with(b"HEAD ");
                            let answer = format!(
                                "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{}",
                                self.banner.len(),
                                if head { "" } else { &self.banner }
                            );
                            let _ = s.send_slice(answer.as_bytes());
                            s.close();
                            *talk = Talk::Answered;
                            busy = true;
                            break;
                        }
                        *talk = Talk::Echo;
                    }
                    if *talk == Talk::Echo && s.send_slice(&buf[..n]).is_ok() {
                        busy = true;
                    }
                }
                if *talk == Talk::Answered {
                    // Drain what else the client sends.
                    while s.recv_slice(&mut buf).is_ok_and(|n| n > 0) {}
                }
                // The peer closed its side: close ours.
                if s.state() == tcp::State::CloseWait {
                    s.close();
                    busy = true;
                }
            }
        }
        for h in &self.udp {
            let s = sockets.get_mut::<udp::Socket>(*h);
            while let Ok((n, meta)) = s.recv_slice(&mut buf) {
                let reply = udp::UdpMetadata {
                    endpoint: meta.endpoint,
                    local_address: meta.local_address,
                    meta: Default::default(),
                };
                if s.send_slice(&buf[..n], reply).is_ok() {
                    busy = true;
                }
            }
        }
        self.refill(sockets);
        busy
    }
}
