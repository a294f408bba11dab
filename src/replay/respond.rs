//! `replay --respond`: the guests answer. Frames the frame pass delivers to an ENI are handed to
//! its instance's guest ([`crate::guest`]); what the guests send enters the frame pass from
//! their NIC at the capture's time, right after the frame that caused it, and lands in the
//! outputs like any frame (counted apart as generated). The VPC's DHCP server's answers go
//! to the ENI they answer.
//!
//! One thread, in input order: the guests and the frame pass see every frame in the same
//! order whatever `--workers` says, so the outputs are the same bytes.

use std::collections::VecDeque;

use super::*;
use crate::guest::link::{self, Way};
use crate::guest::{Emit, Emitted, Guests};
use pipeline::pass_one;
use sink::{GenFrame, GenFrames, GenOut};

/// Hops a guest's frame may take from guest to guest (intra-VPC, hairpin) before what the
/// last one sends is written without being handed on: two guests that echo each other stop.
const MAX_HOPS: u8 = 4;

/// The replay in this thread: stages 1 to 7 batch by batch, and the guests when `responder`
/// is given (their state goes into the report's `guests` at the end).
pub(super) fn serial(
    feeder: &mut Feeder,
    dp: &Dataplane,
    sink: &mut Sink,
    mut pass: FramePass,
    mut responder: Option<Responder>,
) -> (Result<(), OutputError>, Vec<FramePass>) {
    let mut b = Batch::default();
    let mut rw = Rewritten::default();
    let mut made = GenFrames::default();
    let mut scratch = Vec::new();
    let mut res = Ok(());
    while feeder.fill(&mut b) {
        b.process(dp);
        rw.clear();
        let taken = match &mut responder {
            Some(r) => {
                made.clear();
                r.batch(&mut pass, dp, &b, &mut rw, &mut made);
                sink.take_with(&b, &rw, Some(&made))
            }
            None => {
                pipeline::pass_batch(&mut pass, dp, &b, &mut rw, &mut scratch);
                sink.take(&b, &rw)
            }
        };
        if let Err(e) = taken {
            res = Err(e);
            break;
        }
    }
    if let Some(r) = &responder {
        sink.stats.guests = Some(crate::guest::view::to_json(r.guests(), &r.cloud));
        sink.stats.generated.get_or_insert_default();
    }
    (res, vec![pass])
}

/// The guests and what they produced during the current batch.
pub(super) struct Responder {
    cloud: Arc<Cloud>,
    guests: Guests,
    gateway_mac: [u8; 6],
    /// Per ENI: the link and interface of the last frame delivered to it (the frames its guest
    /// sends are written alike).
    last_meta: Vec<Option<Meta>>,
    eth: Vec<u8>,
    frame: Vec<u8>,
    scratch: Vec<u8>,
    /// The input's interfaces by slot (for the stamps of frames sent between two frames).
    ifaces: Vec<IfaceDesc>,
}

/// One frame handed on, with where it is written and how many guest hops it took.
struct Pending {
    eni: usize,
    emit: Emit,
    eth: Vec<u8>,
    hops: u8,
}

impl Responder {
    pub(super) fn new(cloud: Arc<Cloud>) -> Responder {
        Responder {
            guests: Guests::new(&cloud),
            gateway_mac: cloud.vpc.gateway_mac.0,
            last_meta: vec![None; cloud.enis.len()],
            eth: Vec::new(),
            frame: Vec::new(),
            scratch: Vec::new(),
            ifaces: Vec::new(),
            cloud,
        }
    }

    /// The guests, as they stand.
    pub(super) fn guests(&self) -> &Guests {
        &self.guests
    }

