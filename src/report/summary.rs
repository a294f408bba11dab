//! The terminal summary.

use super::*;

/// ENI egresses the terminal summary lists at most (the busiest); `report.json` has them all.
pub const SUMMARY_EGRESS: usize = 20;

/// Timed events the terminal summary lists at most; `report.json` has them all.
pub const SUMMARY_EVENTS: usize = 20;

/// The terminal summary.
pub fn summary(stats: &Stats, cloud: &Cloud, inputs: &[InputReport], out_dir: &str) -> String {
    let mut s = String::new();
    let files = inputs.len();
    let _ = writeln!(
        s,
        "eipsim replay: {} capture{}, {} frames in",
        files,
        if files == 1 { "" } else { "s" },
        stats.frames_in
    );
    let _ = writeln!(s, "  {:<30} {:>10}", "forwarded", stats.forwarded);
    for a in ACTIONS {
        let n = stats.actions[action_index(a)];
        if n > 0 {
            let _ = writeln!(s, "    {:<28} {:>10}", a.as_str(), n);
        }
    }
    let _ = writeln!(s, "  {:<30} {:>10}", "dropped", stats.dropped_total());
    for r in DropReason::ALL {
        let n = stats.dropped[r.index()];
        if n > 0 {
            let _ = writeln!(s, "    {:<28} {:>10}", r.as_str(), n);
        }
    }
    let _ = writeln!(s, "  egress");
    let _ = writeln!(s, "    {:<28} {:>10}", "internet", stats.egress[0]);
    // The busiest ENIs first when there are many; the rest are in report.json.
    let mut busy: Vec<(usize, u64)> = cloud
        .enis
        .iter()
        .enumerate()
        .map(|(i, _)| (i, stats.egress.get(i + 1).copied().unwrap_or(0)))
        .filter(|(_, n)| *n > 0)
        .collect();
    if busy.len() > SUMMARY_EGRESS {
        busy.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        let rest = busy.split_off(SUMMARY_EGRESS);
        for (i, n) in &busy {
            let _ = writeln!(s, "    {:<28} {:>10}", cloud.enis[*i].id, n);
        }
        let _ = writeln!(
            s,
            "    ... and {} more ENIs with {} frames (the busiest {SUMMARY_EGRESS} are shown; report.json has every egress)",
            rest.len(),
            rest.iter().map(|(_, n)| n).sum::<u64>()
        );
    } else {
        for (i, n) in &busy {
            let _ = writeln!(s, "    {:<28} {:>10}", cloud.enis[*i].id, n);
        }
    }
    if let Some(line) = capture_point_text(stats) {
        let _ = writeln!(s, "{line}");
    }
    let _ = writeln!(s, "  {:<30} {:>10}", "flows", stats.flow_count());
    if stats.flows_archived() > 0 {
        let _ = writeln!(
            s,
            "    {} of them ended or went idle and left the full flow table (all are in report.json)",
            stats.flows_archived()
        );
    }
    if stats.flows_untracked > 0 {
        let _ = writeln!(
            s,
            "  note: the flow table was full ({MAX_FLOWS} open flows of one shard of hosts): {} frames of further flows are counted in the totals but have no flow record and no ALG analysis (flows_untracked_frames in report.json)",
            stats.flows_untracked
        );
    }
    if let Some(g) = stats.sessions {
        let _ = writeln!(s, "  {:<30} {:>10}", "security-group sessions", g.opened);
        if g.evicted > 0 {
            let _ = writeln!(
                s,
                "    {} evicted from a full session table (the longest idle first): their later frames were checked anew",
                g.evicted
            );
        }
    }
    if let Some(g) = &stats.generated {
        generated_lines(&mut s, g, stats.guests.as_ref(), cloud);
    }
    let view = AlgView::new(stats);
    let alg = stats.alg_totals(&view);
    if !alg.is_empty() {
        let verdicts = stats.alg_verdicts(&view);
        let t = stats.translation;
        let head = match (t.ftp, t.sip) {
            (false, false) => "ALG (NAT mode has none)",
            (true, false) => "ALG (what-if: ftp translated)",
            (false, true) => "ALG (what-if: sip translated)",
            (true, true) => "ALG (what-if ftp+sip translated)",
        };
        let _ = writeln!(s, "  {head:<33}flows   findings");
        for (p, (flows, findings)) in &alg {
            let _ = writeln!(s, "    {:<28} {:>7} {:>10}", p.as_str(), flows, findings);
        }
        let v: Vec<String> = verdicts.iter().map(|(k, n)| format!("{k} {n}")).collect();
        let _ = writeln!(s, "    verdicts: {}", v.join(", "));
    }
    if !stats.timeline.is_empty() {
        let _ = writeln!(s, "  timeline");
        for (n, t) in stats.timeline.iter().enumerate().take(SUMMARY_EVENTS) {
            let at = match t.frame {
                Some(f) => format!("frame {f}"),
                None => "no frame reached it".into(),
            };
            let res = match &t.result {
                None => "not applied".to_string(),
                Some(Ok(())) => "ok".to_string(),
                Some(Err(e)) => format!("error {} (tables unchanged)", e.code),
            };
            let _ = writeln!(s, "    {} at {} ({at}): {}: {res}", n + 1, t.at, t.op);
        }
        if stats.timeline.len() > SUMMARY_EVENTS {
            let _ = writeln!(
                s,
                "    ... and {} more events (report.json timeline)",
                stats.timeline.len() - SUMMARY_EVENTS
            );
        }
        for (k, seg) in stats.segments.iter().enumerate().take(SUMMARY_EVENTS) {
            let _ = writeln!(
                s,
                "    segment {} from frame {}: {}",
                k + 1,
                seg.first_frame,
                seg.text()
            );
        }
    }
    for i in inputs {
        if let Some(e) = &i.error {
            let _ = writeln!(s, "  error: {e}");
        }
    }
    let _ = writeln!(s, "  outputs in {out_dir}");
    s
}

