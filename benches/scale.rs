//! The inbox at scale: BENCH_MESSAGES messages (1,000,000) in BENCH_CONVERSATIONS conversations
//! (100,000) written through the ingest path and indexed for search, then the daemon binary on
//! that database: p50/p99 of listing conversations, of searches and of reports over HTTP, and
//! its memory. For the reports an agent answered every conversation, half are resolved (a
//! tenth of those late for their SLA) with a survey each, a quarter of them rated.
//!
//! `cargo bench --bench scale` (about ten minutes on two cores; `BENCH_CASES=reports` for the
//! reports alone); without `--bench` (as in
//! `cargo test --all-targets`) a small smoke run. `BENCH_DATABASE_URL=postgres://...` (an empty
//! database) measures PostgreSQL.

#[path = "common/mod.rs"]
#[allow(dead_code)]
mod common;

use common::{env, percentiles};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use switchboard::store::Storage;
use switchboard_core::{Inbound, Sender};

/// What customers of a wallet write, in their languages; `{n}` varies per message.
const TEMPLATES: [&str; 10] = [
    "Hi, my deposit of {n}.5 BTC has not arrived yet, tx 0x{h}",
    "I forgot my password and cannot log in to my wallet",
    "The transfer to 0x{a} failed with error {n}",
    "我的充值还没有到账，交易哈希 0x{h}",
    "Я не могу вывести {n} USDT, помогите пожалуйста",
    "Meine Auszahlung von {n} ETH hängt seit Tagen",
    "Is my account secure? Someone wrote to me asking for my recovery phrase",
    "Thanks, it works now!",
    "提现失败了，请帮我看看，订单号 {n}",
    "지갑 주소를 바꾸고 싶어요 {n}",
];

/// 64 hex digits that differ for every `n` (a transaction hash).
fn hash(n: usize) -> String {
    (1..=4u64)
        .map(|k| {
            format!(
                "{:016x}",
                (n as u64 + k)
                    .wrapping_mul(0x9E37_79B9_7F4A_7C15)
                    .rotate_left(k as u32 * 13)
            )
        })
        .collect()
}

fn text(n: usize) -> String {
    let template = TEMPLATES[(n * 7919) % TEMPLATES.len()];
    let h = hash(n);
    template
        .replace("{n}", &n.to_string())
        .replace("{h}", &h)
        .replace("{a}", &h[..40])
}

