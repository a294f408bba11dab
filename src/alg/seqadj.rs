//! TCP sequence adjustment after a payload changed length, one state per direction, as Linux's
//! `nf_nat_seqadj` keeps it: the position of the last changed segment, and the offsets before
//! and after it. A retransmission of the changed segment is changed the same way and does not
//! move the offsets again.

/// `a` is after `b` in sequence space (RFC 793 modular comparison).
#[inline]
fn after(a: u32, b: u32) -> bool {
    (b.wrapping_sub(a) as i32) < 0
}

/// Offsets of one direction of a connection.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SeqAdj {
    /// Sequence number (as sent by the host) of the last segment whose length changed.
    pub pos: u32,
    /// Offset for segments up to and including `pos`.
    pub before: i32,
    /// Offset for segments after `pos`.
    pub after: i32,
}

impl SeqAdj {
    /// Records that the segment starting at `seq` (as the host sent it) grew by `delta` bytes
    /// (negative: shrank). Call it before adjusting that segment's own numbers.
    pub fn record(&mut self, seq: u32, delta: i32) {
        if delta == 0 {
            return;
        }
        if self.before == self.after || after(seq, self.pos) {
            self.pos = seq;
            self.before = self.after;
            self.after = self.after.wrapping_add(delta);
        }
    }

    /// Whether any change was recorded.
    pub fn active(&self) -> bool {
        self.before != 0 || self.after != 0
    }

    /// The sequence number to send for a segment the host sent with `seq`.
    pub fn seq(&self, seq: u32) -> u32 {
        let off = if after(seq, self.pos) {
            self.after
        } else {
            self.before
        };
        seq.wrapping_add(off as u32)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets_accumulate_and_retransmissions_do_not_count_twice() {
        let mut a = SeqAdj::default();
        // Segment at 100, 20 bytes, grows by 3.
        a.record(100, 3);
        assert_eq!(a.seq(100), 100);
        assert_eq!(a.seq(120), 123);
        // Retransmitted: unchanged offsets.
        a.record(100, 3);
        assert_eq!((a.before, a.after), (0, 3));
        // A later segment at 150 shrinks by 5.
        a.record(150, -5);
        assert_eq!(a.seq(150), 153);
        assert_eq!(a.seq(170), 168);
        // Wrap-around.
        let mut w = SeqAdj::default();
        w.record(u32::MAX - 2, 4);
        assert_eq!(w.seq(5), 9);
    }
}
