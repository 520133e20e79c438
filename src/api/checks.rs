//! Checks several routes share: text and id lengths, and posted files (base64, file name,
//! content type).

use super::ApiError;
use serde::Deserialize;
use utoipa::ToSchema;

/// Longest text accepted in a reply, a note or an inbound message (characters).
pub const MAX_TEXT_CHARS: usize = 100_000;
/// Longest external id or thread id accepted from an `api` channel.
pub const MAX_ID_LEN: usize = 256;
/// Files one reply or inbound message may carry.
pub const MAX_ATTACHMENTS: usize = 10;

/// Text an agent writes (a reply, a note, a canned answer): as `check_inbound_text`, and free of
/// NUL characters, which PostgreSQL cannot store. A customer's are replaced at ingest (their
/// message must not be lost); an agent is told instead, on both backends alike.
pub fn check_text(text: &str) -> Result<(), ApiError> {
    check_inbound_text(text)?;
    check_no_nul("text", Some(text))
}

/// A field an agent writes, checked for NUL characters (see `check_text`).
pub fn check_no_nul(field: &str, value: Option<&str>) -> Result<(), ApiError> {
    if value.is_some_and(|v| v.contains('\0')) {
        return Err(ApiError::BadRequest(format!(
            "{field}: must not contain NUL characters"
        )));
    }
    Ok(())
}

/// A non-blank text of at most `MAX_TEXT_CHARS` characters.
pub fn check_inbound_text(text: &str) -> Result<(), ApiError> {
    if text.trim().is_empty() {
        return Err(ApiError::BadRequest("text: must not be empty".into()));
    }
    if text.chars().count() > MAX_TEXT_CHARS {
        return Err(ApiError::BadRequest(format!(
            "text: longer than {MAX_TEXT_CHARS} characters"
        )));
    }
    Ok(())
}

/// A non-blank id of at most `MAX_ID_LEN` bytes.
pub fn check_id(field: &str, value: &str) -> Result<(), ApiError> {
    if value.trim().is_empty() || value.len() > MAX_ID_LEN {
        return Err(ApiError::BadRequest(format!(
            "{field}: must be 1 to {MAX_ID_LEN} bytes"
        )));
    }
    Ok(())
}

/// An optional text of at most `max_chars` characters.
pub fn check_len(field: &str, value: Option<&str>, max_chars: usize) -> Result<(), ApiError> {
    if value.is_some_and(|v| v.chars().count() > max_chars) {
        return Err(ApiError::BadRequest(format!(
            "{field}: longer than {max_chars} characters"
        )));
    }
    Ok(())
}

/// A file posted with a reply or an inbound message.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewAttachment {
    filename: String,
    content_type: Option<String>,
    /// The file's bytes, base64 (standard alphabet, padded).
    data_base64: String,
}

/// Checks and decodes posted files: base64 data, a plain file name, a safe content type.
pub fn decode_attachments(
    attachments: Vec<NewAttachment>,
) -> Result<Vec<switchboard_core::InboundAttachment>, ApiError> {
    use base64::Engine;
    if attachments.len() > MAX_ATTACHMENTS {
        return Err(ApiError::BadRequest(format!(
            "attachments: at most {MAX_ATTACHMENTS}"
        )));
    }
    let mut decoded = Vec::with_capacity(attachments.len());
    for (i, a) in attachments.into_iter().enumerate() {
        let data = base64::engine::general_purpose::STANDARD
            .decode(a.data_base64.as_bytes())
            .map_err(|e| ApiError::BadRequest(format!("attachments[{i}].data_base64: {e}")))?;
        // Only the last path component, so a name can never point elsewhere.
        let filename: String = a
            .filename
            .rsplit(['/', '\\'])
            .next()
            .unwrap_or("")
            .trim()
            .chars()
            .filter(|c| !c.is_control())
            .take(255)
            .collect();
        if filename.is_empty() {
            return Err(ApiError::BadRequest(format!(
                "attachments[{i}].filename: must not be empty"
            )));
        }
        let content_type = a
            .content_type
            .as_deref()
            .and_then(|c| c.parse::<MimeType>().ok())
            .map_or_else(|| "application/octet-stream".to_owned(), |c| c.0);
        decoded.push(switchboard_core::InboundAttachment {
            filename,
            content_type,
            data: switchboard_core::AttachmentData::Bytes(data.into()),
        });
    }
    Ok(decoded)
}

/// A content type safe to echo in a header: `type/subtype` from a conservative alphabet.
pub struct MimeType(pub String);

impl std::str::FromStr for MimeType {
    type Err = ();
    fn from_str(s: &str) -> Result<Self, ()> {
        let essence = s
            .split(';')
            .next()
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase();
        let ok = essence.split_once('/').is_some_and(|(a, b)| {
            let valid = |p: &str| {
                !p.is_empty()
                    && p.chars()
                        .all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c))
            };
            valid(a) && valid(b)
        });
        if ok { Ok(Self(essence)) } else { Err(()) }
    }
}
