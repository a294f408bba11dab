//! The `eipsim` command line: parses the arguments and runs the subcommand ([`cli`]). Every
//! failure is one [`cli::CliError`], printed on stderr and mapped to the exit code: 0 done,
//! 1 bad input, 2 usage, 130 or 143 stopped by SIGINT or SIGTERM.

mod cli;

use std::process::ExitCode;

use clap::Parser as _;

fn main() -> ExitCode {
    match cli::dispatch(cli::Cli::parse().cmd) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            e.report();
            ExitCode::from(e.exit_code())
        }
    }
}
