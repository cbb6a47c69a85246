//! Lambda `milestone-scheduler`: wiring only; the behaviour lives in oms-core.

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    oms_core::runtime::run_function("milestone-scheduler").await
}
