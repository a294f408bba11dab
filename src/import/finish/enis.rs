//! The ENIs: each instance's primary ENI (from the input's ENIs or the instance itself), then
//! the others, with MACs defaulted where the input has none, and the attachments applied.

use super::super::{DEni, Draft, ImportError, input};
use super::{Eni, parse_ip};
use crate::model::Mac;

/// The ENIs of the topology, primary ENIs first.
pub(super) fn resolve(d: &Draft, notes: &mut Vec<String>) -> Result<Vec<Eni>, ImportError> {
    let mut used_macs: Vec<Mac> = Vec::new();
    for e in &d.enis {
        if let Some(m) = &e.mac
            && let Ok(m) = m.trim().parse::<Mac>()
        {
            used_macs.push(m);
        }
    }
    for i in &d.instances {
        if let Some(m) = &i.primary_mac
            && let Ok(m) = m.trim().parse::<Mac>()
        {
            used_macs.push(m);
        }
    }
    let mut next_mac = 0u32;
    let mut default_mac = |used_macs: &mut Vec<Mac>| -> Mac {
        loop {
            next_mac = next_mac.wrapping_add(1);
            let m = Mac([
                0x00,
                0x16,
                0x3e,
                0xfe,
                (next_mac >> 8) as u8,
                next_mac as u8,
            ]);
            if !used_macs.contains(&m) {
                used_macs.push(m);
                return m;
            }
        }
    };
    let mut enis: Vec<Eni> = Vec::new();
    let mut taken: Vec<usize> = Vec::new(); // indexes into d.enis used as primary ENIs
    let mut seen_enis: Vec<&str> = Vec::new();
    for e in &d.enis {
        if seen_enis.contains(&e.id.as_str()) {
            return Err(input(
                e.origin.clone(),
                format!("ENI {} is described twice", e.id),
            ));
        }
        seen_enis.push(&e.id);
    }
    let eni_from = |e: &DEni,
                    primary: bool,
                    instance: Option<String>,
                    extra_groups: &[String],
                    notes: &mut Vec<String>,
                    used_macs: &mut Vec<Mac>,
                    default_mac: &mut dyn FnMut(&mut Vec<Mac>) -> Mac|
     -> Result<Eni, ImportError> {
        let mac = match &e.mac {
            Some(m) => m
                .trim()
                .parse::<Mac>()
                .map_err(|m| input(e.origin.clone(), format!("mac: {m}")))?,
            None => {
                let m = default_mac(used_macs);
                notes.push(format!("{}: no MAC address: using {m}", e.origin));
                m
            }
        };
        let ip = e.primary_ip.as_deref().ok_or_else(|| {
            input(
                e.origin.clone(),
                "the ENI has no primary private IP address",
            )
        })?;
        let primary_ip = parse_ip(ip, &e.origin, "primary IP")?;
        let secondary_ips = e
            .secondary_ips
            .iter()
            .filter(|s| s.trim() != ip.trim())
            .map(|s| parse_ip(s, &e.origin, "secondary private IP"))
            .collect::<Result<Vec<_>, _>>()?;
        let mut groups = e.groups.clone();
        for g in extra_groups {
            if !groups.contains(g) {
                groups.push(g.clone());
            }
        }
        Ok(Eni {
            id: e.id.clone(),
            primary,
            mac,
            primary_ip,
            secondary_ips,
            instance,
            groups,
            origin: e.origin.clone(),
        })
    };
    for i in &d.instances {
        // An ENI of the input that is this instance's primary ENI.
        let found = d.enis.iter().position(|e| {
            i.primary_eni.as_deref() == Some(e.id.as_str())
                || (e.primary == Some(true) && e.instance.as_deref() == Some(i.id.as_str()))
        });
        let eni = match found {
            Some(x) => {
                taken.push(x);
                let mut e = d.enis[x].clone();
                if e.primary_ip.is_none() {
                    e.primary_ip = i.private_ip.clone();
                }
                if e.mac.is_none() {
                    e.mac = i.primary_mac.clone();
                }
                eni_from(
                    &e,
                    true,
                    Some(i.id.clone()),
                    &i.groups,
                    notes,
                    &mut used_macs,
                    &mut default_mac,
                )?
            }
            None => {
                let id = match &i.primary_eni {
                    Some(id) => id.clone(),
                    None => {
                        let id = format!("{}-primary-eni", i.id);
                        notes.push(format!(
                            "{}: the primary ENI's id is not in the input: using {id}",
                            i.origin
                        ));
                        id
                    }
                };
                let origin = format!("primary ENI of {}", i.origin);
                let e = DEni {
                    id,
                    primary: Some(true),
                    mac: i.primary_mac.clone(),
                    primary_ip: Some(i.private_ip.clone().ok_or_else(|| {
                        input(i.origin.clone(), "the instance has no private IP address")
                    })?),
                    secondary_ips: i.secondary_ips.clone(),
                    groups: i.groups.clone(),
                    origin,
                    ..DEni::default()
                };
                eni_from(
                    &e,
                    true,
                    Some(i.id.clone()),
                    &[],
                    notes,
                    &mut used_macs,
                    &mut default_mac,
                )?
            }
        };
        enis.push(eni);
    }
    for (x, e) in d.enis.iter().enumerate() {
        if taken.contains(&x) {
            continue;
        }
        if e.primary == Some(true) {
            return Err(input(
                e.origin.clone(),
                format!(
                    "primary ENI {} belongs to instance {}, which the input does not describe",
                    e.id,
                    e.instance.as_deref().unwrap_or("(none)")
                ),
            ));
        }
        if let Some(inst) = &e.instance
            && !d.instances.iter().any(|i| &i.id == inst)
        {
            return Err(input(
                e.origin.clone(),
                format!(
                    "the ENI is attached to instance {inst}, which the input does not describe"
                ),
            ));
        }
        let eni = eni_from(
            e,
            false,
            e.instance.clone(),
            &[],
            notes,
            &mut used_macs,
            &mut default_mac,
        )?;
        enis.push(eni);
    }
    for a in &d.attachments {
        let Some(e) = enis.iter_mut().find(|e| e.id == a.eni) else {
            return Err(input(
                a.origin.clone(),
                format!("ENI {} is not in the input", a.eni),
            ));
        };
        if !d.instances.iter().any(|i| i.id == a.instance) {
            return Err(input(
                a.origin.clone(),
                format!("instance {} is not in the input", a.instance),
            ));
        }
        match &e.instance {
            Some(cur) if cur != &a.instance => {
                return Err(input(
                    a.origin.clone(),
                    format!(
                        "ENI {} is attached to instance {cur} by {} already",
                        a.eni, e.origin
                    ),
                ));
            }
            _ => e.instance = Some(a.instance.clone()),
        }
    }
    Ok(enis)
}
