//! The `switchboard` command line: run the daemon, migrate, manage agents, check the config.

use anyhow::Context;
use clap::{Parser, Subcommand};
use std::path::PathBuf;
use switchboard::app::Application;
use switchboard::config::{Config, LogFormat};
use switchboard::store::{Role, Storage, Store};
use tracing_subscriber::EnvFilter;

#[derive(Parser)]
#[command(version, about = "Self-hosted multi-channel customer-support daemon")]
struct Cli {
    /// TOML configuration file; without one the embedded defaults are used.
    #[arg(long, short, global = true, env = "SWITCHBOARD_CONFIG")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the daemon until SIGINT or SIGTERM.
    Run,
    /// Apply database migrations and exit.
    Migrate,
    /// Validate the configuration and exit (every problem is listed).
    CheckConfig,
    /// Ask a running daemon's `/healthz` (for container and service health checks): prints the
    /// report; exits 0 on 200 (ok or degraded), 1 on no answer or 503.
    Health {
        /// The health URL; by default `/healthz` on the configured `server.listen` address
        /// (loopback when it listens on all addresses).
        #[arg(long)]
        url: Option<String>,
        /// How long to wait for the answer.
        #[arg(long, default_value = "3s", value_parser = humantime::parse_duration)]
        timeout: std::time::Duration,
    },
    /// Copy everything from a SQLite database into a new, empty PostgreSQL database, ids kept
    /// (the move from one machine to several; see README, Scaling out). Stop the daemon first.
    CopyData {
        /// The SQLite database, e.g. sqlite://data/switchboard.db.
        #[arg(long)]
        from: String,
        /// The PostgreSQL database, e.g. postgres://switchboard@db/switchboard.
        #[arg(long)]
        to: String,
    },
    /// Manage agents and their API tokens.
    #[command(subcommand)]
    Agent(AgentCommand),
}

#[derive(Subcommand)]
enum AgentCommand {
    /// Create an agent; prints its API token alone on stdout.
    Add {
        #[arg(long)]
        name: String,
        #[arg(long)]
        email: String,
        #[arg(long, value_parser = ["admin", "agent"], default_value = "agent")]
        role: String,
    },
    /// List agents.
    List,
    /// Disable an agent and revoke its tokens (by id or email).
    Revoke { agent: String },
    /// Issue a new API token for an active agent (by id or email); prints it alone on stdout.
    Token {
        agent: String,
        /// Revoke the agent's other tokens (a lost or leaked one).
        #[arg(long)]
        revoke_others: bool,
    },
    /// Enable a revoked agent again (by id or email) with a new token, printed alone on stdout;
    /// its old tokens stay revoked.
    Restore { agent: String },
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    if let Command::Health { url, timeout } = &cli.command {
        return health(cli.config.as_deref(), url.clone(), *timeout);
    }
    let config = match Config::load(cli.config.as_deref()) {
        Ok(config) => config,
        Err(e) => {
            eprintln!("{e}");
            return std::process::ExitCode::from(2);
        }
    };
    init_tracing(&config);
    let runtime = tokio::runtime::Runtime::new().expect("tokio runtime");
    match runtime.block_on(execute(cli.command, config)) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

const SECRET_LOGGING_CRATES: [&str; 8] = [
    "lettre",
    "async_imap",
    "imap_proto",
    "teloxide",
    "serenity",
    "reqwest",
    "hyper",
    "tungstenite",
];

fn init_tracing(config: &Config) {
    let mut filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(&config.log.level));
    // These crates log the protocol bytes at debug/trace: SMTP AUTH, IMAP LOGIN, bot tokens.
    // Secrets never reach the logs, whatever level is asked for.
    for target in SECRET_LOGGING_CRATES {
        filter = filter.add_directive(format!("{target}=info").parse().expect("valid directive"));
    }
    // Logs go to stderr: stdout carries command output (a new token) only.
    // Colours only on a terminal: journald, docker logs and files get plain text.
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr);
    match config.log.format {
        LogFormat::Human => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}

async fn open_store(config: &Config) -> anyhow::Result<Store> {
    Storage::open(&config.storage.database_url, &config.storage.data_dir)
        .await
        .map(|storage| storage.store)
        .with_context(|| format!("opening {}", config.storage.database_url))
}

