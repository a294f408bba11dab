//! Room in the flow table: when it is full ([`MAX_FLOWS`]), flows that ended (TCP: FIN both
//! ways, or RST) or went idle ([`FLOW_IDLE_S`] of capture time without a frame) leave it. Their
//! records are kept aside and reported like the others, so only flows still open count against
//! the bound. Flows the ALG tracker knows (a protocol, an announcement, a related flow) stay.
//! Below the bound nothing leaves, so a replay that fits reports exactly what it always did.

use super::*;

/// A flow without a frame for this long (capture time) has gone idle.
pub const FLOW_IDLE_S: i64 = 300;

/// TCP FIN flag.
pub const TCP_FIN: u8 = 0x01;
/// TCP RST flag.
pub const TCP_RST: u8 = 0x04;

/// A FIN from the flow's VPC-side end.
pub const FIN_LOCAL: u8 = 1;
/// A FIN from the far end.
pub const FIN_REMOTE: u8 = 2;
/// A RST from either end.
pub const RST: u8 = 4;

/// The end marks of a TCP segment with `flags`, sent by the VPC side or not.
#[inline]
pub fn ends(flags: u8, from_local: bool) -> u8 {
    let mut e = 0;
    if flags & TCP_FIN != 0 {
        e |= if from_local { FIN_LOCAL } else { FIN_REMOTE };
    }
    if flags & TCP_RST != 0 {
        e |= RST;
    }
    e
}

impl FlowRec {
    fn ended(&self, now_s: i64) -> bool {
        self.ends & RST != 0
            || self.ends & (FIN_LOCAL | FIN_REMOTE) == FIN_LOCAL | FIN_REMOTE
            || now_s.saturating_sub(self.last_s) > FLOW_IDLE_S
    }
}

impl Stats {
    /// Makes room in a full table (a frame of a new flow at `now_s`): moves the ended and
    /// idle flows out. Returns whether there is room now. After a sweep that freed less than a
    /// sixteenth of the table, the next one waits 4,096 frames (a sweep walks the table).
    pub(super) fn make_room(&mut self, now_s: i64) -> bool {
        if self.frames_in < self.next_sweep {
            return false;
        }
        let alg = &self.alg;
        let gone: Vec<FlowKey> = self
            .flows
            .iter()
            .filter(|(k, f)| {
                f.ended(now_s)
                    && alg.flow(k).is_none()
                    && alg.related_to(k).is_none()
                    && alg.announced_at(&f.local).is_none()
                    && alg.announced_at(&f.remote).is_none()
            })
            .map(|(k, _)| *k)
            .collect();
        for k in gone {
            if let Some(f) = self.flows.remove(&k) {
                self.archived.push((k, f));
            }
        }
        if MAX_FLOWS - self.flows.len() < MAX_FLOWS / 16 {
            self.next_sweep = self.frames_in + 4096;
        }
        self.flows.len() < MAX_FLOWS
    }

    /// Every flow: those in the table and those that left it.
    pub(super) fn all_flows(&self) -> impl Iterator<Item = (&FlowKey, &FlowRec)> {
        self.flows
            .iter()
            .chain(self.archived.iter().map(|(k, f)| (k, f)))
    }

    /// Flows that left the full table (ended or idle).
    pub fn flows_archived(&self) -> usize {
        self.archived.len()
    }
}
