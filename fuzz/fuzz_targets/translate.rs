//! The what-if ALG translation on any payload: FTP translation undone gives the input back; SIP
//! translation leaves no translated field carrying the private address; and wrapped in a TCP
//! (port 21) or UDP (port 5060) frame leaving through SNAT, every rewritten frame's IPv4, TCP
//! and UDP checksums verify and its lengths agree; the checksums are also recomputed by
//! etherparse, an implementation independent of eipsim's.
#![no_main]

use std::net::Ipv4Addr;

use eipsim::alg::{Field, ftp, sip, translate};
use eipsim::dataplane::{Action, Outcome, Port, Tuple, Verdict};
use eipsim::wire::LinkType;
use eipsim::wire::checksum::{checksum, l4_checksum};
use libfuzzer_sys::fuzz_target;

const FROM: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 5);
const TO: Ipv4Addr = Ipv4Addr::new(47, 0, 0, 1);
const PEER: [u8; 4] = [198, 51, 100, 7];

/// Fields the SIP translation covers.
const SIP_FIELDS: [Field; 10] = [
    Field::RequestUri,
    Field::Via,
    Field::Contact,
    Field::From,
    Field::To,
    Field::RecordRoute,
    Field::Route,
    Field::SdpC,
    Field::SdpO,
    Field::SdpARtcp,
];

/// A raw-IP frame from TO (the EIP, after SNAT) to PEER carrying `payload`.
fn frame(tcp: bool, payload: &[u8]) -> Vec<u8> {
    let l4 = if tcp { 20 } else { 8 };
    let total = 20 + l4 + payload.len();
    let mut f = vec![0u8; total];
    f[0] = 0x45;
    f[2..4].copy_from_slice(&(total as u16).to_be_bytes());
    f[8] = 63;
    f[9] = if tcp { 6 } else { 17 };
    f[12..16].copy_from_slice(&TO.octets());
    f[16..20].copy_from_slice(&PEER);
    let c = checksum(&f[..20]);
    f[10..12].copy_from_slice(&c.to_be_bytes());
    if tcp {
        f[20..22].copy_from_slice(&40000u16.to_be_bytes());
        f[22..24].copy_from_slice(&21u16.to_be_bytes());
        f[24..28].copy_from_slice(&7u32.to_be_bytes());
        f[32] = 5 << 4;
    } else {
        f[20..22].copy_from_slice(&5060u16.to_be_bytes());
        f[22..24].copy_from_slice(&5060u16.to_be_bytes());
        f[24..26].copy_from_slice(&((8 + payload.len()) as u16).to_be_bytes());
    }
    f[20 + l4..].copy_from_slice(payload);
    let mut c = l4_checksum(TO.octets(), PEER, f[9], &f[20..]);
    if !tcp && c == 0 {
        c = 0xffff; // RFC 768: 0 would mean "no checksum"
    }
    let at = if tcp { 36 } else { 26 };
    f[at..at + 2].copy_from_slice(&c.to_be_bytes());
    f
}

/// Every checksum of an IPv4 packet (`f`, from its header to the end of the datagram) verifies
/// when summed by etherparse's one's-complement routine: an implementation independent of the
/// one under test. (Over the raw bytes: etherparse's header types drop TCP's reserved bits when
/// they serialise a header, so their own checksum functions differ on such frames.)
fn checksums_by_etherparse(f: &[u8]) {
    use etherparse::checksum::Sum16BitWords;
    let ihl = usize::from(f[0] & 15) * 4;
    let total = usize::from(u16::from_be_bytes([f[2], f[3]])).min(f.len());
    assert_eq!(
        Sum16BitWords::new().add_slice(&f[..ihl]).ones_complement(),
        0,
        "IPv4 checksum"
    );
    let seg = &f[ihl..total];
    let udp_without = f[9] == 17 && seg.get(6..8) == Some(&[0, 0][..]);
    if matches!(f[9], 6 | 17) && !udp_without {
        let sum = Sum16BitWords::new()
            .add_4bytes([f[12], f[13], f[14], f[15]])
            .add_4bytes([f[16], f[17], f[18], f[19]])
            .add_2bytes([0, f[9]])
            .add_2bytes((seg.len() as u16).to_be_bytes())
            .add_slice(seg)
            .ones_complement();
        assert_eq!(sum, 0, "{} checksum", if f[9] == 6 { "TCP" } else { "UDP" });
    }
}

