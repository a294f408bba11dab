//! `eipsim live`: the gateway between real interfaces. Frames read on the Internet interface
//! and on each ENI's interface go through the same frame pass as a replay (the core with the
//! ingress fixed by the interface, then the ALG, group and flow stages; no simulated guests: the
//! real hosts behind the interfaces are the guests), each forwarded frame is sent on its
//! egress interface, and the outputs are a replay's (a capture per egress, `dropped.pcapng`,
//! `report.json`), written when the run ends (`--duration`, SIGINT or SIGTERM).
//!
//! The gateway answers ARP as the provider's network does ([`arp`]); those frames are not
//! gateway traffic and are counted apart (`live` in `report.json`). Frames a socket reads that
//! the machine itself sent on the interface (eipsim's own, source MAC `gateway_mac`, or the
//! local kernel's, source MAC the interface's) are not read as traffic.
//!
//! On an ENI's interface the VPC's DHCP server answers a client's messages as it answers a
//! simulated guest ([`lease`]); those frames are not gateway traffic either.
//!
//! Timed events (`--events`) apply at wall-clock offsets from the start of the run, between
//! batches.

pub mod arp;
mod events;
pub mod lease;
pub mod net;

use std::time::{Duration, Instant};

use pcap_file::DataLink;
use pcap_file::pcapng::blocks::interface_description::{
    InterfaceDescriptionBlock, InterfaceDescriptionOption,
};

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::dataplane::{CapturePoint, Dataplane, Outcome, Port};
use crate::model::Cloud;
use crate::pass::FramePass;
use crate::replay::feed::Batch;
use crate::replay::input::{CaptureError, IfaceDesc, Meta, Stamp};
use crate::replay::output::{CaptureWriter, OutFormat, OutputError};
use crate::replay::sink::{Rewritten, Sink};
use crate::replay::{
    BATCH, ReplayError, ReplayOptions, ReplayOutcome, dataplane, finish, guard, input,
    open_file_budget, output, pipeline,
};
use crate::report::{self, InputReport, Stats};
use crate::wire::LinkType;

/// What to run live and where to write it.
#[derive(Clone, Debug)]
pub struct LiveOptions {
    /// Topology file.
    pub topology: PathBuf,
    /// Output directory.
    pub out: PathBuf,
    /// The interface of the Internet side (`--internet`).
    pub internet: String,
    /// ENI id and its interface (`--eni ENI_ID=IFACE`), each ENI at most once.
    pub enis: Vec<(String, String)>,
    /// Stop after this long (`--duration`); else at SIGINT or SIGTERM.
    pub duration: Option<Duration>,
    /// Timed events (`--events`), `at` in seconds after the start of the run.
    pub events: Option<PathBuf>,
    /// Inspect ALG protocols (on unless `--no-alg`), as [`ReplayOptions::alg`].
    pub alg: bool,
    /// `--alg` list applied over the topology's `[alg]`, as [`ReplayOptions::alg_spec`]: a
    /// translated protocol's frames are sent as the translation rewrote them.
    pub alg_spec: Option<String>,
}

/// The counters of frames that are not gateway traffic (`live` in `report.json`).
#[derive(Default, Debug, Clone, Copy, PartialEq, Eq)]
pub struct LiveCounts {
    /// ARP requests answered with `gateway_mac`.
    pub arp_answered: u64,
    /// ARP frames read and not answered (replies, probes, requests for a host's own address).
    pub arp_ignored: u64,
    /// DHCP client messages read on an ENI's interface.
    pub dhcp_received: u64,
    /// DHCP client messages answered (OFFER, ACK or NAK sent on the ENI's interface).
    pub dhcp_answered: u64,
    /// Frames sent on the interfaces: forwarded frames, ARP replies and DHCP answers.
    pub frames_sent: u64,
    /// Frames that could not be sent (the interface refused or timed out).
    pub send_failures: u64,
}

/// Per ENI of the cloud, the index of its interface in the run (none: not live).
type EniLinks = Vec<Option<usize>>;

