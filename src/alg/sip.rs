//! SIP (RFC 3261) with an SDP body (RFC 4566): the start line, the headers that carry addresses
//! (Via, Contact, From, To, Record-Route, and Content-Length to find the body), and the SDP lines
//! `o=`, `c=`, `m=` and `a=rtcp:`. Compact header names (v, m, f, t, l) are understood.

use std::net::Ipv4Addr;

use super::{Change, Embedded, Field};

/// SIP request methods (RFC 3261 and extensions) that start a request line.
const METHODS: [&str; 14] = [
    "INVITE",
    "ACK",
    "BYE",
    "CANCEL",
    "OPTIONS",
    "REGISTER",
    "PRACK",
    "SUBSCRIBE",
    "NOTIFY",
    "PUBLISH",
    "INFO",
    "REFER",
    "MESSAGE",
    "UPDATE",
];

/// Whether a payload starts as a SIP message (a status line or a request line).
pub fn looks_like_sip(p: &[u8]) -> bool {
    if p.starts_with(b"SIP/2.0 ") {
        return true;
    }
    METHODS.iter().any(|m| {
        p.len() > m.len() + 5
            && p.starts_with(m.as_bytes())
            && p[m.len()] == b' '
            && (p[m.len() + 1..].starts_with(b"sip:") || p[m.len() + 1..].starts_with(b"sips:"))
    })
}

/// The first dotted IPv4 address in `s` that is a whole token (with an optional `:port`).
fn find_addr(s: &str) -> Option<(Ipv4Addr, Option<u16>, usize)> {
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i].is_ascii_digit()
            && (i == 0 || !(b[i - 1].is_ascii_alphanumeric() || b[i - 1] == b'.'))
        {
            let end = b[i..]
                .iter()
                .position(|c| !(c.is_ascii_digit() || *c == b'.'))
                .map_or(b.len(), |n| i + n);
            if let Ok(a) = s[i..end].parse::<Ipv4Addr>() {
                let port = if b.get(end) == Some(&b':') {
                    let pend = b[end + 1..]
                        .iter()
                        .position(|c| !c.is_ascii_digit())
                        .map_or(b.len(), |n| end + 1 + n);
                    s[end + 1..pend].parse::<u16>().ok()
                } else {
                    None
                };
                return Some((a, port, i));
            }
            i = end;
        } else {
            i += 1;
        }
    }
    None
}

/// Where the headers end and the body starts: at the first empty line (CRLF or LF).
fn split_message(payload: &[u8]) -> (usize, usize) {
    match payload.windows(4).position(|w| w == b"\r\n\r\n") {
        Some(i) => (i, i + 4),
        None => match payload.windows(2).position(|w| w == b"\n\n") {
            Some(i) => (i, i + 2),
            None => (payload.len(), payload.len()),
        },
    }
}

/// A header that matters here: one carrying an address (its report name), or Content-Length.
enum Header {
    Address(Field),
    ContentLength,
}

/// The header named `name` (long or compact form, any case, blanks around), if it matters.
fn header(name: &str) -> Option<Header> {
    Some(match name.trim().to_ascii_lowercase().as_str() {
        "via" | "v" => Header::Address(Field::Via),
        "contact" | "m" => Header::Address(Field::Contact),
        "from" | "f" => Header::Address(Field::From),
        "to" | "t" => Header::Address(Field::To),
        "record-route" => Header::Address(Field::RecordRoute),
        "route" => Header::Address(Field::Route),
        "content-length" | "l" => Header::ContentLength,
        _ => return None,
    })
}

