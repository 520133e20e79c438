//! What the desk says, per language: English and Simplified Chinese built in, every text
//! replaceable per language in `[front_desk.texts.<lang>]`, more languages added the same way.
//! A customer whose language has no text gets English.

use std::collections::BTreeMap;

/// The text keys; `{...}` placeholders are filled in as named.
pub const KEYS: &[&str] = &[
    // Opening a conversation. {wait}: the `within` or `back` sentence.
    "acknowledgement",
    // {minutes}: the expected wait, already rounded.
    "within",
    // {ahead}: how many customers wait before this one.
    "ahead",
    // {time}: when the team is back, with its time zone.
    "back",
    // Before the numbered categories.
    "menu",
    // After them.
    "menu_skip",
    // The button that asks for a person (Telegram's keyboard under the menu).
    "agent_button",
    "handoff",
    // A question asked again: {question}, {example}.
    "again",
    "intake_done",
    // An article: {title}, {summary}, {url}.
    "article",
    "article_solved",
    "article_not_solved",
    // A known issue, before its text.
    "notice",
    // Words (comma-separated) that answer the article question.
    "yes_words",
    "no_words",
    // To a customer who has not answered a pending conversation for `follow_up.remind_after`.
    "follow_up_reminder",
    // The satisfaction survey after an agent resolved a conversation ([csat]).
    "csat_question",
    // After a rating without a comment: thanks, and the invitation to add one.
    "csat_thanks",
    // After the comment.
    "csat_comment_thanks",
];

const EN: &[(&str, &str)] = &[
    (
        "acknowledgement",
        "Thanks for contacting support, we have your message. {wait}",
    ),
    ("within", "An agent will reply in about {minutes} minutes."),
    ("ahead", "{ahead} customers are ahead of you."),
    (
        "back",
        "Our team is offline right now and back at {time}; we will answer you then.",
    ),
    (
        "menu",
        "So we can help faster, reply with the number of your topic:",
    ),
    (
        "menu_skip",
        "Or just describe your problem, or write \"agent\" to wait for a person.",
    ),
    ("agent_button", "Talk to a person"),
    (
        "handoff",
        "Thank you. A person from our team will take it from here.",
    ),
    (
        "again",
        "Sorry, that does not look right. {question}\nFor example: {example}",
    ),
    (
        "intake_done",
        "Thank you, that is everything we need. An agent will look at it.",
    ),
    (
        "article",
        "This article may answer your question:\n{title}\n{summary}\n{url}\n\nDid this solve it? Reply yes or no.",
    ),
    (
        "article_solved",
        "Glad it helped! Write to us again any time.",
    ),
    (
        "article_not_solved",
        "Sorry it did not help. A person from our team will answer you.",
    ),
    ("notice", "Known issue:"),
    (
        "yes_words",
        "yes,y,yeah,yep,solved,thanks,thank you,ok,it worked",
    ),
    (
        "no_words",
        "no,n,nope,not solved,didn't help,did not help,doesn't help",
    ),
    (
        "follow_up_reminder",
        "We are still waiting for your answer to our last message. Reply here when you can; if we do not hear from you, we will close this conversation in a while (writing to us again opens it).",
    ),
    (
        "csat_question",
        "How would you rate the help you got? Reply with a number from 1 (poor) to 5 (excellent), and add a comment if you like.",
    ),
    (
        "csat_thanks",
        "Thank you for your rating! If you want to tell us more, just reply here.",
    ),
    (
        "csat_comment_thanks",
        "Thank you, we have passed your comment on to the team.",
    ),
];

