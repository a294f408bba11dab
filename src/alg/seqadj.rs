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

    /// The inverse of [`SeqAdj::seq`] for an acknowledgement (or SACK edge) from the peer,
    /// which received the changed stream: the number in the host's own sequence space, as
    /// `nf_nat_seqadj` maps it (the offset after the change once `ack - before` is past the
    /// changed segment's start).
    pub fn unack(&self, ack: u32) -> u32 {
        let off = if after(ack.wrapping_sub(self.before as u32), self.pos) {
            self.after
        } else {
            self.before
        };
        ack.wrapping_sub(off as u32)
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

    #[test]
    fn acknowledgements_map_back_to_the_hosts_numbers() {
        // "PORT 172,16,0,10,..." (25 bytes) at 532 becomes 23 bytes: the peer acknowledges
        // 555 for the host's 557, and the host's next segment at 557 is sent as 555.
        let mut a = SeqAdj::default();
        a.record(532, -2);
        assert_eq!(a.seq(532), 532);
        assert_eq!(a.seq(557), 555);
        for host in [500, 532, 557, 600] {
            assert_eq!(a.unack(a.seq(host)), host, "{host}");
        }
        // Up to the changed segment's start: the offset before it.
        assert_eq!(a.unack(532), 532);
        assert_eq!(a.unack(400), 400);
        // A second change, growing by 3, at 700 (sent as 698).
        a.record(700, 3);
        for host in [532, 557, 700, 730] {
            assert_eq!(a.unack(a.seq(host)), host, "{host}");
        }
        let mut w = SeqAdj::default();
        w.record(u32::MAX - 2, 4);
        assert_eq!(w.unack(w.seq(5)), 5);
    }
}
