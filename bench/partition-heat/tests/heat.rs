//! The recorder's write-unit rules, the report's ranking, and a short run of the workload.
//! Nothing here asserts that the current keys stay under the limit.

use std::sync::Arc;

use chrono::TimeDelta;
use oms_core::deps::Deps;
use oms_core::ports::{Index, Item, ItemStore, Key, Projection, StoreError, Update, WriteOp};
use oms_core::sqlite::SqliteDb;
use partition_heat::recorder::{HeatConfig, HeatRecorder, Target, index_writes};
use partition_heat::report::{Report, STOCK_ROW_LABEL};
use partition_heat::workload::{self, Operation, SimClock, WorkloadConfig, start_time};
use serde_json::{Value, json};

fn item(value: Value) -> Item {
    value.as_object().cloned().expect("an object")
}

fn recorder(config: HeatConfig) -> (Arc<HeatRecorder>, Arc<SimClock>) {
    let deps = Deps::embedded(SqliteDb::in_memory().expect("sqlite")).expect("deps");
    let clock = Arc::new(SimClock::new(start_time()));
    (Arc::new(HeatRecorder::new(deps.store, clock.clone(), config)), clock)
}

fn report_of(recorder: &HeatRecorder, seconds: f64) -> Report {
    Report::from_heat(&recorder.snapshot(), start_time(), seconds, "t")
}

/// Write units `target` took at partition `pk` over the whole recording.
fn units(recorder: &HeatRecorder, target: Target, pk: &str) -> u64 {
    recorder.snapshot().iter().filter(|((t, k, _), _)| *t == target && k == pk).map(|(_, units)| units).sum()
}

// ---- index_writes ------------------------------------------------------------------------

#[test]
fn when_neither_item_carries_the_index_key_should_count_no_index_write() {
    let old = item(json!({"PK": "A", "SK": "1", "x": 1}));
    let new = item(json!({"PK": "A", "SK": "1", "x": 2}));
    assert!(index_writes(Some(&old), Some(&new), Index::Gsi1, Projection::All).is_empty());
}

#[test]
fn when_an_item_joins_the_index_should_count_one_put_at_the_new_partition() {
    let new = item(json!({"PK": "A", "SK": "1", "GSI1PK": "G", "GSI1SK": "s"}));
    assert_eq!(index_writes(None, Some(&new), Index::Gsi1, Projection::All), vec![("G".to_owned(), 1)]);
}

#[test]
fn when_an_item_leaves_the_index_should_count_one_delete_at_the_old_partition() {
    let old = item(json!({"PK": "A", "SK": "1", "GSI2PK": "OLD", "GSI2SK": "s"}));
    let new = item(json!({"PK": "A", "SK": "1"}));
    assert_eq!(index_writes(Some(&old), Some(&new), Index::Gsi2, Projection::All), vec![("OLD".to_owned(), 1)]);
    assert_eq!(index_writes(Some(&old), None, Index::Gsi2, Projection::All), vec![("OLD".to_owned(), 1)]);
}

#[test]
fn when_an_update_changes_the_index_key_should_count_a_delete_and_a_put() {
    let old = item(json!({"PK": "A", "SK": "1", "GSI1PK": "OLD", "GSI1SK": "s"}));
    let new = item(json!({"PK": "A", "SK": "1", "GSI1PK": "NEW", "GSI1SK": "s"}));
    let writes = index_writes(Some(&old), Some(&new), Index::Gsi1, Projection::KeysOnly);
    assert_eq!(writes, vec![("OLD".to_owned(), 1), ("NEW".to_owned(), 1)]);
}

#[test]
fn when_an_update_changes_only_the_index_sort_key_should_count_a_delete_and_a_put_in_the_same_partition() {
    let old = item(json!({"PK": "A", "SK": "1", "GSI1PK": "G", "GSI1SK": "a"}));
    let new = item(json!({"PK": "A", "SK": "1", "GSI1PK": "G", "GSI1SK": "b"}));
    let writes = index_writes(Some(&old), Some(&new), Index::Gsi1, Projection::All);
    assert_eq!(writes, vec![("G".to_owned(), 1), ("G".to_owned(), 1)]);
}

#[test]
fn when_an_update_changes_an_unprojected_attribute_of_a_keys_only_index_should_count_no_index_write() {
    let old = item(json!({"PK": "A", "SK": "1", "GSI1PK": "G", "GSI1SK": "s", "reserved": 1}));
    let new = item(json!({"PK": "A", "SK": "1", "GSI1PK": "G", "GSI1SK": "s", "reserved": 2}));
    assert!(index_writes(Some(&old), Some(&new), Index::Gsi1, Projection::KeysOnly).is_empty());
}

