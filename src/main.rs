use std::process::ExitCode;

use clap::Parser;
use seckill_bench::cli::{Cli, Command};

fn main() -> ExitCode {
    let result = match Cli::parse().command {
        Command::Run(args) => seckill_bench::run::run_command(&args),
        Command::Sweep(args) => seckill_bench::sweep::sweep_command(&args),
        Command::Compare(args) => seckill_bench::compare::compare_command(
            &args.baseline,
            &args.candidate,
            args.max_regression,
        ),
        Command::Worker => return worker(),
    };
    match result {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(e.exit_code())
        }
    }
}

fn worker() -> ExitCode {
    match seckill_bench::worker::main() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("worker error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
