//! Faults and hostile peers, through the daemon: a full disk, a receiver that answers with
//! absurd Retry-After values, redirects or endless bodies, and ids that collide.

use crate::helpers::*;
use axum::response::IntoResponse;
use serde_json::{Value, json};
use std::time::Duration;

/// A small tmpfs for the database, so the disk can really fill up. Needs root (CI runs as root);
/// elsewhere the test says so and does nothing.
struct Tmpfs(std::path::PathBuf);

impl Tmpfs {
    fn mount(dir: &std::path::Path, size: &str) -> Option<Self> {
        std::fs::create_dir_all(dir).unwrap();
        let ok = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir)
            .status()
            .is_ok_and(|s| s.success());
        ok.then(|| Self(dir.to_owned()))
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .arg("-l")
            .arg(&self.0)
            .status();
    }
}

/// Fills the file system holding `path` until a write fails; returns the filler's path.
fn fill_disk(dir: &std::path::Path) -> std::path::PathBuf {
    use std::io::Write;
    let path = dir.join("filler");
    let mut file = std::fs::File::create(&path).unwrap();
    let chunk = vec![0u8; 16 * 1024];
    while file.write_all(&chunk).and_then(|_| file.sync_all()).is_ok() {}
    // Even a small write fails now.
    path
}

#[tokio::test]
async fn a_full_disk_answers_503_and_heals_once_space_returns() {
    let scratch = tempfile::TempDir::new().unwrap();
    let mnt = scratch.path().join("mnt");
    let Some(_tmpfs) = Tmpfs::mount(&mnt, "6m") else {
        eprintln!(
            "SKIPPED a_full_disk_answers_503_and_heals_once_space_returns: mounting a tmpfs needs root"
        );
        return;
    };
    let db = mnt.join("sb.db");
    let data = mnt.join("data");
    let app = spawn_app_with(|c| {
        c.storage.database_url = format!("sqlite://{}", db.display());
        c.storage.data_dir = data.clone();
    })
    .await;
    let first = app
        .customer_says("t-0", "m-0", "before the disk filled")
        .await;
    let conversation = first["conversation_id"].as_i64().unwrap();
    let filler = fill_disk(&mnt);

    // 4 KB messages: the WAL must grow, so a commit needs space the disk no longer has.
    let text = "x".repeat(4000);
    let mut refused = None;
    let mut stored = vec!["m-0".to_owned()];
    for i in 1..400 {
        let id = format!("m-{i}");
        let response = app
            .post_inbound(
                "website",
                json!({"thread_id": "t-0", "message_id": id,
                       "sender": {"id": "visitor-t-0"}, "text": text}),
            )
            .await;
        match response.status().as_u16() {
            201 => stored.push(id),
            503 => {
                let retry = response.headers().get("retry-after").cloned();
                refused = Some((response.json::<Value>().await.unwrap(), retry));
                break;
            }
            other => panic!("message {i}: {other} {}", response.text().await.unwrap()),
        }
    }
    let (body, retry_after) = refused.expect("a full disk refuses writes");
    assert!(retry_after.is_some(), "503 carries Retry-After");
    assert!(
        !body["error"].as_str().unwrap().contains("internal"),
        "{body}"
    );
    let health = app.get("/healthz").await;
    assert_eq!(health.status(), 503, "healthz reports the failing store");
    assert_ne!(health.json::<Value>().await.unwrap()["database"], "ok");
    // An agent's reply is refused the same way, not with a 500.
    let reply = app
        .send_json(
            reqwest::Method::POST,
            &format!("/api/v1/conversations/{conversation}/messages"),
            json!({"text": "we are on it"}),
        )
        .await;
    assert!(
        [202, 503].contains(&reply.status().as_u16()),
        "{}",
        reply.status()
    );

    std::fs::remove_file(filler).unwrap();
    // No restart: the next writes go through, and health says so.
    let healed = eventually(|| async {
        let r = app
            .post_inbound(
                "website",
                json!({"thread_id": "t-0", "message_id": "after",
                       "sender": {"id": "visitor-t-0"}, "text": "after the space came back"}),
            )
            .await;
        (r.status() == 201).then_some(())
    })
    .await;
    let () = healed;
    stored.push("after".into());
    eventually(|| async { (app.get("/healthz").await.status() == 200).then_some(()) }).await;
    let reply = app
        .reply_sent(conversation, "delivered after the disk healed")
        .await;
    assert_eq!(reply["delivery_status"], "sent");
    // Everything acknowledged is stored exactly once; nothing refused slipped in.
    let messages = app.messages(conversation).await;
    let inbound: Vec<&str> = messages
        .iter()
        .filter(|m| m["direction"] == "inbound")
        .map(|m| m["external_id"].as_str().unwrap())
        .collect();
    assert_eq!(inbound, stored);
    app.stop().await;
}

