//! Satisfaction surveys (`[csat]`): the configuration, and reading a customer's plain-text
//! answer as a rating from 1 to 5, with the rest of the message as the comment. The same
//! reading serves typed answers and button presses (which arrive as the button's text).

use serde::Deserialize;
use std::time::Duration;

/// `[csat]`.
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CsatConfig {
    /// Ask every customer whose conversation an agent resolved (after an agent reply).
    pub enabled: bool,
    /// How long after the question a rating still counts.
    #[serde(with = "humantime_serde")]
    pub rating_window: Duration,
    /// How long after a rating without a comment the next message is taken as its comment.
    #[serde(with = "humantime_serde")]
    pub comment_window: Duration,
    /// A contact is asked at most once in this time, whatever they write about.
    #[serde(with = "humantime_serde")]
    pub min_interval: Duration,
}

impl Default for CsatConfig {
    fn default() -> Self {
        Self {
            enabled: false,
            rating_window: Duration::from_secs(7 * 24 * 3600),
            comment_window: Duration::from_secs(30 * 60),
            min_interval: Duration::from_secs(24 * 3600),
        }
    }
}

impl CsatConfig {
    pub fn validate(&self) -> Vec<String> {
        let mut errors = Vec::new();
        for (key, value) in [
            ("rating_window", self.rating_window),
            ("comment_window", self.comment_window),
        ] {
            if value < Duration::from_secs(1) {
                errors.push(format!("csat.{key}: must be at least 1s"));
            }
        }
        errors
    }
}

/// A customer's answer to the survey.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rating {
    pub score: u8,
    pub comment: Option<String>,
}

/// The buttons offered under the question, worst first; a press comes back as this text.
pub const BUTTONS: [&str; 5] = ["1", "2", "3", "4", "5"];

/// Longer texts are messages, not answers to a 1-to-5 question.
const MAX_ANSWER_CHARS: usize = 1000;

/// Words that make a leading number a quantity ("2 USDT are missing"), not a rating.
const QUANTITIES: &[&str] = &[
    "usdt",
    "usdc",
    "btc",
    "eth",
    "trx",
    "bnb",
    "sol",
    "usd",
    "eur",
    "dollars",
    "dollar",
    "coins",
    "tokens",
    "times",
    "more",
    "minutes",
    "minute",
    "hours",
    "hour",
    "days",
    "day",
    "weeks",
    "transactions",
    "transfers",
    "deposits",
    "withdrawals",
    "of",
    "x",
    "%",
    "个",
    "笔",
    "次",
    "天",
    "小时",
    "分钟",
    "元",
    "美元",
    "币",
];

/// Reads `text` as a rating: a leading 1–5 (digit, Chinese numeral or a run of stars), with
/// an optional `/5`, `out of 5`, `stars`, `分` or `星`, then the comment if any. Anything
/// else ("15", "3.5", "5 USDT missing", a sentence) is not a rating.
pub fn parse(text: &str) -> Option<Rating> {
    let text = text.trim();
    if text.is_empty() || text.chars().count() > MAX_ANSWER_CHARS {
        return None;
    }
    let (score, after) = leading_score(text)?;
    // The score must end there: "15", "3.5", "4,5", "5great", "一直" are something else.
    let mut next = after.chars();
    match (next.next(), next.next()) {
        (Some(c), _) if c.is_numeric() => return None,
        (Some('.' | ','), Some(d)) if d.is_numeric() => return None,
        (Some(c), _) if c.is_alphabetic() && !matches!(c, '分' | '星' | '颗') => return None,
        _ => {}
    }
    let rest = strip_scale(after.trim_start());
    let first_word: String = rest
        .trim_start()
        .chars()
        .take_while(|c| c.is_alphanumeric() || *c == '%')
        .collect::<String>()
        .to_lowercase();
    if QUANTITIES.iter().any(|q| {
        first_word == *q || (is_cjk(q.chars().next().unwrap_or('a')) && first_word.starts_with(q))
    }) {
        return None;
    }
    let comment = rest
        .trim_start_matches(|c: char| {
            c.is_whitespace()
                || matches!(
                    c,
                    '-' | '–' | '—' | ':' | ',' | '.' | '!' | '，' | '。' | '！' | '：' | ')'
                )
        })
        .trim();
    Some(Rating {
        score,
        comment: (!comment.is_empty()).then(|| comment.to_owned()),
    })
}

