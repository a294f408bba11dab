//! The end of a replay: every output completed and put in place together, the report and
//! the summary.

use super::*;

pub(crate) fn finish(
    sink: Sink,
    opts: &ReplayOptions,
    inputs: Vec<InputReport>,
    capture_errors: Vec<CaptureError>,
    fixes: bool,
) -> Result<ReplayOutcome, ReplayError> {
    let Sink {
        internet,
        dropped,
        enis,
        stats,
        trace,
        cloud,
        shard: part,
        frame_no,
        ..
    } = sink;
    let cloud = cloud.as_ref();
    // All or nothing: every output is completed under its temporary name, then all are renamed.
    let mut set = output::OutputSet::default();
    let mut enis = enis;
    let mut failed: Option<OutputError> = enis.flush().err();
    let output_opens = internet.opens + dropped.opens + enis.opens();
    let eni_count = enis.enis();
    for w in [internet, dropped].into_iter().chain(enis.into_writers()) {
        if failed.is_some() {
            w.abandon();
            continue;
        }
        match w.close() {
            Ok((tmp, dest)) => set.add(tmp, dest),
            Err(e) => failed = Some(e),
        }
    }
    if let Some(Trace { tmp, dest, w }) = trace {
        match w.into_inner() {
            Ok(f) => {
                drop(f);
                set.add(tmp, dest);
            }
            Err(e) => {
                let _ = std::fs::remove_file(&tmp);
                failed.get_or_insert(OutputError {
                    file: dest,
                    message: e.error().to_string(),
                });
            }
        }
    }
    let mut stats = stats;
    if failed.is_none()
        && let Some((file, message)) = stats.spill_error()
    {
        failed = Some(OutputError {
            file: file.clone(),
            message: message.clone(),
        });
    }
    if failed.is_none()
        && let Err(e) = stats.settle()
    {
        failed = Some(OutputError {
            file: opts.out.join("flows.spill"),
            message: e.to_string(),
        });
    }
    if let Some(p) = part {
        if failed.is_none() {
            failed = p.finish(&mut set, opts, cloud, frame_no).err();
        } else {
            p.abandon();
        }
    }
    // `--fixes`: proposed, verified, `fixes.toml` added to the set, `fixes` to the report.
    let fixes = (fixes && failed.is_none())
        .then(|| crate::advisor::fixes::attach(&mut stats, cloud, opts, &capture_errors, &mut set))
        .and_then(|r| r.map_err(|e| failed = Some(e)).ok());
    let report_path = opts.out.join("report.json");
    if failed.is_none() {
        let tmp = output::temp_name(&report_path);
        let written_json = std::fs::File::create(&tmp).and_then(|f| {
            report::write_json(
                std::io::BufWriter::new(f),
                &stats,
                cloud,
                &opts.topology.display().to_string(),
                &inputs,
            )
        });
        match written_json {
            Ok(()) => set.add(tmp, report_path),
            Err(e) => {
                let _ = std::fs::remove_file(&tmp);
                failed = Some(OutputError {
                    file: report_path,
                    message: e.to_string(),
                });
            }
        }
    }
    // The ended flows are in report.json now: their spill files go.
    stats.discard_spill();
    if let Some(e) = failed {
        set.abandon();
        return Err(e.into());
    }
    let written = set.commit()?;
    // An ENI that received no frame gets no file (a stale one from an earlier run into the same
    // directory would claim otherwise: it goes).
    // (Every writer was taken above: `written` tells which ENIs have a file, looked up in a
    // set so that tens of thousands of ENIs are not compared pairwise.)
    let done: std::collections::HashSet<&PathBuf> = written.iter().collect();
    for i in 0..eni_count {
        let path = opts.out.join(format!("{}.pcap", cloud.enis[i].id));
        if !done.contains(&path) && path.is_file() {
            let _ = std::fs::remove_file(&path);
        }
    }
    let mut summary = report::summary(&stats, cloud, &inputs, &opts.out.display().to_string());
    crate::advisor::fixes::splice_summary(&mut summary, fixes.as_deref());
    Ok(ReplayOutcome {
        stats,
        inputs,
        summary,
        capture_error: capture_errors.first().cloned(),
        capture_errors,
        written,
        output_opens,
    })
}