fn verify(f: &[u8]) {
    assert_eq!(checksum(&f[..20]), 0, "IPv4 checksum");
    assert_eq!(
        usize::from(u16::from_be_bytes([f[2], f[3]])),
        f.len(),
        "IPv4 total length"
    );
    let src = f[12..16].try_into().expect("4");
    let dst = f[16..20].try_into().expect("4");
    let pr = if f[9] == 6 { "TCP" } else { "UDP" };
    assert_eq!(l4_checksum(src, dst, f[9], &f[20..]), 0, "{pr} checksum");
    if f[9] == 17 {
        assert_eq!(
            usize::from(u16::from_be_bytes([f[24], f[25]])),
            f.len() - 20
        );
    }
    checksums_by_etherparse(f);
}

fuzz_target!(|data: &[u8]| {
    if data.len() > 60000 {
        return;
    }
    let mut out = Vec::new();
    let mut back = Vec::new();
    // FTP: undoing the translation gives the input back, when the input had no line that
    // already carried the EIP. Addresses are written in canonical form ("10,0,0,5" for
    // "10,0,0,005"): translating FROM to FROM gives the input in that form.
    let changes = ftp::translate(data, FROM, TO, &mut out);
    if ftp::translate(data, TO, FROM, &mut back).is_empty() {
        let mut canonical = Vec::new();
        ftp::translate(data, FROM, FROM, &mut canonical);
        let undone = ftp::translate(&out, TO, FROM, &mut back);
        assert_eq!(undone.len(), changes.len());
        assert_eq!(back, canonical, "FTP translation undone");
    }
    // SIP: no translated field still carries the private address.
    sip::translate(data, &[(FROM, TO)], &mut out);
    for e in sip::scan(&out) {
        if SIP_FIELDS.contains(&e.field) {
            assert_ne!(e.addr, Some(FROM), "{} still carries it", e.field);
        }
    }
    // The bytes as a raw IPv4 frame: no panic; a new payload means every checksum recomputed.
    {
        use eipsim::wire::rewrite::{Edit, rewrite};
        let map = |a: u32| a.wrapping_add(3);
        let mut o = Vec::new();
        let _ = rewrite(
            LinkType::RawIp,
            data,
            &Edit {
                src: Some([1, 2, 3, 4]),
                seq: Some(9),
                ack: Some(&map),
                ..Default::default()
            },
            &mut o,
        );
        let new = Edit {
            dst: Some([5, 6, 7, 8]),
            payload: Some(b"PORT 1,2,3,4,5,6\r\n"),
            ..Default::default()
        };
        if rewrite(LinkType::RawIp, data, &new, &mut o).is_ok() {
            let ihl = usize::from(o[0] & 15) * 4;
            let total = usize::from(u16::from_be_bytes([o[2], o[3]]));
            assert_eq!(checksum(&o[..ihl]), 0, "IPv4 checksum after a new payload");
            let src = o[12..16].try_into().expect("4");
            let dst = o[16..20].try_into().expect("4");
            let seg = &o[ihl..total];
            let udp_without = o[9] == 17 && seg[6] == 0 && seg[7] == 0;
            if !udp_without {
                assert_eq!(l4_checksum(src, dst, o[9], seg), 0, "L4 checksum");
            }
            if matches!(o[9], 6 | 17) {
                checksums_by_etherparse(&o[..total]);
            }
        }
    }
    // Frames: checksums and lengths after translation.
    let mut tr = translate::Translator::new(translate::Policy {
        ftp: true,
        sip: true,
    });
    for tcp in [true, false] {
        let f = frame(tcp, data);
        let v = Verdict {
            outcome: Outcome::Forward(Port::Internet, Action::Snat),
            ingress: Some(Port::Eni(0)),
            tuple: Tuple {
                proto: f[9],
                src: u32::from(FROM),
                dst: u32::from_be_bytes(PEER),
                sport: u16::from_be_bytes([f[20], f[21]]),
                dport: u16::from_be_bytes([f[22], f[23]]),
            },
            inside_dst: u32::from_be_bytes(PEER),
            eni: Some(0),
            mode: None,
            eip: Some(u32::from(TO)),
            fragment: Default::default(),
            // As the core hands it back: the translator reads the frame through it.
            layout: eipsim::wire::Layout::parse(LinkType::RawIp, &f),
        };
        let mut o = Vec::new();
        match tr.apply(LinkType::RawIp, &f, &v, &mut o) {
            translate::Translation::Covered {
                rewritten: true, ..
            }
            | translate::Translation::Failed {
                rewritten: true, ..
            } => verify(&o),
            _ => {}
        }
    }
});
