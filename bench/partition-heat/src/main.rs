//! `partition-heat`: runs the simulated workload and prints which partition keys get hot.
//! A measurement: it exits 0 whatever it finds, and 1 only when the setup fails.

use clap::Parser;
use oms_core::keys::{self, KeyShards};
use partition_heat::recorder::{HeatConfig, PARTITION_WRITE_LIMIT};
use partition_heat::report::Report;
use partition_heat::workload::{self, WorkloadConfig};

#[derive(Debug, Parser)]
#[command(name = "partition-heat", about = "Simulates one tenant's order changes and reports DynamoDB partition heat")]
struct Args {
    /// Order changes per simulated second.
    #[arg(long, default_value_t = 10_000.0)]
    rate: f64,
    /// Simulated seconds to run (fractions allowed).
    #[arg(long, default_value_t = 3.0)]
    seconds: f64,
    /// Seed of the workload's random choices.
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Keys listed per table or index.
    #[arg(long, default_value_t = 10)]
    top: usize,
    /// Write units per second one partition key takes.
    #[arg(long, default_value_t = PARTITION_WRITE_LIMIT as f64)]
    limit: f64,
    /// Charge index writes caused by a transaction twice, like the transaction's table writes.
    #[arg(long)]
    double_transactional_index_writes: bool,
    /// Shard the stock of this many of the most popular items before the run.
    #[arg(long, default_value_t = 0)]
    shard_hot_items: usize,
    /// Shards of each of those items (1 to 64).
    #[arg(long, default_value_t = 8)]
    shards_per_hot_item: u32,
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let args = Args::parse();
    // The shard counts a deployment sets (`OMS_SHARDS_*`), as the functions read them.
    match KeyShards::from_lookup(|name| std::env::var(name).ok()) {
        Ok(shards) => {
            keys::use_shards(shards);
            println!("key shards: {shards:?}");
        }
        Err(e) => {
            eprintln!("{e:#}");
            std::process::exit(1);
        }
    }
    let config = WorkloadConfig {
        rate: args.rate,
        seconds: args.seconds,
        seed: args.seed,
        heat: HeatConfig { transactional_index_writes_double: args.double_transactional_index_writes },
        hot_items: args.shard_hot_items,
        hot_item_shards: args.shards_per_hot_item,
        ..WorkloadConfig::default()
    };
    let started = std::time::Instant::now();
    let outcome = match workload::run(&config).await {
        Ok(outcome) => outcome,
        Err(e) => {
            eprintln!("setup failed: {e:#}");
            std::process::exit(1);
        }
    };
    let report = Report::from_outcome(&outcome);
    print!("{}", report.render(&outcome, args.top, args.limit));
    println!("wall time: {:.1} s", started.elapsed().as_secs_f64());
}