/// Every address and port a SIP message carries, with the field it is in.
pub fn scan(payload: &[u8]) -> Vec<Embedded> {
    let mut out = Vec::new();
    let (head_len, body_at) = split_message(payload);
    let mut content_length: Option<usize> = None;
    let mut at = 0usize;
    // Offsets are counted in bytes of the payload; a line that is not UTF-8 is read lossily and
    // its offsets clamped to the line.
    for (n, raw) in payload[..head_len].split(|b| *b == b'\n').enumerate() {
        let raw_line = raw.strip_suffix(b"\r").unwrap_or(raw);
        let line_at = at;
        at += raw.len() + 1;
        let line = String::from_utf8_lossy(raw_line);
        let within = |off: usize| line_at + off.min(raw_line.len());
        if n == 0 {
            // Request line: the Request-URI may carry an address.
            if !line.starts_with("SIP/2.0")
                && let Some((a, p, off)) = find_addr(&line)
            {
                out.push(Embedded::new(Field::RequestUri, Some(a), p, within(off), 0));
            }
            continue;
        }
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        let field = match header(name) {
            Some(Header::Address(f)) => f,
            Some(Header::ContentLength) => {
                content_length = value.trim().parse().ok();
                continue;
            }
            None => continue,
        };
        let value_at = line.len() - value.len();
        if let Some((a, p, off)) = find_addr(value) {
            out.push(Embedded::new(field, Some(a), p, within(value_at + off), 0));
        }
    }
    let body_end = content_length.map_or(payload.len(), |l| {
        body_at.saturating_add(l).min(payload.len())
    });
    if body_at < body_end {
        scan_sdp(&payload[body_at..body_end], body_at, &mut out);
    }
    out
}

/// The SDP lines that carry addresses and ports.
fn scan_sdp(body: &[u8], base: usize, out: &mut Vec<Embedded>) {
    let mut at = base;
    for raw in body.split(|b| *b == b'\n') {
        let raw_line = raw.strip_suffix(b"\r").unwrap_or(raw);
        let line_at = at;
        at += raw.len() + 1;
        let line = String::from_utf8_lossy(raw_line);
        let line = line.as_ref();
        if let Some(v) = line.strip_prefix("c=") {
            // c=IN IP4 addr[/ttl]
            let mut f = v.split_whitespace();
            if f.next() == Some("IN")
                && f.next() == Some("IP4")
                && let Some(a) = f.next().and_then(|x| x.split('/').next()?.parse().ok())
            {
                out.push(Embedded::new(
                    Field::SdpC,
                    Some(a),
                    None,
                    line_at,
                    raw_line.len(),
                ));
            }
        } else if let Some(v) = line.strip_prefix("o=") {
            // o=user sess-id version IN IP4 addr
            let f: Vec<&str> = v.split_whitespace().collect();
            if f.len() >= 6
                && f[3] == "IN"
                && f[4] == "IP4"
                && let Ok(a) = f[5].parse()
            {
                out.push(Embedded::new(
                    Field::SdpO,
                    Some(a),
                    None,
                    line_at,
                    raw_line.len(),
                ));
            }
        } else if let Some(v) = line.strip_prefix("m=") {
            // m=media port[/n] proto fmt...
            let mut f = v.split_whitespace();
            let media = f.next();
            if let Some(p) = f
                .next()
                .and_then(|x| x.split('/').next()?.parse::<u16>().ok())
                && media.is_some()
            {
                out.push(Embedded::new(
                    Field::SdpM,
                    None,
                    Some(p),
                    line_at,
                    raw_line.len(),
                ));
            }
        } else if let Some(v) = line.strip_prefix("a=rtcp:") {
            // a=rtcp:port [IN IP4 addr]
            let f: Vec<&str> = v.split_whitespace().collect();
            let port = f.first().and_then(|p| p.parse::<u16>().ok());
            let addr = if f.len() >= 4 && f[1] == "IN" && f[2] == "IP4" {
                f[3].parse().ok()
            } else {
                None
            };
            if port.is_some() {
                out.push(Embedded::new(
                    Field::SdpARtcp,
                    addr,
                    port,
                    line_at,
                    raw_line.len(),
                ));
            }
        }
    }
}

/// Copies `line` to `out`, replacing each whole dotted-address token equal to a `from` of `map`
/// by its `to`, and records the changes (`base` is the line's offset in the payload).
fn replace_tokens(
    line: &[u8],
    map: &[(Ipv4Addr, Ipv4Addr)],
    field: Field,
    base: usize,
    changes: &mut Vec<Change>,
    out: &mut Vec<u8>,
) {
    let mut i = 0;
    let mut copied = 0;
    while i < line.len() {
        let starts = line[i].is_ascii_digit()
            && (i == 0 || !(line[i - 1].is_ascii_alphanumeric() || line[i - 1] == b'.'));
        if !starts {
            i += 1;
            continue;
        }
        let end = line[i..]
            .iter()
            .position(|c| !(c.is_ascii_digit() || *c == b'.'))
            .map_or(line.len(), |n| i + n);
        let parsed = std::str::from_utf8(&line[i..end])
            .ok()
            .and_then(|t| t.parse::<Ipv4Addr>().ok());
        if let Some(&(from, to)) = parsed.and_then(|a| map.iter().find(|(f, _)| *f == a)) {
            out.extend_from_slice(&line[copied..i]);
            out.extend_from_slice(to.to_string().as_bytes());
            copied = end;
            changes.push(Change {
                field,
                from,
                to,
                offset: base + i,
            });
        }
        i = end;
    }
    out.extend_from_slice(&line[copied..]);
}

