//! Where in a payload an address or port was found: the field of an [`Embedded`](super::Embedded)
//! item, a [`Change`](super::Change) and an announcement. Each field has one fixed text, the one
//! the report prints (`PORT`, `227`, `sdp c=`, `Via`, ...).

use std::fmt;

use serde::{Serialize, Serializer};

/// A field of an ALG protocol's payload that carries an address or a port.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum Field {
    /// FTP `PORT h1,h2,h3,h4,p1,p2` command.
    Port,
    /// FTP `EPRT |1|a.b.c.d|port|` command.
    Eprt,
    /// FTP `227` reply (passive mode: address and port).
    Reply227,
    /// FTP `229` reply (extended passive mode: port only).
    Reply229,
    /// SIP request line's Request-URI.
    RequestUri,
    /// SIP `Via` header.
    Via,
    /// SIP `Contact` header.
    Contact,
    /// SIP `From` header.
    From,
    /// SIP `To` header.
    To,
    /// SIP `Record-Route` header.
    RecordRoute,
    /// SIP `Route` header.
    Route,
    /// SDP `c=` line (connection address).
    SdpC,
    /// SDP `o=` line (origin address).
    SdpO,
    /// SDP `m=` line (media port).
    SdpM,
    /// The RTCP port an SDP `m=` line implies (its port + 1) when no `a=rtcp` names one.
    SdpMRtcp,
    /// SDP `a=rtcp:` line (RTCP port, maybe an address).
    SdpARtcp,
    /// RTSP request line's URL.
    RequestUrl,
    /// RTSP `Content-Base` or `Content-Location` URL.
    ContentBase,
    /// RTSP `Transport` header's `destination` parameter.
    TransportDestination,
    /// RTSP `Transport` header's `source` parameter.
    TransportSource,
    /// RTSP `Transport` header's `client_port` parameter.
    TransportClientPort,
    /// RTSP `Transport` header's `server_port` parameter.
    TransportServerPort,
    /// DNS A record in the answer section.
    DnsAnswerA,
    /// DNS A record in the authority section.
    DnsAuthorityA,
    /// DNS A record in the additional section.
    DnsAdditionalA,
    /// DNS UPDATE A record in the prerequisite section.
    DnsPrerequisiteA,
    /// DNS UPDATE A record in the update section.
    DnsUpdateA,
    /// H.225/H.245 transport address found by the pattern search.
    H323Pattern,
    /// A TFTP request: the server answers from a new port.
    TftpRequest,
}

impl Field {
    /// Every field, in declaration order.
    pub const ALL: [Field; 29] = [
        Field::Port,
        Field::Eprt,
        Field::Reply227,
        Field::Reply229,
        Field::RequestUri,
        Field::Via,
        Field::Contact,
        Field::From,
        Field::To,
        Field::RecordRoute,
        Field::Route,
        Field::SdpC,
        Field::SdpO,
        Field::SdpM,
        Field::SdpMRtcp,
        Field::SdpARtcp,
        Field::RequestUrl,
        Field::ContentBase,
        Field::TransportDestination,
        Field::TransportSource,
        Field::TransportClientPort,
        Field::TransportServerPort,
        Field::DnsAnswerA,
        Field::DnsAuthorityA,
        Field::DnsAdditionalA,
        Field::DnsPrerequisiteA,
        Field::DnsUpdateA,
        Field::H323Pattern,
        Field::TftpRequest,
    ];

    /// The text the report gives the field.
    pub fn as_str(self) -> &'static str {
        match self {
            Field::Port => "PORT",
            Field::Eprt => "EPRT",
            Field::Reply227 => "227",
            Field::Reply229 => "229",
            Field::RequestUri => "Request-URI",
            Field::Via => "Via",
            Field::Contact => "Contact",
            Field::From => "From",
            Field::To => "To",
            Field::RecordRoute => "Record-Route",
            Field::Route => "Route",
            Field::SdpC => "sdp c=",
            Field::SdpO => "sdp o=",
            Field::SdpM => "sdp m=",
            Field::SdpMRtcp => "sdp m= (RTCP: port + 1)",
            Field::SdpARtcp => "sdp a=rtcp",
            Field::RequestUrl => "Request-URL",
            Field::ContentBase => "Content-Base",
            Field::TransportDestination => "Transport destination",
            Field::TransportSource => "Transport source",
            Field::TransportClientPort => "Transport client_port",
            Field::TransportServerPort => "Transport server_port",
            Field::DnsAnswerA => "DNS answer A",
            Field::DnsAuthorityA => "DNS authority A",
            Field::DnsAdditionalA => "DNS additional A",
            Field::DnsPrerequisiteA => "DNS prerequisite A",
            Field::DnsUpdateA => "DNS update A",
            Field::H323Pattern => "H.225/H.245 transport address (pattern)",
            Field::TftpRequest => "TFTP request (the server answers from a new port)",
        }
    }

    /// Whether a port in this field announces a new flow (media, a data connection, an H.245
    /// channel) that the tracker expects.
    pub fn announces(self) -> bool {
        matches!(
            self,
            Field::SdpM
                | Field::SdpARtcp
                | Field::Port
                | Field::Eprt
                | Field::Reply227
                | Field::Reply229
                | Field::TransportClientPort
                | Field::TransportServerPort
                | Field::H323Pattern
        )
    }
}

impl fmt::Display for Field {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for Field {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn texts_are_distinct_and_serialize_as_text() {
        let mut seen = std::collections::HashSet::new();
        for f in Field::ALL {
            assert!(seen.insert(f.as_str()), "{f:?} repeats a text");
            assert_eq!(f.to_string(), f.as_str());
            assert_eq!(
                serde_json::to_string(&f).unwrap(),
                format!("\"{}\"", f.as_str())
            );
        }
        assert_eq!(Field::Reply227.as_str(), "227");
        assert_eq!(Field::SdpARtcp.as_str(), "sdp a=rtcp");
        let announcing: Vec<_> = Field::ALL.iter().filter(|f| f.announces()).collect();
        assert_eq!(announcing.len(), 9);
        assert!(!Field::SdpC.announces() && !Field::SdpMRtcp.announces());
    }
}
