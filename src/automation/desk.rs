//! The desk's decisions, as a pure function of what the store read: which automatic replies a
//! customer's message gets, and where the conversation's intake goes next. The worker in
//! `mod.rs` reads, calls `decide`, and writes the plan back in one transaction.

use super::config::{CategoryConfig, FrontDeskConfig};
use super::hours::BusinessHours;
use super::intake::{self, Check, mentions};
use super::texts::{Texts, pick};
use super::wait::{Expected, Queue, expected};
use crate::store::{DeskContext, DeskPlan, DeskReply, KnownIssue};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// Words that always hand a conversation to a person, in every language.
const HANDOFF: &[&str] = &[
    "agent",
    "human",
    "operator",
    "a person",
    "real person",
    "live agent",
    "talk to someone",
    "人工",
    "转人工",
    "人工客服",
    "真人",
    "客服人员",
];

/// Where the desk is with a conversation (kept as JSON on it).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct State {
    pub stage: Stage,
    /// When this round of the desk began (ms): an agent's reply after it ends the intake.
    pub since: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub category: Option<String>,
    /// The question of the category being asked.
    #[serde(default)]
    pub question: usize,
    /// The current question was already asked again once.
    #[serde(default)]
    pub retried: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub article: Option<String>,
    /// The check of the question waiting for an answer (`tx_hash`, ...): ingest reads it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expects: Option<String>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Stage {
    /// The category menu was sent.
    Menu,
    /// A category's questions are being asked.
    Asking,
    /// An article was offered: "did this solve it?"
    Article,
    /// Waiting for a person; the desk only listens (it still notes hashes and addresses).
    #[default]
    Human,
    /// The intake is complete.
    Done,
}

/// A confident knowledge-base match for the customer's first message.
#[derive(Debug, Clone, PartialEq)]
pub struct ArticleHit {
    pub id: String,
    pub title: String,
    pub summary: String,
    pub url: Option<String>,
}

/// The desk's fixed parts, built once from the config.
pub struct Desk {
    pub config: FrontDeskConfig,
    pub texts: Texts,
    pub hours: Option<BusinessHours>,
    /// The safety line under every acknowledgement (`[safety] notice`).
    pub safety: std::sync::Arc<crate::safety::Texts>,
}

/// What `decide` needs besides the config.
pub struct Input<'a> {
    pub context: &'a DeskContext,
    /// ms; the configured default while too few conversations were answered lately.
    pub median_first_response: i64,
    /// Active notices (the store's), matched here.
    pub notices: &'a [KnownIssue],
    /// The best confident article for this message, when it opens a conversation.
    pub article: Option<ArticleHit>,
}

impl Desk {
    pub fn new(
        config: FrontDeskConfig,
        safety: std::sync::Arc<crate::safety::Texts>,
    ) -> Result<Self, String> {
        let hours = config
            .hours
            .as_ref()
            .map(BusinessHours::parse)
            .transpose()?;
        Ok(Self {
            texts: Texts::new(&config.texts),
            hours,
            config,
            safety,
        })
    }

    pub fn enabled_on(&self, channel: &str) -> bool {
        self.config.enabled && !self.config.disabled_channels.iter().any(|c| c == channel)
    }

    /// The language automatic texts go out in for this message.
    pub fn reply_language(&self, context: &DeskContext) -> String {
        [&context.message_language, &context.conversation_language]
            .into_iter()
            .flatten()
            .find(|l| self.texts.has(l))
            .map_or("en", String::as_str)
            .to_owned()
    }

    fn is_handoff(&self, lower: &str) -> bool {
        HANDOFF
            .iter()
            .copied()
            .chain(self.config.handoff_words.iter().map(String::as_str))
            .any(|w| mentions(lower, w))
    }

