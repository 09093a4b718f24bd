//! `auth-issuer`: parses the command line and runs the issuer or one of its operator tools.

use anyhow::Context;
use auth_issuer::Config;
use clap::{Parser, Subcommand};
use std::io::Read;
use std::path::PathBuf;

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
}

#[derive(Subcommand)]
enum KeysCommand {
    /// Write a new 2048-bit RSA key (PKCS#8 PEM, mode 0600) and print its kid.
    Generate {
        /// Where to write the key.
        #[arg(long)]
        out: PathBuf,
    },
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    portcullis_telemetry::init();
    let cli = Cli::parse();
    match cli.command {
        None => serve(cli.serve).await,
        Some(Command::Serve(config)) => serve(config).await,
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
            command: KeysCommand::Generate { out },
        }) => {
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
            auth_issuer::build(config).await?;
            println!("configuration ok");
            Ok(())
        }
    }
}

async fn serve(config: Config) -> anyhow::Result<()> {
    let app = auth_issuer::build(config).await?;
    tracing::info!(addr = %app.local_addr(), "auth issuer listening");
    app.run().await?;
    Ok(())
}

fn write_private(path: &std::path::Path, contents: &str) -> std::io::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options.open(path)?.write_all(contents.as_bytes())
}
