//! The guest NIC's smoltcp device: two queues of frames, one the frame pass fills (what the
//! gateway delivered to the NIC) and one the guest fills (what it sends). No socket, no thread,
//! no clock: the replay drives it in capture time.

use std::collections::VecDeque;

use smoltcp::phy::{self, DeviceCapabilities, Medium};
use smoltcp::time::Instant;

/// The largest Ethernet frame a guest sends (a 1,500-byte IP MTU plus the 14-byte header).
pub const FRAME_MTU: usize = 1514;

/// A NIC's frames in both directions, as untagged Ethernet II frames.
#[derive(Default)]
pub struct Queues {
    /// Frames waiting for the guest to read, oldest first.
    pub rx: VecDeque<Vec<u8>>,
    /// Frames the guest sent, oldest first; taken by the caller after each poll.
    pub tx: Vec<Vec<u8>>,
    /// Spent buffers, reused for the next frames.
    spare: Vec<Vec<u8>>,
}

impl Queues {
    /// Queues a copy of `frame` for the guest.
    pub fn push_rx(&mut self, frame: &[u8]) {
        let mut b = self.spare.pop().unwrap_or_default();
        b.clear();
        b.extend_from_slice(frame);
        self.rx.push_back(b);
    }

    /// Gives a buffer back once its frame has been used.
    pub fn recycle(&mut self, b: Vec<u8>) {
        if self.spare.len() < 64 {
            self.spare.push(b);
        }
    }
}

/// The token for one received frame.
pub struct Rx(Vec<u8>);

/// The token for one frame to send: it lands in [`Queues::tx`].
pub struct Tx<'a> {
    tx: &'a mut Vec<Vec<u8>>,
    spare: &'a mut Vec<Vec<u8>>,
}

impl phy::RxToken for Rx {
    fn consume<R, F: FnOnce(&[u8]) -> R>(self, f: F) -> R {
        f(&self.0)
    }
}

impl phy::TxToken for Tx<'_> {
    fn consume<R, F: FnOnce(&mut [u8]) -> R>(self, len: usize, f: F) -> R {
        let mut b = self.spare.pop().unwrap_or_default();
        b.clear();
        b.resize(len, 0);
        let r = f(&mut b);
        self.tx.push(b);
        r
    }
}

impl phy::Device for Queues {
    type RxToken<'a> = Rx;
    type TxToken<'a> = Tx<'a>;

    fn receive(&mut self, _now: Instant) -> Option<(Rx, Tx<'_>)> {
        let frame = self.rx.pop_front()?;
        Some((
            Rx(frame),
            Tx {
                tx: &mut self.tx,
                spare: &mut self.spare,
            },
        ))
    }

    fn transmit(&mut self, _now: Instant) -> Option<Tx<'_>> {
        Some(Tx {
            tx: &mut self.tx,
            spare: &mut self.spare,
        })
    }

    fn capabilities(&self) -> DeviceCapabilities {
        let mut c = DeviceCapabilities::default();
        c.medium = Medium::Ethernet;
        c.max_transmission_unit = FRAME_MTU;
        c
    }
}
