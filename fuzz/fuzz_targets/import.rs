//! Any bytes as an import: the first byte picks the source (even: Terraform state, odd: one
//! aliyun Describe* response), the rest is the JSON text. The importer never panics, and a
//! topology it returns is one `Cloud::from_toml` accepts (it validated it itself).
#![no_main]

use std::hint::black_box;

use eipsim::import::{Source, import_text};
use eipsim::model::Cloud;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&first, rest)) = data.split_first() else {
        return;
    };
    let Ok(text) = std::str::from_utf8(rest) else {
        return;
    };
    let source = if first % 2 == 0 {
        Source::Terraform
    } else {
        Source::Aliyun
    };
    // With and without a region given: zones may or may not name one.
    let region = if first & 2 == 0 {
        None
    } else {
        Some("eu-central-1")
    };
    match import_text(source, text, region) {
        Ok(imported) => {
            if let Err(e) = Cloud::from_toml(&imported.toml) {
                panic!("an imported topology is refused: {e}\n{}", imported.toml);
            }
            black_box(imported.notes);
        }
        Err(e) => {
            black_box(e.to_string());
        }
    }
});