    /// One batch: stages 3 to 7 frame by frame, each frame delivered to an ENI handed to its
    /// guest, what the guests send passed and placed right after it.
    pub(super) fn batch(
        &mut self,
        pass: &mut FramePass,
        dp: &Dataplane,
        b: &Batch,
        rw: &mut Rewritten,
        made: &mut GenFrames,
    ) {
        let dp = b.dp.as_deref().unwrap_or(dp);
        for (slot, d) in &b.new_ifaces {
            if *slot as usize == self.ifaces.len() {
                self.ifaces.push(d.clone());
            }
        }
        if let Some(c) = &b.cloud {
            pass.follow(c);
            self.cloud = c.clone();
            self.last_meta.resize(c.enis.len(), None);
            if let Some(&t) = b.nanos.first() {
                let out = self.guests.follow(c, Some(t));
                self.emit(pass, dp, out, 0, b, 0, made);
            }
        }
        let mut scratch = std::mem::take(&mut self.scratch);
        for i in 0..b.ranges.len() {
            let now = b.nanos[i];
            let meta = b.metas[i].1;
            if meta.unsupported_link {
                continue;
            }
            if !self.guests.started() {
                let out = self.guests.start(&self.cloud, now);
                self.emit(pass, dp, out, i, b, i, made);
            } else {
                // The guests' timers due before this frame, each at its own time.
                let mut last = None;
                while let Some(w) = self.guests.next_wake().filter(|w| *w <= now) {
                    if last.is_some_and(|l| w <= l) {
                        break; // nothing moved: the rest waits for this frame's time
                    }
                    last = Some(w);
                    let mut out = Emitted::default();
                    self.guests.tick(w, &mut out);
                    self.emit_at(pass, dp, out, (i, w), b, i, made);
                }
            }
            let rewritten_from = rw.frames.len();
            let changed_from = rw.verdicts.len();
            let Some(v) = pass_one(pass, dp, b, i, rw, &mut scratch) else {
                continue;
            };
            if rw.verdicts.len() > changed_from {
                continue; // refused by a group: not delivered
            }
            let Outcome::Forward(Port::Eni(x), _) = v.outcome else {
                continue;
            };
            let (s, e, link) = b.ranges[i];
            let data = match rw.frames.get(rewritten_from) {
                Some(&(_, rs, re, _)) => &rw.buf[rs..re],
                None => &b.buf[s..e],
            };
            let x = x as usize;
            let Some(nic_mac) = self
                .guests
                .nic_of(x)
                .and_then(|(_, n)| n.map(|n| n.plan.mac))
            else {
                continue;
            };
            if link::to_ethernet(link, data, self.gateway_mac, nic_mac, &mut self.eth).is_none() {
                continue;
            }
            if let Some(m) = self.last_meta.get_mut(x) {
                *m = Some(meta);
            }
            let mut out = Emitted::default();
            self.guests.deliver(x, &self.eth, now, &mut out);
            self.emit(pass, dp, out, i, b, i + 1, made);
        }
        self.scratch = scratch;
    }

    /// Passes the frames in `out` (produced at frame `at` of `b`'s time) and queues them for
    /// writing before input frame `before`; frames a guest's frame delivers to another guest
    /// are handed on, at most [`MAX_HOPS`] times.
    #[allow(clippy::too_many_arguments)]
    fn emit(
        &mut self,
        pass: &mut FramePass,
        dp: &Dataplane,
        out: Emitted,
        at: usize,
        b: &Batch,
        before: usize,
        made: &mut GenFrames,
    ) {
        self.emit_at(pass, dp, out, (at, b.nanos[at]), b, before, made);
    }

