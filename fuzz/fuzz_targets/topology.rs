//! Any text as a topology file: `Cloud::from_toml` gives a model or an error, never a panic; a
//! model compiles into forwarding tables (and describes itself) without panicking either.
#![no_main]

use std::hint::black_box;

use eipsim::dataplane::Dataplane;
use eipsim::model::{Cloud, guest_view};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match Cloud::from_toml(text) {
        Ok(cloud) => {
            black_box(Dataplane::new(&cloud));
            black_box(guest_view(&cloud));
        }
        Err(e) => {
            black_box((e.to_string(), e.code()));
        }
    }
});
