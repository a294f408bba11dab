//! The `eipsim` command line: parses arguments, calls the library, maps errors to exit codes
//! (0 done, 1 bad input, 2 usage).

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};

use eipsim::advisor;
use eipsim::dataplane::CapturePoint;
use eipsim::model::Cloud;
use eipsim::replay::{self, ReplayError, ReplayOptions};

#[derive(Parser)]
#[command(
    name = "eipsim",
    version,
    about = "Packet-path simulator for Elastic IPs bound to ENIs (NAT, cut-through, multi-EIP)"
)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

/// What `replay` and `modes` both take.
#[derive(Args)]
struct RunArgs {
    /// Topology file (TOML; docs/topology.md).
    #[arg(long)]
    topology: Option<PathBuf>,
    /// Output directory.
    #[arg(long, default_value = "out")]
    out: PathBuf,
    /// Ingress of every frame: `internet` or an ENI id (default: by MAC or source address).
    #[arg(long)]
    ingress: Option<String>,
    /// Where the captures were taken: `gateway` (frames from the Internet carry EIPs) or
    /// `instance` (tcpdump in the guest: received frames carry the private IP and are turned
    /// back into the Internet's frames first).
    #[arg(long, value_name = "POINT", default_value = "gateway")]
    capture_point: CapturePoint,
    /// Captures (pcap or pcapng), replayed in order as one stream.
    inputs: Vec<PathBuf>,
}

#[derive(Subcommand)]
enum Cmd {
    /// Replay captures through the EIP gateway; with no arguments, the bundled demo in pcaps/.
    Replay {
        #[command(flatten)]
        run: RunArgs,
        /// Core worker threads.
        #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..=256))]
        workers: u16,
        /// Never show a progress bar.
        #[arg(long)]
        no_progress: bool,
        /// Also write a per-frame trace (TSV: frame, input, record, verdict, egress, out_frame).
        #[arg(long)]
        trace: Option<PathBuf>,
        /// Do not inspect ALG protocols (no findings; for comparison runs).
        #[arg(long)]
        no_alg: bool,
        /// What-if ALG per protocol, over the topology's `[alg]` table: a list such as
        /// `ftp=translate,sip=translate` (modes: inspect, translate; translate for ftp and sip).
        #[arg(long, value_name = "LIST")]
        alg: Option<String>,
        /// Timed operations applied during the replay ([[event]] tables with `at`, capture time
        /// in seconds since the epoch; docs/scenarios.md).
        #[arg(long, value_name = "FILE")]
        events: Option<PathBuf>,
    },
    /// The mode advisor: replay each ENI's traffic under NAT, BINDED and MULTI_BINDED and print
    /// a flow x mode matrix (also written as modes.json); with no arguments, the bundled demo.
    Modes {
        #[command(flatten)]
        run: RunArgs,
    },
    /// Run a scenario (docs/scenarios.md): console operations in order, each with the
    /// outcome it should have; exit 1 when one differs. Prints each step and the final state.
    Scenario {
        /// Scenario file (TOML).
        file: PathBuf,
    },
    /// Validate a topology and print, per instance and NIC, the addresses its OS shows.
    Check {
        /// Topology file.
        file: PathBuf,
        /// List every instance, detached ENI and EIP (default: the first 50 of each, and how
        /// many more there are).
        #[arg(long)]
        all: bool,
    },
    /// One synthetic packet and its reply through the gateway, hop by hop: the verdict, the
    /// table entry that decided each check, and what to change for a drop.
    Trace {
        /// Topology file.
        #[arg(long)]
        topology: PathBuf,
        /// The sender: an IPv4 address (an ENI's, or an Internet host) or an ENI id.
        #[arg(long)]
        from: String,
        /// The destination: ADDR or ADDR:PORT.
        #[arg(long)]
        to: String,
        /// tcp, udp or icmp (default: tcp with a port, icmp echo without).
        #[arg(long)]
        proto: Option<String>,
        /// Source port (TCP/UDP; default 49152).
        #[arg(long)]
        sport: Option<u16>,
        /// TTL of the request (default 64).
        #[arg(long)]
        ttl: Option<u8>,
        /// Print one JSON object instead of text.
        #[arg(long)]
        json: bool,
    },
    /// The flows of captures whose verdict, egress or public address differs between topology
    /// A and topology B (another file, or A with an operations file applied).
    Diff {
        /// Topology A, then optionally topology B.
        #[arg(long = "topology", required = true, num_args = 1, action = clap::ArgAction::Append)]
        topologies: Vec<PathBuf>,
        /// Operations ([[step]] or [[event]] tables) applied to A to make B.
        #[arg(long, value_name = "OPS")]
        apply: Option<PathBuf>,
        /// Ingress of every frame: `internet` or an ENI id (default: by MAC or source address).
        #[arg(long)]
        ingress: Option<String>,
        /// Where the captures were taken: `gateway` or `instance` (restored through topology A).
        #[arg(long, value_name = "POINT", default_value = "gateway")]
        capture_point: CapturePoint,
        /// Print one JSON object instead of text.
        #[arg(long)]
        json: bool,
        /// Captures (pcap or pcapng), replayed in order as one stream.
        #[arg(required = true)]
        inputs: Vec<PathBuf>,
    },
    /// Write a topology from a real configuration: `import terraform STATE.json` (the JSON of
    /// `terraform show -json`) or `import aliyun DIR` (Describe* API responses as JSON files).
    Import {
        /// `terraform` or `aliyun`.
        #[arg(value_enum)]
        source: ImportSource,
        /// The state file (terraform) or the directory of responses (aliyun).
        input: PathBuf,
        /// Write the topology here (default: stdout).
        #[arg(short = 'o', long = "output", value_name = "FILE")]
        output: Option<PathBuf>,
        /// Region id, when the input's zones do not give it.
        #[arg(long)]
        region: Option<String>,
    },
    /// Print a starting topology for captures: each private source becomes a NAT-mode ENI.
    Suggest {
        /// Captures (pcap or pcapng).
        #[arg(required = true)]
        inputs: Vec<PathBuf>,
    },
}

