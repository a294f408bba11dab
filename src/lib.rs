//! eipsim: a packet-path dataplane simulator for cloud Elastic IP addresses (EIPs) bound to
//! Elastic Network Interfaces (ENIs) in NAT, cut-through (`BINDED`) and multi-EIP
//! (`MULTI_BINDED`) modes.
//!
//! A frame enters from a capture. The adapter ([`replay`]) hands it to the pure forwarding core
//! ([`dataplane`]) with its link type. The core parses it once ([`wire`]), looks up the EIP or
//! ENI it concerns in tables compiled from the topology ([`model`]), and applies one action:
//! DNAT or SNAT 1:1, pass-through, intra-VPC delivery, or a drop with a reason. The adapter
//! writes each frame to its egress and the [`report`] collects counters and flows.
//!
//! ```text
//!   capture ──> replay ──> dataplane (wire + tables from model) ──> replay writers
//!                                    └──> report (counters, flows) ──> report.json, summary
//! ```
#![deny(unsafe_code)]
#![warn(missing_docs)]

pub mod advisor;
pub mod alg;
pub mod dataplane;
pub mod import;
pub mod model;
pub mod replay;
pub mod report;
pub mod wire;
