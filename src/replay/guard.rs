//! The output directory of a replay, claimed before anything is written: one replay at a time
//! (a lock held for the process's life, released by the kernel even when it is killed), the
//! temporary files that killed runs left behind removed, and no output allowed to overwrite an
//! input (a capture, the topology, the events or trace file). A stop asked by SIGINT or
//! SIGTERM is seen through [`stop_flag`].

use std::fs::File;
use std::io::{Read as _, Seek as _, Write as _};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};

use super::output::OutputError;

/// The lock file's name inside the output directory. It stays (empty of meaning once no process
/// holds its lock); removing it while a run holds it would let a second run in.
pub const LOCK_FILE: &str = ".eipsim.lock";

/// The exit status a stop was asked with: 0 none, 130 SIGINT, 143 SIGTERM. The command line
/// registers its signal handlers on it; a replay checks it between batches.
pub fn stop_flag() -> Arc<AtomicUsize> {
    static FLAG: OnceLock<Arc<AtomicUsize>> = OnceLock::new();
    FLAG.get_or_init(|| Arc::new(AtomicUsize::new(0))).clone()
}

/// The exit status of a stop asked for, if any.
pub fn stop_requested() -> Option<u8> {
    match stop_flag().load(Ordering::Relaxed) {
        0 => None,
        n => Some(u8::try_from(n).unwrap_or(1)),
    }
}

/// A claimed output directory: its lock is held until this is dropped.
#[derive(Debug)]
pub struct Claim {
    _lock: File,
    /// Stale temporary files removed when it was claimed.
    pub removed: usize,
}

fn err(file: &Path, message: impl Into<String>) -> OutputError {
    OutputError {
        file: file.to_path_buf(),
        message: message.into(),
    }
}

/// Whether `name` is a temporary output name (`.NAME.PID.tmp`) of another process than this one.
fn stale_temp(name: &str) -> bool {
    let Some(rest) = name.strip_prefix('.').and_then(|n| n.strip_suffix(".tmp")) else {
        return false;
    };
    let Some((_, pid)) = rest.rsplit_once('.') else {
        return false;
    };
    pid.parse::<u32>().is_ok_and(|p| p != std::process::id())
}

/// Refuses an output `out` that is one of `inputs` (the same file, whatever the path).
pub fn refuse_overwrite(out: &Path, inputs: &[&Path]) -> Result<(), OutputError> {
    let Ok(o) = out.canonicalize() else {
        return Ok(()); // it does not exist: it is no input
    };
    for inp in inputs {
        if inp.canonicalize().is_ok_and(|i| i == o) {
            return Err(err(
                out,
                format!(
                    "this output would overwrite the input {}: choose another --out or file name",
                    inp.display()
                ),
            ));
        }
    }
    Ok(())
}

/// Claims `dir` for a replay whose outputs are `outputs` and whose inputs are `inputs`: creates
/// it, takes its lock (another running replay into it: an error naming that process), refuses
/// an output that is one of the inputs, and removes the temporary files of runs that died (the
/// lock proves no other run writes there).
pub fn claim(dir: &Path, outputs: &[PathBuf], inputs: &[&Path]) -> Result<Claim, OutputError> {
    std::fs::create_dir_all(dir)
        .map_err(|e| err(dir, format!("cannot create the output directory: {e}")))?;
    let lock_path = dir.join(LOCK_FILE);
    let mut lock = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&lock_path)
        .map_err(|e| err(&lock_path, format!("cannot open the lock file: {e}")))?;
    if let Err(e) = try_lock(&lock) {
        let mut holder = String::new();
        let _ = lock.read_to_string(&mut holder);
        let who = match holder.trim() {
            "" => "another eipsim process".to_string(),
            pid => format!("eipsim process {pid}"),
        };
        return Err(err(
            dir,
            format!(
                "the output directory is in use by {who} (lock {}; {e}): wait for it, or choose another --out",
                lock_path.display()
            ),
        ));
    }
    let _ = lock.set_len(0);
    let _ = lock.rewind();
    let _ = writeln!(lock, "{}", std::process::id());
    for out in outputs {
        refuse_overwrite(out, inputs)?;
    }
    let mut removed = 0;
    if let Ok(entries) = std::fs::read_dir(dir) {
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if stale_temp(&name) && e.path().is_file() && std::fs::remove_file(e.path()).is_ok() {
                removed += 1;
            }
        }
    }
    Ok(Claim {
        _lock: lock,
        removed,
    })
}

/// Takes the lock. A lock this very process wrote its PID into was released by an earlier
/// replay of this process, but a child process another thread is starting may still share its
/// file for a moment (between fork and exec): such a lock is tried again for up to a second.
fn try_lock(lock: &std::fs::File) -> Result<(), std::fs::TryLockError> {
    let own = std::process::id().to_string();
    let mut tries = 0;
    loop {
        match lock.try_lock() {
            Ok(()) => return Ok(()),
            Err(e) => {
                let mut holder = String::new();
                let mut f = lock;
                let _ = f.rewind();
                let _ = f.read_to_string(&mut holder);
                let _ = f.rewind();
                if holder.trim() != own || tries >= 100 {
                    return Err(e);
                }
                tries += 1;
                std::thread::sleep(std::time::Duration::from_millis(10));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stale_temp_names() {
        assert!(stale_temp(".internet.pcap.4242.tmp"));
        assert!(stale_temp(".eni-a.b.pcap.1.tmp"));
        assert!(!stale_temp(&format!(
            ".report.json.{}.tmp",
            std::process::id()
        )));
        assert!(!stale_temp("internet.pcap"));
        assert!(!stale_temp(".notes.tmp"));
        assert!(!stale_temp(".x.pid.tmp"));
    }
}