    /// A category picked by number (`2`, `2.`, `#2`, `２`) or named by title or keyword.
    fn category_in(&self, lower: &str, by_number: bool) -> Option<&CategoryConfig> {
        let categories = &self.config.categories;
        if by_number {
            let digits: String = lower
                .trim()
                .trim_start_matches('#')
                .trim_end_matches(['.', ')', '。'])
                .chars()
                .map(|c| match c {
                    '０'..='９' => {
                        char::from_u32(c as u32 - '０' as u32 + '0' as u32).unwrap_or(c)
                    }
                    c => c,
                })
                .collect();
            if let Ok(n) = digits.parse::<usize>() {
                return n.checked_sub(1).and_then(|i| categories.get(i));
            }
        }
        categories.iter().find(|c| {
            c.title.values().any(|t| mentions(lower, t))
                || c.keywords.iter().any(|k| mentions(lower, k))
        })
    }

    fn menu(&self, language: &str) -> String {
        let mut text = self.texts.get(language, "menu").to_owned();
        for (n, category) in self.config.categories.iter().enumerate() {
            text.push_str(&format!("\n{}. {}", n + 1, pick(&category.title, language)));
        }
        text.push('\n');
        text.push_str(self.texts.get(language, "menu_skip"));
        text
    }

    /// The menu as buttons: each category as the text lists it, and a person.
    fn menu_choices(&self, language: &str) -> Vec<String> {
        let categories = self.config.categories.iter().enumerate();
        categories
            .map(|(n, c)| format!("{}. {}", n + 1, pick(&c.title, language)))
            .chain(std::iter::once(
                self.texts.get(language, "agent_button").to_owned(),
            ))
            .collect()
    }

    fn acknowledgement(
        &self,
        input: &Input,
        language: &str,
        lower: &str,
        category: Option<&str>,
    ) -> String {
        let context = input.context;
        let queue = Queue {
            waiting_ahead: context.waiting_ahead,
            active_agents: context.active_agents,
            median_first_response: input.median_first_response,
        };
        let now = crate::store::from_millis(context.now);
        let t = |key| self.texts.get(language, key);
        let mut wait = match expected(&queue, self.hours.as_ref(), now) {
            Expected::Within(minutes) => t("within").replace("{minutes}", &minutes.to_string()),
            Expected::Back(at) => {
                let time = self
                    .hours
                    .as_ref()
                    .map(|h| h.describe(at))
                    .unwrap_or_default();
                t("back").replace("{time}", &time)
            }
        };
        if queue.waiting_ahead > 0 {
            wait.push(' ');
            wait.push_str(&t("ahead").replace("{ahead}", &queue.waiting_ahead.to_string()));
        }
        let mut text = t("acknowledgement").replace("{wait}", &wait);
        for notice in input
            .notices
            .iter()
            .filter(|n| notice_matches(n, lower, category))
        {
            text.push_str(&format!(
                "\n\n{} {}",
                t("notice"),
                pick(&notice.texts, language)
            ));
        }
        self.safety.with_notice(&text)
    }
}

fn notice_matches(notice: &KnownIssue, lower: &str, category: Option<&str>) -> bool {
    (notice.keywords.is_empty() && notice.categories.is_empty())
        || notice.keywords.iter().any(|k| mentions(lower, k))
        || category.is_some_and(|c| notice.categories.iter().any(|n| n == c))
}

/// Checks whose answer may be taken from anything the customer writes (the others, such as
/// an amount or free text, only as the answer to their own question).
fn recognisable(check: Check) -> bool {
    matches!(
        check,
        Check::Chain | Check::TxHash | Check::Address | Check::Screenshot
    )
}

/// Fills the category's unanswered fields that `text` answers unmistakably; `also` names one
/// more field to try with any check (the question just asked).
fn fill(
    config: &FrontDeskConfig,
    category: Option<&CategoryConfig>,
    intake: &mut Map<String, Value>,
    text: &str,
    images: i64,
) {
    let Some(category) = category else { return };
    for question in &category.questions {
        if intake.contains_key(&question.field) || !recognisable(question.check) {
            continue;
        }
        let chain = intake
            .get("chain")
            .and_then(Value::as_str)
            .map(str::to_owned);
        if let Some(value) = intake::find(question.check, text, images, chain.as_deref()) {
            intake.insert(question.field.clone(), Value::String(value));
        }
    }
    link(config, intake);
}

