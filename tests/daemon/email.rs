//! The email channel end to end against real servers: Dovecot (IMAP IDLE in) and aiosmtpd (SMTP
//! out), through the daemon's public API.

use crate::helpers::{TestApp, eventually, id_of, spawn_app_with};
use crate::mail_servers::{Dovecot, PASSWORD, SmtpServer, TestCa, USER};
use std::time::{Duration, Instant};
use switchboard::config::ChannelConfig;
use switchboard_email::EmailConfig;

pub const CHANNEL: &str = "support-mail";
pub const SUPPORT: &str = "support@wallet.example";

pub fn email_config(imap_port: u16, smtp_port: u16, tls: Option<&TestCa>) -> EmailConfig {
    let (host, imap_tls, smtp_tls, ca) = match tls {
        None => ("127.0.0.1", "none", "none", String::new()),
        Some(ca) => (
            "localhost",
            "implicit",
            "starttls",
            format!("ca_file = {:?}", ca.ca.display().to_string()),
        ),
    };
    let text = format!(
        r#"
        name = "{CHANNEL}"
        address = "Wallet Support <{SUPPORT}>"
        aliases = ["help@wallet.example"]
        thread_secret = "a-test-thread-secret-0123456789"
        [imap]
        host = "{host}"
        port = {imap_port}
        tls = "{imap_tls}"
        username = "{USER}"
        password = "{PASSWORD}"
        timeout = "5s"
        {ca}
        [smtp]
        host = "{host}"
        port = {smtp_port}
        tls = "{smtp_tls}"
        timeout = "5s"
        {ca}
        "#
    );
    toml::from_str(&text).unwrap()
}

/// A plain customer mail without threading headers, appended over IMAP.
async fn customer_writes(dovecot: &Dovecot, from: &str, id: &str, subject: &str, body: &str) {
    dovecot.append(&mail(from, id, subject, "", body)).await;
}

pub struct MailSetup {
    pub app: TestApp,
    pub dovecot: Dovecot,
    pub smtp: SmtpServer,
}

pub async fn spawn_mail() -> MailSetup {
    let (dovecot, smtp) = tokio::join!(Dovecot::start(None), SmtpServer::start(None));
    let config = email_config(dovecot.port, smtp.port, None);
    let app = spawn_app_with(move |c| c.channels.push(ChannelConfig::Email(config))).await;
    MailSetup { app, dovecot, smtp }
}

pub fn mail(from: &str, id: &str, subject: &str, extra: &str, body: &str) -> Vec<u8> {
    format!(
        "From: {from}\r\nTo: Wallet Support <{SUPPORT}>\r\nSubject: {subject}\r\n\
         Message-ID: <{id}>\r\nDate: Tue, 24 Nov 2026 10:00:00 +0000\r\n{extra}\
         MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n{body}\r\n"
    )
    .into_bytes()
}

/// Every inbound message of the channel, over all conversations.
async fn inbound_count(app: &TestApp) -> usize {
    let list = app
        .get_json(&format!("/api/v1/conversations?channel={CHANNEL}"))
        .await;
    let mut n = 0;
    for c in list["conversations"].as_array().unwrap() {
        n += app
            .messages(id_of(c))
            .await
            .iter()
            .filter(|m| m["direction"] == "inbound")
            .count();
    }
    n
}

fn header<'a>(raw: &'a str, name: &str) -> Option<&'a str> {
    raw.lines().find_map(|l| {
        let (key, value) = l.split_once(':')?;
        key.eq_ignore_ascii_case(name).then(|| value.trim())
    })
}

