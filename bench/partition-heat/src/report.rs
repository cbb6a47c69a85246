//! Ranks partition keys by their write units per simulated second and prints them against the
//! per-partition limit.
//!
//! Rates are taken within each full simulated second of the run (a trailing partial second is
//! left out); a run shorter than a second is one window, scaled to a per-second rate.

use std::collections::HashMap;
use std::fmt::Write as _;

use chrono::{DateTime, Utc};

use crate::recorder::{HeatMap, Target};
use crate::workload::{Operation, RunOutcome, TENANT};

/// What a per-item stock partition is labeled with: the goal exempts it.
pub const STOCK_ROW_LABEL: &str =
    "a single item's stock row (hot-item sharding covers it: PUT /inventory/api/item/{ItemId}/stockShards)";

/// One partition key's write rate.
#[derive(Debug, Clone, PartialEq)]
pub struct HeatRow {
    pub target: Target,
    pub partition_key: String,
    /// Highest write units within one simulated second.
    pub peak_wu_per_s: f64,
    /// Mean write units per simulated second over the window.
    pub mean_wu_per_s: f64,
    /// A base-table partition of one item's stock (or one of its shards).
    pub stock_row: bool,
}

/// The window rates are measured over.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Window {
    /// Whole simulated seconds; writes after the last whole second are left out.
    FullSeconds(u64),
    /// A run shorter than one second: its writes scaled to a second.
    Scaled(f64),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Report {
    /// Every partition key that took writes, hottest (by peak) first.
    pub rows: Vec<HeatRow>,
    /// Per target: (peak, mean) of all its keys together, in WU/s.
    pub totals: Vec<(Target, f64, f64)>,
    pub window: Window,
}

/// Whether `key` of `target` is one item's stock partition of `tenant` (`T#t#STOCK#<item>...`).
pub fn is_stock_row(target: Target, key: &str, tenant: &str) -> bool {
    target == Target::Table && key.starts_with(&format!("T#{tenant}#STOCK#"))
}

impl Report {
    /// Rates of every key in `heat` over a run of `seconds` starting at `start` (a whole second).
    pub fn from_heat(heat: &HeatMap, start: DateTime<Utc>, seconds: f64, tenant: &str) -> Report {
        let first = start.timestamp();
        let full = (seconds + 1e-9).floor() as i64;
        let (window, last, divisor) = if full >= 1 {
            (Window::FullSeconds(full as u64), first + full, full as f64)
        } else {
            (Window::Scaled(seconds), first + 1, seconds.max(1e-9))
        };
        let mut per_key: HashMap<(Target, &str), HashMap<i64, u64>> = HashMap::new();
        let mut per_target: HashMap<Target, HashMap<i64, u64>> = HashMap::new();
        for ((target, key, second), units) in heat {
            if *second < first || *second >= last {
                continue;
            }
            *per_key.entry((*target, key.as_str())).or_default().entry(*second).or_insert(0) += units;
            *per_target.entry(*target).or_default().entry(*second).or_insert(0) += units;
        }
        let rate = |seconds: &HashMap<i64, u64>| {
            let peak = seconds.values().copied().max().unwrap_or(0) as f64;
            let sum: u64 = seconds.values().sum();
            match window {
                Window::FullSeconds(_) => (peak, sum as f64 / divisor),
                Window::Scaled(_) => (sum as f64 / divisor, sum as f64 / divisor),
            }
        };
        let mut rows: Vec<HeatRow> = per_key
            .iter()
            .map(|((target, key), seconds)| {
                let (peak, mean) = rate(seconds);
                HeatRow {
                    target: *target,
                    partition_key: (*key).to_owned(),
                    peak_wu_per_s: peak,
                    mean_wu_per_s: mean,
                    stock_row: is_stock_row(*target, key, tenant),
                }
            })
            .collect();
        rows.sort_by(|a, b| {
            b.peak_wu_per_s.total_cmp(&a.peak_wu_per_s).then_with(|| a.partition_key.cmp(&b.partition_key))
        });
        let totals = Target::all()
            .into_iter()
            .map(|target| {
                let (peak, mean) = per_target.get(&target).map_or((0.0, 0.0), rate);
                (target, peak, mean)
            })
            .collect();
        Report { rows, totals, window }
    }

    pub fn from_outcome(outcome: &RunOutcome) -> Report {
        Report::from_heat(&outcome.recorder.snapshot(), outcome.start, outcome.config.seconds, TENANT)
    }

