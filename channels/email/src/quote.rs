//! Separates what the customer just wrote from the quoted history and signature below it, as
//! Gmail, Apple Mail, Outlook and Thunderbird lay them out. The full text is always kept too.

/// The new part of a reply: everything above the first quote or signature marker.
pub fn new_text(body: &str) -> &str {
    let mut offset = 0;
    let mut cut = body.len();
    let lines: Vec<&str> = body.split_inclusive('\n').collect();
    for (i, line) in lines.iter().enumerate() {
        let trimmed = line.trim_end_matches(['\r', '\n']);
        let t = trimmed.trim();
        let next = lines.get(i + 1).map(|l| l.trim()).unwrap_or("");
        let marker = trimmed == "-- "
            || t.starts_with('>')
            || is_attribution(t, next)
            || introduces_quote(t, &lines[i + 1..])
            || t.starts_with("-----Original Message-----")
            || t.starts_with("________________________________")
            || (t.starts_with("From:") && (next.starts_with("Sent:") || next.starts_with("Date:")));
        if marker {
            cut = offset;
            break;
        }
        offset += line.len();
    }
    body[..cut].trim_end()
}

/// "On <date>, <person> wrote:" (Gmail, Apple; also wrapped over two lines) and its translations
/// the tests cover ("Am … schrieb …:", "Le … a écrit :").
fn is_attribution(line: &str, next: &str) -> bool {
    let starts = line.starts_with("On ") || line.starts_with("Am ") || line.starts_with("Le ");
    let attribution = |s: &str| {
        let s = s.trim_end();
        s.ends_with(':')
            && [" wrote", " schrieb", " a écrit"]
                .iter()
                .any(|w| s.contains(w))
    };
    starts
        && (attribution(line)
            || (line.len() + next.len() < 300 && attribution(&format!("{line} {next}"))))
}

/// Any language's attribution: a line naming an address and ending in ':' right before a quote
/// (Gmail in Russian: "пн, 23 нояб. 2026 г. в 10:00, Support <s@example.com>:").
fn introduces_quote(line: &str, rest: &[&str]) -> bool {
    let names_address = line.contains('@') && line.contains('<') && line.contains('>');
    names_address
        && line.ends_with(':')
        && rest
            .iter()
            .map(|l| l.trim())
            .find(|l| !l.is_empty())
            .is_some_and(|l| l.starts_with('>'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gmail_attribution_and_quotes_are_cut() {
        let body = "Still nothing arrived.\n\nOn Mon, 3 Nov 2026 at 10:00, Wallet Support <support@example.com> wrote:\n> We are checking.\n";
        assert_eq!(new_text(body), "Still nothing arrived.");
    }

    #[test]
    fn wrapped_attribution_outlook_header_block_and_signature_are_cut() {
        let wrapped = "Thanks!\n\nOn Mon, 3 Nov 2026 at 10:00, Wallet Support\n<support@example.com> wrote:\n> old\n";
        assert_eq!(new_text(wrapped), "Thanks!");
        let outlook = "Here is the hash.\r\n\r\nFrom: Wallet Support <support@example.com>\r\nSent: Monday, November 3, 2026 10:00\r\nTo: me\r\n";
        assert_eq!(new_text(outlook), "Here is the hash.");
        let original = "Ok\n-----Original Message-----\nFrom: x\n";
        assert_eq!(new_text(original), "Ok");
        let signed = "See attached.\n-- \nAnna Schmidt\n+49 30 1234\n";
        assert_eq!(new_text(signed), "See attached.");
        let german = "Danke.\n\nAm 03.11.2026 um 10:00 schrieb Wallet Support <support@example.com>:\n> alt\n";
        assert_eq!(new_text(german), "Danke.");
    }

    #[test]
    fn attributions_in_other_languages_are_cut_before_their_quote() {
        let russian =
            "Спасибо.\n\nпн, 23 нояб. 2026 г. в 10:00, Support <s@example.com>:\n\n> Проверьте.\n";
        assert_eq!(new_text(russian), "Спасибо.");
        // Naming an address with a colon is not enough without a quote below it.
        let list = "Write to:\nSupport <s@example.com>:\nany time\n";
        assert_eq!(new_text(list), list.trim_end());
    }

    #[test]
    fn text_without_markers_is_kept_whole() {
        let body = "Line one\nLine two mentions On call and wrote: nothing\n";
        assert_eq!(new_text(body), body.trim_end());
    }
}
