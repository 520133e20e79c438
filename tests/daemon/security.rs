//! Roles, tokens and limits through the daemon: every route checked with both roles and with
//! none, revocation reaching open streams at once, legacy argon2 tokens, the failed-
//! authentication limit, event stream caps, and the connection limits of the server.

use crate::helpers::*;
use futures_util::StreamExt;
use reqwest::Method;
use serde_json::{Value, json};
use std::time::Duration;
use switchboard::store::{Role, Store};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// A second handle on the daemon's database, as the CLI would open it.
async fn cli_store(app: &TestApp) -> Store {
    crate::helpers::open_store(app).await
}

async fn agent_token(app: &TestApp, email: &str) -> String {
    cli_store(app)
        .await
        .create_agent("Ann Agent", email, Role::Agent)
        .await
        .unwrap()
        .1
}

async fn call(
    app: &TestApp,
    token: Option<&str>,
    method: Method,
    path: &str,
    body: Option<Value>,
) -> u16 {
    let mut request = app.client.request(method, app.url(path));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.unwrap();
    response.status().as_u16()
}

#[tokio::test]
async fn every_route_checks_the_callers_role() {
    let app = spawn_app().await;
    let agent = agent_token(&app, "ann@example.com").await;
    let c = app.customer_says("t-1", "m-1", "hi").await["conversation_id"]
        .as_i64()
        .unwrap();
    let other = app.customer_says("t-2", "m-2", "hi").await;
    let contact =
        app.get_json(&format!("/api/v1/conversations/{c}")).await["conversation"]["contact"]["id"]
            .as_i64()
            .unwrap();
    let other_contact = app
        .get_json(&format!(
            "/api/v1/conversations/{}",
            other["conversation_id"]
        ))
        .await["conversation"]["contact"]["id"]
        .as_i64()
        .unwrap();
    let reply = app.reply_sent(c, "hello").await;
    let canned = app
        .send_json(
            Method::POST,
            "/api/v1/canned_answers",
            json!({"shortcut": "hi", "title": "Hi", "text": "Hello!"}),
        )
        .await
        .json::<Value>()
        .await
        .unwrap()["canned_answer"]["id"]
        .as_i64()
        .unwrap();
    let m = id_of(&reply);
    // (method, path, body, admin only)
    let routes: Vec<(Method, String, Option<Value>, bool)> = vec![
        (Method::GET, "/api/v1/conversations".into(), None, false),
        (
            Method::GET,
            format!("/api/v1/conversations/{c}/verification"),
            None,
            false,
        ),
        (
            Method::POST,
            format!("/api/v1/conversations/{c}/verify"),
            Some(json!({"email": "carol@customer.example"})),
            false,
        ),
        (
            Method::GET,
            format!("/api/v1/conversations/{c}"),
            None,
            false,
        ),
        (
            Method::PATCH,
            format!("/api/v1/conversations/{c}"),
            Some(json!({"status": "pending"})),
            false,
        ),
        (
            Method::GET,
            format!("/api/v1/conversations/{c}/messages"),
            None,
            false,
        ),
        (
            Method::POST,
            format!("/api/v1/conversations/{c}/messages"),
            Some(json!({"text": "x"})),
            false,
        ),
        (
            Method::GET,
            format!("/api/v1/conversations/{c}/participants"),
            None,
            false,
        ),
        (
            Method::PUT,
            format!("/api/v1/conversations/{c}/participants"),
            Some(json!({"participants": []})),
            false,
        ),
        (
            Method::GET,
            format!("/api/v1/conversations/{c}/notes"),
            None,
            false,
        ),
        (
            Method::POST,
            format!("/api/v1/conversations/{c}/notes"),
            Some(json!({"text": "n"})),
            false,
        ),
        (Method::GET, "/api/v1/canned_answers".into(), None, false),
        (
            Method::POST,
            format!("/api/v1/messages/{m}/retry"),
            None,
            false,
        ),
        (
            Method::POST,
            format!("/api/v1/messages/{m}/cancel"),
            None,
            false,
        ),
        (Method::GET, "/api/v1/attachments/999".into(), None, false),
        (
            Method::GET,
            format!("/api/v1/contacts/{contact}"),
            None,
            false,
        ),
        (Method::GET, "/api/v1/me".into(), None, false),
        (
            Method::POST,
            "/api/v1/canned_answers".into(),
            Some(json!({"shortcut": "s2", "title": "T", "text": "t"})),
            true,
        ),
        (
            Method::PATCH,
            format!("/api/v1/canned_answers/{canned}"),
            Some(json!({"text": "We will never ask for your seed phrase."})),
            true,
        ),
        (
            Method::DELETE,
            format!("/api/v1/canned_answers/{canned}"),
            None,
            true,
        ),
        (
            Method::POST,
            format!("/api/v1/contacts/{other_contact}/merge"),
            Some(json!({"into": contact})),
            true,
        ),
        (Method::GET, "/metrics".into(), None, true),
    ];
    for (method, path, body, admin_only) in &routes {
        let anonymous = call(&app, None, method.clone(), path, body.clone()).await;
        assert_eq!(anonymous, 401, "{method} {path} without a token");
        let as_agent = call(&app, Some(&agent), method.clone(), path, body.clone()).await;
        if *admin_only {
            assert_eq!(as_agent, 403, "{method} {path} as an agent");
        } else {
            assert!(
                ![401, 403].contains(&as_agent),
                "{method} {path} as an agent: {as_agent}"
            );
        }
    }
    // The admin may do what the agent may not (run last: the delete and merge change state).
    for (method, path, body, admin_only) in routes.iter().filter(|r| r.3) {
        let as_admin = call(&app, Some(&app.token), method.clone(), path, body.clone()).await;
        assert!(
            *admin_only && as_admin < 300,
            "{method} {path} as admin: {as_admin}"
        );
    }
}

