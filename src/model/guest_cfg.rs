//! What an instance's guest OS runs beyond its addresses (`replay --respond`): the services it
//! answers, its routes and source rules, and the connections it opens. Each is written in the
//! topology as a short string in the style of the Linux commands that set it up.

use std::fmt;
use std::net::{Ipv4Addr, SocketAddrV4};
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::Ipv4Cidr;

/// A service the guest answers: `tcp/PORT` (a listener that completes the handshake and
/// answers HTTP or echoes), `udp/PORT` (an echo) or `icmp` (echo replies).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Service {
    /// A TCP listener on this port.
    Tcp(u16),
    /// A UDP echo on this port.
    Udp(u16),
    /// ICMP echo replies.
    Icmp,
}

/// A transport for [`Connect`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Transport {
    /// TCP: the guest sends a SYN.
    Tcp,
    /// UDP: the guest sends one datagram.
    Udp,
}

/// A source rule (`ip rule add from ADDR lookup TABLE`, seed 004): traffic from `from` leaves
/// by the NIC `eni`. Written `from ADDR lookup ENI_ID`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SourceRule {
    /// The source address the rule matches.
    pub from: Ipv4Addr,
    /// The ENI (NIC) whose table it looks up.
    pub eni: String,
}

/// A route (`ip route add DEST dev NIC metric M`): `DEST dev ENI_ID [metric M]`, `DEST`
/// being `default` or a CIDR block. The next hop is the NIC's gateway.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GuestRoute {
    /// The destination block (`default`: 0.0.0.0/0).
    pub dest: Ipv4Cidr,
    /// The ENI (NIC) it leaves by.
    pub eni: String,
    /// Its metric (lower wins among routes of equal prefix; default 0).
    pub metric: u32,
}

/// A connection the guest opens when the replay starts (at the first frame's time):
/// `tcp/ADDR:PORT` or `udp/ADDR:PORT`, optionally followed by `from ADDR` (the application
/// binds that source address).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Connect {
    /// TCP or UDP.
    pub transport: Transport,
    /// The peer.
    pub to: SocketAddrV4,
    /// The source address the application binds, if any.
    pub from: Option<Ipv4Addr>,
}

/// An instance's guest beyond its addresses, as the topology gives it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GuestConfig {
    /// What it answers (default: ICMP echo only).
    pub services: Vec<Service>,
    /// Routes added to the defaults.
    pub routes: Vec<GuestRoute>,
    /// Source rules, tried in order before the main table.
    pub rules: Vec<SourceRule>,
    /// Connections opened when the replay starts.
    pub connect: Vec<Connect>,
}

impl Default for GuestConfig {
    fn default() -> Self {
        GuestConfig {
            services: vec![Service::Icmp],
            routes: Vec::new(),
            rules: Vec::new(),
            connect: Vec::new(),
        }
    }
}

impl GuestConfig {
    /// Whether it answers `s`.
    pub fn serves(&self, s: Service) -> bool {
        self.services.contains(&s)
    }

    /// Whether everything is the default (the topology writer leaves it out).
    pub fn is_default(&self) -> bool {
        *self == GuestConfig::default()
    }
}

fn port(s: &str, what: &str) -> Result<u16, String> {
    s.parse::<u16>()
        .ok()
        .filter(|p| *p > 0)
        .ok_or_else(|| format!("{what}: port {s:?} is not 1 to 65535"))
}

impl FromStr for Service {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let what = format!("service {s:?}");
        match s.split_once('/') {
            None if s == "icmp" => Ok(Service::Icmp),
            Some(("tcp", p)) => Ok(Service::Tcp(port(p, &what)?)),
            Some(("udp", p)) => Ok(Service::Udp(port(p, &what)?)),
            _ => Err(format!("{what}: expected tcp/PORT, udp/PORT or icmp")),
        }
    }
}

impl fmt::Display for Service {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Service::Tcp(p) => write!(f, "tcp/{p}"),
            Service::Udp(p) => write!(f, "udp/{p}"),
            Service::Icmp => f.write_str("icmp"),
        }
    }
}

impl FromStr for SourceRule {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let words: Vec<&str> = s.split_whitespace().collect();
        match words.as_slice() {
            ["from", addr, "lookup", eni] => Ok(SourceRule {
                from: addr
                    .parse()
                    .map_err(|_| format!("rule {s:?}: {addr:?} is not an IPv4 address"))?,
                eni: (*eni).to_string(),
            }),
            _ => Err(format!("rule {s:?}: expected `from ADDR lookup ENI_ID`")),
        }
    }
}

impl fmt::Display for SourceRule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "from {} lookup {}", self.from, self.eni)
    }
}

