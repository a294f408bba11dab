//! Resolving a [`Draft`] into a validated topology, in stages: [`place`] (the VPC, the region,
//! the instances' families), [`enis`] (each instance's primary ENI, then the others, and
//! attachments), [`groups`] (security group rules), [`assocs`] (EIPs and associations) and
//! [`write`] (the TOML text, with a comment naming each entry's origin); then the text is
//! validated as `eipsim check` would.

mod assocs;
mod enis;
mod groups;
mod place;
mod write;

use std::net::Ipv4Addr;

use super::{Draft, ImportError, Imported, input};
use crate::model::{Cloud, Mac, Mode, TopologyError};

/// A TOML string literal.
pub(super) fn q(s: &str) -> String {
    toml::Value::String(s.to_string()).to_string()
}

/// A comment's text on one line.
pub(super) fn comment(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

pub(super) fn parse_ip(v: &str, subject: &str, field: &str) -> Result<Ipv4Addr, ImportError> {
    v.trim()
        .parse()
        .map_err(|_| input(subject, format!("{field} {v:?} is not an IPv4 address")))
}

pub(super) struct Eni {
    pub(super) id: String,
    pub(super) primary: bool,
    pub(super) mac: Mac,
    pub(super) primary_ip: Ipv4Addr,
    pub(super) secondary_ips: Vec<Ipv4Addr>,
    pub(super) instance: Option<String>,
    pub(super) groups: Vec<String>,
    pub(super) origin: String,
}

pub(super) struct Assoc {
    pub(super) eip: String,
    pub(super) eni: Option<String>,
    pub(super) instance: Option<String>,
    pub(super) mode: Mode,
    pub(super) private_ip: Option<Ipv4Addr>,
    pub(super) origin: String,
}

pub(super) struct Rule {
    pub(super) direction: &'static str,
    pub(super) policy: &'static str,
    pub(super) priority: i64,
    pub(super) protocol: &'static str,
    pub(super) port_range: String,
    pub(super) cidr: Option<String>,
    pub(super) group: Option<String>,
    pub(super) origin: String,
}

/// Resolves a draft into a validated topology (see the module documentation).
pub fn finish(d: Draft, region_arg: Option<&str>) -> Result<Imported, ImportError> {
    let mut notes = d.notes.clone();
    let (vpc, cidr) = place::vpc(&d, &mut notes)?;
    let (region, found) = place::region(&d, region_arg)?;
    let families = place::families(&d, &mut notes)?;
    let enis = enis::resolve(&d, &mut notes)?;
    let rules = groups::rules(&d, &enis, vpc, &mut notes)?;
    let assocs = assocs::resolve(&d, &enis, &region, &mut notes)?;
    let resolved = write::Resolved {
        vpc,
        cidr,
        region,
        found,
        families,
        enis,
        rules,
        assocs,
    };
    let (s, origins) = write::topology(&d, &resolved, &mut notes)?;

    // Would `eipsim check` take it?
    match Cloud::from_toml_named(&s, "imported topology") {
        Ok(_) => Ok(Imported { toml: s, notes }),
        Err(TopologyError::Rule { source, .. }) => {
            let origin = origins
                .iter()
                .find(|(k, _)| {
                    source.subject == *k
                        || (source.subject.starts_with(k.as_str())
                            && (k.ends_with(' ')
                                || source.subject[k.len()..].starts_with([' ', '(', ':'])))
                })
                .map_or_else(|| d.source.clone(), |(_, o)| o.clone());
            Err(ImportError::Rule {
                code: source.code.code(),
                origin,
                message: format!("{}: {}", source.subject, source.message),
            })
        }
        Err(e) => Err(input(
            d.source.clone(),
            format!("the imported topology does not parse: {e}"),
        )),
    }
}