#[tokio::test]
async fn revoking_a_token_ends_its_requests_and_open_streams_at_once() {
    let app = spawn_app().await;
    let agent = agent_token(&app, "ann@example.com").await;
    let response = app
        .client
        .get(app.url("/api/v1/events"))
        .bearer_auth(&agent)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let mut stream = response.bytes_stream();
    assert_eq!(
        call(&app, Some(&agent), Method::GET, "/api/v1/me", None).await,
        200
    );
    cli_store(&app)
        .await
        .revoke_agent("ann@example.com")
        .await
        .unwrap();
    assert_eq!(
        call(&app, Some(&agent), Method::GET, "/api/v1/me", None).await,
        401,
        "no cache window: the next request is refused"
    );
    // The stream ends within the one-second poll; customer messages meanwhile never reach it.
    let ended = tokio::time::timeout(Duration::from_secs(4), async {
        let mut seen = String::new();
        while let Some(chunk) = stream.next().await {
            match chunk {
                Ok(bytes) => seen.push_str(&String::from_utf8_lossy(&bytes)),
                Err(_) => break,
            }
        }
        seen
    });
    tokio::time::sleep(Duration::from_millis(1500)).await;
    app.customer_says("t-9", "m-9", "secret customer text")
        .await;
    let seen = ended.await.expect("the stream of a revoked token ends");
    assert!(!seen.contains("secret customer text"), "{seen}");
}

#[tokio::test]
async fn a_token_from_before_sha256_still_works_and_is_upgraded() {
    use argon2::password_hash::{PasswordHasher, SaltString};
    let app = spawn_app().await;
    let store = cli_store(&app).await;
    let (agent, _) = store
        .create_agent("Old Timer", "old@example.com", Role::Agent)
        .await
        .unwrap();
    let salt = SaltString::encode_b64(b"0123456789abcdef").unwrap();
    let secret = "aa".repeat(24);
    let hash = argon2::Argon2::default()
        .hash_password(secret.as_bytes(), &salt)
        .unwrap()
        .to_string();
    // The same statements on either backend's pool.
    macro_rules! with_pool {
        ($url:expr, |$pool:ident| $body:block) => {
            if crate::postgres::on_postgres() {
                let $pool = sqlx::PgPool::connect($url).await.unwrap();
                $body
            } else {
                let $pool = sqlx::SqlitePool::connect($url).await.unwrap();
                $body
            }
        };
    }
    with_pool!(&app.config.storage.database_url, |pool| {
        sqlx::query(
            "INSERT INTO api_tokens (agent_id, prefix, token_hash, created_at) VALUES ($1, 'abcdefabcdef', $2, 0)",
        )
        .bind(agent.id)
        .bind(hash)
        .execute(&pool)
        .await
        .unwrap();
        let token = format!("sb_abcdefabcdef_{secret}");
        let wrong = format!("sb_abcdefabcdef_{}", "bb".repeat(24));
        assert_eq!(
            call(&app, Some(&wrong), Method::GET, "/api/v1/me", None).await,
            401
        );
        assert_eq!(
            call(&app, Some(&token), Method::GET, "/api/v1/me", None).await,
            200
        );
        let upgraded: Option<String> =
            sqlx::query_scalar("SELECT token_sha256 FROM api_tokens WHERE prefix = 'abcdefabcdef'")
                .fetch_one(&pool)
                .await
                .unwrap();
        assert!(
            upgraded.is_some_and(|h| h.len() == 64),
            "the SHA-256 is filled in on first use"
        );
        assert_eq!(
            call(&app, Some(&token), Method::GET, "/api/v1/me", None).await,
            200
        );
        // New tokens never store an argon2 hash.
        let kinds: Vec<String> =
            sqlx::query_scalar("SELECT token_hash FROM api_tokens WHERE prefix <> 'abcdefabcdef'")
                .fetch_all(&pool)
                .await
                .unwrap();
        assert!(kinds.iter().all(|k| k == "sha256"), "{kinds:?}");
    });
}

