//! The README's copy-paste `eipsim live` example is the script `.ci/run` runs
//! (docs/live-example.sh): every command of the README's block appears in the script, so the
//! example a reader pastes is the one CI ran.

use std::path::Path;

#[test]
fn readme_live_example_is_the_script_ci_runs() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let readme = std::fs::read_to_string(root.join("README.md")).expect("README.md");
    let script = std::fs::read_to_string(root.join("docs/live-example.sh")).expect("script");
    let section = readme
        .split("### Real hosts through the gateway: `eipsim live`")
        .nth(1)
        .expect("the README's live section");
    let block = section
        .split("```sh\n")
        .nth(1)
        .and_then(|b| b.split("```").next())
        .expect("a sh block in the live section");
    let lines: Vec<&str> = script.lines().map(str::trim).collect();
    let mut n = 0;
    for line in block.lines().map(str::trim).filter(|l| !l.is_empty()) {
        let line = line.replace("target/release/eipsim", "\"$EIPSIM\"");
        assert!(
            lines.iter().any(|l| l.starts_with(line.as_str())),
            "README line not in docs/live-example.sh: {line}"
        );
        n += 1;
    }
    assert!(
        n >= 30,
        "the README's block has the whole example ({n} lines)"
    );
}
