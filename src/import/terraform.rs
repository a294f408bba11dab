//! The JSON of `terraform show -json`: `values.root_module.resources[]` and, recursively,
//! `child_modules[].resources[]`; each managed resource has `address`, `type`, `name` and
//! `values` (its attributes). The alicloud provider's resources read:
//!
//! | type | attributes |
//! |---|---|
//! | `alicloud_vpc` | `id`, `cidr_block` |
//! | `alicloud_vswitch` | `id`, `vpc_id`, `zone_id` (older: `availability_zone`) |
//! | `alicloud_instance` | `id`, `instance_type`, `availability_zone`, `vswitch_id`, `private_ip` (or `primary_ip_address`), `secondary_private_ips`, `security_groups`, `network_interface_id` (when the provider exports it) |
//! | `alicloud_ecs_network_interface` (older: `alicloud_network_interface`) | `id`, `mac`, `primary_ip_address` (or `private_ip`), `private_ip_addresses` (or `private_ips`), `vswitch_id`, `security_group_ids` (or `security_groups`) |
//! | `alicloud_ecs_network_interface_attachment` (older: `alicloud_network_interface_attachment`) | `network_interface_id`, `instance_id` |
//! | `alicloud_eip_address`, `alicloud_eip` | `id`, `ip_address`, `payment_type` (or `instance_charge_type`) |
//! | `alicloud_eip_association` | `allocation_id`, `instance_id`, `instance_type`, `mode`, `private_ip_address` |
//! | `alicloud_security_group` | `id`, `security_group_type`, `inner_access_policy` (older: `inner_access`), `vpc_id` |
//! | `alicloud_security_group_rule` | `security_group_id`, `type`, `ip_protocol`, `port_range`, `priority`, `policy`, `cidr_ip`, `source_security_group_id` |
//!
//! Other resource types and data sources are skipped (one note lists them).

use serde_json::Value;

use super::{
    DAssoc, DAttach, DEip, DEni, DGroup, DInstance, DRule, DVpc, DVswitch, Draft, ImportError,
    input, json_error,
};

