//! ALG parser costs per frame (criterion): a SIP INVITE with SDP, an FTP PORT command, a DNS
//! answer, and the same FTP line through TCP reassembly; the what-if translation of the INVITE
//! and the PORT line; beside them the port-table test every other frame pays.
//! `cargo bench --bench alg`.

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use eipsim::alg::{self, PortTable, Protocol, ScanContext};

const INVITE: &[u8] = b"INVITE sip:bob@203.0.113.5 SIP/2.0\r\nVia: SIP/2.0/UDP 172.16.0.21:5060;branch=z9hG4bK1\r\nFrom: <sip:alice@172.16.0.21>;tag=1\r\nTo: <sip:bob@203.0.113.5>\r\nCall-ID: demo-1@172.16.0.21\r\nCSeq: 1 INVITE\r\nContact: <sip:alice@172.16.0.21:5060>\r\nContent-Type: application/sdp\r\nContent-Length: 94\r\n\r\nv=0\r\no=- 1 1 IN IP4 172.16.0.21\r\nc=IN IP4 172.16.0.21\r\nm=audio 30000 RTP/AVP 0\r\na=rtcp:30001\r\n";
const PORT: &[u8] = b"PORT 172,16,0,10,195,80\r\n";

fn dns_answer() -> Vec<u8> {
    let mut a = vec![0x12, 0x34, 0x81, 0x80, 0, 1, 0, 1, 0, 0, 0, 0];
    a.extend_from_slice(b"\x04demo\x07example\x00\x00\x01\x00\x01");
    a.extend_from_slice(&[0xc0, 0x0c, 0, 1, 0, 1, 0, 0, 0x0e, 0x10, 0, 4, 10, 0, 0, 7]);
    a
}

fn alg_bench(c: &mut Criterion) {
    let ctx = ScanContext {
        tcp: false,
        vpc: "172.16.0.0/12".parse().expect("cidr"),
    };
    let dns = dns_answer();
    let mut g = c.benchmark_group("alg");
    g.sample_size(30)
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_secs(2))
        .throughput(Throughput::Elements(1));
    g.bench_function("sip_invite_scan", |b| {
        b.iter(|| alg::scan(Protocol::Sip, black_box(INVITE), ctx))
    });
    g.bench_function("ftp_port_scan", |b| {
        b.iter(|| alg::scan(Protocol::Ftp, black_box(PORT), ctx))
    });
    g.bench_function("dns_answer_scan", |b| {
        b.iter(|| alg::scan(Protocol::Dns, black_box(&dns), ctx))
    });
    g.bench_function("ftp_port_reassembled", |b| {
        let mut st = alg::stream::Stream::default();
        let mut seq = 1u32;
        b.iter(|| {
            let m = st.feed(Protocol::Ftp, seq, black_box(PORT));
            seq = seq.wrapping_add(PORT.len() as u32);
            m
        })
    });
    // What-if translation of the payload alone (the frame rewrite adds a copy and checksums).
    let (from, to) = (
        "172.16.0.21".parse().expect("a"),
        "47.0.0.1".parse().expect("a"),
    );
    let mut out = Vec::new();
    g.bench_function("sip_invite_translate", |b| {
        b.iter(|| alg::sip::translate(black_box(INVITE), &[(from, to)], &mut out))
    });
    let from10 = "172.16.0.10".parse().expect("a");
    g.bench_function("ftp_port_translate", |b| {
        b.iter(|| alg::ftp::translate(black_box(PORT), from10, to, &mut out))
    });
    let table = PortTable::default();
    g.bench_function("port_table_miss", |b| {
        b.iter(|| table.hit(black_box(40000), black_box(443)))
    });
    g.finish();
}

criterion_group!(benches, alg_bench);
criterion_main!(benches);
