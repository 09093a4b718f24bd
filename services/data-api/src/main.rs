//! `data-api`: parses the configuration and runs the service.

use clap::Parser;

/// The Portcullis data API.
#[derive(Parser)]
#[command(version, about)]
struct Cli {
    #[command(flatten)]
    config: data_api::Config,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    portcullis_telemetry::init();
    let app = data_api::build(Cli::parse().config).await?;
    tracing::info!(addr = %app.local_addr(), "data api listening");
    app.run().await?;
    Ok(())
}
