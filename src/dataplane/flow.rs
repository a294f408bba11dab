//! The flow a frame belongs to.

use super::{Tuple, Verdict};

/// A flow: one connection, both directions and both sides of the gateway, keyed on the
/// addresses as seen inside the VPC ([`Verdict::inside`]): the protocol and the two
/// (address, port) ends, lower first.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct FlowKey {
    /// IP protocol.
    pub proto: u8,
    /// The lower (address, port) end.
    pub a: (u32, u16),
    /// The higher (address, port) end.
    pub b: (u32, u16),
}

impl FlowKey {
    /// The flow of a frame (its inside view), the view itself, and its (source, destination)
    /// endpoints.
    #[inline]
    pub fn of(v: &Verdict) -> (FlowKey, Tuple, (u32, u16), (u32, u16)) {
        let t = v.inside();
        let (s, d) = ((t.src, t.sport), (t.dst, t.dport));
        let key = FlowKey {
            proto: t.proto,
            a: s.min(d),
            b: s.max(d),
        };
        (key, t, s, d)
    }
}
