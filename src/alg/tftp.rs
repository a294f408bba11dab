//! TFTP (RFC 1350, options RFC 2347): the opcodes. TFTP embeds no address; what NAT breaks is
//! the server answering from a new port (its transfer identifier), which the replay reports as
//! a related flow.

/// A TFTP message, as far as the replay needs it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Message {
    /// Read request: file name and mode.
    Rrq(String, String),
    /// Write request: file name and mode.
    Wrq(String, String),
    /// Data block.
    Data(u16),
    /// Acknowledgement of a block.
    Ack(u16),
    /// Error code and message.
    Error(u16, String),
    /// Option acknowledgement.
    Oack,
}

fn two_strings(b: &[u8]) -> Option<(String, String)> {
    let mut parts = b.split(|c| *c == 0);
    let name = parts.next()?;
    let mode = parts.next()?;
    Some((
        String::from_utf8_lossy(name).into_owned(),
        String::from_utf8_lossy(mode).into_owned(),
    ))
}

/// Parses a TFTP datagram.
pub fn parse(p: &[u8]) -> Option<Message> {
    let op = u16::from_be_bytes([*p.first()?, *p.get(1)?]);
    let rest = &p[2..];
    let num = || Some(u16::from_be_bytes([*rest.first()?, *rest.get(1)?]));
    Some(match op {
        1 => {
            let (f, m) = two_strings(rest)?;
            Message::Rrq(f, m)
        }
        2 => {
            let (f, m) = two_strings(rest)?;
            Message::Wrq(f, m)
        }
        3 => Message::Data(num()?),
        4 => Message::Ack(num()?),
        5 => Message::Error(
            num()?,
            String::from_utf8_lossy(rest.get(2..)?.split(|c| *c == 0).next()?).into_owned(),
        ),
        6 => Message::Oack,
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn opcodes() {
        assert_eq!(
            parse(b"\x00\x01rfc1350.txt\x00octet\x00"),
            Some(Message::Rrq("rfc1350.txt".into(), "octet".into()))
        );
        assert_eq!(parse(b"\x00\x03\x00\x07data"), Some(Message::Data(7)));
        assert_eq!(parse(b"\x00\x04\x00\x07"), Some(Message::Ack(7)));
        assert_eq!(
            parse(b"\x00\x05\x00\x01nope\x00"),
            Some(Message::Error(1, "nope".into()))
        );
        assert_eq!(parse(b"\x00\x06blksize\x00512\x00"), Some(Message::Oack));
        assert_eq!(parse(b"\x00\x09"), None);
        assert_eq!(parse(b"\x00"), None);
    }
}
