//! The process's logs and traces: log lines to stderr (text for people, JSON for log
//! pipelines), each carrying the fields of the spans it is in (a photo's `photo_id` and
//! `trace_id`); and, when `OTEL_EXPORTER_OTLP_ENDPOINT` is set, the spans exported over
//! OTLP (HTTP/protobuf) to a collector (in AWS the ADOT collector beside the task, which sends
//! them to X-Ray). Without the variable no OpenTelemetry layer is installed: nothing is
//! exported and nothing is spent on it.
//!
//! Set up before the Tokio runtime starts and shut down after it ends: the exporter's batch
//! runs on a thread of its own with a blocking HTTP client, which may not be created or
//! dropped inside the runtime.

use opentelemetry::trace::TracerProvider as _;
use opentelemetry_otlp::SpanExporter;
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::trace::SdkTracerProvider;
use tracing_subscriber::EnvFilter;
use tracing_subscriber::Layer;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

/// Log format: `text` for people, `json` for log pipelines.
#[derive(Clone, Copy, clap::ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

/// What must be flushed when the process ends.
pub struct Telemetry {
    traces: Option<SdkTracerProvider>,
}

impl Telemetry {
    /// Installs the logs, and the trace export if `OTEL_EXPORTER_OTLP_ENDPOINT` is set, for
    /// the part called `part` (the service name unless `OTEL_SERVICE_NAME` names another).
    pub fn init(format: LogFormat, part: &str) -> anyhow::Result<Self> {
        let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
        let logs = tracing_subscriber::fmt::layer().with_writer(std::io::stderr);
        let logs = match format {
            LogFormat::Text => logs.boxed(),
            // The innermost span's fields only (a unit of work's span holds the photo's
            // `photo_id` and `trace_id`): the request span's dozen fields on every line would
            // multiply what is written.
            LogFormat::Json => logs.json().with_span_list(false).boxed(),
        };
        let traces = exporting().then(|| provider(part)).transpose()?;
        let export = traces
            .as_ref()
            .map(|provider| tracing_opentelemetry::layer().with_tracer(provider.tracer("catalog")));
        tracing_subscriber::registry()
            .with(filter)
            .with(logs)
            .with(export)
            .init();
        Ok(Self { traces })
    }

    /// Sends the spans not yet exported (outside the Tokio runtime).
    pub fn shutdown(self) {
        if let Some(provider) = self.traces
            && let Err(error) = provider.shutdown()
        {
            eprintln!("exporting the last traces failed: {error}");
        }
    }
}

/// Whether traces are to be exported (the standard variable names a collector).
fn exporting() -> bool {
    std::env::var_os("OTEL_EXPORTER_OTLP_ENDPOINT").is_some_and(|endpoint| !endpoint.is_empty())
}

fn provider(part: &str) -> anyhow::Result<SdkTracerProvider> {
    let exporter = SpanExporter::builder().with_http().build()?;
    let mut resource = Resource::builder();
    if std::env::var_os("OTEL_SERVICE_NAME").is_none() {
        resource = resource.with_service_name(format!("catalog-{part}"));
    }
    Ok(SdkTracerProvider::builder()
        .with_batch_exporter(exporter)
        .with_resource(resource.build())
        .build())
}