/// `replay --respond`: what the guests sent (apart from the input's frames), where it went,
/// the DHCP answers, and the connections the guests opened with the way each left.
fn generated_lines(
    s: &mut String,
    g: &super::generated::Generated,
    guests: Option<&serde_json::Value>,
    cloud: &Cloud,
) {
    let _ = writeln!(s, "  {:<30} {:>10}", "generated by the guests", g.frames);
    let _ = writeln!(s, "    {:<28} {:>10}", "forwarded", g.forwarded);
    for (k, n) in &g.egress {
        let name = k.map_or("internet", |e| {
            cloud.enis.get(e as usize).map_or("?", |x| x.id.as_str())
        });
        let _ = writeln!(s, "      {name:<26} {n:>10}");
    }
    let _ = writeln!(s, "    {:<28} {:>10}", "dropped", g.dropped_total());
    for r in DropReason::ALL {
        let n = g.dropped[r.index()];
        if n > 0 {
            let _ = writeln!(s, "      {:<26} {:>10}", r.as_str(), n);
        }
    }
    for (e, n) in &g.served {
        let name = cloud.enis.get(*e as usize).map_or("?", |x| x.id.as_str());
        let _ = writeln!(s, "    {:<28} {:>10}", format!("DHCP answers to {name}"), n);
    }
    let Some(guests) = guests else {
        return;
    };
    for inst in guests["instances"].as_array().into_iter().flatten() {
        for o in inst["opened"].as_array().into_iter().flatten() {
            let how = match (o["nic"].as_str(), o["source"].as_str()) {
                (Some(nic), Some(src)) => format!("left {nic} from {src}"),
                _ => "could not leave".to_string(),
            };
            let _ = writeln!(
                s,
                "    {} opened {}: {how} ({})",
                inst["instance"].as_str().unwrap_or("?"),
                o["connect"].as_str().unwrap_or("?"),
                o["route"].as_str().unwrap_or("?")
            );
        }
    }
}
