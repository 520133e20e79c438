//! The agent API's contract: auth, errors, filters, conversation updates, contacts, OpenAPI.

use crate::helpers::{SECRET, spawn_app, spawn_app_with};
use serde_json::{Value, json};
use switchboard::config::{ApiChannelConfig, ChannelConfig};

#[tokio::test]
async fn every_api_route_needs_a_valid_token_but_health_does_not() {
    let app = spawn_app().await;
    for path in [
        "/api/v1/conversations",
        "/api/v1/conversations/1/messages",
        "/api/v1/events",
        "/api/v1/contacts/1",
        "/api/v1/conversations/1/participants",
    ] {
        let none = app.client.get(app.url(path)).send().await.unwrap();
        assert_eq!(none.status(), 401, "{path}");
        assert_eq!(none.headers()["www-authenticate"], "Bearer");
        let body: Value = none.json().await.unwrap();
        assert!(body["error"].is_string());
        let wrong = app
            .client
            .get(app.url(path))
            .bearer_auth("sb_000000000000_nope")
            .send()
            .await
            .unwrap();
        assert_eq!(wrong.status(), 401, "{path}");
    }
    let health = app.client.get(app.url("/healthz")).send().await.unwrap();
    assert_eq!(health.status(), 200);
    let health: Value = health.json().await.unwrap();
    assert_eq!(health["status"], "ok");
    assert_eq!(health["channels"]["website"]["state"], "running");
}

#[tokio::test]
async fn malformed_json_is_400_and_an_oversize_body_is_413() {
    let app = spawn_app().await;
    let c = app.customer_says("chat-1", "m-1", "help").await["conversation_id"]
        .as_i64()
        .unwrap();
    let path = app.url(&format!("/api/v1/conversations/{c}/messages"));
    let bad = app
        .client
        .post(&path)
        .bearer_auth(&app.token)
        .header("content-type", "application/json")
        .body("{\"text\": ")
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 400);
    assert!(bad.json::<Value>().await.unwrap()["error"].is_string());
    let wrong_shape = app
        .send_json(
            reqwest::Method::POST,
            &format!("/api/v1/conversations/{c}/messages"),
            json!({"txt": "x"}),
        )
        .await;
    assert_eq!(wrong_shape.status(), 400);
    let empty = app
        .send_json(
            reqwest::Method::POST,
            &format!("/api/v1/conversations/{c}/messages"),
            json!({"text": "  "}),
        )
        .await;
    assert_eq!(empty.status(), 400);
    let huge = "x".repeat(100 * 1024);
    let too_big = app
        .send_json(
            reqwest::Method::POST,
            &format!("/api/v1/conversations/{c}/messages"),
            json!({"text": huge}),
        )
        .await;
    assert_eq!(too_big.status(), 413);
    assert!(too_big.json::<Value>().await.unwrap()["error"].is_string());
    let bad_id = app.get("/api/v1/conversations/abc").await;
    assert_eq!(bad_id.status(), 400);
    assert_eq!(app.get("/api/v1/conversations/999").await.status(), 404);
    assert_eq!(app.get("/api/v1/nothing-here").await.status(), 404);
    // Nothing was stored by the rejected requests.
    assert_eq!(app.messages(c).await.len(), 1);
}

#[tokio::test]
async fn conversation_status_assignment_and_reopening() {
    let app = spawn_app().await;
    let c = app.customer_says("chat-1", "m-1", "help").await["conversation_id"]
        .as_i64()
        .unwrap();
    let me = app.get_json("/api/v1/me").await["agent"]["id"]
        .as_i64()
        .unwrap();
    let path = format!("/api/v1/conversations/{c}");
    let patched = app
        .send_json(
            reqwest::Method::PATCH,
            &path,
            json!({"status": "resolved", "assignee_id": me, "priority": "high"}),
        )
        .await;
    assert_eq!(patched.status(), 200);
    let patched: Value = patched.json().await.unwrap();
    assert_eq!(patched["conversation"]["status"], "resolved");
    assert_eq!(patched["conversation"]["assignee_id"], me);
    assert_eq!(patched["conversation"]["priority"], "high");

    let mine = app.get_json("/api/v1/conversations?assignee=me").await;
    assert_eq!(mine["conversations"].as_array().unwrap().len(), 1);
    let unassigned = app.get_json("/api/v1/conversations?assignee=none").await;
    assert_eq!(unassigned["conversations"].as_array().unwrap().len(), 0);
    let open = app.get_json("/api/v1/conversations?status=open").await;
    assert_eq!(open["conversations"].as_array().unwrap().len(), 0);

    app.customer_says("chat-1", "m-2", "still broken").await;
    let reopened = app.get_json(&path).await;
    assert_eq!(reopened["conversation"]["status"], "open");
    assert_eq!(
        reopened["conversation"]["assignee_id"], me,
        "assignment survives reopening"
    );

    let unassign = app
        .send_json(reqwest::Method::PATCH, &path, json!({"assignee_id": null}))
        .await;
    assert_eq!(
        unassign.json::<Value>().await.unwrap()["conversation"]["assignee_id"],
        Value::Null
    );
    let bad = app
        .send_json(reqwest::Method::PATCH, &path, json!({"status": "closed"}))
        .await;
    assert_eq!(bad.status(), 400);
    let ghost = app
        .send_json(reqwest::Method::PATCH, &path, json!({"assignee_id": 4242}))
        .await;
    assert_eq!(ghost.status(), 400);
    let bad_filter = app.get("/api/v1/conversations?status=closed").await;
    assert_eq!(bad_filter.status(), 400);
}