/// What `import` reads.
#[derive(Clone, Copy, clap::ValueEnum)]
enum ImportSource {
    /// The JSON of `terraform show -json`.
    Terraform,
    /// A directory of Describe* API responses (JSON).
    Aliyun,
}

/// `eipsim import`: notes on stderr, the topology on stdout or in FILE; 1 on bad input.
fn import(
    source: ImportSource,
    input: &std::path::Path,
    output: Option<PathBuf>,
    region: Option<String>,
) -> ExitCode {
    use eipsim::import;
    let region = region.as_deref();
    let result = match source {
        ImportSource::Terraform => import::import_terraform(input, region),
        ImportSource::Aliyun => import::import_aliyun(input, region),
    };
    let imported = match result {
        Ok(i) => i,
        Err(e) => {
            eprintln!("eipsim: import: {e}");
            return ExitCode::from(1);
        }
    };
    for n in &imported.notes {
        eprintln!("note: {n}");
    }
    match output {
        None => emit(&imported.toml),
        Some(path) => {
            if let Err(e) = import::write_atomically(&path, &imported.toml) {
                eprintln!("eipsim: import: {e}");
                return ExitCode::from(1);
            }
        }
    }
    ExitCode::SUCCESS
}

/// The topology and captures of `replay` or `modes`: both given, or neither (the bundled demo).
fn topology_and_inputs(
    cmd: &str,
    topology: Option<PathBuf>,
    inputs: Vec<PathBuf>,
) -> Result<(PathBuf, Vec<PathBuf>), ExitCode> {
    match (topology, inputs.is_empty()) {
        (None, true) => {
            let (t, c) = replay::demo_paths();
            Ok((t, vec![c]))
        }
        (Some(t), false) => Ok((t, inputs)),
        (None, false) => {
            eprintln!("eipsim: {cmd} needs --topology FILE with captures");
            Err(ExitCode::from(2))
        }
        (Some(_), true) => {
            eprintln!("eipsim: {cmd} needs at least one capture after --topology");
            Err(ExitCode::from(2))
        }
    }
}

/// Reports why `replay` or `modes` could not run: 2 for usage, 1 for bad input.
fn failed(e: ReplayError) -> ExitCode {
    eprintln!("eipsim: {e}");
    match e {
        ReplayError::Usage(_) => ExitCode::from(2),
        ReplayError::Interrupted(code) => ExitCode::from(code),
        _ => ExitCode::from(1),
    }
}

/// Reports why `trace` or `diff` could not answer: 2 for usage, 1 for bad input.
fn advisor_failed(e: advisor::AdvisorError) -> ExitCode {
    eprintln!("eipsim: {e}");
    ExitCode::from(e.exit_code())
}

/// The outcome of `trace` or `diff`: as JSON or text, or the error with its exit code.
fn advised<T: serde::Serialize>(
    r: Result<T, advisor::AdvisorError>,
    json: bool,
    text: fn(&T) -> String,
) -> ExitCode {
    match r {
        Ok(v) if json => print_json(&v),
        Ok(v) => {
            emit(&text(&v));
            ExitCode::SUCCESS
        }
        Err(e) => advisor_failed(e),
    }
}

/// Prints a value as one JSON object.
fn print_json<T: serde::Serialize>(v: &T) -> ExitCode {
    match serde_json::to_string_pretty(v) {
        Ok(s) => {
            emit(&format!("{s}\n"));
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("eipsim: {e}");
            ExitCode::from(1)
        }
    }
}

