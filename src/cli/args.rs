//! The command line as clap reads it: one argument struct per subcommand. The `///` comments on
//! the variants and fields are the `--help` text.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use eipsim::dataplane::CapturePoint;

// No `///` comment here: the `about` below is the help's first line.
#[derive(Parser)]
#[command(
    name = "eipsim",
    version,
    about = "Packet-path simulator for Elastic IPs bound to ENIs (NAT, cut-through, multi-EIP)"
)]
pub(crate) struct Cli {
    #[command(subcommand)]
    pub(crate) cmd: Cmd,
}

/// What `replay` and `modes` both take.
#[derive(Args)]
pub(crate) struct RunArgs {
    /// Topology file (TOML; docs/topology.md).
    #[arg(long)]
    pub(crate) topology: Option<PathBuf>,
    /// Output directory.
    #[arg(long, default_value = "out")]
    pub(crate) out: PathBuf,
    /// Ingress of every frame: `internet` or an ENI id (default: by MAC or source address).
    #[arg(long)]
    pub(crate) ingress: Option<String>,
    /// Where the captures were taken: `gateway` (frames from the Internet carry EIPs) or
    /// `instance` (tcpdump in the guest: received frames carry the private IP and are turned
    /// back into the Internet's frames first).
    #[arg(long, value_name = "POINT", default_value = "gateway")]
    pub(crate) capture_point: CapturePoint,
    /// Captures (pcap or pcapng), replayed in order as one stream.
    pub(crate) inputs: Vec<PathBuf>,
}

#[derive(Subcommand)]
pub(crate) enum Cmd {
    /// Replay captures through the EIP gateway; with no arguments, the bundled demo in pcaps/.
    Replay(ReplayArgs),
    /// The mode advisor: replay each ENI's traffic under NAT, BINDED and MULTI_BINDED and print
    /// a flow x mode matrix (also written as modes.json); with no arguments, the bundled demo.
    Modes(ModesArgs),
    /// Run a scenario (docs/scenarios.md): console operations in order, each with the
    /// outcome it should have; exit 1 when one differs. Prints each step and the final state.
    Scenario(ScenarioArgs),
    /// Validate a topology and print, per instance and NIC, the addresses its OS shows.
    Check(CheckArgs),
    /// One synthetic packet and its reply through the gateway, hop by hop: the verdict, the
    /// table entry that decided each check, and what to change for a drop.
    Trace(TraceArgs),
    /// The flows of captures whose verdict, egress or public address differs between topology
    /// A and topology B (another file, or A with an operations file applied).
    Diff(DiffArgs),
    /// Write a topology from a real configuration: `import terraform STATE.json` (the JSON of
    /// `terraform show -json`) or `import aliyun DIR` (Describe* API responses as JSON files).
    Import(ImportArgs),
    /// Print a starting topology for captures: each private source becomes a NAT-mode ENI.
    Suggest(SuggestArgs),
    /// Run the gateway between real interfaces (root): frames read on the Internet interface
    /// and the ENIs' go through the same frame pass as a replay and out of their egress
    /// interface; ARP is answered as the provider's network does. Outputs as a replay's,
    /// written at the end (--duration, SIGINT or SIGTERM).
    Live(LiveArgs),
    /// Write each frame of the captures, unchanged, into the capture of its machine shard
    /// (the shard of its inside endpoint, as `replay --shard K/N` chooses), one streaming pass;
    /// then `replay --shard K/N --split DIR` on each machine and `eipsim merge`.
    Split(SplitArgs),
    /// Merge the output directories of every shard of a replay (`replay --shard K/N`) into the
    /// outputs one machine writes: captures by input position, report.json combined.
    Merge(MergeArgs),
}

#[derive(Args)]
pub(crate) struct SplitArgs {
    /// Topology file (TOML; docs/topology.md): the one the shards will be replayed with.
    #[arg(long)]
    pub(crate) topology: PathBuf,
    /// Machine shards to write (each replayed by `replay --shard K/N --split DIR`).
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=256))]
    pub(crate) shards: u32,
    /// Output directory: split.json and a directory shard-K per shard.
    #[arg(long)]
    pub(crate) out: PathBuf,
    /// Timed operations the replays will apply (they move inside endpoints, so the split
    /// applies them too; the shards' replays must be given the same file).
    #[arg(long, value_name = "FILE")]
    pub(crate) events: Option<PathBuf>,
    /// Ingress of every frame, as the replays will have it: `internet` or an ENI id.
    #[arg(long)]
    pub(crate) ingress: Option<String>,
    /// Where the captures were taken, as the replays will have it: `gateway` or `instance`.
    #[arg(long, value_name = "POINT", default_value = "gateway")]
    pub(crate) capture_point: CapturePoint,
    /// Never show a progress bar.
    #[arg(long)]
    pub(crate) no_progress: bool,
    /// Captures (pcap or pcapng), read in order as one stream.
    #[arg(required = true, value_name = "CAPTURE")]
    pub(crate) inputs: Vec<PathBuf>,
}

