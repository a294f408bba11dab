//! Loading a topology file: TOML text parsed into the [`super::file`] schema, then built into
//! a [`Cloud`] through the console's operations, so that every rule is checked in one place.

use std::path::Path;

use super::file::TopologyFile;
use super::guest_cfg::GuestConfig;
use super::rules::{ModelError, RuleCode, err};
use super::{Account, Cloud, Eip, Eni, EniKind, Instance, InstanceType, Mode, Vpc, checks, sg};

/// Errors of loading a topology file.
#[derive(Debug, thiserror::Error)]
pub enum TopologyError {
    /// The file could not be read.
    #[error("topology {path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The OS error.
        source: std::io::Error,
    },
    /// The file is not valid TOML of the expected shape.
    #[error("topology {path}: {message}")]
    Syntax {
        /// The file.
        path: String,
        /// The parser's message, with line and column.
        message: String,
    },
    /// A rule of the seeds is broken.
    #[error("topology {path}: {source}")]
    Rule {
        /// The file.
        path: String,
        /// The rule.
        source: ModelError,
    },
}

impl TopologyError {
    /// The rule code, when a rule was broken.
    pub fn code(&self) -> Option<&'static str> {
        self.rule().map(RuleCode::code)
    }

    /// The rule broken, when one was.
    pub fn rule(&self) -> Option<RuleCode> {
        match self {
            TopologyError::Rule { source, .. } => Some(source.code),
            _ => None,
        }
    }
}

/// The file's schema from its text: read a few sections at a time; anything unusual (an error
/// included) is read whole, so that what is accepted and every message stay those of one parse
/// of the whole text.
fn parse(text: &str, name: &str) -> Result<TopologyFile, TopologyError> {
    match super::chunked::read(text) {
        Some(file) => Ok(file),
        None => toml::from_str(text).map_err(|e| TopologyError::Syntax {
            path: name.to_string(),
            message: checks::toml_error_text(&e),
        }),
    }
}

impl Cloud {
    /// Reads and validates a topology file.
    pub fn load(path: &Path) -> Result<Cloud, TopologyError> {
        let name = path.display().to_string();
        let file = {
            let text = std::fs::read_to_string(path).map_err(|source| TopologyError::Io {
                path: name.clone(),
                source,
            })?;
            parse(&text, &name)?
        };
        // The text is gone before the cloud is built: only the schema and the cloud are held.
        Cloud::build(file).map_err(|source| TopologyError::Rule { path: name, source })
    }

    /// Parses and validates topology text; `name` is used in error messages.
    pub fn from_toml_named(text: &str, name: &str) -> Result<Cloud, TopologyError> {
        Cloud::build(parse(text, name)?).map_err(|source| TopologyError::Rule {
            path: name.to_string(),
            source,
        })
    }

    /// Parses and validates topology text.
    pub fn from_toml(text: &str) -> Result<Cloud, TopologyError> {
        Cloud::from_toml_named(text, "<text>")
    }

