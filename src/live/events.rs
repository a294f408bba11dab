//! Timed events in a live run (`--events`): `at` is read as seconds after the start of the run
//! (fractions allowed). Events are applied between batches as soon as they are due, whether or
//! not frames follow; the next batch with frames carries them (the report's timeline and
//! segments, the flow stages following the new cloud), as a replay's batches do.

use std::sync::Arc;
use std::time::Duration;

use crate::dataplane::Dataplane;
use crate::model::Cloud;
use crate::replay::feed::{AppliedEvent, Batch, Timeline};

/// The events of a live run and what they changed that no batch carried yet.
pub(super) struct Clock {
    /// The events and the cloud and tables they change (none: no `--events`).
    pub(super) timeline: Option<Timeline>,
    /// Events applied since the last batch.
    pending: Vec<AppliedEvent>,
    /// The cloud after them, when one of them changed it.
    pending_cloud: Option<Arc<Cloud>>,
}

impl Clock {
    /// A clock over `timeline`.
    pub(super) fn new(timeline: Option<Timeline>) -> Clock {
        Clock {
            timeline,
            pending: Vec::new(),
            pending_cloud: None,
        }
    }

    /// Applies the events due `elapsed` after the start; the new cloud when one changed it.
    pub(super) fn tick(&mut self, elapsed: Duration) -> Option<Arc<Cloud>> {
        let t = self.timeline.as_mut()?;
        let now = elapsed.as_nanos() as i128;
        if !t.due(now, 0) {
            return None;
        }
        let (applied, _, changed) = t.apply(now, 0);
        self.pending.extend(applied);
        if !changed {
            return None;
        }
        let c = Arc::new(t.cloud.clone());
        self.pending_cloud = Some(c.clone());
        Some(c)
    }

    /// How long from `elapsed` until the next event is due (none: no more events).
    pub(super) fn until_next(&self, elapsed: Duration) -> Option<Duration> {
        let t = self.timeline.as_ref()?;
        let at = t.events.get(t.next)?.at_ns;
        let ns = (at - elapsed.as_nanos() as i128).max(0);
        Some(Duration::from_nanos(u64::try_from(ns).unwrap_or(u64::MAX)))
    }

    /// The tables in force (none: the run's own, no `--events`).
    pub(super) fn dp(&self) -> Option<&Arc<Dataplane>> {
        self.timeline.as_ref().map(|t| &t.dp)
    }

    /// Gives batch `b` the events applied since the last batch, the cloud they made and the
    /// tables in force.
    pub(super) fn stamp(&mut self, b: &mut Batch) {
        b.applied = std::mem::take(&mut self.pending);
        b.cloud = self.pending_cloud.take();
        b.dp = self.dp().cloned();
    }

    /// Whether events were applied that no batch carried yet.
    pub(super) fn has_pending(&self) -> bool {
        !self.pending.is_empty() || self.pending_cloud.is_some()
    }

    /// The events never reached (the run ended first): (at, operation).
    pub(super) fn unreached(&self) -> Vec<(String, String)> {
        self.timeline.as_ref().map_or_else(Vec::new, |t| {
            t.events[t.next..]
                .iter()
                .map(|e| (e.at.clone(), e.op.to_string()))
                .collect()
        })
    }
}