#[tokio::test]
async fn appended_mail_arrives_over_idle_and_a_thread_of_three_is_one_conversation() {
    let MailSetup { app, dovecot, .. } = spawn_mail().await;
    // Let the channel reach IDLE first, so this measures the IDLE wake-up path.
    app.wait_channel_state(CHANNEL, "running").await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let started = Instant::now();
    customer_writes(
        &dovecot,
        "Alice Doe <Alice@Customer.example>",
        "first@customer.example",
        "Deposit not arrived",
        "My deposit of 0.5 BTC has not arrived.",
    )
    .await;
    let list = app.wait_conversations(CHANNEL, 1).await;
    let latency = started.elapsed();
    assert!(
        latency < Duration::from_secs(2),
        "IDLE to stored took {latency:?}"
    );
    let conversation = &list[0];
    assert_eq!(conversation["subject"], "Deposit not arrived");
    assert_eq!(conversation["contact"]["display_name"], "Alice Doe");

    dovecot
        .append(&mail(
            "alice@customer.example",
            "second@customer.example",
            "Re: Deposit not arrived",
            "In-Reply-To: <first@customer.example>\r\nReferences: <first@customer.example>\r\n",
            "Here is the transaction id: abc123\r\n\r\nOn Tue, Alice wrote:\r\n> My deposit",
        ))
        .await;
    // Only References, and it names the first mail: still the same thread.
    dovecot
        .append(&mail(
            "alice@customer.example",
            "third@customer.example",
            "Re: Deposit not arrived",
            "References: <first@customer.example> <second@customer.example>\r\n",
            "Any news?",
        ))
        .await;
    let messages = app.wait_messages(id_of(conversation), 3).await;
    let texts: Vec<&str> = messages
        .iter()
        .map(|m| m["text"].as_str().unwrap())
        .collect();
    assert_eq!(
        texts,
        [
            "My deposit of 0.5 BTC has not arrived.",
            "Here is the transaction id: abc123",
            "Any news?"
        ]
    );
    // The quoted history is not lost: the original mail is kept with every message.
    let original = messages[1]["attachments"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["filename"] == "original.eml")
        .expect("original kept")
        .clone();
    let raw = app
        .get(original["url"].as_str().unwrap())
        .await
        .text()
        .await
        .unwrap();
    assert!(raw.contains("> My deposit"));
    assert_eq!(app.wait_conversations(CHANNEL, 1).await.len(), 1);
    // Stored, then flagged \Seen for people who read the mailbox too.
    let maildir = dovecot.maildir().join("cur");
    eventually(|| async {
        let seen = std::fs::read_dir(&maildir)
            .ok()?
            .filter(|e| {
                let name = e.as_ref().unwrap().file_name();
                name.to_string_lossy()
                    .split(":2,")
                    .nth(1)
                    .is_some_and(|f| f.contains('S'))
            })
            .count();
        (seen == 3).then_some(())
    })
    .await;
    app.stop().await;
}

#[tokio::test]
async fn agent_reply_threads_and_customer_answers_rejoin_while_strangers_cannot() {
    let MailSetup { app, dovecot, smtp } = spawn_mail().await;
    customer_writes(
        &dovecot,
        "Alice <alice@customer.example>",
        "first@customer.example",
        "Password reset",
        "I lost my password.",
    )
    .await;
    let conversation = id_of(&app.wait_conversations(CHANNEL, 1).await[0]);
    let sent = app
        .reply_sent(conversation, "Use **Forgot password** on the login screen.")
        .await;
    let our_id = sent["external_id"].as_str().unwrap().to_owned();
    assert!(
        our_id.starts_with("sb.") && our_id.ends_with("@wallet.example"),
        "{our_id}"
    );

    let received = eventually(|| async { smtp.received().into_iter().next() }).await;
    let raw = String::from_utf8(received).unwrap();
    assert_eq!(
        header(&raw, "X-Envelope-To"),
        Some("alice@customer.example")
    );
    assert_eq!(
        header(&raw, "Message-ID"),
        Some(format!("<{our_id}>").as_str())
    );
    assert_eq!(
        header(&raw, "In-Reply-To"),
        Some("<first@customer.example>")
    );
    assert_eq!(header(&raw, "References"), Some("<first@customer.example>"));
    assert_eq!(header(&raw, "Subject"), Some("Re: Password reset"));
    assert!(header(&raw, "From").unwrap().contains(SUPPORT));
    assert!(
        raw.contains("multipart/alternative") && raw.contains("<strong>Forgot password</strong>")
    );

    // The customer's client dropped References but kept In-Reply-To.
    dovecot
        .append(&mail(
            "alice@customer.example",
            "answer@customer.example",
            "Re: Password reset",
            &format!("In-Reply-To: <{our_id}>\r\n"),
            "That worked, thanks!",
        ))
        .await;
    let messages = app.wait_messages(conversation, 3).await;
    assert_eq!(messages[2]["text"], "That worked, thanks!");

    // Someone else citing Alice's ticket gets a conversation of their own.
    dovecot
        .append(&mail(
            "Mallory <mallory@evil.example>",
            "hijack@evil.example",
            "Re: Password reset",
            &format!(
                "In-Reply-To: <{our_id}>\r\nReferences: <first@customer.example> <{our_id}>\r\n"
            ),
            "Please send me the seed phrase of this account.",
        ))
        .await;
    // A new subject from Alice without references is a new conversation too.
    customer_writes(
        &dovecot,
        "alice@customer.example",
        "other@customer.example",
        "Transfer failed",
        "My transfer failed.",
    )
    .await;
    let list = app.wait_conversations(CHANNEL, 3).await;
    assert_eq!(list.len(), 3);
    assert_eq!(app.messages(conversation).await.len(), 3);
    let mallory = list
        .iter()
        .find(|c| c["contact"]["display_name"] == "Mallory")
        .expect("own conversation");
    assert_ne!(id_of(mallory), conversation);
    app.stop().await;
}

