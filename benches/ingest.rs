//! Ingest throughput and latency: N normalized messages from many concurrent producers across
//! many conversations, into a durable (WAL, synchronous=FULL) SQLite store on disk.
//!
//! `cargo bench --bench ingest` (env: BENCH_MESSAGES, BENCH_PRODUCERS, BENCH_CONVERSATIONS,
//! BENCH_BATCH) prints messages/second and p50/p99 latency of one `ingest` call. The search
//! indexer runs beside it as in the daemon (`BENCH_INDEXER=0` leaves it out); how long it needs
//! after the last message to have indexed everything is printed too. `BENCH_DATABASE_URL` runs
//! it on another database instead, e.g. an empty PostgreSQL one (`postgres://...`).

#[path = "common/mod.rs"]
#[allow(dead_code)]
mod common;

use common::env;
use std::time::{Duration, Instant};
use switchboard::store::Storage;
use switchboard_core::{Inbound, Sender};

fn main() {
    let full = common::full_run();
    let messages = env("BENCH_MESSAGES", if full { 200_000 } else { 2_000 });
    let producers = env("BENCH_PRODUCERS", 256);
    let conversations = env("BENCH_CONVERSATIONS", 20_000);
    let batch = env("BENCH_BATCH", 1).max(1);
    common::runtime().block_on(async {
        let dir = tempfile::TempDir::new().unwrap();
        let url = std::env::var("BENCH_DATABASE_URL")
            .unwrap_or_else(|_| format!("sqlite://{}", dir.path().join("bench.db").display()));
        let storage = Storage::open(&url, &dir.path().join("data")).await.unwrap();
        let (store, ingestor) = (storage.store.clone(), storage.ingestor());
        let stop_indexer = tokio_util::sync::CancellationToken::new();
        let indexer = (env("BENCH_INDEXER", 1) != 0)
            .then(|| tokio::spawn(store.clone().run_search_indexer(stop_indexer.clone())));
        let per_producer = messages / producers;
        let started = Instant::now();
        let mut tasks = Vec::new();
        for p in 0..producers {
            let ingestor = ingestor.clone();
            tasks.push(tokio::spawn(async move {
                let mut latencies = Vec::with_capacity(per_producer / batch + 1);
                let mut i = 0;
                while i < per_producer {
                    let items: Vec<Inbound> = (i..(i + batch).min(per_producer))
                        .map(|j| {
                            let n = p * per_producer + j;
                            let thread = n % conversations;
                            Inbound::text(
                                format!("thread-{thread}"),
                                format!("msg-{n}"),
                                Sender::new(format!("user-{thread}"), format!("Customer {thread}")),
                                format!("Message {n}: my deposit of 0.5 BTC has not arrived yet, tx 0x{n:064x}"),
                            )
                        })
                        .collect();
                    i += items.len();
                    let t = Instant::now();
                    ingestor.ingest("bench", items, Some(format!("{p}:{i}"))).await.unwrap();
                    latencies.push(t.elapsed());
                }
                latencies
            }));
        }
        let mut latencies: Vec<Duration> = Vec::new();
        for t in tasks {
            latencies.extend(t.await.unwrap());
        }
        let elapsed = started.elapsed();
        let total = per_producer * producers;
        println!(
            "ingest: {total} messages, {producers} producers, {conversations} conversations, batch {batch}"
        );
        println!(
            "ingest: {:.0} messages/s over {:.2?}; per-call latency {}",
            total as f64 / elapsed.as_secs_f64(),
            elapsed,
            common::percentiles(latencies)
        );
        if let Some(indexer) = indexer {
            let caught_up = Instant::now();
            // The running indexer first: while it holds the index lock a call here does nothing.
            stop_indexer.cancel();
            indexer.await.unwrap();
            while store.index_for_search(100_000).await.unwrap() > 0 {}
            println!(
                "search index: complete {:.2?} after the last message",
                caught_up.elapsed()
            );
        }
        let (list, _) = store.list_conversations(&Default::default()).await.unwrap();
        assert!(!list.is_empty());
        // The writer holds its connection until the last ingest handle is gone.
        drop(ingestor);
        tokio::time::sleep(Duration::from_millis(50)).await;
        store.close().await;
    });
}
