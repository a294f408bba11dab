//! Questions answered with the forwarding core: `trace` (one synthetic packet and its reply,
//! hop by hop, with what decided it and what to change), `diff` (the flows of captures
//! whose fate differs between two topologies) and `modes` (each ENI's flows replayed under
//! every binding mode); and `suggest`, a starting topology read off captures.
//!
//! `trace` and `diff` run frames through the real core ([`Dataplane::process_packed`], the call
//! the replay makes) and never write capture files: [`QuietReplay`] is the replay's frame pass
//! (core, counters, ALG inspection and what-if translation) without writers.

pub mod diff;
pub mod fixes;
pub mod modes;
pub mod suggest;
pub mod trace;

use crate::dataplane::{CapturePoint, Dataplane, DropReason, Outcome, Port, Verdict};
use crate::model::{Cloud, TopologyError};
use crate::pass::{FrameIn, FramePass};
use crate::replay::input::CaptureError;
use crate::report::Stats;
use crate::wire::LinkType;

/// Why an advisor command could not answer.
#[derive(Debug, thiserror::Error)]
pub enum AdvisorError {
    /// The arguments do not make sense (exit 2).
    #[error("{0}")]
    Usage(String),
    /// A topology is invalid (exit 1).
    #[error(transparent)]
    Topology(#[from] TopologyError),
    /// A capture cannot be read (exit 1).
    #[error(transparent)]
    Capture(#[from] CaptureError),
    /// Another input (an operations file) is invalid or an operation failed (exit 1).
    #[error("{0}")]
    Input(String),
}

impl AdvisorError {
    /// The process exit code: 2 for usage, 1 for bad input.
    pub fn exit_code(&self) -> u8 {
        match self {
            AdvisorError::Usage(_) => 2,
            _ => 1,
        }
    }
}

impl From<crate::replay::ReplayError> for AdvisorError {
    fn from(e: crate::replay::ReplayError) -> Self {
        use crate::replay::ReplayError as R;
        match e {
            R::Usage(m) => AdvisorError::Usage(m),
            R::Topology(t) => AdvisorError::Topology(t),
            R::Capture(c) => AdvisorError::Capture(c),
            other => AdvisorError::Input(other.to_string()),
        }
    }
}

/// The name of an egress: `internet` or the ENI's id.
pub fn port_name(cloud: &Cloud, p: Port) -> String {
    match p {
        Port::Internet => "internet".into(),
        Port::Eni(x) => cloud
            .enis
            .get(x as usize)
            .map_or_else(|| format!("eni#{x}"), |e| e.id.clone()),
    }
}

/// The core's outcome as one phrase: `forwarded to eni-web1 (dnat)` or `dropped (ttl-expired)`.
pub fn outcome_text(cloud: &Cloud, o: &Outcome) -> String {
    match o {
        Outcome::Forward(p, a) => format!("forwarded to {} ({})", port_name(cloud, *p), a.as_str()),
        Outcome::Drop(r) => format!("dropped ({})", r.as_str()),
    }
}

/// The replay's frame pass without writers: the core, the counters and flows, ALG inspection
/// and the topology's what-if translation (`[alg]`), frame by frame, in one shard
/// ([`FramePass::single`]).
pub struct QuietReplay<'c> {
    cloud: &'c Cloud,
    dp: Dataplane,
    pass: FramePass,
    frame_no: u64,
    buf: Vec<u8>,
    /// The frame as it reached the core (the security groups' stage writes refused frames so).
    before: Vec<u8>,
    scratch: Vec<u8>,
}

impl<'c> QuietReplay<'c> {
    /// A pass over `cloud`'s tables; `hint` fixes every frame's ingress (`--ingress`), `point`
    /// says where the captures were taken (`--capture-point`).
    pub fn new(cloud: &'c Cloud, hint: Option<Port>, point: CapturePoint) -> QuietReplay<'c> {
        QuietReplay {
            cloud,
            dp: crate::replay::dataplane(cloud, hint, point),
            pass: FramePass::single(cloud, true, Some(cloud.alg)),
            frame_no: 0,
            buf: Vec::new(),
            before: Vec::new(),
            scratch: Vec::new(),
        }
    }

    /// Records a frame of an interface whose link type is not replayed: dropped
    /// `unsupported-link`, as the replay drops it.
    pub fn push_unsupported(&mut self) -> Verdict {
        let mut v = Verdict::early_drop(DropReason::UnsupportedLink, None);
        self.frame_no += 1;
        let f = FrameIn {
            dp: &self.dp,
            frame_no: self.frame_no,
            now_s: 0,
            now_ns: 0,
            data: &[],
            before: &[],
            link: LinkType::Ethernet,
        };
        self.pass.frame(0, f, &mut v, &mut self.scratch);
        v
    }

    /// Runs one frame through the core (on a copy) and records it; returns the verdict.
    pub fn push(&mut self, data: &[u8], link: LinkType) -> Verdict {
        self.buf.clear();
        self.buf.extend_from_slice(data);
        let mut v = [Verdict::early_drop(DropReason::Malformed, None)];
        let len = self.buf.len();
        if self.dp.capture_point() == CapturePoint::Instance {
            let restored = self.dp.restore_received(&mut self.buf, link);
            self.pass.stats_mut(0).restored += u64::from(restored);
        }
        self.before.clear();
        self.before.extend_from_slice(&self.buf);
        self.dp
            .process_packed(&mut self.buf, &[(0, len, link)], &mut v);
        let mut v = v[0];
        self.frame_no += 1;
        // No capture time here: the security groups' sessions never idle out.
        let f = FrameIn {
            dp: &self.dp,
            frame_no: self.frame_no,
            now_s: 0,
            now_ns: 0,
            data: &self.buf,
            before: &self.before,
            link,
        };
        self.pass.frame(0, f, &mut v, &mut self.scratch);
        v
    }

    /// The counters and flows so far.
    pub fn stats(&self) -> &Stats {
        self.pass.stats(0)
    }

    /// The cloud replayed through.
    pub fn cloud(&self) -> &Cloud {
        self.cloud
    }
}