#[tokio::test]
async fn an_absurd_retry_after_fails_the_reply_instead_of_a_hot_loop() {
    for value in ["18446744073709551615", "10000000000000000"] {
        let app = spawn_app().await;
        app.hook.always(503);
        app.hook.retry_after(value);
        let c = id_of_conversation(&app.customer_says("t", "m", "hi").await);
        let reply = app.post_reply(c, "hello").await;
        let failed = app.wait_for_status(c, id_of(&reply), "failed").await;
        assert!(
            failed["error"].as_str().unwrap().contains("gave up"),
            "{failed}"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
        assert_eq!(
            app.hook.received().len(),
            1,
            "Retry-After {value}: one call"
        );
        app.stop().await;
    }
}

#[tokio::test]
async fn an_http_date_retry_after_is_honoured() {
    let app = spawn_app().await;
    app.hook.answer(&[503]);
    let soon = std::time::SystemTime::now() + Duration::from_secs(2);
    app.hook.retry_after(&httpdate::fmt_http_date(soon));
    let c = id_of_conversation(&app.customer_says("t", "m", "hi").await);
    let reply = app.post_reply(c, "hello").await;
    let sent = app.wait_for_status(c, id_of(&reply), "sent").await;
    let received = app.hook.received();
    assert_eq!(received.len(), 2);
    let waited = chrono::DateTime::parse_from_rfc3339(sent["sent_at"].as_str().unwrap()).unwrap()
        - chrono::DateTime::parse_from_rfc3339(reply["created_at"].as_str().unwrap()).unwrap();
    assert!(
        waited.num_milliseconds() >= 900,
        "the retry waited for the date, not the 200 ms schedule: {waited}"
    );
    app.stop().await;
}

fn id_of_conversation(accepted: &Value) -> i64 {
    accepted["conversation_id"].as_i64().unwrap()
}

#[tokio::test]
async fn an_outbound_id_never_shadows_a_customer_message() {
    let app = spawn_app().await;
    let c = id_of_conversation(&app.customer_says("chat-1", "m-1", "hi").await);
    let sent = app.reply_sent(c, "hello").await;
    // The receiver named its copy "hook-1"; the customer's next message has that id too.
    assert_eq!(sent["external_id"], "hook-1");
    let accepted = app
        .customer_says("chat-1", "hook-1", "are you there?")
        .await;
    assert_eq!(accepted["duplicate"], false, "{accepted}");
    let texts: Vec<Value> = app
        .messages(c)
        .await
        .into_iter()
        .map(|m| m["text"].clone())
        .collect();
    assert_eq!(texts, ["hi", "hello", "are you there?"]);
    // Posting it again is still a duplicate.
    let again = app
        .customer_says("chat-1", "hook-1", "are you there?")
        .await;
    assert_eq!(again["duplicate"], true);
}

/// A one-route server on loopback; returns its URL.
async fn serve(router: axum::Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    format!("http://{addr}/hook")
}

#[tokio::test]
async fn a_redirecting_webhook_never_gets_the_signed_body_elsewhere() {
    let elsewhere = Webhook::start().await;
    let target = elsewhere.url.clone();
    let redirecting = serve(axum::Router::new().route(
        "/hook",
        axum::routing::post(move || {
            let target = target.clone();
            async move {
                (
                    axum::http::StatusCode::TEMPORARY_REDIRECT,
                    [(axum::http::header::LOCATION, target)],
                )
                    .into_response()
            }
        }),
    ))
    .await;
    let app = spawn_app_with(|c| {
        if let switchboard::config::ChannelConfig::Api(api) = &mut c.channels[0] {
            api.webhook_url = Some(redirecting.clone());
        }
    })
    .await;
    let c = id_of_conversation(&app.customer_says("t", "m", "hi").await);
    let reply = app.post_reply(c, "signed").await;
    let failed = app.wait_for_status(c, id_of(&reply), "failed").await;
    assert!(
        failed["error"].as_str().unwrap().contains("redirect"),
        "{failed}"
    );
    assert!(
        elsewhere.received().is_empty(),
        "nothing followed the redirect"
    );
}

#[tokio::test]
async fn an_endless_webhook_answer_is_cut_off_and_the_reply_counts_as_sent() {
    let endless = serve(axum::Router::new().route(
        "/hook",
        axum::routing::post(|| async {
            let chunk = bytes::Bytes::from(vec![b'a'; 64 * 1024]);
            let stream =
                futures_util::stream::repeat_with(move || Ok::<_, std::io::Error>(chunk.clone()));
            axum::body::Body::from_stream(stream).into_response()
        }),
    ))
    .await;
    let app = spawn_app_with(|c| {
        if let switchboard::config::ChannelConfig::Api(api) = &mut c.channels[0] {
            api.webhook_url = Some(endless.clone());
            api.timeout = Duration::from_secs(30);
        }
    })
    .await;
    let c = id_of_conversation(&app.customer_says("t", "m", "hi").await);
    let reply = app.post_reply(c, "hello").await;
    let started = std::time::Instant::now();
    let sent = app.wait_for_status(c, id_of(&reply), "sent").await;
    assert!(started.elapsed() < Duration::from_secs(5));
    assert_eq!(
        sent["external_id"],
        Value::Null,
        "an oversized answer's id is not read"
    );
}

#[tokio::test]
async fn a_waiting_reply_can_be_cancelled_and_the_next_one_goes() {
    let app = spawn_app().await;
    app.hook.answer(&[500, 500, 500, 500, 500, 500, 500, 500]);
    let c = id_of_conversation(&app.customer_says("t", "m", "hi").await);
    let stuck = app.post_reply(c, "first").await;
    let next = app.post_reply(c, "second").await;
    eventually(|| async { (!app.hook.received().is_empty()).then_some(()) }).await;
    let cancel = |id: i64| {
        let path = format!("/api/v1/messages/{id}/cancel");
        let app = &app;
        async move { app.send_json(reqwest::Method::POST, &path, json!({})).await }
    };
    // 409 only while an attempt is in flight at this very moment.
    let cancelled: Value = eventually(|| async {
        let response = cancel(id_of(&stuck)).await;
        match response.status().as_u16() {
            200 => Some(response.json().await.unwrap()),
            409 => None,
            other => panic!("cancel answered {other}"),
        }
    })
    .await;
    assert_eq!(cancelled["message"]["delivery_status"], "cancelled");
    // The webhook still fails for a few calls; `second` gets through after its retries.
    let sent = eventually(|| async {
        let m = app.message(c, id_of(&next)).await;
        (m["delivery_status"] == "sent").then_some(m)
    })
    .await;
    assert_eq!(sent["text"], "second");
    let bodies: Vec<Value> = app
        .hook
        .received()
        .iter()
        .map(|r| r.json()["text"].clone())
        .collect();
    assert!(bodies.iter().filter(|t| *t == "first").count() >= 1);
    assert_eq!(bodies.last().unwrap(), "second");
    // A delivered reply cannot be cancelled; an unknown one is 404.
    assert_eq!(cancel(id_of(&next)).await.status(), 409);
    assert_eq!(cancel(999_999).await.status(), 404);
    let stuck_now = app.message(c, id_of(&stuck)).await;
    assert_eq!(stuck_now["delivery_status"], "cancelled");
}

#[tokio::test]
async fn a_retried_reply_with_the_same_idempotency_key_is_sent_once() {
    let app = spawn_app().await;
    let c = id_of_conversation(&app.customer_says("t", "m", "hi").await);
    let other = id_of_conversation(&app.customer_says("t2", "m2", "hi").await);
    let post = |conversation: i64, key: &'static str| {
        let app = &app;
        async move {
            app.client
                .post(app.url(&format!("/api/v1/conversations/{conversation}/messages")))
                .bearer_auth(&app.token)
                .header("Idempotency-Key", key)
                .json(&json!({"text": "your deposit arrived"}))
                .send()
                .await
                .unwrap()
        }
    };
    let first = post(c, "retry-1").await;
    assert_eq!(first.status(), 202);
    let first: Value = first.json().await.unwrap();
    let again = post(c, "retry-1").await;
    assert_eq!(again.status(), 202);
    let again: Value = again.json().await.unwrap();
    assert_eq!(again["message"]["id"], first["message"]["id"]);
    assert_eq!(
        post(other, "retry-1").await.status(),
        409,
        "the key names one reply"
    );
    app.wait_for_status(c, id_of(&first["message"]), "sent")
        .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(app.hook.received().len(), 1, "delivered once");
    let bad = app
        .client
        .post(app.url(&format!("/api/v1/conversations/{c}/messages")))
        .bearer_auth(&app.token)
        .header("Idempotency-Key", "x".repeat(300))
        .json(&json!({"text": "x"}))
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 400);
}