#[tokio::test]
async fn participants_are_set_as_a_list_of_checked_addresses() {
    let app = spawn_app().await;
    let c = app.customer_says("chat-1", "m-1", "help").await["conversation_id"]
        .as_i64()
        .unwrap();
    let path = format!("/api/v1/conversations/{c}/participants");
    let put = |body: Value| app.send_json(reqwest::Method::PUT, &path, body);
    let ok = put(
        json!({ "participants": [" Bob@Example.com ", "carol@example.org", "bob@example.com"] }),
    )
    .await;
    assert_eq!(ok.status(), 200);
    let expected = json!(["bob@example.com", "carol@example.org"]);
    assert_eq!(ok.json::<Value>().await.unwrap()["participants"], expected);
    let detail = app.get_json(&format!("/api/v1/conversations/{c}")).await;
    assert_eq!(detail["participants"], expected);
    assert_eq!(app.get_json(&path).await["participants"], expected);

    for bad in [
        "no-at-sign",
        "a b@example.com",
        "x@localhost",
        "<x@example.com>",
        "@example.com",
    ] {
        let refused = put(json!({ "participants": [bad] })).await;
        assert_eq!(refused.status(), 400, "{bad}");
        let body: Value = refused.json().await.unwrap();
        assert!(
            body["error"].as_str().unwrap().contains("participants[0]"),
            "{body}"
        );
    }
    let crowd: Vec<String> = (0..21).map(|i| format!("p{i}@example.com")).collect();
    assert_eq!(put(json!({ "participants": crowd })).await.status(), 400);
    // Nothing half-applied by the refusals; an empty list clears it.
    assert_eq!(
        app.get_json(&format!("/api/v1/conversations/{c}")).await["participants"],
        expected
    );
    assert_eq!(put(json!({ "participants": [] })).await.status(), 200);
    assert_eq!(
        app.get_json(&format!("/api/v1/conversations/{c}")).await["participants"],
        json!([])
    );
    let missing = app
        .send_json(
            reqwest::Method::PUT,
            "/api/v1/conversations/999/participants",
            json!({ "participants": [] }),
        )
        .await;
    assert_eq!(missing.status(), 404);
}

#[tokio::test]
async fn inbox_pages_with_a_cursor_and_searches_text() {
    let app = spawn_app().await;
    for i in 0..5 {
        app.customer_says(
            &format!("chat-{i}"),
            &format!("m-{i}"),
            &format!("question number {i}"),
        )
        .await;
    }
    app.customer_says("chat-x", "m-x", "my seed phrase 100% leaked")
        .await;
    let first = app.get_json("/api/v1/conversations?limit=4").await;
    assert_eq!(first["conversations"].as_array().unwrap().len(), 4);
    let cursor = first["next_cursor"].as_str().unwrap();
    let second = app
        .get_json(&format!("/api/v1/conversations?limit=4&cursor={cursor}"))
        .await;
    assert_eq!(second["conversations"].as_array().unwrap().len(), 2);
    assert_eq!(second["next_cursor"], Value::Null);
    let mut ids: Vec<i64> = [&first, &second]
        .iter()
        .flat_map(|p| {
            p["conversations"]
                .as_array()
                .unwrap()
                .iter()
                .map(|c| c["id"].as_i64().unwrap())
        })
        .collect();
    ids.dedup();
    assert_eq!(ids.len(), 6, "pages neither overlap nor skip");

    let found = app.get_json("/api/v1/conversations?q=seed%20phrase").await;
    assert_eq!(found["conversations"].as_array().unwrap().len(), 1);
    // LIKE wildcards in the query are literal.
    let percent = app.get_json("/api/v1/conversations?q=100%25").await;
    assert_eq!(percent["conversations"].as_array().unwrap().len(), 1);
    let none = app.get_json("/api/v1/conversations?q=zzz_nothing").await;
    assert_eq!(none["conversations"].as_array().unwrap().len(), 0);
}

