use std::{net::SocketAddr, sync::Arc};

use anyhow::Context as _;
use axum::{
    Router,
    extract::State,
    http::{StatusCode, header},
    response::{IntoResponse, Response},
    routing::get,
};
use clap::Args;
use policer::{metrics::PolicerCollector, pins};
use prometheus_client::{encoding::prometheus_text, registry::Registry};

#[derive(Args, Debug)]
pub struct ExportArgs {
    /// Address and port to serve /metrics on (e.g. 127.0.0.1:9977, or [::]:9977 for every
    /// address).
    #[arg(long, value_name = "ADDR:PORT", required_unless_present = "once")]
    listen: Option<SocketAddr>,
    /// Print the metrics once, in the Prometheus text format, and exit.
    #[arg(long, conflicts_with = "listen")]
    once: bool,
}

pub async fn run(args: ExportArgs) -> anyhow::Result<()> {
    pins::require_root("policer export")?;
    pins::require_bpffs()?;
    let mut registry = Registry::default();
    registry.register_collector(Box::new(PolicerCollector));
    let registry = Arc::new(registry);
    let Some(listen) = args.listen else {
        print!("{}", encode(registry).await?);
        return Ok(());
    };
    let app = Router::new()
        .route("/metrics", get(metrics))
        .route("/", get(|| async { "policer exporter: the metrics are at /metrics\n" }))
        .with_state(registry);
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .with_context(|| format!("listening on {listen}"))?;
    eprintln!("policer export: serving http://{}/metrics", listener.local_addr()?);
    axum::serve(listener, app)
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await
        .context("serving /metrics")
}

/// Reads every policer (blocking system calls: off the async thread) and encodes.
async fn encode(registry: Arc<Registry>) -> anyhow::Result<String> {
    tokio::task::spawn_blocking(move || {
        let mut text = String::new();
        prometheus_text::encode(&mut text, &registry).map(|()| text)
    })
    .await
    .context("reading the policers")?
    .context("encoding the metrics")
}

async fn metrics(State(registry): State<Arc<Registry>>) -> Response {
    match encode(registry).await {
        Ok(text) => ([(header::CONTENT_TYPE, prometheus_text::CONTENT_TYPE)], text).into_response(),
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, format!("{e:#}\n")).into_response(),
    }
}
