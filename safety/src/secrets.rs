//! Finds wallet secrets (BIP-39 mnemonics, raw and WIF private keys, extended private keys,
//! encrypted keystores) in customer text and replaces each one with a marker, so that nothing the
//! daemon stores can move a customer's funds.
//!
//! The scan is built for the common case, a message with no secret: one pass over the text with
//! hash look-ups into tables built once, no allocation, and the expensive checks (run windows,
//! checksums, edit distance, context cues) only where that pass found a candidate.

use std::cell::RefCell;
use std::collections::{HashMap, HashSet};
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::LazyLock;

use bip39::Language;
use sha2::{Digest, Sha256};
use unicode_normalization::UnicodeNormalization;

/// What a removed span was.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum SecretKind {
    SeedPhrase,
    PrivateKey,
    ExtendedKey,
    Keystore,
}

impl SecretKind {
    /// The text that takes the place of a removed span.
    pub fn marker(self) -> &'static str {
        match self {
            SecretKind::SeedPhrase => "[seed phrase removed]",
            SecretKind::PrivateKey => "[private key removed]",
            SecretKind::ExtendedKey => "[extended private key removed]",
            SecretKind::Keystore => "[keystore removed]",
        }
    }

    /// A stable name for logs and metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            SecretKind::SeedPhrase => "seed_phrase",
            SecretKind::PrivateKey => "private_key",
            SecretKind::ExtendedKey => "extended_key",
            SecretKind::Keystore => "keystore",
        }
    }

    /// Which kind names a merged span when two overlap: the enclosing structure wins (a keystore's
    /// 64-hex ciphertext is part of the keystore, not a key of its own).
    fn priority(self) -> u8 {
        match self {
            SecretKind::SeedPhrase => 0,
            SecretKind::PrivateKey => 1,
            SecretKind::ExtendedKey => 2,
            SecretKind::Keystore => 3,
        }
    }
}

/// A text with its secrets replaced by markers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scrubbed {
    pub text: String,
    /// Distinct kinds, sorted.
    pub found: Vec<SecretKind>,
}

/// Removes wallet secrets from plain text. None when the text holds no secret; a text without
/// a candidate (the common case) is scanned without allocating.
pub fn scrub(text: &str) -> Option<Scrubbed> {
    let mut spans = Vec::new();
    detect(text, text, &mut spans);
    if spans.is_empty() {
        return None;
    }
    let spans = merge(spans);
    let edits: Vec<Edit> = spans
        .iter()
        .map(|s| Edit {
            start: s.start,
            end: s.end,
            repl: Repl::Marker(s.kind),
        })
        .collect();
    Some(Scrubbed {
        text: render(text, &edits),
        found: kinds(&spans),
    })
}

/// The same for sanitized HTML: tags and entities separate words; a secret that spans several
/// text nodes leaves its marker in the first node's part and empties the others, so every tag
/// stays and the markup stays balanced. Attribute values are scanned on their own.
pub fn scrub_html(html: &str) -> Option<Scrubbed> {
    // The projection buffers are reused per thread so that a clean message does not allocate.
    thread_local! {
        static SCRATCH: RefCell<(String, Vec<Piece>)> = const { RefCell::new((String::new(), Vec::new())) };
    }
    SCRATCH.with(|cell| match cell.try_borrow_mut() {
        Ok(mut scratch) => {
            let (proj, pieces) = &mut *scratch;
            let out = scrub_html_with(html, proj, pieces);
            // A huge message should not pin its buffers for the thread's lifetime.
            if proj.capacity() > 1 << 18 {
                *proj = String::new();
                *pieces = Vec::new();
            }
            out
        }
        Err(_) => scrub_html_with(html, &mut String::new(), &mut Vec::new()),
    })
}

// ---------------------------------------------------------------------------------------------
// Spans and rendering

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Span {
    start: usize,
    end: usize,
    kind: SecretKind,
}

/// Sorts and unions overlapping spans, keeping the kind of highest priority.
fn merge(mut spans: Vec<Span>) -> Vec<Span> {
    spans.sort_by_key(|s| (s.start, s.end));
    let mut out: Vec<Span> = Vec::with_capacity(spans.len());
    for s in spans {
        if let Some(last) = out.last_mut()
            && s.start < last.end
        {
            last.end = last.end.max(s.end);
            if s.kind.priority() > last.kind.priority() {
                last.kind = s.kind;
            }
            continue;
        }
        out.push(s);
    }
    out
}

fn kinds(spans: &[Span]) -> Vec<SecretKind> {
    let mut k: Vec<SecretKind> = spans.iter().map(|s| s.kind).collect();
    k.sort();
    k.dedup();
    k
}

enum Repl {
    Marker(SecretKind),
    Empty,
    Text(String),
}

struct Edit {
    start: usize,
    end: usize,
    repl: Repl,
}

/// Copies `src` with each (sorted, disjoint) edit applied; bytes outside edits are untouched.
fn render(src: &str, edits: &[Edit]) -> String {
    let mut out = String::with_capacity(src.len() + 16 * edits.len());
    let mut at = 0;
    for e in edits {
        out.push_str(&src[at..e.start]);
        match &e.repl {
            Repl::Marker(k) => out.push_str(k.marker()),
            Repl::Empty => {}
            Repl::Text(t) => out.push_str(t),
        }
        at = e.end;
    }
    out.push_str(&src[at..]);
    out
}

/// Finds every secret in `text`. `haystack` is the whole message as received (the raw HTML for
/// [`scrub_html`]): a 64-hex value that also appears there inside a URL is a transaction hash.
fn detect(text: &str, haystack: &str, spans: &mut Vec<Span>) {
    if text.as_bytes().contains(&b'{') {
        find_keystores(text, spans);
    }
    find_key_tokens(text, haystack, spans);
    find_mnemonics(text, spans);
}

// ---------------------------------------------------------------------------------------------
// Word tables

/// Every official list, in a fixed order: bit `i` of a language mask is `LANGS[i]`.
const LANGS: [Language; 10] = [
    Language::English,
    Language::SimplifiedChinese,
    Language::TraditionalChinese,
    Language::Czech,
    Language::French,
    Language::Italian,
    Language::Japanese,
    Language::Korean,
    Language::Portuguese,
    Language::Spanish,
];
const ZH_S: usize = 1;
const ZH_T: usize = 2;
const LATIN_MASK: u16 = 1 | 1 << 3 | 1 << 4 | 1 << 5 | 1 << 8 | 1 << 9;
const HAN_MASK: u16 = 1 << ZH_S | 1 << ZH_T;
const KANA_MASK: u16 = 1 << 6;
const HANGUL_MASK: u16 = 1 << 7;
const NO_INDEX: u16 = u16::MAX;

/// Fx-style hash: the keys are short and not attacker-chosen in a way that matters (the tables
/// are fixed), so SipHash's cost buys nothing here.
#[derive(Default, Clone, Copy)]
struct FxHasher(u64);

impl FxHasher {
    #[inline]
    fn add(&mut self, w: u64) {
        self.0 = (self.0.rotate_left(5) ^ w).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }
}

impl Hasher for FxHasher {
    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            let mut v = [0u8; 8];
            v.copy_from_slice(c);
            self.add(u64::from_le_bytes(v));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut v = [0u8; 8];
            v[..rest.len()].copy_from_slice(rest);
            self.add(u64::from_le_bytes(v));
        }
    }
    #[inline]
    fn write_u8(&mut self, i: u8) {
        self.add(u64::from(i));
    }
    #[inline]
    fn write_u32(&mut self, i: u32) {
        self.add(u64::from(i));
    }
    #[inline]
    fn write_usize(&mut self, i: usize) {
        self.add(i as u64);
    }
    #[inline]
    fn finish(&self) -> u64 {
        self.0
    }
}

type Fx = BuildHasherDefault<FxHasher>;

struct Tables {
    /// Normalized word (see [`KeyBuf::push_normalized`]) to the mask of lists holding it.
    words: HashMap<Box<[u8]>, u16, Fx>,
    /// The same words to their index in each list (for checksums; off the fast path).
    index: HashMap<Box<[u8]>, [u16; 10], Fx>,
    /// A Chinese character to its index in the simplified and traditional lists.
    han: HashMap<char, [u16; 2], Fx>,
    /// The words of each list but the Chinese ones as compared for edge typos: normalized for
    /// Latin scripts, composed (NFC) for kana and Hangul so that one wrong syllable is one edit.
    near_words: [Vec<(u32, Vec<char>)>; 10],
    /// Two-character words of everyday Chinese: a random mnemonic almost never holds one.
    zh_words: HashSet<[char; 2], Fx>,
    /// Byte lengths of the ASCII words on the lists.
    ascii_lens: std::ops::RangeInclusive<usize>,
}

static TABLES: LazyLock<Tables> = LazyLock::new(|| {
    let mut words: HashMap<Box<[u8]>, u16, Fx> = HashMap::default();
    let mut index: HashMap<Box<[u8]>, [u16; 10], Fx> = HashMap::default();
    let mut han: HashMap<char, [u16; 2], Fx> = HashMap::default();
    let mut near_words: [Vec<(u32, Vec<char>)>; 10] = Default::default();
    for (li, lang) in LANGS.iter().enumerate() {
        for (idx, w) in lang.word_list().iter().enumerate() {
            if li == ZH_S || li == ZH_T {
                let mut cs = w.chars();
                if let (Some(c), None) = (cs.next(), cs.next()) {
                    let slot = han.entry(c).or_insert([NO_INDEX; 2]);
                    slot[li - ZH_S] = idx as u16;
                }
                continue;
            }
            let mut key = KeyBuf::new();
            if key.push_normalized(w) {
                *words.entry(key.as_bytes().into()).or_insert(0) |= 1 << li;
                index.entry(key.as_bytes().into()).or_insert([NO_INDEX; 10])[li] = idx as u16;
                let chars: Vec<char> = if LATIN_MASK & (1 << li) != 0 {
                    key.as_str().chars().collect()
                } else {
                    w.nfc().collect()
                };
                near_words[li].push((letter_mask(&chars), chars));
            }
        }
    }
    let zh_words = ZH_COMMON_WORDS
        .split_whitespace()
        .filter_map(|w| {
            let mut cs = w.chars();
            match (cs.next(), cs.next(), cs.next()) {
                (Some(a), Some(b), None) => Some([a, b]),
                _ => None,
            }
        })
        .collect();
    let ascii = words.keys().filter(|k| k.is_ascii()).map(|k| k.len());
    let ascii_lens = ascii.clone().min().unwrap_or(0)..=ascii.max().unwrap_or(0);
    Tables {
        ascii_lens,
        words,
        index,
        han,
        near_words,
        zh_words,
    }
});

/// A token's look-up key built on the stack: NFKD (Japanese lists are stored decomposed, Korean
/// as conjoining jamo), lower case, and Latin accents dropped so "arbol" finds "árbol".
struct KeyBuf {
    buf: [u8; 48],
    len: usize,
}

impl KeyBuf {
    fn new() -> Self {
        KeyBuf {
            buf: [0; 48],
            len: 0,
        }
    }

    fn push(&mut self, c: char) -> bool {
        let n = c.len_utf8();
        if self.len + n > self.buf.len() {
            return false;
        }
        c.encode_utf8(&mut self.buf[self.len..self.len + n]);
        self.len += n;
        true
    }

    /// False when the key would not fit (then it is no list word: the longest key is 33 bytes).
    fn push_normalized(&mut self, s: &str) -> bool {
        if s.is_ascii() {
            if s.len() > self.buf.len() {
                return false;
            }
            for b in s.bytes() {
                self.buf[self.len] = b.to_ascii_lowercase();
                self.len += 1;
            }
            return true;
        }
        for c in s.nfkd() {
            if is_latin_accent(c) {
                continue;
            }
            for l in c.to_lowercase() {
                if !self.push(l) {
                    return false;
                }
            }
        }
        true
    }

    fn as_bytes(&self) -> &[u8] {
        &self.buf[..self.len]
    }

    fn as_str(&self) -> &str {
        std::str::from_utf8(self.as_bytes()).unwrap_or("")
    }
}

/// Combining diacritics that customers leave out when typing Latin-script words. Japanese
/// (han)dakuten (U+3099/309A) are not among them: they tell words apart.
fn is_latin_accent(c: char) -> bool {
    matches!(c, '\u{0300}'..='\u{036F}')
}

// ---------------------------------------------------------------------------------------------
// Tokenizer

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Cc {
    Latin,
    Digit,
    Han,
    Kana,
    Hangul,
    OtherAlnum,
    Mark,
    Apos,
    Break,
    Sep,
}

