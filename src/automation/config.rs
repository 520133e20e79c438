//! `[front_desk]`: what the desk says and asks, when the team works, and where a transaction
//! hash links to.

use serde::Deserialize;
use std::collections::BTreeMap;
use std::time::Duration;

/// Texts per language: `{ en = "...", zh = "..." }`.
pub type PerLanguage = BTreeMap<String, String>;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FrontDeskConfig {
    /// The desk answers at all (acknowledgement, intake, articles).
    pub enabled: bool,
    /// Channels (by name) where it stays silent; their messages are still recorded.
    pub disabled_channels: Vec<String>,
    /// Automatic messages one conversation gets per hour at most, whatever triggers them.
    pub max_per_hour: i64,
    /// Words that stop the intake and wait for a person, besides the built-in ones
    /// (agent, human, operator, person, 人工, 转人工, 客服, 真人).
    pub handoff_words: Vec<String>,
    /// The first-response time assumed while fewer than 5 conversations of the last 7 days
    /// were answered (a new installation): the expected wait is measured, not configured,
    /// as soon as there is something to measure.
    #[serde(with = "humantime_serde")]
    pub default_first_response: Duration,
    /// Business hours; without them the team is taken to be always there.
    pub hours: Option<HoursConfig>,
    /// Texts per language, replacing the built-in ones key by key:
    /// `[front_desk.texts.en] acknowledgement = "..."`.
    pub texts: BTreeMap<String, BTreeMap<String, String>>,
    /// Intake categories, in menu order.
    #[serde(rename = "category")]
    pub categories: Vec<CategoryConfig>,
    /// Block-explorer URL per chain, `{tx}` replaced by the hash; built in: ethereum, bsc,
    /// polygon, arbitrum, optimism, base, avalanche, tron, bitcoin, solana.
    pub explorers: BTreeMap<String, String>,
}

impl Default for FrontDeskConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            disabled_channels: Vec::new(),
            max_per_hour: 6,
            handoff_words: Vec::new(),
            default_first_response: Duration::from_secs(15 * 60),
            hours: None,
            texts: BTreeMap::new(),
            categories: Vec::new(),
            explorers: BTreeMap::new(),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HoursConfig {
    /// An IANA zone, `Asia/Singapore`.
    pub timezone: String,
    /// Per weekday (`mon` ... `sun`): `"09:00-18:00"`, several ranges separated by commas, or
    /// left out for a day off.
    #[serde(default)]
    pub weekly: BTreeMap<String, String>,
    /// Dates (`2026-12-25`) without service.
    #[serde(default)]
    pub holidays: Vec<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CategoryConfig {
    /// Stored as `intake.category`, used by notices and (later) routing rules.
    pub id: String,
    /// The menu entry per language.
    pub title: PerLanguage,
    /// Words in a customer's message that pick this category without the menu.
    #[serde(default)]
    pub keywords: Vec<String>,
    #[serde(default, rename = "question")]
    pub questions: Vec<QuestionConfig>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QuestionConfig {
    /// The intake key the answer is stored under (`tx_hash`, `chain`, ...).
    pub field: String,
    /// What a valid answer is: chain, tx_hash, address, amount, time, screenshot, text.
    pub check: crate::automation::intake::Check,
    pub ask: PerLanguage,
}

pub const WEEKDAYS: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];

impl FrontDeskConfig {
    /// Every error, each naming its key; `channels` are the configured channel names.
    pub fn validate(&self, channels: &[&str]) -> Vec<String> {
        let mut errors = Vec::new();
        for name in &self.disabled_channels {
            if !channels.contains(&name.as_str()) {
                errors.push(format!(
                    "front_desk.disabled_channels: {name:?} is not a configured channel"
                ));
            }
        }
        if self.max_per_hour < 1 {
            errors.push("front_desk.max_per_hour: must be at least 1".into());
        }
        if let Some(hours) = &self.hours
            && let Err(e) = crate::automation::hours::BusinessHours::parse(hours)
        {
            errors.push(format!("front_desk.hours: {e}"));
        }
        for (language, texts) in &self.texts {
            for key in texts.keys() {
                if !crate::automation::texts::KEYS.contains(&key.as_str()) {
                    errors.push(format!(
                        "front_desk.texts.{language}.{key}: unknown text (known: {})",
                        crate::automation::texts::KEYS.join(", ")
                    ));
                }
            }
        }
        let mut ids = Vec::new();
        for (n, category) in self.categories.iter().enumerate() {
            let key = format!("front_desk.category[{n}]");
            if category.id.trim().is_empty() {
                errors.push(format!("{key}.id: empty"));
            }
            if ids.contains(&category.id) {
                errors.push(format!("{key}.id: {:?} is used twice", category.id));
            }
            ids.push(category.id.clone());
            if !category.title.contains_key("en") {
                errors.push(format!("{key}.title: needs at least an `en` title"));
            }
            for (q, question) in category.questions.iter().enumerate() {
                if !question.ask.contains_key("en") {
                    errors.push(format!(
                        "{key}.question[{q}].ask: needs at least an `en` text"
                    ));
                }
                if question.field.trim().is_empty() || question.field == "category" {
                    errors.push(format!(
                        "{key}.question[{q}].field: must be a name other than `category`"
                    ));
                }
            }
        }
        for (chain, url) in &self.explorers {
            if !url.contains("{tx}") || !(url.starts_with("https://") || url.starts_with("http://"))
            {
                errors.push(format!(
                    "front_desk.explorers.{chain}: an http(s) URL with {{tx}} in it"
                ));
            }
        }
        errors
    }
}
