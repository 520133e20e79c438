//! The email channel against real Dovecot on 127.0.0.1: how fast a mailbox of 1,000 mails is
//! ingested from a cold start (IMAP login, UID FETCH in batches, MIME parsing, threading lookups,
//! commits), and the latency from a mail client's APPEND to the stored `message.created` event
//! (IDLE wake-up, fetch, parse, commit). `cargo bench --bench email` (BENCH_MAILS, default 1000;
//! BENCH_ROUNDS, default 100). Under `cargo test` it runs a small smoke version.

#[path = "common/mod.rs"]
#[allow(dead_code)]
mod common;

#[path = "../tests/daemon/mail_servers.rs"]
#[allow(dead_code)]
mod mail_servers;

use mail_servers::{Dovecot, PASSWORD, SmtpServer, USER};
use std::time::{Duration, Instant};
use switchboard::app::Application;
use switchboard::config::{ChannelConfig, Config};
use switchboard::store::Event;
use tracing_subscriber::Layer;

/// When the channel logged "IDLE woke up".
#[derive(Clone, Default)]
struct WakeTimes(std::sync::Arc<std::sync::Mutex<Vec<Instant>>>);

impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for WakeTimes {
    fn on_event(&self, event: &tracing::Event<'_>, _: tracing_subscriber::layer::Context<'_, S>) {
        struct Message(bool);
        impl tracing::field::Visit for Message {
            fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
                if field.name() == "message" && format!("{value:?}") == "IDLE woke up" {
                    self.0 = true;
                }
            }
        }
        let mut visit = Message(false);
        event.record(&mut visit);
        if visit.0 {
            self.0.lock().unwrap().push(Instant::now());
        }
    }
}

/// A customer mail of realistic shape: a few paragraphs, a quoted earlier mail in replies.
fn customer_mail(n: usize, threads: usize) -> Vec<u8> {
    let thread = n % threads;
    let step = n / threads;
    let references = if step == 0 {
        String::new()
    } else {
        let prev = n - threads;
        format!(
            "In-Reply-To: <m{prev}@customer.example>\r\nReferences: <m{thread}@customer.example> <m{prev}@customer.example>\r\n"
        )
    };
    let subject = if step == 0 {
        format!("Withdrawal {thread} stuck")
    } else {
        format!("Re: Withdrawal {thread} stuck")
    };
    let body = "Hello support,\r\n\r\nMy withdrawal to the address bc1qxy2kgdygjrsqtzq2n0yrf2493p83kkfjhx0wlh \
        has been pending for two days. The app shows \"processing\" and the transaction id is not \
        visible on the explorer. Could you check what is going on?\r\n\r\nThanks,\r\nA customer\r\n\r\n\
        On Mon, 23 Nov 2026 at 10:00, Wallet Support <support@wallet.example> wrote:\r\n\
        > Thank you for contacting us. An agent will answer you shortly.\r\n> \r\n\
        > We never ask for your seed phrase or password.\r\n";
    format!(
        "From: Customer {thread} <customer{thread}@customer.example>\r\nTo: support@wallet.example\r\n\
         Subject: {subject}\r\nMessage-ID: <m{n}@customer.example>\r\n{references}\
         Date: Tue, 24 Nov 2026 10:00:00 +0000\r\nMIME-Version: 1.0\r\n\
         Content-Type: text/plain; charset=utf-8\r\n\r\n{body}"
    )
    .into_bytes()
}

fn main() {
    let full = common::full_run();
    let mails = common::env("BENCH_MAILS", if full { 1000 } else { 20 });
    let rounds = common::env("BENCH_ROUNDS", if full { 100 } else { 3 });
    // Dovecot delays IDLE notifications by itself; the channel's wake-up events split the
    // latency into the server's part and ours.
    let wakes = WakeTimes::default();
    {
        use tracing_subscriber::layer::SubscriberExt;
        let filter = tracing_subscriber::filter::Targets::new()
            .with_target("switchboard_email", tracing::Level::DEBUG);
        let subscriber = tracing_subscriber::registry().with(wakes.clone().with_filter(filter));
        tracing::subscriber::set_global_default(subscriber).unwrap();
    }
    common::runtime().block_on(async {
        let dir = tempfile::TempDir::new().unwrap();
        let (dovecot, smtp) = tokio::join!(Dovecot::start(None), SmtpServer::start(None));
        let threads = (mails / 5).max(1);
        for n in 0..mails {
            dovecot.deliver_file(&customer_mail(n, threads));
        }
        let mut config = Config::default();
        config.server.listen = "127.0.0.1:0".parse().unwrap();
        let db = dir.path().join("b.db");
        config.storage.database_url = format!("sqlite://{}", db.display());
        config.storage.data_dir = dir.path().join("data");
        // The benchmarks measure the channels, not the front desk's extra messages.
        config.front_desk.enabled = false;
        let email = format!(
            "name = \"mail\"\naddress = \"support@wallet.example\"\n\
             [imap]\nhost = \"127.0.0.1\"\nport = {}\ntls = \"none\"\nusername = \"{USER}\"\npassword = \"{PASSWORD}\"\n\
             [smtp]\nhost = \"127.0.0.1\"\nport = {}\ntls = \"none\"\n",
            dovecot.port, smtp.port
        );
        config.channels.push(ChannelConfig::Email(toml::from_str(&email).unwrap()));
        let app = Application::build(config).await.unwrap();
        let mut events = app.bus().subscribe();
        let shutdown = app.shutdown_token();
        let started = Instant::now();
        let server = tokio::spawn(app.run_until_stopped());
        let mut stored = 0;
        while stored < mails {
            match events.recv().await.map(|p| p.event.clone()) {
                Ok(Some(Event::MessageCreated(_))) => stored += 1,
                Ok(_) => {}
                Err(e) => panic!("event stream: {e}"),
            }
        }
        let elapsed = started.elapsed();
        println!(
            "email: {mails} mails in {threads} threads ingested from a cold start in {elapsed:.2?}: {:.0} mails/s",
            mails as f64 / elapsed.as_secs_f64()
        );

        let mut latencies = Vec::new();
        let mut ours = Vec::new();
        for i in 0..rounds {
            // Let the channel return to IDLE after the previous mail.
            tokio::time::sleep(Duration::from_millis(50)).await;
            let marker = format!("latency probe {i}");
            let raw = format!(
                "From: probe@customer.example\r\nTo: support@wallet.example\r\nSubject: {marker}\r\n\
                 Message-ID: <probe{i}@customer.example>\r\n\r\n{marker}\r\n"
            );
            let started = Instant::now();
            dovecot.append(raw.as_bytes()).await;
            if i == 0 {
                println!("email: first APPEND round trip took {:.2?}", started.elapsed());
            }
            loop {
                match events.recv().await.map(|p| p.event.clone()) {
                    Ok(Some(Event::MessageCreated(m))) if m.text == marker => break,
                    Ok(_) => {}
                    Err(e) => panic!("event stream: {e}"),
                }
            }
            let stored = Instant::now();
            latencies.push(stored - started);
            if let Some(woke) = wakes.0.lock().unwrap().drain(..).next_back() {
                ours.push(stored - woke);
            }
        }
        println!(
            "email: client APPEND (connect, login, append) -> message.created over {rounds} rounds: {}",
            common::percentiles(latencies)
        );
        if !ours.is_empty() {
            println!(
                "email: IDLE wake-up -> message.created (fetch, parse, thread, commit): {}",
                common::percentiles(ours)
            );
        }
        shutdown.cancel();
        server.await.unwrap().unwrap();
    });
}
