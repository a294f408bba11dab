//! RTSP (RFC 2326): the request URL and the `Content-Base` / `Content-Location` URLs (a host
//! given as an address), and the `Transport` header's `destination`, `source`, `client_port` and
//! `server_port` parameters.

use std::net::Ipv4Addr;

use super::{Embedded, Field};

/// Whether a payload starts as an RTSP message.
pub fn looks_like_rtsp(p: &[u8]) -> bool {
    p.starts_with(b"RTSP/1.0 ")
        || p.windows(9).take(64).any(|w| w == b" RTSP/1.0")
            && p.iter()
                .take(16)
                .all(|b| b.is_ascii_graphic() || *b == b' ')
}

/// The address (and port) of an `rtsp://host[:port]/...` URL whose host is an IPv4 address.
fn url_addr(url: &str) -> Option<(Ipv4Addr, Option<u16>)> {
    let rest = url
        .strip_prefix("rtsp://")
        .or_else(|| url.strip_prefix("rtspu://"))?;
    let hostport = rest.split(['/', '?']).next()?;
    let (host, port) = match hostport.rsplit_once(':') {
        Some((h, p)) => (h, p.parse().ok()),
        None => (hostport, None),
    };
    Some((host.parse().ok()?, port))
}

/// Every address and port an RTSP message's head carries.
pub fn scan(payload: &[u8]) -> Vec<Embedded> {
    let mut out = Vec::new();
    let head_len = payload
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or(payload.len());
    let mut at = 0usize;
    for (n, raw) in payload[..head_len].split(|b| *b == b'\n').enumerate() {
        let raw_line = raw.strip_suffix(b"\r").unwrap_or(raw);
        let line_at = at;
        at += raw.len() + 1;
        let line = String::from_utf8_lossy(raw_line);
        if n == 0 {
            if let Some(url) = line.split_whitespace().nth(1)
                && let Some((a, p)) = url_addr(url)
            {
                out.push(Embedded::new(
                    Field::RequestUrl,
                    Some(a),
                    p,
                    line_at,
                    raw_line.len(),
                ));
            }
            continue;
        }
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        let value = value.trim();
        match name.trim().to_ascii_lowercase().as_str() {
            "content-base" | "content-location" => {
                if let Some((a, p)) = url_addr(value) {
                    out.push(Embedded::new(
                        Field::ContentBase,
                        Some(a),
                        p,
                        line_at,
                        raw_line.len(),
                    ));
                }
            }
            "transport" => {
                for spec in value.split(',') {
                    for param in spec.split(';') {
                        let Some((k, v)) = param.trim().split_once('=') else {
                            continue;
                        };
                        let first_port = || v.split('-').next()?.trim().parse::<u16>().ok();
                        let (field, addr, port) = match k.trim() {
                            "destination" => (Field::TransportDestination, v.parse().ok(), None),
                            "source" => (Field::TransportSource, v.parse().ok(), None),
                            "client_port" => (Field::TransportClientPort, None, first_port()),
                            "server_port" => (Field::TransportServerPort, None, first_port()),
                            _ => continue,
                        };
                        if addr.is_some() || port.is_some() {
                            out.push(Embedded::new(field, addr, port, line_at, raw_line.len()));
                        }
                    }
                }
            }
            _ => {}
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn setup_and_reply() {
        let req = b"SETUP rtsp://10.2.2.2:8554/stream/track1 RTSP/1.0\r\nCSeq: 3\r\nTransport: RTP/AVP;unicast;client_port=55664-55665\r\n\r\n";
        assert!(looks_like_rtsp(req));
        let v = scan(req);
        assert!(v.iter().any(|e| e.field == Field::RequestUrl
            && e.addr == Some(Ipv4Addr::new(10, 2, 2, 2))
            && e.port == Some(8554)));
        assert!(
            v.iter()
                .any(|e| e.field == Field::TransportClientPort && e.port == Some(55664))
        );
        let rep = b"RTSP/1.0 200 OK\r\nTransport: RTP/AVP;unicast;destination=10.1.1.10;source=10.2.2.2;client_port=5000-5001;server_port=6000-6001\r\n\r\n";
        let v = scan(rep);
        assert!(v.iter().any(|e| e.field == Field::TransportDestination
            && e.addr == Some(Ipv4Addr::new(10, 1, 1, 10))));
        assert!(
            v.iter()
                .any(|e| e.field == Field::TransportServerPort && e.port == Some(6000))
        );
        assert!(!looks_like_rtsp(b"GET / HTTP/1.1\r\n"));
    }
}