/// The interfaces of a run in order (the Internet's first, then the ENIs' as given), each with
/// the port its frames enter by; and per ENI of the cloud, the index of its interface.
fn links(
    cloud: &Cloud,
    opts: &LiveOptions,
) -> Result<(Vec<(String, Port)>, EniLinks), ReplayError> {
    let mut names = vec![(opts.internet.clone(), Port::Internet)];
    let mut of_eni = vec![None; cloud.enis.len()];
    for (id, iface) in &opts.enis {
        let x = cloud.eni_index(id).ok_or_else(|| {
            ReplayError::Usage(format!(
                "--eni {id}={iface}: {id} is not an ENI of the topology"
            ))
        })?;
        if of_eni[x].is_some() {
            return Err(ReplayError::Usage(format!("--eni {id}: given twice")));
        }
        of_eni[x] = Some(names.len());
        names.push((iface.clone(), Port::Eni(x as u32)));
    }
    let present = pnet_datalink::interfaces();
    for (i, (n, _)) in names.iter().enumerate() {
        if names[..i].iter().any(|(m, _)| m == n) {
            return Err(ReplayError::Usage(format!("interface {n} is given twice")));
        }
        if !present.iter().any(|f| &f.name == n) {
            return Err(ReplayError::Usage(format!(
                "interface {n:?}: no such interface"
            )));
        }
    }
    Ok((names, of_eni))
}

/// The description of a live interface in the outputs: Ethernet, nanosecond timestamps, its name.
fn desc(name: &str) -> IfaceDesc {
    let mut idb = InterfaceDescriptionBlock::new(DataLink::ETHERNET, 262_144);
    idb.options
        .push(InterfaceDescriptionOption::IfName(name.to_string().into()));
    idb.options.push(input::nanos_idb_option());
    IfaceDesc {
        linktype: 1,
        snaplen: 262_144,
        idb: Some(idb),
        nanos: true,
    }
}

/// Whether the provider answers ARP for `target` on interface `link` (port `port`).
fn answers(cloud: &Cloud, port: Port, target: std::net::Ipv4Addr) -> bool {
    match port {
        Port::Internet => cloud
            .eips
            .iter()
            .any(|e| !e.released && e.address == target),
        Port::Eni(x) => {
            let e = &cloud.enis[x as usize];
            let own = e.primary_ip == target
                || e.secondary_ips.contains(&target)
                || e.static_eips.as_ref().is_some_and(|s| s.contains(&target));
            !own
        }
    }
}