#[tokio::test]
async fn a_customer_cannot_pin_a_conversation_with_a_future_time_or_oversized_fields() {
    let app = spawn_app().await;
    let inbound = |body: Value| app.post_inbound("website", body);
    let pinned = inbound(json!({"thread_id": "pin", "message_id": "p1",
        "sender": {"id": "mallory"}, "text": "me first", "sent_at": "9999-12-31T23:59:59Z"}))
    .await;
    assert_eq!(pinned.status(), 201);
    app.customer_says("later", "l1", "a later customer").await;
    let list = app.get_json("/api/v1/conversations").await;
    let threads: Vec<&str> = list["conversations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["contact"]["display_name"].as_str().unwrap())
        .collect();
    assert_eq!(
        threads,
        ["Carol Customer", "mallory"],
        "newest activity first, not year 9999"
    );
    let year = |c: &Value| {
        c["last_message_at"].as_str().unwrap()[..4]
            .parse::<i32>()
            .unwrap()
    };
    assert!(
        list["conversations"]
            .as_array()
            .unwrap()
            .iter()
            .all(|c| year(c) < 2100)
    );
    for (field, body) in [
        (
            "sender.name",
            json!({"thread_id": "x", "message_id": "1", "sender": {"id": "a", "name": "n".repeat(300)}, "text": "t"}),
        ),
        (
            "subject",
            json!({"thread_id": "x", "message_id": "2", "sender": {"id": "a"}, "subject": "s".repeat(1000), "text": "t"}),
        ),
        (
            "reply_to",
            json!({"thread_id": "x", "message_id": "3", "sender": {"id": "a"}, "reply_to": "r".repeat(300), "text": "t"}),
        ),
        (
            "thread_id",
            json!({"thread_id": "x".repeat(300), "message_id": "4", "sender": {"id": "a"}, "text": "t"}),
        ),
    ] {
        let response = inbound(body).await;
        assert_eq!(response.status(), 400, "{field}");
        let error: Value = response.json().await.unwrap();
        assert!(error["error"].as_str().unwrap().contains(field), "{error}");
    }
}

#[tokio::test]
async fn the_channel_secret_is_checked_before_the_body_is_read() {
    let app = spawn_app().await;
    let response = app
        .client
        .post(app.url("/api/v1/channels/website/inbound"))
        .bearer_auth("wrong-secret")
        .header("content-type", "application/json")
        .body("{not json at all")
        .send()
        .await
        .unwrap();
    assert_eq!(
        response.status(),
        401,
        "no parse error leaks to an unauthenticated caller"
    );
}

#[tokio::test]
async fn messages_come_in_pages_with_a_before_cursor() {
    let app = spawn_app().await;
    let mut c = 0;
    for i in 0..25 {
        c = id_of_conversation(
            &app.customer_says("long", &format!("m-{i}"), &format!("text {i}"))
                .await,
        );
    }
    let page = app
        .get_json(&format!("/api/v1/conversations/{c}/messages?limit=10"))
        .await;
    let texts = |page: &Value| -> Vec<String> {
        page["messages"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["text"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(
        texts(&page),
        (15..25).map(|i| format!("text {i}")).collect::<Vec<_>>()
    );
    let before = page["next_before"].as_i64().unwrap();
    let older = app
        .get_json(&format!(
            "/api/v1/conversations/{c}/messages?limit=10&before={before}"
        ))
        .await;
    assert_eq!(
        texts(&older),
        (5..15).map(|i| format!("text {i}")).collect::<Vec<_>>()
    );
    let oldest = app
        .get_json(&format!(
            "/api/v1/conversations/{c}/messages?limit=10&before={}",
            older["next_before"]
        ))
        .await;
    assert_eq!(texts(&oldest).len(), 5);
    assert_eq!(oldest["next_before"], Value::Null);
    for bad in ["limit=0", "limit=501", "limit=x"] {
        let r = app
            .get(&format!("/api/v1/conversations/{c}/messages?{bad}"))
            .await;
        assert_eq!(r.status(), 400, "{bad}");
    }
    // Every timestamp in one format: three fraction digits, even on a whole second.
    for m in page["messages"].as_array().unwrap() {
        let at = m["created_at"].as_str().unwrap();
        assert!(
            at.len() == 24 && at.ends_with('Z') && at.as_bytes()[19] == b'.',
            "{at}"
        );
    }
}

#[tokio::test]
async fn an_invalid_status_names_the_valid_ones() {
    let app = spawn_app().await;
    let c = id_of_conversation(&app.customer_says("t", "m", "hi").await);
    let response = app
        .send_json(
            reqwest::Method::PATCH,
            &format!("/api/v1/conversations/{c}"),
            json!({"status": "closed"}),
        )
        .await;
    assert_eq!(response.status(), 400);
    let error = response.json::<Value>().await.unwrap()["error"]
        .as_str()
        .unwrap()
        .to_owned();
    for valid in ["open", "pending", "snoozed", "resolved"] {
        assert!(error.contains(valid), "{error}");
    }
}

#[cfg(unix)]
#[tokio::test]
async fn the_database_and_data_dir_are_private_to_the_daemon_user() {
    use std::os::unix::fs::PermissionsExt;
    let scratch = tempfile::TempDir::new().unwrap();
    let data = scratch.path().join("fresh/data");
    let db = scratch.path().join("fresh/db/sb.db");
    let app = spawn_app_with(|c| {
        c.storage.database_url = format!("sqlite://{}", db.display());
        c.storage.data_dir = data.clone();
    })
    .await;
    app.customer_says("t", "m", "hi").await;
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&db), 0o600);
    assert_eq!(mode(&db.with_extension("db-wal")), 0o600);
    assert_eq!(mode(db.parent().unwrap()), 0o700);
    assert_eq!(mode(&data), 0o700);
    assert_eq!(mode(&data.join("instance.key")), 0o600);
}
