use std::fmt::Write as _;

use super::*;
use crate::model::Cloud;
use crate::model::checks::toml_error_text;

/// The file read whole, as `Cloud::load` did before sections: its schema written back, or the
/// error text.
fn whole(text: &str) -> Result<String, String> {
    toml::from_str::<TopologyFile>(text)
        .map(|f| toml::to_string(&f).unwrap())
        .map_err(|e| toml_error_text(&e))
}

/// The file read in sections (which must succeed), written back.
fn in_sections(text: &str) -> String {
    let file = read(text).expect("read in sections, not whole");
    toml::to_string(&file).unwrap()
}

/// Both reads give the same schema, and the same cloud once built.
fn same_as_whole(text: &str) {
    let mine = in_sections(text);
    assert_eq!(Ok(mine), whole(text));
    let a = Cloud::build(read(text).unwrap())
        .unwrap()
        .to_toml()
        .unwrap();
    let b = Cloud::build(toml::from_str(text).unwrap())
        .unwrap()
        .to_toml()
        .unwrap();
    assert_eq!(a, b);
    // And `Cloud::from_toml`, which takes the sections' path, gives that cloud.
    assert_eq!(Cloud::from_toml(text).unwrap().to_toml().unwrap(), b);
}

/// `hosts` instances, each with a primary ENI and a NAT EIP, every tenth with a secondary ENI
/// whose private IPs are a multi-line array (with a header in a comment), in MULTI_BINDED
/// mode; sections interleaved as `gen_bulk` writes them, a security group and `[alg]` between.
fn generated(hosts: u32) -> String {
    let mut t = String::from(
        "# generated\nregion = \"eu-central-1\"\n\n[account]\nmulti_eip_authorized = true\n\n[vpc]\ncidr = \"10.0.0.0/8\"\n\n",
    );
    for i in 0..hosts {
        let [_, b, c, d] = (i + 1).to_be_bytes();
        let _ = write!(
            t,
            "[[instance]]\nid = \"i-{i}\"\nfamily = \"ecs.g5\"\n\n[[eni]]\nid = \"eni-{i}\"\nkind = \"primary\"\nmac = \"00:16:00:{b:02x}:{c:02x}:{d:02x}\"\nprimary_ip = \"10.{b}.{c}.{d}\"\ninstance = \"i-{i}\"\n  security_groups = [\"sg-1\"]\n\n[[eip]]\nid = \"eip-{i}\"\naddress = \"47.{b}.{c}.{d}\"\n\n[[association]]  # NAT\neip = \"eip-{i}\"\neni = \"eni-{i}\"\n\n"
        );
        if i % 10 == 0 {
            let _ = write!(
                t,
                "[[eni]]\nid = \"eni-s{i}\"\nkind = \"secondary\"\nmac = \"00:17:00:{b:02x}:{c:02x}:{d:02x}\"\nprimary_ip = \"10.1{b}.{c}.{d}\"\nsecondary_ips = [\n  \"10.2{b}.{c}.{d}\", # [[eni]]\n  \"10.3{b}.{c}.{d}\",\n]\ninstance = \"i-{i}\"\n\n[[ eip ]]\nid = \"eip-m{i}\"\naddress = \"48.{b}.{c}.{d}\"\n\n[[association]]\neip = \"eip-m{i}\"\neni = \"eni-s{i}\"\nmode = \"MULTI_BINDED\"\n\n"
            );
        }
        if i == hosts / 2 {
            t.push_str(
                "[[security_group]]\nid = \"sg-1\"\n[[security_group.rule]]\ndirection = \"ingress\"\npolicy = \"accept\"\npriority = 1\nprotocol = \"tcp\"\nport_range = \"22/22\"\ncidr = \"0.0.0.0/0\"\n\n[alg]\nftp = \"translate\"\n\n",
            );
        }
    }
    t
}

#[test]
fn the_bundled_topologies_read_the_same_in_sections() {
    // pcaps/demo-topology.toml is tests/common/demo's TOPOLOGY (tests/demo.rs checks it).
    same_as_whole(include_str!("../../../pcaps/demo-topology.toml"));
    same_as_whole(include_str!("../../../pcaps/failover-topology.toml"));
}

#[test]
fn a_generated_topology_reads_the_same_in_sections() {
    let text = generated(1200);
    assert!(text.len() > 4 * BATCH, "several batches: {}", text.len());
    same_as_whole(&text);
    let file = read(&text).unwrap();
    assert_eq!(file.eni.len(), 1320);
    assert_eq!(file.eip.len(), 1320);
    assert_eq!(file.association.len(), 1320);
    assert_eq!(file.security_group.len(), 1);
    assert_eq!(file.eni[1].secondary_ips.len(), 2);
}

