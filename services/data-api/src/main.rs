//! `data-api`: parses the command line and runs the service or its health check.

use clap::{Parser, Subcommand};
use portcullis_http::probe;
use std::net::SocketAddr;
use std::time::Duration;

/// glibc's malloc cost about 15% of the read path's CPU under load (bench/RESULTS.md).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// The Portcullis data API.
#[derive(Parser)]
#[command(version, about, args_conflicts_with_subcommands = true)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    serve: data_api::Args,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the items API (the default).
    Serve(Box<data_api::Args>),
    /// Probe a running data API's readiness and exit 0 (ready) or 1: the container health
    /// check, since the image has no shell or curl to probe with.
    Healthcheck(HealthcheckArgs),
    /// Print every setting (environment variable, flag, default, help) as JSON: the README's
    /// configuration tables are generated from it.
    #[command(hide = true)]
    ConfigSchema,
}

/// Settings of `data-api healthcheck`.
#[derive(clap::Args)]
struct HealthcheckArgs {
    /// The data API's listen address; the probe connects to its port (over loopback when the
    /// address is a wildcard), so it follows `DATA_API_LISTEN` without being told twice.
    #[arg(long, env = "DATA_API_LISTEN", default_value = data_api::config::DEFAULT_LISTEN)]
    listen: SocketAddr,
    /// URL to probe instead of `/readyz` at the listen address.
    #[arg(long)]
    url: Option<String>,
    /// The certificate the data API serves HTTPS with: when set, the probe speaks HTTPS to its
    /// own listener (without checking the certificate, which names the service and not
    /// loopback), so it follows `DATA_API_TLS_CERT` without being told twice.
    #[arg(long, env = "DATA_API_TLS_CERT")]
    tls_cert: Option<std::path::PathBuf>,
    /// How long to wait for the answer.
    #[arg(long, default_value = "2s", value_parser = humantime::parse_duration)]
    timeout: Duration,
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let runtime = tokio::runtime::Runtime::new()?;
    match cli.command {
        None => serve(&runtime, cli.serve),
        Some(Command::Serve(config)) => serve(&runtime, *config),
        Some(Command::Healthcheck(args)) => {
            let tls = args.tls_cert.is_some();
            let answer =
                runtime.block_on(probe::healthcheck(args.listen, args.url, tls, args.timeout))?;
            println!("{answer}");
            Ok(())
        }
        Some(Command::ConfigSchema) => {
            let command = <Cli as clap::CommandFactory>::command();
            let serve = command.find_subcommand("serve").unwrap_or(&command);
            println!("{}", portcullis_http::config_schema::json(serve));
            Ok(())
        }
    }
}

/// Serves until SIGTERM; traces still buffered are sent before the process exits.
fn serve(runtime: &tokio::runtime::Runtime, args: data_api::Args) -> anyhow::Result<()> {
    portcullis_telemetry::run_instrumented("data-api", runtime, async {
        let settings = data_api::Settings::try_from(args).map_err(data_api::BuildError::from)?;
        let app = data_api::build(settings).await?;
        tracing::info!(addr = %app.local_addr(), "data api listening");
        app.run().await?;
        anyhow::Ok(())
    })
}
