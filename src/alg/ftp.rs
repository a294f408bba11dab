//! FTP control channel (RFC 959, RFC 2428): the commands and replies that carry an address.
//! `PORT h1,h2,h3,h4,p1,p2`, `EPRT |1|a.b.c.d|port|`, `227 ... (h1,h2,h3,h4,p1,p2)` and
//! `229 ... (|||port|)`.

use std::net::Ipv4Addr;
use std::ops::Range;

use super::{Change, Embedded, Field};

/// Parses one control line (without its CRLF) and returns the address or port it carries.
/// `offset` is the line's position in the payload, so that the finding can point at it.
pub fn parse_line(line: &[u8], offset: usize) -> Option<Embedded> {
    let text = std::str::from_utf8(line).ok()?;
    let upper4: String = text
        .chars()
        .take(4)
        .collect::<String>()
        .to_ascii_uppercase();
    // RFC 959: the command, one space, its argument.
    let spaced = line.get(4) == Some(&b' ');
    if upper4 == "PORT" && spaced && text.len() > 5 {
        let (addr, port) = six_numbers(text.get(5..)?)?;
        return Some(Embedded::new(
            Field::Port,
            Some(addr),
            Some(port),
            offset,
            line.len(),
        ));
    }
    if upper4 == "EPRT" && spaced && text.len() > 5 {
        let arg = text.get(5..)?.trim();
        let delim = arg.chars().next()?;
        // RFC 2428: the delimiter is a printable ASCII character (33 to 126).
        if !('!'..='~').contains(&delim) {
            return None;
        }
        let parts: Vec<&str> = arg.split(delim).collect();
        // |1|a.b.c.d|port|  ->  ["", "1", "a.b.c.d", "port", ""]
        if parts.len() >= 4 && parts[1] == "1" {
            let addr: Ipv4Addr = parts[2].parse().ok()?;
            let port: u16 = parts[3].parse().ok()?;
            return Some(Embedded::new(
                Field::Eprt,
                Some(addr),
                Some(port),
                offset,
                line.len(),
            ));
        }
        return None;
    }
    // RFC 959: a reply is its three-digit code, then a space (or '-' on a multi-line reply).
    let reply = |code: &str| {
        text.strip_prefix(code)
            .filter(|r| r.starts_with(' ') || r.starts_with('-'))
    };
    if let Some(rest) = reply("227") {
        // The six numbers may stand in parentheses or not (RFC 1123 4.1.2.6): take the first
        // run of them after the code.
        let bytes = rest.as_bytes();
        for (i, c) in bytes.iter().enumerate() {
            if c.is_ascii_digit()
                && (i == 0 || !bytes[i - 1].is_ascii_digit())
                && let Some((addr, port)) = six_numbers(&rest[i..])
            {
                return Some(Embedded::new(
                    Field::Reply227,
                    Some(addr),
                    Some(port),
                    offset,
                    line.len(),
                ));
            }
        }
        return None;
    }
    if reply("229").is_some() {
        let open = text.find('(')?;
        let rest = &text[open + 1..];
        let delim = rest.chars().next()?;
        let parts: Vec<&str> = rest.split(delim).collect();
        // (|||port|)  ->  ["", "", "", "port", ")"]
        if parts.len() >= 5 {
            let port: u16 = parts[3].parse().ok()?;
            return Some(Embedded::new(
                Field::Reply229,
                None,
                Some(port),
                offset,
                line.len(),
            ));
        }
    }
    None
}

/// Reads `h1,h2,h3,h4,p1,p2` at the start of `s` (after optional spaces).
fn six_numbers(s: &str) -> Option<(Ipv4Addr, u16)> {
    let s = s.trim_start();
    let end = s
        .find(|c: char| !(c.is_ascii_digit() || c == ','))
        .unwrap_or(s.len());
    let nums: Vec<u8> = s[..end]
        .split(',')
        .map(|n| n.parse::<u8>().ok())
        .collect::<Option<Vec<u8>>>()?;
    if nums.len() != 6 {
        return None;
    }
    Some((
        Ipv4Addr::new(nums[0], nums[1], nums[2], nums[3]),
        u16::from(nums[4]) << 8 | u16::from(nums[5]),
    ))
}