#[tokio::test]
async fn repeated_failed_authentication_is_refused_for_a_while() {
    let app = spawn_app().await;
    let prefix = app.token.split('_').nth(1).unwrap().to_owned();
    let mut statuses = Vec::new();
    // A real token's prefix with wrong secrets, many at once: cheap to refuse, then limited.
    let wrong = format!("sb_{prefix}_{}", "00".repeat(24));
    let calls = (0..64).map(|_| call(&app, Some(&wrong), Method::GET, "/api/v1/me", None));
    for status in futures_util::future::join_all(calls).await {
        statuses.push(status);
    }
    assert!(
        statuses.iter().all(|s| [401, 429].contains(s)),
        "{statuses:?}"
    );
    assert_eq!(
        statuses.iter().filter(|s| **s == 401).count(),
        20,
        "{statuses:?}"
    );
    // The address is refused for the window, even with a good token.
    let response = app.get("/api/v1/me").await;
    assert_eq!(response.status(), 429);
    assert!(response.headers().contains_key("retry-after"));
}

#[tokio::test]
async fn event_streams_are_capped_per_agent_and_freed_when_closed() {
    let app = spawn_app_with(|c| {
        c.server.max_event_streams = 3;
        c.server.max_event_streams_per_agent = 2;
    })
    .await;
    let open = |token: String| {
        let app = &app;
        async move {
            app.client
                .get(app.url("/api/v1/events"))
                .bearer_auth(token)
                .send()
                .await
                .unwrap()
        }
    };
    let first = open(app.token.clone()).await;
    let second = open(app.token.clone()).await;
    assert_eq!(
        (first.status().as_u16(), second.status().as_u16()),
        (200, 200)
    );
    assert_eq!(open(app.token.clone()).await.status(), 429);
    let other = agent_token(&app, "ann@example.com").await;
    let third = open(other.clone()).await;
    assert_eq!(third.status(), 200);
    assert_eq!(open(other).await.status(), 429, "the total cap");
    drop(first);
    let reopened = eventually(|| async {
        let r = open(app.token.clone()).await;
        (r.status() == 200).then_some(r)
    })
    .await;
    drop((second, third, reopened));
}

#[tokio::test]
async fn events_reach_every_stream_with_the_same_payload() {
    let app = spawn_app().await;
    let mut streams = Vec::new();
    for _ in 0..3 {
        let r = app
            .client
            .get(app.url("/api/v1/events"))
            .bearer_auth(&app.token)
            .send()
            .await
            .unwrap();
        streams.push(r.bytes_stream());
    }
    app.customer_says("t-1", "m-1", "hello everyone").await;
    let mut payloads = Vec::new();
    for stream in &mut streams {
        let mut text = String::new();
        while !text.contains("hello everyone") {
            let chunk = tokio::time::timeout(Duration::from_secs(5), stream.next())
                .await
                .unwrap()
                .unwrap()
                .unwrap();
            text.push_str(&String::from_utf8_lossy(&chunk));
        }
        let line = text
            .lines()
            .find(|l| l.starts_with("data:") && l.contains("hello everyone"))
            .unwrap()
            .to_owned();
        payloads.push(line);
    }
    assert!(payloads.windows(2).all(|w| w[0] == w[1]));
    let data: Value = serde_json::from_str(payloads[0].trim_start_matches("data:").trim()).unwrap();
    assert_eq!(data["type"], "message.created");
    assert_eq!(data["data"]["text"], "hello everyone");
}

#[tokio::test]
async fn a_client_that_never_finishes_its_headers_is_cut_off() {
    let app = spawn_app_with(|c| c.server.header_timeout = Duration::from_millis(500)).await;
    let mut socket = tokio::net::TcpStream::connect(app.addr).await.unwrap();
    socket
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    let mut buf = [0u8; 1024];
    let started = std::time::Instant::now();
    let read = tokio::time::timeout(Duration::from_secs(5), socket.read(&mut buf))
        .await
        .expect("the server closes the connection");
    assert!(matches!(read, Ok(0) | Err(_)) || String::from_utf8_lossy(&buf).contains("408"));
    assert!(started.elapsed() < Duration::from_secs(3));
    // The daemon still serves others.
    assert_eq!(app.get("/healthz").await.status(), 200);
}

#[tokio::test]
async fn connections_past_the_limit_are_closed_and_the_daemon_recovers() {
    let app = spawn_app_with(|c| {
        c.server.max_connections = 4;
        c.server.header_timeout = Duration::from_secs(2);
    })
    .await;
    let mut idle = Vec::new();
    for _ in 0..4 {
        idle.push(tokio::net::TcpStream::connect(app.addr).await.unwrap());
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    let mut extra = tokio::net::TcpStream::connect(app.addr).await.unwrap();
    let _ = extra
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .await;
    let mut buf = [0u8; 256];
    let read = tokio::time::timeout(Duration::from_secs(2), extra.read(&mut buf))
        .await
        .unwrap();
    assert!(
        matches!(read, Ok(0) | Err(_)),
        "the fifth connection is closed unanswered"
    );
    // The idle ones time out (header timeout), and the slots come back.
    eventually(|| async {
        let r = reqwest::Client::new().get(app.url("/healthz")).send().await;
        r.is_ok_and(|r| r.status() == 200).then_some(())
    })
    .await;
    drop(idle);
}
