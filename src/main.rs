use std::process::ExitCode;

use clap::Parser;
use seckill_bench::cli::{Cli, Command};
use seckill_bench::util::redact::redact;

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        // clap echoes the offending argument, which may hold a password.
        Err(e) if e.use_stderr() => {
            eprint!("{}", redact(&e.render().to_string()));
            return ExitCode::from(2);
        }
        Err(e) => e.exit(),
    };
    seckill_bench::conn::install_tls_provider();
    let result = match cli.command {
        Command::Run(args) => seckill_bench::cmd::run::run_command(&args),
        Command::Sweep(args) => seckill_bench::cmd::sweep::sweep_command(&args),
        Command::Capacity(args) => seckill_bench::cmd::capacity::capacity_command(&args),
        Command::Compare(args) => seckill_bench::cmd::compare::compare_command(
            &args.baseline,
            &args.candidate,
            args.max_regression,
        ),
        Command::Worker(_) => return worker(),
        Command::Agent(args) => return agent(&args),
        Command::Reaper(_) => {
            seckill_bench::util::reaper::main();
            return ExitCode::SUCCESS;
        }
    };
    match result {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!("error: {}", redact(&e.to_string()));
            ExitCode::from(e.exit_code())
        }
    }
}

fn agent(args: &seckill_bench::cli::AgentArgs) -> ExitCode {
    let dead_man = std::time::Duration::from_millis(args.dead_man_ms);
    match seckill_bench::cmd::agent::main(&args.run, dead_man) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!(
                "agent on {}: {}",
                seckill_bench::util::process::hostname(),
                redact(&format!("{e:#}"))
            );
            ExitCode::FAILURE
        }
    }
}

fn worker() -> ExitCode {
    match seckill_bench::worker::main() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("worker error: {}", redact(&format!("{e:#}")));
            ExitCode::FAILURE
        }
    }
}