#[test]
fn when_an_update_changes_any_attribute_of_an_all_index_should_count_one_write_of_the_new_item() {
    let old = item(json!({"PK": "A", "SK": "1", "GSI1PK": "G", "GSI1SK": "s", "reserved": 1}));
    let new = item(json!({"PK": "A", "SK": "1", "GSI1PK": "G", "GSI1SK": "s", "reserved": 2}));
    assert_eq!(index_writes(Some(&old), Some(&new), Index::Gsi1, Projection::All), vec![("G".to_owned(), 1)]);
}

#[test]
fn when_an_item_is_rewritten_unchanged_should_count_no_index_write() {
    let same = item(json!({"PK": "A", "SK": "1", "GSI1PK": "G", "GSI1SK": "s", "x": 1}));
    assert!(index_writes(Some(&same), Some(&same), Index::Gsi1, Projection::All).is_empty());
}

#[test]
fn when_a_projected_item_is_over_a_kb_should_count_a_unit_per_started_kb() {
    let big = item(json!({"PK": "A", "SK": "1", "GSI1PK": "G", "GSI1SK": "s", "data": "x".repeat(2500)}));
    assert_eq!(index_writes(None, Some(&big), Index::Gsi1, Projection::All), vec![("G".to_owned(), 3)]);
    assert_eq!(index_writes(None, Some(&big), Index::Gsi1, Projection::KeysOnly), vec![("G".to_owned(), 1)]);
}

// ---- the recorder ------------------------------------------------------------------------

#[tokio::test]
async fn when_2000_puts_hit_one_partition_in_one_second_should_report_2000_wu_per_s_over_the_limit() {
    let (recorder, clock) = recorder(HeatConfig::default());
    for n in 0..2000 {
        clock.set(start_time() + TimeDelta::microseconds(n * 400));
        recorder.put(item(json!({"PK": "HOT", "SK": format!("{n:05}")})), None).await.unwrap();
    }
    recorder.put(item(json!({"PK": "COOL", "SK": "1"})), None).await.unwrap();
    let report = report_of(&recorder, 1.0);
    let over = report.over_limit(1000.0);
    assert_eq!(over.len(), 1);
    assert_eq!((over[0].target, over[0].partition_key.as_str()), (Target::Table, "HOT"));
    assert_eq!(over[0].peak_wu_per_s, 2000.0);
    assert_eq!(report.rows[1].partition_key, "COOL");
}

#[tokio::test]
async fn when_a_3_kb_item_is_put_should_count_3_wu() {
    let (recorder, _) = recorder(HeatConfig::default());
    recorder.put(item(json!({"PK": "A", "SK": "1", "data": "x".repeat(2900)})), None).await.unwrap();
    assert_eq!(units(&recorder, Target::Table, "A"), 3);
}

#[tokio::test]
async fn when_a_put_is_part_of_a_transaction_should_count_twice() {
    let (recorder, _) = recorder(HeatConfig::default());
    let put = WriteOp::Put { item: item(json!({"PK": "A", "SK": "1", "GSI1PK": "G", "GSI1SK": "s"})), condition: None };
    recorder.transact(vec![put]).await.unwrap();
    assert_eq!(units(&recorder, Target::Table, "A"), 2);
    assert_eq!(units(&recorder, Target::Index(Index::Gsi1), "G"), 1, "index writes of a transaction are not doubled");
}

#[tokio::test]
async fn when_transactional_index_writes_are_doubled_should_count_the_index_write_twice() {
    let (recorder, _) = recorder(HeatConfig { transactional_index_writes_double: true });
    let put = WriteOp::Put { item: item(json!({"PK": "A", "SK": "1", "GSI1PK": "G", "GSI1SK": "s"})), condition: None };
    recorder.transact(vec![put]).await.unwrap();
    assert_eq!(units(&recorder, Target::Index(Index::Gsi1), "G"), 2);
}

#[tokio::test]
async fn when_an_update_moves_an_item_in_an_index_should_count_both_partitions() {
    let (recorder, _) = recorder(HeatConfig::default());
    recorder.put(item(json!({"PK": "A", "SK": "1", "GSI2PK": "OLD", "GSI2SK": "s"})), None).await.unwrap();
    recorder.update(&Key::new("A", "1"), Update::new().set("GSI2PK", "NEW"), None).await.unwrap();
    assert_eq!(units(&recorder, Target::Table, "A"), 2);
    assert_eq!(units(&recorder, Target::Index(Index::Gsi2), "OLD"), 2, "the put, then the delete");
    assert_eq!(units(&recorder, Target::Index(Index::Gsi2), "NEW"), 1);
}

