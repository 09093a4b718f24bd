//! `portcullis`: the all-in-one launcher.

use clap::{Parser, Subcommand};

/// glibc's malloc cost about 15% of the read path's CPU under load (bench/RESULTS.md).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Portcullis: a secure API platform (auth issuer + data API).
#[derive(Parser)]
#[command(version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run both services in one process on embedded adapters (no Redis, no Docker).
    Dev(portcullis::DevConfig),
}

fn main() -> anyhow::Result<()> {
    let runtime = tokio::runtime::Runtime::new()?;
    portcullis_telemetry::run_instrumented("portcullis-dev", &runtime, dev())
}

async fn dev() -> anyhow::Result<()> {
    let Command::Dev(config) = Cli::parse().command;
    let state_dir = config.state_dir.clone();
    let dev = portcullis::start(config).await?;
    println!(
        "Portcullis dev is running.\n  auth issuer: {} (listening on {})\n  data api:    http://{}\n  users file:  {}\n  state:       {}\n\n{}",
        dev.issuer_url,
        dev.issuer.local_addr(),
        dev.data_api.local_addr(),
        dev.users_file.display(),
        std::fs::canonicalize(&state_dir).unwrap_or(state_dir).display(),
        dev.walkthrough
    );
    let issuer = tokio::spawn(dev.issuer.run());
    let data_api = tokio::spawn(dev.data_api.run());
    let (issuer, data_api) = tokio::try_join!(issuer, data_api)?;
    issuer?;
    data_api?;
    Ok(())
}