/// Runs live until `--duration` has passed or a stop is asked, then writes the outputs.
pub fn run(opts: &LiveOptions) -> Result<ReplayOutcome, ReplayError> {
    let cloud = Arc::new(Cloud::load(&opts.topology)?);
    let policy = cloud
        .alg
        .for_run(opts.alg, opts.alg_spec.as_deref())
        .map_err(ReplayError::Usage)?;
    let point = CapturePoint::Gateway;
    let dp = dataplane(&cloud, None, point);
    let timeline = crate::replay::timeline(opts.events.as_deref(), &cloud, None, point)?;
    let (names, of_eni) = links(&cloud, opts)?;
    let ropts = ReplayOptions {
        topology: opts.topology.clone(),
        out: opts.out.clone(),
        ingress: None,
        workers: 1,
        inputs: Vec::new(),
        progress: false,
        trace: None,
        max_open_files: None,
        alg: opts.alg,
        alg_spec: opts.alg_spec.clone(),
        events: opts.events.clone(),
        capture_point: point,
        respond: false,
    };
    let mut outputs: Vec<PathBuf> = ["internet.pcap", "dropped.pcapng", "report.json"]
        .iter()
        .map(|n| opts.out.join(n))
        .collect();
    outputs.extend(
        cloud
            .enis
            .iter()
            .map(|e| opts.out.join(format!("{}.pcap", e.id))),
    );
    let mut protected: Vec<&Path> = vec![&opts.topology];
    if let Some(e) = &opts.events {
        protected.push(e);
    }
    let _claim = guard::claim(&opts.out, &outputs, &protected)?;
    let internet = CaptureWriter::create(opts.out.join("internet.pcap"), OutFormat::PcapNg)?;
    let dropped = match CaptureWriter::create(opts.out.join("dropped.pcapng"), OutFormat::PcapNg) {
        Ok(d) => d,
        Err(e) => {
            internet.abandon();
            return Err(e.into());
        }
    };
    let mut sink = Sink {
        cloud: cloud.clone(),
        out: opts.out.clone(),
        internet,
        enis: output::EniWriters::new(cloud.enis.len(), OutFormat::PcapNg, open_file_budget()),
        dropped,
        ifaces: names.iter().map(|(n, _)| desc(n)).collect(),
        stats: Stats::for_cloud(&cloud),
        frame_no: 0,
        progress: None,
        trace: None,
        translating: opts.alg && policy.any(),
        shard: None,
    };
    if sink.translating {
        sink.stats.translation = crate::alg::translate::Translator::new(policy).policy();
    }
    sink.stats.capture_point = point;
    if timeline.is_some() {
        sink.stats.start_timeline();
    }
    let mut pass = FramePass::new(
        &cloud,
        crate::pass::SHARDS,
        |_| true,
        opts.alg,
        Some(policy),
    );
    // The hosts behind the interfaces receive the translated frames and acknowledge them.
    pass.peers_see_translation();
    let spill = |s: usize| output::temp_name(&opts.out.join(format!("flows-{s}.spill")));
    pass.spill_to(spill, report::SPILL_BUFFER);
    let (to, from) = crossbeam_channel::unbounded::<net::Read>();
    let iface_names: Vec<String> = names.iter().map(|(n, _)| n.clone()).collect();
    let mut links = match net::open(&iface_names, &to) {
        Ok(l) => l,
        Err(e) => {
            sink.abandon();
            return Err(e.into());
        }
    };
    drop(to);
    let own_macs: Vec<Option<[u8; 6]>> = iface_names
        .iter()
        .map(|n| {
            pnet_datalink::interfaces()
                .into_iter()
                .find(|f| &f.name == n)
                .and_then(|f| f.mac)
                .map(|m| m.octets())
        })
        .collect();
    let mut state = Loop {
        keep_before: timeline.is_some()
            || cloud
                .enis
                .iter()
                .any(|e| !e.deleted && !e.security_groups.is_empty()),
        clock: events::Clock::new(timeline),
        cloud: cloud.clone(),
        ports: names.iter().map(|(_, p)| *p).collect(),
        of_eni,
        own_macs,
        gateway_mac: cloud.vpc.gateway_mac.0,
        counts: vec![0; names.len()],
        live: LiveCounts::default(),
        errors: Vec::new(),
    };
    let res = state.run(&from, &dp, &mut sink, &mut pass, &mut links, opts.duration);
    links.close();
    let res = res.and_then(|()| state.flush(&dp, &mut sink, &mut pass));
    FramePass::merge_into(&mut sink.stats, pass.into_shards());
    if let Err(e) = res {
        sink.abandon();
        return Err(e.into());
    }
    let l = state.live;
    sink.stats.live = Some(serde_json::json!({
        "arp_answered": l.arp_answered,
        "arp_ignored": l.arp_ignored,
        "dhcp_received": l.dhcp_received,
        "dhcp_answered": l.dhcp_answered,
        "frames_sent": l.frames_sent,
        "send_failures": l.send_failures,
    }));
    let inputs: Vec<InputReport> = names
        .iter()
        .enumerate()
        .map(|(i, (n, _))| InputReport {
            file: format!("interface {n}"),
            format: "live".into(),
            frames: state.counts[i],
            error: state
                .errors
                .iter()
                .find(|(k, _)| *k == i)
                .map(|(_, m)| m.clone()),
        })
        .collect();
    let errors = state
        .errors
        .iter()
        .map(|(i, m)| CaptureError {
            file: format!("interface {}", names[*i].0).into(),
            record: None,
            message: m.clone(),
        })
        .collect();
    let mut o = finish(sink, &ropts, inputs, errors, false)?;
    // The replay's summary, headed as a live run, with the frames answered and sent.
    let body = o
        .summary
        .split_once('\n')
        .map_or("", |(_, b)| b)
        .to_string();
    o.summary = format!(
        "eipsim live: {} interface{}, {} frames in\n{body}  live: {} ARP answered, {} ARP ignored, {} DHCP answered of {} received, {} frames sent, {} send failures\n",
        names.len(),
        if names.len() == 1 { "" } else { "s" },
        o.stats.frames_in,
        l.arp_answered,
        l.arp_ignored,
        l.dhcp_answered,
        l.dhcp_received,
        l.frames_sent,
        l.send_failures,
    );
    Ok(o)
}