fn class(c: char) -> Cc {
    if c.is_ascii() {
        return ASCII_CLASS[c as usize];
    }
    match c as u32 {
        0x0300..=0x036F
        | 0x1AB0..=0x1AFF
        | 0x1DC0..=0x1DFF
        | 0x20D0..=0x20FF
        | 0xFE20..=0xFE2F
        | 0x3099
        | 0x309A => Cc::Mark,
        0x2019 => Cc::Apos,
        0x3400..=0x4DBF | 0x4E00..=0x9FFF | 0xF900..=0xFAFF | 0x20000..=0x3FFFF => Cc::Han,
        0x3041..=0x3096
        | 0x309D..=0x309F
        | 0x30A1..=0x30FA
        | 0x30FC..=0x30FF
        | 0x31F0..=0x31FF
        | 0xFF66..=0xFF9F => Cc::Kana,
        0xAC00..=0xD7AF | 0x1100..=0x11FF | 0x3131..=0x318E | 0xA960..=0xA97F | 0xD7B0..=0xD7FF => {
            Cc::Hangul
        }
        0xFF10..=0xFF19 => Cc::Digit,
        0x00C0..=0x024F | 0x1E00..=0x1EFF if c.is_alphabetic() => Cc::Latin,
        _ if c.is_alphanumeric() => Cc::OtherAlnum,
        _ => Cc::Sep,
    }
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Kind {
    Latin,
    Digits,
    Han,
    Kana,
    Hangul,
    Mixed,
}

fn kind_of(cc: Cc) -> Kind {
    match cc {
        Cc::Latin => Kind::Latin,
        Cc::Digit => Kind::Digits,
        Cc::Han => Kind::Han,
        Cc::Kana => Kind::Kana,
        Cc::Hangul => Kind::Hangul,
        _ => Kind::Mixed,
    }
}

#[derive(Clone, Copy, Debug)]
struct Tok {
    start: usize,
    end: usize,
    kind: Kind,
    chars: usize,
}

/// Calls `f` with each word token, and with None where a breaking character stands. A run of
/// Han characters is always a token of its own (Chinese is written without spaces).
fn tokenize(text: &str, mut f: impl FnMut(Option<Tok>)) {
    let b = text.as_bytes();
    // The class and length of the character at `i` (a boundary); ASCII without decoding.
    let at = |i: usize| -> (Cc, usize) {
        match b[i] {
            c if c < 0x80 => (ASCII_CLASS[c as usize], 1),
            _ => text[i..]
                .chars()
                .next()
                .map_or((Cc::Sep, 1), |c| (class(c), c.len_utf8())),
        }
    };
    let mut cur: Option<Tok> = None;
    let mut i = 0;
    while i < b.len() {
        let (cc, len) = at(i);
        let end = i + len;
        match cc {
            Cc::Mark => {
                if let Some(t) = cur.as_mut() {
                    t.end = end;
                }
            }
            Cc::Apos => {
                // "don't" is one word that is on no list, not "don" and "t".
                let next_letter = end < b.len() && matches!(at(end).0, Cc::Latin | Cc::OtherAlnum);
                match cur.as_mut() {
                    Some(t) if next_letter && matches!(t.kind, Kind::Latin | Kind::Mixed) => {
                        t.kind = Kind::Mixed;
                        t.end = end;
                    }
                    _ => {
                        if let Some(t) = cur.take() {
                            f(Some(t));
                        }
                    }
                }
            }
            Cc::Sep | Cc::Break => {
                if let Some(t) = cur.take() {
                    f(Some(t));
                }
                if cc == Cc::Break {
                    f(None);
                }
            }
            _ => {
                let k = kind_of(cc);
                match cur.as_mut() {
                    Some(t) if (t.kind == Kind::Han) == (k == Kind::Han) => {
                        if t.kind != k {
                            t.kind = Kind::Mixed;
                        }
                        t.end = end;
                        t.chars += 1;
                    }
                    _ => {
                        if let Some(t) = cur.take() {
                            f(Some(t));
                        }
                        cur = Some(Tok {
                            start: i,
                            end,
                            kind: k,
                            chars: 1,
                        });
                    }
                }
                // The common case, a run of ASCII letters or digits, in one tight loop.
                if let Some(t) = cur.as_mut()
                    && len == 1
                {
                    let mut j = end;
                    let same = if k == Kind::Latin {
                        u8::is_ascii_alphabetic
                    } else {
                        u8::is_ascii_digit
                    };
                    while j < b.len() && same(&b[j]) {
                        j += 1;
                    }
                    t.chars += j - end;
                    t.end = j;
                    i = j;
                    continue;
                }
            }
        }
        i = end;
    }
    if let Some(t) = cur {
        f(Some(t));
    }
}

/// [`class`] of each ASCII byte.
const ASCII_CLASS: [Cc; 128] = {
    let mut t = [Cc::Sep; 128];
    let mut c = 0;
    while c < 128 {
        t[c] = match c as u8 {
            b'a'..=b'z' | b'A'..=b'Z' => Cc::Latin,
            b'0'..=b'9' => Cc::Digit,
            b'\'' => Cc::Apos,
            // Characters of URLs, e-mail addresses, identifiers and markup: words joined by
            // these are not a phrase someone wrote down.
            b'/' | b'\\' | b'@' | b'=' | b'<' | b'>' | b'|' | b'_' => Cc::Break,
            _ => Cc::Sep,
        };
        c += 1;
    }
    t
};

/// A token as the mnemonic rule sees it, per language: a list word (`w`), a possible typo (`t`:
/// an unknown word of the list's script), neither (breaks a run), or numbering (skipped).
#[derive(Clone, Copy, Debug)]
struct Class {
    start: usize,
    end: usize,
    w: u16,
    t: u16,
    neutral: bool,
}

/// Longest word (in characters) still taken for a mistyped list word.
const MAX_TYPO_CHARS: usize = 20;

fn classify(text: &str, tok: Option<Tok>) -> Class {
    let Some(tok) = tok else {
        return Class {
            start: 0,
            end: 0,
            w: 0,
            t: 0,
            neutral: false,
        };
    };
    let s = &text[tok.start..tok.end];
    let (w, t, neutral) = match tok.kind {
        // "1." "2)" "(3)" "#4": numbering between the words.
        Kind::Digits => (0, 0, tok.chars <= 2),
        Kind::Han if tok.chars == 1 => {
            let c = s.chars().next().unwrap_or(' ');
            let w = match TABLES.han.get(&c) {
                Some(ix) => {
                    (u16::from(ix[0] != NO_INDEX) << ZH_S) | (u16::from(ix[1] != NO_INDEX) << ZH_T)
                }
                None => 0,
            };
            (w, HAN_MASK & !w, false)
        }
        Kind::Latin | Kind::Kana | Kind::Hangul if tok.chars <= MAX_TYPO_CHARS => {
            let script = match tok.kind {
                Kind::Latin => LATIN_MASK,
                Kind::Kana => KANA_MASK,
                _ => HANGUL_MASK,
            };
            let tables = &*TABLES;
            let mut key = KeyBuf::new();
            // An ASCII token (one byte per character) of a length no list word has is looked up
            // no further: most of "I", "a", "to", "transaction".
            let ascii = s.len() == tok.chars;
            let w = if ascii && !tables.ascii_lens.contains(&s.len()) {
                0
            } else if key.push_normalized(s) {
                tables.words.get(key.as_bytes()).copied().unwrap_or(0) & script
            } else {
                0
            };
            (w, script & !w, false)
        }
        _ => (0, 0, false),
    };
    Class {
        start: tok.start,
        end: tok.end,
        w,
        t,
        neutral,
    }
}

// ---------------------------------------------------------------------------------------------
// Mnemonics

/// Words a mnemonic has at least.
const MIN_WORDS: usize = 12;

fn find_mnemonics(text: &str, spans: &mut Vec<Span>) {
    // Quick exit: no run of words can reach 12 tokens and no Han run can either.
    if text.len() < 2 * MIN_WORDS {
        return;
    }
    // Most messages are ASCII and short. Every word of the Latin-script lists is a run of 3 to 9
    // letters (accents folded), and a phrase has at least 11 list words in 12 tokens: a text
    // with fewer such runs holds none, and counting them costs a fraction of tokenizing.
    if text.is_ascii() {
        let (mut plausible, mut run) = (0, 0usize);
        for b in text.bytes().chain(std::iter::once(b' ')) {
            if b.is_ascii_alphabetic() {
                run += 1;
            } else {
                plausible += usize::from((3..=9).contains(&run));
                run = 0;
            }
        }
        if plausible < MIN_WORDS - 1 {
            return;
        }
    }
    // A valid window (>= 12 tokens, at most one unknown per 12) always holds 12 consecutive
    // tokens of which 11 are list words, so only such a block (list words of any language
    // counted together) sends the text to the full rule: one bit per token of the last 12.
    let mut recent: u16 = 0;
    let mut run = 0u8;
    let mut masks = [0u16; MIN_WORDS];
    let mut pos = 0;
    let mut candidates: u16 = 0;
    let mut cues = CueCache::default();
    tokenize(text, |tok| {
        if let Some(t) = tok
            && t.kind == Kind::Han
            && t.chars >= MIN_WORDS
        {
            unseparated_chinese(text, t, &mut cues, spans);
        }
        let c = classify(text, tok);
        if c.neutral {
            return;
        }
        if c.w | c.t == 0 {
            (recent, run) = (0, 0);
            return;
        }
        recent = ((recent << 1) | u16::from(c.w != 0)) & 0xFFF;
        run = run.saturating_add(1);
        masks[pos] = c.w;
        pos = (pos + 1) % MIN_WORDS;
        if usize::from(run) >= MIN_WORDS && recent.count_ones() as usize >= MIN_WORDS - 1 {
            candidates |= masks.iter().fold(0, |m, &w| m | w);
        }
    });
    if candidates != 0 {
        separated_runs(text, candidates, spans);
    }
}

/// The full rule for the languages that had a candidate block: find every window of at least 12
/// tokens with at most one unknown word per 12, and remove it.
fn separated_runs(text: &str, candidates: u16, spans: &mut Vec<Span>) {
    let mut toks: Vec<Class> = Vec::new();
    tokenize(text, |t| {
        let c = classify(text, t);
        if !c.neutral {
            toks.push(c);
        }
    });
    let mut seg: Vec<(usize, bool)> = Vec::new();
    let mut m = candidates;
    while m != 0 {
        let l = m.trailing_zeros() as usize;
        m &= m - 1;
        let bit = 1u16 << l;
        seg.clear();
        for (i, t) in toks.iter().enumerate() {
            if t.w & bit != 0 {
                seg.push((i, false));
            } else if t.t & bit != 0 {
                seg.push((i, true));
            } else {
                windows(text, &toks, &seg, l, spans);
                seg.clear();
            }
        }
        windows(text, &toks, &seg, l, spans);
    }
}

/// Longest window looked at from one start: bounds the work on a long list of words (a longer
/// run is covered by overlapping windows).
const MAX_WINDOW: usize = 72;

/// Most tokens a checksum may cut off one side of a window (see [`Segment::refine`]).
const MAX_FAR_CUT: usize = 6;

/// Unknown words allowed in a window of `len` tokens.
fn allowance(len: usize) -> usize {
    len / MIN_WORDS
}

/// First and last position of a window in a segment.
type Window = (usize, usize);

struct Segment<'a> {
    text: &'a str,
    toks: &'a [Class],
    seg: &'a [(usize, bool)],
    lang: usize,
    /// Lazily computed [`near_list_word`] per position: 0 not yet, 1 no, 2 yes.
    near: Vec<u8>,
}