/// Adds the explorer link once both the chain and a hash are known.
fn link(config: &FrontDeskConfig, intake: &mut Map<String, Value>) {
    let (Some(chain), Some(hash)) = (
        intake.get("chain").and_then(Value::as_str),
        intake.get("tx_hash").and_then(Value::as_str),
    ) else {
        return;
    };
    if let Some(url) = intake::explorer_url(&config.explorers, chain, hash) {
        intake.insert("tx_url".into(), Value::String(url));
    }
}

/// The next unanswered question of the category at or after `from`.
fn next_question(
    category: &CategoryConfig,
    intake: &Map<String, Value>,
    from: usize,
) -> Option<usize> {
    (from..category.questions.len()).find(|&i| !intake.contains_key(&category.questions[i].field))
}

fn push(replies: &mut Vec<DeskReply>, text: impl Into<String>) {
    replies.push(DeskReply::from(text.into()));
}

/// Starts `category`'s intake with what `text` already answers; returns the first question
/// left to ask (`None`: nothing left, the intake is done).
fn begin(
    desk: &Desk,
    category: &CategoryConfig,
    state: &mut State,
    intake: &mut Map<String, Value>,
    text: &str,
    images: i64,
) -> Option<usize> {
    intake.insert("category".into(), Value::String(category.id.clone()));
    fill(&desk.config, Some(category), intake, text, images);
    state.category = Some(category.id.clone());
    let next = next_question(category, intake, 0);
    match next {
        Some(n) => {
            state.stage = Stage::Asking;
            state.question = n;
        }
        None => state.stage = Stage::Done,
    }
    next
}

