//! Fixtures shared by the integration tests (each test crate includes this module with
//! `mod common;`, and `examples/gen_demo.rs` includes `demo/mod.rs` by path). Each test uses only
//! part of them.
#![allow(dead_code)]

pub mod demo;
