//! Which inside endpoint a frame's flow belongs to: the key that shards per-flow state.

use super::{Dataplane, Verdict};

impl Dataplane {
    /// The inside endpoint address that owns the frame's flow: of the two addresses of the
    /// frame's inside view ([`Verdict::inside`]), the one inside the VPC (a VPC address or an
    /// EIP of the tables); the lower one when both or neither are. Both directions of a flow,
    /// its later IP fragments, and the flows an ALG control channel announces for the same
    /// host share it. 0 for a frame that is not IPv4.
    pub fn owner(&self, v: &Verdict) -> u32 {
        let t = v.inside();
        let (a, b) = (t.src.min(t.dst), t.src.max(t.dst));
        if self.is_inside(b) && !self.is_inside(a) {
            b
        } else {
            a
        }
    }

    #[inline]
    fn is_inside(&self, addr: u32) -> bool {
        self.in_vpc(addr) || self.public_entry(addr).is_some()
    }
}
