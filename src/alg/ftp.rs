//! FTP control channel (RFC 959, RFC 2428): the commands and replies that carry an address.
//! `PORT h1,h2,h3,h4,p1,p2`, `EPRT |1|a.b.c.d|port|`, `227 ... (h1,h2,h3,h4,p1,p2)` and
//! `229 ... (|||port|)`.

use std::net::Ipv4Addr;

use super::Embedded;

/// Parses one control line (without its CRLF) and returns the address or port it carries.
/// `offset` is the line's position in the payload, so that the finding can point at it.
pub fn parse_line(line: &[u8], offset: usize) -> Option<Embedded> {
    let text = std::str::from_utf8(line).ok()?;
    let upper4: String = text
        .chars()
        .take(4)
        .collect::<String>()
        .to_ascii_uppercase();
    if upper4 == "PORT" && text.len() > 5 {
        let (addr, port) = six_numbers(text.get(5..)?)?;
        return Some(Embedded::new(
            "PORT",
            Some(addr),
            Some(port),
            offset,
            line.len(),
        ));
    }
    if upper4 == "EPRT" && text.len() > 5 {
        let arg = text.get(5..)?.trim();
        let delim = arg.chars().next()?;
        let parts: Vec<&str> = arg.split(delim).collect();
        // |1|a.b.c.d|port|  ->  ["", "1", "a.b.c.d", "port", ""]
        if parts.len() >= 4 && parts[1] == "1" {
            let addr: Ipv4Addr = parts[2].parse().ok()?;
            let port: u16 = parts[3].parse().ok()?;
            return Some(Embedded::new(
                "EPRT",
                Some(addr),
                Some(port),
                offset,
                line.len(),
            ));
        }
        return None;
    }
    if let Some(rest) = text.strip_prefix("227") {
        // The six numbers may stand in parentheses or not (RFC 1123 4.1.2.6): take the first
        // run of them after the code.
        let bytes = rest.as_bytes();
        for (i, c) in bytes.iter().enumerate() {
            if c.is_ascii_digit()
                && (i == 0 || !bytes[i - 1].is_ascii_digit())
                && let Some((addr, port)) = six_numbers(&rest[i..])
            {
                return Some(Embedded::new(
                    "227",
                    Some(addr),
                    Some(port),
                    offset,
                    line.len(),
                ));
            }
        }
        return None;
    }
    if text.starts_with("229") {
        let open = text.find('(')?;
        let rest = &text[open + 1..];
        let delim = rest.chars().next()?;
        let parts: Vec<&str> = rest.split(delim).collect();
        // (|||port|)  ->  ["", "", "", "port", ")"]
        if parts.len() >= 5 {
            let port: u16 = parts[3].parse().ok()?;
            return Some(Embedded::new("229", None, Some(port), offset, line.len()));
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
}