/// Writes to stdout; a reader that went away (`eipsim ... | head`) is not an error worth a
/// panic: the rest of the output is simply not wanted.
fn emit(text: &str) {
    use std::io::Write as _;
    let mut o = std::io::stdout().lock();
    if let Err(e) = o.write_all(text.as_bytes()).and_then(|()| o.flush())
        && e.kind() != std::io::ErrorKind::BrokenPipe
    {
        // `> /dev/full`: the output is lost; say so and fail (the work itself is done).
        eprintln!("eipsim: cannot write to stdout: {e}");
        std::process::exit(1);
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.cmd {
        Cmd::Replay {
            run:
                RunArgs {
                    topology,
                    out,
                    ingress,
                    inputs,
                    capture_point,
                },
            workers,
            no_progress,
            trace,
            no_alg,
            alg,
            events,
        } => {
            let (topology, inputs) = match topology_and_inputs("replay", topology, inputs) {
                Ok(x) => x,
                Err(code) => return code,
            };
            let opts = ReplayOptions {
                topology,
                out,
                ingress,
                workers: usize::from(workers),
                inputs,
                progress: !no_progress,
                trace,
                max_open_files: None,
                alg: !no_alg,
                alg_spec: alg,
                events,
                capture_point,
            };
            // SIGINT and SIGTERM stop the replay between batches; it removes what it started
            // writing and exits 130 or 143.
            let stop = replay::guard::stop_flag();
            for (sig, code) in [
                (signal_hook::consts::SIGINT, 130),
                (signal_hook::consts::SIGTERM, 143),
            ] {
                if let Err(e) = signal_hook::flag::register_usize(sig, stop.clone(), code) {
                    eprintln!("eipsim: cannot handle signal {sig}: {e}");
                }
            }
            match replay::run(&opts) {
                Ok(o) => {
                    emit(&o.summary);
                    for e in &o.capture_errors {
                        eprintln!("eipsim: {e}");
                    }
                    if o.capture_errors.is_empty() {
                        ExitCode::SUCCESS
                    } else {
                        ExitCode::from(1)
                    }
                }
                Err(e) => failed(e),
            }
        }
        Cmd::Modes {
            run:
                RunArgs {
                    topology,
                    out,
                    ingress,
                    inputs,
                    capture_point,
                },
        } => {
            let (topology, inputs) = match topology_and_inputs("modes", topology, inputs) {
                Ok(x) => x,
                Err(code) => return code,
            };
            let opts = advisor::modes::ModesOptions {
                topology,
                inputs,
                out,
                ingress,
                capture_point,
            };
            match advisor::modes::run(&opts) {
                Ok(o) => {
                    emit(&o.text);
                    ExitCode::SUCCESS
                }
                Err(e) => failed(e),
            }
        }
        Cmd::Import {
            source,
            input,
            output,
            region,
        } => import(source, &input, output, region),
        Cmd::Suggest { inputs } => match advisor::suggest::suggest(&inputs) {
            Ok(t) => {
                emit(&t.text);
                eprintln!("{}", t.note);
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("eipsim: {e}");
                ExitCode::from(1)
            }
        },
        Cmd::Scenario { file } => match eipsim::model::scenario::load_scenario(&file) {
            Ok(mut sc) => {
                let results = eipsim::model::scenario::run_scenario(&mut sc);
                emit(&eipsim::model::scenario::scenario_report(
                    &sc, &file, &results,
                ));
                if results.iter().all(|r| r.as_expected) {
                    ExitCode::SUCCESS
                } else {
                    ExitCode::from(1)
                }
            }
            Err(e) => {
                eprintln!("eipsim: scenario {e}");
                ExitCode::from(1)
            }
        },
        Cmd::Trace {
            topology,
            from,
            to,
            proto,
            sport,
            ttl,
            json,
        } => {
            let opts = advisor::trace::TraceOptions {
                topology,
                from,
                to,
                proto,
                sport,
                ttl,
            };
            advised(advisor::trace::run(&opts), json, advisor::trace::text)
        }
        Cmd::Diff {
            topologies,
            apply,
            ingress,
            capture_point,
            json,
            inputs,
        } => {
            let mut t = topologies.into_iter();
            let (Some(a), b, None) = (t.next(), t.next(), t.next()) else {
                eprintln!("eipsim: diff takes --topology at most twice (A and B)");
                return ExitCode::from(2);
            };
            let opts = advisor::diff::DiffOptions {
                topology_a: a,
                topology_b: b,
                apply,
                inputs,
                ingress,
                capture_point,
            };
            advised(advisor::diff::run(&opts), json, advisor::diff::text)
        }
        Cmd::Check { file, all } => match Cloud::load(&file) {
            Ok(cloud) => {
                let limit = (!all).then_some(eipsim::model::CHECK_LIST_LIMIT);
                emit(&eipsim::model::guest_view_limited(&cloud, limit));
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("eipsim: {e}");
                ExitCode::from(1)
            }
        },
    }
}
