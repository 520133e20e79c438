//! The language of a customer's message: the channel's own hint when it gives one (Telegram's
//! `language_code`), else detected with `whatlang` (trigram models, no data files, fast enough
//! to run on every inbound message), else the script, for texts too short to be reliable.

const MIN_CONFIDENCE: f64 = 0.2;

/// ISO 639-1 code (`en`, `zh`, ...) of `text`, or `None` when neither the hint nor the text
/// tells (a "hi", a number, a hash).
pub fn detect(hint: Option<&str>, text: &str) -> Option<String> {
    if let Some(primary) = hint.and_then(primary_tag) {
        return Some(primary);
    }
    // Hashes, addresses, amounts and codes say nothing of a language.
    let words: Vec<&str> = text
        .split_whitespace()
        .filter(|w| !w.chars().any(|c| c.is_ascii_digit()))
        .collect();
    let text = words.join(" ");
    let text = text.as_str();
    // "ok", "?": too little to tell (and whatlang guesses boldly on it).
    if text.chars().filter(|c| c.is_alphabetic()).count() < 3 {
        return None;
    }
    // whatlang's own `is_reliable` refuses most one-line messages. Among the languages we
    // name, a confidence of 0.2 was right on the customers' sentences we tried (the tests),
    // while terse ones ("ok thanks", "tx stuck") score below it and are left to the script.
    if let Some(info) = detector().detect(text)
        && info.confidence() >= MIN_CONFIDENCE
        && let Some(code) = iso639_1(info.lang())
    {
        return Some(code.to_owned());
    }
    script(text).map(str::to_owned)
}

/// Only the languages Switchboard can name: fewer candidates, fewer wild guesses on short texts.
fn detector() -> &'static whatlang::Detector {
    static DETECTOR: std::sync::OnceLock<whatlang::Detector> = std::sync::OnceLock::new();
    DETECTOR.get_or_init(|| {
        let known = whatlang::Lang::all()
            .iter()
            .copied()
            .filter(|l| iso639_1(*l).is_some())
            .collect();
        whatlang::Detector::with_allowlist(known)
    })
}

/// `zh-hans` → `zh`, `pt_BR` → `pt`; nonsense → `None`.
fn primary_tag(tag: &str) -> Option<String> {
    let primary = tag.split(['-', '_']).next()?.to_ascii_lowercase();
    ((2..=3).contains(&primary.len()) && primary.bytes().all(|b| b.is_ascii_lowercase()))
        .then_some(primary)
}

/// Scripts that name their language well enough even in two words.
fn script(text: &str) -> Option<&'static str> {
    let any = |range: std::ops::RangeInclusive<char>| text.chars().any(|c| range.contains(&c));
    if any('\u{3040}'..='\u{30ff}') {
        Some("ja")
    } else if any('\u{ac00}'..='\u{d7af}') {
        Some("ko")
    } else if any('\u{4e00}'..='\u{9fff}') {
        Some("zh")
    } else if any('\u{0400}'..='\u{04ff}') {
        Some("ru")
    } else if any('\u{0600}'..='\u{06ff}') {
        Some("ar")
    } else if any('\u{0e00}'..='\u{0e7f}') {
        Some("th")
    } else {
        None
    }
}

fn iso639_1(lang: whatlang::Lang) -> Option<&'static str> {
    use whatlang::Lang::*;
    Some(match lang {
        Eng => "en",
        Cmn => "zh",
        Spa => "es",
        Por => "pt",
        Rus => "ru",
        Ukr => "uk",
        Jpn => "ja",
        Kor => "ko",
        Deu => "de",
        Fra => "fr",
        Ita => "it",
        Nld => "nl",
        Tur => "tr",
        Vie => "vi",
        Ind => "id",
        Tha => "th",
        Ara => "ar",
        Hin => "hi",
        Pol => "pl",
        Ces => "cs",
        Swe => "sv",
        Fin => "fi",
        Dan => "da",
        Nob => "no",
        Ell => "el",
        Heb => "he",
        Pes => "fa",
        Ron => "ro",
        Hun => "hu",
        Bul => "bg",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::detect;

    #[test]
    fn the_hint_wins_then_the_text_then_the_script() {
        let cases: &[(Option<&str>, &str, Option<&str>)] = &[
            (Some("zh-hans"), "hello there", Some("zh")),
            (Some("pt_BR"), "", Some("pt")),
            (Some("!!"), "我的充值没有到账", Some("zh")),
            (None, "我的充值没有到账，已经过了两个小时", Some("zh")),
            (None, "币没到", Some("zh")),
            (
                None,
                "My deposit has not arrived after two hours, please help",
                Some("en"),
            ),
            (None, "My deposit has not arrived yet", Some("en")),
            (
                None,
                "please hurry, my transfer has been stuck for hours",
                Some("en"),
            ),
            (None, "ok thanks", None),
            (None, "tx stuck", None),
            (
                None,
                "Bonjour, mon dépôt n'est toujours pas arrivé sur mon portefeuille, pouvez-vous m'aider",
                Some("fr"),
            ),
            (
                None,
                "Мой перевод не дошёл до кошелька уже два часа",
                Some("ru"),
            ),
            (None, "Мой кошелёк", Some("ru")),
            (None, "入金がまだ反映されていません", Some("ja")),
            (None, "hi", None),
            (
                None,
                "0x5c504ed432cb51138bcf09aa5e8a410dd4a1e204ef84bfed1be16dfba1b22060",
                None,
            ),
            (None, "   ", None),
        ];
        for (hint, text, expected) in cases {
            assert_eq!(
                detect(*hint, text).as_deref(),
                *expected,
                "{hint:?} {text:?}"
            );
        }
    }
}
