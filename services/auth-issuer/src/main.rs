//! `auth-issuer`: parses the command line and runs the issuer or one of its operator tools.

use anyhow::Context;
use auth_issuer::Config;
use clap::{Parser, Subcommand};
use portcullis_http::probe;
use std::io::Read;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

/// glibc's malloc cost about 15% of the read path's CPU under load (bench/RESULTS.md).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// The Portcullis auth issuer.
#[derive(Parser)]
#[command(version, about, args_conflicts_with_subcommands = true)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    serve: Config,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the token endpoint, JWKS and discovery (the default).
    Serve(Config),
    /// Hash a password or client secret read from standard input (never from arguments, which
    /// other users can see); prints the argon2id PHC string for the users file.
    HashPassword,
    /// Signing-key tools.
    Keys {
        #[command(subcommand)]
        command: KeysCommand,
    },
    /// Load the configuration, keys and users file, report problems, and exit.
    CheckConfig(Config),
    /// Probe a running issuer's readiness and exit 0 (ready) or 1: the container health check,
    /// since the image has no shell or curl to probe with.
    Healthcheck(HealthcheckArgs),
    /// Print every setting (environment variable, flag, default, help) as JSON: the README's
    /// configuration tables are generated from it.
    #[command(hide = true)]
    ConfigSchema,
}

/// Settings of `auth-issuer healthcheck`.
#[derive(clap::Args)]
struct HealthcheckArgs {
    /// The issuer's listen address; the probe connects to its port (over loopback when the
    /// address is a wildcard), so it follows `ISSUER_LISTEN` without being told twice.
    #[arg(long, env = "ISSUER_LISTEN", default_value = "127.0.0.1:8080")]
    listen: SocketAddr,
    /// URL to probe instead of `/readyz` at the listen address.
    #[arg(long)]
    url: Option<String>,
    /// How long to wait for the answer.
    #[arg(long, default_value = "2s", value_parser = humantime::parse_duration)]
    timeout: Duration,
}

#[derive(Subcommand)]
enum KeysCommand {
    /// Write a new 2048-bit RSA key (PKCS#8 PEM, mode 0600) and print its kid.
    Generate {
        /// Where to write the key.
        #[arg(long)]
        out: PathBuf,
        /// If `--out` already exists, keep it and print its kid instead of failing: makes a
        /// first-start init step (docker compose) safe to run on every start.
        #[arg(long)]
        if_missing: bool,
    },
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let runtime = tokio::runtime::Runtime::new()?;
    match cli.command {
        None => serve(&runtime, cli.serve),
        Some(Command::Serve(config)) => serve(&runtime, config),
        Some(Command::HashPassword) => {
            let mut secret = String::new();
            std::io::stdin()
                .read_to_string(&mut secret)
                .context("reading the secret from standard input")?;
            let secret = secret.trim_end_matches(['\r', '\n']);
            anyhow::ensure!(!secret.is_empty(), "no secret on standard input");
            println!("{}", portcullis_store::hash_password(secret)?);
            Ok(())
        }
        Some(Command::Keys {
            command: KeysCommand::Generate { out, if_missing },
        }) => {
            if if_missing && out.symlink_metadata().is_ok() {
                let pem = std::fs::read_to_string(&out)
                    .with_context(|| format!("reading {}", out.display()))?;
                let kid = portcullis_jwt::SigningKey::from_pem(&pem)
                    .with_context(|| format!("{} exists but is not a usable key", out.display()))?
                    .kid()
                    .to_string();
                eprintln!("{} exists; keeping it", out.display());
                println!("{kid}");
                return Ok(());
            }
            let pem = portcullis_jwt::generate_rsa_pem()?;
            let kid = portcullis_jwt::SigningKey::from_pem(&pem)?
                .kid()
                .to_string();
            write_private(&out, &pem).with_context(|| format!("writing {}", out.display()))?;
            println!("{kid}");
            Ok(())
        }
        Some(Command::CheckConfig(mut config)) => {
            config.listen.set_port(0);
            let _telemetry = portcullis_telemetry::init("auth-issuer");
            runtime.block_on(auth_issuer::build(config))?;
            println!("configuration ok");
            Ok(())
        }
        Some(Command::Healthcheck(args)) => {
            let answer =
                runtime.block_on(probe::healthcheck(args.listen, args.url, args.timeout))?;
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
fn serve(runtime: &tokio::runtime::Runtime, config: Config) -> anyhow::Result<()> {
    portcullis_telemetry::run_instrumented("auth-issuer", runtime, async {
        let app = auth_issuer::build(config).await?;
        tracing::info!(addr = %app.local_addr(), "auth issuer listening");
        app.run().await?;
        anyhow::Ok(())
    })
}

fn write_private(path: &std::path::Path, contents: &str) -> std::io::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options.open(path)?.write_all(contents.as_bytes())
}
