//! Logs: JSON lines in Lambda, readable text locally. `RUST_LOG` filters (default info).

use tracing::Subscriber;
use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::MakeWriter;

use crate::config::LogFormat;

/// The subscriber for `format`, writing to `writer` (stdout in `init`; a buffer in tests).
pub fn subscriber<W>(format: LogFormat, writer: W) -> Box<dyn Subscriber + Send + Sync>
where
    W: for<'a> MakeWriter<'a> + Send + Sync + 'static,
{
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(writer);
    match format {
        // Lambda adds its own timestamp; the span list carries the request id of each line.
        LogFormat::Json => {
            Box::new(builder.json().with_current_span(true).with_span_list(true).without_time().finish())
        }
        LogFormat::Text => Box::new(builder.compact().finish()),
    }
}

/// Installs the global subscriber once; later calls are ignored (tests call it freely).
pub fn init(format: LogFormat) {
    let _ = tracing::subscriber::set_global_default(subscriber(format, std::io::stdout));
}