    /// Builds the end state the file describes through the console's operations, in the order
    /// the seeds prescribe: create ENIs (detached), allocate EIPs, bind them, then attach ENIs.
    pub(super) fn build(file: TopologyFile) -> Result<Cloud, ModelError> {
        let mut cloud = Cloud::new(
            file.region,
            Account {
                multi_eip_authorized: file.account.multi_eip_authorized,
                multi_eip_quota: file.account.multi_eip_quota,
                tcp25_unblocked: file.account.tcp25_unblocked,
            },
            Vpc {
                id: file.vpc.id,
                cidr: file.vpc.cidr,
                gateway_mac: file.vpc.gateway_mac,
                internet_mac: file.vpc.internet_mac,
            },
        )?;
        cloud.reserve(
            file.instance.len(),
            file.eni.len(),
            file.eip.len(),
            file.association.len(),
        );
        cloud.security_groups = sg::build_groups(file.security_group)?;
        for i in file.instance {
            cloud.create_instance(Instance {
                id: i.id,
                family: i.family,
                dhcp: i.dhcp,
                guest: GuestConfig {
                    services: i
                        .services
                        .unwrap_or_else(|| GuestConfig::default().services),
                    routes: i.routes,
                    rules: i.rules,
                    connect: i.connect,
                },
            })?;
        }
        let mut attach = Vec::new();
        let mut statics = Vec::new();
        for e in file.eni {
            let subject = format!("ENI {}", e.id);
            sg::check_eni_groups(&cloud.security_groups, &e.id, &e.security_groups)?;
            cloud.create_network_interface(Eni {
                id: e.id,
                kind: e.kind,
                mac: e.mac,
                primary_ip: e.primary_ip,
                secondary_ips: e.secondary_ips,
                instance: None,
                static_eips: None,
                security_groups: e.security_groups,
                deleted: false,
                private_network_lost: false,
            })?;
            let idx = cloud.enis.len() - 1;
            match e.instance {
                Some(inst) => {
                    let i = cloud.instance_index(&inst).ok_or_else(|| {
                        err(
                            RuleCode::UnknownId,
                            subject.clone(),
                            format!("instance {inst:?} is not defined in [[instance]]"),
                        )
                    })?;
                    attach.push((idx, i));
                }
                None if e.kind == EniKind::Primary => {
                    return Err(err(
                        RuleCode::PrimaryEniNeedsInstance,
                        subject,
                        "a primary ENI belongs to the instance it was created with: give its `instance`",
                    ));
                }
                None => {}
            }
            if let Some(s) = e.static_eips {
                statics.push((idx, s));
            }
        }
        for e in file.eip {
            cloud.allocate_eip_address(Eip {
                id: e.id,
                address: e.address,
                charge: e.charge,
                released: false,
                gateway: e.gateway,
                mask: e.mask,
            })?;
        }
        let mut to_instances = Vec::new();
        for (n, a) in file.association.iter().enumerate() {
            let target = a.eni.as_deref().or(a.instance.as_deref()).unwrap_or("?");
            let subject = format!("association {} ({} -> {target}, {})", n + 1, a.eip, a.mode);
            let eip = cloud.eip_index(&a.eip).ok_or_else(|| {
                err(
                    RuleCode::UnknownId,
                    subject.clone(),
                    format!("EIP {:?} is not defined in [[eip]]", a.eip),
                )
            })?;
            let in_subject = |mut e: ModelError| {
                e.subject = subject.clone();
                e
            };
            match (a.instance_type, &a.eni, &a.instance) {
                (InstanceType::NetworkInterface, Some(eni), None) => {
                    let eni = cloud.eni_index(eni).ok_or_else(|| {
                        err(
                            RuleCode::UnknownId,
                            subject.clone(),
                            format!("ENI {eni:?} is not defined in [[eni]]"),
                        )
                    })?;
                    cloud
                        .associate_eip_address(eip, eni, a.mode, a.private_ip)
                        .map_err(in_subject)?;
                }
                (InstanceType::EcsInstance, None, Some(inst)) => {
                    let inst = cloud.instance_index(inst).ok_or_else(|| {
                        err(
                            RuleCode::UnknownId,
                            subject.clone(),
                            format!("instance {inst:?} is not defined in [[instance]]"),
                        )
                    })?;
                    if a.mode != Mode::Nat || a.private_ip.is_some() {
                        return Err(err(
                            RuleCode::InstanceNatOnly,
                            subject,
                            "an EIP associated with an ECS instance is NAT to its primary ENI's primary private IP: give neither another mode nor private_ip",
                        ));
                    }
                    to_instances.push((eip, inst, subject));
                }
                _ => {
                    return Err(err(
                        RuleCode::InvalidAssociation,
                        subject,
                        "give `eni` (instance_type NetworkInterface, the default) or `instance` (instance_type EcsInstance), not both",
                    ));
                }
            }
        }
        for (eni, s) in statics {
            cloud.static_eips_rule(eni, &s)?;
            cloud.set_static_eips(eni, s)?;
        }
        for (eni, inst) in attach {
            cloud.attach_network_interface(eni, inst)?;
        }
        for (eip, inst, subject) in to_instances {
            cloud
                .associate_eip_address_to_instance(eip, inst)
                .map_err(|mut e| {
                    e.subject = subject;
                    e
                })?;
        }
        for (name, mode) in &file.alg {
            cloud
                .alg
                .set(name, mode)
                .map_err(|m| err(RuleCode::InvalidAlg, format!("[alg] {name}"), m))?;
        }
        guest_nics_rule(&cloud)?;
        Ok(cloud)
    }
}

/// Each instance's guest routes and source rules name ENIs attached to it.
fn guest_nics_rule(cloud: &Cloud) -> Result<(), ModelError> {
    for (ii, inst) in cloud.instances.iter().enumerate() {
        let names = inst
            .guest
            .routes
            .iter()
            .map(|r| (r.eni.as_str(), r.to_string()))
            .chain(
                inst.guest
                    .rules
                    .iter()
                    .map(|r| (r.eni.as_str(), r.to_string())),
            );
        for (eni, text) in names {
            let attached = cloud
                .eni_index(eni)
                .is_some_and(|e| cloud.enis[e].instance == Some(ii));
            if !attached {
                return Err(err(
                    RuleCode::GuestNic,
                    format!("instance {}", inst.id),
                    format!(
                        "{text:?} names {eni:?}, which is not an ENI attached to this instance"
                    ),
                ));
            }
        }
    }
    Ok(())
}