#[tokio::test]
async fn people_in_cc_join_the_conversation_and_stay_copied_on_replies() {
    let MailSetup { app, dovecot, smtp } = spawn_mail().await;
    dovecot
        .append(&mail(
            "Alice <alice@customer.example>",
            "cc-1@customer.example",
            "Joint account locked",
            "Cc: Bob <Bob@Customer.example>, Wallet Support <support@wallet.example>, \
             Help <help@wallet.example>\r\n",
            "Our joint account is locked. Bob is in copy.",
        ))
        .await;
    let conversation = id_of(&app.wait_conversations(CHANNEL, 1).await[0]);
    let sent = app.reply_sent(conversation, "We are unlocking it.").await;
    let our_id = sent["external_id"].as_str().unwrap().to_owned();
    let first = eventually(|| async { smtp.received().into_iter().next() }).await;
    let raw = String::from_utf8(first).unwrap();
    assert_eq!(header(&raw, "To"), Some("alice@customer.example"));
    assert_eq!(header(&raw, "Cc"), Some("bob@customer.example"), "{raw}");
    assert_eq!(
        header(&raw, "X-Envelope-To"),
        Some("alice@customer.example, bob@customer.example")
    );

    // Bob answers all: he is on the thread, so his mail joins it.
    dovecot
        .append(&mail(
            "Bob <bob@customer.example>",
            "cc-2@customer.example",
            "Re: Joint account locked",
            &format!(
                "In-Reply-To: <{our_id}>\r\nCc: alice@customer.example, dan@customer.example\r\n"
            ),
            "Thanks, it works for me now.",
        ))
        .await;
    let messages = app.wait_messages(conversation, 3).await;
    assert_eq!(messages[2]["text"], "Thanks, it works for me now.");
    assert_eq!(app.wait_conversations(CHANNEL, 1).await.len(), 1);
    let detail = app
        .get_json(&format!("/api/v1/conversations/{conversation}"))
        .await;
    assert_eq!(
        detail["participants"],
        serde_json::json!([
            "alice@customer.example",
            "bob@customer.example",
            "dan@customer.example"
        ])
    );

    // The answer goes to the latest writer, copying everyone else on the thread.
    app.reply_sent(conversation, "Glad to hear it.").await;
    let second = eventually(|| async { smtp.received().get(1).cloned() }).await;
    let raw = String::from_utf8(second).unwrap();
    assert_eq!(header(&raw, "To"), Some("bob@customer.example"));
    assert_eq!(
        header(&raw, "Cc"),
        Some("alice@customer.example, dan@customer.example"),
        "{raw}"
    );

    // A copied address the server refuses does not keep the answer from the customer.
    dovecot
        .append(&mail(
            "Bob <bob@customer.example>",
            "cc-3@customer.example",
            "Re: Joint account locked",
            &format!("In-Reply-To: <{our_id}>\r\nCc: reject-eve@customer.example\r\n"),
            "Adding Eve from our bank.",
        ))
        .await;
    app.wait_messages(conversation, 5).await;
    app.reply_sent(conversation, "Noted.").await;
    let third = eventually(|| async { smtp.received().get(2).cloned() }).await;
    let raw = String::from_utf8(third).unwrap();
    assert_eq!(header(&raw, "X-Envelope-To"), Some("bob@customer.example"));
    assert_eq!(header(&raw, "Cc"), None);

    // The agent takes Eve and Dan off the thread.
    let path = format!("/api/v1/conversations/{conversation}/participants");
    let set = app
        .send_json(
            reqwest::Method::PUT,
            &path,
            serde_json::json!({ "participants": ["Alice@Customer.example", "bob@customer.example"] }),
        )
        .await;
    assert_eq!(set.status(), 200);
    app.reply_sent(conversation, "All set.").await;
    let fourth = eventually(|| async { smtp.received().get(3).cloned() }).await;
    let raw = String::from_utf8(fourth).unwrap();
    assert_eq!(header(&raw, "To"), Some("bob@customer.example"));
    assert_eq!(header(&raw, "Cc"), Some("alice@customer.example"), "{raw}");
    app.stop().await;
}