/// What-if SIP ALG, as Linux's `nf_nat_sip` does it for SIP over UDP: every address of `map`
/// (`from` -> `to`) is rewritten in the Request-URI, Via, Contact, From, To, Route and
/// Record-Route headers and in the SDP lines `o=`, `c=` and `a=rtcp:`; `Content-Length` is set
/// to the new body length when it gave the length of the body present (a message cut short
/// keeps its value). Returns the changes; `out` receives the new message.
pub fn translate(payload: &[u8], map: &[(Ipv4Addr, Ipv4Addr)], out: &mut Vec<u8>) -> Vec<Change> {
    out.clear();
    let mut changes = Vec::new();
    let (head_len, body_at) = split_message(payload);
    // Headers first, remembering where Content-Length's value is.
    let mut length_at: Option<(usize, usize)> = None;
    let mut declared: Option<usize> = None;
    let mut at = 0usize;
    for (n, line) in payload[..head_len]
        .split_inclusive(|b| *b == b'\n')
        .enumerate()
    {
        let line_at = at;
        at += line.len();
        if n == 0 {
            if line.starts_with(b"SIP/2.0") {
                out.extend_from_slice(line);
            } else {
                replace_tokens(line, map, Field::RequestUri, line_at, &mut changes, out);
            }
            continue;
        }
        let Some(colon) = line.iter().position(|b| *b == b':') else {
            out.extend_from_slice(line);
            continue;
        };
        let field = match header(&String::from_utf8_lossy(&line[..colon])) {
            Some(Header::Address(f)) => f,
            Some(Header::ContentLength) => {
                // Read as the scan reads it: the whole trimmed value.
                let v = &line[colon + 1..];
                let lead = v.iter().take_while(|c| c.is_ascii_whitespace()).count();
                let tail = v
                    .iter()
                    .rev()
                    .take_while(|c| c.is_ascii_whitespace())
                    .count();
                let digits = v.len().saturating_sub(lead + tail);
                declared = String::from_utf8_lossy(v).trim().parse().ok();
                length_at = declared.and_then(|_| {
                    let start = out.len() + colon + 1 + lead;
                    v[lead..lead + digits]
                        .iter()
                        .all(u8::is_ascii_digit)
                        .then_some((start, start + digits))
                });
                out.extend_from_slice(line);
                continue;
            }
            None => {
                out.extend_from_slice(line);
                continue;
            }
        };
        out.extend_from_slice(&line[..=colon]);
        replace_tokens(
            &line[colon + 1..],
            map,
            field,
            line_at + colon + 1,
            &mut changes,
            out,
        );
    }
    out.extend_from_slice(&payload[head_len..body_at]);
    let body_end = declared.map_or(payload.len(), |l| {
        body_at.saturating_add(l).min(payload.len())
    });
    let body_start_out = out.len();
    let mut at = body_at;
    for line in payload[body_at..body_end].split_inclusive(|b| *b == b'\n') {
        let field = if line.starts_with(b"c=") {
            Some(Field::SdpC)
        } else if line.starts_with(b"o=") {
            Some(Field::SdpO)
        } else if line.starts_with(b"a=rtcp:") {
            Some(Field::SdpARtcp)
        } else {
            None
        };
        match field {
            Some(f) => replace_tokens(line, map, f, at, &mut changes, out),
            None => out.extend_from_slice(line),
        }
        at += line.len();
    }
    let new_body = out.len() - body_start_out;
    out.extend_from_slice(&payload[body_end..]);
    // Content-Length follows the body when it described the whole body present.
    if let Some((s, e)) = length_at
        && new_body != body_end - body_at
        && declared == Some(body_end - body_at)
    {
        let digits = new_body.to_string();
        out.splice(s..e, digits.bytes());
    }
    changes
}