fn main() {
    let full = common::full_run();
    let messages = env("BENCH_MESSAGES", if full { 1_000_000 } else { 2_000 });
    let conversations = env("BENCH_CONVERSATIONS", if full { 100_000 } else { 200 }).max(1);
    let rounds = if full { 200 } else { 5 };
    common::runtime().block_on(async move {
        let dir = tempfile::TempDir::new().unwrap();
        let db = dir.path().join("scale.db");
        // BENCH_DATABASE_URL=postgres://... runs it on an empty PostgreSQL database instead.
        let url = std::env::var("BENCH_DATABASE_URL")
            .unwrap_or_else(|_| format!("sqlite://{}", db.display()));
        let data = dir.path().join("data");

        // 1. The store, filled the way the daemon fills it.
        let storage = Storage::open(&url, &data).await.unwrap();
        let (store, ingestor) = (storage.store.clone(), storage.ingestor());
        let producers = 16;
        let started = Instant::now();
        let mut tasks = Vec::new();
        for p in 0..producers {
            let ingestor = ingestor.clone();
            tasks.push(tokio::spawn(async move {
                let mut n = p;
                while n < messages {
                    let mut batch = Vec::with_capacity(100);
                    while batch.len() < 100 && n < messages {
                        let thread = n % conversations;
                        batch.push(Inbound::text(
                            format!("thread-{thread}"),
                            format!("msg-{n}"),
                            Sender::new(format!("user-{thread}"), format!("Customer {thread}")),
                            text(n),
                        ));
                        n += producers;
                    }
                    ingestor.ingest("scale", batch, None).await.unwrap();
                }
            }));
        }
        for t in tasks {
            t.await.unwrap();
        }
        let ingest = started.elapsed();
        let (agent, token) = store
            .create_agent("Bench", "b@example.com", switchboard::store::Role::Admin)
            .await
            .unwrap();
        let started = Instant::now();
        queue_history(&url, agent.id).await;
        let history = started.elapsed();
        let started = Instant::now();
        while store.index_for_search(20_000).await.unwrap() > 0 {}
        let indexed = started.elapsed();
        drop(ingestor);
        tokio::time::sleep(Duration::from_millis(50)).await;
        store.close().await;
        let size = |p: &std::path::Path| std::fs::metadata(p).map(|m| m.len()).unwrap_or(0);
        let database = if url.starts_with("sqlite:") {
            format!("database {} MB", size(&db) / 1_000_000)
        } else {
            "database on PostgreSQL".to_owned()
        };
        println!(
            "scale: {messages} messages in {conversations} conversations: ingest {ingest:.1?} \
             ({:.0} msg/s), agent replies, resolutions and surveys {history:.1?}, search index \
             {indexed:.1?}; {database}",
            messages as f64 / ingest.as_secs_f64(),
        );

        // 2. The daemon binary on it, as an operator runs it.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let config = dir.path().join("switchboard.toml");
        std::fs::write(
            &config,
            format!(
                "[server]\nlisten = \"127.0.0.1:{port}\"\n[storage]\ndatabase_url = \"{url}\"\n\
                 data_dir = \"{}\"\n",
                data.display()
            ),
        )
        .unwrap();
        // The config file alone decides: the image's SWITCHBOARD_* variables would override it.
        let switchboard = || {
            let mut command = Command::new(env!("CARGO_BIN_EXE_switchboard"));
            for var in [
                "SWITCHBOARD_LISTEN",
                "SWITCHBOARD_DATABASE_URL",
                "SWITCHBOARD_DATA_DIR",
                "SWITCHBOARD_TRUSTED_PROXIES",
            ] {
                command.env_remove(var);
            }
            command
        };
        let mut daemon = Daemon(
            switchboard()
                .args(["run", "--config"])
                .arg(&config)
                .env("RUST_LOG", "warn")
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap(),
        );
        let base = format!("http://127.0.0.1:{port}");
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()
            .unwrap();
        let get = |path: String| {
            let request = client
                .get(format!("{base}{path}"))
                .bearer_auth(&token)
                .send();
            async move {
                let response = request.await.ok()?;
                response
                    .status()
                    .is_success()
                    .then_some(response)?
                    .json::<serde_json::Value>()
                    .await
                    .ok()
            }
        };
        let up = Instant::now();
        while get("/api/v1/conversations?limit=1".into()).await.is_none() {
            assert!(
                up.elapsed() < Duration::from_secs(60),
                "the daemon did not start"
            );
            assert!(daemon.0.try_wait().unwrap().is_none(), "the daemon exited");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let second_page = {
            let first = get("/api/v1/conversations?limit=50".into()).await.unwrap();
            let cursor = first["next_cursor"].as_str().unwrap_or_default().to_owned();
            format!("/api/v1/conversations?limit=50&cursor={cursor}")
        };
        // A message with a hash: the template is chosen by n * 7919 mod 10.
        let with_hash = (0..messages.max(1))
            .find(|n| n * 7919 % TEMPLATES.len() == 0 && *n > messages / 2)
            .unwrap_or(0);
        let rare = hash(with_hash);
        let now = chrono::Utc::now();
        let range = format!(
            "from={}&to={}",
            (now - chrono::Duration::days(30)).format("%Y-%m-%dT%H:%M:%SZ"),
            (now + chrono::Duration::days(1)).format("%Y-%m-%dT%H:%M:%SZ"),
        );
        let cases: Vec<(&str, String)> = vec![
            ("list, first page", "/api/v1/conversations?limit=50".into()),
            ("list, second page", second_page),
            (
                "list, status=open",
                "/api/v1/conversations?limit=50&status=open".into(),
            ),
            (
                "list, unassigned",
                "/api/v1/conversations?limit=50&assignee=none".into(),
            ),
            (
                "search: common word",
                "/api/v1/conversations?limit=50&q=deposit".into(),
            ),
            (
                "search: phrase",
                "/api/v1/conversations?limit=50&q=recovery%20phrase".into(),
            ),
            (
                "search: Chinese 4 chars",
                format!("/api/v1/conversations?limit=50&q={}", "交易哈希"),
            ),
            (
                "search: Chinese 2 chars",
                format!("/api/v1/conversations?limit=50&q={}", "提现"),
            ),
            (
                "search: Cyrillic, other case",
                format!("/api/v1/conversations?limit=50&q={}", "ПОМОГИТЕ"),
            ),
            (
                "search: a rare hash",
                format!("/api/v1/conversations?limit=50&q={}", &rare[20..40]),
            ),
            (
                "search: a contact's name",
                "/api/v1/conversations?limit=50&q=Customer%2042421".into(),
            ),
            (
                "search: no match",
                "/api/v1/conversations?limit=50&q=zzzqqqxxx".into(),
            ),
            (
                "reports: summary, 31 days",
                format!("/api/v1/reports/summary?{range}"),
            ),
            (
                "reports: summary, one channel",
                format!("/api/v1/reports/summary?{range}&channel=scale"),
            ),
            (
                "reports: agents, 31 days",
                format!("/api/v1/reports/agents?{range}"),
            ),
        ];
        // BENCH_CASES=reports measures only the cases whose name holds it.
        let only = std::env::var("BENCH_CASES").unwrap_or_default();
        for (name, path) in cases.iter().filter(|(n, _)| n.contains(only.as_str())) {
            let mut times = Vec::with_capacity(rounds);
            let mut found = 0;
            for _ in 0..rounds {
                let t = Instant::now();
                let page = get(path.clone()).await.expect(name);
                times.push(t.elapsed());
                found = page["conversations"]
                    .as_array()
                    .map(Vec::len)
                    .or(page["totals"]["new"].as_u64().map(|n| n as usize))
                    .or(page["agents"][0]["replies"].as_u64().map(|n| n as usize))
                    .unwrap_or(0);
            }
            println!(
                "scale: {name:<30} {} ({found} on the page)",
                percentiles(times)
            );
        }
        let status =
            std::fs::read_to_string(format!("/proc/{}/status", daemon.0.id())).unwrap_or_default();
        let field = |key: &str| {
            status
                .lines()
                .find(|l| l.starts_with(key))
                .map(|l| l[key.len()..].trim().to_owned())
                .unwrap_or_default()
        };
        println!(
            "scale: daemon memory after the queries (it ingested nothing): RSS {}, peak {}",
            field("VmRSS:"),
            field("VmHWM:")
        );
        drop(daemon);
    });
}

/// What agents did, written straight into the database (ingest has no agent side): a reply by
/// `agent` in every conversation within two hours, half of them resolved within a day (their
/// timeline says so), one in ten of those past its first-response target, one survey per
/// resolution and a rating on a quarter of them; conversations in thirds of two categories and
/// none.
async fn queue_history(url: &str, agent: i64) {
    let statements = [
        format!(
            "UPDATE conversations SET first_replied_at = created_at + (id % 7200) * 1000,
                 assignee_id = CASE WHEN id % 10 = 0 THEN NULL ELSE {agent} END,
                 sla_first_response_due = created_at + 3600000,
                 sla_breaches = CASE WHEN id % 20 = 0 THEN '[\"first_response\"]' ELSE '[]' END,
                 intake = CASE WHEN id % 3 = 0 THEN '{{\"category\":\"deposit\"}}'
                     WHEN id % 3 = 1 THEN '{{\"category\":\"scam\"}}' ELSE NULL END,
                 status = CASE WHEN id % 2 = 0 THEN 'resolved' ELSE status END,
                 status_since = CASE WHEN id % 2 = 0 THEN created_at + (id % 86400) * 1000
                     ELSE status_since END"
        ),
        format!(
            "INSERT INTO messages (conversation_id, channel, direction, sender_agent_id,
                 sender_name, text, delivery_status, created_at, auto_generated)
             SELECT id, channel, 'outbound', {agent}, 'Bench', 'We are on it.', 'sent',
                 first_replied_at, false FROM conversations"
        ),
        format!(
            "INSERT INTO conversation_activity (conversation_id, agent_id, actor, field,
                 old_value, new_value, created_at)
             SELECT id, {agent}, 'agent', 'status', 'open', 'resolved', status_since
             FROM conversations WHERE status = 'resolved'"
        ),
        "INSERT INTO surveys (conversation_id, contact_id, channel, asked_at, score, rated_at)
         SELECT id, contact_id, channel, status_since,
             CASE WHEN id % 8 = 0 THEN (id % 5) + 1 ELSE NULL END,
             CASE WHEN id % 8 = 0 THEN status_since ELSE NULL END
         FROM conversations WHERE status = 'resolved'"
            .to_owned(),
    ];
    if url.starts_with("sqlite:") {
        let pool = sqlx::SqlitePool::connect(url).await.unwrap();
        for s in &statements {
            sqlx::raw_sql(sqlx::AssertSqlSafe(s.clone()))
                .execute(&pool)
                .await
                .unwrap();
        }
        pool.close().await;
    } else {
        let pool = sqlx::PgPool::connect(url).await.unwrap();
        for s in &statements {
            sqlx::raw_sql(sqlx::AssertSqlSafe(s.clone()))
                .execute(&pool)
                .await
                .unwrap();
        }
        pool.close().await;
    }
}

/// The daemon process, killed however the bench ends: a panic must not leave it running (its
/// inherited output would keep a test runner's pipe open).
struct Daemon(std::process::Child);

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}