impl Segment<'_> {
    fn unknown(&self, k: usize) -> bool {
        self.seg[k].1
    }

    /// Whether the unknown word `seg[k]` looks like a mistyped list word (cached).
    fn near(&mut self, k: usize) -> bool {
        if self.near[k] == 0 {
            let t = self.toks[self.seg[k].0];
            let ok = near_list_word(&self.text[t.start..t.end], self.lang);
            self.near[k] = if ok { 2 } else { 1 };
        }
        self.near[k] == 2
    }

    fn unknowns(&self, a: usize, b: usize) -> usize {
        self.seg[a..=b].iter().filter(|s| s.1).count()
    }

    /// The window rule. An unknown word at an edge is taken for a typo here; [`Self::near`]
    /// checks that only for the windows finally chosen, since it scans a whole list.
    fn valid(&self, a: usize, b: usize) -> bool {
        let len = b + 1 - a;
        len >= MIN_WORDS && self.unknowns(a, b) <= allowance(len)
    }

    /// Whether the separator after `seg[k]` ends a sentence or a label ("my words: castle…").
    fn punct_after(&self, k: usize) -> bool {
        let (a, b) = (
            self.toks[self.seg[k].0].end,
            self.toks[self.seg[k + 1].0].start,
        );
        self.text[a..b]
            .chars()
            .any(|c| matches!(c, ':' | '.' | '!' | '?' | '\n' | '：' | '。' | '！' | '？'))
    }

    /// Whether the separator after `seg[k]` ends a sentence or a line.
    fn sentence_end_after(&self, k: usize) -> bool {
        let (a, b) = (
            self.toks[self.seg[k].0].end,
            self.toks[self.seg[k + 1].0].start,
        );
        self.text[a..b]
            .chars()
            .any(|c| matches!(c, '.' | '!' | '?' | '\n' | '。' | '！' | '？'))
    }

    /// A window that runs across the end of a sentence ("…join borrow. Please check my
    /// balance": list words after the phrase) is cut there when one side has a phrase's length
    /// and the other is too short to be one. Only where such ends are rare in the window: a
    /// numbered ("1. castle 2. …") or one-word-per-line phrase has one in every gap.
    fn sentence_split(&self, i: usize, e: usize) -> Option<Window> {
        let ends: Vec<usize> = (i..e).filter(|&k| self.sentence_end_after(k)).collect();
        if ends.is_empty() || ends.len() > 2 {
            return None;
        }
        let phrase = |a: usize, b: usize| {
            let len = b + 1 - a;
            len.is_multiple_of(3) && self.valid(a, b) && !self.unknown(a) && !self.unknown(b)
        };
        let mut found = None;
        for &k in &ends {
            let (left, right) = ((i, k), (k + 1, e));
            let (ll, rl) = (k + 1 - i, e - k);
            let part = if phrase(left.0, left.1) && rl < MIN_WORDS {
                left
            } else if phrase(right.0, right.1) && ll < MIN_WORDS {
                right
            } else {
                continue;
            };
            // Two different cuts would each leave a phrase: no way to tell which is right.
            if found.is_some_and(|w| w != part) {
                return None;
            }
            found = Some(part);
        }
        found
    }

    /// Whether the list words `seg[a..=b]` carry a valid BIP-39 checksum.
    fn checksum(&self, a: usize, b: usize) -> bool {
        let mut ix = [0u16; 24];
        if b + 1 - a > ix.len() {
            return false;
        }
        for (slot, &(t, _)) in ix.iter_mut().zip(&self.seg[a..=b]) {
            let t = self.toks[t];
            let s = &self.text[t.start..t.end];
            let i = if self.lang == ZH_S || self.lang == ZH_T {
                s.chars()
                    .next()
                    .and_then(|c| TABLES.han.get(&c))
                    .map_or(NO_INDEX, |ix| ix[self.lang - ZH_S])
            } else {
                let mut key = KeyBuf::new();
                key.push_normalized(s);
                TABLES
                    .index
                    .get(key.as_bytes())
                    .map_or(NO_INDEX, |ix| ix[self.lang])
            };
            if i == NO_INDEX {
                return false;
            }
            *slot = i;
        }
        checksum_ok(&ix[..b + 1 - a])
    }

    /// The window without the unknown words at its edges that do not look like mistyped list
    /// words (a phrase must not swallow the sentence around it), if still valid.
    fn typo_edges(&mut self, mut a: usize, mut b: usize) -> Option<Window> {
        while a < b && self.unknown(a) && !self.near(a) {
            a += 1;
        }
        while a < b && self.unknown(b) && !self.near(b) {
            b -= 1;
        }
        self.valid(a, b).then_some((a, b))
    }

    /// Prose repeats its words ("…when you run cargo test, not when you run cargo build"); a
    /// random phrase of 24 words repeats one about once in eight. A window with two or more
    /// words repeated, three or more repetitions in all (more for longer windows), and no valid
    /// checksum is taken for prose. One word repeated is kept ("abandon" twelve times: a test
    /// phrase, but customers paste those too).
    fn prose(&self, a: usize, b: usize) -> bool {
        let len = b + 1 - a;
        let threshold = 3 + len.saturating_sub(24) / MIN_WORDS;
        let mut keys: Vec<String> = self.seg[a..=b]
            .iter()
            .filter(|s| !s.1)
            .map(|&(t, _)| {
                let t = self.toks[t];
                let mut key = KeyBuf::new();
                key.push_normalized(&self.text[t.start..t.end]);
                key.as_str().to_owned()
            })
            .collect();
        keys.sort_unstable();
        let groups = keys.chunk_by(|x, y| x == y).filter(|g| g.len() > 1);
        let (repeated, extra) = groups.fold((0, 0), |(r, x), g| (r + 1, x + g.len() - 1));
        repeated >= 2 && extra >= threshold && !self.checksum(a, b)
    }

    /// The longest valid part of the window `i..=e` that is not prose, if any: a phrase pasted
    /// right after a repetitive sentence is still removed.
    fn least_prose(&self, i: usize, e: usize) -> Option<Window> {
        let n = e + 1 - i;
        // Past this the search costs more than it is worth: keep such a window whole.
        if n > 36 {
            return Some((i, e));
        }
        for len in (MIN_WORDS..n).rev() {
            for a in i..=e + 1 - len {
                let b = a + len - 1;
                if self.valid(a, b) && !self.prose(a, b) {
                    return Some((a, b));
                }
            }
        }
        None
    }

    /// A maximal window may have taken in neighbouring words: list words ("first one: castle…")
    /// or, through the typo allowance, a word beside them ("my seed is castle…"). Real phrases
    /// have a multiple of 3 words, so a window of another length, or one that ends on an unknown
    /// word, may lose up to 3 tokens per side at a boundary (see below): the longest part with a
    /// valid checksum, else the least cut. Otherwise it stays whole: removing a neighbour costs
    /// less than leaving a word of the phrase.
    fn refine(&mut self, i: usize, e: usize) -> Window {
        if let Some(w) = self.sentence_split(i, e) {
            return w;
        }
        let pure = self.unknowns(i, e) == 0;
        // A plausible length between list words: only a checksum can still move its edges
        // ("my seed phrase is" + 12 words is 15 tokens).
        let whole = (e + 1 - i).is_multiple_of(3) && !self.unknown(i) && !self.unknown(e);
        if whole && pure {
            return (i, e);
        }
        // (len, fewer removed, leftmost)
        let mut best_ck: Option<((usize, isize, isize), Window)> = None;
        let mut best_cut: Option<(usize, Window)> = None;
        // Checksum-valid parts of a window of list words only, cut anywhere: (len, part, count).
        let mut loose_ck: Option<(usize, Window, usize)> = None;
        for li in 0..=MAX_FAR_CUT {
            let a = i + li;
            for ri in 0..=MAX_FAR_CUT {
                if e < a + ri {
                    continue;
                }
                let b = e - ri;
                let len = b + 1 - a;
                if !len.is_multiple_of(3) || !self.valid(a, b) {
                    continue;
                }
                // Beyond 3 tokens only a checksum may cut, and only off a side that holds a
                // word of no list ("…borrow please check my balance": "my"), so a run of
                // list words stays whole.
                let far = li > 3 || ri > 3;
                if far {
                    let mut side =
                        |x: usize, y: usize| (x..=y).any(|k| self.unknown(k) && !self.near(k));
                    let ok = (li <= 3 || side(i, a - 1))
                        && (ri <= 3 || side(b + 1, e))
                        && self.unknowns(a, b) == 0
                        && self.checksum(a, b);
                    if !ok {
                        continue;
                    }
                }
                // A cut drops unknown words at the edge, or stands after a word that is no
                // list word and no typo of one ("is"), or at punctuation: never inside the
                // window at a typo, which belongs to the phrase.
                let left = li == 0
                    || far
                    || self.punct_after(a - 1)
                    || self.unknowns(i, a - 1) == li
                    || (self.unknown(a - 1) && !self.near(a - 1));
                let right = ri == 0
                    || far
                    || self.punct_after(b)
                    || self.unknowns(b + 1, e) == ri
                    || (self.unknown(b + 1) && !self.near(b + 1));
                let removed = li + ri;
                let ck = self.unknowns(a, b) == 0 && self.checksum(a, b);
                if ck && pure {
                    loose_ck = match loose_ck {
                        Some((l, w, n)) if l == len => Some((l, w, n + 1)),
                        Some((l, _, _)) if l > len => loose_ck,
                        _ => Some((len, (a, b), 1)),
                    };
                }
                if !(left && right) {
                    continue;
                }
                if ck {
                    let key = (len, -(removed as isize), -(a as isize));
                    if best_ck.is_none_or(|(k, _)| key > k) {
                        best_ck = Some((key, (a, b)));
                    }
                }
                if best_cut.is_none_or(|(r, _)| removed < r) {
                    best_cut = Some((removed, (a, b)));
                }
            }
        }
        // Between list words without punctuation ("…lemon please help") only a checksum tells
        // where the phrase ends, and only when a single part of the longest length passes.
        let unique_loose = loose_ck.filter(|&(_, _, n)| n == 1).map(|(_, w, _)| w);
        if whole {
            return best_ck.map_or((i, e), |(_, w)| w);
        }
        best_ck
            .map(|(_, w)| w)
            .or(unique_loose)
            .or(best_cut.map(|(_, w)| w))
            .unwrap_or((i, e))
    }
}

fn windows(text: &str, toks: &[Class], seg: &[(usize, bool)], lang: usize, spans: &mut Vec<Span>) {
    let n = seg.len();
    if n < MIN_WORDS || seg.iter().filter(|s| !s.1).count() < MIN_WORDS - 1 {
        return;
    }
    let mut s = Segment {
        text,
        toks,
        seg,
        lang,
        near: vec![0; n],
    };
    let mut chained = usize::MAX;
    for i in 0..n {
        // A maximal window starts after an unknown word or at the segment's start: one that
        // starts after a list word extends one token left and stays valid.
        if i > 0 && !s.unknown(i - 1) && i != chained {
            continue;
        }
        if s.unknown(i) {
            let ahead = seg[i + 1..n.min(i + MIN_WORDS)]
                .iter()
                .filter(|x| !x.1)
                .count();
            if ahead < MIN_WORDS - 1 {
                continue;
            }
        }
        let mut unknown = 0;
        let mut best = None;
        let limit = n.min(i + MAX_WINDOW);
        let mut capped = limit < n;
        for j in i..limit {
            unknown += usize::from(s.unknown(j));
            let len = j + 1 - i;
            // Past this density no realistic extension becomes valid again.
            if unknown > allowance(len) + 2 {
                capped = false;
                break;
            }
            if len >= MIN_WORDS && unknown <= allowance(len) {
                best = Some(j);
            }
        }
        // A longer run goes on in a window that overlaps this one (the spans merge).
        if capped && best.is_some() {
            chained = limit - MIN_WORDS;
        }
        if let Some(e) = best {
            let Some((i, e)) = s.typo_edges(i, e) else {
                continue;
            };
            let (mut a, mut b) = s.refine(i, e);
            if s.prose(a, b) {
                match s.least_prose(i, e) {
                    Some(w) => (a, b) = w,
                    None => continue,
                }
            }
            let Some((a, b)) = s.typo_edges(a, b) else {
                continue;
            };
            spans.push(Span {
                start: toks[seg[a].0].start,
                end: toks[seg[b].0].end,
                kind: SecretKind::SeedPhrase,
            });
        }
    }
}

/// Whether `word` looks like a mistyped word of list `lang`: within edit distance 2 for Latin
/// scripts (3 letters at least), 1 for kana and Hangul, whose words are a few syllables long.
/// Any single character for spaced Chinese: eleven spaced list characters are no sentence.
fn near_list_word(word: &str, lang: usize) -> bool {
    let (w, max): (Vec<char>, usize) = if LATIN_MASK & (1 << lang) != 0 {
        let mut key = KeyBuf::new();
        if !key.push_normalized(word) || FUNCTION_WORDS.contains(&key.as_str()) {
            return false;
        }
        (key.as_str().chars().collect(), 2)
    } else if (KANA_MASK | HANGUL_MASK) & (1 << lang) != 0 {
        (word.nfc().flat_map(char::to_lowercase).collect(), 1)
    } else {
        return true;
    };
    if w.len() < if max == 2 { 3 } else { 1 } {
        return false;
    }
    let mask = letter_mask(&w);
    TABLES.near_words[lang].iter().any(|(m, cand)| {
        // Each edit brings in or takes out at most one letter: most words fail this at once.
        (mask & !m).count_ones() as usize <= max
            && (m & !mask).count_ones() as usize <= max
            && cand.len().abs_diff(w.len()) <= max
            && levenshtein_at_most(&w, cand, max)
    })
}

/// The commonest short words of the Latin-script languages. Within edit distance 2 nearly every
/// short word is "near" some list word ("and" → "ant"), which let a phrase swallow the sentence
/// after it; a customer who mistypes a list word does not land on one of these.
const FUNCTION_WORDS: &[&str] = &[
    // English
    "and", "the", "are", "was", "were", "has", "had", "have", "you", "your", "our", "its", "not",
    "but", "for", "with", "this", "that", "what", "why", "how", "who", "when", "can", "cant",
    "will", "from", "just", "there", "here", "them", "they", "his", "her", "him", "she", "did",
    "does", "dont", "didnt", "get", "got", "any", "all", "now", "then", "than", "been", "would",
    "could", "should", "please", "thanks", "hello", "sir", "pls", "plz", "yes", "ok", "okay",
    "works", "mine", "see", "also", "very", "too",
    // Spanish, Portuguese, Italian, French
    "que", "los", "las", "del", "por", "para", "con", "una", "uno", "mis", "sus", "por", "pero",
    "como", "esta", "este", "eso", "son", "hay", "muy", "nao", "sim", "com", "uma", "meu", "minha",
    "dos", "das", "pelo", "che", "non", "per", "sono", "della", "mio", "mia", "les", "des", "est",
    "pas", "une", "qui", "mon", "mes", "dans", "pour", "avec", "sur", "mais", // Czech
    "jak", "ale", "pro", "jsem", "moje", "muj", "tak", "nebo", "jsou",
];

/// Which letters a word has, as bits (a–z, and six buckets for everything else).
fn letter_mask(chars: &[char]) -> u32 {
    chars.iter().fold(0, |m, &c| {
        m | match c {
            'a'..='z' => 1 << (c as u32 - 'a' as u32),
            _ => 1 << (26 + c as u32 % 6),
        }
    })
}

fn levenshtein_at_most(a: &[char], b: &[char], max: usize) -> bool {
    // Words are short (the check only sees tokens of up to MAX_TYPO_CHARS characters).
    const W: usize = MAX_TYPO_CHARS + 1;
    if a.len() >= W || b.len() >= W {
        return false;
    }
    let mut prev = [0usize; W];
    let mut cur = [0usize; W];
    for (j, p) in prev.iter_mut().enumerate().take(b.len() + 1) {
        *p = j;
    }
    for (i, ca) in a.iter().enumerate() {
        cur[0] = i + 1;
        let mut row_min = cur[0];
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != cb);
            cur[j + 1] = (prev[j] + cost).min(prev[j + 1] + 1).min(cur[j] + 1);
            row_min = row_min.min(cur[j + 1]);
        }
        if row_min > max {
            return false;
        }
        std::mem::swap(&mut prev, &mut cur);
    }
    prev[b.len()] <= max
}

// ---------------------------------------------------------------------------------------------
// Unseparated Chinese

/// Mentions of a mnemonic that make an unseparated Chinese run after them suspect.
const SEED_CUES: &[&str] = &[
    "助记词",
    "助記詞",
    "助记",
    "助記",
    "恢复短语",
    "恢復短語",
    "种子",
    "種子",
    "私钥",
    "私鑰",
    "12个词",
    "24个词",
    "12個詞",
    "24個詞",
    "seed",
    "mnemonic",
    "recovery phrase",
    "backup phrase",
    "secret phrase",
];

/// Characters that join a cue to the phrase it introduces ("助记词是…", "助记词如下…").
const CONNECTORS: &[char] = &[
    '是', '为', '為', '如', '下', '就', '个', '個', '词', '詞', '共',
];