/// The state of the main loop.
struct Loop {
    /// The cloud in force (the events change it).
    cloud: Arc<Cloud>,
    /// The timed events.
    clock: events::Clock,
    /// Per interface: the port its frames enter by.
    ports: Vec<Port>,
    /// Per ENI of the cloud: its interface.
    of_eni: Vec<Option<usize>>,
    /// Per interface: its own MAC (frames the local kernel sent there are not read).
    own_macs: Vec<Option<[u8; 6]>>,
    gateway_mac: [u8; 6],
    keep_before: bool,
    /// Per interface: frames read as gateway traffic.
    counts: Vec<u64>,
    live: LiveCounts,
    /// Read faults: interface and message (its reader stopped there).
    errors: Vec<(usize, String)>,
}

impl Loop {
    fn run(
        &mut self,
        from: &crossbeam_channel::Receiver<net::Read>,
        dp: &Dataplane,
        sink: &mut Sink,
        pass: &mut FramePass,
        links: &mut net::Links,
        duration: Option<Duration>,
    ) -> Result<(), OutputError> {
        let start = Instant::now();
        let (mut b, mut rw, mut scratch) = (Batch::default(), Rewritten::default(), Vec::new());
        let mut frames = 0u64;
        loop {
            if guard::stop_requested().is_some() {
                return Ok(());
            }
            let left = duration.map(|d| d.saturating_sub(start.elapsed()));
            if left == Some(Duration::ZERO) {
                return Ok(());
            }
            if let Some(c) = self.clock.tick(start.elapsed()) {
                self.cloud = c;
            }
            let mut wait = left.map_or(net::READ_TIMEOUT, |l| l.min(net::READ_TIMEOUT));
            if let Some(next) = self.clock.until_next(start.elapsed()) {
                wait = wait.min(next);
            }
            let first = match from.recv_timeout(wait) {
                Ok(r) => r,
                Err(crossbeam_channel::RecvTimeoutError::Timeout) => continue,
                Err(crossbeam_channel::RecvTimeoutError::Disconnected) => return Ok(()),
            };
            b.clear();
            b.keep_before = self.keep_before;
            b.first_frame = frames;
            for (i, ns, read) in std::iter::once(first).chain(from.try_iter().take(BATCH - 1)) {
                match read {
                    Ok(data) => self.read(&mut b, links, i, ns, &data),
                    Err(m) => self.errors.push((i, m)),
                }
            }
            if b.ranges.is_empty() {
                continue;
            }
            self.clock.stamp(&mut b);
            let own = b.dp.clone();
            let dp = own.as_deref().unwrap_or(dp);
            self.core(&mut b, dp);
            rw.clear();
            pipeline::pass_batch(pass, dp, &b, &mut rw, &mut scratch);
            sink.take(&b, &rw)?;
            self.transmit(&b, &rw, links);
            frames += b.ranges.len() as u64;
        }
    }