    /// Keys whose peak is above `limit` WU/s, stock rows included (filter on `stock_row`).
    pub fn over_limit(&self, limit: f64) -> Vec<&HeatRow> {
        self.rows.iter().filter(|row| row.peak_wu_per_s > limit).collect()
    }

    /// Keys of `target`, hottest first.
    pub fn of(&self, target: Target) -> impl Iterator<Item = &HeatRow> {
        self.rows.iter().filter(move |row| row.target == target)
    }

    /// The whole report as plain text: model, run, then per target the hottest keys.
    pub fn render(&self, outcome: &RunOutcome, top: usize, limit: f64) -> String {
        let mut out = String::new();
        let config = &outcome.config;
        let _ = writeln!(out, "== partition heat: one tenant ({TENANT}) ==");
        let _ = writeln!(out, "model: {}", config.heat.describe());
        let _ = writeln!(out, "limit: {limit} WU/s per partition key");
        let _ = writeln!(
            out,
            "run: {} order changes/s for {} simulated s = {} changes; seed {}; {} items, Zipf s={}, {} locations per item",
            config.rate,
            config.seconds,
            outcome.changes,
            config.seed,
            config.items,
            config.zipf_s,
            config.locations_per_item
        );
        match self.window {
            Window::FullSeconds(n) => {
                let _ = writeln!(out, "rates: within each of {n} full simulated second(s); peak = busiest second");
            }
            Window::Scaled(s) => {
                let _ =
                    writeln!(out, "rates: run shorter than 1 s: its {s} s window scaled to per second (peak = mean)");
            }
        }
        self.render_run(&mut out, outcome);
        for (target, peak, mean) in &self.totals {
            let _ = writeln!(out);
            let _ = writeln!(out, "-- {} -- total {:.0} WU/s peak, {:.0} WU/s mean", target.name(), peak, mean);
            let (stock, rest): (Vec<&HeatRow>, Vec<&HeatRow>) = self.of(*target).partition(|row| row.stock_row);
            render_rows(&mut out, &rest, top, limit);
            if !stock.is_empty() {
                let _ = writeln!(out, "  stock rows, listed apart: {STOCK_ROW_LABEL}");
                render_rows(&mut out, &stock, top, limit);
            }
        }
        let over: Vec<&HeatRow> = self.over_limit(limit).into_iter().filter(|row| !row.stock_row).collect();
        let _ = writeln!(out);
        let _ = writeln!(out, "keys over {limit} WU/s (stock rows aside): {}", over.len());
        out
    }

    fn render_run(&self, out: &mut String, outcome: &RunOutcome) {
        let stats = &outcome.stats;
        let _ = writeln!(out, "operations:");
        let _ = writeln!(out, "  {:<20} {:>8} {:>8} {:>8}  failures by kind", "kind", "ran", "failed", "skipped");
        for op in Operation::ALL {
            let s = stats.ops.get(&op).cloned().unwrap_or_default();
            let failed: u64 = s.failed.values().sum();
            let kinds: Vec<String> = s.failed.iter().map(|(kind, n)| format!("{kind} {n}")).collect();
            let _ =
                writeln!(out, "  {:<20} {:>8} {:>8} {:>8}  {}", op.name(), s.ran, failed, s.skipped, kinds.join(", "));
        }
        let _ = writeln!(
            out,
            "change-tracker messages consumed: {} (failed {}); outbox relay and milestone scheduler runs: {}; \
             milestone checks: {}, monitoring events raised: {}",
            stats.messages_consumed,
            stats.messages_failed,
            stats.relay_runs,
            stats.milestone_checks,
            stats.monitoring_events
        );
        if stats.serious.is_empty() {
            let _ = writeln!(out, "no panics, store or internal errors");
        } else {
            for line in &stats.serious {
                let _ = writeln!(out, "SERIOUS: {line}");
            }
        }
    }
}

fn render_rows(out: &mut String, rows: &[&HeatRow], top: usize, limit: f64) {
    let _ = writeln!(out, "  {:>4} {:>10} {:>10} {:>5}  partition key", "rank", "peak WU/s", "mean WU/s", "");
    for (n, row) in rows.iter().take(top).enumerate() {
        let flag = if row.peak_wu_per_s > limit { "OVER" } else { "" };
        let _ = writeln!(
            out,
            "  {:>4} {:>10.0} {:>10.0} {:>5}  {}",
            n + 1,
            row.peak_wu_per_s,
            row.mean_wu_per_s,
            flag,
            row.partition_key
        );
    }
    if rows.len() > top {
        let _ = writeln!(out, "  ... {} more keys", rows.len() - top);
    }
}