/// Common two-character words. Ordinary Chinese is written almost entirely in list characters,
/// so a run passing the list test says little; a random mnemonic holds one of these words about
/// once in a thousand phrases, while a sentence nearly always does.
const ZH_COMMON_WORDS: &str = "\
我们 你们 他们 她们 自己 现在 已经 因为 所以 但是 可是 可以 没有 什么 怎么 为什么 这个 那个
这样 那样 时候 知道 问题 一下 一直 一个 还是 就是 不是 如果 然后 可能 应该 需要 时间 今天 昨天
明天 刚才 之前 之后 以后 以前 帮忙 帮我 谢谢 请问 麻烦 客服 钱包 转账 转出 转入 充值 提现 提币
充币 密码 忘记 找回 导入 导出 错误 提示 显示 失败 成功 交易 地址 账户 账号 到账 余额 资产 手机
备份 丢失 收到 发送 确认 网络 手续 矿工 区块 合约 代币 授权 签名 登录 注册 验证 邮箱 短信 升级
版本 下载 安装 卸载 重新 打开 点击 页面 设置 安全 风险 冻结 处理 解决 等待 小时 分钟 多久 一天
怎样 哪里 还有 或者 而且 虽然 不能 不会 不要 只是 真的 非常 一样 东西 出现 发现 看到 告诉 希望
联系 回复 朋友 电脑 比特 以太 用户 数量 金额 多少 是否 能否 一些 有些 所有 全部 还没 收款 付款
支付 购买 卖出 买入 价格 记得 记录 找不 不到 回来 出来 起来 下来 上面 下面 里面 工作 觉得 开始
继续 最后 第一 关于 对于 通过 进行 使用 一次 每次 这次 上次 两个 这些 那些 大家 您好 你好 感谢
抱歉 对不 不起 马上 立即 尽快 赶紧 损失 被盗 黑客 骗子 诈骗 报警 里的 我的 你的 他的 了吗 了吧
吗我 好的 没了 不见 看不 收不 转不 打不 登不 一笔 一直 到底 为啥 干嘛 请帮 帮助 查询 查一
文件 工具 任何 可用 软件 具有 所在 全局 范围 访问 权限 系统 程序 数据 信息 服务 选择 选项 输入
输出 内容 格式 名称 类型 目录 路径 配置 参数 命令 功能 支持 无法 正在 当前 默认 指定 创建 删除 修改
更新 添加 移除 保存 读取 写入 打印 运行 执行 启动 停止 关闭 连接 断开 发生 检查 文本 字符 标准 结果
对象 列表 模式 窗口 屏幕 图像 颜色 大小 位置 日期 完成 进度 状态 消息 邮件 电话 号码 实际 必须 允许
禁止 建议 注意 警告 原因 方法 方式 情况 答案 意思 重要 简单 容易 困难 一般 通常 经常 总是 从来 只有
每个 其他 另外 其中 这里 那里 今年 去年 上午 下午 晚上 早上 中午 星期 周末 公司 银行 卡号 身份 证件
照片 截图 视频 语音 文字 中文 英文 国家 城市 地区 世界 社会 经济 技术 电子 网站 链接 扫描 应用 官方
客户 人员 团队 家人 孩子 父母 学生 学校 平台 产品 价值 市场 投资 收益 利息 费用 免费 账单 订单 合同
协议 规则 政策 条款 隐私 安装 空间 内存 磁盘 设备 硬件 网页 浏览 搜索 查找 查看 显示 隐藏 复制 粘贴
移动 迁移 同步 恢复 重置 解锁 锁定 登出 退出 进入 返回 前往 离开 发出 接收 签收 退款 退回 取消 撤销
申请 审核 通知 提醒 说明 解释 理解 明白 清楚 确定 肯定 也许 大概 已被 被人 别人 有人 没人 什么 多长
长时 时间 一定 一起 一点 一些 一样 一下 有点 差不 不多 很多 很快 很久 太多 太少 最近 刚刚 终于 突然
仍然 依然 还在 正常 异常 成功 完全 部分 剩下 剩余 多了 少了 加上 减去 总共 总额 数字 个人 本人 自动
手动 快速 缓慢 网速 信号 标记 条目 翻译 警报 模糊 源文 结束 预期 意外 遇到 导致 耗尽 替换 冲突 字段
补丁 前置 对象 引用 提交 索引 排序 暂存 子模 忽略 比较 转换 过滤 外部 文字 陈旧 缓存 多点 广播 来源
挂载 实作 预测 视窗 画面 边缘 上方 下方 左边 右边 按键 动作 声响 拒绝 接受 剛好 要測 測試 指定 暫存
檔案 快取 陳舊 移除 視窗 畫面 邊緣 按鍵 動作 聲響 拒絕 接受 掛載 預測 廣播 來源 過濾 轉換 外部 比較
忽略 子模 排序 索引 提交 條目 翻譯 標記 結束 預期 遇到 導致 替換 衝突 欄位 補丁 物件 參照 軟體 程式
資料 資訊 服務 選擇 選項 輸入 輸出 內容 格式 名稱 類型 目錄 路徑 組態 參數 命令 功能 支援 無法 正在
目前 預設 建立 刪除 修改 更新 新增 儲存 讀取 寫入 列印 執行 啟動 停止 關閉 連線 發生 檢查 文字 標準
結果 清單 模式 視窗 螢幕 影像 顏色 大小 位置 日期 完成 進度 狀態 訊息 郵件 電話 號碼 實際 必須 允許
禁止 建議 注意 警告 原因 方法 方式 情況 答案 意思 重要 簡單 容易 困難 一般 通常 經常 總是 只有 每個
其他 另外 其中 這裡 那裡 今年 去年 上午 下午 晚上 早上 星期 週末 公司 銀行 卡號 身分 證件 照片 截圖
影片 語音 中文 英文 國家 城市 地區 世界 社會 經濟 技術 電子 網站 連結 掃描 應用 官方 客戶 人員 團隊
平台 產品 價值 市場 投資 收益 利息 費用 免費 帳單 訂單 合約 協議 規則 政策 條款 隱私 安裝 空間 記憶
磁碟 裝置 硬體 網頁 瀏覽 搜尋 尋找 查看 顯示 隱藏 複製 貼上 移動 遷移 同步 恢復 重設 解鎖 鎖定 登出
退出 進入 返回 離開 發出 接收 退款 取消 撤銷 申請 審核 通知 提醒 說明 解釋 理解 明白 清楚 確定 肯定
也許 大概 別人 有人 沒人 多長 一定 一起 一點 有點 差不 不多 很多 很快 很久 太多 太少 最近 剛剛 終於
突然 仍然 依然 還在 正常 異常 完全 部分 剩下 剩餘 總共 總額 數字 個人 本人 自動 手動 快速 網速 信號
我們 你們 他們 現在 已經 因為 為什麼 為何 沒有 這個 那個 這樣 那樣 時候 問題 還是 然後 應該 時間
剛才 之後 以後 幫忙 幫我 謝謝 請問 麻煩 錢包 轉賬 轉帳 提現 提幣 密碼 忘記 導入 導出 錯誤 顯示
失敗 帳戶 賬戶 帳號 賬號 到賬 到帳 餘額 資產 手機 備份 丟失 發送 確認 網絡 網路 手續 礦工 區塊
合約 代幣 授權 簽名 登錄 登入 註冊 驗證 郵箱 簡訊 升級 下載 安裝 卸載 打開 點擊 頁面 設置 設定
風險 凍結 處理 解決 小時 分鐘 怎樣 哪裡 還有 雖然 不會 真的 一樣 東西 出現 發現 告訴 聯繫 回覆
電腦 用戶 數量 金額 買入 購買 價格 記得 記錄 找不 回來 裡面 覺得 開始 繼續 關於 對於 通過 進行
這次 這些 那些 您好 你好 感謝 對不 馬上 儘快 損失 被盜 駭客 騙子 詐騙 報警 裡的 沒了 不見 幫助
";

#[derive(Default)]
struct CueCache {
    /// Whether the text holds any seed cue at all; computed on first need.
    any: Option<bool>,
}

/// Byte offset `n` characters before `at` (or 0).
fn chars_back(text: &str, at: usize, n: usize) -> usize {
    text[..at]
        .char_indices()
        .rev()
        .nth(n.saturating_sub(1))
        .map_or(0, |(i, _)| i)
}

fn is_phrase_len(n: usize) -> bool {
    (MIN_WORDS..=24).contains(&n) && n.is_multiple_of(3)
}

/// A run of Han characters written without separators (`tok`, at least 12 characters).
fn unseparated_chinese(text: &str, tok: Tok, cues: &mut CueCache, spans: &mut Vec<Span>) {
    let run = &text[tok.start..tok.end];
    // (a) The whole run is a mnemonic with a valid checksum.
    if is_phrase_len(tok.chars) {
        let mut chars = ['\0'; 24];
        for (slot, c) in chars.iter_mut().zip(run.chars()) {
            *slot = c;
        }
        let chars = &chars[..tok.chars];
        for zh in 0..2 {
            if let Some(ix) = han_indices(chars, zh, 0)
                && checksum_ok(&ix[..chars.len()])
                && !has_common_word(chars)
                && !frequent_characters(&ix[..chars.len()])
            {
                spans.push(Span {
                    start: tok.start,
                    end: tok.end,
                    kind: SecretKind::SeedPhrase,
                });
                return;
            }
        }
    }
    // (b) A cue within 40 characters before it: one non-list character (a typo) is allowed and
    // the checksum is not needed.
    let b = text.as_bytes();
    let any = *cues
        .any
        .get_or_insert_with(|| last_cue(b, 0, b.len(), SEED_CUES).is_some());
    if !any {
        return;
    }
    let from = chars_back(text, tok.start, 40);
    let Some(cue_end) = last_cue(b, from, tok.end, SEED_CUES) else {
        return;
    };
    // The cue must introduce this run: a clause between them ("助记词丢了，…") means the run
    // is something else the customer wrote.
    if cue_end < tok.start
        && text[cue_end..tok.start]
            .chars()
            .any(|c| class(c) == Cc::Han && !CONNECTORS.contains(&c))
    {
        return;
    }
    // A cue inside the run ("我的助记词是…") leaves the characters after it. A phrase starts
    // within its first 4 characters, so the first 4 + 24 (and one more offset) are enough.
    let rest_start = cue_end.max(tok.start);
    let mut chars = ['\0'; CUE_HEAD];
    let mut offsets = [tok.end; CUE_HEAD + 1];
    let mut total = 0;
    for (i, c) in text[rest_start..tok.end].char_indices() {
        if total < CUE_HEAD {
            chars[total] = c;
            offsets[total] = rest_start + i;
        } else if total == CUE_HEAD {
            offsets[total] = rest_start + i;
        }
        total += 1;
    }
    if let Some((a, n)) = cue_phrase(&chars[..total.min(CUE_HEAD)], total) {
        spans.push(Span {
            start: offsets[a],
            end: offsets[a + n],
            kind: SecretKind::SeedPhrase,
        });
    }
}

/// Connector characters skipped plus the longest phrase.
const CUE_HEAD: usize = 4 + 24;

/// Where a phrase starts in a run of `l` characters whose first ones are `chars` and how many
/// characters it has: after at most 4 connector characters, preferring a phrase that ends the
/// run, then the longest.
fn cue_phrase(chars: &[char], l: usize) -> Option<(usize, usize)> {
    let max_skip = chars
        .iter()
        .take(4)
        .take_while(|c| CONNECTORS.contains(c))
        .count();
    let ok = |a: usize, n: usize| {
        let part = &chars[a..a + n];
        (0..2).any(|zh| han_indices(part, zh, 1).is_some()) && !has_common_word(part)
    };
    // A connector is more likely the cue's "是" than the phrase's first word.
    for skip in (0..=max_skip).rev() {
        let n = l.saturating_sub(skip);
        if is_phrase_len(n) && ok(skip, n) {
            return Some((skip, n));
        }
    }
    // Text after the phrase in the same run: its end is a guess, so prose is ruled out by
    // character frequency too (see [`frequent_characters`]).
    let not_prose = |a: usize, n: usize| {
        (0..2).any(|zh| {
            han_indices(&chars[a..a + n], zh, 0).is_some_and(|ix| !frequent_characters(&ix[..n]))
        })
    };
    for skip in (0..=max_skip).rev() {
        for n in [24, 21, 18, 15, 12] {
            if skip + n < l && ok(skip, n) && not_prose(skip, n) {
                return Some((skip, n));
            }
        }
    }
    None
}

/// The list indices of `chars` in Chinese list `zh` (0 simplified, 1 traditional), allowing up
/// to `typos` characters off the list (their index is then meaningless).
fn han_indices(chars: &[char], zh: usize, typos: usize) -> Option<[u16; 24]> {
    let mut out = [0u16; 24];
    let mut misses = 0;
    for (slot, c) in out.iter_mut().zip(chars) {
        match TABLES.han.get(c).map(|ix| ix[zh]) {
            Some(i) if i != NO_INDEX => *slot = i,
            _ => {
                misses += 1;
                if misses > typos {
                    return None;
                }
            }
        }
    }
    Some(out)
}

/// The Chinese lists are ordered by how common a character is, and prose is mostly made of the
/// commonest ones: the mean of ln(2048 / (index + 1)) is about 1 for random indices and 2–3 for
/// a sentence. Above 1.8 a run with a valid checksum (which one random run in 16 has) is taken
/// for prose: that rules out about 97% of 12-character sentences and loses under 1% of phrases
/// (only those without a cue: after a cue this test applies only when text follows the phrase
/// in the same run).
fn frequent_characters(ix: &[u16]) -> bool {
    let score: f64 = ix
        .iter()
        .map(|&i| (2048.0 / (f64::from(i) + 1.0)).ln())
        .sum();
    score / ix.len() as f64 > 1.8
}

fn has_common_word(chars: &[char]) -> bool {
    chars
        .windows(2)
        .any(|w| TABLES.zh_words.contains(&[w[0], w[1]]))
}

/// BIP-39 checksum of word indices: the first `n/3` bits of SHA-256 of the entropy.
fn checksum_ok(ix: &[u16]) -> bool {
    let n = ix.len();
    if !is_phrase_len(n) {
        return false;
    }
    let mut bits = [0u8; 33];
    for (w, &i) in ix.iter().enumerate() {
        for j in 0..11 {
            if i >> (10 - j) & 1 == 1 {
                let pos = w * 11 + j;
                bits[pos / 8] |= 0x80 >> (pos % 8);
            }
        }
    }
    let ent_bytes = n * 4 / 3;
    let cs_bits = n / 3;
    let hash = Sha256::digest(&bits[..ent_bytes]);
    let mask = 0xFFu8 << (8 - cs_bits);
    (bits[ent_bytes] & mask) == (hash[0] & mask)
}

