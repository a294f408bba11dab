//! The `eipsim` command line: parses arguments, calls the library, maps errors to exit codes
//! (0 done, 1 bad input, 2 usage).

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};

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
    /// Topology file (TOML, design.md section 2).
    #[arg(long)]
    topology: Option<PathBuf>,
    /// Output directory.
    #[arg(long, default_value = "out")]
    out: PathBuf,
    /// Ingress of every frame: `internet` or an ENI id (default: by MAC or source address).
    #[arg(long)]
    ingress: Option<String>,
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
        /// Timed operations applied during the replay (design.md section 2b: [[event]] tables
        /// with `at`, capture time in seconds since the epoch).
        #[arg(long, value_name = "FILE")]
        events: Option<PathBuf>,
    },
    /// The mode advisor: replay each ENI's traffic under NAT, BINDED and MULTI_BINDED and print
    /// a flow x mode matrix (also written as modes.json); with no arguments, the bundled demo.
    Modes {
        #[command(flatten)]
        run: RunArgs,
    },
    /// Run a scenario (design.md section 2b): console operations in order, each with the
    /// outcome it should have; exit 1 when one differs. Prints each step and the final state.
    Scenario {
        /// Scenario file (TOML).
        file: PathBuf,
    },
    /// Validate a topology and print, per instance and NIC, the addresses its OS shows.
    Check {
        /// Topology file.
        file: PathBuf,
    },
    /// Print a starting topology for captures: each private source becomes a NAT-mode ENI.
    Suggest {
        /// Captures (pcap or pcapng).
        #[arg(required = true)]
        inputs: Vec<PathBuf>,
    },
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
        _ => ExitCode::from(1),
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
            };
            match replay::run(&opts) {
                Ok(o) => {
                    print!("{}", o.summary);
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
                },
        } => {
            let (topology, inputs) = match topology_and_inputs("modes", topology, inputs) {
                Ok(x) => x,
                Err(code) => return code,
            };
            let opts = replay::modes::ModesOptions {
                topology,
                inputs,
                out,
                ingress,
            };
            match replay::modes::run(&opts) {
                Ok(o) => {
                    print!("{}", o.text);
                    ExitCode::SUCCESS
                }
                Err(e) => failed(e),
            }
        }
        Cmd::Suggest { inputs } => match replay::suggest::suggest(&inputs) {
            Ok(t) => {
                print!("{}", t.text);
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
                print!(
                    "{}",
                    eipsim::model::scenario::scenario_report(&sc, &file, &results)
                );
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
        Cmd::Check { file } => match Cloud::load(&file) {
            Ok(cloud) => {
                print!("{}", eipsim::model::guest_view(&cloud));
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("eipsim: {e}");
                ExitCode::from(1)
            }
        },
    }
}
