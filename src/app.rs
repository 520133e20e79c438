//! Wires the daemon together: store, ingestor, channels, dispatcher and HTTP server, with a
//! graceful stop (stop intake, finish in-flight sends, checkpoint the database).

use crate::api::{self, AppState, AuthLimiter};
use crate::channels::{self, Channels};
use crate::config::Config;
use crate::delivery::Dispatcher;
use crate::store::{EventBus, Ingestor, Storage, Store};
use anyhow::Context;
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

pub struct Application {
    listener: TcpListener,
    state: AppState,
    front_desk: crate::automation::FrontDesk,
    server: crate::config::ServerConfig,
    shutdown: CancellationToken,
    revocation_tx: tokio::sync::watch::Sender<(i64, i64, i64)>,
    /// Keeps a second daemon off the same SQLite file until this one has stopped.
    _lock: Option<crate::store::DaemonLock>,
}

impl Application {
    /// Opens the store, builds the channels and binds the listener; nothing runs until
    /// `run_until_stopped`.
    pub async fn build(config: Config) -> anyhow::Result<Self> {
        // Before the store opens: the second daemon must not even migrate.
        let lock = crate::store::lock_database(&config.storage.database_url)?;
        let storage = Storage::open(&config.storage.database_url, &config.storage.data_dir)
            .await
            .with_context(|| format!("opening {}", config.storage.database_url))?;
        let secret = instance_secret(&config.storage.data_dir)
            .with_context(|| format!("instance key in {}", config.storage.data_dir.display()))?;
        let channels = Channels::build(&config.channels, secret.as_bytes())?;
        let listener = TcpListener::bind(config.server.listen)
            .await
            .with_context(|| format!("binding server.listen = {}", config.server.listen))?;
        let shutdown = CancellationToken::new();
        let (revocation_tx, revocations) =
            tokio::sync::watch::channel(storage.store.revocation_mark().await.unwrap_or_default());
        let dispatcher = Dispatcher::new(&storage, channels.all.clone(), config.outbox.clone());
        let texts = Arc::new(crate::safety::Texts::new(
            &config.safety,
            &config.verification,
        ));
        let guard = crate::store::Guard {
            texts: texts.clone(),
            expiry: config.outbox.expiry,
        };
        let live = api::Live::start(storage.bus.clone());
        let ingestor = Ingestor::new(&storage, guard);
        let knowledge = match &config.knowledge.dir {
            Some(dir) => Some(
                crate::automation::knowledge::Knowledge::open(dir)
                    .await
                    .with_context(|| format!("knowledge.dir = {}", dir.display()))?,
            ),
            None => None,
        };
        let teams: Vec<crate::store::TeamSpec> = config
            .teams
            .iter()
            .map(|t| crate::store::TeamSpec {
                name: t.name.clone(),
                languages: t.languages.clone(),
                members: t.members.clone(),
                auto_assign: t.auto_assign,
            })
            .collect();
        for problem in storage.store.sync_teams(&teams).await? {
            tracing::warn!("{problem}; create the agent, then restart");
        }
        let front_desk = crate::automation::FrontDesk::new(
            config.front_desk.clone(),
            texts.clone(),
            storage.store.clone(),
            dispatcher.clone(),
            ingestor.stored(),
            config.outbox.expiry,
            knowledge.clone(),
            crate::automation::Queue {
                rules: config.rules.clone(),
                assignment: config.assignment.clone(),
                teams: teams.clone(),
                follow_up: config.follow_up.policy(),
                spike: config.spike.clone(),
            },
        )?;
        if config.csat.enabled {
            storage
                .store
                .set_surveys(front_desk.survey_settings(&config.csat));
        }
        let hours = config
            .front_desk
            .hours
            .as_ref()
            .map(crate::automation::hours::BusinessHours::parse)
            .transpose()
            .map_err(|e| anyhow::anyhow!("front_desk.hours: {e}"))?;
        let policies = crate::automation::routing::Policies::new(config.sla.clone(), hours);
        if !policies.is_empty() {
            storage.store.set_sla_clock(Arc::new(policies));
        }
        let state = AppState {
            knowledge,
            ingestor,
            store: storage.store,
            bus: storage.bus,
            metrics: storage.metrics,
            files: storage.files,
            channels,
            dispatcher,
            expiry: config.outbox.expiry,
            texts,
            verification_channel: config.verification.email_channel.clone(),
            auth: Arc::new(AuthLimiter::default()),
            streams: Arc::new(api::StreamSlots::new(
                config.server.max_event_streams,
                config.server.max_event_streams_per_agent,
            )),
            revocations,
            live,
            health: Arc::default(),
            shutdown: shutdown.clone(),
        };
        Ok(Self {
            listener,
            state,
            front_desk,
            server: config.server.clone(),
            shutdown,
            revocation_tx,
            _lock: lock,
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .expect("a bound listener has an address")
    }

    /// Cancel this to stop the daemon gracefully.
    pub fn shutdown_token(&self) -> CancellationToken {
        self.shutdown.clone()
    }

    pub fn store(&self) -> &Store {
        &self.state.store
    }

    pub fn bus(&self) -> &EventBus {
        &self.state.bus
    }

    pub fn dispatcher(&self) -> &Dispatcher {
        &self.state.dispatcher
    }

    pub async fn run_until_stopped(self) -> anyhow::Result<()> {
        let Self {
            listener,
            mut state,
            front_desk,
            server,
            shutdown,
            revocation_tx,
            // Bound (not `_`) so it is released only when the daemon has fully stopped.
            _lock: _held,
        } = self;
        let tasks = TaskTracker::new();
        state.health = channels::supervise(
            &state.channels,
            &state.ingestor,
            &state.dispatcher,
            &shutdown,
            &tasks,
        );
        tasks.spawn(state.dispatcher.clone().run(shutdown.clone()));
        tasks.spawn(front_desk.run(shutdown.clone()));
        if let Some(knowledge) = state.knowledge.clone() {
            tasks.spawn(knowledge.watch(shutdown.clone()));
        }
        tasks.spawn(state.store.clone().run_search_indexer(shutdown.clone()));
        tasks.spawn(watch_revocations(
            state.store.clone(),
            revocation_tx,
            shutdown.clone(),
        ));
        let store = state.store.clone();
        tracing::info!(
            listen = %listener.local_addr()?,
            channels = state.channels.all.len(),
            "switchboard is running"
        );
        let router = api::router(state, server.max_body_bytes, server.request_timeout);
        crate::server::serve(
            listener,
            router,
            crate::server::Limits {
                max_connections: server.max_connections,
                header_timeout: server.header_timeout,
                trusted_proxies: server.trusted_proxies.clone().into(),
            },
            shutdown.clone(),
        )
        .await;
        tracing::info!("stopping: finishing in-flight deliveries");
        tasks.close();
        tasks.wait().await;
        if let Err(e) = store.checkpoint().await {
            tracing::warn!(error = %e, "WAL checkpoint at shutdown failed");
        }
        store.close().await;
        tracing::info!("stopped");
        Ok(())
    }
}

/// Revocations come from the CLI, another process: poll for them each second so open event
/// streams of a revoked token end within that.
async fn watch_revocations(
    store: Store,
    marks: tokio::sync::watch::Sender<(i64, i64, i64)>,
    shutdown: CancellationToken,
) {
    let mut tick = tokio::time::interval(std::time::Duration::from_secs(1));
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tick.tick() => {}
        }
        if let Ok(mark) = store.revocation_mark().await {
            marks.send_if_modified(|current| {
                let changed = *current != mark;
                *current = mark;
                changed
            });
        }
    }
}