const HTML_WITH_FILES: &str = "From: Bob <bob@customer.example>\r\nTo: support@wallet.example\r\n\
Subject: =?UTF-8?B?0J/RgNC+0LHQu9C10LzQsCDRgSDQstGL0LLQvtC00L7QvA==?=\r\n\
Message-ID: <html-1@customer.example>\r\nMIME-Version: 1.0\r\n\
Content-Type: multipart/mixed; boundary=\"outer\"\r\n\r\n\
--outer\r\nContent-Type: multipart/related; boundary=\"inner\"\r\n\r\n\
--inner\r\nContent-Type: text/html; charset=utf-8\r\n\r\n\
<html><body><p onclick=\"steal()\">Withdrawal <b>stuck</b> since Monday</p>\
<script>alert(document.cookie)</script><img src=\"cid:shot\"></body></html>\r\n\
--inner\r\nContent-Type: image/png\r\nContent-ID: <shot>\r\nContent-Disposition: inline; filename=\"shot.png\"\r\n\
Content-Transfer-Encoding: base64\r\n\r\niVBORw0KGgo=\r\n--inner--\r\n\
--outer\r\nContent-Type: application/pdf; name=\"statement.pdf\"\r\n\
Content-Disposition: attachment; filename=\"statement.pdf\"\r\nContent-Transfer-Encoding: base64\r\n\r\n\
JVBERi0xLjQKc3RhdGVtZW50Cg==\r\n--outer--\r\n";

#[tokio::test]
async fn html_only_mail_is_sanitized_and_its_files_download() {
    let MailSetup { app, dovecot, .. } = spawn_mail().await;
    dovecot.append(HTML_WITH_FILES.as_bytes()).await;
    let conversation = app.wait_conversations(CHANNEL, 1).await[0].clone();
    assert_eq!(conversation["subject"], "Проблема с выводом");
    let message = app.wait_messages(id_of(&conversation), 1).await[0].clone();
    let html = message["html"].as_str().unwrap();
    assert!(html.contains("<b>stuck</b>"), "{html}");
    assert!(
        !html.contains("script") && !html.contains("onclick"),
        "{html}"
    );
    assert!(
        message["text"]
            .as_str()
            .unwrap()
            .contains("Withdrawal stuck since Monday")
    );
    let attachments = message["attachments"].as_array().unwrap();
    let names: Vec<&str> = attachments
        .iter()
        .map(|a| a["filename"].as_str().unwrap())
        .collect();
    assert!(
        names.contains(&"statement.pdf") && names.contains(&"shot.png"),
        "{names:?}"
    );
    let pdf = attachments
        .iter()
        .find(|a| a["filename"] == "statement.pdf")
        .unwrap();
    assert_eq!(pdf["content_type"], "application/pdf");
    let body = app
        .get(pdf["url"].as_str().unwrap())
        .await
        .bytes()
        .await
        .unwrap();
    assert_eq!(&body[..], b"%PDF-1.4\nstatement\n");
    app.stop().await;
}

