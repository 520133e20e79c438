//! Reports through the real daemon: the summary's counts, times, SLA and satisfaction in all
//! and per channel, team, language and category, its filters and CSV; the agents' report
//! (admins only); bounds on the range.

use crate::helpers::{TestApp, eventually, open_store, spawn_app_with};
use serde_json::{Value, json};
use switchboard::automation::routing::SlaPolicy;
use switchboard::store::Role;

async fn says(app: &TestApp, thread: &str, id: &str, text: &str) -> i64 {
    app.customer_says(thread, id, text).await["conversation_id"]
        .as_i64()
        .unwrap()
}

async fn patch(app: &TestApp, id: i64, body: Value) {
    let response = app
        .send_json(
            reqwest::Method::PATCH,
            &format!("/api/v1/conversations/{id}"),
            body,
        )
        .await;
    assert_eq!(response.status(), 200);
}

#[tokio::test]
async fn the_summary_adds_up_per_dimension_and_exports_as_csv() {
    let app = spawn_app_with(|c| {
        c.csat.enabled = true;
        c.sla.normal = Some(SlaPolicy {
            first_response: Some(std::time::Duration::from_secs(3600)),
            ..SlaPolicy::default()
        });
    })
    .await;
    let team = app
        .send_json(
            reqwest::Method::POST,
            "/api/v1/teams",
            json!({"name": "China desk", "languages": ["zh"]}),
        )
        .await
        .json::<Value>()
        .await
        .unwrap()["team"]["id"]
        .as_i64()
        .unwrap();
    // Three answered and resolved (one in Chinese, for the team), one left waiting.
    let mut answered = Vec::new();
    for (n, text) in [
        "my deposit did not arrive",
        "the transfer failed",
        "我的充值没有到账",
    ]
    .iter()
    .enumerate()
    {
        let id = says(&app, &format!("r{n}"), &format!("r{n}-1"), text).await;
        app.post_reply(id, "Sorted, please check.").await;
        answered.push(id);
    }
    patch(&app, answered[2], json!({"team_id": team})).await;
    for id in &answered {
        patch(&app, *id, json!({"status": "resolved"})).await;
    }
    let waiting = says(&app, "r9", "r9-1", "hello?").await;
    // The first survey is rated 4.
    eventually(|| async {
        let n = app.messages(answered[0]).await.len();
        (n >= 3).then_some(())
    })
    .await;
    says(&app, "r0", "r0-2", "4").await;
    // The customer writes again after the resolution: reopened.
    says(&app, "r1", "r1-2", "it failed again").await;

    let summary = app.get_json("/api/v1/reports/summary").await;
    let t = &summary["totals"];
    assert_eq!(t["new"], 4, "{summary:#}");
    assert_eq!(t["resolved"], 2, "one of three was reopened: {summary:#}");
    assert_eq!(t["reopened"], 1);
    assert_eq!(t["first_response_seconds"]["count"], 3);
    assert!(t["first_response_seconds"]["p50"].as_f64().unwrap() >= 0.0);
    assert!(!t["resolution_seconds"]["p90"].is_null());
    assert_eq!(t["sla"]["total"], 4);
    assert_eq!(t["sla"]["breached"], 0);
    assert_eq!(t["sla"]["rate"], 0.0);
    assert_eq!(t["csat"]["sent"], 3);
    assert_eq!(t["csat"]["responses"], 1);
    assert_eq!(t["csat"]["average"], 4.0);
    let group = |dimension: &str, key: Value| {
        summary[dimension]
            .as_array()
            .unwrap()
            .iter()
            .find(|g| g["key"] == key)
            .cloned()
            .unwrap_or_else(|| panic!("{dimension} {key} in {summary:#}"))
    };
    assert_eq!(group("by_channel", json!("website"))["new"], 4);
    assert_eq!(group("by_team", json!("China desk"))["resolved"], 1);
    assert_eq!(group("by_team", Value::Null)["new"], 3);
    assert_eq!(group("by_language", json!("zh"))["new"], 1);
    assert_eq!(group("by_category", Value::Null)["new"], 4);
    let _ = waiting;

    // Filters: one team, one channel; a range before everything is empty.
    let china = app
        .get_json(&format!("/api/v1/reports/summary?team={team}"))
        .await;
    assert_eq!(china["totals"]["new"], 1);
    assert_eq!(china["team_id"], team);
    let other = app
        .get_json("/api/v1/reports/summary?channel=elsewhere")
        .await;
    assert_eq!(other["totals"]["new"], 0);
    assert_eq!(
        other["totals"]["first_response_seconds"]["p50"],
        Value::Null
    );
    let old = app
        .get_json("/api/v1/reports/summary?from=2020-01-01T00:00:00Z&to=2020-02-01T00:00:00Z")
        .await;
    assert_eq!(old["totals"]["new"], 0);
    assert_eq!(old["from"], "2020-01-01T00:00:00.000Z");

    // CSV: a header, the totals, then each group.
    let csv = app.get("/api/v1/reports/summary?format=csv").await;
    assert_eq!(csv.status(), 200);
    assert_eq!(csv.headers()["content-type"], "text/csv; charset=utf-8");
    let text = csv.text().await.unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert!(lines[0].starts_with("dimension,key,new,resolved,reopened,"));
    assert!(lines[1].starts_with("total,,4,2,1,"), "{text}");
    assert!(
        lines.iter().any(|l| l.starts_with("team,China desk,1,1,")),
        "{text}"
    );

    // Bounds.
    for bad in [
        "from=2026-02-01T00:00:00Z&to=2026-01-01T00:00:00Z",
        "from=2020-01-01T00:00:00Z&to=2022-01-01T00:00:00Z",
        "from=yesterday",
        "format=xml",
        "team=abc",
    ] {
        let response = app.get(&format!("/api/v1/reports/summary?{bad}")).await;
        assert_eq!(response.status(), 400, "{bad}");
    }

    // Per agent: admins only.
    let agents = app.get_json("/api/v1/reports/agents").await;
    let me = &agents["agents"][0];
    assert_eq!(me["replies"], 3);
    assert_eq!(me["conversations_replied"], 3);
    assert_eq!(me["resolved"], 3);
    let csv = app
        .get("/api/v1/reports/agents?format=csv")
        .await
        .text()
        .await
        .unwrap();
    assert!(csv.lines().nth(1).unwrap().contains(",3,3,3,"), "{csv}");
    let store = open_store(&app).await;
    let (_, token) = store
        .create_agent("Bob", "bob@example.com", Role::Agent)
        .await
        .unwrap();
    let forbidden = app
        .client
        .get(app.url("/api/v1/reports/agents"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(forbidden.status(), 403);
    let allowed = app
        .client
        .get(app.url("/api/v1/reports/summary"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(allowed.status(), 200);
    app.stop().await;
}
