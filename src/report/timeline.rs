//! Timed events (`replay --events`) in the report: the events and the counters between them.

use super::*;

/// A timed event as the report shows it.
#[derive(Clone, Debug)]
pub struct TimelineEntry {
    /// `at` as written.
    pub at: String,
    /// The operation.
    pub op: String,
    /// What it gave (a failing event leaves the tables unchanged); `None`: never applied (no
    /// frame at or after its time).
    pub result: Option<Result<(), crate::model::ModelError>>,
    /// The first frame it applied to (`None`: no frame at or after its time).
    pub frame: Option<u64>,
    /// The segment of counters it starts (the one before is `segment - 1`).
    pub segment: usize,
}

/// Counters of the frames between two events.
#[derive(Clone, Debug, Default)]
pub struct Segment {
    /// Its first frame (1-based).
    pub first_frame: u64,
    /// Frames in it.
    pub frames: u64,
    /// Forwarded.
    pub forwarded: u64,
    /// Dropped, by [`DropReason::index`].
    pub dropped: [u64; DropReason::COUNT],
    /// Out per egress: 0 the Internet, 1 + i ENI i.
    pub egress: Vec<u64>,
}

impl Segment {
    pub(super) fn starting(first_frame: u64) -> Segment {
        Segment {
            first_frame,
            ..Default::default()
        }
    }

    #[inline]
    pub(super) fn count(&mut self, v: &Verdict) {
        self.frames += 1;
        match v.outcome {
            Outcome::Forward(port, _) => {
                self.forwarded += 1;
                let i = match port {
                    Port::Internet => 0,
                    Port::Eni(e) => 1 + e as usize,
                };
                if self.egress.len() <= i {
                    self.egress.resize(i + 1, 0);
                }
                self.egress[i] += 1;
            }
            Outcome::Drop(r) => self.dropped[r.index()] += 1,
        }
    }

    pub(super) fn json(&self, cloud: &Cloud) -> serde_json::Value {
        let dropped: BTreeMap<&str, u64> = DropReason::ALL
            .iter()
            .filter(|r| self.dropped[r.index()] > 0)
            .map(|r| (r.as_str(), self.dropped[r.index()]))
            .collect();
        let egress: BTreeMap<String, u64> = self
            .egress
            .iter()
            .enumerate()
            .filter(|(_, n)| **n > 0)
            .map(|(i, n)| {
                let name = if i == 0 {
                    "internet".to_string()
                } else {
                    cloud
                        .enis
                        .get(i - 1)
                        .map_or_else(|| format!("eni#{}", i - 1), |e| e.id.clone())
                };
                (name, *n)
            })
            .collect();
        serde_json::json!({
            "first_frame": self.first_frame,
            "frames": self.frames,
            "forwarded": self.forwarded,
            "dropped": dropped,
            "egress": egress,
        })
    }

    pub(super) fn text(&self) -> String {
        let drops: Vec<String> = DropReason::ALL
            .iter()
            .filter(|r| self.dropped[r.index()] > 0)
            .map(|r| format!("{} {}", r.as_str(), self.dropped[r.index()]))
            .collect();
        format!(
            "{} frames, {} forwarded{}",
            self.frames,
            self.forwarded,
            if drops.is_empty() {
                String::new()
            } else {
                format!(", dropped {}", drops.join(", "))
            }
        )
    }
}

pub(super) fn timeline_json(stats: &Stats, cloud: &Cloud) -> Vec<serde_json::Value> {
    stats
        .timeline
        .iter()
        .enumerate()
        .map(|(n, t)| {
            let seg = |k: usize| stats.segments.get(k).map(|s| s.json(cloud));
            let mut v = serde_json::json!({
                "event": n + 1,
                "at": t.at,
                "op": t.op,
                "frame": t.frame,
                "result": match &t.result {
                    None => "not-reached",
                    Some(Ok(())) => "ok",
                    Some(Err(_)) => "error",
                },
                "before": t.segment.checked_sub(1).and_then(seg),
                "after": if t.frame.is_some() { seg(t.segment) } else { None },
            });
            if let Some(Err(e)) = &t.result {
                v["error_code"] = serde_json::json!(e.code);
                v["error"] = serde_json::json!(e.to_string());
            }
            v
        })
        .collect()
}
