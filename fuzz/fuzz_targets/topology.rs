//! Any text as a topology file: `Cloud::from_toml` gives a model or an error, never a panic; a
//! model compiles into forwarding tables (and describes itself) without panicking either. An
//! accepted file's tables point only at live ENIs that own their entries, and the same cloud
//! rebuilt through the console operations (as the mode advisor relies on) compiles into the
//! same tables. Written back as TOML (`Cloud::to_toml`), an accepted file reads back to an equal
//! cloud (same public fields, same tables) that writes the same text again.
#![no_main]

use std::hint::black_box;

use eipsim::dataplane::Dataplane;
use eipsim::guest::view::guest_view;
use eipsim::model::Cloud;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match Cloud::from_toml(text) {
        Ok(cloud) => {
            let dp = Dataplane::new(&cloud);
            if let Err(e) = dp.check_tables(&cloud) {
                panic!("tables of an accepted topology: {e}");
            }
            let written: Vec<_> = cloud
                .associations
                .iter()
                .map(|a| (a.eip, a.eni, a.mode, a.private_ip, a.instance_type))
                .collect();
            match cloud.rebuilt(&written, &[]) {
                Ok(again) => {
                    if let Some(d) = dp.diff_tables(&Dataplane::new(&again)) {
                        panic!("rebuilt through the operations, the tables differ: {d}");
                    }
                }
                Err(e) => panic!("an accepted topology does not rebuild: {e}"),
            }
            let written = match cloud.to_toml() {
                Ok(t) => t,
                Err(e) => panic!("an accepted topology does not write back: {e}"),
            };
            match Cloud::from_toml(&written) {
                Ok(back) => {
                    if let Some(d) = dp.diff_tables(&Dataplane::new(&back)) {
                        panic!("written back and read again, the tables differ: {d}\n{written}");
                    }
                    assert_eq!(
                        format!("{cloud:?}"),
                        format!("{back:?}"),
                        "written back and read again, the cloud differs:\n{written}"
                    );
                    assert_eq!(
                        back.to_toml().ok().as_deref(),
                        Some(written.as_str()),
                        "written twice, the text differs"
                    );
                }
                Err(e) => panic!("an accepted topology written back is refused: {e}\n{written}"),
            }
            black_box(guest_view(&cloud));
        }
        Err(e) => {
            black_box((e.to_string(), e.code()));
        }
    }
});
