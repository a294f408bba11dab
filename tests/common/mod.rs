//! Fixtures shared by the integration tests (each test crate includes this module with
//! `mod common;`, and `examples/gen_demo.rs` includes `demo/mod.rs` by path). Each test uses only
//! part of them.
#![allow(dead_code)]

pub mod demo;

/// The options of a `replay --respond` of `inputs` over `topology` into `out`, everything else
/// at its default (one worker, ALG inspection on, no trace, no events, capture point
/// `gateway`); a test changes what it needs with `ReplayOptions { field, ..respond_options() }`.
pub fn respond_options(
    topology: &std::path::Path,
    out: &std::path::Path,
    inputs: Vec<std::path::PathBuf>,
) -> eipsim::replay::ReplayOptions {
    eipsim::replay::ReplayOptions {
        topology: topology.to_path_buf(),
        out: out.to_path_buf(),
        ingress: None,
        workers: 1,
        inputs,
        progress: false,
        trace: None,
        max_open_files: None,
        alg: true,
        alg_spec: None,
        events: None,
        capture_point: Default::default(),
        respond: true,
    }
}
