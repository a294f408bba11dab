//! In-order reassembly of a TCP control channel, one direction, with a bounded buffer. Complete
//! messages are handed out by the protocol's framing (lines for FTP, header plus Content-Length
//! for SIP and RTSP, the length prefix for DNS and TPKT); what the bound cuts off, the gaps in
//! the capture and the retransmissions are counted, never silently lost.

use super::Protocol;

/// The most bytes buffered while waiting for the end of a message.
pub const MAX_BUFFER: usize = 64 * 1024;

/// One direction of a TCP stream.
#[derive(Clone, Debug, Default)]
pub struct Stream {
    next: Option<u32>,
    buf: Vec<u8>,
    /// Bytes dropped because a message outgrew [`MAX_BUFFER`].
    pub cut_bytes: u64,
    /// Segments that started past the expected sequence number (bytes missing from the capture).
    pub gaps: u64,
    /// Segments that carried nothing new (retransmissions).
    pub retransmitted: u64,
}

impl Stream {
    /// Adds a segment (`seq` its sequence number) and returns the complete messages it finishes,
    /// as one byte run, if any.
    pub fn feed(&mut self, protocol: Protocol, seq: u32, data: &[u8]) -> Option<Vec<u8>> {
        if data.is_empty() {
            return None;
        }
        let next = *self.next.get_or_insert(seq);
        let ahead = seq.wrapping_sub(next) as i32;
        if ahead > 0 {
            // Bytes are missing: what was buffered can no longer complete.
            self.gaps += 1;
            self.cut_bytes += self.buf.len() as u64;
            self.buf.clear();
            self.buf.extend_from_slice(data);
        } else {
            let overlap = (-(ahead as i64)) as usize;
            if overlap >= data.len() {
                self.retransmitted += 1;
                return None;
            }
            self.buf.extend_from_slice(&data[overlap..]);
        }
        self.next = Some(seq.wrapping_add(data.len() as u32));
        let n = complete_len(protocol, &self.buf);
        if n > 0 {
            let out: Vec<u8> = self.buf.drain(..n).collect();
            return Some(out);
        }
        if self.buf.len() > MAX_BUFFER {
            self.cut_bytes += self.buf.len() as u64;
            self.buf.clear();
        }
        None
    }
}

/// How many bytes at the front of `buf` form complete messages.
pub fn complete_len(protocol: Protocol, buf: &[u8]) -> usize {
    match protocol {
        Protocol::Ftp => buf.iter().rposition(|b| *b == b'\n').map_or(0, |i| i + 1),
        Protocol::Sip | Protocol::Rtsp => {
            let mut pos = 0;
            loop {
                let rest = &buf[pos..];
                // RTSP interleaved binary data: '$', channel, 2-byte length.
                if rest.first() == Some(&b'$') {
                    if rest.len() < 4 {
                        break;
                    }
                    let n = 4 + usize::from(u16::from_be_bytes([rest[2], rest[3]]));
                    if rest.len() < n {
                        break;
                    }
                    pos += n;
                    continue;
                }
                let Some(h) = rest.windows(4).position(|w| w == b"\r\n\r\n") else {
                    break;
                };
                let body = content_length(&rest[..h]).unwrap_or(0);
                let end = (h + 4).saturating_add(body);
                if rest.len() < end {
                    break;
                }
                pos += end;
            }
            pos
        }
        Protocol::Dns => {
            let mut pos = 0;
            while buf.len() >= pos + 2 {
                let n = 2 + usize::from(u16::from_be_bytes([buf[pos], buf[pos + 1]]));
                if buf.len() < pos + n {
                    break;
                }
                pos += n;
            }
            pos
        }
        Protocol::H323 => {
            let mut pos = 0;
            while buf.len() >= pos + 4 && buf[pos] == 3 {
                let n = usize::from(u16::from_be_bytes([buf[pos + 2], buf[pos + 3]]));
                if n < 4 || buf.len() < pos + n {
                    break;
                }
                pos += n;
            }
            // Not TPKT: hand the whole segment over (the pattern search needs no framing).
            if pos == 0 && buf.first() != Some(&3) {
                buf.len()
            } else {
                pos
            }
        }
        Protocol::Tftp => buf.len(),
    }
}

/// The Content-Length (or compact `l:`) of a SIP/RTSP header block.
fn content_length(head: &[u8]) -> Option<usize> {
    for line in head.split(|b| *b == b'\n') {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        let Some(colon) = line.iter().position(|b| *b == b':') else {
            continue;
        };
        let name = std::str::from_utf8(&line[..colon]).ok()?.trim();
        if name.eq_ignore_ascii_case("content-length") || name == "l" {
            return std::str::from_utf8(&line[colon + 1..])
                .ok()?
                .trim()
                .parse()
                .ok();
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ftp_lines_across_segments() {
        let mut s = Stream::default();
        assert_eq!(s.feed(Protocol::Ftp, 100, b"PORT 10,0,"), None);
        assert_eq!(
            s.feed(Protocol::Ftp, 110, b"0,1,0,80\r\nUS").as_deref(),
            Some(&b"PORT 10,0,0,1,0,80\r\n"[..])
        );
        // A retransmission brings nothing new.
        assert_eq!(s.feed(Protocol::Ftp, 100, b"PORT 10,0,"), None);
        assert_eq!(s.retransmitted, 1);
        assert_eq!(
            s.feed(Protocol::Ftp, 122, b"ER x\r\n").as_deref(),
            Some(&b"USER x\r\n"[..])
        );
    }

    #[test]
    fn sip_waits_for_its_body_and_gaps_are_counted() {
        let mut s = Stream::default();
        let msg = b"INVITE sip:a@b SIP/2.0\r\nContent-Length: 5\r\n\r\nhello";
        assert_eq!(s.feed(Protocol::Sip, 1, &msg[..30]), None);
        assert_eq!(
            s.feed(Protocol::Sip, 31, &msg[30..]).as_deref(),
            Some(&msg[..])
        );
        assert_eq!(s.feed(Protocol::Sip, 5000, b"SIP/2.0 200 OK\r\n"), None);
        assert_eq!(s.gaps, 1);
    }

    #[test]
    fn bound_is_reported() {
        let mut s = Stream::default();
        let big = vec![b'x'; MAX_BUFFER + 10];
        assert_eq!(s.feed(Protocol::Sip, 0, &big), None);
        assert_eq!(s.cut_bytes, (MAX_BUFFER + 10) as u64);
        let mut d = Stream::default();
        // One whole length-prefixed message and the start of the next.
        let two = [0, 3, 1, 2, 3, 0, 2, 9];
        assert_eq!(d.feed(Protocol::Dns, 7, &two).as_deref(), Some(&two[..5]));
    }
}