/// This installation's own random key (`<data_dir>/instance.key`, created on first start, owner
/// read-only): signs ids that must verify after a restart. Back it up with the data directory.
pub fn instance_secret(data_dir: &std::path::Path) -> std::io::Result<String> {
    let path = data_dir.join("instance.key");
    match std::fs::read_to_string(&path) {
        Ok(key) if key.trim().len() >= 32 => return Ok(key.trim().to_owned()),
        Ok(_) => {
            return Err(std::io::Error::other(format!(
                "{} is shorter than 32 characters",
                path.display()
            )));
        }
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e),
        Err(_) => {}
    }
    crate::store::private_dir(data_dir)?;
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(|e| std::io::Error::other(e.to_string()))?;
    let key = hex::encode(bytes);
    let mut file = tempfile::NamedTempFile::new_in(data_dir)?;
    std::io::Write::write_all(&mut file, key.as_bytes())?;
    file.as_file().sync_all()?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        file.as_file()
            .set_permissions(std::fs::Permissions::from_mode(0o600))?;
    }
    // persist_noclobber: two starts racing keep whichever key landed first.
    match file.persist_noclobber(&path) {
        Ok(_) => Ok(key),
        Err(e) if e.error.kind() == std::io::ErrorKind::AlreadyExists => {
            Ok(std::fs::read_to_string(&path)?.trim().to_owned())
        }
        Err(e) => Err(e.error),
    }
}