// ---------------------------------------------------------------------------------------------
// Keys: 64-hex, WIF, extended private keys

/// Shortest token worth a look: a WIF key has 51 characters.
const MIN_KEY_TOKEN: usize = 51;

fn find_key_tokens(text: &str, haystack: &str, spans: &mut Vec<Span>) {
    let b = text.as_bytes();
    let mut slash = None;
    let mut i = 0;
    while i < b.len() {
        if !b[i].is_ascii_alphanumeric() {
            i += 1;
            continue;
        }
        let s = i;
        while i < b.len() && b[i].is_ascii_alphanumeric() {
            i += 1;
        }
        if i - s < MIN_KEY_TOKEN {
            continue;
        }
        let tok = &b[s..i];
        let kind = if let Some(hex) = hex64(tok) {
            let body = s + (tok.len() - hex.len());
            (!is_tx_context(text, s, &text[body..i], haystack, &mut slash))
                .then_some(SecretKind::PrivateKey)
        } else if is_wif(tok) {
            Some(SecretKind::PrivateKey)
        } else if is_xprv(tok) {
            Some(SecretKind::ExtendedKey)
        } else {
            None
        };
        if let Some(kind) = kind {
            spans.push(Span {
                start: s,
                end: i,
                kind,
            });
        }
    }
}

/// The 64 hex digits of `tok` when it is exactly that, with or without 0x.
fn hex64(tok: &[u8]) -> Option<&[u8]> {
    let body = match tok.len() {
        64 => tok,
        66 if tok[0] == b'0' && (tok[1] | 0x20) == b'x' => &tok[2..],
        _ => return None,
    };
    body.iter().all(u8::is_ascii_hexdigit).then_some(body)
}

/// Words after which a 64-hex value is a transaction (or file) hash, not a key.
const TX_CUES: &[&str] = &[
    "tx",
    "txid",
    "txn",
    "tx hash",
    "hash",
    "transaction",
    "transaction id",
    "transfer id",
    "sha256",
    "sha-256",
    "checksum",
    "交易",
    "交易哈希",
    "哈希",
    "交易id",
    "哈希值",
    "hash值",
    "транзакц",
    "Транзакц",
    "ТРАНЗАКЦ",
];

/// Words after which it is a key whatever else the line says.
const KEY_CUES: &[&str] = &[
    "private key",
    "privatekey",
    "private_key",
    "privkey",
    "priv key",
    "secret key",
    "私钥",
    "私鑰",
    "приватный ключ",
    "Приватный ключ",
    "ПРИВАТНЫЙ КЛЮЧ",
];

/// The first two bytes (ASCII lower-cased) of every cue, as a bit set over 16-bit values.
static CUE_PAIRS: [u64; 1024] = {
    let lists: [&[&str]; 3] = [SEED_CUES, TX_CUES, KEY_CUES];
    let mut t = [0u64; 1024];
    let mut l = 0;
    while l < lists.len() {
        let mut i = 0;
        while i < lists[l].len() {
            let c = lists[l][i].as_bytes();
            let k =
                ((c[0].to_ascii_lowercase() as usize) << 8) | c[1].to_ascii_lowercase() as usize;
            t[k >> 6] |= 1 << (k & 63);
            i += 1;
        }
        l += 1;
    }
    t
};

/// How far before the value (in characters, same line) a transaction cue still counts.
const TX_CUE_REACH: usize = 24;

/// `slash` caches whether `haystack` has a '/' at all (no URL without one).
fn is_tx_context(
    text: &str,
    start: usize,
    body: &str,
    haystack: &str,
    slash: &mut Option<bool>,
) -> bool {
    if url_like(chunk_before(text, start)) {
        return true;
    }
    let from = chars_back(text, start, TX_CUE_REACH + 20);
    let from = text[from..start].rfind('\n').map_or(from, |i| from + i + 1);
    let b = text.as_bytes();
    let tx = last_cue(b, from, start, TX_CUES)
        .filter(|&e| text[e..start].chars().count() <= TX_CUE_REACH);
    let key = last_cue(b, from, start, KEY_CUES);
    match (tx, key) {
        (Some(t), Some(k)) if k > t => return false,
        (Some(_), _) => return true,
        _ => {}
    }
    // The same value linked to an explorer elsewhere in the message: "0xab… (etherscan.io/tx/0xab…)".
    if !*slash.get_or_insert_with(|| haystack.as_bytes().contains(&b'/')) {
        return false;
    }
    haystack
        .match_indices(body)
        .any(|(p, _)| url_like(chunk_before(haystack, p)))
}

/// The text between the last whitespace before `at` and `at` (at most 256 bytes back: no URL
/// path before a hash is longer, and this keeps a long unspaced paste linear).
fn chunk_before(text: &str, at: usize) -> &str {
    let mut from = at.saturating_sub(256);
    while !text.is_char_boundary(from) {
        from += 1;
    }
    let chunk = &text[from..at];
    chunk
        .char_indices()
        .rev()
        .find(|(_, c)| c.is_whitespace())
        .map_or(chunk, |(i, c)| &chunk[i + c.len_utf8()..])
}

/// The end of the last cue of `cues` inside `b[from..to]`, ASCII case-insensitive; a Latin cue
/// must start a word ("tx" but not the end of "ctx", "seed" but not "proceed").
fn last_cue(b: &[u8], from: usize, to: usize, cues: &[&str]) -> Option<usize> {
    let mut best = None;
    for p in from..to.saturating_sub(1) {
        // Most positions fail on the first two bytes: one bit test rules them out.
        let k = (usize::from(b[p].to_ascii_lowercase()) << 8)
            | usize::from(b[p + 1].to_ascii_lowercase());
        if CUE_PAIRS[k >> 6] >> (k & 63) & 1 == 0 {
            continue;
        }
        for cue in cues {
            let cb = cue.as_bytes();
            if p + cb.len() <= to && b[p..p + cb.len()].eq_ignore_ascii_case(cb) {
                if cb[0].is_ascii_alphabetic() && p > 0 && b[p - 1].is_ascii_alphabetic() {
                    continue;
                }
                best = Some(best.map_or(p + cb.len(), |e: usize| e.max(p + cb.len())));
            }
        }
    }
    best
}

/// Whether the non-space text right before a value makes it part of a URL or explorer path.
fn url_like(prefix: &str) -> bool {
    let p = prefix.as_bytes();
    let has = |needle: &[u8]| {
        p.windows(needle.len())
            .any(|w| w.eq_ignore_ascii_case(needle))
    };
    if has(b"://") || has(b"/tx/") || p.len() >= 3 && p[..3].eq_ignore_ascii_case(b"tx/") {
        return true;
    }
    // A bare domain path: "etherscan.io/tx/", "tronscan.org/#/transaction/".
    match p.iter().position(|&c| c == b'/') {
        Some(slash) => p[..slash]
            .windows(2)
            .any(|w| w[0] == b'.' && w[1].is_ascii_alphabetic()),
        None => false,
    }
}

/// The base58 alphabet's value for each byte, 0xFF for a byte outside it.
const B58: [u8; 128] = {
    let alphabet = b"123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz";
    let mut t = [0xFFu8; 128];
    let mut i = 0;
    while i < alphabet.len() {
        t[alphabet[i] as usize] = i as u8;
        i += 1;
    }
    t
};

fn is_base58(tok: &[u8]) -> bool {
    tok.iter().all(|&c| c < 128 && B58[c as usize] != 0xFF)
}

/// Decodes base58 into `out` (right-aligned), returning the decoded length. Written here rather
/// than taken from a crate: it is twenty lines and only ever sees 51–52 character tokens.
fn b58_decode(tok: &[u8], out: &mut [u8; 40]) -> Option<usize> {
    let cap = out.len();
    let mut len = 0;
    for &c in tok {
        let v = *B58.get(c as usize)?;
        if v == 0xFF {
            return None;
        }
        let mut carry = u32::from(v);
        for byte in out[cap - len..].iter_mut().rev() {
            carry += u32::from(*byte) * 58;
            *byte = carry as u8;
            carry >>= 8;
        }
        while carry > 0 {
            if len == cap {
                return None;
            }
            len += 1;
            out[cap - len] = carry as u8;
            carry >>= 8;
        }
    }
    let zeros = tok.iter().take_while(|&&c| c == b'1').count();
    if len + zeros > cap {
        return None;
    }
    len += zeros;
    Some(len)
}

/// A WIF private key: base58check of 0x80 (mainnet) or 0xef (testnet), 32 key bytes and an
/// optional 0x01 compression flag.
fn is_wif(tok: &[u8]) -> bool {
    let shape = matches!(
        (tok.len(), tok[0]),
        (51, b'5' | b'9') | (52, b'K' | b'L' | b'c')
    );
    if !shape {
        return false;
    }
    let mut buf = [0u8; 40];
    let Some(len) = b58_decode(tok, &mut buf) else {
        return false;
    };
    let data = &buf[buf.len() - len..];
    let payload_len = match len {
        37 => 33,
        38 if data[33] == 0x01 => 34,
        _ => return false,
    };
    let (payload, check) = data.split_at(payload_len);
    if !matches!(payload[0], 0x80 | 0xef) {
        return false;
    }
    let hash = Sha256::digest(Sha256::digest(payload));
    hash[..4] == check[..4]
}

/// An extended private key: a BIP-32/49/84 private prefix and base58, 111 characters when whole.
/// No checksum check: a truncated paste still gives most of the key away.
fn is_xprv(tok: &[u8]) -> bool {
    const PREFIXES: [&[u8]; 10] = [
        b"xprv", b"yprv", b"zprv", b"tprv", b"uprv", b"vprv", b"Yprv", b"Zprv", b"Uprv", b"Vprv",
    ];
    (100..=115).contains(&tok.len()) && PREFIXES.contains(&&tok[..4]) && is_base58(tok)
}

// ---------------------------------------------------------------------------------------------
// Keystores

fn find_keystores(text: &str, spans: &mut Vec<Span>) {
    let b = text.as_bytes();
    let mut i = 0;
    while let Some(off) = b[i..].iter().position(|&c| c == b'{') {
        let s = i + off;
        // Only what looks like a JSON object: `{` then a key string.
        let next = b[s + 1..].iter().find(|c| !c.is_ascii_whitespace());
        if next != Some(&b'"') {
            i = s + 1;
            continue;
        }
        let (end, keys) = scan_object(b, s);
        let keystore = keys & KEY_CIPHERTEXT != 0
            && keys & (KEY_KDF | KEY_CIPHERPARAMS | KEY_CRYPTO) != 0
            || keys & (KEY_DATA | KEY_IV | KEY_SALT) == KEY_DATA | KEY_IV | KEY_SALT;
        match end {
            Some(e) if keystore => {
                spans.push(Span {
                    start: s,
                    end: e + 1,
                    kind: SecretKind::Keystore,
                });
                i = e + 1;
            }
            // A truncated paste: everything from the brace on may be key material.
            None if keystore => {
                spans.push(Span {
                    start: s,
                    end: b.len(),
                    kind: SecretKind::Keystore,
                });
                return;
            }
            // Keys are collected at every depth, so no inner object qualifies either; and an
            // object that never closes holds every later `{` (stopping keeps this linear).
            Some(e) => i = e + 1,
            None => return,
        }
    }
}

const KEY_CIPHERTEXT: u8 = 1;
const KEY_KDF: u8 = 2;
const KEY_CIPHERPARAMS: u8 = 4;
const KEY_CRYPTO: u8 = 8;
// A MetaMask vault is {"data","iv","salt"} (AES-GCM) rather than a V3 keystore.
const KEY_DATA: u8 = 16;
const KEY_IV: u8 = 32;
const KEY_SALT: u8 = 64;

/// Finds the `}` matching the `{` at `s` (None when the text ends first) and which keystore keys
/// appear as object keys at any depth.
fn scan_object(b: &[u8], s: usize) -> (Option<usize>, u8) {
    let mut depth = 0usize;
    let mut keys = 0u8;
    let mut i = s;
    while i < b.len() {
        match b[i] {
            b'{' => depth += 1,
            b'}' => {
                depth -= 1;
                if depth == 0 {
                    return (Some(i), keys);
                }
            }
            b'"' => {
                let str_start = i + 1;
                i += 1;
                while i < b.len() && b[i] != b'"' {
                    i += if b[i] == b'\\' { 2 } else { 1 };
                }
                if i >= b.len() {
                    return (None, keys);
                }
                let name = &b[str_start..i];
                let colon = b[i + 1..].iter().find(|c| !c.is_ascii_whitespace()) == Some(&b':');
                if colon {
                    for (k, bit) in [
                        (&b"ciphertext"[..], KEY_CIPHERTEXT),
                        (b"kdf", KEY_KDF),
                        (b"cipherparams", KEY_CIPHERPARAMS),
                        (b"crypto", KEY_CRYPTO),
                        (b"data", KEY_DATA),
                        (b"iv", KEY_IV),
                        (b"salt", KEY_SALT),
                    ] {
                        if name.eq_ignore_ascii_case(k) {
                            keys |= bit;
                        }
                    }
                }
            }
            _ => {}
        }
        i += 1;
    }
    (None, keys)
}

// ---------------------------------------------------------------------------------------------
// HTML

