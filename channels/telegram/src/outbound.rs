//! Agent replies to Telegram: plain text (no parse mode, so nothing an agent pastes can turn into
//! markup), split at 4096 characters on paragraph, line or word boundaries, sent in order.

/// Telegram's limit for one message's text, in UTF-16 code units... counted here in chars,
/// which is never more than the UTF-16 count, with margin for astral characters.
pub const MAX_CHARS: usize = 4096;

/// sendPhoto takes photos up to 10 MB; larger images go as documents.
pub const MAX_PHOTO_BYTES: usize = 10 * 1024 * 1024;

pub use switchboard_core::split_text as split;

/// Longest button text Telegram shows whole; longer answers are still in the message text.
const MAX_BUTTON_CHARS: usize = 64;

/// Telegram's limit for a button's callback data, in bytes.
const MAX_CALLBACK_BYTES: usize = 64;

/// Answers as one row of inline buttons whose press comes back as a callback query carrying
/// the answer (cut to Telegram's 64 bytes on a character boundary).
pub fn inline_buttons(buttons: &[String]) -> teloxide::types::ReplyMarkup {
    use teloxide::types::{InlineKeyboardButton, InlineKeyboardMarkup, ReplyMarkup};
    let row: Vec<InlineKeyboardButton> = buttons
        .iter()
        .take(8)
        .map(|b| {
            let mut end = b.len().min(MAX_CALLBACK_BYTES);
            while !b.is_char_boundary(end) {
                end -= 1;
            }
            let data = &b[..end];
            let label: String = b.chars().take(MAX_BUTTON_CHARS).collect();
            InlineKeyboardButton::callback(label, data.to_owned())
        })
        .collect();
    ReplyMarkup::InlineKeyboard(InlineKeyboardMarkup::new([row]))
}

/// Offered answers as a one-time reply keyboard, one button per row (they are sentences, not
/// digits), hidden again once the customer taps one.
pub fn keyboard(choices: &[String]) -> teloxide::types::ReplyMarkup {
    use teloxide::types::{KeyboardButton, KeyboardMarkup, ReplyMarkup};
    let rows = choices.iter().take(12).map(|c| {
        vec![KeyboardButton::new(
            c.chars().take(MAX_BUTTON_CHARS).collect::<String>(),
        )]
    });
    ReplyMarkup::Keyboard(
        KeyboardMarkup::new(rows)
            .resize_keyboard()
            .one_time_keyboard(),
    )
}