#[tokio::test]
async fn when_a_conditional_write_fails_should_charge_the_table_and_no_index() {
    let (recorder, _) = recorder(HeatConfig::default());
    let row = item(json!({"PK": "A", "SK": "1", "GSI1PK": "G", "GSI1SK": "s"}));
    recorder.put(row.clone(), None).await.unwrap();
    let failed = recorder.put(row.clone(), Some(oms_core::ports::Condition::NotExists)).await;
    assert!(matches!(failed, Err(StoreError::ConditionFailed)));
    let failed_tx = recorder
        .transact(vec![WriteOp::Put { item: row, condition: Some(oms_core::ports::Condition::NotExists) }])
        .await;
    assert!(matches!(failed_tx, Err(StoreError::TransactionCanceled { .. })));
    assert_eq!(units(&recorder, Target::Table, "A"), 1 + 1 + 2);
    assert_eq!(units(&recorder, Target::Index(Index::Gsi1), "G"), 1);
}

#[tokio::test]
async fn when_a_run_is_shorter_than_a_second_should_scale_its_writes_to_a_second() {
    let (recorder, _) = recorder(HeatConfig::default());
    for n in 0..100 {
        recorder.put(item(json!({"PK": "A", "SK": n.to_string()})), None).await.unwrap();
    }
    let report = report_of(&recorder, 0.1);
    assert_eq!(report.rows[0].peak_wu_per_s.round(), 1000.0);
    assert_eq!(report.rows[0].mean_wu_per_s.round(), 1000.0);
}

#[tokio::test]
async fn when_a_key_is_an_items_stock_partition_should_be_marked_as_a_stock_row() {
    let (recorder, _) = recorder(HeatConfig::default());
    recorder.put(item(json!({"PK": "T#t#STOCK#SKU-1", "SK": "DC-1"})), None).await.unwrap();
    recorder.put(item(json!({"PK": "T#t#ORDER#O-1", "SK": "ORDER"})), None).await.unwrap();
    let report = report_of(&recorder, 1.0);
    let stock: Vec<&str> = report.rows.iter().filter(|r| r.stock_row).map(|r| r.partition_key.as_str()).collect();
    assert_eq!(stock, vec!["T#t#STOCK#SKU-1"]);
}

// ---- a short run of the workload ---------------------------------------------------------

#[tokio::test(flavor = "current_thread")]
async fn when_the_workload_runs_at_10000_changes_per_second_should_run_every_operation_and_heat_table_and_indexes() {
    let config = WorkloadConfig { rate: 10_000.0, seconds: 0.2, ..WorkloadConfig::default() };
    let outcome = workload::run(&config).await.expect("setup");
    assert_eq!(outcome.changes, 2000);
    for op in Operation::ALL {
        let stats = outcome.stats.ops.get(&op).cloned().unwrap_or_default();
        assert!(stats.ran > 0, "{} never ran: {stats:?}", op.name());
    }
    assert!(outcome.stats.serious.is_empty(), "serious errors: {:?}", outcome.stats.serious);
    assert!(outcome.stats.messages_consumed > 0, "the change tracker consumed nothing");

    let report = Report::from_outcome(&outcome);
    for (target, peak, _) in &report.totals {
        match target.name() {
            // GSI1 only keeps what earlier versions listed there (the outbox and allocation
            // listings moved to keys-only GSI3): nothing writes it now.
            "GSI1" => assert_eq!(*peak, 0.0, "writes on GSI1"),
            name => assert!(*peak > 0.0, "no writes on {name}"),
        }
    }
    assert!(report.of(Target::Table).any(|row| row.partition_key.contains("#OCT")), "no change-tracker writes");
    assert!(report.of(Target::Table).any(|row| row.stock_row), "no stock writes");
    assert!(
        report.of(Target::Index(Index::Gsi3)).any(|row| row.partition_key.starts_with("OUTBOX#")),
        "no outbox index writes"
    );
    let text = report.render(&outcome, 10, 1000.0);
    assert!(text.contains(STOCK_ROW_LABEL));
    assert!(text.contains("-- GSI2 --") && text.contains("-- GSI3 --"));
}

/// The goal of the key design: one tenant at 10,000 order changes a second keeps every partition
/// of the table and of each index under 1,000 write units a second, counting a transaction's
/// index writes twice (the cautious model), once the most popular items' stock is sharded.
#[tokio::test(flavor = "current_thread")]
async fn when_one_tenant_makes_10000_changes_per_second_no_partition_should_pass_1000_write_units_per_second() {
    let config = WorkloadConfig {
        rate: 10_000.0,
        seconds: 0.3,
        heat: HeatConfig { transactional_index_writes_double: true },
        hot_items: 8,
        hot_item_shards: 8,
        ..WorkloadConfig::default()
    };
    let outcome = workload::run(&config).await.expect("setup");
    assert!(outcome.stats.serious.is_empty(), "serious errors: {:?}", outcome.stats.serious);

    let report = Report::from_outcome(&outcome);

    let over: Vec<String> = report
        .over_limit(1000.0)
        .iter()
        .map(|row| format!("{} {} {:.0} WU/s", row.target.name(), row.partition_key, row.peak_wu_per_s))
        .collect();
    assert!(over.is_empty(), "partitions over the limit: {over:?}\n{}", report.render(&outcome, 5, 1000.0));
}