const ZH: &[(&str, &str)] = &[
    (
        "acknowledgement",
        "感谢联系客服，我们已收到您的消息。{wait}",
    ),
    ("within", "客服预计约 {minutes} 分钟内回复您。"),
    ("ahead", "您前面还有 {ahead} 位客户在等待。"),
    ("back", "我们的团队目前不在线，将于 {time} 回来并回复您。"),
    ("menu", "为了更快帮到您，请回复问题类型的编号："),
    (
        "menu_skip",
        "也可以直接描述您的问题，或回复“人工”等待客服。",
    ),
    ("agent_button", "转人工"),
    ("handoff", "谢谢，客服人员会接手处理您的问题。"),
    (
        "again",
        "抱歉，这个格式好像不对。{question}\n例如：{example}",
    ),
    ("intake_done", "谢谢，信息已齐全，客服会尽快处理。"),
    (
        "article",
        "这篇文章也许能解答您的问题：\n{title}\n{summary}\n{url}\n\n问题解决了吗？请回复“是”或“否”。",
    ),
    ("article_solved", "很高兴能帮到您！有需要随时联系我们。"),
    ("article_not_solved", "抱歉没能解决，客服人员会回复您。"),
    ("notice", "已知问题："),
    ("yes_words", "是,是的,解决了,好的,谢谢,可以了,yes"),
    ("no_words", "否,不是,没有,没解决,不行,no"),
    (
        "follow_up_reminder",
        "我们仍在等待您对上一条消息的回复。方便时请直接在这里回复；如果一段时间内没有收到您的消息，我们将关闭此对话（再次给我们发消息即可重新打开）。",
    ),
    (
        "csat_question",
        "您对本次服务满意吗？请回复 1（很差）到 5（非常满意）的数字，也可以附上您的意见。",
    ),
    (
        "csat_thanks",
        "感谢您的评分！如果还有想告诉我们的，直接在这里回复即可。",
    ),
    ("csat_comment_thanks", "谢谢，我们已将您的意见转达给团队。"),
];

#[derive(Debug, Clone)]
pub struct Texts {
    by_language: BTreeMap<String, BTreeMap<String, String>>,
}

impl Texts {
    pub fn new(configured: &BTreeMap<String, BTreeMap<String, String>>) -> Self {
        let mut by_language = BTreeMap::new();
        for (language, table) in [("en", EN), ("zh", ZH)] {
            by_language.insert(
                language.to_owned(),
                table
                    .iter()
                    .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                    .collect::<BTreeMap<_, _>>(),
            );
        }
        for (language, texts) in configured {
            let table = by_language.entry(language.clone()).or_default();
            for (key, text) in texts {
                table.insert(key.clone(), text.clone());
            }
        }
        Self { by_language }
    }

    /// The text `key` in `language`, else in English.
    pub fn get(&self, language: &str, key: &str) -> &str {
        self.by_language
            .get(language)
            .and_then(|t| t.get(key))
            .or_else(|| self.by_language.get("en").and_then(|t| t.get(key)))
            .map(String::as_str)
            .unwrap_or("")
    }

    /// The text `key` in every language that has it.
    pub fn all(&self, key: &str) -> BTreeMap<String, String> {
        self.by_language
            .iter()
            .filter_map(|(language, table)| Some((language.clone(), table.get(key)?.clone())))
            .collect()
    }

    /// Whether there are texts for `language` (else the customer is answered in English).
    pub fn has(&self, language: &str) -> bool {
        self.by_language.contains_key(language)
    }

    /// The comma-separated word list `key` in `language` and in English.
    pub fn words(&self, language: &str, key: &str) -> Vec<String> {
        let mut words: Vec<String> = [self.get(language, key), self.get("en", key)]
            .iter()
            .flat_map(|list| list.split(','))
            .map(|w| w.trim().to_lowercase())
            .filter(|w| !w.is_empty())
            .collect();
        words.dedup();
        words
    }
}

/// A per-language table's entry for `language`, else English, else any.
pub fn pick<'a>(table: &'a BTreeMap<String, String>, language: &str) -> &'a str {
    table
        .get(language)
        .or_else(|| table.get("en"))
        .or_else(|| table.values().next())
        .map(String::as_str)
        .unwrap_or("")
}