#[tokio::test]
async fn restart_and_uidvalidity_change_store_nothing_twice() {
    let MailSetup {
        app, mut dovecot, ..
    } = spawn_mail().await;
    for n in 1..=2 {
        customer_writes(
            &dovecot,
            "carol@customer.example",
            &format!("c{n}@customer.example"),
            &format!("Question {n}"),
            "Hello",
        )
        .await;
    }
    app.wait_conversations(CHANNEL, 2).await;
    let app = app.restart().await;
    customer_writes(
        &dovecot,
        "carol@customer.example",
        "c3@customer.example",
        "Question 3",
        "Hi",
    )
    .await;
    app.wait_conversations(CHANNEL, 3).await;
    assert_eq!(inbound_count(&app).await, 3);

    // The server renumbers the mailbox: a new UIDVALIDITY, every mail gets a new UID.
    dovecot.stop();
    dovecot.reset_uids();
    dovecot.deliver_file(&mail(
        "carol@customer.example",
        "c4@customer.example",
        "Question 4",
        "",
        "Hey",
    ));
    dovecot.start_again().await;
    app.wait_conversations(CHANNEL, 4).await;
    // Give a wrong resync time to store duplicates before counting.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(inbound_count(&app).await, 4);
    let health = app.health().await;
    assert!(
        health["channels"][CHANNEL]["restarts"].as_u64().unwrap() >= 1,
        "{health}"
    );
    app.stop().await;
}

#[tokio::test]
async fn dovecot_restarted_mid_idle_reconnects_and_misses_nothing() {
    let MailSetup {
        app, mut dovecot, ..
    } = spawn_mail().await;
    customer_writes(
        &dovecot,
        "dan@customer.example",
        "d1@customer.example",
        "Before",
        "one",
    )
    .await;
    app.wait_conversations(CHANNEL, 1).await;
    dovecot.stop();
    // Arrives while the server is down (the MTA writes the maildir directly).
    dovecot.deliver_file(&mail(
        "dan@customer.example",
        "d2@customer.example",
        "While down",
        "",
        "two",
    ));
    dovecot.start_again().await;
    customer_writes(
        &dovecot,
        "dan@customer.example",
        "d3@customer.example",
        "After",
        "three",
    )
    .await;
    app.wait_conversations(CHANNEL, 3).await;
    assert_eq!(inbound_count(&app).await, 3);
    app.stop().await;
}

#[tokio::test]
async fn auto_replies_are_flagged_and_our_own_mail_is_never_ingested() {
    let MailSetup { app, dovecot, .. } = spawn_mail().await;
    dovecot
        .append(&mail(
            "erin@customer.example",
            "ooo@customer.example",
            "Out of office",
            "Auto-Submitted: auto-replied\r\n",
            "I am away until Monday.",
        ))
        .await;
    customer_writes(
        &dovecot,
        "Wallet Support <support@wallet.example>",
        "loop@wallet.example",
        "Re: something",
        "Our own reply, copied to the support mailbox.",
    )
    .await;
    customer_writes(
        &dovecot,
        "Help Desk <Help@wallet.example>",
        "alias@wallet.example",
        "Forwarded",
        "Sent from an alias of ours.",
    )
    .await;
    customer_writes(
        &dovecot,
        "erin@customer.example",
        "real@customer.example",
        "Real question",
        "Help",
    )
    .await;
    let list = app.wait_conversations(CHANNEL, 2).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(inbound_count(&app).await, 2);
    let mut flags = Vec::new();
    for c in &list {
        for m in app.messages(id_of(c)).await {
            flags.push((
                m["text"].as_str().unwrap().to_owned(),
                m["auto_generated"].as_bool().unwrap(),
            ));
        }
    }
    flags.sort();
    assert_eq!(
        flags,
        [
            ("Help".to_owned(), false),
            ("I am away until Monday.".to_owned(), true)
        ]
    );
    app.stop().await;
}