/// The byte range of the IPv4 address inside a `PORT`, `EPRT` or `227` line, with the field
/// and the address (what a NAT helper rewrites; the port stays, NAT being 1:1).
pub fn address_span(line: &[u8]) -> Option<(Field, Range<usize>, Ipv4Addr)> {
    let e = parse_line(line, 0)?;
    let addr = e.addr?;
    let text = std::str::from_utf8(line).ok()?;
    match e.field {
        Field::Port | Field::Reply227 => {
            // The first run of six comma-separated numbers after the code: the address is its
            // first four.
            let start = if e.field == Field::Port {
                5 + (text.len() - 5 - text[5..].trim_start().len())
            } else {
                // The same run `parse_line` reads: the first after the code.
                let rest = &text[3..];
                let b = rest.as_bytes();
                3 + (0..b.len()).find(|&i| {
                    b[i].is_ascii_digit()
                        && (i == 0 || !b[i - 1].is_ascii_digit())
                        && six_numbers(&rest[i..]).is_some()
                })?
            };
            let mut commas = 0;
            let end = text[start..].char_indices().find_map(|(i, c)| {
                if c == ',' {
                    commas += 1;
                }
                (commas == 4).then_some(start + i)
            })?;
            Some((e.field, start..end, addr))
        }
        Field::Eprt => {
            let lead = text.len() - text[5..].trim_start().len();
            let arg = &text[lead..];
            let delim = arg.chars().next()?;
            let mut it = arg.match_indices(delim).map(|(i, _)| i);
            let (_, a, b) = (it.next()?, it.next()?, it.next()?);
            Some((e.field, lead + a + 1..lead + b, addr))
        }
        _ => None,
    }
}

/// Rewrites, as Linux's `nf_nat_ftp` does, the `PORT`, `EPRT` and `227` lines of one segment
/// whose address is `from` (the sender's address before NAT) to carry `to` (its EIP); other
/// addresses are left alone, as the kernel's helper leaves them. `229` carries only a port,
/// which 1:1 NAT keeps. Returns the changes; `out` receives the new payload (a copy of the old
/// one when nothing changed).
pub fn translate(payload: &[u8], from: Ipv4Addr, to: Ipv4Addr, out: &mut Vec<u8>) -> Vec<Change> {
    out.clear();
    let mut changes = Vec::new();
    let mut at = 0;
    for line in payload.split_inclusive(|b| *b == b'\n') {
        let body = line.strip_suffix(b"\n").unwrap_or(line);
        let body = body.strip_suffix(b"\r").unwrap_or(body);
        match address_span(body) {
            Some((field, span, a)) if a == from => {
                let o = to.octets();
                let text = format!("{},{},{},{}", o[0], o[1], o[2], o[3]);
                let text = if field == Field::Eprt {
                    to.to_string()
                } else {
                    text
                };
                out.extend_from_slice(&line[..span.start]);
                out.extend_from_slice(text.as_bytes());
                out.extend_from_slice(&line[span.end..]);
                changes.push(Change {
                    field,
                    from,
                    to,
                    offset: at,
                });
            }
            _ => out.extend_from_slice(line),
        }
        at += line.len();
    }
    changes
}

