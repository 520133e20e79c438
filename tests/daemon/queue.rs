//! Queue management through the real daemon: teams and labels by API, the activity timeline,
//! list filters, urgency raising priority with a reason, routing rules from the
//! configuration, round-robin assignment among online members below capacity, and the SLA
//! clock (due times, a breach recorded once, counted in /metrics).

use crate::helpers::{TestApp, eventually, open_store, spawn_app_with};
use serde_json::{Value, json};
use switchboard::automation::routing::{RuleConfig, SlaPolicy, TeamConfig};
use switchboard::config::Config;
use switchboard::store::Role;

async fn says(app: &TestApp, thread: &str, id: &str, text: &str) -> i64 {
    app.customer_says(thread, id, text).await["conversation_id"]
        .as_i64()
        .unwrap()
}

async fn conversation(app: &TestApp, id: i64) -> Value {
    app.get_json(&format!("/api/v1/conversations/{id}")).await["conversation"].clone()
}

async fn patch(app: &TestApp, id: i64, body: Value) -> reqwest::Response {
    app.send_json(
        reqwest::Method::PATCH,
        &format!("/api/v1/conversations/{id}"),
        body,
    )
    .await
}

async fn agent(app: &TestApp, name: &str) -> (i64, String) {
    let store = open_store(app).await;
    let email = format!("{}@example.com", name.to_lowercase());
    let (agent, token) = store.create_agent(name, &email, Role::Agent).await.unwrap();
    (agent.id, token)
}