#[tokio::test]
async fn a_customer_on_two_channels_becomes_one_contact_when_merged() {
    let app = spawn_app_with(|c| {
        c.channels.push(ChannelConfig::Api(ApiChannelConfig {
            name: "mobile".into(),
            secret: SECRET.into(),
            webhook_url: None,
            timeout: std::time::Duration::from_secs(5),
        }))
    })
    .await;
    let web = app.customer_says("chat-1", "m-1", "hello from web").await;
    let mobile = app
        .post_inbound(
            "mobile",
            json!({"thread_id": "app-1", "message_id": "a-1", "sender": {"id": "user-9", "name": "Carol C."}, "text": "hello from app"}),
        )
        .await
        .json::<Value>()
        .await
        .unwrap();
    let conv = |v: &Value| v["conversation_id"].as_i64().unwrap();
    let contact_of = |c: Value| c["conversation"]["contact"]["id"].as_i64().unwrap();
    let web_contact = contact_of(
        app.get_json(&format!("/api/v1/conversations/{}", conv(&web)))
            .await,
    );
    let mobile_contact = contact_of(
        app.get_json(&format!("/api/v1/conversations/{}", conv(&mobile)))
            .await,
    );
    assert_ne!(web_contact, mobile_contact);

    let merged = app
        .send_json(
            reqwest::Method::POST,
            &format!("/api/v1/contacts/{mobile_contact}/merge"),
            json!({"into": web_contact}),
        )
        .await;
    assert_eq!(merged.status(), 200);
    let contact = app
        .get_json(&format!("/api/v1/contacts/{web_contact}"))
        .await["contact"]
        .clone();
    let channels: Vec<&str> = contact["identities"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["channel"].as_str().unwrap())
        .collect();
    assert_eq!(channels, ["website", "mobile"]);
    assert_eq!(contact["conversations"].as_array().unwrap().len(), 2);
    // The merged-away id still resolves to the surviving contact.
    let old = app
        .get_json(&format!("/api/v1/contacts/{mobile_contact}"))
        .await;
    assert_eq!(old["contact"]["id"], web_contact);
    // New mail from the merged identity lands on the surviving contact.
    let later = app
        .post_inbound(
            "mobile",
            json!({"thread_id": "app-2", "message_id": "a-2", "sender": {"id": "user-9"}, "text": "again"}),
        )
        .await
        .json::<Value>()
        .await
        .unwrap();
    assert_eq!(
        contact_of(
            app.get_json(&format!("/api/v1/conversations/{}", conv(&later)))
                .await
        ),
        web_contact
    );
    let twice = app
        .send_json(
            reqwest::Method::POST,
            &format!("/api/v1/contacts/{mobile_contact}/merge"),
            json!({"into": web_contact}),
        )
        .await;
    assert_eq!(twice.status(), 409);
    // A reply on a channel without a webhook fails with a reason instead of vanishing.
    let reply = app.post_reply(conv(&mobile), "hi").await;
    let failed = app
        .wait_for_status(conv(&mobile), reply["id"].as_i64().unwrap(), "failed")
        .await;
    assert!(failed["error"].as_str().unwrap().contains("webhook_url"));
}

