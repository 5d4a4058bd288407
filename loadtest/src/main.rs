//! `tessera-loadtest`: the load generator for Tessera (and for peers that speak the same
//! OAuth endpoints). Thread-per-core HTTP/1.1 keep-alive client, closed or open loop,
//! HdrHistogram latencies, text/JSON/SVG reports.
//!
//! The flow is: parse the options into a checked run plan (`cli` → `plan`), provision what
//! the scenario needs through the API (`provision`), run the load threads (`run`; the
//! authorization-code scenario's two-request iteration is `flow`), merge their statistics
//! and report (`stats`, `report`, `chart`; the server's CPU time for `--server-pid` is
//! `server_cpu`). The scenarios fed from a file take their
//! single-use lines from `lines`; `tessera-loadtest gen-keys | gen-assertions`
//! (`assertgen`) makes the keys and the assertions. Only `main` uses `cli`; the
//! modules below it share the plan types of `plan`. Exit status: 0 clean run, 1 setup
//! failure, 3 the run saw errors (non-2xx answers, wrong bodies or broken connections).

mod assertgen;
mod chart;
mod cli;
mod client;
mod flow;
mod lines;
mod plan;
mod provision;
mod report;
mod run;
mod runtime;
mod scenario;
mod server_cpu;
mod stats;

use clap::Parser;
use std::process::ExitCode;

fn main() -> ExitCode {
    if let Some(code) = assertgen::dispatch() {
        return code;
    }
    let args = cli::Args::parse();
    let plan = match plan::Plan::from_args(&args) {
        Ok(plan) => plan,
        Err(e) => {
            eprintln!("tessera-loadtest: {e}");
            return ExitCode::from(1);
        }
    };
    if args.print_server_config {
        print!("{}", provision::server_config(&plan));
        return ExitCode::SUCCESS;
    }
    let assets = match provision::provision(&plan) {
        Ok(assets) => assets,
        Err(e) => {
            eprintln!("tessera-loadtest: provisioning failed: {e}");
            return ExitCode::from(1);
        }
    };
    let outcome = run::run(&plan, assets);
    if outcome.thread_failed {
        return ExitCode::from(1);
    }
    let summary = report::Summary::new(&plan, &outcome);
    print!("{}", summary.text());
    if let Some(path) = &plan.json {
        if let Err(e) = std::fs::write(path, summary.json()) {
            eprintln!("tessera-loadtest: cannot write {}: {e}", path.display());
            return ExitCode::from(1);
        }
    }
    if let Some(path) = &plan.chart {
        if let Err(e) = chart::write_svg(path, &plan, &outcome) {
            eprintln!("tessera-loadtest: cannot draw {}: {e}", path.display());
            return ExitCode::from(1);
        }
    }
    if outcome.lines.is_some() && outcome.stats.requests() == 0 {
        eprintln!(
            "tessera-loadtest: the --lines file ran out before the measured phase: \
             make more lines or shorten --warmup"
        );
        return ExitCode::from(1);
    }
    if outcome.stats.errors_total() > 0 {
        ExitCode::from(3)
    } else {
        ExitCode::SUCCESS
    }
}
