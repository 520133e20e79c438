//! Switchboard's email channel, pure parts: MIME into normalized messages (mail-parser),
//! separating the new text from quoted history, and signed Message-IDs that thread replies
//! back to their conversation. The IMAP/SMTP adapter builds on these.

pub mod convert;
pub mod quote;
pub mod thread;