#[tokio::test]
async fn openapi_document_describes_the_routes() {
    let app = spawn_app().await;
    let doc: Value = app
        .client
        .get(app.url("/api/openapi.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    for path in [
        "/api/v1/conversations",
        "/api/v1/conversations/{id}/messages",
        "/api/v1/messages/{id}/retry",
        "/api/v1/events",
        "/healthz",
    ] {
        assert!(doc["paths"][path].is_object(), "{path} missing");
    }
    assert!(doc["components"]["schemas"]["Message"].is_object());
}

#[tokio::test]
async fn metrics_count_ingest_and_deliveries_behind_a_token() {
    let app = spawn_app().await;
    assert_eq!(
        app.client
            .get(app.url("/metrics"))
            .send()
            .await
            .unwrap()
            .status(),
        401
    );
    let c = app.customer_says("chat-1", "m-1", "help").await["conversation_id"]
        .as_i64()
        .unwrap();
    app.customer_says("chat-1", "m-1", "help").await;
    app.hook.answer(&[503]);
    let id = app.post_reply(c, "hi").await["id"].as_i64().unwrap();
    app.wait_for_status(c, id, "sent").await;
    let text = app.get("/metrics").await.text().await.unwrap();
    for line in [
        r#"switchboard_inbound_messages_total{channel="website",outcome="created"} 1"#,
        r#"switchboard_inbound_messages_total{channel="website",outcome="duplicate"} 1"#,
        r#"switchboard_delivery_attempts_total{channel="website",outcome="retry"} 1"#,
        r#"switchboard_delivery_attempts_total{channel="website",outcome="delivered"} 1"#,
        r#"switchboard_channel_up{channel="website"} 1"#,
    ] {
        assert!(text.contains(line), "{line} missing in:\n{text}");
    }
}

#[tokio::test]
async fn private_notes_stay_internal_and_canned_answers_are_managed() {
    let app = spawn_app().await;
    let c = app
        .customer_says("chat-1", "m-1", "they asked for my seed phrase")
        .await["conversation_id"]
        .as_i64()
        .unwrap();
    let path = format!("/api/v1/conversations/{c}/notes");
    let note = app
        .send_json(
            reqwest::Method::POST,
            &path,
            json!({"text": "Likely phishing, escalate to security"}),
        )
        .await;
    assert_eq!(note.status(), 201);
    let notes = app.get_json(&path).await;
    assert_eq!(
        notes["notes"][0]["text"],
        "Likely phishing, escalate to security"
    );
    assert_eq!(notes["notes"][0]["agent_name"], "Alice Agent");
    assert_eq!(app.messages(c).await.len(), 1, "a note is not a message");
    assert!(app.hook.received().is_empty(), "a note is never sent");
    assert_eq!(
        app.get("/api/v1/conversations/999/notes").await.status(),
        404
    );

    let canned = json!({"shortcut": "seed-phrase", "title": "Never share your seed phrase",
                        "text": "We will never ask for your seed phrase. Anyone who does is a scammer."});
    let created = app
        .send_json(
            reqwest::Method::POST,
            "/api/v1/canned_answers",
            canned.clone(),
        )
        .await;
    assert_eq!(created.status(), 201);
    let id = created.json::<Value>().await.unwrap()["canned_answer"]["id"]
        .as_i64()
        .unwrap();
    assert_eq!(
        app.send_json(reqwest::Method::POST, "/api/v1/canned_answers", canned)
            .await
            .status(),
        409
    );
    let bad = app
        .send_json(
            reqwest::Method::POST,
            "/api/v1/canned_answers",
            json!({"shortcut": "a b", "title": "t", "text": "x"}),
        )
        .await;
    assert_eq!(bad.status(), 400);
    let found = app.get_json("/api/v1/canned_answers?q=scammer").await;
    assert_eq!(found["canned_answers"].as_array().unwrap().len(), 1);
    let patched = app
        .send_json(
            reqwest::Method::PATCH,
            &format!("/api/v1/canned_answers/{id}"),
            json!({"title": "Seed phrase warning"}),
        )
        .await;
    assert_eq!(
        patched.json::<Value>().await.unwrap()["canned_answer"]["title"],
        "Seed phrase warning"
    );
    let deleted = app
        .client
        .delete(app.url(&format!("/api/v1/canned_answers/{id}")))
        .bearer_auth(&app.token)
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.status(), 204);
    assert!(
        app.get_json("/api/v1/canned_answers").await["canned_answers"]
            .as_array()
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn web_inbox_is_served_with_a_strict_content_security_policy() {
    let app = spawn_app().await;
    let page = app.client.get(app.url("/inbox/")).send().await.unwrap();
    assert_eq!(page.status(), 200);
    let csp = page.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        csp.contains("script-src 'self'") && !csp.contains("unsafe-inline"),
        "{csp}"
    );
    let html = page.text().await.unwrap();
    assert!(html.contains(r#"<script src="/inbox/app.js" defer></script>"#));
    assert!(!html.contains("<script>"), "no inline script");
    let js = app
        .client
        .get(app.url("/inbox/app.js"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    // Customer text only ever goes through textContent.
    assert!(
        !js.contains("innerHTML")
            && !js.contains("insertAdjacentHTML")
            && !js.contains("document.write")
    );
    // Every asset the page links is served (no 404 in the browser's console).
    for linked in ["/inbox/app.css", "/inbox/favicon.svg"] {
        assert!(html.contains(linked), "{linked}");
        let asset = app.client.get(app.url(linked)).send().await.unwrap();
        assert_eq!(asset.status(), 200, "{linked}");
        assert_eq!(asset.headers()["x-content-type-options"], "nosniff");
    }
    let root = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let redirect = root.get(app.url("/")).send().await.unwrap();
    assert_eq!(redirect.headers()["location"], "/inbox/");
}
