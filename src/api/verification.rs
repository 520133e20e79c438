//! Identity verification by one-time code: the agent names the customer's registered email,
//! Switchboard mails a code there and asks the customer, in their conversation, to type it back.
//! The code is never stored in clear, never queued in the outbox and never shown to the agent.

use super::AppState;
use super::auth::AuthAgent;
use super::doc::{AgentErrors, JsonBodyErrors};
use super::error::{ApiError, ErrorBody, Json, Path};
use crate::store::Verification;
use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use std::time::Duration;
use switchboard_core::{Outbound, Progress};
use utoipa::ToSchema;

/// Longest address accepted (RFC 5321's path limit).
const MAX_EMAIL_LEN: usize = 254;
/// Sending the code is one SMTP exchange; the agent waits for it.
const SEND_TIMEOUT: Duration = Duration::from_secs(30);

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewVerification {
    /// The address the customer registered with the app (at most 254 characters).
    #[schema(max_length = 254)]
    email: String,
}

#[derive(Serialize, ToSchema)]
pub struct VerificationEnvelope {
    /// The latest attempt; null when none was made.
    verification: Option<Verification>,
}

/// Sends the customer a one-time code to verify an email.
///
/// A 6-digit code goes to `email` through the `[verification] email_channel`, and the customer
/// is told in this conversation (on its own channel) to reply with it. When their next message
/// holds the code, the contact is verified for that email (`verified_emails` of the contact),
/// and the code is cut from the stored message. Codes expire after 10 minutes; after 5 wrong
/// ones the attempt is locked (`status: locked`, conversation flag `verification_locked`). A new
/// request replaces a pending attempt.
#[utoipa::path(post, path = "/api/v1/conversations/{id}/verify",
    params(("id" = i64, Path, description = "The conversation's id")),
    request_body = NewVerification,
    security(("bearer" = [])),
    responses(
        (status = 202, description = "The code was sent; waiting for the customer", body = VerificationEnvelope),
        (status = 404, description = "No such conversation", body = ErrorBody),
        (status = 409, description = "Verification is not configured (`[verification] email_channel`)", body = ErrorBody),
        (status = 502, description = "The mail server refused or did not answer; nothing is pending", body = ErrorBody),
        JsonBodyErrors,
        AgentErrors,
    ))]
pub async fn post_verify(
    State(state): State<AppState>,
    AuthAgent(agent): AuthAgent,
    Path(id): Path<i64>,
    Json(body): Json<NewVerification>,
) -> Result<(StatusCode, axum::Json<VerificationEnvelope>), ApiError> {
    let email = body.email.trim().to_lowercase();
    let valid = email.len() <= MAX_EMAIL_LEN
        && !email.chars().any(|c| c.is_whitespace() || c.is_control())
        && email
            .split_once('@')
            .is_some_and(|(local, domain)| !local.is_empty() && domain.contains('.'));
    if !valid {
        return Err(ApiError::BadRequest(
            "email: an address like alice@example.com, at most 254 characters".into(),
        ));
    }
    let conversation = state.store.conversation(id).await?;
    let channel = state
        .verification_channel
        .as_deref()
        .and_then(|name| state.channels.all.get(name))
        .ok_or_else(|| {
            ApiError::Conflict(
                "verification is off: set [verification] email_channel to an email channel".into(),
            )
        })?
        .clone();
    let contact = state.store.contact(conversation.contact.id).await?;
    let language = crate::safety::language(
        contact
            .identities
            .iter()
            .find_map(|i| i.language.as_deref()),
        &contact.display_name,
    );
    let code = crate::store::new_code();
    let verification = state
        .store
        .create_verification(id, &email, &code, agent.id)
        .await?;
    let mail = Outbound {
        // Not a conversation message: ids no reply can thread into a conversation with.
        message_id: -verification.id,
        delivery_id: format!("verification-{}", verification.id),
        conversation_id: 0,
        thread_id: format!("verification-{}", verification.id),
        recipient: Some(email.clone()),
        subject: Some(state.texts.code_subject.clone()),
        text: state.texts.code_email(&language, &code),
        attachments: Vec::new(),
        reply_to: None,
        references: Vec::new(),
        cc: Vec::new(),
        agent_name: None,
        auto_generated: true,
        choices: Vec::new(),
        buttons: Vec::new(),
        progress: Progress::default(),
    };
    drop(code);
    let sent = match tokio::time::timeout(SEND_TIMEOUT, channel.send(&mail)).await {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err("the mail server did not answer in time".to_owned()),
    };
    let metrics = &state.metrics;
    if let Err(reason) = sent {
        state.store.abandon_verification(verification.id).await?;
        metrics.add(
            crate::metrics::VERIFICATIONS,
            channel.name(),
            "send_failed",
            1,
        );
        tracing::warn!(conversation = id, error = %reason, "verification code not sent");
        return Err(ApiError::Rejected(
            StatusCode::BAD_GATEWAY,
            format!("the code could not be sent: {reason}"),
        ));
    }
    metrics.add(crate::metrics::VERIFICATIONS, channel.name(), "sent", 1);
    state
        .store
        .create_reply_with_files(
            id,
            None,
            &state.texts.prompt(&language, &email),
            None,
            &[],
            state.expiry,
        )
        .await?;
    state.dispatcher.wake();
    Ok((
        StatusCode::ACCEPTED,
        axum::Json(VerificationEnvelope {
            verification: Some(verification),
        }),
    ))
}

/// The conversation's latest verification attempt and where it stands.
#[utoipa::path(get, path = "/api/v1/conversations/{id}/verification",
    params(("id" = i64, Path, description = "The conversation's id")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The latest attempt, or null", body = VerificationEnvelope),
        (status = 400, response = super::doc::BadRequest),
        (status = 404, description = "No such conversation", body = ErrorBody),
        AgentErrors,
    ))]
pub async fn get_verification(
    State(state): State<AppState>,
    _agent: AuthAgent,
    Path(id): Path<i64>,
) -> Result<axum::Json<VerificationEnvelope>, ApiError> {
    state.store.conversation(id).await?;
    let verification = state.store.latest_verification(id).await?;
    Ok(axum::Json(VerificationEnvelope { verification }))
}