#[test]
fn headers_inside_values_do_not_cut_the_file() {
    let text = "a = 1\n[[eni]]\nx = \"\"\"\n[[eni]]\n\"\"\"\ny = '''\n[vpc]\n'''\nz = [\n[1],\n  [2, [3]],\n]\nw = { p = [\n1], q = 2 }\n\n[[eni]] # second\n[vpc]\n[[eip]]\n[[eip.x]]\n[[\"eni\"]]\n[ [eip]]\n";
    let cuts: Vec<(usize, Option<&str>)> = Sections::new(text)
        .map(|(r, e)| (r.start, e.map(|k| ELEMENT_ARRAYS[k])))
        .collect();
    let at = |s: &str| text.find(s).unwrap();
    assert_eq!(
        cuts,
        vec![
            (0, None),
            (at("[[eni]]\nx"), Some("eni")),
            (at("[[eni]] # second"), Some("eni")),
            (at("[vpc]\n[[eip]]"), None),
            (at("[[eip]]\n"), Some("eip")),
            (at("[[eip.x]]"), None),
            (at("[[\"eni\"]]"), None),
            (at("[ [eip]]"), None),
        ]
    );
    // The sections cover the text without gaps.
    let mut end = 0;
    for (r, _) in Sections::new(text) {
        assert_eq!(r.start, end);
        end = r.end;
    }
    assert_eq!(end, text.len());
}

#[test]
fn strings_and_arrays_across_lines_read_the_same() {
    // A header inside a multi-line string and a `[` opening lines of a multi-line array, in the
    // elements and around them: cut there, the sections would not parse.
    let mut text = generated(300);
    let at = text.find("[[instance]]\nid = \"i-250\"").unwrap();
    text.insert_str(
        at,
        "[[instance]]\nid = \"i-x\"\nfamily = \"\"\"\n[[eni]]\nid = \"eni-x\"\n\"\"\"\n\n[[eni]]\nid = \"eni-x\"\nkind = \"secondary\"\nmac = \"00:18:00:00:00:01\"\nprimary_ip = \"10.4.0.1\"\nsecurity_groups = [\n\"sg-1\",\n]\nsecondary_ips = [\n'10.4.0.2',\n  '''10.4.0.3''' ]\n\n",
    );
    same_as_whole(&text);
    let file = read(&text).unwrap();
    let x = file.instance.iter().find(|i| i.id == "i-x").unwrap();
    assert_eq!(x.family, "[[eni]]\nid = \"eni-x\"\n");
    assert_eq!(file.eni.iter().filter(|e| e.id == "eni-x").count(), 1);
}

/// The 1-based line of the file where `needle` starts.
fn line_of(text: &str, needle: &str) -> usize {
    text[..text.find(needle).unwrap()].matches('\n').count() + 1
}

#[test]
fn late_errors_name_the_line_of_the_whole_file() {
    let base = generated(1000);
    let cases = [
        // unknown field in a late ENI
        ("id = \"eni-900\"\n", "colour = \"red\"\n", "colour", 0),
        // a key given twice in a late EIP
        (
            "id = \"eip-950\"\n",
            "id = \"eip-950b\"\n",
            "id = \"eip-950b\"",
            0,
        ),
        // a string left open in the last association
        ("eip = \"eip-999\"\n", "mode = \"NAT\n", "mode = \"NAT", 0),
        // a late multi-line array left open: the next key, two lines below, is in the array
        (
            "id = \"eni-s990\"\n",
            "security_groups = [\n\"sg-1\",\n",
            "security_groups = [\n",
            2,
        ),
    ];
    for (after, inserted, needle, below) in cases {
        let mut text = base.clone();
        let at = text.find(after).unwrap() + after.len();
        text.insert_str(at, inserted);
        assert!(read(&text).is_none(), "{inserted:?} is read whole");
        let line = line_of(&text, needle) + below;
        assert!(line > 15_000, "a late line: {line}");
        let e = Cloud::from_toml_named(&text, "big.toml")
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("topology big.toml: "), "{e}");
        assert!(e.contains(&format!("line {line},")), "{inserted:?}: {e}");
        // The very message of one parse of the whole text.
        let w = whole(&text).unwrap_err();
        assert_eq!(e, format!("topology big.toml: {w}"));
    }
}

#[test]
fn arrays_also_given_elsewhere_are_read_whole() {
    let base = generated(3);
    for extra in [
        "[eni.x]\ny = 1\n",
        "[[\"eip\"]]\nid = \"eip-q\"\naddress = \"49.0.0.1\"\n",
        "[[instance.disk]]\nsize = 1\n",
    ] {
        let text = format!("{base}{extra}");
        check(&text, extra);
    }
    // A root key naming an element array.
    check(&format!("eni = []\n{base}"), "eni = []");
    fn check(text: &str, extra: &str) {
        assert!(read(text).is_none(), "{extra}");
        let got = Cloud::from_toml(text).map(|c| c.to_toml().unwrap());
        match whole(text) {
            Ok(_) => assert!(got.is_ok(), "{extra}"),
            Err(w) => assert_eq!(
                got.unwrap_err().to_string(),
                format!("topology <text>: {w}")
            ),
        }
    }
    // A quoted header naming an element array is one more EIP when read whole.
    let text = format!("{base}[[\"eip\"]]\nid = \"eip-q\"\naddress = \"49.0.0.1\"\n");
    assert_eq!(Cloud::from_toml(&text).unwrap().eips.len(), 5);
}

#[test]
fn files_without_elements_are_read_whole() {
    assert!(read("region = \"eu-central-1\"\n[vpc]\ncidr = \"10.0.0.0/8\"\n").is_none());
    // A missing `[vpc]` is the whole parse's error, even with elements.
    let text = "region = \"eu-central-1\"\n[[instance]]\nid = \"i-1\"\n";
    assert!(read(text).is_none());
    assert_eq!(
        Cloud::from_toml(text).unwrap_err().to_string(),
        format!("topology <text>: {}", whole(text).unwrap_err())
    );
}
