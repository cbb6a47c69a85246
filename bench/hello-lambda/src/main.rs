//! Hello-world Lambda: answers every event with the event itself. Built with the same profile and
//! tokio features as the functions, so the Lambda init benchmark can compare them with it.

use lambda_runtime::{Error, LambdaEvent, service_fn};

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_runtime::run(service_fn(
        |event: LambdaEvent<serde_json::Value>| async move { Ok::<_, Error>(event.payload) },
    ))
    .await
}
