//! eipsim: a packet-path dataplane simulator for cloud Elastic IP addresses (EIPs) bound to
//! Elastic Network Interfaces (ENIs) in NAT, cut-through (`BINDED`) and multi-EIP
//! (`MULTI_BINDED`) modes.
//!
//! The path of one frame goes one way, through one pass ([`pass`]):
//!
//! ```text
//!  replay::input ─ blocks of a capture ─> Batch (frames, link types, times)
//!     │  any worker:    1 restore (capture point instance)   dataplane::restore_received
//!     │                 2 core: decide + 1:1 NAT in place   dataplane  (wire views, Layout)
//!     │                   -> Verdict + the shard of the flow's inside endpoint
//!     │  shard owners:  3 fragment join  4 security groups  5 record  6 what-if translation
//!     │                 7 ALG inspection (pass::FramePass: groups sessions, report::Stats
//!     │                   counters and flows, alg::tracker)
//!     │  --respond:     a frame delivered to an ENI -> its instance's IP stack (guest);
//!     │                 what the stack sends -> 2 core (ingress: its NIC) -> 3-7, after it
//!     └> writer:        each frame to its egress capture, dropped.pcapng, the trace
//!  end: the shards merged in shard order -> report.json and the summary (report)
//! ```
//!
//! Layers, each using only those below it:
//!
//! ```text
//!  cli (main.rs) ── replay (and live), advisor (trace, diff, modes, suggest), import
//!                     └── guest, pass ── groups, report ── alg ── dataplane ── model ── wire
//! ```
//!
//! [`wire`] holds the packet views and checksums; [`model`] the topology, the console
//! operations and their rules; [`dataplane`] the pure forwarding core over tables compiled from
//! the model; [`alg`] what payloads carry (FTP, SIP, DNS, RTSP, TFTP, H.323), the ALG tracker and
//! the what-if translation; [`groups`] the security groups' stateful stage; [`report`] counts
//! and renders; [`pass`] chains the stages; [`guest`] the instances' IP stacks (smoltcp), their
//! DHCP lease, services and routing; [`replay`] is the adapter for capture files (readers,
//! writers, the threads) and [`live`] the adapter for live interfaces (pnet); [`advisor`] asks
//! what-if questions of the same pass.
#![deny(unsafe_code)]
#![warn(missing_docs)]

pub mod advisor;
pub mod alg;
pub mod dataplane;
pub mod groups;
pub mod guest;
pub mod import;
pub mod live;
pub mod model;
pub mod pass;
pub mod replay;
pub mod report;
pub mod shard;
pub mod wire;