/// What the desk does about the message of `input.context`.
pub fn decide(desk: &Desk, input: &Input) -> DeskPlan {
    let context = input.context;
    // A short message ("TRC20", "ok") may be misread: it names the conversation's language
    // only when there is none yet.
    let substantial = context.text.chars().filter(|c| c.is_alphabetic()).count() >= 12;
    let mut plan = DeskPlan {
        language: context
            .message_language
            .clone()
            .filter(|l| Some(l) != context.conversation_language.as_ref())
            .filter(|_| substantial || context.conversation_language.is_none()),
        ..DeskPlan::default()
    };
    if !desk.enabled_on(&context.channel) {
        return plan;
    }
    let language = desk.reply_language(context);
    let t = |key| desk.texts.get(&language, key);
    // Telegram's `/start` opens a chat; it is not a question.
    let text = context.text.trim();
    let text = if text.starts_with("/start") { "" } else { text };
    let lower = text.to_lowercase();
    let intake_before: Map<String, Value> = context
        .intake
        .as_deref()
        .and_then(|j| serde_json::from_str(j).ok())
        .unwrap_or_default();
    let mut intake = intake_before.clone();
    let state_before: Option<State> = context
        .state
        .as_deref()
        .and_then(|j| serde_json::from_str(j).ok());
    let category_of =
        |id: Option<&str>| id.and_then(|id| desk.config.categories.iter().find(|c| c.id == id));
    let ask = |category: &CategoryConfig, n: usize| {
        pick(&category.questions[n].ask, &language).to_owned()
    };
    let mut replies: Vec<DeskReply> = Vec::new();
    let state = if context.item.trigger != "message" {
        let mut state = State {
            since: context.now,
            ..State::default()
        };
        let handoff = desk.is_handoff(&lower);
        let picked = (!handoff)
            .then(|| desk.category_in(&lower, false))
            .flatten();
        let category_id = picked
            .map(|c| c.id.as_str())
            .or(intake.get("category").and_then(Value::as_str));
        let ack = desk.acknowledgement(input, &language, &lower, category_id);
        if handoff {
            push(&mut replies, ack);
        } else if let Some(article) = &input.article {
            state.stage = Stage::Article;
            state.article = Some(article.id.clone());
            push(&mut replies, ack);
            let first = |key| desk.texts.words(&language, key).into_iter().next();
            replies.push(DeskReply {
                text: t("article")
                    .replace("{title}", &article.title)
                    .replace("{summary}", &article.summary)
                    .replace("{url}", article.url.as_deref().unwrap_or("")),
                choices: first("yes_words")
                    .into_iter()
                    .chain(first("no_words"))
                    .collect(),
            });
        } else if let Some(category) = picked {
            match begin(
                desk,
                category,
                &mut state,
                &mut intake,
                text,
                context.images,
            ) {
                Some(n) => push(&mut replies, format!("{ack}\n\n{}", ask(category, n))),
                None => push(&mut replies, ack),
            }
        } else if !desk.config.categories.is_empty() {
            state.stage = Stage::Menu;
            replies.push(DeskReply {
                text: format!("{ack}\n\n{}", desk.menu(&language)),
                choices: desk.menu_choices(&language),
            });
        } else {
            push(&mut replies, ack);
        }
        Some(state)
    } else if let Some(mut state) = state_before.clone() {
        let agent_took_over = context
            .last_agent_reply_at
            .is_some_and(|at| at >= state.since);
        if agent_took_over && !matches!(state.stage, Stage::Human | Stage::Done) {
            state.stage = Stage::Human;
        }
        let handoff = desk.is_handoff(&lower);
        match state.stage {
            Stage::Human | Stage::Done => {
                fill(
                    &desk.config,
                    category_of(state.category.as_deref()),
                    &mut intake,
                    text,
                    context.images,
                );
            }
            Stage::Menu if handoff => {
                state.stage = Stage::Human;
                push(&mut replies, t("handoff").to_owned());
            }
            Stage::Menu => match desk.category_in(&lower, true) {
                Some(category) => {
                    match begin(
                        desk,
                        category,
                        &mut state,
                        &mut intake,
                        text,
                        context.images,
                    ) {
                        Some(n) => push(&mut replies, ask(category, n)),
                        None => push(&mut replies, t("intake_done").to_owned()),
                    }
                }
                // They write freely instead: the menu is not asked again.
                None => state.stage = Stage::Human,
            },
            Stage::Asking if handoff => {
                state.stage = Stage::Human;
                push(&mut replies, t("handoff").to_owned());
            }
            Stage::Asking => match category_of(state.category.as_deref()) {
                Some(category) if state.question < category.questions.len() => {
                    let question = &category.questions[state.question];
                    let chain = intake
                        .get("chain")
                        .and_then(Value::as_str)
                        .map(str::to_owned);
                    match intake::find(question.check, text, context.images, chain.as_deref()) {
                        Some(value) => {
                            intake.insert(question.field.clone(), Value::String(value));
                            fill(
                                &desk.config,
                                Some(category),
                                &mut intake,
                                text,
                                context.images,
                            );
                            state.retried = false;
                            match next_question(category, &intake, state.question + 1) {
                                Some(n) => {
                                    state.question = n;
                                    push(&mut replies, ask(category, n));
                                }
                                None => {
                                    state.stage = Stage::Done;
                                    push(&mut replies, t("intake_done").to_owned());
                                }
                            }
                        }
                        None if !state.retried => {
                            state.retried = true;
                            fill(
                                &desk.config,
                                Some(category),
                                &mut intake,
                                text,
                                context.images,
                            );
                            push(
                                &mut replies,
                                t("again")
                                    .replace("{question}", &ask(category, state.question))
                                    .replace(
                                        "{example}",
                                        intake::example(question.check, chain.as_deref()),
                                    ),
                            );
                        }
                        // Asked twice and still something else: they want to write freely.
                        None => {
                            fill(
                                &desk.config,
                                Some(category),
                                &mut intake,
                                text,
                                context.images,
                            );
                            state.stage = Stage::Human;
                        }
                    }
                }
                // The category or its questions changed in the config meanwhile.
                _ => state.stage = Stage::Human,
            },
            Stage::Article => {
                let answer = lower.trim().trim_end_matches(['.', '!', '。', '！']);
                let said = |key| {
                    desk.texts.words(&language, key).iter().any(|w| {
                        answer == w.as_str() || (w.chars().count() > 2 && mentions(answer, w))
                    })
                };
                if !handoff && said("yes_words") && !said("no_words") {
                    state.stage = Stage::Done;
                    plan.resolve = true;
                    push(&mut replies, t("article_solved").to_owned());
                } else if said("no_words") || handoff {
                    state.stage = Stage::Human;
                    push(&mut replies, t("article_not_solved").to_owned());
                } else {
                    // A further question: a person answers it.
                    state.stage = Stage::Human;
                    push(&mut replies, t("handoff").to_owned());
                }
            }
        }
        Some(state)
    } else {
        // The conversation began before the desk or with a machine's message: it stays quiet.
        None
    };
    let state = state.map(|mut s| {
        s.expects = (s.stage == Stage::Asking)
            .then(|| category_of(s.category.as_deref()))
            .flatten()
            .and_then(|c| c.questions.get(s.question))
            .map(|q| q.check.name().to_owned());
        s
    });
    link(&desk.config, &mut intake);
    let allowed = desk
        .config
        .max_per_hour
        .saturating_sub(context.auto_last_hour)
        .max(0);
    replies.truncate(usize::try_from(allowed).unwrap_or(0));
    plan.replies = replies;
    if state != state_before {
        plan.state = state.and_then(|s| serde_json::to_string(&s).ok());
    }
    if intake != intake_before {
        plan.intake = serde_json::to_string(&intake).ok();
    }
    plan
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::DeskItem;

    fn desk() -> Desk {
        let example = include_str!("../../deploy/switchboard.example.toml");
        let config: crate::config::Config = toml::from_str(example).unwrap();
        let mut front_desk = config.front_desk;
        front_desk.hours = None;
        Desk::new(front_desk, Default::default()).unwrap()
    }

    fn context(trigger: &str, text: &str, state: Option<&State>) -> DeskContext {
        DeskContext {
            item: DeskItem {
                message_id: 2,
                conversation_id: 1,
                trigger: trigger.into(),
            },
            channel: "website".into(),
            status: "open".into(),
            text: text.into(),
            images: 0,
            message_language: crate::automation::language::detect(None, text),
            conversation_language: None,
            state: state.map(|s| serde_json::to_string(s).unwrap()),
            intake: None,
            last_agent_reply_at: None,
            auto_last_hour: 0,
            waiting_ahead: 0,
            active_agents: 1,
            now: 1_000,
            conversation: crate::store::Conversation {
                id: 1,
                channel: "website".into(),
                status: crate::store::Status::Open,
                priority: crate::store::Priority::Normal,
                flags: Vec::new(),
                subject: None,
                contact: crate::store::ContactRef {
                    id: 1,
                    display_name: "Customer".into(),
                    verified_emails: Vec::new(),
                },
                assignee_id: None,
                team_id: None,
                team: None,
                labels: Vec::new(),
                priority_reason: None,
                sla: None,
                snoozed_until: None,
                csat: None,
                language: None,
                intake: None,
                created_at: Default::default(),
                last_message_at: Default::default(),
            },
            unanswered: 1,
            unanswered_since: Some(1_000),
        }
    }

    fn run(context: &DeskContext) -> (Vec<String>, Option<State>) {
        let input = Input {
            context,
            median_first_response: 10 * 60_000,
            notices: &[],
            article: None,
        };
        let plan = decide(&desk(), &input);
        let state = plan
            .state
            .as_deref()
            .map(|s| serde_json::from_str(s).unwrap())
            .or_else(|| {
                context
                    .state
                    .as_deref()
                    .map(|s| serde_json::from_str(s).unwrap())
            });
        (plan.replies.into_iter().map(|r| r.text).collect(), state)
    }

    fn at(stage: Stage, category: Option<&str>, question: usize, retried: bool) -> State {
        State {
            stage,
            since: 0,
            category: category.map(str::to_owned),
            question,
            retried,
            ..State::default()
        }
    }

    #[test]
    fn a_table_of_customer_turns() {
        // (trigger, state before, customer text, replies, first reply starts with, stage after)
        let menu = at(Stage::Menu, None, 0, false);
        let tx = at(Stage::Asking, Some("deposit"), 1, false);
        let tx_again = at(Stage::Asking, Some("deposit"), 1, true);
        let human = at(Stage::Human, Some("deposit"), 0, false);
        type Turn<'a> = (&'a str, Option<&'a State>, &'a str, usize, &'a str, Stage);
        let cases: Vec<Turn> = vec![
            (
                "opened",
                None,
                "Hello there",
                1,
                "Thanks for contacting support",
                Stage::Menu,
            ),
            (
                "opened",
                None,
                "my deposit has not arrived",
                1,
                "Thanks for contacting support",
                Stage::Asking,
            ),
            (
                "opened",
                None,
                "I want a human please",
                1,
                "Thanks for contacting support",
                Stage::Human,
            ),
            (
                "opened",
                None,
                "/start",
                1,
                "Thanks for contacting support",
                Stage::Menu,
            ),
            (
                "opened",
                None,
                "你好，请问一下",
                1,
                "感谢联系客服",
                Stage::Menu,
            ),
            (
                "reopened",
                Some(&human),
                "hello again",
                1,
                "Thanks for contacting support",
                Stage::Menu,
            ),
            (
                "message",
                Some(&menu),
                "2",
                1,
                "Which network was the transfer on?",
                Stage::Asking,
            ),
            (
                "message",
                Some(&menu),
                "#4",
                1,
                "Which address did the funds go to?",
                Stage::Asking,
            ),
            (
                "message",
                Some(&menu),
                "转人工",
                1,
                "谢谢，客服人员会接手",
                Stage::Human,
            ),
            (
                "message",
                Some(&menu),
                "why is this so slow",
                0,
                "",
                Stage::Human,
            ),
            (
                "message",
                Some(&tx),
                "I don't have it",
                1,
                "Sorry, that does not look right.",
                Stage::Asking,
            ),
            (
                "message",
                Some(&tx_again),
                "I still don't have it",
                0,
                "",
                Stage::Human,
            ),
            (
                "message",
                Some(&tx),
                "txid 0x5c504ed432cb51138bcf09aa5e8a410dd4a1e204ef84bfed1be16dfba1b22060",
                1,
                "How much did you send",
                Stage::Asking,
            ),
            (
                "message",
                Some(&tx),
                "talk to a human",
                1,
                "Thank you. A person",
                Stage::Human,
            ),
            ("message", Some(&human), "anyone?", 0, "", Stage::Human),
            (
                "message",
                None,
                "a conversation from before the desk",
                0,
                "",
                Stage::Human,
            ),
        ];
        for (trigger, before, text, n, starts, stage) in cases {
            let (replies, after) = run(&context(trigger, text, before));
            assert_eq!(replies.len(), n, "{trigger} {text:?}: {replies:?}");
            if n > 0 {
                assert!(replies[0].starts_with(starts), "{text:?}: {}", replies[0]);
            }
            assert_eq!(
                after.map_or(Stage::Human, |s| s.stage),
                stage,
                "{trigger} {text:?}"
            );
        }
    }

    #[test]
    fn an_agent_reply_ends_the_intake_and_the_cap_holds() {
        let asking = at(Stage::Asking, Some("deposit"), 0, false);
        let mut c = context("message", "hmm", Some(&asking));
        c.last_agent_reply_at = Some(5);
        let (replies, after) = run(&c);
        assert!(replies.is_empty());
        assert_eq!(after.unwrap().stage, Stage::Human);
        let mut c = context("opened", "Hello there", None);
        c.auto_last_hour = 6;
        assert!(
            run(&c).0.is_empty(),
            "six automatic messages this hour already"
        );
    }
}
