//! Security-group sessions: the connections a group accepted, per ENI, keyed as the ENI sees
//! them, so that replies (and ICMP errors about them) pass whatever the rules say. A session
//! idle for 910 s of capture time ends. The table has a fixed capacity: when it is full the
//! longest idle session is evicted, and evictions are counted.

use rustc_hash::FxHashMap;

/// How long a session lives without a frame (the provider's 910 s), in nanoseconds.
pub const IDLE_NS: i64 = 910 * 1_000_000_000;

/// A session's key: the ENI, the IP protocol, and both ends as the ENI sees them (local = the
/// ENI's address). TCP and UDP: the ports; ICMP queries: the identifier at both ends; other
/// protocols: 0.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SessionKey {
    /// The ENI (index into the cloud's ENIs).
    pub eni: u32,
    /// The ENI's address.
    pub local: u32,
    /// The peer's address.
    pub remote: u32,
    /// The ENI's port.
    pub lport: u16,
    /// The peer's port.
    pub rport: u16,
    /// IP protocol.
    pub proto: u8,
}

impl std::hash::Hash for SessionKey {
    /// Every field, packed into three words (the table's hash mixes one word at a time).
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        state.write_u64(u64::from(self.eni) << 32 | u64::from(self.local));
        state.write_u64(
            u64::from(self.remote) << 32 | u64::from(self.lport) << 16 | u64::from(self.rport),
        );
        state.write_u8(self.proto);
    }
}

const NIL: u32 = u32::MAX;

#[derive(Clone, Copy, Debug)]
struct Slot {
    key: SessionKey,
    /// Capture time of the last frame, ns.
    last: i64,
    /// Towards the longest idle.
    prev: u32,
    /// Towards the most recent.
    next: u32,
}

/// Counters of a session table.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SessionCounts {
    /// Sessions opened.
    pub opened: u64,
    /// Sessions that ended after 910 s without a frame.
    pub expired: u64,
    /// Sessions evicted (the longest idle) to make room in a full table.
    pub evicted: u64,
}

impl SessionCounts {
    /// Adds another table's counts.
    pub fn add(&mut self, o: &SessionCounts) {
        self.opened += o.opened;
        self.expired += o.expired;
        self.evicted += o.evicted;
    }
}

/// A fixed-capacity table of sessions, in order of their last frame.
#[derive(Clone, Debug)]
pub struct Sessions {
    map: FxHashMap<SessionKey, u32>,
    slots: Vec<Slot>,
    free: Vec<u32>,
    /// The longest idle.
    head: u32,
    /// The most recent.
    tail: u32,
    capacity: usize,
    /// What happened to sessions so far.
    pub counts: SessionCounts,
}

impl Sessions {
    /// An empty table holding at most `capacity` sessions (at least 1). Memory grows with use.
    pub fn new(capacity: usize) -> Sessions {
        Sessions {
            map: FxHashMap::default(),
            slots: Vec::new(),
            free: Vec::new(),
            head: NIL,
            tail: NIL,
            capacity: capacity.max(1),
            counts: SessionCounts::default(),
        }
    }

    /// Sessions held.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// Whether no session is held.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    fn unlink(&mut self, i: u32) {
        let Slot { prev, next, .. } = self.slots[i as usize];
        match prev {
            NIL => self.head = next,
            p => self.slots[p as usize].next = next,
        }
        match next {
            NIL => self.tail = prev,
            n => self.slots[n as usize].prev = prev,
        }
    }

    fn push_tail(&mut self, i: u32) {
        self.slots[i as usize].prev = self.tail;
        self.slots[i as usize].next = NIL;
        match self.tail {
            NIL => self.head = i,
            t => self.slots[t as usize].next = i,
        }
        self.tail = i;
    }

    fn remove(&mut self, i: u32) {
        self.unlink(i);
        self.map.remove(&self.slots[i as usize].key);
        self.free.push(i);
    }

    /// Whether `key` is a live session at time `now` (ns). A live session is refreshed when
    /// `refresh` says so; one idle for longer than [`IDLE_NS`] ends here.
    pub fn hit(&mut self, key: &SessionKey, now: i64, refresh: bool) -> bool {
        let Some(&i) = self.map.get(key) else {
            return false;
        };
        let last = self.slots[i as usize].last;
        if now.saturating_sub(last) > IDLE_NS {
            self.remove(i);
            self.counts.expired += 1;
            return false;
        }
        if refresh {
            self.slots[i as usize].last = last.max(now);
            if i != self.tail {
                self.unlink(i);
                self.push_tail(i);
            }
        }
        true
    }

    /// Opens (or refreshes) the session `key` at time `now` (ns). Sessions idle for longer
    /// than [`IDLE_NS`] at the old end are ended first; in a full table the longest idle one
    /// is evicted.
    pub fn open(&mut self, key: SessionKey, now: i64) {
        if !self.hit(&key, now, true) {
            self.open_new(key, now);
        }
    }

    /// [`Sessions::open`] of a key the table does not hold (the caller has just seen
    /// [`Sessions::hit`] miss it), without looking it up again.
    pub(crate) fn open_new(&mut self, key: SessionKey, now: i64) {
        debug_assert!(!self.map.contains_key(&key), "a new session");
        while self.head != NIL && now.saturating_sub(self.slots[self.head as usize].last) > IDLE_NS
        {
            self.remove(self.head);
            self.counts.expired += 1;
        }
        if self.map.len() >= self.capacity {
            self.remove(self.head);
            self.counts.evicted += 1;
        }
        let slot = Slot {
            key,
            last: now,
            prev: NIL,
            next: NIL,
        };
        let i = match self.free.pop() {
            Some(i) => {
                self.slots[i as usize] = slot;
                i
            }
            None => {
                self.slots.push(slot);
                (self.slots.len() - 1) as u32
            }
        };
        self.push_tail(i);
        self.map.insert(key, i);
        self.counts.opened += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(n: u32) -> SessionKey {
        SessionKey {
            eni: 1,
            local: 10,
            remote: n,
            lport: 80,
            rport: 40000,
            proto: 6,
        }
    }

    /// Section 5: a session idle for 910 s of capture time ends; 910 s exactly still holds.
    #[test]
    fn sessions_end_after_910_seconds_idle() {
        let mut s = Sessions::new(8);
        s.open(key(1), 0);
        assert!(s.hit(&key(1), IDLE_NS, true));
        assert!(s.hit(&key(1), 2 * IDLE_NS, false));
        assert!(!s.hit(&key(1), 2 * IDLE_NS + 1, true));
        assert_eq!(s.counts.expired, 1);
        assert!(s.is_empty());
    }

    /// A full table evicts the longest idle session, and counts it.
    #[test]
    fn a_full_table_evicts_the_longest_idle() {
        let mut s = Sessions::new(3);
        for n in 0..3 {
            s.open(key(n), i64::from(n));
        }
        // Session 0 is used again: 1 is now the longest idle.
        assert!(s.hit(&key(0), 10, true));
        s.open(key(3), 11);
        assert_eq!(s.counts.evicted, 1);
        assert!(!s.hit(&key(1), 12, false));
        for n in [0, 2, 3] {
            assert!(s.hit(&key(n), 12, false), "session {n}");
        }
        assert_eq!(s.len(), 3);
        assert_eq!(s.counts.opened, 4);
    }
}