/// Every addressed line of an FTP control payload.
pub fn scan(payload: &[u8]) -> Vec<Embedded> {
    let mut out = Vec::new();
    let mut at = 0;
    for line in payload.split(|b| *b == b'\n') {
        let trimmed = line.strip_suffix(b"\r").unwrap_or(line);
        if let Some(e) = parse_line(trimmed, at) {
            out.push(e);
        }
        at += line.len() + 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn port_eprt_227_229() {
        let e = parse_line(b"PORT 172,23,0,3,174,127", 0).unwrap();
        assert_eq!(e.addr, Some(Ipv4Addr::new(172, 23, 0, 3)));
        assert_eq!(e.port, Some(174 * 256 + 127));
        let e = parse_line(b"EPRT |1|10.0.0.5|40000|", 0).unwrap();
        assert_eq!(
            (e.addr, e.port),
            (Some(Ipv4Addr::new(10, 0, 0, 5)), Some(40000))
        );
        let e = parse_line(b"227 Entering Passive Mode (172,23,0,2,82,9).", 0).unwrap();
        assert_eq!(
            (e.addr, e.port),
            (Some(Ipv4Addr::new(172, 23, 0, 2)), Some(82 * 256 + 9))
        );
        let e = parse_line(b"227 Entering Passive Mode 10,1,2,3,4,5", 0).unwrap();
        assert_eq!(e.addr, Some(Ipv4Addr::new(10, 1, 2, 3)));
        let e = parse_line(b"229 Entering Extended Passive Mode (|||58612|)", 0).unwrap();
        assert_eq!((e.addr, e.port), (None, Some(58612)));
        assert!(parse_line(b"PORT 1,2,3", 0).is_none());
        // No space after the command: not a PORT command (found by the alg fuzz target).
        assert!(parse_line(b"PORT72,15,5,10,0,80", 0).is_none());
        assert!(parse_line(b"EPRTx|1|10.0.0.1|80|", 0).is_none());
        // A reply code runs into other digits: no 227 or 229 reply.
        assert!(parse_line(b"2273,148,072,10,16,100", 0).is_none());
        assert!(parse_line(b"2290 (|||5000|)", 0).is_none());
        assert!(parse_line(b"227-Entering Passive Mode (10,0,0,1,4,1)", 0).is_some());
        assert!(parse_line(b"USER bob", 0).is_none());
        assert!(parse_line(b"EPRT |2|::1|5|", 0).is_none());
    }

    #[test]
    fn scan_finds_lines_and_offsets() {
        let p = b"USER x\r\nPORT 10,0,0,1,0,80\r\n";
        let v = scan(p);
        assert_eq!(v.len(), 1);
        assert_eq!(v[0].offset, 8);
        assert_eq!(v[0].port, Some(80));
    }

    #[test]
    fn translation_rewrites_only_the_senders_address() {
        let from = Ipv4Addr::new(172, 16, 0, 10);
        let to = Ipv4Addr::new(47, 0, 0, 1);
        let p = b"PORT 172,16,0,10,4,1\r\nEPRT |1|172.16.0.10|1025|\r\n227 Entering Passive Mode (172,16,0,10,4,2).\r\nPORT 10,9,9,9,4,3\r\n229 Entering Extended Passive Mode (|||1026|)\r\n";
        let mut out = Vec::new();
        let ch = translate(p, from, to, &mut out);
        assert_eq!(
            std::str::from_utf8(&out).unwrap(),
            "PORT 47,0,0,1,4,1\r\nEPRT |1|47.0.0.1|1025|\r\n227 Entering Passive Mode (47,0,0,1,4,2).\r\nPORT 10,9,9,9,4,3\r\n229 Entering Extended Passive Mode (|||1026|)\r\n"
        );
        assert_eq!(ch.len(), 3);
        assert_eq!(ch[1].field, Field::Eprt);
        assert_eq!(ch[1].offset, 22);
        // Unterminated line and 227 without parentheses.
        let ch = translate(b"227 ok 172,16,0,10,0,21", from, to, &mut out);
        assert_eq!(ch.len(), 1);
        assert_eq!(out, b"227 ok 47,0,0,1,0,21");
        // Translating back gives the input.
        let mut back = Vec::new();
        translate(&out, to, from, &mut back);
        assert_eq!(back, b"227 ok 172,16,0,10,0,21");
    }

    #[test]
    fn spans_agree_with_the_parser() {
        // Found in review: a 227 whose numbers follow the code at once (no reply: RFC 959 and
        // Linux's helper want "227 "; parser and translator agree on leaving it), and a
        // non-ASCII EPRT delimiter.
        let from = Ipv4Addr::new(10, 0, 0, 5);
        let to = Ipv4Addr::new(47, 0, 0, 1);
        let mut out = Vec::new();
        let ch = translate(b"22710,0,0,5,1,1 (172,16,0,9,1,2)", from, to, &mut out);
        assert!(ch.is_empty());
        assert_eq!(out, b"22710,0,0,5,1,1 (172,16,0,9,1,2)");
        assert!(parse_line(b"22710,0,0,5,1,1 (172,16,0,9,1,2)", 0).is_none());
        let ch = translate(b"227 10,0,0,5,1,1 (172,16,0,9,1,2)", from, to, &mut out);
        assert_eq!(ch.len(), 1);
        assert_eq!(out, b"227 47,0,0,1,1,1 (172,16,0,9,1,2)");
        assert!(parse_line("EPRT \u{e9}1\u{e9}10.0.0.5\u{e9}2000\u{e9}".as_bytes(), 0).is_none());
        assert!(
            translate(
                "EPRT \u{e9}1\u{e9}10.0.0.5\u{e9}2000\u{e9}".as_bytes(),
                from,
                to,
                &mut out
            )
            .is_empty()
        );
    }
}
