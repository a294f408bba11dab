//! The interfaces of a live run: one pnet datalink channel (AF_PACKET, Ethernet) per
//! interface, a reader thread per channel, the senders kept by the main thread.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crossbeam_channel::Sender;
use pnet_datalink::{Channel, Config, DataLinkSender};

use crate::replay::output::OutputError;

/// How long a reader waits for a frame before it looks at the stop flag.
pub const READ_TIMEOUT: Duration = Duration::from_millis(50);

/// The largest frame read (a veth with segmentation offloads off gives frames of the MTU).
const READ_BUFFER: usize = 65_536 + 14;

/// A frame read: the interface's index in the run, the wall-clock time in nanoseconds since
/// the epoch, the bytes. An `Err` is a read fault, after which the reader stops.
pub type Read = (usize, i64, Result<Vec<u8>, String>);

/// The interfaces of a run, open.
pub struct Links {
    /// Per interface, in the run's order: its sender.
    pub tx: Vec<Box<dyn DataLinkSender>>,
    readers: Vec<JoinHandle<()>>,
    stop: Arc<AtomicBool>,
}

fn fail(name: &str, message: String) -> OutputError {
    OutputError {
        file: format!("interface {name}").into(),
        message,
    }
}

/// Opens a channel on each interface of `names` and starts its reader, sending into `to`.
pub fn open(names: &[String], to: &Sender<Read>) -> Result<Links, OutputError> {
    let all = pnet_datalink::interfaces();
    let stop = Arc::new(AtomicBool::new(false));
    let mut links = Links {
        tx: Vec::new(),
        readers: Vec::new(),
        stop: stop.clone(),
    };
    for (i, name) in names.iter().enumerate() {
        let Some(iface) = all.iter().find(|f| &f.name == name) else {
            return Err(fail(name, "no such interface".into()));
        };
        let config = Config {
            read_timeout: Some(READ_TIMEOUT),
            write_timeout: Some(Duration::from_secs(1)),
            read_buffer_size: READ_BUFFER,
            write_buffer_size: READ_BUFFER,
            ..Config::default()
        };
        let (tx, mut rx) = match pnet_datalink::channel(iface, config) {
            Ok(Channel::Ethernet(tx, rx)) => (tx, rx),
            Ok(_) => return Err(fail(name, "not an Ethernet channel".into())),
            Err(e) => {
                return Err(fail(
                    name,
                    format!("cannot open a datalink channel: {e} (live needs root or CAP_NET_RAW)"),
                ));
            }
        };
        links.tx.push(tx);
        let (to, stop) = (to.clone(), stop.clone());
        let handle = std::thread::Builder::new()
            .name(format!("live-{name}"))
            .spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    match rx.next() {
                        Ok(f) => {
                            if to.send((i, now_ns(), Ok(f.to_vec()))).is_err() {
                                return;
                            }
                        }
                        Err(e) if e.kind() == std::io::ErrorKind::TimedOut => {}
                        Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                        Err(e) => {
                            let _ = to.send((i, now_ns(), Err(e.to_string())));
                            return;
                        }
                    }
                }
            })
            .map_err(|e| fail(name, format!("cannot start its reader: {e}")))?;
        links.readers.push(handle);
    }
    Ok(links)
}

impl Links {
    /// Sends `frame` on interface `i`; false when it could not be sent.
    pub fn send(&mut self, i: usize, frame: &[u8]) -> bool {
        matches!(self.tx[i].send_to(frame, None), Some(Ok(())))
    }

    /// Stops the readers and waits for them (each notices within [`READ_TIMEOUT`]).
    pub fn close(self) {
        self.stop.store(true, Ordering::Relaxed);
        for r in self.readers {
            let _ = r.join();
        }
    }
}

/// Wall-clock time in nanoseconds since the epoch.
pub fn now_ns() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX))
}