    /// One frame read on interface `i`: answered when it is ARP or a DHCP client's message on an
    /// ENI's interface, else added to the batch.
    fn read(&mut self, b: &mut Batch, links: &mut net::Links, i: usize, ns: i64, data: &[u8]) {
        let src = data.get(6..12);
        if src.is_some_and(|s| {
            s == self.gateway_mac || Some(s) == self.own_macs[i].as_ref().map(|m| &m[..])
        }) {
            return; // sent by this machine
        }
        if arp::is_arp(data) {
            let (cloud, port) = (&*self.cloud, self.ports[i]);
            match arp::reply(data, self.gateway_mac, |t| answers(cloud, port, t)) {
                Some(r) => {
                    self.live.arp_answered += 1;
                    self.sent(links.send(i, &r));
                }
                None => self.live.arp_ignored += 1,
            }
            return;
        }
        if let Port::Eni(x) = self.ports[i]
            && crate::guest::dhcp::is_client_message(data)
        {
            self.live.dhcp_received += 1;
            let mut out = Vec::new();
            lease::answer(&self.cloud, x as usize, self.gateway_mac, data, &mut out);
            if !out.is_empty() {
                self.live.dhcp_answered += 1;
                self.sent(links.send(i, &out));
            }
            return;
        }
        self.counts[i] += 1;
        let meta = Meta {
            stamp: Stamp::PcapNg {
                raw: u64::try_from(ns).unwrap_or(0),
            },
            orig_len: data.len() as u32,
            iface: (0, i as u32),
            iface_no: i as u32,
            slot: i as u32,
            link: LinkType::Ethernet,
            linktype: 1,
            record: self.counts[i],
            unsupported_link: false,
        };
        let start = b.buf.len();
        b.buf.extend_from_slice(data);
        b.ranges.push((start, b.buf.len(), LinkType::Ethernet));
        b.metas.push((i, meta));
        b.times.push(ns.div_euclid(1_000_000_000));
        b.nanos.push(ns);
    }

    /// At the end of the run: the events applied after the last batch (an empty batch carries
    /// them to the report and the flow stages), and those never reached.
    fn flush(
        &mut self,
        dp: &Dataplane,
        sink: &mut Sink,
        pass: &mut FramePass,
    ) -> Result<(), OutputError> {
        if self.clock.has_pending() {
            let mut b = Batch::default();
            self.clock.stamp(&mut b);
            let mut rw = Rewritten::default();
            pipeline::pass_batch(pass, dp, &b, &mut rw, &mut Vec::new());
            sink.take(&b, &rw)?;
        }
        for (at, op) in self.clock.unreached() {
            sink.stats.record_unreached(at, op);
        }
        Ok(())
    }

    fn sent(&mut self, ok: bool) {
        if ok {
            self.live.frames_sent += 1;
        } else {
            self.live.send_failures += 1;
        }
    }

    /// Stages 1 and 2: the core, each frame entering by its interface's port.
    fn core(&self, b: &mut Batch, dp: &Dataplane) {
        if b.keep_before {
            b.before.clear();
            b.before.extend_from_slice(&b.buf);
        }
        b.verdicts.clear();
        for (k, &(s, e, link)) in b.ranges.iter().enumerate() {
            let port = self.ports[b.metas[k].1.slot as usize];
            b.verdicts
                .push(dp.process_from(&mut b.buf[s..e], link, port));
        }
        b.shards.clear();
        b.shards.extend(
            b.verdicts
                .iter()
                .map(|v| crate::pass::shard_of(dp.owner(v))),
        );
    }

    /// Sends each forwarded frame of `b` on its egress interface (the bytes as written out).
    fn transmit(&mut self, b: &Batch, rw: &Rewritten, links: &mut net::Links) {
        let mut rewritten = rw.frames.iter().peekable();
        let mut changed = rw.verdicts.iter().peekable();
        for (i, &(s, e, _)) in b.ranges.iter().enumerate() {
            let mut outcome = b.verdicts[i].outcome;
            if let Some((_, v, _)) = changed.next_if(|c| c.0 as usize == i) {
                outcome = v.outcome;
            }
            let mut data = &b.buf[s..e];
            if let Some(&(_, rs, re, _)) = rewritten.next_if(|r| r.0 as usize == i) {
                data = &rw.buf[rs..re];
            }
            let link = match outcome {
                Outcome::Forward(Port::Internet, _) => Some(0),
                Outcome::Forward(Port::Eni(x), _) => self.of_eni.get(x as usize).copied().flatten(),
                Outcome::Drop(_) => None,
            };
            if let Some(l) = link {
                let ok = links.send(l, data);
                self.sent(ok);
            }
        }
    }
}