/// A non-empty string attribute (numbers are given as text).
pub(crate) fn text(v: &Value, key: &str) -> Option<String> {
    match v.get(key)? {
        Value::String(s) if !s.trim().is_empty() => Some(s.trim().to_string()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// The first of several attribute names that is set.
pub(crate) fn text_any(v: &Value, keys: &[&str]) -> Option<String> {
    keys.iter().find_map(|k| text(v, k))
}

/// A list of non-empty strings (absent or null: empty).
pub(crate) fn texts(v: &Value, key: &str) -> Vec<String> {
    match v.get(key) {
        Some(Value::Array(a)) => a
            .iter()
            .filter_map(|x| x.as_str())
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .collect(),
        _ => Vec::new(),
    }
}

/// The first of several list attributes that is non-empty.
fn texts_any(v: &Value, keys: &[&str]) -> Vec<String> {
    keys.iter()
        .map(|k| texts(v, k))
        .find(|l| !l.is_empty())
        .unwrap_or_default()
}

/// An integer attribute, written as a number or as decimal text.
pub(crate) fn integer(v: &Value, key: &str, subject: &str) -> Result<Option<i64>, ImportError> {
    match v.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => n
            .as_i64()
            .map(Some)
            .ok_or_else(|| input(subject, format!("{key} {n} is not an integer"))),
        Some(Value::String(s)) if s.trim().is_empty() => Ok(None),
        Some(Value::String(s)) => s
            .trim()
            .parse()
            .map(Some)
            .map_err(|_| input(subject, format!("{key} {s:?} is not an integer"))),
        Some(other) => Err(input(subject, format!("{key} {other} is not an integer"))),
    }
}

/// Parses the state into a draft; `name` names the file.
pub fn parse(text_in: &str, name: &str) -> Result<Draft, ImportError> {
    let root: Value = serde_json::from_str(text_in).map_err(|e| json_error(name, &e))?;
    let module = root
        .get("values")
        .and_then(|v| v.get("root_module"))
        .ok_or_else(|| {
            input(
                name,
                "no values.root_module: give the output of `terraform show -json` (of a state, not a plan)",
            )
        })?;
    let mut d = Draft {
        source: format!("Terraform state {name}"),
        ..Draft::default()
    };
    let mut skipped: Vec<String> = Vec::new();
    walk(module, &mut d, &mut skipped)?;
    if !skipped.is_empty() {
        skipped.sort();
        skipped.dedup();
        d.notes.push(format!(
            "{name}: skipped resources of types eipsim does not model: {}",
            skipped.join(", ")
        ));
    }
    Ok(d)
}

fn walk(module: &Value, d: &mut Draft, skipped: &mut Vec<String>) -> Result<(), ImportError> {
    if let Some(Value::Array(resources)) = module.get("resources") {
        for (n, r) in resources.iter().enumerate() {
            resource(r, n, d, skipped)?;
        }
    }
    if let Some(Value::Array(children)) = module.get("child_modules") {
        for c in children {
            walk(c, d, skipped)?;
        }
    }
    Ok(())
}

fn resource(
    r: &Value,
    n: usize,
    d: &mut Draft,
    skipped: &mut Vec<String>,
) -> Result<(), ImportError> {
    let address = text(r, "address").unwrap_or_else(|| format!("resource {}", n + 1));
    if text(r, "mode").as_deref() == Some("data") {
        return Ok(());
    }
    let Some(kind) = text(r, "type") else {
        return Err(input(address, "the resource has no type"));
    };
    let empty = Value::Null;
    let v = r.get("values").unwrap_or(&empty);
    let id = |what: &str| -> Result<String, ImportError> {
        text(v, "id").ok_or_else(|| input(&address, format!("the {what} has no id")))
    };
    let origin = address.clone();
    match kind.as_str() {
        "alicloud_vpc" => d.vpcs.push(DVpc {
            id: id("VPC")?,
            cidr: text(v, "cidr_block"),
            origin,
        }),
        "alicloud_vswitch" | "alicloud_subnet" => d.vswitches.push(DVswitch {
            id: id("vSwitch")?,
            vpc: text(v, "vpc_id"),
            zone: text_any(v, &["zone_id", "availability_zone"]),
            origin,
        }),
        "alicloud_instance" => d.instances.push(DInstance {
            id: id("instance")?,
            instance_type: text(v, "instance_type"),
            family: None,
            zone: text_any(v, &["availability_zone", "zone_id"]),
            vswitch: text(v, "vswitch_id"),
            vpc: None,
            private_ip: text_any(v, &["private_ip", "primary_ip_address"]),
            secondary_ips: texts(v, "secondary_private_ips"),
            primary_eni: text(v, "network_interface_id"),
            primary_mac: None,
            groups: texts(v, "security_groups"),
            origin,
        }),
        "alicloud_ecs_network_interface" | "alicloud_network_interface" => d.enis.push(DEni {
            id: id("ENI")?,
            primary: Some(false),
            mac: text(v, "mac"),
            primary_ip: text_any(v, &["primary_ip_address", "private_ip"]),
            secondary_ips: texts_any(v, &["private_ip_addresses", "private_ips"]),
            vswitch: text(v, "vswitch_id"),
            vpc: None,
            zone: None,
            instance: None,
            groups: texts_any(v, &["security_group_ids", "security_groups"]),
            origin,
        }),
        "alicloud_ecs_network_interface_attachment" | "alicloud_network_interface_attachment" => {
            let eni = text(v, "network_interface_id")
                .ok_or_else(|| input(&address, "no network_interface_id"))?;
            let instance =
                text(v, "instance_id").ok_or_else(|| input(&address, "no instance_id"))?;
            d.attachments.push(DAttach {
                eni,
                instance,
                origin,
            });
        }
        "alicloud_eip_address" | "alicloud_eip" => {
            let charge = text_any(v, &["payment_type", "instance_charge_type"]);
            let subscription = match charge.as_deref() {
                Some("Subscription") | Some("PrePaid") => Some(true),
                Some("PayAsYouGo") | Some("PostPaid") => Some(false),
                Some(other) => {
                    return Err(input(
                        address,
                        format!("payment type {other:?} is not PayAsYouGo or Subscription"),
                    ));
                }
                None => None,
            };
            d.eips.push(DEip {
                id: id("EIP")?,
                address: text(v, "ip_address"),
                subscription,
                origin,
            });
        }
        "alicloud_eip_association" => {
            let eip =
                text(v, "allocation_id").ok_or_else(|| input(&address, "no allocation_id"))?;
            let target = text(v, "instance_id").ok_or_else(|| input(&address, "no instance_id"))?;
            d.assocs.push(DAssoc {
                eip,
                target,
                instance_type: text(v, "instance_type"),
                mode: text(v, "mode"),
                private_ip: text(v, "private_ip_address"),
                origin,
            });
        }
        "alicloud_security_group" => {
            let inner = text(v, "inner_access_policy").or_else(|| match v.get("inner_access") {
                Some(Value::Bool(true)) => Some("Accept".to_string()),
                Some(Value::Bool(false)) => Some("Drop".to_string()),
                _ => None,
            });
            d.groups.push(DGroup {
                id: id("security group")?,
                kind: text(v, "security_group_type"),
                inner_access: inner,
                vpc: text(v, "vpc_id"),
                origin,
            });
        }
        "alicloud_security_group_rule" => {
            let group = text(v, "security_group_id")
                .ok_or_else(|| input(&address, "no security_group_id"))?;
            d.rules.push(DRule {
                group,
                direction: text(v, "type"),
                policy: text(v, "policy"),
                priority: integer(v, "priority", &address)?,
                protocol: text(v, "ip_protocol"),
                port_range: text(v, "port_range"),
                cidr: text(v, "cidr_ip"),
                peer_group: text(v, "source_security_group_id"),
                origin,
            });
        }
        other => skipped.push(other.to_string()),
    }
    Ok(())
}