impl FromStr for GuestRoute {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let words: Vec<&str> = s.split_whitespace().collect();
        let bad = || format!("route {s:?}: expected `default|CIDR dev ENI_ID [metric N]`");
        let (dest, eni, metric) = match words.as_slice() {
            [d, "dev", e] => (*d, *e, None),
            [d, "dev", e, "metric", m] => (*d, *e, Some(*m)),
            _ => return Err(bad()),
        };
        let dest = if dest == "default" {
            Ipv4Cidr {
                network: Ipv4Addr::UNSPECIFIED,
                prefix: 0,
            }
        } else {
            dest.parse().map_err(|e| format!("route {s:?}: {e}"))?
        };
        let metric = match metric {
            Some(m) => m
                .parse()
                .map_err(|_| format!("route {s:?}: metric {m:?} is not a number"))?,
            None => 0,
        };
        Ok(GuestRoute {
            dest,
            eni: eni.to_string(),
            metric,
        })
    }
}

impl fmt::Display for GuestRoute {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.dest.prefix == 0 {
            f.write_str("default")?;
        } else {
            write!(f, "{}", self.dest)?;
        }
        write!(f, " dev {}", self.eni)?;
        if self.metric != 0 {
            write!(f, " metric {}", self.metric)?;
        }
        Ok(())
    }
}

impl FromStr for Connect {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let bad = || format!("connect {s:?}: expected `tcp/ADDR:PORT [from ADDR]` or `udp/...`");
        let words: Vec<&str> = s.split_whitespace().collect();
        let (target, from) = match words.as_slice() {
            [t] => (*t, None),
            [t, "from", a] => (
                *t,
                Some(
                    a.parse::<Ipv4Addr>()
                        .map_err(|_| format!("connect {s:?}: {a:?} is not an IPv4 address"))?,
                ),
            ),
            _ => return Err(bad()),
        };
        let (transport, to) = match target.split_once('/') {
            Some(("tcp", to)) => (Transport::Tcp, to),
            Some(("udp", to)) => (Transport::Udp, to),
            _ => return Err(bad()),
        };
        let to: SocketAddrV4 = to
            .parse()
            .map_err(|_| format!("connect {s:?}: {to:?} is not ADDR:PORT"))?;
        if to.port() == 0 {
            return Err(format!("connect {s:?}: port 0"));
        }
        Ok(Connect {
            transport,
            to,
            from,
        })
    }
}

impl fmt::Display for Connect {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let t = match self.transport {
            Transport::Tcp => "tcp",
            Transport::Udp => "udp",
        };
        write!(f, "{t}/{}", self.to)?;
        if let Some(a) = self.from {
            write!(f, " from {a}")?;
        }
        Ok(())
    }
}

macro_rules! as_string {
    ($($t:ty),*) => {$(
        impl<'de> Deserialize<'de> for $t {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = String::deserialize(d)?;
                s.parse().map_err(serde::de::Error::custom)
            }
        }
        impl Serialize for $t {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.collect_str(self)
            }
        }
    )*};
}
as_string!(Service, SourceRule, GuestRoute, Connect);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_form_reads_and_writes_back() {
        for s in ["tcp/80", "udp/5060", "icmp"] {
            assert_eq!(s.parse::<Service>().unwrap().to_string(), s);
        }
        let s = "from 47.0.0.20 lookup eni-cut";
        assert_eq!(s.parse::<SourceRule>().unwrap().to_string(), s);
        for s in [
            "default dev eni-cut metric 50",
            "203.0.113.0/24 dev eni-web",
        ] {
            assert_eq!(s.parse::<GuestRoute>().unwrap().to_string(), s);
        }
        for s in ["tcp/198.51.100.7:80", "udp/198.51.100.7:53 from 47.0.0.20"] {
            assert_eq!(s.parse::<Connect>().unwrap().to_string(), s);
        }
    }

    #[test]
    fn bad_forms_name_what_is_wrong() {
        let e = "tcp/0".parse::<Service>().unwrap_err();
        assert!(e.contains("port \"0\""), "{e}");
        let e = "sctp/80".parse::<Service>().unwrap_err();
        assert!(e.contains("expected tcp/PORT"), "{e}");
        let e = "from 47.0.0 lookup x".parse::<SourceRule>().unwrap_err();
        assert!(e.contains("not an IPv4 address"), "{e}");
        let e = "10.0.0.1/8 dev x".parse::<GuestRoute>().unwrap_err();
        assert!(e.contains("host bits"), "{e}");
        let e = "tcp/1.2.3.4".parse::<Connect>().unwrap_err();
        assert!(e.contains("ADDR:PORT"), "{e}");
    }
}