/// One stretch of the HTML and what stands for it in the projected text.
#[derive(Clone, Copy, Debug)]
struct Piece {
    proj_start: usize,
    proj_end: usize,
    orig_start: usize,
    orig_end: usize,
    kind: PieceKind,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum PieceKind {
    Text,
    Tag,
    Entity,
}

const BLOCK_TAGS: &[&str] = &[
    "br",
    "p",
    "div",
    "li",
    "ul",
    "ol",
    "tr",
    "table",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "blockquote",
    "pre",
    "hr",
    "dd",
    "dt",
];

fn scrub_html_with(html: &str, proj: &mut String, pieces: &mut Vec<Piece>) -> Option<Scrubbed> {
    proj.clear();
    pieces.clear();
    let b = html.as_bytes();
    let mut edits: Vec<Edit> = Vec::new();
    let mut found: Vec<SecretKind> = Vec::new();
    let mut text_start = 0;
    let mut i = 0;
    let flush = |proj: &mut String, pieces: &mut Vec<Piece>, from: usize, to: usize| {
        if from < to {
            let ps = proj.len();
            proj.push_str(&html[from..to]);
            pieces.push(Piece {
                proj_start: ps,
                proj_end: proj.len(),
                orig_start: from,
                orig_end: to,
                kind: PieceKind::Text,
            });
        }
    };
    while i < b.len() {
        let special = match b[i] {
            b'<' => tag_end(b, i).map(|e| (e, PieceKind::Tag)),
            b'&' => entity_end(b, i).map(|e| (e, PieceKind::Entity)),
            _ => None,
        };
        let Some((end, kind)) = special else {
            i += 1;
            continue;
        };
        flush(proj, pieces, text_start, i);
        let ps = proj.len();
        if kind == PieceKind::Tag {
            // Block tags end a line, so a transaction cue does not reach past them.
            proj.push(if is_block_tag(&b[i..end]) { '\n' } else { ' ' });
            scrub_attributes(html, i, end, &mut edits, &mut found);
        } else {
            proj.push(decode_entity(&html[i..end]));
        }
        pieces.push(Piece {
            proj_start: ps,
            proj_end: proj.len(),
            orig_start: i,
            orig_end: end,
            kind,
        });
        i = end;
        text_start = end;
    }
    flush(proj, pieces, text_start, b.len());

    let mut spans = Vec::new();
    detect(proj, html, &mut spans);
    if spans.is_empty() && edits.is_empty() {
        return None;
    }
    let spans = merge(spans);
    found.extend(kinds(&spans));
    for s in &spans {
        let first = pieces.partition_point(|p| p.proj_end <= s.start);
        let mut marker = Some(s.kind);
        for p in pieces[first..].iter().take_while(|p| p.proj_start < s.end) {
            let (os, oe) = match p.kind {
                PieceKind::Tag => continue,
                PieceKind::Entity => (p.orig_start, p.orig_end),
                PieceKind::Text => (
                    p.orig_start + s.start.max(p.proj_start) - p.proj_start,
                    p.orig_start + s.end.min(p.proj_end) - p.proj_start,
                ),
            };
            edits.push(Edit {
                start: os,
                end: oe,
                repl: marker.take().map_or(Repl::Empty, Repl::Marker),
            });
        }
    }
    edits.sort_by_key(|e| e.start);
    found.sort();
    found.dedup();
    Some(Scrubbed {
        text: render(html, &edits),
        found,
    })
}

/// The end (exclusive) of a tag or comment starting at `<`, None when `<` is just text.
fn tag_end(b: &[u8], s: usize) -> Option<usize> {
    let next = *b.get(s + 1)?;
    if !(next.is_ascii_alphabetic() || matches!(next, b'/' | b'!' | b'?')) {
        return None;
    }
    if b[s..].starts_with(b"<!--") {
        return Some(
            b[s + 4..]
                .windows(3)
                .position(|w| w == b"-->")
                .map_or(b.len(), |p| s + 4 + p + 3),
        );
    }
    let mut quote = 0u8;
    for (k, &c) in b[s + 1..].iter().enumerate() {
        match c {
            b'"' | b'\'' if quote == 0 => quote = c,
            _ if c == quote => quote = 0,
            b'>' if quote == 0 => return Some(s + 1 + k + 1),
            _ => {}
        }
    }
    None
}

fn is_block_tag(tag: &[u8]) -> bool {
    let name_start = if tag.get(1) == Some(&b'/') { 2 } else { 1 };
    let name_len = tag[name_start..]
        .iter()
        .take_while(|c| c.is_ascii_alphanumeric())
        .count();
    let name = &tag[name_start..name_start + name_len];
    BLOCK_TAGS
        .iter()
        .any(|t| t.as_bytes().eq_ignore_ascii_case(name))
}

/// The end of `&name;`, `&#123;` or `&#x1F;` at `s`, None when `&` is just text.
fn entity_end(b: &[u8], s: usize) -> Option<usize> {
    let rest = &b[s + 1..];
    let body = if rest.first() == Some(&b'#') {
        let hex = matches!(rest.get(1), Some(b'x' | b'X'));
        let digits = &rest[1 + usize::from(hex)..];
        let n = digits
            .iter()
            .take(7)
            .take_while(|c| {
                if hex {
                    c.is_ascii_hexdigit()
                } else {
                    c.is_ascii_digit()
                }
            })
            .count();
        if n == 0 {
            return None;
        }
        1 + usize::from(hex) + n
    } else {
        let n = rest
            .iter()
            .take(32)
            .take_while(|c| c.is_ascii_alphanumeric())
            .count();
        if n == 0 || !rest[0].is_ascii_alphabetic() {
            return None;
        }
        n
    };
    (rest.get(body) == Some(&b';')).then_some(s + 1 + body + 1)
}

/// What an entity stands for in the projected text: a separator, except punctuation that the
/// keystore scan needs (`&quot;` inside an escaped JSON paste).
fn decode_entity(e: &str) -> char {
    let inner = &e[1..e.len() - 1];
    let c = if let Some(num) = inner.strip_prefix('#') {
        let v = match num.strip_prefix(['x', 'X']) {
            Some(h) => u32::from_str_radix(h, 16).ok(),
            None => num.parse().ok(),
        };
        v.and_then(char::from_u32).unwrap_or(' ')
    } else {
        match inner {
            "quot" => '"',
            "amp" => '&',
            "lt" => '<',
            "gt" => '>',
            "apos" => '\'',
            "lbrace" => '{',
            "rbrace" => '}',
            "colon" => ':',
            "comma" => ',',
            _ => ' ',
        }
    };
    if c.is_alphanumeric() || c.is_whitespace() || c.is_control() || class(c) == Cc::Mark {
        ' '
    } else {
        c
    }
}

/// Scans each attribute value of the tag `html[s..e]` on its own and records edits for the
/// secrets in them (an unquoted value is quoted, since the marker has spaces).
fn scrub_attributes(
    html: &str,
    s: usize,
    e: usize,
    edits: &mut Vec<Edit>,
    found: &mut Vec<SecretKind>,
) {
    let b = html.as_bytes();
    if b[s..].starts_with(b"<!--") {
        return;
    }
    let mut i = s + 1;
    while i < e {
        if b[i] != b'=' {
            i += 1;
            continue;
        }
        i += 1;
        while i < e && b[i].is_ascii_whitespace() {
            i += 1;
        }
        if i >= e {
            break;
        }
        let (vs, ve, quoted) = if matches!(b[i], b'"' | b'\'') {
            let q = b[i];
            let ve = b[i + 1..e]
                .iter()
                .position(|&c| c == q)
                .map_or(e, |p| i + 1 + p);
            (i + 1, ve, true)
        } else {
            let ve = b[i..e]
                .iter()
                .position(|&c| c.is_ascii_whitespace() || c == b'>')
                .map_or(e, |p| i + p);
            (i, ve, false)
        };
        i = ve + 1;
        let value = &html[vs..ve];
        if value.len() < MIN_KEY_TOKEN.min(2 * MIN_WORDS) {
            continue;
        }
        let mut spans = Vec::new();
        detect(value, html, &mut spans);
        if spans.is_empty() {
            continue;
        }
        let spans = merge(spans);
        found.extend(kinds(&spans));
        if quoted {
            edits.extend(spans.iter().map(|sp| Edit {
                start: vs + sp.start,
                end: vs + sp.end,
                repl: Repl::Marker(sp.kind),
            }));
        } else {
            let local: Vec<Edit> = spans
                .iter()
                .map(|sp| Edit {
                    start: sp.start,
                    end: sp.end,
                    repl: Repl::Marker(sp.kind),
                })
                .collect();
            edits.push(Edit {
                start: vs,
                end: ve,
                repl: Repl::Text(format!("\"{}\"", render(value, &local))),
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bip39::Mnemonic;

    /// Fixed, varied entropy so that each generated phrase is a different valid mnemonic.
    fn entropy(n: usize, seed: u8) -> Vec<u8> {
        (0..n)
            .map(|i| (seed.wrapping_mul(97) ^ 0x5a).wrapping_add((i as u8).wrapping_mul(53)))
            .collect()
    }

    fn words(lang: Language, n_bytes: usize, seed: u8) -> Vec<&'static str> {
        Mnemonic::from_entropy_in(lang, &entropy(n_bytes, seed))
            .unwrap()
            .words()
            .collect()
    }

    fn phrase(lang: Language, n_bytes: usize, seed: u8, sep: &str) -> String {
        words(lang, n_bytes, seed).join(sep)
    }

    const SEED: &str = "[seed phrase removed]";
    const KEY: &str = "[private key removed]";
    const XPRV: &str = "[extended private key removed]";
    const STORE: &str = "[keystore removed]";

    const XPRV_VECTOR: &str = "xprv9s21ZrQH143K3QTDL4LXw2F7HEK3wJUD2nW2nRk4stbPy6cq3jPPqjiChkVvvNKmPGJxWUtg6LnF5kejMRNNU3TGtRBeJgk33yuGBxrMPHi";
    const HEX64: &str = "4c0883a69102937d6231471b5dbb6204fe5129617082792ae468d01a3f362318";
    const KEYSTORE: &str = r#"{"address":"008aeeda4d805471df9b2a5b0f38a0c3bcba786b","crypto":{"cipher":"aes-128-ctr","ciphertext":"5318b4d5bcd28de64ee5559e671353e16f075ecae9f99c7a79a38af5f869aa46","cipherparams":{"iv":"6087dab2f9fdbbfaddc31a909735c1e6"},"kdf":"scrypt","kdfparams":{"dklen":32,"n":262144,"p":8,"r":1,"salt":"ab0c7876052600dd703518d6fc3fe8984592145b591fc8fb5c6d43190334ba19"},"mac":"517ead924a9d0dc3124507e3393d175ce3ff7c1e96529c6c555ce9e51205e9b2"},"id":"3198bc9c-6672-5ab3-d995-4942343ae5b6","version":3}"#;

    /// name, input, expected text, expected kinds
    type Case = (String, String, String, Vec<SecretKind>);

    fn check_table(cases: &[Case], f: fn(&str) -> Option<Scrubbed>) {
        let mut failures = Vec::new();
        for (name, input, want, kinds) in cases {
            match f(input) {
                Some(got) if got.text == *want && got.found == *kinds => {}
                got => failures.push(format!(
                    "{name}:\n  input: {input}\n  want:  {want} {kinds:?}\n  got:   {got:?}"
                )),
            }
        }
        assert!(failures.is_empty(), "{}", failures.join("\n"));
    }

    fn seed_case(name: &str, before: &str, phrase: &str, after: &str) -> Case {
        (
            name.to_string(),
            format!("{before}{phrase}{after}"),
            format!("{before}{SEED}{after}"),
            vec![SecretKind::SeedPhrase],
        )
    }

    #[test]
    fn mnemonics_in_every_language_and_form() {
        use Language::*;
        let en12 = phrase(English, 16, 1, " ");
        let en24 = phrase(English, 32, 2, " ");
        let mut cases = vec![
            seed_case("english 12", "", &en12, ""),
            seed_case("english 24", "", &en24, ""),
            seed_case("english 15", "", &phrase(English, 20, 3, " "), ""),
            seed_case("english 18", "", &phrase(English, 24, 4, " "), ""),
            seed_case("english 21", "", &phrase(English, 28, 5, " "), ""),
            seed_case(
                "english 12 zero entropy",
                "",
                "abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon about",
                "",
            ),
            seed_case("checksum invalid", "", &["abandon"; 12].join(" "), ""),
            seed_case("upper case", "", &en12.to_uppercase(), ""),
            seed_case(
                "title case",
                "",
                &words(English, 16, 9)
                    .iter()
                    .map(|w| w[..1].to_uppercase() + &w[1..])
                    .collect::<Vec<_>>()
                    .join(" "),
                "",
            ),
            seed_case("comma separated", "", &phrase(English, 16, 6, ", "), ""),
            seed_case("comma no space", "", &phrase(English, 16, 6, ","), ""),
            seed_case(
                "newline separated",
                "my words:\n",
                &phrase(English, 16, 7, "\n"),
                "\nthanks",
            ),
            seed_case("tab separated", "", &phrase(English, 16, 8, "\t"), ""),
            seed_case("semicolons", "", &phrase(English, 16, 8, ";"), ""),
            seed_case(
                "embedded in a sentence",
                "Hi support, here is what my wallet shows: ",
                &en12,
                ". Why is my balance zero?",
            ),
            seed_case("after 'my seed is'", "my seed is ", &en12, " ok"),
            // A short list word ("my") after the phrase must not pull the next sentence in.
            seed_case(
                "followed by a sentence",
                "",
                "scheme spot photo card baby mountain device kick cradle pact join borrow",
                ". Please check my balance",
            ),
            // A reference vector with repeated words and no punctuation around it.
            seed_case(
                "repeated words between prose",
                "my phrase is ",
                "legal winner thank year wave sausage worth useful legal winner thank yellow",
                " and nothing works",
            ),
            seed_case(
                "followed by a lower-case request",
                "",
                "scheme spot photo card baby mountain device kick cradle pact join borrow",
                " please check my balance",
            ),
            seed_case(
                "followed by 'and'",
                "",
                "scheme spot photo card baby mountain device kick cradle pact join borrow",
                " and my balance is zero",
            ),
            seed_case(
                "list words before, sentence after",
                "Hello, please check my wallet ",
                "scheme spot photo card baby mountain device kick cradle pact join borrow",
                ". Please check balance",
            ),
            seed_case(
                "checksum invalid, sentence after",
                "",
                &["abandon"; 12].join(" "),
                ". Please check balance",
            ),
            seed_case(
                "typo, sentence after",
                "",
                "scheme spot photo card baby mountian device kick cradle pact join borrow",
                ". Please check my balance",
            ),
            seed_case(
                "repeated words alone",
                "",
                "legal winner thank year wave sausage worth useful legal winner thank yellow",
                "",
            ),
            seed_case(
                "after 'my seed phrase is'",
                "Please help, my seed phrase is ",
                &en12,
                " thanks",
            ),
            // (When the shifted 12 words pass the checksum too, 1 in 16, "phrase" goes as well.)
            seed_case(
                "after a list word",
                "my phrase ",
                &phrase(English, 16, 33, " "),
                "",
            ),
            seed_case("quoted", "\"", &en12, "\""),
            seed_case(
                "json array",
                "[\"",
                &phrase(English, 16, 10, "\",\""),
                "\"]",
            ),
            seed_case(
                "two pasted together",
                "",
                &format!(
                    "{} {}",
                    phrase(English, 16, 11, " "),
                    phrase(English, 32, 12, " ")
                ),
                "",
            ),
            seed_case(
                "japanese ideographic space",
                "",
                &phrase(Japanese, 16, 13, "\u{3000}"),
                "",
            ),
            seed_case("japanese spaces 24", "", &phrase(Japanese, 32, 14, " "), ""),
            seed_case(
                "korean",
                "제 문구는 ",
                &phrase(Korean, 16, 15, " "),
                " 입니다",
            ),
            seed_case("spanish", "", &phrase(Spanish, 16, 16, " "), ""),
            seed_case("french", "", &phrase(French, 16, 17, " "), ""),
            seed_case("italian", "", &phrase(Italian, 16, 18, " "), ""),
            seed_case("czech", "", &phrase(Czech, 16, 19, " "), ""),
            seed_case("portuguese", "", &phrase(Portuguese, 16, 20, " "), ""),
            seed_case(
                "chinese simplified spaced",
                "",
                &phrase(SimplifiedChinese, 16, 21, " "),
                "",
            ),
            seed_case(
                "chinese traditional spaced",
                "",
                &phrase(TraditionalChinese, 16, 22, " "),
                "",
            ),
            seed_case(
                "chinese ideographic space",
                "",
                &phrase(SimplifiedChinese, 16, 23, "\u{3000}"),
                "",
            ),
            seed_case(
                "chinese fullwidth comma",
                "",
                &phrase(SimplifiedChinese, 16, 24, "，"),
                "",
            ),
            seed_case(
                "chinese enumeration comma",
                "",
                &phrase(TraditionalChinese, 16, 25, "、"),
                "",
            ),
        ];
        // Numbered forms keep the first number (it is outside the phrase) and drop the rest.
        let w = words(English, 16, 26);
        for (name, fmt) in [
            ("numbered '1. x'", "{n}. {w} "),
            ("numbered '1) x'", "{n}) {w} "),
            ("numbered '1- x'", "{n}- {w} "),
            ("numbered '(1) x'", "({n}) {w} "),
            ("numbered '#1 x'", "#{n} {w} "),
            ("numbered '1:x'", "{n}:{w} "),
            ("numbered '1.x'", "{n}.{w} "),
            ("numbered lines", "{n}. {w}\n"),
        ] {
            let text: String = w
                .iter()
                .enumerate()
                .map(|(i, w)| fmt.replace("{n}", &(i + 1).to_string()).replace("{w}", w))
                .collect();
            let first = fmt.split("{w}").next().unwrap().replace("{n}", "1");
            let last = fmt.split("{w}").nth(1).unwrap();
            cases.push((
                name.to_string(),
                text,
                format!("{first}{SEED}{last}"),
                vec![SecretKind::SeedPhrase],
            ));
        }
        // One typo inside, and one at the edge.
        let mut typo = words(English, 16, 27)
            .iter()
            .map(|s| s.to_string())
            .collect::<Vec<_>>();
        typo[5] = format!("{}x", typo[5]);
        cases.push(seed_case(
            "misspelled inside",
            "words: ",
            &typo.join(" "),
            "",
        ));
        let mut edge = words(English, 16, 28)
            .iter()
            .map(|s| s.to_string())
            .collect::<Vec<_>>();
        edge[0] = edge[0][..edge[0].len() - 1].to_string() + "q";
        cases.push(seed_case(
            "misspelled first word",
            "words: ",
            &edge.join(" "),
            "",
        ));
        let mut typo24 = words(English, 32, 29)
            .iter()
            .map(|s| s.to_string())
            .collect::<Vec<_>>();
        typo24[3] = "zzqx".into();
        typo24[17] = format!("{}e", typo24[17]);
        cases.push(seed_case("two typos in 24", "", &typo24.join(" "), ""));
        // Customers drop accents: Spanish and French accented words typed plain.
        for (name, lang) in [
            ("spanish without accents", Spanish),
            ("french without accents", French),
        ] {
            let plain: Vec<String> = lang
                .word_list()
                .iter()
                .filter(|w| !w.is_ascii())
                .take(12)
                .map(|w| w.nfkd().filter(|c| !is_latin_accent(*c)).collect())
                .collect();
            cases.push(seed_case(name, "", &plain.join(" "), ""));
            let accented: Vec<String> = lang
                .word_list()
                .iter()
                .filter(|w| !w.is_ascii())
                .skip(20)
                .take(12)
                .map(|w| w.nfc().collect())
                .collect();
            cases.push(seed_case(
                "accented as typed (NFC)",
                "",
                &accented.join(" "),
                "",
            ));
        }
        // Two phrases with text between them.
        let (p1, p2) = (phrase(English, 16, 30, " "), phrase(Spanish, 16, 31, " "));
        cases.push((
            "two phrases".to_string(),
            format!("first one: {p1}\nand the old wallet: {p2}\nthanks!"),
            format!("first one: {SEED}\nand the old wallet: {SEED}\nthanks!"),
            vec![SecretKind::SeedPhrase],
        ));
        check_table(&cases, scrub);
    }

    /// A 12-word Chinese phrase with a valid checksum that holds no common two-character word.
    fn zh_unseparated(lang: Language, seed: u8) -> String {
        (seed..=255)
            .map(|s| phrase(lang, 16, s, ""))
            .find(|p| !has_common_word(&p.chars().collect::<Vec<_>>()))
            .unwrap()
    }

    #[test]
    fn unseparated_chinese() {
        use Language::*;
        let valid = zh_unseparated(SimplifiedChinese, 40);
        let valid_t = zh_unseparated(TraditionalChinese, 41);
        let valid24: String = (42..=255u8)
            .map(|s| phrase(SimplifiedChinese, 32, s, ""))
            .find(|p| !has_common_word(&p.chars().collect::<Vec<_>>()))
            .unwrap();
        // The same characters with the last one changed until the checksum fails.
        let mut chars: Vec<char> = valid.chars().collect();
        let list = SimplifiedChinese.word_list();
        let mut k = 0;
        loop {
            chars[11] = list[k].chars().next().unwrap();
            let ix: Vec<u16> = chars.iter().map(|c| TABLES.han[c][0]).collect();
            if !checksum_ok(&ix) {
                break;
            }
            k += 1;
        }
        let invalid: String = chars.iter().collect();
        let mut typo_chars = chars.clone();
        typo_chars[4] = '龘';
        let typo: String = typo_chars.iter().collect();
        let cases = vec![
            seed_case("valid checksum alone", "", &valid, ""),
            seed_case("valid checksum traditional", "請看：", &valid_t, "，謝謝"),
            seed_case("valid checksum 24", "", &valid24, ""),
            seed_case("valid checksum after colon", "我的钱包：", &valid, "。"),
            seed_case(
                "cue in the run, invalid checksum",
                "我的助记词是",
                &invalid,
                "",
            ),
            seed_case(
                "brief's example after cue",
                "我的助记词是",
                "的一是在不了有和人这中大",
                "",
            ),
            seed_case("cue then colon", "助记词：", &invalid, "，帮我看看"),
            seed_case("cue then connector words", "助记词如下\n", &invalid, ""),
            seed_case("latin cue", "My seed: ", &invalid, ""),
            seed_case("cue and one typo", "私钥 ", &typo, ""),
            // Only the phrase goes: the request after it in the same run stays.
            seed_case(
                "cue, phrase, then more text in the same run",
                "我的助记词是",
                &invalid,
                "请帮我看看",
            ),
        ];
        check_table(&cases, scrub);
        // Without a cue, a checksum failure keeps the run.
        assert_eq!(scrub(&invalid), None);
        assert_eq!(scrub("的一是在不了有和人这中大"), None);
    }

    #[test]
    fn keys() {
        let k = |name: &str, input: String, want: String, kind: SecretKind| {
            (name.to_string(), input, want, vec![kind])
        };
        use SecretKind::*;
        let cases = vec![
            k("bare 64-hex", format!("here: {HEX64}"), format!("here: {KEY}"), PrivateKey),
            k("0x 64-hex", format!("0x{HEX64}"), KEY.into(), PrivateKey),
            k("0X 64-hex upper", format!("0X{}", HEX64.to_uppercase()), KEY.into(), PrivateKey),
            k("my private key", format!("my private key: 0x{HEX64} please check"), format!("my private key: {KEY} please check"), PrivateKey),
            k("private key beats tx", format!("tx failed so I export the private key: {HEX64}"), format!("tx failed so I export the private key: {KEY}"), PrivateKey),
            k("chinese key cue", format!("私钥是{HEX64}"), format!("私钥是{KEY}"), PrivateKey),
            k("tx cue on another line", format!("tx failed\n{HEX64}"), format!("tx failed\n{KEY}"), PrivateKey),
            k("tx cue too far away", format!("tx failed, I do not know what happened, my key {HEX64}"), format!("tx failed, I do not know what happened, my key {KEY}"), PrivateKey),
            k("wif uncompressed", "key 5HueCGU8rMjxEXxiPuD5BDku4MkFqeZyd4dZ1jvhTVqvbTLvyTJ ok".into(), format!("key {KEY} ok"), PrivateKey),
            k("wif compressed", "KwdMAjGmerYanjeui5SHS7JkmpZvVipYvB2LJGU1ZxJwYvP98617".into(), KEY.into(), PrivateKey),
            k("xprv", format!("xpriv: {XPRV_VECTOR}."), format!("xpriv: {XPRV}."), ExtendedKey),
            k("xprv truncated", XPRV_VECTOR[..104].to_string(), XPRV.into(), ExtendedKey),
            k("zprv", format!("zprv{}", &XPRV_VECTOR[4..]), XPRV.into(), ExtendedKey),
            k("keystore embedded", format!("Here is my file: {KEYSTORE} can you decrypt it?"), format!("Here is my file: {STORE} can you decrypt it?"), Keystore),
            k("keystore pretty", "my json:\n{\n  \"version\": 3,\n  \"Crypto\": {\n    \"CipherText\": \"ab}cd\\\"{\",\n    \"KDF\": \"scrypt\"\n  }\n}\nthanks".into(), format!("my json:\n{STORE}\nthanks"), Keystore),
            k("keystore truncated", format!("my keystore {} and then", &KEYSTORE[..200]), format!("my keystore {STORE}"), Keystore),
            k("metamask vault", "vault: {\"data\":\"bXlkYXRh\",\"iv\":\"aXY=\",\"salt\":\"c2FsdA==\"} ok".into(), format!("vault: {STORE} ok"), Keystore),
        ];
        check_table(&cases, scrub);
        let all = scrub(&format!(
            "{XPRV_VECTOR} {HEX64} {}",
            phrase(Language::English, 16, 50, " ")
        ))
        .unwrap();
        assert_eq!(
            all.found,
            vec![SecretKind::SeedPhrase, PrivateKey, ExtendedKey]
        );
        assert_eq!(all.text, format!("{XPRV} {KEY} {SEED}"));
    }

    #[test]
    fn not_secrets() {
        let en11 = "abandon ability able about above absent absorb abstract absurd abuse access";
        let cases: Vec<String> = vec![
            // Transaction hashes and explorer links.
            format!("txid: {HEX64}"),
            format!("TxHash 0x{HEX64}"),
            format!("Transaction hash: 0x{HEX64} still pending"),
            format!("the transaction id is {HEX64}"),
            format!("my tx 0x{HEX64} is stuck"),
            format!("交易哈希：0x{HEX64}"),
            format!("交易ID {HEX64}"),
            format!("hash值是{HEX64}"),
            format!("транзакция {HEX64}"),
            format!("https://etherscan.io/tx/0x{HEX64}"),
            format!("see etherscan.io/tx/0x{HEX64} please"),
            format!("bscscan.com/tx/0x{HEX64}"),
            format!("https://tronscan.org/#/transaction/{HEX64}"),
            format!("tronscan.org/#/transaction/{HEX64}"),
            format!("[0x{HEX64}](https://etherscan.io/tx/0x{HEX64})"),
            format!("sha256 of the apk: {HEX64}"),
            // Addresses and other hex.
            "send to 0x742d35Cc6634C0532925a3b844Bc454e4438f44e please".into(),
            format!("{}", &HEX64[..63]),
            format!("{HEX64}a"),
            format!("0x{HEX64}00"),
            "bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdq".into(),
            "bc1p5d7rjq7g6rdk2yhzks9smlaqtedr4dekq08ge8ztwac72sfr9rusxg3297".into(),
            "1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa and 3J98t1WpEZ73CNmQviecrnyiWrnqRhWNLy".into(),
            "TQn9Y2khEsLJW1ChVWFMSMeRDow5KcbLSE".into(),
            // A WIF-shaped string with a bad checksum; an xpub.
            "5HueCGU8rMjxEXxiPuD5BDku4MkFqeZyd4dZ1jvhTVqvbTLvyTK".into(),
            "KwdMAjGmerYanjeui5SHS7JkmpZvVipYvB2LJGU1ZxJwYvP98618".into(),
            "xpub661MyMwAqRbcFtXgS5sYJABqqG9YLmC4Q1Rdap9gSE8NqtwybGhePY2gZ29ESFjqJoCu1Rupje8YtGqsefD265TMg7usUDFdp6W1EGMcet8".into(),
            // Identifiers and blobs.
            "Order #20240518-77812, ticket 88412".into(),
            "request id 550e8400-e29b-41d4-a716-446655440000".into(),
            "550e8400e29b41d4a716446655440000".into(),
            "support@switchboard.example, alice.about.above@mail.example.com".into(),
            "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==".into(),
            "-----BEGIN PGP SIGNATURE-----\n\niQEzBAEBCAAdFiEEn1ZlTq3FqWRu0+Lq6yKpXcY0bMsFAmZt1QUACgkQ6yKpXcY0\nbMsTZQf/VH0m8g2W3cYbZxmN2nVqxjbCkSB4rwWVYQ2Xn0mDi8tCDeSmFY6DqHwP\nq7n6bJ5y9N5mJvKx0Jtqk8G2Ys4R8nq8f3m2w9Qe2Fz7U0tL5c8pA4kY3mZ1vX0k\n=AbCd\n-----END PGP SIGNATURE-----".into(),
            "{\"status\":\"ok\",\"data\":{\"balance\":\"12.5\"}}".into(),
            "{ unbalanced brace with \"ciphertext\" mentioned".into(),
            // Few list words, or a sentence that happens to hold several.
            "I tried abandon ability able about above".into(),
            en11.into(),
            format!("{en11}? I saw these words in a game."),
            "Please help, I can check my account balance but you can not see the receive button".into(),
            "We will never ask for your seed phrase, private key or password. Please do not share them with anyone, including people who claim to be support staff.".into(),
            "Your recovery phrase is 12 or 24 words. Write it down on paper and keep it somewhere safe; never type it into a website or send it in a chat.".into(),
            "Hello, I sent 0.5 ETH to my friend yesterday but the balance still shows the old amount. Can you check what happened and let me know? Thank you!".into(),
            "After the last update the app crashes every time I open the swap screen. I already tried to reinstall it twice and restart my phone.".into(),
            "Can you explain the difference between the network fee and the service fee? I was charged more than I expected for a simple transfer.".into(),
            "My deposit from the exchange has not arrived after three hours, the exchange says it was sent and confirmed on their side.".into(),
            "I want to move all my funds to a new wallet because I think someone saw my screen, what is the safest way to do that?".into(),
            "The price chart shows the wrong value, it says my total is zero but the token list still shows every coin with a balance.".into(),
            // Other languages.
            "Hola, envié dinero a mi cuenta hace dos días y todavía no aparece el saldo. ¿Pueden revisar qué pasó con la transferencia?".into(),
            "Bonjour, j'ai oublié mon mot de passe et je ne peux plus accéder à mon portefeuille. Pouvez-vous m'aider à le récupérer rapidement ?".into(),
            "Ciao, ho inviato dei fondi ma il saldo non è cambiato. Potete controllare cosa è successo alla mia transazione di ieri sera?".into(),
            "Olá, fiz um depósito ontem e ainda não apareceu na minha carteira. Podem verificar o que aconteceu com a transferência?".into(),
            "Dobrý den, včera jsem poslal peníze na svou peněženku, ale zůstatek se nezměnil. Můžete to prosím zkontrolovat?".into(),
            "パスワードを忘れてしまいました。ウォレットにアクセスできません。どうすればいいですか？".into(),
            "送金が届きません。取引所では完了と表示されていますが、残高が変わっていません。確認してください。".into(),
            "あいこくしん あいさつ あいだ を かいた けど よく わからない".into(),
            "비밀번호를 잊어버렸어요. 지갑에 접속할 수가 없는데 어떻게 해야 하나요?".into(),
            "어제 입금했는데 아직 잔액에 반영이 안 됐습니다. 거래소에서는 출금 완료라고 나옵니다. 확인 부탁드립니다.".into(),
            "Здравствуйте, мой перевод не дошёл, транзакция висит уже два часа.".into(),
        ];
        let zh = zh_messages();
        let mut altered = Vec::new();
        for text in cases.iter().map(String::as_str).chain(zh.iter().copied()) {
            if let Some(s) = scrub(text) {
                altered.push(format!("{text:?} -> {:?}", s.text));
            }
        }
        assert!(altered.is_empty(), "altered:\n{}", altered.join("\n"));
        assert!(cases.len() + zh.len() >= 25);
    }

    /// Realistic Chinese support messages, several mentioning a mnemonic (a cue).
    fn zh_messages() -> Vec<&'static str> {
        vec![
            "你好，我的钱包密码忘记了，请问怎么才能找回？我还记得助记词。",
            "我昨天从交易所提币到这个钱包地址，已经过了三个小时还没有到账，请帮我查一下是什么原因。",
            "转账一直显示失败，手续费已经扣了但是对方没有收到，这是怎么回事？",
            "充值的USDT没有到账，交易哈希已经确认了，麻烦客服帮忙处理一下谢谢",
            "我换了新手机以后登录不上了，提示密码错误，但是我确定密码是对的",
            "请问为什么我的余额显示为零？我之前明明有两个比特币，现在全部不见了",
            "我的助记词丢了怎么办，钱包里还有很多资产，能不能帮我恢复",
            "助记词我已经备份好了但是导入钱包的时候一直提示错误请问是什么问题",
            "我的助记词忘记了请问怎么找回我的币",
            "我的助记词是对的但是导入钱包时一直提示错误",
            "种子短语在哪里可以看到？我想把钱包迁移到新手机上面去。",
            "我的錢包密碼忘記了，請問要怎麼找回？助記詞我有寫在紙上。",
            "存款三天了還沒到帳，交易編號已經發給你們了，請盡快處理。",
            "你们好，我想问一下提现到银行卡大概需要多长时间才能到账呢？",
            "昨天晚上转出去的币到现在还没有到对方地址，区块浏览器上也查不到记录",
            "我把钱转到了错误的地址上面，这个还能追回来吗，非常着急，谢谢你们",
        ]
    }

    #[test]
    fn html() {
        let w = words(Language::English, 16, 60);
        let html = format!(
            "<p>Hi, my words:</p><p>{} {} {} {}<br>{}&nbsp;{} {} {}</p><p><b>{}</b> {} {} {}</p><p>thanks</p>",
            w[0], w[1], w[2], w[3], w[4], w[5], w[6], w[7], w[8], w[9], w[10], w[11]
        );
        let want = format!("<p>Hi, my words:</p><p>{SEED}<br></p><p><b></b></p><p>thanks</p>");
        let cases = vec![
            (
                "phrase across nodes".into(),
                html,
                want,
                vec![SecretKind::SeedPhrase],
            ),
            (
                "xprv in an attribute and in text".into(),
                format!("<p title=\"{XPRV_VECTOR}\">see <code>{XPRV_VECTOR}</code></p>"),
                format!("<p title=\"{XPRV}\">see <code>{XPRV}</code></p>"),
                vec![SecretKind::ExtendedKey],
            ),
            (
                "unquoted attribute".into(),
                format!("<span title={XPRV_VECTOR}>x</span>"),
                format!("<span title=\"{XPRV}\">x</span>"),
                vec![SecretKind::ExtendedKey],
            ),
            (
                "escaped keystore json".into(),
                "<div>file: {&quot;crypto&quot;:{&quot;ciphertext&quot;:&quot;ab&quot;,&quot;kdf&quot;:&quot;scrypt&quot;}}</div>".into(),
                format!("<div>file: {STORE}</div>"),
                vec![SecretKind::Keystore],
            ),
            (
                "entity separators, ideographic space entity".into(),
                format!("<p>{}</p>", phrase(Language::Japanese, 16, 61, "&#12288;")),
                format!("<p>{SEED}</p>"),
                vec![SecretKind::SeedPhrase],
            ),
            (
                "key in text node".into(),
                format!("<p>my key</p><p>{HEX64}</p>"),
                format!("<p>my key</p><p>{KEY}</p>"),
                vec![SecretKind::PrivateKey],
            ),
        ];
        check_table(&cases, scrub_html);
        for clean in [
            format!("<p>Transaction hash: <a href=\"https://etherscan.io/tx/0x{HEX64}\">0x{HEX64}</a></p>"),
            format!("<a href=\"https://etherscan.io/tx/0x{HEX64}\">view</a>"),
            "<p>We will never ask for your <b>seed phrase</b>.</p><img src=\"cid:logo\" alt=\"logo\">".into(),
            "<p>AT&T &amp; 1 &lt; 2 <unclosed".into(),
        ] {
            assert_eq!(scrub_html(&clean), None, "{clean}");
        }
    }

    #[test]
    fn kinds_and_markers() {
        use SecretKind::*;
        for (k, m, s) in [
            (SeedPhrase, SEED, "seed_phrase"),
            (PrivateKey, KEY, "private_key"),
            (ExtendedKey, XPRV, "extended_key"),
            (Keystore, STORE, "keystore"),
        ] {
            assert_eq!((k.marker(), k.as_str()), (m, s));
        }
        // The keystore's 64-hex ciphertext is part of the keystore, not a key of its own.
        assert_eq!(scrub(KEYSTORE).unwrap().found, vec![Keystore]);
    }

    #[test]
    fn checksum_matches_the_crate() {
        for seed in 0..40u8 {
            for n in [16, 20, 24, 28, 32] {
                let m = Mnemonic::from_entropy_in(Language::SimplifiedChinese, &entropy(n, seed))
                    .unwrap();
                let ix: Vec<u16> = m.word_indices().map(|i| i as u16).collect();
                assert!(checksum_ok(&ix));
                let mut bad = ix.clone();
                let last = bad.len() - 1;
                bad[last] ^= 1;
                assert!(!checksum_ok(&bad));
            }
        }
    }

    /// Random phrases of every length in every language, in context and with one typo, are
    /// removed whole: no word of the phrase is left.
    #[test]
    fn random_phrases_leave_no_word() {
        let mut state: u64 = 0x5eed;
        let mut next = move || {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (state >> 33) as usize
        };
        let contexts = [
            ("Hi, here are my words: ", " thanks"),
            ("", ""),
            ("My seed is ", ". What now?"),
            ("please help ", " please help"),
        ];
        let mut leaks = Vec::new();
        for (li, lang) in LANGS.iter().enumerate() {
            let sep = if *lang == Language::Japanese {
                "\u{3000}"
            } else {
                " "
            };
            for round in 0..40 {
                let bytes = [16, 20, 24, 28, 32][round % 5];
                let ent: Vec<u8> = (0..bytes).map(|_| next() as u8).collect();
                let m = Mnemonic::from_entropy_in(*lang, &ent).unwrap();
                let mut words: Vec<String> = m.words().map(|w| w.nfc().collect()).collect();
                if round % 2 == 1 {
                    // One typo: a letter replaced or dropped.
                    let k = next() % words.len();
                    let mut cs: Vec<char> = words[k].chars().collect();
                    let pos = next() % cs.len();
                    if cs.len() > 2 && next() % 2 == 0 {
                        cs.remove(pos);
                    } else {
                        cs[pos] = match li {
                            ZH_S | ZH_T => '龘',
                            6 => 'ぬ',
                            7 => '갉',
                            _ => 'q',
                        };
                    }
                    words[k] = cs.into_iter().collect();
                }
                let (before, after) = contexts[round % contexts.len()];
                let input = format!("{before}{}{after}", words.join(sep));
                let out = scrub(&input).map(|s| s.text).unwrap_or_default();
                let rest = out.replace(SEED, " ");
                let left: Vec<&String> = words
                    .iter()
                    .filter(|w| !format!("{before} {after}").contains(w.as_str()))
                    .filter(|w| rest.split([' ', '\u{3000}']).any(|t| t == w.as_str()))
                    .collect();
                if out.is_empty() || !left.is_empty() {
                    leaks.push(format!("{input}\n  -> {out:?} (left {left:?})"));
                }
            }
        }
        assert!(leaks.is_empty(), "{}", leaks.join("\n"));
    }

    /// A long paste of list words with a stray word every 12 (the worst case for the window
    /// search) is still scanned in linear time.
    #[test]
    fn long_word_lists_stay_linear() {
        let list = Language::English.word_list();
        let text: String = (0..12_000)
            .map(|i| {
                if i % 12 == 0 {
                    "qzx"
                } else {
                    list[(i * 7919) % 2048]
                }
            })
            .collect::<Vec<_>>()
            .join(" ");
        let t = std::time::Instant::now();
        let out = scrub(&text).unwrap();
        assert_eq!(out.text, SEED);
        // Generous for an unoptimized build; quadratic behaviour takes minutes here.
        assert!(
            t.elapsed() < std::time::Duration::from_secs(10),
            "{:?}",
            t.elapsed()
        );
    }

    proptest::proptest! {
        #[test]
        fn never_panics(s in "\\PC{0,400}") {
            if let Some(out) = scrub(&s) {
                proptest::prop_assert!(!out.found.is_empty());
                proptest::prop_assert!(out.found.windows(2).all(|w| w[0] < w[1]));
                proptest::prop_assert_ne!(&out.text, &s);
            }
            if let Some(out) = scrub_html(&s) {
                proptest::prop_assert!(!out.found.is_empty());
            }
        }

        #[test]
        fn never_panics_on_word_soup(ws in proptest::collection::vec(0usize..2048, 0..40), sep in "[ ,\\n<>&;.0-9]{1,3}", lang in 0usize..10) {
            let list = LANGS[lang].word_list();
            let s: String = ws.iter().map(|&i| list[i]).collect::<Vec<_>>().join(&sep);
            if let Some(out) = scrub(&s) {
                proptest::prop_assert!(!out.found.is_empty());
            }
            let _ = scrub_html(&s);
        }
    }
}
