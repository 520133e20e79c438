//! Urgency: which customer messages put a conversation on top of the queue. Wording about
//! stolen funds, scams and phishing, account takeover, and anger (in the languages the desk
//! detects most), and repeated follow-ups nobody answered. Measured on the labelled set in
//! `tests/fixtures/urgency.toml` (`cargo test --lib urgency_precision`).
//!
//! Word lists, not a model: an operator can read why a conversation was raised, and a miss is
//! fixed by a phrase. Questions *about* safety ("how do I avoid scams?", "I didn't click it")
//! are told apart by guard phrases, which only an incident statement overrides.

/// Why a conversation is urgent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    Stolen,
    Scam,
    Takeover,
    Anger,
    FollowUps,
}

impl Reason {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Stolen => "stolen",
            Self::Scam => "scam",
            Self::Takeover => "takeover",
            Self::Anger => "anger",
            Self::FollowUps => "followups",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Urgency {
    pub reason: Reason,
    /// The phrase that matched (shown as the reason on the conversation).
    pub evidence: String,
}

/// (phrase, reason, definite). A definite phrase states an incident and stands even beside
/// a guard phrase; the others read as a question about the topic when a guard is present.
type Phrase = (&'static str, Reason, bool);

use Reason::{Anger, Scam, Stolen, Takeover};

const PHRASES: &[Phrase] = &[
    // English: stolen funds.
    ("stolen", Stolen, true),
    ("stole ", Stolen, true),
    ("drained", Stolen, true),
    ("emptied my", Stolen, true),
    ("wallet was emptied", Stolen, true),
    ("wallet is empty", Stolen, false),
    ("unauthorized transfer", Stolen, true),
    ("unauthorized transaction", Stolen, true),
    ("unauthorized withdraw", Stolen, true),
    ("unauthorised", Stolen, true),
    ("didn't make this", Stolen, true),
    ("did not make this", Stolen, true),
    ("didnt make this", Stolen, true),
    ("i never sent", Stolen, true),
    ("i didn't send", Stolen, true),
    ("i did not send", Stolen, true),
    ("i didnt send", Stolen, true),
    ("never authorized", Stolen, true),
    ("didn't authorize", Stolen, true),
    ("did not authorize", Stolen, true),
    ("without my permission", Stolen, true),
    ("without my consent", Stolen, true),
    ("hacked", Stolen, true),
    ("hacker", Stolen, false),
    ("funds are gone", Stolen, true),
    ("money is gone", Stolen, true),
    ("coins are gone", Stolen, true),
    ("everything is gone", Stolen, true),
    ("all my funds", Stolen, false),
    ("all my money", Stolen, false),
    ("not me who", Stolen, true),
    ("wasn't me", Stolen, true),
    ("was not me", Stolen, true),
    ("did not make", Stolen, true),
    ("didn't make", Stolen, true),
    ("haven't made any", Stolen, true),
    ("have not made any", Stolen, true),
    ("compromised", Stolen, true),
    ("lost all my", Stolen, true),
    // English: scams and phishing.
    ("scammed", Scam, true),
    ("scammer", Scam, false),
    ("scam", Scam, false),
    ("phishing", Scam, false),
    ("fake support", Scam, false),
    ("fake admin", Scam, false),
    ("fake site", Scam, false),
    ("fake website", Scam, false),
    ("fake airdrop", Scam, false),
    ("impersonat", Scam, false),
    ("entered my seed", Scam, true),
    ("typed my seed", Scam, true),
    ("gave my seed", Scam, true),
    ("gave them my seed", Scam, true),
    ("gave him my seed", Scam, true),
    ("shared my seed", Scam, true),
    ("sent my seed", Scam, true),
    ("sent them my seed", Scam, true),
    ("entered my recovery phrase", Scam, true),
    ("gave my recovery phrase", Scam, true),
    ("entered my private key", Scam, true),
    ("gave my private key", Scam, true),
    ("i got tricked", Scam, true),
    ("it was fake", Scam, true),
    ("was a fake", Scam, true),
    ("blocked me", Scam, false),
    ("signed a permit", Scam, true),
    ("approved a transaction", Scam, true),
    ("tricked me", Scam, true),
    // English: account takeover.
    ("someone logged in", Takeover, true),
    ("someone logged into", Takeover, true),
    ("someone else logged", Takeover, true),
    ("someone has access", Takeover, true),
    ("someone accessed", Takeover, true),
    ("changed my email", Takeover, false),
    ("changed my password", Takeover, false),
    ("changed my 2fa", Takeover, false),
    ("email was changed", Takeover, false),
    ("password was changed", Takeover, false),
    ("2fa was changed", Takeover, false),
    ("2fa was disabled", Takeover, true),
    ("locked me out", Takeover, true),
    ("took over my account", Takeover, true),
    ("taken over", Takeover, true),
    ("account takeover", Takeover, false),
    ("hijack", Takeover, true),
    ("i don't recognize", Takeover, false),
    ("i dont recognize", Takeover, false),
    ("not my device", Takeover, true),
    ("that's not me", Takeover, true),
    ("thats not me", Takeover, true),
    ("can't get back in", Takeover, false),
    // English: anger.
    ("unacceptable", Anger, true),
    ("ridiculous", Anger, true),
    ("worst ", Anger, true),
    ("useless", Anger, true),
    ("i will sue", Anger, true),
    ("i'll sue", Anger, true),
    ("lawyer", Anger, true),
    ("lawsuit", Anger, true),
    ("report you", Anger, true),
    ("third time", Anger, true),
    ("3rd time", Anger, true),
    ("still no answer", Anger, true),
    ("still no reply", Anger, true),
    ("nobody answers", Anger, true),
    ("no one answers", Anger, true),
    ("nobody replies", Anger, true),
    ("no one replies", Anger, true),
    ("garbage", Anger, true),
    ("wtf", Anger, true),
    ("fuck", Anger, true),
    ("shit", Anger, true),
    ("disgrace", Anger, true),
    ("pathetic", Anger, true),
    ("idiot", Anger, true),
    ("or i sue", Anger, true),
    ("fourth time", Anger, true),
    ("four times", Anger, true),
    ("regulator", Anger, true),
    ("filing a complaint", Anger, true),
    // Chinese.
    ("被盗", Stolen, true),
    ("盗走", Stolen, true),
    ("被偷", Stolen, true),
    ("偷走", Stolen, true),
    ("被转走", Stolen, true),
    ("被转空", Stolen, true),
    ("转空了", Stolen, true),
    ("被清空", Stolen, true),
    ("资产不见", Stolen, true),
    ("资金不见", Stolen, true),
    ("钱不见了", Stolen, true),
    ("币不见了", Stolen, true),
    ("全没了", Stolen, true),
    ("钱没了", Stolen, true),
    ("转走了", Stolen, true),
    ("没签过", Stolen, true),
    ("未授权", Stolen, true),
    ("没有授权", Stolen, false),
    ("不是我转", Stolen, true),
    ("不是我操作", Stolen, true),
    ("不是我本人", Stolen, true),
    ("我没有转", Stolen, true),
    ("我没转", Stolen, true),
    ("黑客", Stolen, false),
    ("被黑", Stolen, true),
    ("被骗", Scam, true),
    ("骗子", Scam, false),
    ("诈骗", Scam, false),
    ("骗走", Scam, true),
    ("钓鱼", Scam, false),
    ("假客服", Scam, false),
    ("冒充", Scam, false),
    ("假网站", Scam, false),
    ("输入了助记词", Scam, true),
    ("输了助记词", Scam, true),
    ("给了助记词", Scam, true),
    ("助记词给了", Scam, true),
    ("发了助记词", Scam, true),
    ("助记词发给", Scam, true),
    ("泄露了助记词", Scam, true),
    ("助记词泄露", Scam, true),
    ("把助记词", Scam, true),
    ("按他说的", Scam, true),
    ("导师", Scam, false),
    ("联系不上", Scam, false),
    ("被人登录", Takeover, true),
    ("别人登录", Takeover, true),
    ("别人登陆", Takeover, true),
    ("被人登陆", Takeover, true),
    ("异地登录", Takeover, false),
    ("盗号", Takeover, true),
    ("密码被改", Takeover, true),
    ("被改了密码", Takeover, true),
    ("邮箱被改", Takeover, true),
    ("被改了邮箱", Takeover, true),
    ("验证器被", Takeover, true),
    ("被踢出", Takeover, true),
    ("账号被人", Takeover, true),
    ("账户被人", Takeover, true),
    ("不是我登录", Takeover, true),
    ("被别人改", Takeover, true),
    ("被人改", Takeover, true),
    ("垃圾", Anger, true),
    ("投诉", Anger, true),
    ("报警", Anger, true),
    ("起诉", Anger, true),
    ("律师", Anger, true),
    ("曝光你们", Anger, true),
    ("什么破", Anger, true),
    ("太差劲", Anger, true),
    ("第三次", Anger, true),
    ("还没人回", Anger, true),
    ("没人回复", Anger, true),
    ("没人理", Anger, true),
    ("到底有没有人", Anger, true),
    ("最烂", Anger, true),
    ("无法接受", Anger, true),
    // Spanish.
    ("robado", Stolen, true),
    ("robaron", Stolen, true),
    ("hackearon", Stolen, true),
    ("hackeado", Stolen, true),
    ("vaciaron", Stolen, true),
    ("sin autorización", Stolen, true),
    ("no autoricé", Stolen, true),
    ("estafa", Scam, false),
    ("estafaron", Scam, true),
    ("me engañaron", Scam, true),
    ("soporte falso", Scam, false),
    ("alguien entró", Takeover, true),
    ("cambiaron mi contraseña", Takeover, true),
    ("cambiaron mi correo", Takeover, true),
    ("inaceptable", Anger, true),
    ("ridículo", Anger, true),
    ("basura", Anger, true),
    ("denunciar", Anger, true),
    ("abogado", Anger, true),
    // Portuguese.
    ("roubad", Stolen, true),
    ("roubaram", Stolen, true),
    ("hackearam", Stolen, true),
    ("esvaziaram", Stolen, true),
    ("sem autorização", Stolen, true),
    ("não autorizei", Stolen, true),
    ("golpe", Scam, false),
    ("golpista", Scam, false),
    ("fui enganad", Scam, true),
    ("suporte falso", Scam, false),
    ("alguém entrou", Takeover, true),
    ("mudaram minha senha", Takeover, true),
    ("mudaram meu e-mail", Takeover, true),
    ("mudaram meu email", Takeover, true),
    ("trocou a senha", Takeover, true),
    ("trocaram a senha", Takeover, true),
    ("esvaziad", Stolen, true),
    ("inaceitável", Anger, true),
    ("lixo", Anger, true),
    ("processar vocês", Anger, true),
    ("advogado", Anger, true),
    // Russian.
    ("украли", Stolen, true),
    ("украден", Stolen, true),
    ("взлом", Stolen, true),
    ("без моего", Stolen, true),
    ("не делал", Stolen, false),
    ("опустош", Stolen, true),
    ("пропали все", Stolen, true),
    ("мошенник", Scam, false),
    ("обманул", Scam, true),
    ("развели", Scam, true),
    ("фишинг", Scam, false),
    ("кто-то зашел", Takeover, true),
    ("кто-то зашёл", Takeover, true),
    ("кто-то вошел", Takeover, true),
    ("сменили пароль", Takeover, true),
    ("сменили почту", Takeover, true),
    ("безобразие", Anger, true),
    ("позор", Anger, true),
    ("в суд", Anger, true),
    ("жалоб", Anger, true),
    ("отвратительн", Anger, true),
    // Vietnamese.
    ("bị đánh cắp", Stolen, true),
    ("bị trộm", Stolen, true),
    ("bị hack", Stolen, true),
    ("mất hết", Stolen, true),
    ("trái phép", Stolen, true),
    ("không phải tôi", Stolen, true),
    ("lừa đảo", Scam, false),
    ("bị lừa", Scam, true),
    ("giả mạo", Scam, false),
    ("đăng nhập lạ", Takeover, false),
    ("ai đó đăng nhập", Takeover, true),
    ("có người đăng nhập", Takeover, true),
    ("đổi mật khẩu của tôi", Takeover, true),
    ("chiếm tài khoản", Takeover, true),
    ("tệ nhất", Anger, true),
    ("vô dụng", Anger, true),
    // Turkish.
    ("çalındı", Stolen, true),
    ("çaldı", Stolen, true),
    ("hacklendi", Stolen, true),
    ("izinsiz", Stolen, true),
    ("yetkisiz", Stolen, true),
    ("boşaltıldı", Stolen, true),
    ("dolandır", Scam, false),
    ("sahte destek", Scam, false),
    ("oltalama", Scam, false),
    ("biri giriş", Takeover, true),
    ("şifremi değiştirdi", Takeover, true),
    ("ele geçir", Takeover, true),
    ("rezalet", Anger, true),
    ("berbat", Anger, true),
    ("şikayet", Anger, true),
    ("avukat", Anger, true),
];

/// Phrases of a question about safety, a report of something the customer did not act on,
/// or a figure of speech.
const GUARDS: &[&str] = &[
    "how do i protect",
    "how can i protect",
    "how to protect",
    "how to avoid",
    "how do i avoid",
    "how can i avoid",
    "avoid scam",
    "prevent",
    "is this legit",
    "is this real",
    "is it real",
    "is this genuine",
    "is it legit",
    "is this a scam?",
    "is this a scam",
    "is it a scam",
    "already reported",
    "didn't click",
    "did not click",
    "didnt click",
    "haven't clicked",
    "didn't enter",
    "did not enter",
    "didn't reply",
    "didn't answer",
    "didn't give",
    "didn't share",
    "report a phishing",
    "report a scam",
    "report this",
    "want to report",
    "life hack",
    "just wondering",
    "what does",
    "security tips",
    "怎么防",
    "如何防",
    "防止",
    "防骗",
    "是真的吗",
    "是不是骗",
    "是不是钓鱼",
    "没点",
    "没有点",
    "没输入",
    "没有输入",
    "没回复",
    "举报",
    "小技巧",
    "提醒大家",
    "cómo evitar",
    "como evitar",
    "como me proteger",
    "cómo protegerme",
    "как защитить",
    "как избежать",
    "làm sao để tránh",
    "nasıl korun",
];

/// Phrases that make the whole message hypothetical, about someone else, or about a word:
/// not even an incident phrase stands beside them.
const FRAMES: &[&str] = &[
    "what happens if",
    "what if",
    "in case my",
    "my friend",
    "a friend of mine",
    "does your app",
    "do you have any protection",
    "protection against",
    "scam alert",
    "what does",
    "mean in",
    "朋友",
    "如果",
    "万一",
    "是什么意思",
    "有防盗",
    "防盗功能",
    "安全建议",
    "me proteger",
    "protegerme",
    "cómo evito",
    "como evito",
];

/// A secret's name and a verb of handing it over, anywhere in the message: the customer gave
/// away their wallet (the phrases above only catch the common word orders).
const SECRETS: &[&str] = &[
    "seed",
    "recovery phrase",
    "recovery words",
    "secret phrase",
    "private key",
    "助记词",
    "私钥",
    "frase semilla",
    "frase de recuperação",
    "сид",
    "секретн",
    "cụm từ",
    "kurtarma kelime",
];
const HANDED_OVER: &[&str] = &[
    "typed",
    "entered",
    "gave",
    "sent",
    "shared",
    "input",
    "pasted",
    "输入",
    "给了",
    "发给",
    "告诉了",
    "di ",
    "dei ",
    "ввел",
    "ввёл",
    "отправил",
    "đã nhập",
    "đã gửi",
    "verdim",
    "girdim",
];

/// How long repeated unanswered messages must span before they count as chasing.
const FOLLOW_UP_SPAN_MS: i64 = 30 * 60 * 1000;
/// Customer messages without an agent answer, this one included, that make a chase.
const FOLLOW_UPS: i64 = 3;

/// Whether one message is urgent, and why.
pub fn assess(text: &str) -> Option<Urgency> {
    let lower = text.to_lowercase();
    // Curly apostrophes (phones) read as straight ones.
    let lower = lower.replace(['\u{2019}', '\u{2018}'], "'");
    if FRAMES.iter().any(|f| lower.contains(f)) {
        return None;
    }
    let guarded = GUARDS.iter().any(|g| lower.contains(g));
    if !guarded
        && SECRETS.iter().any(|w| lower.contains(w))
        && HANDED_OVER.iter().any(|w| lower.contains(w))
    {
        return Some(Urgency {
            reason: Scam,
            evidence: "secret handed over".into(),
        });
    }
    let mut weak: Option<&Phrase> = None;
    for phrase in PHRASES {
        if !lower.contains(phrase.0) {
            continue;
        }
        if phrase.2 {
            return Some(found(phrase));
        }
        weak.get_or_insert(phrase);
    }
    if let Some(phrase) = weak.filter(|_| !guarded) {
        return Some(found(phrase));
    }
    shouting(text).then(|| Urgency {
        reason: Anger,
        evidence: "shouting".into(),
    })
}

fn found(phrase: &Phrase) -> Urgency {
    Urgency {
        reason: phrase.1,
        evidence: phrase.0.trim().to_owned(),
    }
}

/// Capitals through a message of some length, with exclamation marks: shouting.
fn shouting(text: &str) -> bool {
    let letters: Vec<char> = text.chars().filter(|c| c.is_alphabetic()).collect();
    let cased = letters
        .iter()
        .filter(|c| c.is_uppercase() || c.is_lowercase())
        .count();
    let upper = letters.iter().filter(|c| c.is_uppercase()).count();
    cased >= 15 && upper * 10 >= cased * 8 && text.contains('!')
}

/// The customer wrote `unanswered` messages since an agent last answered, the first at
/// `since`: three or more over half an hour is chasing.
pub fn follow_ups(unanswered: i64, since: Option<i64>, now: i64) -> Option<Urgency> {
    let since = since?;
    (unanswered >= FOLLOW_UPS && now.saturating_sub(since) >= FOLLOW_UP_SPAN_MS).then(|| Urgency {
        reason: Reason::FollowUps,
        evidence: format!("{unanswered} messages without an answer"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn incidents_are_urgent_and_questions_about_them_are_not() {
        let table: &[(&str, Option<Reason>)] = &[
            ("someone drained my wallet, 3000 USDT gone", Some(Stolen)),
            ("我的钱包被盗了，USDT全没了", Some(Stolen)),
            (
                "I entered my seed on a site that looked like yours",
                Some(Scam),
            ),
            ("how do I avoid scams?", None),
            ("Is this a scam? I didn't click the link", None),
            ("life hack: back up your seed twice", None),
            (
                "someone logged in from Lagos and changed my email",
                Some(Takeover),
            ),
            ("THIS IS THE WORST SERVICE EVER, ANSWER ME!!!", Some(Anger)),
            ("thanks!!!", None),
            ("my deposit hasn't arrived yet", None),
            ("有人冒充客服让我发助记词，我没理他，怎么举报", None),
        ];
        for (text, want) in table {
            assert_eq!(assess(text).map(|u| u.reason), *want, "{text}");
        }
    }

    #[test]
    fn three_unanswered_messages_over_half_an_hour_are_chasing() {
        let minute = 60_000;
        assert!(follow_ups(3, Some(0), 31 * minute).is_some());
        assert!(
            follow_ups(3, Some(0), 10 * minute).is_none(),
            "answering the desk quickly"
        );
        assert!(follow_ups(2, Some(0), 90 * minute).is_none());
        assert!(follow_ups(5, None, 90 * minute).is_none());
    }

    #[derive(serde::Deserialize)]
    struct Set {
        message: Vec<Labelled>,
    }

    #[derive(serde::Deserialize)]
    struct Labelled {
        text: String,
        lang: String,
        urgent: bool,
        reason: String,
    }

    /// Precision and recall on the set the phrases were tuned on.
    #[test]
    fn urgency_precision() {
        let (precision, recall) = measure("urgency.toml");
        assert!(precision >= 0.9, "precision {precision:.3}");
        assert!(recall >= 0.8, "recall {recall:.3}");
    }

    /// The same on a set written after the tuning and never used for it: the honest figure.
    /// The floor only catches a regression; the measured values are in the README.
    #[test]
    fn urgency_precision_held_out() {
        let (precision, recall) = measure("urgency_holdout.toml");
        assert!(precision >= 0.85, "precision {precision:.3}");
        assert!(recall >= 0.6, "recall {recall:.3}");
    }

    fn measure(file: &str) -> (f64, f64) {
        let path = format!("{}/tests/fixtures/{file}", env!("CARGO_MANIFEST_DIR"));
        let set: Set = toml::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
        assert!(set.message.len() >= 80);
        let (mut tp, mut fp, mut fneg, mut reason_right) = (0, 0, 0, 0);
        for m in &set.message {
            let got = assess(&m.text);
            match (&got, m.urgent) {
                (Some(u), true) => {
                    tp += 1;
                    if u.reason.as_str() == m.reason {
                        reason_right += 1;
                    }
                }
                (Some(u), false) => {
                    fp += 1;
                    eprintln!("false alarm [{}] {:?}: {}", m.lang, u.evidence, m.text);
                }
                (None, true) => {
                    fneg += 1;
                    eprintln!("missed [{}] {}: {}", m.lang, m.reason, m.text);
                }
                (None, false) => {}
            }
        }
        let precision = f64::from(tp) / f64::from((tp + fp).max(1));
        let recall = f64::from(tp) / f64::from((tp + fneg).max(1));
        eprintln!(
            "urgency {file}: {} messages, precision {precision:.3}, recall {recall:.3}, reason right {reason_right}/{tp}",
            set.message.len()
        );
        (precision, recall)
    }
}
