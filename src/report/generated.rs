//! Frames the guests generated (`replay --respond`): counted apart from the input's frames, so
//! that `frames.in == frames.forwarded + frames.dropped` still speaks of the captures.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use crate::dataplane::{DropReason, Outcome, Port, Verdict};
use crate::model::Cloud;

/// The guests' frames through the frame pass, and the DHCP server's answers.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Generated {
    /// Frames the guests sent (each went through the frame pass).
    pub frames: u64,
    /// Of those, forwarded.
    pub forwarded: u64,
    /// Of those, dropped, by [`DropReason::index`].
    pub dropped: [u64; DropReason::COUNT],
    /// Forwarded frames per egress: `None` the Internet, `Some(i)` ENI i.
    pub egress: BTreeMap<Option<u32>, u64>,
    /// Answers of the VPC's DHCP server, written to the ENI they answer (not through the pass).
    pub served: BTreeMap<u32, u64>,
}

impl Generated {
    /// Counts one frame a guest sent, by its verdict.
    pub fn count(&mut self, v: &Verdict) {
        self.frames += 1;
        match v.outcome {
            Outcome::Forward(p, _) => {
                self.forwarded += 1;
                let k = match p {
                    Port::Internet => None,
                    Port::Eni(e) => Some(e),
                };
                *self.egress.entry(k).or_default() += 1;
            }
            Outcome::Drop(r) => self.dropped[r.index()] += 1,
        }
    }

    /// Adds another shard's counts.
    pub fn add(&mut self, o: &Generated) {
        self.frames += o.frames;
        self.forwarded += o.forwarded;
        for (a, b) in self.dropped.iter_mut().zip(o.dropped) {
            *a += b;
        }
        for (k, n) in &o.egress {
            *self.egress.entry(*k).or_default() += n;
        }
        for (k, n) in &o.served {
            *self.served.entry(*k).or_default() += n;
        }
    }

    /// Frames dropped in all.
    pub fn dropped_total(&self) -> u64 {
        self.dropped.iter().sum()
    }

    /// The `generated` object of `report.json`.
    pub fn to_json(&self, cloud: &Cloud) -> Value {
        let name = |e: u32| {
            cloud
                .enis
                .get(e as usize)
                .map_or_else(|| format!("eni#{e}"), |x| x.id.clone())
        };
        let dropped: serde_json::Map<String, Value> = DropReason::ALL
            .iter()
            .filter(|r| self.dropped[r.index()] > 0)
            .map(|r| (r.as_str().to_string(), json!(self.dropped[r.index()])))
            .collect();
        let egress: serde_json::Map<String, Value> = self
            .egress
            .iter()
            .map(|(k, n)| (k.map_or_else(|| "internet".to_string(), name), json!(n)))
            .collect();
        let served: serde_json::Map<String, Value> = self
            .served
            .iter()
            .map(|(k, n)| (name(*k), json!(n)))
            .collect();
        json!({
            "frames": self.frames,
            "forwarded": self.forwarded,
            "dropped": self.dropped_total(),
            "dropped_by_reason": dropped,
            "egress": egress,
            "dhcp_answers": served,
        })
    }
}