#[derive(Args)]
pub(crate) struct MergeArgs {
    /// Output directory of the merged outputs.
    #[arg(long)]
    pub(crate) out: PathBuf,
    /// The shards' output directories (each once, any order).
    #[arg(required = true, value_name = "SHARD_OUT")]
    pub(crate) dirs: Vec<PathBuf>,
}

// The argument structs below carry no `///` comment of their own: the variant's is the help.

#[derive(Args)]
pub(crate) struct ReplayArgs {
    #[command(flatten)]
    pub(crate) run: RunArgs,
    /// Core worker threads.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..=256))]
    pub(crate) workers: u16,
    /// Never show a progress bar.
    #[arg(long)]
    pub(crate) no_progress: bool,
    /// Also write a per-frame trace (TSV: frame, input, record, verdict, egress, out_frame).
    #[arg(long)]
    pub(crate) trace: Option<PathBuf>,
    #[command(flatten)]
    pub(crate) alg: AlgArgs,
    /// Timed operations applied during the replay ([[event]] tables with `at`, capture time
    /// in seconds since the epoch; docs/scenarios.md).
    #[arg(long, value_name = "FILE")]
    pub(crate) events: Option<PathBuf>,
    /// For each dropped flow, propose the console operations that would admit it, verify each
    /// distinct fix by a replay with it applied, and write them to fixes.toml (and `fixes` in
    /// report.json). Costs a replay per distinct fix (the first 50 are verified).
    #[arg(long)]
    pub(crate) fixes: bool,
    /// The guests answer: each frame delivered to an ENI goes to its instance's IP stack
    /// (smoltcp), which takes its DHCP lease, answers its services, ICMP echo, RST and port
    /// unreachable; what the guests send is replayed through the gateway and written out too,
    /// counted apart as generated. Runs the frame pass in one thread (same bytes for any
    /// --workers).
    #[arg(long)]
    pub(crate) respond: bool,
    /// Replay only machine shard K of N (0 <= K < N): the frames whose inside endpoint falls
    /// to it, numbered as in the whole input, with what `eipsim merge` needs (positions.bin,
    /// shard.json). Not with --fixes, --respond or --trace.
    #[arg(long, value_name = "K/N")]
    pub(crate) shard: Option<eipsim::replay::shard::ShardSpec>,
    /// With --shard K/N: replay shard K of the split in DIR (`eipsim split`), whose captures
    /// hold only that shard's frames, instead of reading every input; give no capture.
    #[arg(long, value_name = "DIR", requires = "shard")]
    pub(crate) split: Option<PathBuf>,
}

/// The ALG options of `replay` and `live`: the same meaning in both.
#[derive(Args)]
pub(crate) struct AlgArgs {
    /// Do not inspect ALG protocols (no findings; for comparison runs).
    #[arg(long)]
    pub(crate) no_alg: bool,
    /// What-if ALG per protocol, over the topology's `[alg]` table: a list such as
    /// `ftp=translate,sip=translate` (modes: inspect, translate; translate for ftp and sip).
    #[arg(long, value_name = "LIST")]
    pub(crate) alg: Option<String>,
}

#[derive(Args)]
pub(crate) struct ModesArgs {
    #[command(flatten)]
    pub(crate) run: RunArgs,
}

#[derive(Args)]
pub(crate) struct ScenarioArgs {
    /// Scenario file (TOML).
    pub(crate) file: PathBuf,
}

#[derive(Args)]
pub(crate) struct CheckArgs {
    /// Topology file.
    pub(crate) file: PathBuf,
    /// List every instance, detached ENI and EIP (default: the first 50 of each, and how
    /// many more there are).
    #[arg(long)]
    pub(crate) all: bool,
}