#[tokio::test]
async fn smtp_550_fails_with_the_servers_reason_451_retries_and_a_bounce_fails_a_sent_reply() {
    let MailSetup { app, dovecot, smtp } = spawn_mail().await;
    customer_writes(
        &dovecot,
        "reject-me@customer.example",
        "r1@customer.example",
        "Hi",
        "hello",
    )
    .await;
    customer_writes(
        &dovecot,
        "tempfail@customer.example",
        "t1@customer.example",
        "Hi",
        "hello",
    )
    .await;
    customer_writes(
        &dovecot,
        "frank@customer.example",
        "f1@customer.example",
        "Hi",
        "hello",
    )
    .await;
    let list = app.wait_conversations(CHANNEL, 3).await;
    let by_contact = |needle: &str| {
        list.iter()
            .find(|c| {
                c["contact"]["display_name"]
                    .as_str()
                    .unwrap()
                    .contains(needle)
            })
            .map(id_of)
            .unwrap()
    };
    let (rejected, tempfail, frank) = (
        by_contact("reject"),
        by_contact("tempfail"),
        by_contact("frank"),
    );

    let reply = app.post_reply(rejected, "Answer").await;
    let failed = app.wait_for_status(rejected, id_of(&reply), "failed").await;
    let error = failed["error"].as_str().unwrap();
    assert!(
        error.contains("550") && error.contains("User unknown"),
        "{error}"
    );

    let reply = app.post_reply(tempfail, "Answer").await;
    let pending = eventually(|| async {
        let m = app.message(tempfail, id_of(&reply)).await;
        m["error"]
            .as_str()
            .is_some_and(|e| e.contains("451"))
            .then_some(m)
    })
    .await;
    assert_eq!(pending["delivery_status"], "pending");

    let sent = app.reply_sent(frank, "Answer").await;
    let our_id = sent["external_id"].as_str().unwrap();
    eventually(|| async { (!smtp.received().is_empty()).then_some(()) }).await;
    let dsn = format!(
        "From: Mail Delivery System <MAILER-DAEMON@mx.customer.example>\r\nTo: {SUPPORT}\r\n\
         Subject: Undelivered Mail Returned to Sender\r\nMessage-ID: <dsn-1@mx.customer.example>\r\n\
         Auto-Submitted: auto-replied\r\nMIME-Version: 1.0\r\n\
         Content-Type: multipart/report; report-type=delivery-status; boundary=\"b\"\r\n\r\n\
         --b\r\nContent-Type: text/plain\r\n\r\nYour message could not be delivered.\r\n\
         --b\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mx.customer.example\r\n\r\n\
         Final-Recipient: rfc822; frank@customer.example\r\nAction: failed\r\nStatus: 5.2.2\r\n\
         Diagnostic-Code: smtp; 552 5.2.2 Mailbox full\r\n\
         --b\r\nContent-Type: text/rfc822-headers\r\n\r\nFrom: {SUPPORT}\r\nMessage-ID: <{our_id}>\r\n\
         Subject: Re: Hi\r\n--b--\r\n"
    );
    dovecot.append(dsn.as_bytes()).await;
    let bounced = app.wait_for_status(frank, id_of(&sent), "failed").await;
    let error = bounced["error"].as_str().unwrap();
    assert!(
        error.contains("bounced") && error.contains("Mailbox full"),
        "{error}"
    );
    // The bounce itself is not a customer message anywhere.
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(app.wait_conversations(CHANNEL, 3).await.len(), 3);
    app.stop().await;
}

#[tokio::test]
async fn tls_with_a_private_ca_works_both_ways() {
    let ca = TestCa::new();
    let (dovecot, smtp) = tokio::join!(Dovecot::start(Some(&ca)), SmtpServer::start(Some(&ca)));
    let config = email_config(dovecot.tls_port.unwrap(), smtp.port, Some(&ca));
    let app = spawn_app_with(move |c| c.channels.push(ChannelConfig::Email(config))).await;
    customer_writes(
        &dovecot,
        "grace@customer.example",
        "g1@customer.example",
        "Over TLS",
        "secure?",
    )
    .await;
    let conversation = id_of(&app.wait_conversations(CHANNEL, 1).await[0]);
    app.reply_sent(conversation, "Yes, encrypted.").await;
    let raw = String::from_utf8(smtp.received().remove(0)).unwrap();
    assert_eq!(header(&raw, "X-TLS"), Some("yes"));
    app.stop().await;
}