#[cfg(test)]
mod tests {
    use super::*;

    const INVITE: &[u8] = b"INVITE sip:bob@203.0.113.5 SIP/2.0\r\nVia: SIP/2.0/UDP 172.16.0.21:5060;branch=z9\r\nFrom: <sip:alice@172.16.0.21>;tag=1\r\nTo: <sip:bob@203.0.113.5>\r\nContact: <sip:alice@172.16.0.21:5060>\r\nContent-Type: application/sdp\r\nContent-Length: 94\r\n\r\nv=0\r\no=- 1 1 IN IP4 172.16.0.21\r\nc=IN IP4 172.16.0.21\r\nm=audio 30000 RTP/AVP 0\r\na=rtcp:30001\r\n";

    #[test]
    fn invite_with_sdp() {
        assert!(looks_like_sip(INVITE));
        let v = scan(INVITE);
        let fields: Vec<(Field, Option<Ipv4Addr>, Option<u16>)> =
            v.iter().map(|e| (e.field, e.addr, e.port)).collect();
        let me = Some(Ipv4Addr::new(172, 16, 0, 21));
        assert!(fields.contains(&(Field::Via, me, Some(5060))));
        assert!(fields.contains(&(Field::Contact, me, Some(5060))));
        assert!(fields.contains(&(Field::From, me, None)));
        assert!(fields.contains(&(Field::RequestUri, Some(Ipv4Addr::new(203, 0, 113, 5)), None)));
        assert!(fields.contains(&(Field::SdpO, me, None)));
        assert!(fields.contains(&(Field::SdpC, me, None)));
        assert!(fields.contains(&(Field::SdpM, None, Some(30000))));
        assert!(fields.contains(&(Field::SdpARtcp, None, Some(30001))));
    }

    #[test]
    fn huge_content_length_is_bounded() {
        // Found by the `alg` fuzz target: a Content-Length near usize::MAX overflowed.
        let m = b"INVITE sip:a@10.0.0.1 SIP/2.0\r\nl: 18446744073709551615\r\n\r\nc=IN IP4 10.0.0.2\r\n";
        let v = scan(m);
        assert!(v.iter().any(|e| e.field == Field::SdpC));
        let mut st = crate::alg::stream::Stream::default();
        assert_eq!(st.feed(crate::alg::Protocol::Sip, 1, m), None);
    }

    #[test]
    fn not_sip() {
        assert!(!looks_like_sip(b"GET / HTTP/1.1\r\n"));
        assert!(!looks_like_sip(b"INVITE"));
        assert!(scan(b"").is_empty());
        assert!(scan(&[0xff, 0xfe, b'\n', b'c', b'=']).is_empty());
    }

    #[test]
    fn translation_rewrites_headers_sdp_and_length() {
        let me = Ipv4Addr::new(172, 16, 0, 21);
        let eip = Ipv4Addr::new(47, 0, 0, 21);
        let mut out = Vec::new();
        let ch = translate(INVITE, &[(me, eip)], &mut out);
        let text = std::str::from_utf8(&out).unwrap();
        assert!(!text.contains("172.16.0.21"), "{text}");
        assert!(text.contains("Via: SIP/2.0/UDP 47.0.0.21:5060;branch=z9"));
        assert!(text.contains("c=IN IP4 47.0.0.21\r\n"));
        // Both addresses shrank by 2 bytes in the body (o=, c=): 94 - 4.
        assert!(text.contains("Content-Length: 90\r\n"), "{text}");
        let body = &text[text.find("\r\n\r\n").unwrap() + 4..];
        assert_eq!(body.len(), 90);
        let fields: Vec<Field> = ch.iter().map(|c| c.field).collect();
        assert_eq!(
            fields,
            [
                Field::Via,
                Field::From,
                Field::Contact,
                Field::SdpO,
                Field::SdpC
            ]
        );
        // Nothing of the scan's VPC address is left, and translating back gives the input.
        assert!(scan(&out).iter().all(|e| e.addr != Some(me)));
        let mut back = Vec::new();
        translate(&out, &[(eip, me)], &mut back);
        assert_eq!(back, INVITE);
    }
}