    /// [`Responder::emit`] for frames the guests sent at `now_ns`, at or before input frame
    /// `at`'s time: stamped at that moment.
    #[allow(clippy::too_many_arguments)]
    fn emit_at(
        &mut self,
        pass: &mut FramePass,
        dp: &Dataplane,
        out: Emitted,
        (at, now_ns): (usize, i64),
        b: &Batch,
        before: usize,
        made: &mut GenFrames,
    ) {
        let mut queue: VecDeque<Pending> = out
            .frames
            .into_iter()
            .map(|(eni, emit, eth)| Pending {
                eni,
                emit,
                eth,
                hops: 0,
            })
            .collect();
        let back = b.nanos[at].saturating_sub(now_ns);
        let now_s = now_ns.div_euclid(1_000_000_000);
        let frame_no = b.first_frame + at as u64 + 1;
        while let Some(p) = queue.pop_front() {
            let mut meta = self
                .last_meta
                .get(p.eni)
                .copied()
                .flatten()
                .unwrap_or(b.metas[at].1);
            meta.stamp = b.metas[at].1.stamp;
            if back > 0
                && let Some(desc) = self.ifaces.get(meta.slot as usize)
            {
                meta.stamp = input::stamp_before(meta.stamp, desc, back);
            }
            let way = match p.emit {
                Emit::Sent => Way::FromHost,
                Emit::Served => Way::ToHost,
            };
            link::from_ethernet(meta.link, &p.eth, way, &mut self.frame);
            meta.orig_len = self.frame.len() as u32;
            let start = made.buf.len();
            let outcome = match p.emit {
                Emit::Served => {
                    let g = pass.stats_mut(0).generated.get_or_insert_default();
                    *g.served.entry(p.eni as u32).or_default() += 1;
                    made.buf.extend_from_slice(&self.frame);
                    GenOut::Served(p.eni as u32)
                }
                Emit::Sent => {
                    let before_core = self.frame.clone();
                    let mut v =
                        dp.process_from(&mut self.frame, meta.link, Port::Eni(p.eni as u32));
                    let shard = usize::from(crate::pass::shard_of(dp.owner(&v)));
                    let f = FrameIn {
                        dp,
                        frame_no,
                        now_s,
                        now_ns,
                        data: &self.frame,
                        before: &before_core,
                        link: meta.link,
                    };
                    pass.stats_mut(shard).generating = true;
                    let done = pass.frame(shard, f, &mut v, &mut self.scratch);
                    pass.stats_mut(shard).generating = false;
                    let who = self.who(p.eni);
                    let mut detail = who.clone();
                    let written: &[u8] = if let Some(r) = done.refused {
                        if let Some(g) = pass.groups(shard) {
                            detail = format!("{} ({who})", r.detail(g.tables()));
                        }
                        &before_core
                    } else if done.rewritten {
                        &self.scratch
                    } else {
                        &self.frame
                    };
                    made.buf.extend_from_slice(written);
                    meta.orig_len = written.len() as u32;
                    // Delivered to another guest (intra-VPC, hairpin): it answers too.
                    if done.refused.is_none()
                        && p.hops < MAX_HOPS
                        && let Outcome::Forward(Port::Eni(y), _) = v.outcome
                        && let Some(mac) = self
                            .guests
                            .nic_of(y as usize)
                            .and_then(|(_, n)| n.map(|n| n.plan.mac))
                        && link::to_ethernet(
                            meta.link,
                            written,
                            self.gateway_mac,
                            mac,
                            &mut self.eth,
                        )
                        .is_some()
                    {
                        let mut more = Emitted::default();
                        self.guests
                            .deliver(y as usize, &self.eth, now_ns, &mut more);
                        queue.extend(more.frames.into_iter().map(|(eni, emit, eth)| Pending {
                            eni,
                            emit,
                            eth,
                            hops: p.hops + 1,
                        }));
                    }
                    GenOut::Pass(v, detail)
                }
            };
            made.frames.push(GenFrame {
                before: before as u32,
                start,
                end: made.buf.len(),
                meta,
                outcome,
            });
        }
    }

    /// "generated by the guest of INSTANCE on NIC" for ENI `eni`.
    fn who(&self, eni: usize) -> String {
        match self.guests.nic_of(eni) {
            Some((g, Some(n))) => format!(
                "generated by the guest of {} on {}",
                self.cloud.instances[g.instance].id, n.plan.name
            ),
            _ => "generated by a guest".to_string(),
        }
    }
}
