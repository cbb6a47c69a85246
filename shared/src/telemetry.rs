//! Logs: JSON lines in Lambda, readable text locally. `RUST_LOG` filters (default info).

use tracing_subscriber::EnvFilter;

use crate::config::LogFormat;

/// Installs the global subscriber once; later calls are ignored (tests call it freely).
pub fn init(format: LogFormat) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter);
    let _ = match format {
        // Lambda adds its own timestamp; the span list carries the request id of each line.
        LogFormat::Json => builder.json().with_current_span(true).with_span_list(true).without_time().try_init(),
        LogFormat::Text => builder.compact().try_init(),
    };
}