fn leading_score(text: &str) -> Option<(u8, &str)> {
    let first = text.chars().next()?;
    let digit = match first {
        '1'..='5' => Some(first as u8 - b'0'),
        '１'..='５' => Some((first as u32 - '０' as u32) as u8),
        '一' => Some(1),
        '二' | '两' => Some(2),
        '三' => Some(3),
        '四' => Some(4),
        '五' => Some(5),
        _ => None,
    };
    if let Some(score) = digit {
        return Some((score, &text[first.len_utf8()..]));
    }
    // A run of stars, with or without the emoji variation selector.
    let mut stars = 0u8;
    let mut end = 0;
    for (i, c) in text.char_indices() {
        match c {
            '⭐' | '★' | '🌟' => {
                stars = stars.saturating_add(1);
                end = i + c.len_utf8();
            }
            '\u{fe0f}' => end = i + c.len_utf8(),
            _ => break,
        }
    }
    (1..=5).contains(&stars).then(|| (stars, &text[end..]))
}

fn strip_scale(rest: &str) -> &str {
    let lower = rest.to_lowercase();
    for scale in [
        "/ 5", "/5", "／5", "out of 5", "of 5", "stars", "star", "分", "星", "颗星", "⭐", "★",
    ] {
        if lower.starts_with(scale) && rest.is_char_boundary(scale.len()) {
            return &rest[scale.len()..];
        }
    }
    rest
}

fn is_cjk(c: char) -> bool {
    matches!(c as u32, 0x3000..=0x9fff | 0xff00..=0xffef)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_are_read_as_ratings_and_sentences_are_not() {
        let rated = |score, comment: Option<&str>| {
            Some(Rating {
                score,
                comment: comment.map(str::to_owned),
            })
        };
        let table: &[(&str, Option<Rating>)] = &[
            ("5", rated(5, None)),
            (" 4 ", rated(4, None)),
            ("1", rated(1, None)),
            ("5/5", rated(5, None)),
            ("3 / 5", rated(3, None)),
            ("4 out of 5", rated(4, None)),
            ("5 stars", rated(5, None)),
            (
                "2 - slow, took three days",
                rated(2, Some("slow, took three days")),
            ),
            (
                "5 thanks, great help!",
                rated(5, Some("thanks, great help!")),
            ),
            (
                "4: fast but confusing",
                rated(4, Some("fast but confusing")),
            ),
            ("4. ok", rated(4, Some("ok"))),
            ("⭐⭐⭐⭐", rated(4, None)),
            ("⭐️⭐️⭐️⭐️⭐️ perfect", rated(5, Some("perfect"))),
            ("★★", rated(2, None)),
            ("五", rated(5, None)),
            ("5分", rated(5, None)),
            ("四星，很快", rated(4, Some("很快"))),
            ("三分 回复有点慢", rated(3, Some("回复有点慢"))),
            ("５", rated(5, None)),
            ("1 的确很差", rated(1, Some("的确很差"))),
            // Not ratings.
            ("", None),
            ("0", None),
            ("6", None),
            ("15", None),
            ("3.5", None),
            ("4,5", None),
            ("5great", None),
            ("5 USDT are still missing", None),
            ("2 more questions", None),
            ("3 days and nothing", None),
            ("5 个币没到账", None),
            ("⭐⭐⭐⭐⭐⭐", None),
            ("thanks", None),
            ("my deposit is still missing", None),
            ("I rate you 5", None),
            ("很好", None),
        ];
        for (text, expected) in table {
            assert_eq!(&parse(text), expected, "{text:?}");
        }
        assert_eq!(parse(&format!("5 {}", "a".repeat(2000))), None);
        for button in BUTTONS {
            assert!(parse(button).is_some());
        }
    }
}
