//! Lambda `change-tracker-consumer`: wiring only; the behaviour lives in oms-core.

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    oms_core::runtime::run_function("change-tracker-consumer").await
}