/// Makes an agent count as online: the API saw them.
async fn online(app: &TestApp, token: &str) {
    let response = app
        .client
        .get(app.url("/api/v1/me"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
}

fn ids(list: &Value) -> Vec<i64> {
    let mut ids: Vec<i64> = list["conversations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_i64().unwrap())
        .collect();
    ids.sort_unstable();
    ids
}

fn rules(text: &str) -> Vec<RuleConfig> {
    #[derive(serde::Deserialize)]
    struct File {
        rule: Vec<RuleConfig>,
    }
    toml::from_str::<File>(text).unwrap().rule
}

#[tokio::test]
async fn teams_labels_and_priority_are_kept_in_the_timeline_and_filter_the_list() {
    let app = spawn_app_with(|_| {}).await;
    let (bob, bob_token) = agent(&app, "Bob").await;
    let first = says(&app, "t1", "m1", "where is my deposit").await;
    let second = says(&app, "t2", "m2", "充值没到账").await;

    // Admins make teams; agents may not.
    // Not Chinese: the desk may still be triaging the messages above by language.
    let body = json!({"name": "China desk", "languages": ["ja"], "members": [bob]});
    let refused = app
        .client
        .post(app.url("/api/v1/teams"))
        .bearer_auth(&bob_token)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 403);
    let created = app
        .send_json(reqwest::Method::POST, "/api/v1/teams", body.clone())
        .await;
    assert_eq!(created.status(), 201);
    let team: Value = created.json().await.unwrap();
    let team_id = team["team"]["id"].as_i64().unwrap();
    assert_eq!(team["team"]["members"], json!([bob]));
    assert_eq!(team["team"]["source"], "api");
    let again = app
        .send_json(reqwest::Method::POST, "/api/v1/teams", body)
        .await;
    assert_eq!(again.status(), 409, "names are unique");
    let bad = app
        .send_json(
            reqwest::Method::POST,
            "/api/v1/teams",
            json!({"name": "x", "languages": ["chinese"]}),
        )
        .await;
    assert_eq!(bad.status(), 400);

    // An agent sets team, labels and priority in one change; each is a timeline entry.
    let changed = app
        .client
        .patch(app.url(&format!("/api/v1/conversations/{second}")))
        .bearer_auth(&bob_token)
        .json(&json!({"team_id": team_id, "labels": ["deposit", "vip", "deposit"], "priority": "high"}))
        .send()
        .await
        .unwrap();
    assert_eq!(changed.status(), 200);
    let c: Value = changed.json().await.unwrap();
    assert_eq!(c["conversation"]["team"], "China desk");
    assert_eq!(c["conversation"]["team_id"], team_id);
    assert_eq!(c["conversation"]["labels"], json!(["deposit", "vip"]));
    assert_eq!(c["conversation"]["priority"], "high");
    let activity = app
        .get_json(&format!("/api/v1/conversations/{second}/activity"))
        .await;
    let entries = activity["activity"].as_array().unwrap();
    let fields: Vec<&str> = entries
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    assert_eq!(fields, ["priority", "team", "labels"], "{entries:#?}");
    assert!(
        entries
            .iter()
            .all(|e| e["agent_id"] == bob && e["actor"] == "agent")
    );
    assert_eq!(entries[0]["old_value"], "normal");
    assert_eq!(entries[0]["new_value"], "high");
    assert_eq!(entries[1]["new_value"], "China desk");
    assert!(entries[0]["at"].as_str().unwrap().ends_with('Z'));

    // Labels get colours, and an agent may change one.
    let labels = app.get_json("/api/v1/labels").await;
    let names: Vec<&str> = labels["labels"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["deposit", "vip"]);
    assert!(
        labels["labels"][0]["color"]
            .as_str()
            .unwrap()
            .starts_with('#')
    );
    let recolored = app
        .send_json(
            reqwest::Method::PUT,
            "/api/v1/labels/vip",
            json!({"color": "#FF0000"}),
        )
        .await;
    assert_eq!(recolored.status(), 200);
    assert_eq!(
        recolored.json::<Value>().await.unwrap()["label"]["color"],
        "#ff0000"
    );
    let bad = patch(&app, first, json!({"labels": ["a\"b"]})).await;
    assert_eq!(bad.status(), 400);
    let bad = app
        .send_json(
            reqwest::Method::PUT,
            "/api/v1/labels/vip",
            json!({"color": "red"}),
        )
        .await;
    assert_eq!(bad.status(), 400);

    // The list filters by team, label, priority and language.
    let list = |q: &str| {
        let app = &app;
        let q = q.to_owned();
        async move { ids(&app.get_json(&format!("/api/v1/conversations?{q}")).await) }
    };
    assert_eq!(list(&format!("team={team_id}")).await, [second]);
    assert_eq!(list("team=none").await, [first]);
    assert_eq!(list("label=vip").await, [second]);
    assert_eq!(
        list("label=vi").await,
        Vec::<i64>::new(),
        "whole labels only"
    );
    assert_eq!(list("priority=high").await, [second]);
    assert_eq!(list("priority=normal").await, [first]);
    assert_eq!(list("language=zh").await, [second]);
    assert_eq!(list("language=en").await, [first]);
    let bad = app.get("/api/v1/conversations?priority=asap").await;
    assert_eq!(bad.status(), 400);
    let bad = app.get("/api/v1/conversations?team=abc").await;
    assert_eq!(bad.status(), 400);

    // Deleting the team leaves its conversation without one.
    let gone = app
        .send_json(
            reqwest::Method::DELETE,
            &format!("/api/v1/teams/{team_id}"),
            json!({}),
        )
        .await;
    assert_eq!(gone.status(), 204);
    assert_eq!(conversation(&app, second).await["team"], Value::Null);
    app.stop().await;
}

fn routed(c: &mut Config) {
    c.teams = vec![
        TeamConfig {
            name: "china".into(),
            languages: vec!["zh".into()],
            members: vec![],
            auto_assign: false,
        },
        TeamConfig {
            name: "security".into(),
            languages: vec![],
            members: vec![],
            auto_assign: false,
        },
    ];
    c.rules = rules(
        r#"
[[rule]]
name = "security-words"
when = { words = ["seed phrase", "助记词"] }
then = { team = "security", labels = ["security"] }

[[rule]]
name = "vip"
when = { words = ["premium account"] }
then = { priority = "high", labels = ["vip"], canned = "vip-hello" }
"#,
    );
}

#[tokio::test]
async fn urgency_and_rules_triage_each_customer_message() {
    let app = spawn_app_with(routed).await;
    let store = open_store(&app).await;
    let admin = store.authenticate(&app.token).await.unwrap().unwrap();
    store
        .add_canned_answer(
            &admin,
            "vip-hello",
            "VIP greeting",
            "Welcome back, a VIP agent is on it.",
        )
        .await
        .unwrap();

    // Chinese: the team answering in Chinese, no other rule.
    let chinese = says(&app, "c1", "m1", "你好，我想问一下提币手续费是多少").await;
    let c = eventually(|| async {
        let c = conversation(&app, chinese).await;
        (c["team"] == "china").then_some(c)
    })
    .await;
    assert_eq!(c["priority"], "normal");
    assert_eq!(c["priority_reason"], Value::Null);

    // Stolen funds: urgent, with the reason; the first rule's team and label too.
    let stolen = says(
        &app,
        "s1",
        "m2",
        "Someone drained my wallet after a 'support' guy asked for my seed phrase!",
    )
    .await;
    let c = eventually(|| async {
        let c = conversation(&app, stolen).await;
        (c["priority"] == "urgent").then_some(c)
    })
    .await;
    assert!(
        c["priority_reason"]
            .as_str()
            .unwrap()
            .starts_with("urgency: stolen"),
        "{c}"
    );
    let c = eventually(|| async {
        let c = conversation(&app, stolen).await;
        (c["team"] == "security").then_some(c)
    })
    .await;
    assert_eq!(c["labels"], json!(["security"]));
    let activity = app
        .get_json(&format!("/api/v1/conversations/{stolen}/activity"))
        .await;
    let actors: Vec<(&str, &str)> = activity["activity"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["actor"].as_str().unwrap(), e["field"].as_str().unwrap()))
        .collect();
    assert_eq!(
        actors,
        [
            ("urgency", "priority"),
            ("rule:security-words", "team"),
            ("rule:security-words", "labels")
        ]
    );

    // An agent's team choice is kept: a later matching message does not move it back.
    let security_team = c["team_id"].as_i64().unwrap();
    let teams = app.get_json("/api/v1/teams").await;
    let china = teams["teams"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == "china")
        .unwrap()["id"]
        .as_i64()
        .unwrap();
    assert_ne!(china, security_team);
    assert_eq!(
        patch(&app, stolen, json!({"team_id": china}))
            .await
            .status(),
        200
    );
    says(
        &app,
        "s1",
        "m3",
        "my seed phrase is safe now, I moved what was left",
    )
    .await;
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    assert_eq!(conversation(&app, stolen).await["team"], "china");
    // Configured teams are changed in the file, not by the API.
    let refused = app
        .send_json(
            reqwest::Method::PUT,
            &format!("/api/v1/teams/{china}"),
            json!({"name": "renamed"}),
        )
        .await;
    assert_eq!(refused.status(), 409);

    // A canned answer from a rule goes out once, however often the rule matches.
    let vip = says(&app, "v1", "m4", "Hi, I have a premium account question").await;
    says(&app, "v1", "m5", "about my premium account fees").await;
    eventually(|| async {
        let c = conversation(&app, vip).await;
        (c["priority"] == "high" && c["labels"] == json!(["vip"])).then_some(())
    })
    .await;
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    let automatic: Vec<String> = app
        .messages(vip)
        .await
        .iter()
        .filter(|m| m["auto_generated"] == true)
        .map(|m| m["text"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(automatic, ["Welcome back, a VIP agent is on it."]);
    app.stop().await;
}

#[tokio::test]
async fn conversations_go_round_robin_to_online_members_below_capacity() {
    let app = spawn_app_with(|c| {
        c.assignment.capacity = 2;
        c.teams = vec![TeamConfig {
            name: "support".into(),
            languages: vec!["en".into()],
            members: vec![
                "bob@example.com".into(),
                "carol@example.com".into(),
                "dave@example.com".into(),
            ],
            auto_assign: true,
        }];
    })
    .await;
    let (bob, bob_token) = agent(&app, "Bob").await;
    let (carol, carol_token) = agent(&app, "Carol").await;
    agent(&app, "Dave").await;
    // The members were created after the start: a restart writes the team with them.
    let app = app.restart().await;
    online(&app, &bob_token).await;
    online(&app, &carol_token).await;
    // Presence is written off the request path.
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;

    let mut conversations = Vec::new();
    for n in 0..5 {
        let id = says(
            &app,
            &format!("rr{n}"),
            &format!("m{n}"),
            "Hello, I cannot find the deposit I made this morning to my wallet",
        )
        .await;
        eventually(|| async {
            let c = conversation(&app, id).await;
            (c["team"] == "support").then_some(())
        })
        .await;
        conversations.push(id);
    }
    let assignees = eventually(|| async {
        let mut out = Vec::new();
        for id in &conversations {
            out.push(conversation(&app, *id).await["assignee_id"].as_i64());
        }
        (out.iter().filter(|a| a.is_some()).count() == 4).then_some(out)
    })
    .await;
    // Alternating between the two online members; Dave is offline; capacity 2 each.
    assert_eq!(
        assignees[..4],
        [Some(bob), Some(carol), Some(bob), Some(carol)]
    );
    assert_eq!(assignees[4], None, "everyone is at capacity");
    let activity = app
        .get_json(&format!(
            "/api/v1/conversations/{}/activity",
            conversations[0]
        ))
        .await;
    assert!(
        activity["activity"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["actor"] == "assignment"
                && e["new_value"].as_str() == Some(bob.to_string().as_str()))
    );

    // Bob resolves one: the waiting conversation goes to him at the next sweep.
    assert_eq!(
        patch(&app, conversations[0], json!({"status": "resolved"}))
            .await
            .status(),
        200
    );
    let waiting = conversations[4];
    eventually(|| async {
        (conversation(&app, waiting).await["assignee_id"] == bob).then_some(())
    })
    .await;
    app.stop().await;
}

#[tokio::test]
async fn the_sla_clock_shows_due_times_and_records_a_breach_once() {
    let app = spawn_app_with(|c| {
        c.sla.normal = Some(SlaPolicy {
            first_response: Some(std::time::Duration::from_secs(2)),
            next_response: Some(std::time::Duration::from_secs(3600)),
            resolution: Some(std::time::Duration::from_secs(24 * 3600)),
        });
    })
    .await;
    let late = says(&app, "sla1", "m1", "hello, anyone there?").await;
    let sla = eventually(|| async {
        let c = conversation(&app, late).await;
        (!c["sla"].is_null()).then_some(c["sla"].clone())
    })
    .await;
    let created = chrono::DateTime::parse_from_rfc3339(
        conversation(&app, late).await["created_at"]
            .as_str()
            .unwrap(),
    )
    .unwrap();
    let due = chrono::DateTime::parse_from_rfc3339(sla["first_response_due_at"].as_str().unwrap())
        .unwrap();
    assert_eq!((due - created).num_milliseconds(), 2_000);
    assert_eq!(sla["breached"], false);
    assert_eq!(sla["next_response_due_at"], Value::Null);

    // Answered in time: never breached, and the next response is due only once the
    // customer writes again.
    let on_time = says(&app, "sla2", "m2", "hello, question about fees").await;
    eventually(|| async { (!conversation(&app, on_time).await["sla"].is_null()).then_some(()) })
        .await;
    app.post_reply(on_time, "Hi! Fees are 0.1%.").await;
    says(&app, "sla2", "m3", "thanks, and for TRON?").await;
    let sla = eventually(|| async {
        let sla = conversation(&app, on_time).await["sla"].clone();
        (!sla["next_response_due_at"].is_null()).then_some(sla)
    })
    .await;
    assert_eq!(sla["breached"], false);
    assert!(!sla["first_response_at"].is_null());

    // The late one is breached, recorded once, counted once.
    let sla = eventually(|| async {
        let sla = conversation(&app, late).await["sla"].clone();
        (sla["breached"] == true).then_some(sla)
    })
    .await;
    assert_eq!(sla["breaches"], json!(["first_response"]));
    let counted = eventually(|| async {
        let text = app.get("/metrics").await.text().await.unwrap();
        text.lines()
            .find(|l| l.starts_with("switchboard_sla_breaches_total{"))
            .map(str::to_owned)
    })
    .await;
    assert_eq!(
        counted,
        "switchboard_sla_breaches_total{channel=\"website\",outcome=\"first_response\"} 1"
    );
    // A late answer does not undo the breach; several sweeps later it is still counted once.
    app.post_reply(late, "Sorry for the wait!").await;
    tokio::time::sleep(std::time::Duration::from_secs(6)).await;
    let sla = conversation(&app, late).await["sla"].clone();
    assert_eq!(sla["breaches"], json!(["first_response"]));
    let text = app.get("/metrics").await.text().await.unwrap();
    assert!(text.contains("outcome=\"first_response\"} 1"), "{text}");
    assert_eq!(conversation(&app, on_time).await["sla"]["breached"], false);
    app.stop().await;
}

/// `(field, old, new, actor)` of a conversation's timeline.
async fn timeline(app: &TestApp, id: i64) -> Vec<(String, Value, Value, String)> {
    let activity = app
        .get_json(&format!("/api/v1/conversations/{id}/activity"))
        .await;
    activity["activity"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["field"].as_str().unwrap().to_owned(),
                e["old_value"].clone(),
                e["new_value"].clone(),
                e["actor"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

const REMINDER: &str = "We are still waiting for your answer";

async fn reminders(app: &TestApp, id: i64) -> usize {
    app.messages(id)
        .await
        .iter()
        .filter(|m| {
            m["auto_generated"] == true && m["text"].as_str().unwrap().starts_with(REMINDER)
        })
        .count()
}

#[tokio::test]
async fn pending_conversations_are_reminded_once_then_resolved_and_snoozed_ones_wake_up() {
    let app = spawn_app_with(|c| {
        c.follow_up.remind_after = Some(std::time::Duration::from_secs(1));
        c.follow_up.resolve_after = Some(std::time::Duration::from_secs(7));
    })
    .await;
    let waiting = says(&app, "fu1", "m1", "my deposit did not arrive").await;
    app.post_reply(waiting, "Which network did you send it on?")
        .await;
    assert_eq!(
        patch(&app, waiting, json!({"status": "pending"}))
            .await
            .status(),
        200
    );
    // The customer answers: pending turns open again, and no reminder goes out.
    let answered = says(&app, "fu2", "m2", "withdrawal stuck").await;
    assert_eq!(
        patch(&app, answered, json!({"status": "pending"}))
            .await
            .status(),
        200
    );
    says(&app, "fu2", "m3", "it was on TRON").await;
    assert_eq!(conversation(&app, answered).await["status"], "open");

    // Snoozed until a time: shown, validated, and open again at that time.
    let snoozed = says(&app, "fu3", "m4", "please check tomorrow").await;
    let now = chrono::Utc::now();
    let past = (now - chrono::Duration::seconds(5)).to_rfc3339();
    let far = (now + chrono::Duration::days(400)).to_rfc3339();
    for (body, why) in [
        (
            json!({"status": "snoozed", "snoozed_until": past}),
            "in the past",
        ),
        (
            json!({"status": "snoozed", "snoozed_until": far}),
            "over a year ahead",
        ),
        (
            json!({"status": "snoozed", "snoozed_until": "tomorrow"}),
            "not RFC 3339",
        ),
        (
            json!({"status": "open", "snoozed_until": (now + chrono::Duration::hours(1)).to_rfc3339()}),
            "not snoozed",
        ),
    ] {
        assert_eq!(patch(&app, snoozed, body).await.status(), 400, "{why}");
    }
    let wake =
        (now + chrono::Duration::seconds(2)).to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    let response = patch(
        &app,
        snoozed,
        json!({"status": "snoozed", "snoozed_until": wake}),
    )
    .await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["conversation"]["status"], "snoozed");
    assert_eq!(body["conversation"]["snoozed_until"], wake.as_str());
    // Snoozed without a time: until the customer writes, never by the clock.
    let indefinitely = says(&app, "fu4", "m5", "I will send the screenshot next week").await;
    assert_eq!(
        patch(&app, indefinitely, json!({"status": "snoozed"}))
            .await
            .status(),
        200
    );
    assert_eq!(
        conversation(&app, indefinitely).await["snoozed_until"],
        Value::Null
    );

    // One reminder, in the timeline too.
    eventually(|| async { (reminders(&app, waiting).await == 1).then_some(()) }).await;
    assert!(
        timeline(&app, waiting)
            .await
            .iter()
            .any(|(field, _, new, actor)| field == "reminder"
                && new == "sent"
                && actor == "follow_up"),
        "{:?}",
        timeline(&app, waiting).await
    );
    let woke = eventually(|| async {
        let c = conversation(&app, snoozed).await;
        (c["status"] == "open").then_some(c)
    })
    .await;
    assert_eq!(woke["snoozed_until"], Value::Null);
    assert!(
        timeline(&app, snoozed)
            .await
            .iter()
            .any(|(field, old, new, _)| field == "status" && old == "snoozed" && new == "open")
    );

    // Still no answer: resolved, with the one reminder only.
    eventually(|| async {
        (conversation(&app, waiting).await["status"] == "resolved").then_some(())
    })
    .await;
    assert_eq!(reminders(&app, waiting).await, 1);
    let last = timeline(&app, waiting).await.pop().unwrap();
    assert_eq!(
        (last.0.as_str(), last.1, last.2),
        ("status", json!("pending"), json!("resolved"))
    );
    assert_eq!(reminders(&app, answered).await, 0);
    assert_eq!(conversation(&app, answered).await["status"], "open");
    assert_eq!(conversation(&app, indefinitely).await["status"], "snoozed");

    // A customer who writes after the reminder starts the stretch over: pending again later
    // gets a new reminder.
    says(&app, "fu1", "m6", "sorry, it was TRON").await;
    assert_eq!(conversation(&app, waiting).await["status"], "open");
    assert_eq!(
        patch(&app, waiting, json!({"status": "pending"}))
            .await
            .status(),
        200
    );
    eventually(|| async { (reminders(&app, waiting).await == 2).then_some(()) }).await;
    app.stop().await;
}
