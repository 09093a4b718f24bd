//! `auth-issuer`: parses the command line and runs the issuer or one of its operator tools.

use anyhow::Context;
use auth_issuer::config::DEFAULT_LISTEN;
use auth_issuer::{Args, BuildError, Settings};
use clap::{Parser, Subcommand};
use portcullis_http::probe;
use portcullis_jwt::SigningAlgorithm;
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
    serve: Args,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the token endpoint, JWKS and discovery (the default).
    Serve(Args),
    /// Hash a password or client secret read from standard input (never from arguments, which
    /// other users can see); prints the argon2id PHC string for the users file.
    HashPassword,
    /// Manage users in the identity store (`ISSUER_DATABASE_URL`); changes are in force on
    /// every replica at their next lookup.
    Users {
        #[command(flatten)]
        store: auth_issuer::admin_cli::StoreArgs,
        #[command(subcommand)]
        command: auth_issuer::admin_cli::UsersCommand,
    },
    /// Manage OAuth clients in the identity store.
    Clients {
        #[command(flatten)]
        store: auth_issuer::admin_cli::StoreArgs,
        #[command(subcommand)]
        command: auth_issuer::admin_cli::ClientsCommand,
    },
    /// Signing-key tools.
    Keys {
        #[command(subcommand)]
        command: KeysCommand,
    },
    /// Load the configuration, keys and users file, report problems, and exit.
    CheckConfig(Args),
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
    #[arg(long, env = "ISSUER_LISTEN", default_value = DEFAULT_LISTEN)]
    listen: SocketAddr,
    /// URL to probe instead of `/readyz` at the listen address.
    #[arg(long)]
    url: Option<String>,
    /// The certificate the issuer serves HTTPS with: when set, the probe speaks HTTPS to its
    /// own listener (without checking the certificate, which names the service and not
    /// loopback), so it follows `ISSUER_TLS_CERT` without being told twice.
    #[arg(long, env = "ISSUER_TLS_CERT")]
    tls_cert: Option<std::path::PathBuf>,
    /// How long to wait for the answer.
    #[arg(long, default_value = "2s", value_parser = humantime::parse_duration)]
    timeout: Duration,
}

#[derive(Subcommand)]
enum KeysCommand {
    /// Write a new private key (PKCS#8 PEM, mode 0600) and print its kid.
    Generate {
        /// Where to write the key. A PS256 key goes in a `*.ps256.pem` file: the file name is
        /// what pins an RSA key to PS256.
        #[arg(long)]
        out: PathBuf,
        /// The one algorithm the key will sign with: RS256 and PS256 (2048-bit RSA), ES256 (EC
        /// P-256) or EdDSA (Ed25519).
        #[arg(long, default_value_t = SigningAlgorithm::Rs256)]
        alg: SigningAlgorithm,
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
            println!("{}", portcullis_directory::hash_password(secret)?);
            Ok(())
        }
        Some(Command::Keys {
            command:
                KeysCommand::Generate {
                    out,
                    alg,
                    if_missing,
                },
        }) => {
            let file_name = out.file_name().and_then(|n| n.to_str()).unwrap_or_default();
            let ps256_file = file_name
                .to_ascii_lowercase()
                .ends_with(portcullis_jwt::PS256_FILE_SUFFIX);
            anyhow::ensure!(
                ps256_file == (alg == SigningAlgorithm::Ps256),
                "a PS256 key, and only a PS256 key, is written to a *{} file",
                portcullis_jwt::PS256_FILE_SUFFIX
            );
            if if_missing && out.symlink_metadata().is_ok() {
                let pem = std::fs::read_to_string(&out)
                    .with_context(|| format!("reading {}", out.display()))?;
                let kid = portcullis_jwt::SigningKey::from_file(file_name, &pem)
                    .with_context(|| format!("{} exists but is not a usable key", out.display()))?
                    .kid()
                    .to_string();
                eprintln!("{} exists; keeping it", out.display());
                println!("{kid}");
                return Ok(());
            }
            let pem = portcullis_jwt::generate_pem(alg)?;
            let kid = portcullis_jwt::SigningKey::from_file(file_name, &pem)?
                .kid()
                .to_string();
            write_private(&out, &pem).with_context(|| format!("writing {}", out.display()))?;
            println!("{kid}");
            Ok(())
        }
        Some(Command::Users { store, command }) => {
            runtime.block_on(auth_issuer::admin_cli::users(store, command))
        }
        Some(Command::Clients { store, command }) => {
            runtime.block_on(auth_issuer::admin_cli::clients(store, command))
        }
        Some(Command::CheckConfig(mut args)) => {
            args.listen.set_port(0);
            let settings = Settings::try_from(args).map_err(BuildError::from)?;
            let _telemetry = portcullis_telemetry::init("auth-issuer");
            runtime.block_on(auth_issuer::build(settings))?;
            println!("configuration ok");
            Ok(())
        }
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
fn serve(runtime: &tokio::runtime::Runtime, args: Args) -> anyhow::Result<()> {
    portcullis_telemetry::run_instrumented("auth-issuer", runtime, async {
        let settings = Settings::try_from(args).map_err(BuildError::from)?;
        let app = auth_issuer::build(settings).await?;
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