#[tokio::test]
async fn an_untrusted_certificate_is_refused() {
    let ca = TestCa::new();
    let dovecot = Dovecot::start(Some(&ca)).await;
    let smtp = SmtpServer::start(None).await;
    let mut config = email_config(dovecot.tls_port.unwrap(), smtp.port, Some(&ca));
    config.imap.ca_file = None;
    config.smtp.ca_file = None;
    config.smtp.host = "127.0.0.1".into();
    config.smtp.tls = switchboard_email::TlsMode::None;
    let app = spawn_app_with(move |c| c.channels.push(ChannelConfig::Email(config))).await;
    let health = app.wait_channel_state(CHANNEL, "failing").await;
    let error = health["channels"][CHANNEL]["last_error"].as_str().unwrap();
    assert!(
        error.contains("TLS") && error.contains("certificate"),
        "{error}"
    );
    assert!(!error.contains(PASSWORD));
    app.stop().await;
}

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(format!(
        "{}/channels/email/tests/fixtures/{name}",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap()
}

/// A mail carrying a 25 MB attachment (about 34 MB once base64-encoded).
fn huge_mail() -> Vec<u8> {
    use base64::Engine;
    let payload: Vec<u8> = (0..25 * 1024 * 1024u32).map(|i| (i % 251) as u8).collect();
    let encoded = base64::engine::general_purpose::STANDARD.encode(&payload);
    let mut body = String::with_capacity(encoded.len() + encoded.len() / 76 * 2 + 1024);
    for line in encoded.as_bytes().chunks(76) {
        body.push_str(std::str::from_utf8(line).unwrap());
        body.push_str("\r\n");
    }
    format!(
        "From: henry@customer.example\r\nTo: {SUPPORT}\r\nSubject: Full wallet backup\r\n\
         Message-ID: <huge@customer.example>\r\nMIME-Version: 1.0\r\n\
         Content-Type: multipart/mixed; boundary=\"b\"\r\n\r\n--b\r\n\
         Content-Type: text/plain\r\n\r\nThe export is attached.\r\n--b\r\n\
         Content-Type: application/octet-stream; name=\"backup.bin\"\r\n\
         Content-Disposition: attachment; filename=\"backup.bin\"\r\n\
         Content-Transfer-Encoding: base64\r\n\r\n{body}--b--\r\n"
    )
    .into_bytes()
}

#[tokio::test]
async fn broken_8bit_and_huge_mails_are_stored_and_over_the_limit_keeps_the_headers() {
    let (dovecot, smtp) = tokio::join!(Dovecot::start(None), SmtpServer::start(None));
    let full = email_config(dovecot.port, smtp.port, None);
    // A second channel on the same mailbox with a 1 MB limit.
    let mut small = email_config(dovecot.port, smtp.port, None);
    small.name = "mail-small".into();
    small.imap.max_message_bytes = 1024 * 1024;
    small.imap.mark_seen = false;
    let app = spawn_app_with(move |c| {
        c.channels.push(ChannelConfig::Email(full));
        c.channels.push(ChannelConfig::Email(small));
    })
    .await;
    dovecot.append(&fixture("broken.eml")).await;
    dovecot.append(&fixture("russian-8bit.eml")).await;
    dovecot.append(&huge_mail()).await;

    let list = app.wait_conversations(CHANNEL, 3).await;
    let find = |subject: &str| {
        list.iter()
            .find(|c| c["subject"] == subject)
            .unwrap_or_else(|| panic!("no conversation {subject:?} in {list:?}"))
            .clone()
    };
    let broken = app
        .wait_messages(id_of(&find("Überweisung fehlt")), 1)
        .await;
    assert!(
        broken[0]["text"]
            .as_str()
            .unwrap()
            .contains("The boundary never closes")
    );
    let russian = app
        .wait_messages(id_of(&find("Re: Вывод средств")), 1)
        .await;
    assert_eq!(russian[0]["text"], "Спасибо, всё пришло.");
    let huge = app
        .wait_messages(id_of(&find("Full wallet backup")), 1)
        .await;
    let backup = huge[0]["attachments"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["filename"] == "backup.bin")
        .unwrap()
        .clone();
    assert_eq!(backup["size"], 25 * 1024 * 1024);
    let bytes = app
        .get(backup["url"].as_str().unwrap())
        .await
        .bytes()
        .await
        .unwrap();
    assert_eq!(bytes.len(), 25 * 1024 * 1024);
    assert!(bytes.iter().enumerate().all(|(i, b)| *b == (i % 251) as u8));

    let list = app.wait_conversations("mail-small", 3).await;
    let over = list
        .iter()
        .find(|c| c["subject"] == "Full wallet backup")
        .unwrap();
    let message = app.wait_messages(id_of(over), 1).await.remove(0);
    assert!(
        message["text"]
            .as_str()
            .unwrap()
            .contains("over the configured limit"),
        "{message}"
    );
    app.stop().await;
}

#[tokio::test]
async fn servers_without_idle_are_polled() {
    let dovecot = Dovecot::start_with(None, "imap_capability = IMAP4rev1 LITERAL+ UIDPLUS").await;
    let smtp = SmtpServer::start(None).await;
    let mut config = email_config(dovecot.port, smtp.port, None);
    config.imap.poll_interval = Duration::from_secs(1);
    let app = spawn_app_with(move |c| c.channels.push(ChannelConfig::Email(config))).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    customer_writes(
        &dovecot,
        "ida@customer.example",
        "i1@customer.example",
        "Polled",
        "no idle here",
    )
    .await;
    let list = app.wait_conversations(CHANNEL, 1).await;
    assert_eq!(list[0]["subject"], "Polled");
    app.stop().await;
}

#[tokio::test]
async fn new_conversations_are_acknowledged_once_and_robots_and_history_never() {
    let (dovecot, smtp) = tokio::join!(Dovecot::start(None), SmtpServer::start(None));
    // In the mailbox before the channel's first sync: history, stored but not acknowledged.
    dovecot.deliver_file(&mail(
        "old@customer.example",
        "old@customer.example",
        "Old",
        "",
        "from last year",
    ));
    let config = email_config(dovecot.port, smtp.port, None);
    let app = spawn_app_with(move |c| {
        crate::helpers::front_desk_says(
            c,
            "We received your message and answer within 4 hours. We never ask for your seed phrase.",
        );
        c.channels.push(ChannelConfig::Email(config))
    })
    .await;
    app.wait_conversations(CHANNEL, 1).await;

    customer_writes(
        &dovecot,
        "Jane <jane@customer.example>",
        "j1@customer.example",
        "Card blocked",
        "Help",
    )
    .await;
    let ack = eventually(|| async { smtp.received().into_iter().next() }).await;
    let ack = String::from_utf8(ack).unwrap();
    assert_eq!(header(&ack, "X-Envelope-To"), Some("jane@customer.example"));
    assert_eq!(header(&ack, "Auto-Submitted"), Some("auto-replied"));
    assert_eq!(header(&ack, "In-Reply-To"), Some("<j1@customer.example>"));
    assert!(ack.contains("answer within 4 hours"));

    // Her follow-up in the same thread, and an autoresponder: no further acknowledgements.
    dovecot
        .append(&mail(
            "jane@customer.example",
            "j2@customer.example",
            "Re: Card blocked",
            "In-Reply-To: <j1@customer.example>\r\n",
            "Still blocked",
        ))
        .await;
    dovecot
        .append(&mail(
            "robot@customer.example",
            "r1@customer.example",
            "Auto: Card blocked",
            "Auto-Submitted: auto-replied\r\n",
            "I am on holiday",
        ))
        .await;
    let list = app.wait_conversations(CHANNEL, 3).await;
    let jane = list
        .iter()
        .find(|c| c["subject"] == "Card blocked")
        .unwrap();
    let messages = app.wait_messages(id_of(jane), 3).await;
    assert!(
        messages
            .iter()
            .any(|m| m["auto_generated"] == true && m["direction"] == "outbound")
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(smtp.received().len(), 1);
    app.stop().await;
}