#[derive(Args)]
pub(crate) struct TraceArgs {
    /// Topology file.
    #[arg(long)]
    pub(crate) topology: PathBuf,
    /// The sender: an IPv4 address (an ENI's, or an Internet host) or an ENI id.
    #[arg(long)]
    pub(crate) from: String,
    /// The destination: ADDR or ADDR:PORT.
    #[arg(long)]
    pub(crate) to: String,
    /// tcp, udp or icmp (default: tcp with a port, icmp echo without).
    #[arg(long)]
    pub(crate) proto: Option<String>,
    /// Source port (TCP/UDP; default 49152).
    #[arg(long)]
    pub(crate) sport: Option<u16>,
    /// TTL of the request (default 64).
    #[arg(long)]
    pub(crate) ttl: Option<u8>,
    /// Print one JSON object instead of text.
    #[arg(long)]
    pub(crate) json: bool,
}

#[derive(Args)]
pub(crate) struct DiffArgs {
    /// Topology A, then optionally topology B.
    #[arg(long = "topology", required = true, num_args = 1, action = clap::ArgAction::Append)]
    pub(crate) topologies: Vec<PathBuf>,
    /// Operations ([[step]] or [[event]] tables) applied to A to make B.
    #[arg(long, value_name = "OPS")]
    pub(crate) apply: Option<PathBuf>,
    /// Ingress of every frame: `internet` or an ENI id (default: by MAC or source address).
    #[arg(long)]
    pub(crate) ingress: Option<String>,
    /// Where the captures were taken: `gateway` or `instance` (restored through topology A).
    #[arg(long, value_name = "POINT", default_value = "gateway")]
    pub(crate) capture_point: CapturePoint,
    /// Print one JSON object instead of text.
    #[arg(long)]
    pub(crate) json: bool,
    /// Captures (pcap or pcapng), replayed in order as one stream.
    #[arg(required = true)]
    pub(crate) inputs: Vec<PathBuf>,
}

#[derive(Args)]
pub(crate) struct ImportArgs {
    /// `terraform` or `aliyun`.
    #[arg(value_enum)]
    pub(crate) source: ImportSource,
    /// The state file (terraform) or the directory of responses (aliyun).
    pub(crate) input: PathBuf,
    /// Write the topology here (default: stdout).
    #[arg(short = 'o', long = "output", value_name = "FILE")]
    pub(crate) output: Option<PathBuf>,
    /// Region id, when the input's zones do not give it.
    #[arg(long)]
    pub(crate) region: Option<String>,
}

#[derive(Args)]
pub(crate) struct SuggestArgs {
    /// Captures (pcap or pcapng).
    #[arg(required = true)]
    pub(crate) inputs: Vec<PathBuf>,
}

/// What `import` reads.
#[derive(Clone, Copy, clap::ValueEnum)]
pub(crate) enum ImportSource {
    /// The JSON of `terraform show -json`.
    Terraform,
    /// A directory of Describe* API responses (JSON).
    Aliyun,
}

#[derive(Args)]
pub(crate) struct LiveArgs {
    /// Topology file (TOML; docs/topology.md).
    #[arg(long)]
    pub(crate) topology: PathBuf,
    /// The interface of the Internet side.
    #[arg(long, value_name = "IFACE")]
    pub(crate) internet: String,
    /// An ENI and the interface of its instance's side, as ENI_ID=IFACE (repeat per ENI).
    #[arg(long, value_name = "ENI_ID=IFACE", value_parser = eni_iface, required = true)]
    pub(crate) eni: Vec<(String, String)>,
    /// Output directory.
    #[arg(long, default_value = "out")]
    pub(crate) out: PathBuf,
    /// Stop after this many seconds (default: at SIGINT or SIGTERM).
    #[arg(long, value_name = "S", value_parser = seconds)]
    pub(crate) duration: Option<std::time::Duration>,
    /// Timed events (TOML, as for replay), `at` in seconds after the start of the run.
    #[arg(long, value_name = "FILE")]
    pub(crate) events: Option<PathBuf>,
    #[command(flatten)]
    pub(crate) alg: AlgArgs,
}

/// `ENI_ID=IFACE`, both parts non-empty.
fn eni_iface(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((e, i)) if !e.is_empty() && !i.is_empty() => Ok((e.to_string(), i.to_string())),
        _ => Err(format!("{s:?}: expected ENI_ID=IFACE")),
    }
}

/// A positive number of seconds (fractions allowed).
fn seconds(s: &str) -> Result<std::time::Duration, String> {
    s.parse::<f64>()
        .ok()
        .filter(|v| v.is_finite() && *v > 0.0 && *v < 1e9)
        .map(std::time::Duration::from_secs_f64)
        .ok_or_else(|| format!("{s:?}: expected a positive number of seconds"))
}