async fn execute(command: Command, config: Config) -> anyhow::Result<()> {
    match command {
        Command::Run => {
            let app = Application::build(config).await?;
            let shutdown = app.shutdown_token();
            tokio::spawn(async move {
                wait_for_signal().await;
                tracing::info!("signal received, shutting down");
                shutdown.cancel();
            });
            app.run_until_stopped().await
        }
        Command::Migrate => {
            open_store(&config).await?.close().await;
            eprintln!("database is up to date");
            Ok(())
        }
        Command::CheckConfig => {
            let channels: Vec<&str> = config.channels.iter().map(|c| c.name()).collect();
            eprintln!(
                "configuration is valid: {} channel(s) [{}], listening on {}, database {}",
                channels.len(),
                channels.join(", "),
                config.server.listen,
                config.storage.database_display()
            );
            Ok(())
        }
        Command::CopyData { from, to } => {
            let report = switchboard::store::copy_sqlite_to_postgres(&from, &to).await?;
            for (table, rows) in &report.tables {
                eprintln!("{table:<28} {rows:>10} rows");
            }
            if report.nul_replaced > 0 {
                eprintln!(
                    "{} text value(s) held NUL characters, which PostgreSQL cannot store: \
                     copied with U+FFFD in their place",
                    report.nul_replaced
                );
            }
            eprintln!(
                "copied and counted; attachments stay in the data directory ({}): give every \
                 daemon on the new database that same directory (shared storage)",
                config.storage.data_dir.display()
            );
            Ok(())
        }
        Command::Health { .. } => unreachable!("answered before the configuration is loaded"),
        Command::Agent(command) => {
            let store = open_store(&config).await?;
            match command {
                AgentCommand::Add { name, email, role } => {
                    let role = Role::parse(&role).unwrap_or(Role::Agent);
                    let (agent, token) = store.create_agent(&name, &email, role).await?;
                    eprintln!(
                        "created agent {} <{}> (id {})",
                        agent.name, agent.email, agent.id
                    );
                    // Without the daemon's --config this is another database than the daemon's,
                    // and the token gets 401: say which one it is.
                    eprintln!(
                        "database: {}; the token works with a daemon using this database",
                        config.storage.database_display()
                    );
                    println!("{token}");
                }
                AgentCommand::List => {
                    for a in store.list_agents().await? {
                        let state = if a.disabled { "disabled" } else { "active" };
                        println!(
                            "{}\t{}\t{}\t{}\t{}",
                            a.id,
                            a.name,
                            a.email,
                            a.role.as_str(),
                            state
                        );
                    }
                }
                AgentCommand::Revoke { agent } => {
                    let agent = store.revoke_agent(&agent).await?;
                    eprintln!("revoked agent {} <{}>", agent.name, agent.email);
                }
                AgentCommand::Token {
                    agent,
                    revoke_others,
                } => {
                    let (agent, token, revoked) = store.issue_token(&agent, revoke_others).await?;
                    eprintln!(
                        "new token for {} <{}>{}",
                        agent.name,
                        agent.email,
                        if revoke_others {
                            format!("; {revoked} other token(s) revoked")
                        } else {
                            "; its other tokens still work".into()
                        }
                    );
                    eprintln!("database: {}", config.storage.database_display());
                    println!("{token}");
                }
                AgentCommand::Restore { agent } => {
                    let (agent, token) = store.restore_agent(&agent).await?;
                    eprintln!(
                        "restored agent {} <{}> with a new token",
                        agent.name, agent.email
                    );
                    eprintln!("database: {}", config.storage.database_display());
                    println!("{token}");
                }
            }
            store.close().await;
            Ok(())
        }
    }
}

/// `switchboard health`: only `server.listen` is read from the configuration (monitoring runs it
/// without the channels' secrets), no logs, and every failure exits 1 (Docker reserves 2).
fn health(
    config: Option<&std::path::Path>,
    url: Option<String>,
    timeout: std::time::Duration,
) -> std::process::ExitCode {
    let url = match url {
        Some(url) => url,
        None => match Config::load_listen(config) {
            Ok(listen) => health_url(listen),
            Err(e) => {
                eprintln!("{e}");
                return std::process::ExitCode::FAILURE;
            }
        },
    };
    let checked = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(anyhow::Error::from)
        .and_then(|runtime| runtime.block_on(check_health(&url, timeout)));
    match checked {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

/// `/healthz` on the address the daemon listens on; a wildcard address is reached on loopback.
fn health_url(listen: std::net::SocketAddr) -> String {
    let ip = match listen.ip() {
        std::net::IpAddr::V4(ip) if ip.is_unspecified() => std::net::Ipv4Addr::LOCALHOST.into(),
        std::net::IpAddr::V6(ip) if ip.is_unspecified() => std::net::Ipv6Addr::LOCALHOST.into(),
        ip => ip,
    };
    format!(
        "http://{}/healthz",
        std::net::SocketAddr::new(ip, listen.port())
    )
}

async fn check_health(url: &str, timeout: std::time::Duration) -> anyhow::Result<()> {
    // A health check must not follow a redirect elsewhere or wait on a hung daemon.
    let client = reqwest::Client::builder()
        .timeout(timeout)
        .redirect(reqwest::redirect::Policy::none())
        // Loopback is never reached through a proxy from HTTP_PROXY (Docker sets it).
        .no_proxy()
        .build()?;
    let mut response = client
        .get(url)
        .send()
        .await
        .with_context(|| format!("no answer from {url}"))?;
    let status = response.status();
    // The report is small: read at most 64 KiB of whatever answered.
    let mut body = Vec::new();
    while let Ok(Some(chunk)) = response.chunk().await {
        body.extend_from_slice(&chunk[..chunk.len().min(64 * 1024 - body.len())]);
        if body.len() >= 64 * 1024 {
            break;
        }
    }
    println!("{}", String::from_utf8_lossy(&body).trim_end());
    anyhow::ensure!(status.is_success(), "{url} answered {status}");
    Ok(())
}

async fn wait_for_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .expect("installing the SIGTERM handler");
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}
