//! Refuses an agent reply that asks the customer for a wallet secret, a one-time code, remote
//! access to their device, or a "verification" payment: the script every support scam follows.
//!
//! The check is lexical, in English, Chinese (simplified and traditional), Spanish and Russian:
//!
//! 1. The text is normalized (lowercase, full-width and accented letters folded, traditional
//!    Chinese characters of the word lists mapped to simplified, invisible characters dropped)
//!    and split into tokens: words, numbers, single CJK characters, and clause breaks (soft: `,`
//!    `:`; hard: `.` `!` `?` `;` newline).
//! 2. Phrases from the word lists below are matched leftmost-longest, so "error code" hides
//!    "code" and "验证码" hides "验证". Each phrase carries roles (request verb, sensitive object,
//!    negation, ...).
//! 3. In each sentence, a sensitive object paired with a nearby request verb is a request,
//!    unless a negation or warning governs that verb ("never share your seed phrase", "if
//!    someone asks for your 12 words, it is a scam"). A negation governs a verb only if it
//!    precedes it with no clause break, "just", "please", "but" or "worry" in between: "don't
//!    worry, just send us your seed phrase" is a request.
//!
//! It is a guard against careless or scripted replies, not against an agent who deliberately
//! misspells words; the cost of a false refusal (the agent rephrases) is far lower than that of
//! a missed one, so ambiguous cases refuse. Every step is linear in the text: patterns are found
//! by hash look-up of each token, and every later scan is bounded by a fixed window.

use std::cell::RefCell;
use std::collections::HashMap;
use std::fmt;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::LazyLock;

use crate::{Scrubbed, SecretKind};

/// Why a reply was not sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// Machine-readable category: "seed_phrase", "private_key", "keystore", "wallet_password",
    /// "one_time_code", "remote_access", "send_funds", or "contains_secret".
    pub category: &'static str,
    /// English sentence for the agent, e.g. "This reply asks the customer for their seed
    /// phrase. Support never asks for it."
    pub reason: String,
}

impl Refusal {
    /// The reply itself carries a secret (found by [`crate::scrub`]).
    pub fn contains_secret(found: &Scrubbed) -> Self {
        let mut names: Vec<&str> = Vec::new();
        for kind in &found.found {
            let name = kind_name(*kind);
            if !names.contains(&name) {
                names.push(name);
            }
        }
        let list = match names.as_slice() {
            [] => "a wallet secret".to_string(),
            [one] => (*one).to_string(),
            [init @ .., last] => format!("{} and {last}", init.join(", ")),
        };
        Refusal {
            category: "contains_secret",
            reason: format!(
                "This reply contains {list}. Remove it: anyone who sees it can take the funds."
            ),
        }
    }

    fn asks_for(cat: Cat) -> Self {
        Refusal {
            category: cat.category(),
            reason: cat.reason().to_string(),
        }
    }
}

/// Matched on the stable name rather than the variant, so that a kind added to `secrets.rs`
/// later still gets a (generic) name instead of breaking this crate.
fn kind_name(kind: SecretKind) -> &'static str {
    match kind.as_str() {
        "seed_phrase" => "a seed phrase",
        "private_key" => "a private key",
        "extended_key" => "an extended private key",
        "keystore" => "a keystore file",
        _ => "a wallet secret",
    }
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.reason)
    }
}

impl std::error::Error for Refusal {}

/// Ok when the reply does not ask the customer for a secret.
pub fn check_request(text: &str) -> Result<(), Refusal> {
    if text.is_empty() {
        return Ok(());
    }
    // The buffers are reused per thread: a long reply would otherwise fault in fresh pages on
    // every call.
    thread_local! {
        static SCRATCH: RefCell<Scratch> = RefCell::new(Scratch::default());
    }
    let found = SCRATCH.with(|cell| match cell.try_borrow_mut() {
        Ok(mut scratch) => {
            let found = scratch.check(text);
            // A huge reply should not pin its buffers for the thread's lifetime.
            if scratch.norm.capacity() > 1 << 20 {
                *scratch = Scratch::default();
            }
            found
        }
        Err(_) => Scratch::default().check(text),
    });
    match found {
        Some(cat) => Err(Refusal::asks_for(cat)),
        None => Ok(()),
    }
}

#[derive(Default)]
struct Scratch {
    norm: String,
    toks: Vec<Tok>,
    items: Vec<Item>,
}

impl Scratch {
    fn check(&mut self, text: &str) -> Option<Cat> {
        self.norm.clear();
        normalize(text, &mut self.norm);
        LEXICON.items(&self.norm, &mut self.toks, &mut self.items);
        analyze(&self.items)
    }
}

// ---------------------------------------------------------------------------------------------
// Categories

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Cat {
    Seed,
    PrivateKey,
    Keystore,
    Password,
    Code,
    Remote,
    Funds,
}

impl Cat {
    fn category(self) -> &'static str {
        match self {
            Cat::Seed => "seed_phrase",
            Cat::PrivateKey => "private_key",
            Cat::Keystore => "keystore",
            Cat::Password => "wallet_password",
            Cat::Code => "one_time_code",
            Cat::Remote => "remote_access",
            Cat::Funds => "send_funds",
        }
    }

    fn reason(self) -> &'static str {
        match self {
            Cat::Seed => {
                "This reply asks the customer for their seed phrase (recovery phrase). Support never asks for it."
            }
            Cat::PrivateKey => {
                "This reply asks the customer for their private key. Support never asks for it."
            }
            Cat::Keystore => {
                "This reply asks the customer for their keystore or wallet backup file. Support never asks for it."
            }
            Cat::Password => {
                "This reply asks the customer for their wallet password or PIN. Support never asks for it."
            }
            Cat::Code => {
                "This reply asks the customer for a one-time or two-factor code. Support never asks for it: whoever has the code can take over the account."
            }
            Cat::Remote => {
                "This reply asks the customer to install or open remote-access software. Support never asks for access to a customer's device."
            }
            Cat::Funds => {
                "This reply asks the customer to send funds to verify, unlock or recover their wallet. Support never asks for a payment or a test transaction."
            }
        }
    }

    /// The request verbs that can ask for this kind of object.
    fn cues(self) -> u32 {
        match self {
            Cat::Funds => MOVE,
            Cat::Remote => GIVE | LOCAL | ASK | QUESTION | POSTQ | INSTALL,
            _ => GIVE | LOCAL | ASK | QUESTION | POSTQ,
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Roles of a phrase (bit flags; one phrase may have several)

/// Asks the customer to hand something over: send, tell, provide, 发给, envíe, пришлите.
const GIVE: u32 = 1 << 0;
/// An action that can also be done locally on the customer's own device (type, enter, paste,
/// confirm): a request only when not directed to the app, settings or paper.
const LOCAL: u32 = 1 << 1;
/// Asks for something on the agent's behalf: ask for, request, we need, 索要, просим.
const ASK: u32 = 1 << 2;
/// "what is your ...": a request only when the object follows closely.
const QUESTION: u32 = 1 << 3;
/// A question that follows its object (Chinese 是什么, 是多少).
const POSTQ: u32 = 1 << 4;
/// Install or open software (only pairs with remote-access objects).
const INSTALL: u32 = 1 << 5;
/// Send or transfer value (only pairs with funds objects).
const MOVE: u32 = 1 << 6;
/// A sensitive object; the phrase's category says which.
const OBJ: u32 = 1 << 7;
/// A negation that may span a parenthetical comma ("never, under any circumstances, ...").
const NEG: u32 = 1 << 8;
/// A short negation ("no", "not", 不, не) that ends at the next comma: "No, send it" is a request.
const NEGW: u32 = 1 << 9;
/// A third party or a warning as the subject: someone, scammers, beware, 有人, мошенники.
const THIRD: u32 = 1 << 10;
/// A question about the past or a condition: did you, have you, whether, 是否. Also negates
/// when it stands between the verb and the object ("confirm whether you shared ...").
const BETWEEN: u32 = 1 << 11;
/// "to no one", "никому", "a nadie" right after the object.
const NOBODY: u32 = 1 << 12;
/// Consumes a preceding negation: "don't worry", "no problem", "don't hesitate", 不用担心.
const ABSORB: u32 = 1 << 13;
/// Ends a negation's scope: just, only, please, but, unless, 直接, 请, просто, pero.
const RESET: u32 = 1 << 14;
/// Neutral words inside a negation's scope ("under any circumstances", "ever").
const FILLER: u32 = 1 << 15;
/// "except us", "other than us", 除了我们: voids every negation in the sentence.
const EXCEPT: u32 = 1 << 16;
/// The sentence calls the request a scam ("it is a scam", 是诈骗, es una estafa).
const WARN: u32 = 1 << 17;
/// A place on the customer's side: in the app, in Settings, on paper, offline.
const SAFELOC: u32 = 1 << 18;
/// A place on our side: here, in this chat, to us, 这里, aquí, сюда.
const REQLOC: u32 = 1 << 19;
/// when, while, after: "when entering your seed phrase" describes, it does not ask.
const TEMPORAL: u32 = 1 << 20;
/// A verb that takes the object for itself: keep, back up, store, write down, have, reset.
const BLOCKER: u32 = 1 << 21;
/// An innocent thing to send (txid, hash, screenshot): blocks pairing a send verb with a
/// following funds word ("send the txid of your USDT transfer").
const BENIGN: u32 = 1 << 22;
/// Chinese 把/将: the object comes before its verb.
const BA: u32 = 1 << 23;
/// A pronoun (it, them, это, la) right after a verb refers back to an object.
const PRON: u32 = 1 << 24;
/// The purpose of a scam payment: to verify, to unlock, for activation, 验证, для проверки.
const PURPOSE: u32 = 1 << 25;
/// A condition (if, once, 一旦, если): negates like "no" when the sentence names a harm ("if you
/// share your seed phrase, anyone can steal your funds").
const COND: u32 = 1 << 26;
/// A harm to the customer: steal, lose, at risk, 被盗, 风险, robar, украсть.
const HARM: u32 = 1 << 27;
/// Consumes its words and has no role ("error code", "not a scam", "if you do not").
const NEUTRAL: u32 = 0;

// ---------------------------------------------------------------------------------------------
// Word lists. Written in natural spelling: they go through the same normalization as the text.
// A trailing `*` makes the last word a prefix (for Russian and Spanish inflections); `#` is any
// number. Words are separated by spaces; Chinese phrases need none.

const SEED_OBJ: &[&str] = &[
    // English
    "seed phrase",
    "seed phrases",
    "seedphrase",
    "seed words",
    "seed word",
    "seed",
    "mnemonic",
    "mnemonics",
    "mnemonic phrase",
    "mnemonic words",
    "recovery phrase",
    "recovery phrases",
    "recovery words",
    "recovery seed",
    "secret phrase",
    "secret recovery phrase",
    "secret words",
    "backup phrase",
    "backup words",
    "backup seed",
    "wallet phrase",
    "srp",
    "twelve words",
    "twenty-four words",
    "twenty four words",
    "eighteen words",
    // Chinese
    "助记词",
    "助记短语",
    "助记码",
    "恢复短语",
    "恢复词",
    "种子短语",
    "种子词",
    "种子",
    "密语",
    "私密短语",
    "备份短语",
    "秘密恢复短语",
    "秘密短语",
    "十二个单词",
    "二十四个单词",
    "十二个词",
    "二十四个词",
    // Spanish
    "frase semilla",
    "frase de semilla",
    "frases semilla",
    "frase de recuperación",
    "frase de recuperacion",
    "frase secreta",
    "frase de respaldo",
    "frase mnemónica",
    "frase de seguridad",
    "palabras de recuperación",
    "palabras semilla",
    "palabras secretas",
    "semilla",
    "mnemónico",
    "mnemónica",
    "doce palabras",
    "veinticuatro palabras",
    // Russian
    "сид фраз*",
    "сидфраз*",
    "сид",
    "seed фраз*",
    "мнемоническ* фраз*",
    "мнемофраз*",
    "мнемоник*",
    "фраз* восстановлени*",
    "фраз* для восстановлени*",
    "секретн* фраз*",
    "кодов* фраз*",
    "резервн* фраз*",
    "ключев* фраз*",
    "двенадцать слов",
    "двадцать четыре слова",
];

const PRIVATE_KEY_OBJ: &[&str] = &[
    "private key",
    "private keys",
    "privkey",
    "priv key",
    "secret key",
    "secret keys",
    "master key",
    "master private key",
    "extended private key",
    "xprv",
    "wif",
    "wif key",
    "signing key",
    "私钥",
    "私匙",
    "秘钥",
    "密钥",
    "私人密钥",
    "钱包私钥",
    "clave privada",
    "claves privadas",
    "llave privada",
    "llaves privadas",
    "clave secreta",
    "приватн* ключ*",
    "закрыт* ключ*",
    "секретн* ключ*",
    "личн* ключ*",
];

const KEYSTORE_OBJ: &[&str] = &[
    "keystore",
    "keystores",
    "keystore file",
    "key store",
    "json file",
    "json keystore",
    "wallet file",
    "wallet files",
    "wallet.dat",
    "utc--",
    "utc file",
    "vault data",
    "vault file",
    "wallet vault",
    "metamask vault",
    "wallet backup",
    "wallet backup file",
    "backup file",
    "encrypted backup",
    "keystore文件",
    "json文件",
    "钱包文件",
    "备份文件",
    "钱包备份",
    "密钥文件",
    "utc文件",
    "archivo keystore",
    "archivo json",
    "archivo del monedero",
    "archivo de la billetera",
    "archivo de billetera",
    "archivo de respaldo",
    "файл* keystore",
    "json файл*",
    "файл* json",
    "файл* кошелька",
    "файл* хранилищ*",
];

const PASSWORD_OBJ: &[&str] = &[
    "password",
    "passwords",
    "passcode",
    "pass code",
    "passphrase",
    "pin",
    "pins",
    "pin code",
    "pincode",
    "pin number",
    "login password",
    "wallet password",
    "app password",
    "spending password",
    "unlock password",
    "security pin",
    "account password",
    "密码",
    "支付密码",
    "交易密码",
    "登录密码",
    "登陆密码",
    "钱包密码",
    "资金密码",
    "解锁密码",
    "口令",
    "contraseña",
    "contraseñas",
    "clave",
    "clave de acceso",
    "código pin",
    "contraseña del monedero",
    "contraseña de la billetera",
    "clave del monedero",
    "парол*",
    "пин код*",
    "пин",
    "pin код*",
    "код пароль",
];

const CODE_OBJ: &[&str] = &[
    "2fa",
    "2fa code",
    "2fa codes",
    "two-factor code",
    "two factor code",
    "two-factor authentication code",
    "authenticator code",
    "authenticator",
    "google authenticator",
    "google authenticator code",
    "google auth",
    "google auth code",
    "sms code",
    "text code",
    "verification code",
    "verification codes",
    "verify code",
    "otp",
    "otp code",
    "one-time code",
    "one time code",
    "one-time password",
    "one time password",
    "one-time passcode",
    "security code",
    "confirmation code",
    "authentication code",
    "login code",
    "auth code",
    "email code",
    "backup code",
    "backup codes",
    "recovery code",
    "recovery codes",
    "code we sent",
    "code we sent you",
    "code we emailed",
    "code we texted",
    "code sent to your",
    "code you received",
    "code you got",
    "code from sms",
    "code from the sms",
    "code from your email",
    "code from the email",
    "code from the app",
    "code from your authenticator",
    "the code",
    "the codes",
    "this code",
    "that code",
    "these codes",
    "your code",
    "a code",
    "code by sms",
    "code by text",
    "# digit code",
    "# digit number",
    "验证码",
    "谷歌验证码",
    "短信验证码",
    "邮箱验证码",
    "手机验证码",
    "简讯验证码",
    "动态码",
    "动态密码",
    "动态口令",
    "校验码",
    "短信码",
    "谷歌码",
    "安全码",
    "认证码",
    "确认码",
    "授权码",
    "登录码",
    "一次性密码",
    "一次性验证码",
    "二次验证码",
    "两步验证码",
    "二步验证码",
    "身份验证器",
    "谷歌身份验证器",
    "código de verificación",
    "código de confirmación",
    "código sms",
    "código de sms",
    "código por sms",
    "código de seguridad",
    "código de autenticación",
    "código 2fa",
    "código de google authenticator",
    "código de google",
    "código de un solo uso",
    "código que le enviamos",
    "código que recibió",
    "código de # dígitos",
    "el código",
    "ese código",
    "este código",
    "su código",
    "autenticador",
    "код*",
    "код* из смс",
    "код* из sms",
    "смс код*",
    "sms код*",
    "код* подтверждени*",
    "код* верификаци*",
    "код* проверки",
    "проверочн* код*",
    "одноразов* код*",
    "одноразов* парол*",
    "код* 2fa",
    "код* из приложени*",
    "код* google authenticator",
    "код* из письма",
    "код* безопасности",
    "код* аутентификаци*",
    "код* двухфакторн*",
];

const REMOTE_OBJ: &[&str] = &[
    "anydesk",
    "any desk",
    "teamviewer",
    "team viewer",
    "rustdesk",
    "rust desk",
    "ultraviewer",
    "ultra viewer",
    "chrome remote desktop",
    "remote desktop",
    "quicksupport",
    "quick support",
    "quick assist",
    "screen sharing",
    "screenshare",
    "screen share",
    "remote access",
    "remote control",
    "remote support",
    "remote session",
    "remote assistance",
    "remote connection",
    "airdroid",
    "splashtop",
    "logmein",
    "ammyy",
    "supremo",
    "zoho assist",
    "todesk",
    "vnc",
    "remote utilities",
    "remotepc",
    "向日葵",
    "远程控制",
    "远程协助",
    "远程桌面",
    "远程连接",
    "远程操作",
    "远程",
    "远端",
    "遥控",
    "屏幕共享",
    "萤幕共享",
    "共享桌面",
    "连接码",
    "识别码",
    "acceso remoto",
    "escritorio remoto",
    "control remoto",
    "compartir pantalla",
    "asistencia remota",
    "conexión remota",
    "soporte remoto",
    "удаленн* доступ*",
    "удаленн* рабоч* стол*",
    "удаленн* управлени*",
    "удаленн* подключени*",
    "демонстраци* экран*",
    "трансляци* экран*",
    "код* подключени*",
];

/// Verb and object in one phrase.
const REMOTE_REQUEST: &[&str] = &[
    "share your screen",
    "share the screen",
    "share screen",
    "共享屏幕",
    "分享屏幕",
    "共享您的屏幕",
    "分享您的屏幕",
    "共享你的屏幕",
    "共享萤幕",
    "comparta su pantalla",
    "compartir su pantalla",
    "comparte tu pantalla",
    "поделитесь экраном",
    "покажите экран",
    "включите демонстрацию экрана",
];

const FUNDS_OBJ: &[&str] = &[
    "funds",
    "fund",
    "money",
    "coins",
    "coin",
    "crypto",
    "cryptocurrency",
    "tokens",
    "usdt",
    "usdc",
    "btc",
    "bitcoin",
    "eth",
    "ether",
    "ethereum",
    "bnb",
    "trx",
    "sol",
    "ton",
    "matic",
    "doge",
    "ltc",
    "xrp",
    "dai",
    "busd",
    "a small amount",
    "small amount",
    "tiny amount",
    "minimum amount",
    "test transaction",
    "test transfer",
    "test payment",
    "test deposit",
    "fee",
    "a fee",
    "gas fee",
    "activation fee",
    "unlock fee",
    "to this address",
    "to the address below",
    "to the following address",
    "to our address",
    "to the address",
    "to this wallet",
    "to our wallet",
    "to the wallet below",
    "to this wallet address",
    "to my address",
    "to my wallet",
    "币",
    "资金",
    "一笔",
    "小额",
    "少量",
    "手续费",
    "保证金",
    "押金",
    "费用",
    "以太坊",
    "比特币",
    "泰达币",
    "到这个地址",
    "到该地址",
    "到以下地址",
    "到下面的地址",
    "到此地址",
    "到这个钱包",
    "这个地址",
    "该地址",
    "以下地址",
    "下面的地址",
    "测试交易",
    "测试转账",
    "fondos",
    "monedas",
    "cripto",
    "criptomonedas",
    "criptomoneda",
    "dinero",
    "una pequeña cantidad",
    "pequeña cantidad",
    "cantidad mínima",
    "transacción de prueba",
    "transferencia de prueba",
    "pago de prueba",
    "depósito",
    "comisión",
    "tarifa",
    "a esta dirección",
    "a la siguiente dirección",
    "a la dirección",
    "a esta billetera",
    "a nuestra billetera",
    "a nuestra dirección",
    "средств*",
    "монет*",
    "криптовалют*",
    "деньги",
    "денег",
    "небольш* сумм*",
    "тестов* транзакци*",
    "тестов* перевод*",
    "тестов* платеж*",
    "депозит*",
    "комисси*",
    "на этот адрес",
    "на адрес",
    "на следующий адрес",
    "на указанный адрес",
    "на этот кошелек",
    "на наш кошелек",
    "на наш адрес",
];

/// Send verbs that carry an amount ("转0.1 ETH", "转一笔").
const FUNDS_REQUEST: &[&str] = &["转 #", "转一笔", "转一点", "打一笔", "充一笔"];

/// Payment and purpose in one phrase ("转账验证").
const FUNDS_PURPOSE_REQUEST: &[&str] = &[
    "转账验证",
    "充值验证",
    "打款验证",
    "转账激活",
    "充值激活",
    "转账解锁",
    "充值解锁",
    "验证转账",
    "激活费",
    "verification fee",
    "verification deposit",
    "verification transaction",
    "activation deposit",
    "depósito de verificación",
    "проверочн* платеж*",
    "верификационн* платеж*",
];

const PURPOSE_WORDS: &[&str] = &[
    "for verification",
    "for verifying",
    "for validation",
    "for activation",
    "to verify",
    "to validate",
    "to unlock",
    "to activate",
    "to reactivate",
    "to synchronize",
    "to synchronise",
    "to sync",
    "to recover",
    "to restore",
    "to release",
    "to unfreeze",
    "to whitelist",
    "to authenticate",
    "to prove ownership",
    "to confirm ownership",
    "to confirm your wallet",
    "as verification",
    "proof of ownership",
    "验证",
    "激活",
    "解锁",
    "同步",
    "恢复",
    "认证",
    "解冻",
    "核实",
    "授权",
    "白名单",
    "验资",
    "para verificar",
    "para validar",
    "para desbloquear",
    "para activar",
    "para reactivar",
    "para sincronizar",
    "para recuperar",
    "para restaurar",
    "para descongelar",
    "para la verificación",
    "de verificación",
    "como verificación",
    "для верификации",
    "для проверки",
    "для подтверждения",
    "для активации",
    "для разблокировки",
    "для синхронизации",
    "для восстановления",
    "чтобы подтвердить",
    "чтобы верифицировать",
    "чтобы разблокировать",
    "чтобы активировать",
    "чтобы восстановить",
    "чтобы синхронизировать",
    "чтобы проверить",
    "в качестве проверки",
];

const GIVE_WORDS: &[&str] = &[
    // English
    "give",
    "giving",
    "give me",
    "give us",
    "send",
    "sending",
    "send me",
    "send us",
    "share",
    "sharing",
    "provide",
    "providing",
    "tell",
    "telling",
    "tell me",
    "tell us",
    "reply with",
    "reply back with",
    "respond with",
    "answer with",
    "upload",
    "uploading",
    "export",
    "exporting",
    "screenshot",
    "take a screenshot",
    "take a photo",
    "take a picture",
    "photo of",
    "picture of",
    "photograph",
    "snap",
    "show me",
    "show us",
    "submit",
    "submitting",
    "forward",
    "dm",
    "message us",
    "message me",
    "email us",
    "email me",
    "text us",
    "text me",
    "post",
    "drop",
    "attach",
    "include",
    "read me",
    "read us",
    "read out",
    "read aloud",
    "spell out",
    "dictate",
    "hand over",
    "disclose",
    "let me know",
    "let us know",
    // Chinese
    "发给",
    "发送",
    "发我",
    "发到",
    "发至",
    "发过来",
    "发来",
    "发一下",
    "发下",
    "发出来",
    "发出",
    "发私信",
    "私信",
    "私聊",
    "告诉",
    "告知",
    "提供",
    "回复",
    "截图",
    "截屏",
    "屏幕截图",
    "萤幕截图",
    "拍照",
    "拍下",
    "拍一下",
    "照片",
    "上传",
    "导出",
    "分享",
    "共享",
    "透露",
    "泄露",
    "给我",
    "给我们",
    "给客服",
    "交给",
    "传给",
    "出示",
    "报给",
    "报一下",
    "说一下",
    "说出",
    "念一下",
    "读一下",
    "复制给",
    "转发",
    "提交",
    "留下",
    "贴出",
    // Spanish
    "envíe",
    "envíenos",
    "envíeme",
    "envíame",
    "envíanos",
    "enviar",
    "enviarnos",
    "enviarme",
    "envía",
    "mande",
    "mándenos",
    "mándeme",
    "mándame",
    "manda",
    "mandar",
    "mandarnos",
    "proporcione",
    "proporciónenos",
    "proporciona",
    "proporcionar",
    "proporcionarnos",
    "comparta",
    "compártanos",
    "comparte",
    "compartir",
    "compartirnos",
    "compártame",
    "díganos",
    "dígame",
    "dinos",
    "dime",
    "decirnos",
    "decirme",
    "facilite",
    "facilítenos",
    "facilitar",
    "suba",
    "sube",
    "subir",
    "exporte",
    "exporta",
    "exportar",
    "responda con",
    "responde con",
    "conteste con",
    "muéstrenos",
    "muéstrame",
    "captura de pantalla",
    "haga una captura",
    "tome una foto",
    "saque una foto",
    "foto de",
    "reenvíe",
    "reenvía",
    "deme",
    "denos",
    "danos",
    "dame",
    "escríbanos",
    "escríbame",
    "escríbeme",
    "escríbenos",
    "indique",
    "indíquenos",
    "comunique",
    "comuníquenos",
    "revele",
    // Russian
    "отправьте",
    "отправь",
    "отправить",
    "отправляйте",
    "пришлите",
    "пришли",
    "прислать",
    "присылайте",
    "сообщите",
    "сообщи",
    "сообщить",
    "сообщайте",
    "укажите",
    "укажи",
    "указать",
    "указывайте",
    "назовите",
    "назови",
    "назвать",
    "называйте",
    "скажите",
    "скажи",
    "сказать",
    "говорите",
    "продиктуйте",
    "продиктуй",
    "диктуйте",
    "предоставьте",
    "предоставь",
    "предоставить",
    "предоставляйте",
    "поделитесь",
    "поделись",
    "поделиться",
    "делитесь",
    "дайте",
    "дай",
    "покажите",
    "покажи",
    "показать",
    "показывайте",
    "загрузите",
    "экспортируйте",
    "экспортировать",
    "скиньте",
    "скинь",
    "скинуть",
    "скидывайте",
    "перешлите",
    "перешли",
    "переслать",
    "сфотографируйте",
    "сфоткайте",
    "сделайте скриншот",
    "скриншот",
    "скрин",
    "фото",
    "ответьте",
    "напишите",
    "напиши",
    "написать",
    "пишите",
    "передайте",
    "передай",
    "передать",
    "передавайте",
    "раскройте",
];

/// Spanish verbs with the object pronoun attached ("envíela": send it).
const GIVE_WITH_PRONOUN: &[&str] = &[
    "envíela",
    "envíelo",
    "envíenosla",
    "envíenoslo",
    "mándela",
    "mándenosla",
    "compártala",
    "compártalo",
    "díganosla",
    "díganoslo",
    "escríbala",
];

const LOCAL_WORDS: &[&str] = &[
    "type",
    "typing",
    "enter",
    "entering",
    "paste",
    "pasting",
    "copy",
    "copying",
    "confirm",
    "confirming",
    "verify",
    "verifying",
    "validate",
    "validating",
    "input",
    "fill in",
    "write",
    "writing",
    "import",
    "importing",
    "key in",
    "show",
    "showing",
    "reveal",
    "display",
    "输入",
    "填写",
    "填入",
    "粘贴",
    "贴上",
    "复制",
    "确认",
    "核对",
    "导入",
    "录入",
    "键入",
    "展示",
    "escriba",
    "escribe",
    "escribir",
    "ingrese",
    "ingresa",
    "ingresar",
    "introduzca",
    "introduce",
    "introducir",
    "pegue",
    "pega",
    "pegar",
    "copie",
    "copia",
    "confirme",
    "confirma",
    "confirmar",
    "verifique",
    "verifica",
    "verificar",
    "teclee",
    "digite",
    "importe",
    "importar",
    "rellene",
    "valide",
    "muestre",
    "muestra",
    "mostrar",
    "введите",
    "введи",
    "ввести",
    "вводите",
    "вставьте",
    "вставь",
    "вставить",
    "подтвердите",
    "подтверди",
    "подтвердить",
    "импортируйте",
    "наберите",
    "скопируйте",
    "проверьте",
];

const ASK_WORDS: &[&str] = &[
    "ask",
    "asks",
    "asked",
    "asking",
    "ask for",
    "asking for",
    "asks for",
    "asked for",
    "ask you for",
    "ask you to",
    "asking you to",
    "asks you to",
    "asked you to",
    "request",
    "requests",
    "requesting",
    "require",
    "requires",
    "requiring",
    "we need",
    "i need",
    "we'll need",
    "we will need",
    "i'll need",
    "i will need",
    "need you to",
    "索要",
    "索取",
    "索求",
    "要求",
    "需要您",
    "需要你",
    "我们需要",
    "我需要",
    "询问",
    "问您要",
    "向您要",
    "跟您要",
    "问你要",
    "要您的",
    "要你的",
    "pedimos",
    "solicitamos",
    "necesitamos",
    "necesito",
    "requerimos",
    "pedir",
    "solicitar",
    "pedirle",
    "pedirá",
    "pediremos",
    "pediría",
    "solicitaremos",
    "solicitará",
    "solicitaría",
    "pide",
    "piden",
    "pidan",
    "pida",
    "requiere",
    "просим",
    "попросим",
    "попросить",
    "просить",
    "запрашиваем",
    "запросим",
    "запрашивать",
    "требуем",
    "требовать",
    "нам нужна",
    "нам нужен",
    "нам нужно",
    "нам нужны",
    "мне нужна",
    "мне нужен",
    "мне нужно",
    "мне нужны",
    "просит",
    "просят",
    "попросят",
    "спрашиваем",
    "спросим",
    "запрашивает",
    "потребуем",
];

const QUESTION_WORDS: &[&str] = &[
    "what is your",
    "what's your",
    "whats your",
    "what is the",
    "what's the",
    "what are your",
    "what are the",
    "which is your",
    "which are your",
    "what was your",
    "cuál es su",
    "cuál es tu",
    "cuáles son sus",
    "cuáles son tus",
    "cuáles son las",
    "cuál es la",
    "cuál es el",
    "какая у вас",
    "какой у вас",
    "какие у вас",
    "какая ваша",
    "какой ваш",
    "какие ваши",
    "какая у тебя",
    "какой у тебя",
    "какая твоя",
    "какой твой",
];

const POSTQ_WORDS: &[&str] = &["是什么", "是多少", "是啥", "多少", "是甚么"];

const INSTALL_WORDS: &[&str] = &[
    "install",
    "installing",
    "download",
    "downloading",
    "open",
    "opening",
    "run",
    "running",
    "launch",
    "use",
    "using",
    "start",
    "set up",
    "setup",
    "connect",
    "allow",
    "accept",
    "grant",
    "enable",
    "turn on",
    "get",
    "join",
    "下载",
    "安装",
    "打开",
    "使用",
    "开启",
    "运行",
    "装一下",
    "装上",
    "装个",
    "连接",
    "授权",
    "允许",
    "接受",
    "进行",
    "开通",
    "启动",
    "用一下",
    "instale",
    "instala",
    "instalar",
    "descargue",
    "descarga",
    "descargar",
    "abra",
    "abre",
    "abrir",
    "ejecute",
    "ejecuta",
    "use",
    "usa",
    "usar",
    "utilice",
    "utiliza",
    "conecte",
    "permita",
    "acepte",
    "inicie",
    "установите",
    "установи",
    "установить",
    "устанавливайте",
    "скачайте",
    "скачай",
    "скачать",
    "загрузите",
    "откройте",
    "открой",
    "открыть",
    "запустите",
    "запусти",
    "запустить",
    "включите",
    "разрешите",
    "подключитесь",
    "используйте",
    "воспользуйтесь",
    "примите",
];

const MOVE_WORDS: &[&str] = &[
    "send",
    "sending",
    "send back",
    "transfer",
    "transferring",
    "deposit",
    "depositing",
    "pay",
    "paying",
    "top up",
    "make",
    "do",
    "return",
    "move",
    "withdraw",
    "转账",
    "转入",
    "转给",
    "转到",
    "转至",
    "转出",
    "转过来",
    "充值",
    "打款",
    "汇款",
    "存入",
    "付款",
    "支付",
    "发送",
    "打币",
    "充币",
    "储值",
    "打到",
    "缴纳",
    "交纳",
    "envíe",
    "envía",
    "enviar",
    "envíenos",
    "mande",
    "manda",
    "transfiera",
    "transfiere",
    "transferir",
    "deposite",
    "deposita",
    "depositar",
    "pague",
    "paga",
    "pagar",
    "realice",
    "haga",
    "hacer",
    "mueva",
    "recargue",
    "отправьте",
    "отправь",
    "отправить",
    "переведите",
    "переведи",
    "перевести",
    "переводите",
    "пришлите",
    "внесите",
    "пополните",
    "оплатите",
    "сделайте",
    "совершите",
];

/// Strong negations: they may span a parenthetical comma.
const NEG_WORDS: &[&str] = &[
    "never",
    "don't",
    "dont",
    "do not",
    "does not",
    "doesn't",
    "won't",
    "wont",
    "will not",
    "cannot",
    "can't",
    "cant",
    "can not",
    "should not",
    "shouldn't",
    "must not",
    "mustn't",
    "did not",
    "didn't",
    "would not",
    "wouldn't",
    "none",
    "nor",
    "neither",
    "avoid",
    "refuse",
    "ignore",
    "stop",
    "without",
    "under no circumstances",
    "at no point",
    "请勿",
    "勿",
    "不要",
    "不用",
    "不必",
    "无需",
    "无须",
    "切勿",
    "绝不",
    "绝不会",
    "绝对不",
    "绝对不会",
    "决不",
    "决不会",
    "从不",
    "从来不",
    "从未",
    "永远不",
    "永远不会",
    "永不",
    "不会",
    "并不会",
    "不能",
    "不可",
    "不得",
    "不应",
    "不应该",
    "禁止",
    "别",
    "千万别",
    "千万不要",
    "没有",
    "拒绝",
    "避免",
    "nunca",
    "jamás",
    "ningún",
    "ninguna",
    "ninguno",
    "tampoco",
    "evite",
    "no debe",
    "en ningún caso",
    "bajo ninguna circunstancia",
    "никогда",
    "ни в коем случае",
    "ни при каких обстоятельствах",
    "нельзя",
    "не стоит",
    "не нужно",
    "не надо",
    "не следует",
    "запрещено",
    "избегайте",
    "ни за что",
];

const NOBODY_WORDS: &[&str] = &[
    "no one",
    "no-one",
    "noone",
    "nobody",
    "to no one",
    "to nobody",
    "with no one",
    "with nobody",
    "nadie",
    "a nadie",
    "con nadie",
    "никому",
    "никто",
];

const NEGW_WORDS: &[&str] = &["no", "not", "не", "不"];

const THIRD_WORDS: &[&str] = &[
    "someone",
    "somebody",
    "anyone",
    "anybody",
    "a stranger",
    "strangers",
    "scammer*",
    "fraudster*",
    "impersonat*",
    "fake",
    "beware",
    "be wary",
    "watch out",
    "be careful",
    "criminals",
    "hackers",
    "thieves",
    "phishing",
    "if someone",
    "if anyone",
    "whoever",
    "third party",
    "third parties",
    "other people",
    "任何人",
    "有人",
    "陌生人",
    "骗子",
    "冒充",
    "谨防",
    "警惕",
    "小心",
    "他人",
    "别人",
    "第三方",
    "假冒",
    "假客服",
    "诈骗分子",
    "alguien",
    "si alguien",
    "cualquier persona",
    "cualquiera",
    "estafador*",
    "desconocid*",
    "terceros",
    "cuidado",
    "кто то",
    "кто нибудь",
    "кто либо",
    "любой",
    "любому",
    "любые",
    "мошенник*",
    "незнаком*",
    "злоумышленник*",
    "если кто",
    "посторонн*",
    "третьим лицам",
    "третьи лица",
    "осторожно",
    "остерегайтесь",
    "будьте осторожны",
    "фейков*",
    "поддельн*",
];

const BETWEEN_WORDS: &[&str] = &[
    "did you",
    "have you",
    "has anyone",
    "did anyone",
    "did someone",
    "has someone",
    "were you",
    "whether",
    "是否",
    "有没有",
    "曾经",
    "ли",
    "alguna vez",
];

const ABSORB_WORDS: &[&str] = &[
    "worry",
    "worries",
    "worried",
    "panic",
    "hesitate",
    "fear",
    "be afraid",
    "be alarmed",
    "be scared",
    "forget",
    "delay",
    "wait",
    "rush",
    "problem",
    "mind",
    "be shy",
    "stress",
    "freak out",
    "be concerned",
    "担心",
    "着急",
    "急",
    "紧张",
    "害怕",
    "慌",
    "客气",
    "犹豫",
    "忘",
    "忘记",
    "怕",
    "顾虑",
    "介意",
    "preocupe",
    "preocupes",
    "preocuparse",
    "preocupen",
    "preocupa",
    "dude",
    "dudes",
    "problema",
    "olvide",
    "olvides",
    "se asuste",
    "tema",
    "волнуйтесь",
    "волнуйся",
    "беспокойтесь",
    "беспокойся",
    "переживайте",
    "переживай",
    "бойтесь",
    "бойся",
    "стесняйтесь",
    "забудьте",
    "забудь",
    "проблем*",
    "спешите",
    "паникуйте",
    "сомневайтесь",
    "медлите",
];

const RESET_WORDS: &[&str] = &[
    "just",
    "only",
    "simply",
    "but",
    "however",
    "though",
    "instead",
    "please",
    "kindly",
    "so",
    "now",
    "then",
    "rather",
    "unless",
    "except",
    "otherwise",
    "go ahead",
    "first",
    "只需",
    "只要",
    "只用",
    "只需要",
    "直接",
    "但是",
    "但",
    "不过",
    "可是",
    "然后",
    "所以",
    "请",
    "现在",
    "马上",
    "就",
    "赶紧",
    "尽快",
    "除非",
    "否则",
    "不然",
    "先",
    "solo",
    "sólo",
    "solamente",
    "simplemente",
    "pero",
    "sino",
    "por favor",
    "ahora",
    "entonces",
    "así que",
    "a menos que",
    "salvo que",
    "luego",
    "mejor",
    "просто",
    "только",
    "но",
    "а",
    "однако",
    "пожалуйста",
    "лучше",
    "вместо этого",
    "зато",
    "поэтому",
    "сейчас",
    "тогда",
    "если только",
];

const FILLER_WORDS: &[&str] = &[
    "under any circumstances",
    "for any reason",
    "ever",
    "again",
    "even",
    "in any case",
    "at any time",
    "whatsoever",
    "在任何情况下",
    "任何情况下",
    "无论如何",
    "无论什么情况",
    "任何时候",
    "在任何时候",
    "bajo ningún concepto",
    "por ningún motivo",
];

const EXCEPT_WORDS: &[&str] = &[
    "except us",
    "except to us",
    "except with us",
    "except for us",
    "except support",
    "except our support",
    "except our team",
    "except the support team",
    "but us",
    "but to us",
    "but with us",
    "but support",
    "other than us",
    "besides us",
    "apart from us",
    "only with us",
    "only to us",
    "only us",
    "only our support",
    "only support",
    "only with support",
    "除了我们",
    "除了客服",
    "除了官方",
    "除我们",
    "除客服",
    "只告诉我们",
    "只发给我们",
    "只能发给我们",
    "只提供给我们",
    "excepto a nosotros",
    "excepto con nosotros",
    "salvo a nosotros",
    "salvo con nosotros",
    "menos a nosotros",
    "menos con nosotros",
    "solo a nosotros",
    "solo con nosotros",
    "excepto al soporte",
    "кроме нас",
    "кроме поддержки",
    "кроме службы поддержки",
    "кроме сотрудников поддержки",
    "только нам",
];

const WARN_WORDS: &[&str] = &[
    "is a scam",
    "it's a scam",
    "its a scam",
    "that's a scam",
    "is scam",
    "is a scammer",
    "are scammers",
    "are scams",
    "is a fraud",
    "is fraud",
    "is phishing",
    "is a red flag",
    "is fake",
    "are fake",
    "is not us",
    "it's not us",
    "is not from us",
    "isn't us",
    "is impersonating",
    "are impersonating",
    "是诈骗",
    "都是诈骗",
    "属于诈骗",
    "诈骗行为",
    "一定是诈骗",
    "是骗子",
    "都是骗子",
    "是骗局",
    "都是骗局",
    "是钓鱼",
    "es una estafa",
    "es estafa",
    "son estafadores",
    "es un estafador",
    "es fraude",
    "es un fraude",
    "es phishing",
    "se trata de una estafa",
    "это мошенни*",
    "это обман",
    "это развод",
    "это скам",
    "это фишинг",
    "является мошенни*",
];

const NEUTRAL_WORDS: &[&str] = &[
    // Codes that are not one-time codes.
    "error code",
    "error codes",
    "promo code",
    "referral code",
    "invite code",
    "invitation code",
    "qr code",
    "zip code",
    "postal code",
    "country code",
    "source code",
    "discount code",
    "voucher code",
    "code of conduct",
    "area code",
    "bar code",
    "barcode",
    "status code",
    "错误代码",
    "错误码",
    "二维码",
    "邀请码",
    "código de error",
    "el código de error",
    "código promocional",
    "código qr",
    "código postal",
    "código de referido",
    "код* ошибк*",
    "код* транзакци*",
    "промокод*",
    "qr код*",
    "код* страны",
    "исходн* код*",
    "почтов* код*",
    "palabra clave",
    "palabras clave",
    // Denials that are not negations, and conditions that are threats.
    "not a scam",
    "not scam",
    "not a scammer",
    "not scammers",
    "if you do not",
    "if you don't",
    "if you dont",
    "不是诈骗",
    "不是骗子",
    "不是骗局",
    "不是钓鱼",
    "如果您不",
    "如果你不",
    "如果不",
    "不好意思",
    "不错",
    "不客气",
    "不同",
    "不少",
    "不久",
    "不断",
    "不仅",
    "币安",
    "币种",
    "no es una estafa",
    "no es estafa",
    "si no",
    "не мошенни*",
    "это не мошенни*",
    "если вы не",
    "если не",
];

const SAFELOC_WORDS: &[&str] = &[
    "in the app",
    "in your app",
    "in our app",
    "in the official app",
    "in the wallet app",
    "in the mobile app",
    "in the new app",
    "in the extension",
    "in the browser extension",
    "in the wallet",
    "in your wallet",
    "into the app",
    "into the wallet",
    "into your wallet",
    "into the new wallet",
    "into a new wallet",
    "into your new wallet",
    "in settings",
    "in the settings",
    "on paper",
    "on a piece of paper",
    "offline",
    "it down",
    "them down",
    "on your device",
    "on your phone",
    "on the device",
    "on your own device",
    "在app内",
    "在app中",
    "在app里",
    "app内",
    "在应用内",
    "在应用中",
    "在应用里",
    "应用内",
    "在钱包内",
    "在钱包中",
    "在钱包里",
    "在设置中",
    "在设置里",
    "设置中",
    "纸上",
    "离线",
    "本地",
    "在手机上",
    "在您的设备上",
    "在设备上",
    "官方app",
    "官方应用",
    "en la app",
    "en la aplicación",
    "en su aplicación",
    "en tu aplicación",
    "en la aplicación oficial",
    "en ajustes",
    "en configuración",
    "en papel",
    "sin conexión",
    "en su dispositivo",
    "en su billetera",
    "en la billetera",
    "en el monedero",
    "в приложении",
    "в приложение",
    "в самом приложении",
    "в официальном приложении",
    "в настройках",
    "на бумаге",
    "на листе бумаги",
    "офлайн",
    "оффлайн",
    "на устройстве",
    "на своем устройстве",
    "в кошельке",
];

const REQLOC_WORDS: &[&str] = &[
    "here",
    "below",
    "in this chat",
    "in the chat",
    "in chat",
    "to us",
    "to me",
    "with us",
    "with me",
    "in a reply",
    "in your reply",
    "in reply",
    "in the reply",
    "by email",
    "via email",
    "in an email",
    "in the form",
    "in this form",
    "on the form",
    "on this site",
    "on this website",
    "on this page",
    "on the website",
    "this link",
    "the link below",
    "following link",
    "in this ticket",
    "to this ticket",
    "in the ticket",
    "to our team",
    "to support",
    "这里",
    "此处",
    "在这",
    "下方",
    "聊天框",
    "聊天窗口",
    "对话框",
    "这个链接",
    "该链接",
    "以下链接",
    "网站",
    "网页",
    "表单",
    "aquí",
    "en este chat",
    "en el chat",
    "a nosotros",
    "con nosotros",
    "en su respuesta",
    "por correo",
    "en el formulario",
    "en este enlace",
    "en el enlace",
    "en este sitio",
    "сюда",
    "здесь",
    "в чат",
    "в этот чат",
    "в чате",
    "нам",
    "мне",
    "по ссылке",
    "на сайте",
    "в форме",
    "в ответе",
    "в ответном письме",
    "по почте",
];

const TEMPORAL_WORDS: &[&str] = &[
    "when",
    "while",
    "after",
    "before",
    "once",
    "whenever",
    "cuando",
    "al",
    "mientras",
    "después de",
    "antes de",
    "когда",
    "при",
    "после",
    "перед",
];

const BLOCKER_WORDS: &[&str] = &[
    "back up",
    "backed up",
    "backing up",
    "store",
    "stored",
    "storing",
    "keep",
    "kept",
    "keeping",
    "save",
    "saved",
    "saving",
    "write down",
    "written down",
    "wrote down",
    "writing down",
    "lose",
    "lost",
    "losing",
    "forgot",
    "forget",
    "forgotten",
    "remember",
    "memorize",
    "memorise",
    "protect",
    "protecting",
    "secure",
    "securing",
    "safeguard",
    "hide",
    "guard",
    "have",
    "has",
    "had",
    "change",
    "changed",
    "changing",
    "reset",
    "update",
    "updated",
    "create",
    "created",
    "set",
    "generate",
    "generated",
    "备份",
    "保存",
    "保管",
    "妥善保管",
    "抄写",
    "抄下",
    "记下",
    "写下",
    "丢失",
    "丢了",
    "忘记",
    "忘了",
    "记得",
    "保护",
    "存放",
    "存储",
    "修改",
    "重置",
    "设置",
    "创建",
    "生成",
    "更改",
    "更新",
    "guardar",
    "guarde",
    "guarda",
    "guardado",
    "respaldar",
    "respalde",
    "anote",
    "anotar",
    "anotado",
    "perdió",
    "perdido",
    "olvidó",
    "olvidado",
    "proteja",
    "protege",
    "tiene",
    "tenga",
    "tener",
    "cambie",
    "cambiar",
    "restablezca",
    "cree",
    "crear",
    "сохраните",
    "сохранили",
    "сохранить",
    "запишите",
    "записали",
    "записать",
    "храните",
    "хранить",
    "потерял*",
    "забыли",
    "помните",
    "есть",
    "имеется",
    "защитите",
    "смените",
    "измените",
    "сбросьте",
    "создайте",
    "обновите",
];

const BENIGN_WORDS: &[&str] = &[
    "txid",
    "tx id",
    "tx",
    "txn",
    "hash",
    "tx hash",
    "transaction hash",
    "transaction id",
    "screenshot",
    "receipt",
    "details",
    "id",
    "交易哈希",
    "哈希",
    "交易id",
    "凭证",
    "hash de la transacción",
    "captura",
    "хэш",
    "хеш",
    "квитанци*",
];

const PRON_WORDS: &[&str] = &[
    "it", "them", "this", "these", "that", "это", "ее", "его", "их", "lo", "la", "los", "las", "它",
];

const BA_WORDS: &[&str] = &["把", "将"];

const COND_WORDS: &[&str] = &[
    "if",
    "if you",
    "once",
    "should you",
    "in case",
    "一旦",
    "如果",
    "若",
    "万一",
    "假如",
    "要是",
    "si",
    "en caso de",
    "если",
    "в случае",
];

const HARM_WORDS: &[&str] = &[
    "steal",
    "steals",
    "stolen",
    "drain",
    "drained",
    "lose",
    "lost",
    "losing",
    "compromised",
    "at risk",
    "hacked",
    "theft",
    "被盗",
    "盗走",
    "盗取",
    "风险",
    "损失",
    "丢失",
    "被骗",
    "robar",
    "roban",
    "robo",
    "perder",
    "perderá",
    "riesgo",
    "украсть",
    "украдут",
    "потеряете",
    "потерять",
    "риск",
    "взлом*",
];

/// Word counts of BIP-39 phrases: "12 words", "24 слова", "12个单词".
const PHRASE_LENGTHS: &[&str] = &["12", "15", "18", "21", "24"];

const GROUPS: &[(&[&str], u32, Option<Cat>)] = &[
    (SEED_OBJ, OBJ, Some(Cat::Seed)),
    (PRIVATE_KEY_OBJ, OBJ, Some(Cat::PrivateKey)),
    (KEYSTORE_OBJ, OBJ, Some(Cat::Keystore)),
    (PASSWORD_OBJ, OBJ, Some(Cat::Password)),
    (CODE_OBJ, OBJ, Some(Cat::Code)),
    (REMOTE_OBJ, OBJ, Some(Cat::Remote)),
    (REMOTE_REQUEST, OBJ | GIVE, Some(Cat::Remote)),
    (FUNDS_OBJ, OBJ, Some(Cat::Funds)),
    (FUNDS_REQUEST, OBJ | MOVE, Some(Cat::Funds)),
    (
        FUNDS_PURPOSE_REQUEST,
        OBJ | MOVE | PURPOSE,
        Some(Cat::Funds),
    ),
    (PURPOSE_WORDS, PURPOSE, None),
    (GIVE_WORDS, GIVE, None),
    (GIVE_WITH_PRONOUN, GIVE | PRON, None),
    (LOCAL_WORDS, LOCAL, None),
    (ASK_WORDS, ASK, None),
    (QUESTION_WORDS, QUESTION, None),
    (POSTQ_WORDS, POSTQ, None),
    (INSTALL_WORDS, INSTALL, None),
    (MOVE_WORDS, MOVE, None),
    (NEG_WORDS, NEG, None),
    (NOBODY_WORDS, NEG | NOBODY, None),
    (NEGW_WORDS, NEGW, None),
    (THIRD_WORDS, THIRD, None),
    (BETWEEN_WORDS, THIRD | BETWEEN, None),
    (ABSORB_WORDS, ABSORB, None),
    (RESET_WORDS, RESET, None),
    (FILLER_WORDS, FILLER, None),
    (EXCEPT_WORDS, EXCEPT, None),
    (WARN_WORDS, WARN, None),
    (NEUTRAL_WORDS, NEUTRAL, None),
    (SAFELOC_WORDS, SAFELOC, None),
    (REQLOC_WORDS, REQLOC, None),
    (TEMPORAL_WORDS, TEMPORAL, None),
    (BLOCKER_WORDS, BLOCKER, None),
    (BENIGN_WORDS, BENIGN, None),
    (PRON_WORDS, PRON, None),
    (BA_WORDS, BA, None),
    (COND_WORDS, COND, None),
    (HARM_WORDS, HARM, None),
];

/// Traditional characters of the word lists and their simplified forms.
const TRADITIONAL: &str = "詞词記记鑰钥復复複复製制語语碼码驗验證证遠远遙遥錢钱發发給给們们請请訴诉輸输貼贴圖图傳传導导轉转賬账帳账帐账筆笔穀谷簡简訊讯協协絕绝會会從从謹谨詐诈騙骗別别讓让為为這这個个進进認认開开啟启載载裝装時时說说報报鍵键種种數数幣币額额號号資资錯错誤误麼么嗎吗問问須须應应該该檔档錄录綁绑掃扫螢萤單单詢询權权許许連连線线處处裡里裏里將将於于對对話话郵邮護护儲储寫写備备紙纸離离設设戶户頁页網网鏈链結结萬万來来與与煩烦擔担緊紧張张猶犹並并還还現现馬马趕赶盡尽過过幫帮運运讀读唸念費费動动態态雲云體体監监視视觀观屬属釣钓魚鱼嚴严誠诚實实審审餘余總总匯汇買买賣卖價价積积鎖锁凍冻則则測测試试幾几寶宝庫库閱阅陸陆憑凭據据電电腦脑軟软註注檢检銀银顧顾慮虑決决償偿雜杂湊凑";

// ---------------------------------------------------------------------------------------------
// Normalization

static TRAD: LazyLock<Vec<(char, char)>> = LazyLock::new(|| {
    let chars: Vec<char> = TRADITIONAL.chars().collect();
    let mut pairs: Vec<(char, char)> = chars.chunks_exact(2).map(|p| (p[0], p[1])).collect();
    pairs.sort_unstable();
    pairs.dedup();
    pairs
});

/// One bit per unified ideograph: set when [`TRAD`] maps it. Most characters are not
/// traditional forms of the listed words, and a bit test is cheaper than the search.
static TRAD_BITS: LazyLock<Vec<u64>> = LazyLock::new(|| {
    let mut bits = vec![0u64; (0xA000 - 0x4E00) / 64];
    for &(t, _) in TRAD.iter() {
        if let Some(k) = (t as usize)
            .checked_sub(0x4E00)
            .filter(|k| *k < 0xA000 - 0x4E00)
        {
            bits[k / 64] |= 1 << (k % 64);
        }
    }
    bits
});

fn simplified(c: char) -> char {
    let k = (c as usize).wrapping_sub(0x4E00);
    if k < 0xA000 - 0x4E00 && TRAD_BITS[k / 64] & (1 << (k % 64)) == 0 {
        return c;
    }
    match TRAD.binary_search_by_key(&c, |p| p.0) {
        Ok(i) => TRAD[i].1,
        Err(_) => c,
    }
}

fn is_cjk(c: char) -> bool {
    matches!(c,
        '\u{3040}'..='\u{30FF}'   // kana
        // Extension A and the unified ideographs (with the few symbols between them, so that
        // every three-byte sequence led by E4..E9 is one, see `class_at`).
        | '\u{3400}'..='\u{9FFF}'
        | '\u{AC00}'..='\u{D7AF}' // hangul
        | '\u{F900}'..='\u{FAFF}' // compatibility ideographs
    )
}

/// Folds `text` into `out`. Runs of ASCII are copied as they are and the whole result is
/// lowercased in one pass at the end; other characters are folded one by one. Every break the
/// tokenizer knows comes out as ASCII punctuation.
fn normalize(text: &str, out: &mut String) {
    let trad = TRAD_BITS.as_slice();
    let bytes = text.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        let run = plain_run(&bytes[i..], trad);
        out.push_str(&text[i..i + run]);
        i += run;
        if let Some(c) = text[i..].chars().next() {
            i += c.len_utf8();
            fold(c, out);
        }
    }
    out.make_ascii_lowercase();
}

/// Length of the leading run that normalization leaves as it is: ASCII (eight bytes at a time),
/// ideographs that are not traditional forms of a listed word, and lowercase Cyrillic. Most
/// replies are such runs, copied in one piece.
fn plain_run(b: &[u8], trad: &[u64]) -> usize {
    let mut n = 0;
    while n < b.len() {
        let x = b[n];
        let next = b.get(n + 1).copied().unwrap_or(0);
        if x < 0x80 {
            if let Some(w) = b.get(n..n + 8) {
                let mut a = [0u8; 8];
                a.copy_from_slice(w);
                if u64::from_le_bytes(a) & 0x8080_8080_8080_8080 == 0 {
                    n += 8;
                    continue;
                }
            }
            n += 1;
        } else if (0xE4..=0xE9).contains(&x) && n + 2 < b.len() {
            // U+4000..U+9FFF, three bytes.
            let c = u32::from(x & 0x0F) << 12
                | u32::from(next & 0x3F) << 6
                | u32::from(b[n + 2] & 0x3F);
            let k = (c as usize).wrapping_sub(0x4E00);
            if c < 0x4E00 || trad[k / 64] & (1 << (k % 64)) != 0 {
                break;
            }
            n += 3;
        } else if (x == 0xD0 && (0xB0..=0xBF).contains(&next))
            || (x == 0xD1 && (0x80..=0x8F).contains(&next))
        {
            // а..я, two bytes.
            n += 2;
        } else {
            break;
        }
    }
    n
}

fn fold(c: char, out: &mut String) {
    // The common cases first: ideographs and lowercase Cyrillic.
    if ('\u{4E00}'..='\u{9FFF}').contains(&c) {
        out.push(simplified(c));
        return;
    }
    if ('а'..='я').contains(&c) {
        out.push(c);
        return;
    }
    match c {
        // Full-width ASCII (ＡＢＣ, ！, ，) as typed by Chinese input methods.
        '\u{FF01}'..='\u{FF5E}' => out.extend(char::from_u32(c as u32 - 0xFEE0)),
        '\u{3000}' | '\u{00A0}' | '\u{2000}'..='\u{200A}' | '\u{202F}' | '\u{205F}' => {
            out.push(' ')
        }
        // Invisible characters would otherwise split a word and hide it.
        '\u{200B}'..='\u{200D}' | '\u{2060}' | '\u{FEFF}' | '\u{00AD}' => {}
        // Combining accents (a decomposed "é").
        '\u{0300}'..='\u{036F}' => {}
        '\u{2028}' | '\u{2029}' | '\u{0085}' | '•' | '◦' | '▪' => out.push('\n'),
        '’' | '‘' | '‛' | 'ʼ' | '´' | '′' => out.push('\''),
        '‐' | '‑' | '‒' | '−' => out.push('-'),
        '–' | '—' | '―' => out.push(','),
        '…' | '。' | '｡' => out.push('.'),
        // The enumeration comma lists things; it does not end a clause.
        '、' | '､' => out.push(' '),
        '¿' | '¡' => out.push('\n'),
        'ё' | 'Ё' => out.push('е'),
        // Cyrillic without the Unicode case table.
        'А'..='Я' => out.extend(char::from_u32(c as u32 + 0x20)),
        'а'..='я' => out.push(c),
        _ if is_cjk(c) => out.push(simplified(c)),
        _ => {
            for l in c.to_lowercase() {
                out.push(fold_accent(l));
            }
        }
    }
}

fn fold_accent(c: char) -> char {
    match c {
        'à' | 'á' | 'â' | 'ã' | 'ä' | 'å' => 'a',
        'è' | 'é' | 'ê' | 'ë' => 'e',
        'ì' | 'í' | 'î' | 'ï' => 'i',
        'ò' | 'ó' | 'ô' | 'õ' | 'ö' => 'o',
        'ù' | 'ú' | 'û' | 'ü' => 'u',
        'ñ' => 'n',
        'ç' => 'c',
        'ý' | 'ÿ' => 'y',
        _ => c,
    }
}

// ---------------------------------------------------------------------------------------------
// Tokens

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Word,
    Num,
    Cjk,
    Soft,
    Hard,
}

// Character classes of the tokenizer.
const SEP: u8 = 0;
const LETTER: u8 = 1;
const DIGIT: u8 = 2;
const APOS: u8 = 3;
const DOT: u8 = 4;
const COMMA: u8 = 5;
const COLON: u8 = 6;
const END: u8 = 7;
const IDEOGRAPH: u8 = 8;

const ASCII_CLASS: [u8; 128] = {
    let mut t = [SEP; 128];
    let mut b = 0;
    while b < 128 {
        t[b] = match b as u8 {
            b'a'..=b'z' | b'A'..=b'Z' => LETTER,
            b'0'..=b'9' => DIGIT,
            b'\'' => APOS,
            b'.' => DOT,
            b',' => COMMA,
            b':' => COLON,
            b'!' | b'?' | b';' | b'\n' | b'\r' => END,
            _ => SEP,
        };
        b += 1;
    }
    t
};

#[inline]
fn class_at(s: &str, i: usize) -> (u8, usize) {
    let b = s.as_bytes()[i];
    if b < 0x80 {
        return (ASCII_CLASS[b as usize], 1);
    }
    // U+4000..U+9FFF: ideographs, without decoding.
    if (0xE4..=0xE9).contains(&b) {
        return (IDEOGRAPH, 3);
    }
    // U+0400..U+047F: Cyrillic letters.
    if b == 0xD0 || b == 0xD1 {
        return (LETTER, 2);
    }
    let c = s[i..].chars().next().unwrap_or(' ');
    let class = if is_cjk(c) {
        IDEOGRAPH
    } else if matches!(c, '\u{C0}'..='\u{24F}' | '\u{400}'..='\u{481}' | '\u{48A}'..='\u{4FF}') {
        // Latin-1 to Latin Extended-B and Cyrillic, without the Unicode table search.
        LETTER
    } else if c.is_alphabetic() {
        LETTER
    } else {
        SEP
    };
    (class, c.len_utf8())
}

/// Splits normalized text into words (letters, with inner apostrophes), numbers (digits, with
/// inner `.` or `,`), single CJK characters and breaks, and hands each to `emit`. Letters and
/// digits split ("2fa" is "2" "fa"), and so do hyphens ("сид-фраза" is "сид" "фраза"), the same
/// way in patterns and text. Runs of breaks collapse into one (the strongest); breaks at the
/// start and end are dropped.
fn tokenize(s: &str, mut emit: impl FnMut(Kind, usize, usize)) {
    let bytes = s.as_bytes();
    let mut pending: Option<Kind> = None;
    let mut started = false;
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if b == b' ' {
            i += 1;
            continue;
        }
        let (class, len) = if b < 0x80 {
            (ASCII_CLASS[b as usize], 1)
        } else {
            class_at(s, i)
        };
        let start = i;
        let kind = match class {
            LETTER => {
                i += len;
                loop {
                    // Plain ASCII letters first: the common case, in a tight loop.
                    i += bytes[i..]
                        .iter()
                        .position(|b| !b.is_ascii_alphabetic())
                        .unwrap_or(bytes.len() - i);
                    let Some(&b) = bytes.get(i) else { break };
                    if b == b'\'' {
                        // An inner apostrophe: "don't".
                        if i + 1 < bytes.len() && class_at(s, i + 1).0 == LETTER {
                            i += 1;
                            continue;
                        }
                        break;
                    }
                    if b < 0x80 {
                        break;
                    }
                    let (c, l) = class_at(s, i);
                    if c != LETTER {
                        break;
                    }
                    i += l;
                }
                // Keystore files are named "UTC--<date>--<address>".
                if &s[start..i] == "utc" && s[i..].starts_with("--") {
                    i += 2;
                }
                Kind::Word
            }
            DIGIT => {
                i += 1;
                while i < bytes.len() {
                    let b = bytes[i];
                    let decimal = (b == b'.' || b == b',')
                        && bytes.get(i + 1).is_some_and(u8::is_ascii_digit);
                    if b.is_ascii_digit() || decimal {
                        i += 1;
                    } else {
                        break;
                    }
                }
                Kind::Num
            }
            IDEOGRAPH => {
                i += len;
                Kind::Cjk
            }
            DOT => {
                i += 1;
                // "wallet.dat", "example.com": not a sentence end. ASCII only: "。" became
                // "." and must end a sentence between two ideographs.
                let prev = start > 0 && bytes[start - 1].is_ascii_alphanumeric();
                let next = bytes.get(i).is_some_and(u8::is_ascii_alphanumeric);
                if !(prev && next) {
                    pending = Some(Kind::Hard);
                }
                continue;
            }
            COMMA | COLON => {
                i += 1;
                if pending.is_none() {
                    pending = Some(Kind::Soft);
                }
                continue;
            }
            END => {
                i += 1;
                pending = Some(Kind::Hard);
                continue;
            }
            _ => {
                i += len;
                continue;
            }
        };
        if let Some(b) = pending.take()
            && started
        {
            emit(b, start, start);
        }
        started = true;
        emit(kind, start, i);
    }
}

// ---------------------------------------------------------------------------------------------
// Lexicon

/// FxHash: the word lists are fixed and not attacker-chosen keys, and SipHash would dominate a
/// long reply's cost.
#[derive(Default)]
struct Fx(u64);

impl Hasher for Fx {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            let mut w = [0u8; 8];
            w.copy_from_slice(c);
            self.add(u64::from_le_bytes(w));
        }
        for &b in chunks.remainder() {
            self.add(u64::from(b));
        }
    }
}

impl Fx {
    fn add(&mut self, w: u64) {
        self.0 = (self.0.rotate_left(5) ^ w).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }
}

type FxMap<K, V> = HashMap<K, V, BuildHasherDefault<Fx>>;

/// Word and stem ids: the lists have a few thousand words, and a smaller token is cheaper to move.
type Id = u16;
const NONE: Id = Id::MAX;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum PTok {
    Exact(Id),
    Stem(Id),
    Num,
}

struct Pattern {
    toks: Box<[PTok]>,
    flags: u32,
    cat: Option<Cat>,
}

/// A prefix and its id.
type Stem = (Box<str>, Id);

/// A phrase as matched: its tokens are `ptoks[start..start + len]`.
#[derive(Debug, Clone, Copy)]
struct Phrase {
    start: u32,
    len: u32,
    flags: u32,
    cat: Option<Cat>,
    /// The second word, when it is an exact word: most candidates fail on it, and one compare
    /// rules them out.
    second: Id,
}

struct Lexicon {
    /// Word → id while the lists are compiled; looked up through `short` and `long`.
    vocab: FxMap<Box<str>, Id>,
    short: ShortTable,
    long: FxMap<Box<str>, Id>,
    /// Prefixes ("фраз*"), grouped by first character and sorted shortest first.
    stems: Vec<(char, Vec<Stem>)>,
    stem_count: Id,
    stem_min: usize,
    /// ASCII bytes that start a stem.
    stem_ascii: [bool; 128],
    /// The phrases while the lists are compiled.
    patterns: Vec<Pattern>,
    /// The same, compact for matching: every phrase's tokens back to back, and for each word,
    /// stem or number the phrases that start with it (a range of `cands`), longest first so
    /// that the first match is the longest.
    ptoks: Vec<PTok>,
    phrases: Vec<Phrase>,
    cands: Vec<u32>,
    by_exact: Vec<(u32, u32)>,
    by_stem: Vec<(u32, u32)>,
    by_num: (u32, u32),
}

static LEXICON: LazyLock<Lexicon> = LazyLock::new(Lexicon::build);

/// Words of up to 16 bytes (nearly all words, every CJK character) packed into an integer:
/// tokens have no NUL bytes, so zero padding keeps the packing one-to-one.
/// The same for `buf[from..to]`, with two loads where the buffer has room after the word.
#[inline]
fn pack_at(buf: &[u8], from: usize, to: usize) -> Option<u128> {
    let len = to - from;
    if len > 16 {
        return None;
    }
    let Some(w) = buf.get(from..from + 16) else {
        return pack(&buf[from..to]);
    };
    let half = |k: usize| {
        let mut a = [0u8; 8];
        a.copy_from_slice(&w[k..k + 8]);
        u64::from_le_bytes(a)
    };
    // Keep the word's bytes only (`n` of the eight).
    let keep = |v: u64, n: usize| match n {
        0 => 0,
        1..=7 => v & ((1u64 << (8 * n)) - 1),
        _ => v,
    };
    let lo = keep(half(0), len);
    let hi = keep(half(8), len.saturating_sub(8));
    Some(u128::from(hi) << 64 | u128::from(lo))
}

#[inline]
fn pack(b: &[u8]) -> Option<u128> {
    if b.len() > 16 {
        return None;
    }
    let (lo, hi) = b.split_at(b.len().min(8));
    let word = |part: &[u8]| {
        part.iter()
            .enumerate()
            .fold(0u64, |v, (k, &x)| v | u64::from(x) << (8 * k))
    };
    Some(u128::from(word(hi)) << 64 | u128::from(word(lo)))
}

/// Open addressing over packed words, at most half full: a look-up is a multiply and one or
/// two integer compares, with no string compare.
#[derive(Default)]
struct ShortTable {
    keys: Vec<u128>,
    vals: Vec<Id>,
    mask: usize,
}

impl ShortTable {
    fn with_capacity(n: usize) -> Self {
        let size = (2 * n + 2).next_power_of_two();
        ShortTable {
            keys: vec![0; size],
            vals: vec![NONE; size],
            mask: size - 1,
        }
    }

    fn slot(&self, key: u128) -> usize {
        let h = ((key as u64) ^ ((key >> 64) as u64).rotate_left(29))
            .wrapping_mul(0x9E37_79B9_7F4A_7C15);
        (h >> 32) as usize & self.mask
    }

    fn insert(&mut self, key: u128, val: Id) {
        let mut i = self.slot(key);
        while self.keys[i] != 0 && self.keys[i] != key {
            i = (i + 1) & self.mask;
        }
        self.keys[i] = key;
        self.vals[i] = val;
    }

    #[inline]
    fn get(&self, key: u128) -> Id {
        if self.keys.is_empty() {
            return NONE;
        }
        let mut i = self.slot(key);
        loop {
            let k = self.keys[i];
            if k == key {
                return self.vals[i];
            }
            if k == 0 {
                return NONE;
            }
            i = (i + 1) & self.mask;
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct Tok {
    kind: Kind,
    exact: Id,
    stems: [Id; 2],
}

impl Lexicon {
    fn build() -> Lexicon {
        let mut lex = Lexicon {
            vocab: FxMap::default(),
            short: ShortTable::default(),
            long: FxMap::default(),
            stems: Vec::new(),
            stem_count: 0,
            stem_min: usize::MAX,
            stem_ascii: [false; 128],
            patterns: Vec::new(),
            ptoks: Vec::new(),
            phrases: Vec::new(),
            cands: Vec::new(),
            by_exact: Vec::new(),
            by_stem: Vec::new(),
            by_num: (0, 0),
        };
        let mut index: FxMap<Box<[PTok]>, usize> = FxMap::default();
        for &(words, flags, cat) in GROUPS {
            for w in words {
                lex.add(&mut index, w, flags, cat);
            }
        }
        for n in PHRASE_LENGTHS {
            for form in [
                "words",
                "word",
                "palabras",
                "слов*",
                "个单词",
                "个词",
                "个助记词",
                "位助记词",
            ] {
                lex.add(&mut index, &format!("{n} {form}"), OBJ, Some(Cat::Seed));
            }
        }
        lex.short = ShortTable::with_capacity(lex.vocab.len());
        for (word, &id) in &lex.vocab {
            match pack(word.as_bytes()) {
                Some(key) => lex.short.insert(key, id),
                None => {
                    lex.long.insert(word.clone(), id);
                }
            }
        }
        let mut by_exact = vec![Vec::new(); lex.vocab.len()];
        let mut by_stem = vec![Vec::new(); lex.stem_count as usize];
        let mut by_num = Vec::new();
        for (p, pat) in lex.patterns.iter().enumerate() {
            let p = p as u32;
            match pat.toks[0] {
                PTok::Exact(id) => by_exact[id as usize].push(p),
                PTok::Stem(id) => by_stem[id as usize].push(p),
                PTok::Num => by_num.push(p),
            }
            lex.phrases.push(Phrase {
                start: lex.ptoks.len() as u32,
                len: pat.toks.len() as u32,
                flags: pat.flags,
                cat: pat.cat,
                second: match pat.toks.get(1) {
                    Some(PTok::Exact(id)) => *id,
                    _ => NONE,
                },
            });
            lex.ptoks.extend_from_slice(&pat.toks);
        }
        let mut flatten = |mut list: Vec<u32>| {
            list.sort_by_key(|&p| std::cmp::Reverse(lex.phrases[p as usize].len));
            let range = (lex.cands.len() as u32, list.len() as u32);
            lex.cands.extend(list);
            range
        };
        lex.by_exact = by_exact.into_iter().map(&mut flatten).collect();
        lex.by_stem = by_stem.into_iter().map(&mut flatten).collect();
        lex.by_num = flatten(by_num);
        // Only the compact copies are used from here on.
        lex.patterns = Vec::new();
        lex.stems.sort_by_key(|g| g.0);
        for (_, group) in &mut lex.stems {
            group.sort_by_key(|(stem, _)| stem.len());
        }
        lex
    }

    /// Adds one phrase; a phrase listed twice gets both roles. Two categories for one phrase
    /// would make the refusal depend on list order, so that is a bug in the lists.
    fn add(
        &mut self,
        index: &mut FxMap<Box<[PTok]>, usize>,
        phrase: &str,
        flags: u32,
        cat: Option<Cat>,
    ) {
        let toks = self.compile(phrase);
        assert!(!toks.is_empty(), "empty pattern {phrase:?}");
        if let Some(&i) = index.get(&toks[..]) {
            let pat = &mut self.patterns[i];
            pat.flags |= flags;
            if let Some(c) = cat {
                assert!(
                    pat.cat.is_none_or(|old| old == c),
                    "pattern {phrase:?} is in two categories"
                );
                pat.cat = Some(c);
            }
            return;
        }
        index.insert(toks.clone(), self.patterns.len());
        self.patterns.push(Pattern { toks, flags, cat });
    }

    fn compile(&mut self, phrase: &str) -> Box<[PTok]> {
        let mut out = Vec::new();
        for chunk in phrase.split(' ').filter(|c| !c.is_empty()) {
            if chunk == "#" {
                out.push(PTok::Num);
                continue;
            }
            let (text, prefix) = match chunk.strip_suffix('*') {
                Some(t) => (t, true),
                None => (chunk, false),
            };
            let mut norm = String::new();
            normalize(text, &mut norm);
            let mut words: Vec<String> = Vec::new();
            tokenize(&norm, |kind, from, to| {
                let t = &norm[from..to];
                assert!(
                    !matches!(kind, Kind::Soft | Kind::Hard),
                    "pattern {phrase:?} has punctuation"
                );
                words.push(t.to_string());
            });
            let n = words.len();
            for (k, w) in words.into_iter().enumerate() {
                if prefix && k + 1 == n {
                    out.push(PTok::Stem(self.stem_id(w)));
                } else {
                    let next = Id::try_from(self.vocab.len()).expect("vocabulary fits an Id");
                    assert!(next != NONE, "vocabulary fits an Id");
                    out.push(PTok::Exact(*self.vocab.entry(w.into()).or_insert(next)));
                }
            }
        }
        out.into_boxed_slice()
    }

    fn stem_id(&mut self, stem: String) -> Id {
        let first = stem.chars().next().unwrap_or(' ');
        let group = match self.stems.iter().position(|g| g.0 == first) {
            Some(g) => g,
            None => {
                self.stems.push((first, Vec::new()));
                self.stems.len() - 1
            }
        };
        if let Some((_, id)) = self.stems[group].1.iter().find(|(s, _)| **s == *stem) {
            return *id;
        }
        let id = self.stem_count;
        assert!(id != NONE, "stems fit an Id");
        self.stem_count += 1;
        self.stem_min = self.stem_min.min(stem.len());
        if first.is_ascii() {
            self.stem_ascii[first as usize] = true;
        }
        self.stems[group].1.push((stem.into(), id));
        id
    }

    #[inline(always)]
    fn lookup(&self, kind: Kind, norm: &str, from: usize, to: usize) -> Tok {
        let mut tok = Tok {
            kind,
            exact: NONE,
            stems: [NONE; 2],
        };
        if matches!(kind, Kind::Soft | Kind::Hard) {
            return tok;
        }
        let bytes = norm.as_bytes();
        tok.exact = match pack_at(bytes, from, to) {
            Some(key) => self.short.get(key),
            None => self.long.get(&norm[from..to]).copied().unwrap_or(NONE),
        };
        let b0 = bytes[from];
        let may_stem = if b0 < 0x80 {
            self.stem_ascii[usize::from(b0)]
        } else {
            true
        };
        if kind == Kind::Word && may_stem && to - from >= self.stem_min {
            let text = &norm[from..to];
            let first = text.chars().next().unwrap_or(' ');
            if let Ok(g) = self.stems.binary_search_by_key(&first, |g| g.0) {
                // Keep the two longest: a longer stem is the more specific one.
                for (stem, id) in &self.stems[g].1 {
                    if text.starts_with(&**stem) {
                        tok.stems = [tok.stems[1], *id];
                    }
                }
            }
        }
        tok
    }

    /// Whether the rest of the phrase follows (its first token is how it was found).
    fn matches(&self, ph: &Phrase, toks: &[Tok]) -> bool {
        let len = ph.len as usize;
        let start = ph.start as usize;
        toks.len() >= len
            && self.ptoks[start + 1..start + len]
                .iter()
                .zip(&toks[1..len])
                .all(|(p, t)| match *p {
                    PTok::Exact(id) => t.exact == id,
                    PTok::Stem(id) => t.stems.contains(&id),
                    PTok::Num => t.kind == Kind::Num,
                })
    }

    /// The longest phrase starting at `toks[0]`.
    fn longest(&self, toks: &[Tok]) -> Option<Phrase> {
        let t = toks[0];
        let next = toks.get(1).map_or(NONE, |t| t.exact);
        let mut best: Option<Phrase> = None;
        let mut consider = |(from, n): (u32, u32)| {
            for &p in &self.cands[from as usize..(from + n) as usize] {
                let ph = &self.phrases[p as usize];
                if best.is_some_and(|b| ph.len <= b.len) {
                    return;
                }
                if ph.second != NONE && ph.second != next {
                    continue;
                }
                if self.matches(ph, toks) {
                    best = Some(*ph);
                    return;
                }
            }
        };
        if t.exact != NONE {
            consider(self.by_exact[t.exact as usize]);
        }
        for s in t.stems {
            if s != NONE {
                consider(self.by_stem[s as usize]);
            }
        }
        if t.kind == Kind::Num {
            consider(self.by_num);
        }
        best
    }

    /// The text as a sequence of matched phrases, plain tokens and breaks, in `items`.
    fn items(&self, norm: &str, toks: &mut Vec<Tok>, items: &mut Vec<Item>) {
        toks.clear();
        items.clear();
        tokenize(norm, |kind, from, to| {
            toks.push(self.lookup(kind, norm, from, to))
        });
        let mut i = 0;
        while i < toks.len() {
            let t = toks[i];
            let brk = match t.kind {
                Kind::Soft => Brk::Soft,
                Kind::Hard => Brk::Hard,
                _ => Brk::No,
            };
            let mut item = Item {
                flags: 0,
                cat: None,
                brk,
                weight: weight(t.kind) as u8,
                cjk: t.kind == Kind::Cjk,
            };
            let mut len = 1;
            let listed = t.exact != NONE || t.stems[1] != NONE || t.kind == Kind::Num;
            if brk == Brk::No
                && listed
                && let Some(ph) = self.longest(&toks[i..])
            {
                len = ph.len as usize;
                item.flags = ph.flags;
                item.cat = ph.cat;
                let w: u32 = toks[i..i + len].iter().map(|t| weight(t.kind)).sum();
                item.weight = w.min(u32::from(u8::MAX)) as u8;
            }
            items.push(item);
            i += len;
        }
    }
}

/// Distances are counted in half-words: a CJK character carries about half a word.
fn weight(kind: Kind) -> u32 {
    match kind {
        Kind::Word | Kind::Num => 2,
        Kind::Cjk => 1,
        Kind::Soft | Kind::Hard => 0,
    }
}

// ---------------------------------------------------------------------------------------------
// Analysis

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Brk {
    No,
    Soft,
    Hard,
}

#[derive(Debug, Clone, Copy)]
struct Item {
    flags: u32,
    cat: Option<Cat>,
    brk: Brk,
    weight: u8,
    cjk: bool,
}

impl Item {
    fn has(&self, f: u32) -> bool {
        self.flags & f != 0
    }
}

/// Windows, in half-words (see [`weight`]) and in items (so that a run of commas stays bounded).
/// A request verb up to 8 words before its object.
const PRE_WINDOW: u32 = 16;
/// "what is your" right before its object (a longer gap is a different question).
const QUESTION_WINDOW: u32 = 6;
/// A verb after its object: a few CJK characters (把-construction), or two words elsewhere.
const POST_WINDOW_CJK: u32 = 12;
const POST_WINDOW: u32 = 4;
/// A negation up to 12 words before the verb it governs; a third party up to 8.
const NEG_WINDOW: u32 = 24;
const THIRD_WINDOW: u32 = 16;
const MAX_ITEMS: usize = 30;

/// The first request in the text, by position.
fn analyze(items: &[Item]) -> Option<Cat> {
    let purpose = items.iter().any(|it| it.has(PURPOSE));
    let mut s = 0;
    while s < items.len() {
        let mut e = s;
        let mut all = 0;
        while e < items.len() && items[e].brk != Brk::Hard {
            all |= items[e].flags;
            e += 1;
        }
        // Most sentences name no sensitive object: nothing more to do.
        if all & OBJ != 0 {
            let sentence = Sentence::new(&items[s..e], all);
            if let Some(cat) = sentence.first_request(purpose) {
                return Some(cat);
            }
        }
        s = e + 1;
    }
    None
}

struct Sentence<'a> {
    it: &'a [Item],
    harm: bool,
    except: bool,
    warn: bool,
    safeloc: bool,
    reqloc: bool,
}

enum Pre {
    Found(usize),
    Blocked,
    Nothing,
}

enum Scope {
    Ok,
    /// Fails, and so would any negation further back.
    Stop,
    /// Fails for this negation only.
    Skip,
}

impl<'a> Sentence<'a> {
    fn new(it: &'a [Item], all: u32) -> Self {
        // "never here": a place on our side, denied.
        let reqloc = it
            .iter()
            .enumerate()
            .any(|(j, x)| x.has(REQLOC) && !(j > 0 && it[j - 1].has(NEG | NEGW)));
        Sentence {
            it,
            harm: all & HARM != 0,
            except: all & EXCEPT != 0,
            warn: all & WARN != 0,
            safeloc: all & SAFELOC != 0,
            reqloc,
        }
    }

    fn first_request(&self, purpose: bool) -> Option<Cat> {
        // "If someone asks for your 12 words, it is a scam."
        if self.warn {
            return None;
        }
        for (o, item) in self.it.iter().enumerate() {
            let Some(cat) = item.cat else { continue };
            if item.flags & OBJ == 0 || (cat == Cat::Funds && !purpose) {
                continue;
            }
            let cues = cat.cues();
            // A phrase that is verb and object at once ("share your screen", "转账验证").
            if item.has(cues) && self.is_request(o, o) {
                return Some(cat);
            }
            let pre = self.find_pre(o, cat, cues);
            if let Pre::Found(v) = pre
                && self.is_request(v, o)
            {
                return Some(cat);
            }
            if let Some((v, pron)) = self.find_post(o, cues) {
                // A verb after the object counts when nothing before claims the object, in a
                // 把-construction, or when a pronoun points back ("keep it safe and send it").
                let ba = self.it[o.saturating_sub(3)..o].iter().any(|x| x.has(BA));
                let eligible = pron || ba || matches!(pre, Pre::Nothing);
                if eligible && self.is_request(v, o) {
                    return Some(cat);
                }
            }
        }
        None
    }

    /// The nearest request verb before the object.
    fn find_pre(&self, o: usize, cat: Cat, cues: u32) -> Pre {
        let mut dist = 0;
        for (n, j) in (0..o).rev().enumerate() {
            if n >= MAX_ITEMS {
                break;
            }
            let x = &self.it[j];
            if x.has(BLOCKER) || (cat == Cat::Funds && x.has(BENIGN)) {
                return Pre::Blocked;
            }
            let m = x.flags & cues & !POSTQ;
            if m != 0 && !(m == QUESTION && dist > QUESTION_WINDOW) {
                return Pre::Found(j);
            }
            dist += u32::from(x.weight);
            if dist > PRE_WINDOW {
                break;
            }
        }
        Pre::Nothing
    }

    /// The nearest request verb after the object, and whether a pronoun follows it.
    fn find_post(&self, o: usize, cues: u32) -> Option<(usize, bool)> {
        let cjk = self.it[o].cjk;
        let mut dist = 0;
        let mut soft = false;
        for (n, j) in (o + 1..self.it.len()).enumerate() {
            if n >= MAX_ITEMS {
                break;
            }
            let x = &self.it[j];
            if x.brk == Brk::Soft {
                soft = true;
                continue;
            }
            if x.has(BLOCKER) {
                return None;
            }
            let m = x.flags & cues & !QUESTION;
            if m != 0 {
                // "send it", "tell me what it is".
                let pron = x.has(PRON)
                    || self.it[j + 1..]
                        .iter()
                        .take(3)
                        .take_while(|y| y.brk == Brk::No)
                        .any(|y| y.has(PRON));
                let near = !soft
                    && if cjk {
                        dist <= POST_WINDOW_CJK
                    } else {
                        m & !POSTQ != 0 && dist <= POST_WINDOW
                    };
                return (near || pron).then_some((j, pron));
            }
            dist += u32::from(x.weight);
            if dist > PRE_WINDOW {
                break;
            }
        }
        None
    }

    fn is_request(&self, v: usize, o: usize) -> bool {
        if self.negated(v, o) {
            return false;
        }
        let vf = self.it[v].flags;
        let local_only =
            vf & LOCAL != 0 && vf & (GIVE | ASK | QUESTION | POSTQ | INSTALL | MOVE) == 0;
        if local_only {
            // "Enter your new password in the app", "write your recovery phrase on paper".
            if self.safeloc && !self.reqloc {
                return false;
            }
            // "when entering your seed phrase": a description.
            if self.it[v.saturating_sub(2)..v]
                .iter()
                .any(|x| x.has(TEMPORAL))
            {
                return false;
            }
        }
        true
    }

    fn absorbed(&self, j: usize) -> bool {
        self.it.get(j + 1).is_some_and(|x| x.has(ABSORB))
    }

    fn negated(&self, v: usize, o: usize) -> bool {
        // "Never share your seed phrase with anyone except us."
        if self.except {
            return false;
        }
        // Between the verb and the object: "confirm whether you shared your seed phrase".
        if v < o && (v + 1..o).any(|j| self.it[j].has(NEG | NEGW | BETWEEN) && !self.absorbed(j)) {
            return true;
        }
        // "Send your seed phrase to no one", "show it to nobody".
        let after = v.max(o) + 1;
        if self.it[after.min(self.it.len())..]
            .iter()
            .take(4)
            .take_while(|x| x.brk == Brk::No)
            .any(|x| x.has(NOBODY))
        {
            return true;
        }
        // A negation or third party that governs the verb.
        let negators = if self.harm {
            NEG | NEGW | THIRD | BETWEEN | COND
        } else {
            NEG | NEGW | THIRD | BETWEEN
        };
        let mut dist = 0;
        for (n, j) in (0..v).rev().enumerate() {
            if n >= MAX_ITEMS || dist > NEG_WINDOW {
                break;
            }
            if self.it[j].has(negators) {
                match self.scope(j, v) {
                    Scope::Ok => return true,
                    Scope::Stop => return false,
                    Scope::Skip => {}
                }
            }
            dist += u32::from(self.it[j].weight);
        }
        false
    }

    /// Whether the negation at `n` still governs the verb at `v`.
    fn scope(&self, n: usize, v: usize) -> Scope {
        let nf = self.it[n].flags;
        // "no"/"not" end at the next comma; "never" may span a parenthetical.
        let strong = nf & (NEG | THIRD | BETWEEN) != 0;
        let limit = if nf & (NEG | NEGW) != 0 {
            NEG_WINDOW
        } else {
            THIRD_WINDOW
        };
        let mut dist = 0;
        // Whether the current comma-separated segment has words, an object, and whether the
        // negation governs an "ask" verb, whose complement may follow a comma ("we will never
        // ask you, or anyone else, to send ...").
        let mut content = false;
        let mut object = false;
        let mut governs_ask = false;
        for x in &self.it[n + 1..v] {
            if x.brk == Brk::Soft {
                if !strong || (content && !governs_ask) || (governs_ask && object) {
                    return Scope::Skip;
                }
                content = false;
                object = false;
                continue;
            }
            // "Don't worry, just send", "we cannot help unless you send".
            if x.has(RESET | ABSORB) {
                return Scope::Stop;
            }
            dist += u32::from(x.weight);
            if dist > limit {
                return Scope::Skip;
            }
            if x.has(FILLER) {
                continue;
            }
            governs_ask |= x.has(ASK);
            object |= x.has(OBJ);
            content = true;
        }
        Scope::Ok
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, Instant};

    /// Replies that must be refused, with the expected category.
    const REFUSE: &[(&str, &str)] = &[
        // English: seed phrase
        (
            "Please send us your seed phrase so we can restore your wallet.",
            "seed_phrase",
        ),
        ("What is your seed phrase?", "seed_phrase"),
        ("can you paste the 12 words here", "seed_phrase"),
        ("Don't worry, just send us your seed phrase.", "seed_phrase"),
        (
            "We never share data, please send your seed phrase",
            "seed_phrase",
        ),
        (
            "To verify ownership, reply with your 24-word recovery phrase.",
            "seed_phrase",
        ),
        (
            "We need your secret recovery phrase to sync the wallet.",
            "seed_phrase",
        ),
        ("Kindly type your mnemonic in this chat.", "seed_phrase"),
        (
            "Take a screenshot of your backup phrase and upload it here.",
            "seed_phrase",
        ),
        (
            "Never share your seed phrase with anyone except us, send it here.",
            "seed_phrase",
        ),
        (
            "If you do not send your seed phrase, your wallet will be locked.",
            "seed_phrase",
        ),
        (
            "We cannot restore the wallet unless you send us your recovery phrase.",
            "seed_phrase",
        ),
        (
            "Don't forget to include your twelve words in the reply.",
            "seed_phrase",
        ),
        (
            "Keep your seed phrase safe and send it to us for verification.",
            "seed_phrase",
        ),
        ("Y o u r  seed\u{200B} phrase: SEND IT TO US", "seed_phrase"),
        // English: keys and files
        (
            "Please provide your private key for verification.",
            "private_key",
        ),
        (
            "Export your private key and send it to our security team.",
            "private_key",
        ),
        ("Don't hesitate to send us your private key.", "private_key"),
        ("Upload your keystore file here.", "keystore"),
        (
            "Please send us the JSON file from your wallet folder.",
            "keystore",
        ),
        (
            "Attach your MetaMask vault data to this ticket.",
            "keystore",
        ),
        (
            "Send the UTC--2023-01-01 file from your keystore folder.",
            "keystore",
        ),
        // English: passwords and codes
        ("What's your wallet password?", "wallet_password"),
        (
            "Tell me your PIN so I can unlock the account.",
            "wallet_password",
        ),
        (
            "Please confirm your login password in your reply.",
            "wallet_password",
        ),
        ("Send me the code.", "one_time_code"),
        (
            "Please give us your Google Authenticator code.",
            "one_time_code",
        ),
        // The daemon's own verification mail does not pass this guard; an agent asking for the
        // code is the account-takeover script.
        (
            "Please reply with the 6-digit code we emailed you",
            "one_time_code",
        ),
        ("What is the SMS code you just received?", "one_time_code"),
        ("Could you tell me the 2FA code?", "one_time_code"),
        // English: remote access
        (
            "Install AnyDesk and give me the 9-digit ID",
            "remote_access",
        ),
        (
            "Please download TeamViewer QuickSupport so I can check your wallet.",
            "remote_access",
        ),
        (
            "Open Chrome Remote Desktop and share the access code with me.",
            "remote_access",
        ),
        (
            "Can you share your screen so I can see the wallet?",
            "remote_access",
        ),
        // English: payments
        (
            "Send 0.1 ETH to this address to verify your wallet.",
            "send_funds",
        ),
        (
            "To unlock your account, please transfer a small amount of USDT to the address below.",
            "send_funds",
        ),
        (
            "Make a test transaction of $20 to our wallet for verification.",
            "send_funds",
        ),
        // Chinese
        ("请把助记词发给我们核实", "seed_phrase"),
        ("麻烦提供一下您的私钥", "private_key"),
        ("请下载向日葵远程协助", "remote_access"),
        ("请先转0.1 ETH到这个地址进行验证", "send_funds"),
        ("您的助记词是什么？", "seed_phrase"),
        ("請提供您的助記詞以便我們核實", "seed_phrase"),
        ("请把谷歌验证码告诉我", "one_time_code"),
        ("请输入您的钱包密码发送给我们", "wallet_password"),
        ("请把短信验证码发给客服", "one_time_code"),
        ("不用担心，直接把助记词截图发给我们", "seed_phrase"),
        ("请安装AnyDesk，然后把连接码告诉我们", "remote_access"),
        ("转账验证后即可解冻您的账户", "send_funds"),
        ("請把私鑰發給我們", "private_key"),
        ("请导出keystore文件并上传", "keystore"),
        ("请告诉我们您收到的驗證碼", "one_time_code"),
        ("如果您不提供助记词，我们无法帮您找回资产", "seed_phrase"),
        ("请充值100 USDT激活钱包", "send_funds"),
        // Spanish
        ("Por favor envíenos su frase semilla", "seed_phrase"),
        ("¿Cuál es su frase de recuperación?", "seed_phrase"),
        (
            "Proporcione su clave privada para verificar la cuenta.",
            "private_key",
        ),
        (
            "Díganos el código de verificación que recibió por SMS.",
            "one_time_code",
        ),
        (
            "Instale AnyDesk para que podamos ayudarle.",
            "remote_access",
        ),
        (
            "Envíe 50 USDT a esta dirección para verificar su billetera.",
            "send_funds",
        ),
        (
            "No se preocupe, comparta su frase semilla con nosotros.",
            "seed_phrase",
        ),
        (
            "Escriba aquí su contraseña del monedero.",
            "wallet_password",
        ),
        (
            "Si no proporciona su frase semilla, no podremos ayudarle.",
            "seed_phrase",
        ),
        ("Envíenos una foto de su frase semilla.", "seed_phrase"),
        (
            "Necesitamos su clave privada para restaurar la billetera.",
            "private_key",
        ),
        // Russian
        (
            "Пришлите, пожалуйста, сид-фразу для проверки",
            "seed_phrase",
        ),
        ("Сообщите нам код из СМС.", "one_time_code"),
        ("Укажите ваш приватный ключ в ответе.", "private_key"),
        ("Назовите пароль от кошелька.", "wallet_password"),
        (
            "Установите AnyDesk и продиктуйте код подключения.",
            "remote_access",
        ),
        (
            "Отправьте 0,01 BTC на этот адрес для верификации кошелька.",
            "send_funds",
        ),
        (
            "Не волнуйтесь, просто пришлите мнемоническую фразу.",
            "seed_phrase",
        ),
        ("Какая у вас секретная фраза?", "seed_phrase"),
        ("Введите код подтверждения сюда.", "one_time_code"),
        ("Сид-фразу отправьте нам в чат.", "seed_phrase"),
        ("Отправьте нам фото сид-фразы.", "seed_phrase"),
        (
            "Нам нужна ваша сид-фраза для восстановления.",
            "seed_phrase",
        ),
        ("Скиньте код из смс, пожалуйста.", "one_time_code"),
        (
            "Переведите 10 USDT на этот адрес для активации кошелька.",
            "send_funds",
        ),
        // More English and Chinese
        (
            "Hi! To restore access, please type your 12-word phrase below.",
            "seed_phrase",
        ),
        (
            "Could you send a photo of your recovery sheet with the 12 words?",
            "seed_phrase",
        ),
        (
            "If you send us your seed phrase, we can restore your wallet.",
            "seed_phrase",
        ),
        (
            "I have sent you a code by SMS, please tell me what it is.",
            "one_time_code",
        ),
        (
            "Your account is frozen. Pay the 50 USDT activation fee to unlock it.",
            "send_funds",
        ),
        (
            "You need to install TeamViewer so our engineer can fix it.",
            "remote_access",
        ),
        ("We need the keystore JSON and its password.", "keystore"),
        ("请截图助记词发给我们", "seed_phrase"),
        ("为了验证身份，请转0.01 BTC到以下地址", "send_funds"),
        (
            "Dígame el código de 6 dígitos que le llegó por SMS.",
            "one_time_code",
        ),
    ];

    /// Replies that must pass: warnings, safe instructions, innocent requests.
    const PASS: &[&str] = &[
        "",
        // English warnings
        "We will never ask for your seed phrase",
        "Never share your private key with anyone, including us",
        "Do not send your recovery phrase to anyone who messages you",
        "If someone asks for your 12 words, it is a scam",
        "Support will never ask you to install AnyDesk or TeamViewer.",
        "Did you share your seed phrase with anyone?",
        "Never, under any circumstances, type your seed phrase into a website.",
        "Scammers often pretend to be support and ask for your private key.",
        "No one from our team will ever ask for your 2FA code.",
        "Do not send crypto to anyone who promises to verify your wallet.",
        "We will never ask you, or anyone else, to send your seed phrase.",
        "Never send funds to an address for 'verification'.",
        "We will never ask you to send a small amount to verify your wallet.",
        "Share your recovery phrase with no one.",
        // English safe instructions and innocent requests
        "Your seed phrase is compromised: move your funds to a new wallet",
        "Please write your recovery phrase down on paper and keep it offline",
        "Please send us a screenshot of the error message",
        "Please send the transaction hash (txid)",
        "What is your wallet address?",
        "Please tell us the amount and time of the transfer",
        "Did you install the latest version of the app?",
        "Please update your password in Settings",
        "reset your password using the link in the app",
        "Enter your new password in the app, never here",
        "Please send us the error code shown on the screen.",
        "Enter the verification code in the app to finish signing in.",
        "Please keep your seed phrase safe and never send it to anyone.",
        "You will need your recovery phrase to restore the wallet on your new phone.",
        "Please confirm you have backed up your seed phrase.",
        "Please reply with the transaction ID and the time you sent the funds.",
        "Reveal your secret recovery phrase in Settings and write it down on paper.",
        "Thanks for the details; we are checking the transaction now.",
        // Chinese
        "请勿向任何人透露您的助记词",
        "我们绝不会索要您的私钥",
        "客服永远不会要求您提供验证码",
        "如果有人向您索要助记词，那一定是诈骗。",
        "请提供您的钱包地址和交易哈希",
        "请发送错误信息的截图给我们",
        "請勿將私鑰告訴任何人",
        "请在App内输入新密码",
        "千万不要把助记词截图发给别人",
        "请不要安装任何远程控制软件",
        "您是否曾向他人提供过助记词？",
        // Spanish
        "No comparta nunca su frase semilla",
        "Nunca le pediremos su clave privada.",
        "Envíenos una captura de pantalla del error, por favor.",
        "Si alguien le pide su frase de recuperación, es una estafa.",
        "Nunca instale AnyDesk a petición de un desconocido.",
        "Nunca compartiremos ni pediremos su frase semilla.",
        "Envíenos el hash de la transacción, por favor.",
        "Si comparte su frase semilla, pueden robar sus fondos.",
        // Russian
        "Мы никогда не просим сид-фразу",
        "Никогда не сообщайте никому код из СМС.",
        "Пришлите, пожалуйста, хэш транзакции.",
        "Не устанавливайте AnyDesk по просьбе незнакомцев.",
        "Мошенники часто просят прислать фразу восстановления.",
        "Никому не сообщайте сид-фразу, даже сотрудникам поддержки.",
        "Пришлите, пожалуйста, скриншот ошибки.",
        "Если вы сообщите кому-то сид-фразу, мошенники украдут средства.",
        // Conditions that warn, and more innocent requests
        "If you share your seed phrase, anyone can steal your funds.",
        "如果您泄露助记词，资产会被盗。",
        "助记词一旦泄露，资产将面临风险。",
        "请确认您已备份助记词",
        "请不要把验证码告诉任何人，包括客服。",
        "Could you send us the error code and app version?",
        "Open the app, go to Settings > Security and enable 2FA.",
        "Please enter your PIN in the app to unlock it.",
        "To recover the funds, please send us the txid.",
        "Send us the transaction hash so we can verify the deposit.",
        "Your transaction is pending; please wait for 12 confirmations.",
    ];

    #[test]
    fn refuses_requests_for_secrets() {
        let mut wrong = Vec::new();
        for &(text, want) in REFUSE {
            match check_request(text) {
                Err(r) if r.category == want => {}
                other => wrong.push(format!("{text:?}: want {want}, got {other:?}")),
            }
        }
        assert!(
            wrong.is_empty(),
            "{} wrong:\n{}",
            wrong.len(),
            wrong.join("\n")
        );
    }

    #[test]
    fn passes_warnings_and_safe_instructions() {
        let wrong: Vec<String> = PASS
            .iter()
            .filter_map(|text| {
                check_request(text)
                    .err()
                    .map(|r| format!("{text:?}: {}", r.category))
            })
            .collect();
        assert!(
            wrong.is_empty(),
            "{} wrong:\n{}",
            wrong.len(),
            wrong.join("\n")
        );
    }

    #[test]
    fn tables_cover_every_category_and_language() {
        assert!(REFUSE.len() >= 40 && PASS.len() >= 40);
        for cat in [
            Cat::Seed,
            Cat::PrivateKey,
            Cat::Keystore,
            Cat::Password,
            Cat::Code,
            Cat::Remote,
            Cat::Funds,
        ] {
            assert!(REFUSE.iter().any(|&(_, c)| c == cat.category()), "{cat:?}");
        }
        let cjk = |t: &str| t.chars().any(is_cjk);
        let cyr = |t: &str| {
            t.chars()
                .any(|c| ('а'..='я').contains(&c.to_lowercase().next().unwrap_or(c)))
        };
        let es = |t: &str| t.chars().any(|c| "áéíóúñ¿¡".contains(c));
        for table in [
            REFUSE.iter().map(|r| r.0).collect::<Vec<_>>(),
            PASS.to_vec(),
        ] {
            assert!(table.iter().any(|t| cjk(t)));
            assert!(table.iter().any(|t| cyr(t)));
            assert!(table.iter().any(|t| es(t)));
        }
    }

    #[test]
    fn refusal_carries_category_and_reason() {
        let r = check_request("What is your seed phrase?").unwrap_err();
        assert_eq!(r.category, "seed_phrase");
        assert_eq!(
            r.to_string(),
            "This reply asks the customer for their seed phrase (recovery phrase). Support never asks for it."
        );
        let found = Scrubbed {
            text: String::new(),
            found: vec![
                SecretKind::SeedPhrase,
                SecretKind::PrivateKey,
                SecretKind::SeedPhrase,
            ],
        };
        let r = Refusal::contains_secret(&found);
        assert_eq!(r.category, "contains_secret");
        assert!(
            r.reason
                .starts_with("This reply contains a seed phrase and a private key."),
            "{}",
            r.reason
        );
        let none = Scrubbed {
            text: String::new(),
            found: Vec::new(),
        };
        assert!(
            Refusal::contains_secret(&none)
                .reason
                .contains("a wallet secret")
        );
    }

    #[test]
    fn the_first_request_decides_the_category() {
        let r = check_request("Thanks! Please install AnyDesk. Then tell me your seed phrase.")
            .unwrap_err();
        assert_eq!(r.category, "remote_access");
    }

    #[test]
    fn a_chinese_full_stop_ends_the_sentence() {
        // The negation of the first sentence does not reach into the second.
        let r = check_request("我们绝不会索要您的私钥。把助记词发给我们");
        assert_eq!(r.unwrap_err().category, "seed_phrase");
        assert!(check_request("Open wallet.dat? Never send wallet.dat to anyone.").is_ok());
    }

    #[test]
    fn a_payment_needs_a_purpose() {
        assert!(check_request("Send 0.1 ETH to your new wallet.").is_ok());
        // The purpose may be in another sentence of the same reply.
        let r =
            check_request("Send 0.1 ETH to this address. This is needed to verify your wallet.");
        assert_eq!(r.unwrap_err().category, "send_funds");
    }

    #[test]
    fn normalization_folds_width_case_and_script() {
        let mut s = String::new();
        normalize(
            "ＳＥＥＤ　Phrase，請發給我們。Frase de RECUPERACIÓN ё",
            &mut s,
        );
        assert_eq!(s, "seed phrase,请发给我们.frase de recuperacion е");
    }

    #[test]
    fn traditional_table_is_consistent() {
        let chars: Vec<char> = TRADITIONAL.chars().collect();
        assert_eq!(chars.len() % 2, 0);
        for w in TRAD.windows(2) {
            assert_ne!(w[0].0, w[1].0, "{} mapped twice", w[0].0);
        }
    }

    /// Fragments that exercise every branch of the normalizer and tokenizer.
    const SALAD: &[&str] = &[
        " ",
        "seed",
        "phrase",
        "never",
        "send",
        "us",
        "your",
        "don't",
        "'",
        ".",
        ",",
        ":",
        "?",
        "\n",
        "utc--",
        "utc-",
        "0.1",
        "1,",
        "12",
        "words",
        "#",
        "*",
        "-",
        "—",
        "…",
        "助记词",
        "发给",
        "不",
        "请",
        "把",
        "。",
        "，",
        "、",
        "請",
        "發",
        "сид",
        "-фразу",
        "Пришлите",
        "ё",
        "¿",
        "¡",
        "envíenos",
        "ñ",
        "e\u{301}",
        "\u{200B}",
        "Ａ",
        "！",
        "🙂",
        "ß",
        "İ",
        "\r",
        "ᐊ",
        "\u{4DC0}",
        "\u{FFFF}",
    ];

    proptest::proptest! {
        #[test]
        fn never_panics_on_any_text(text in proptest::prelude::any::<String>()) {
            let _ = check_request(&text);
        }

        #[test]
        fn never_panics_on_word_salad(
            parts in proptest::collection::vec(proptest::sample::select(SALAD), 0..60)
        ) {
            let text = parts.concat();
            // Deterministic: the scratch buffers carry nothing over.
            proptest::prop_assert_eq!(check_request(&text), check_request(&text));
        }
    }

    fn best_of(runs: usize, text: &str) -> (Duration, Result<(), Refusal>) {
        let mut best = Duration::MAX;
        let mut out = Ok(());
        for _ in 0..runs {
            let t = Instant::now();
            out = check_request(text);
            best = best.min(t.elapsed());
        }
        (best, out)
    }

    /// A support reply of about `len` bytes, mostly English with the other languages mixed in.
    fn long_reply(len: usize) -> String {
        let para = "Thank you for contacting support. We will never ask for your seed phrase, \
                    so please keep it offline. Please send us the transaction hash and a \
                    screenshot of the error, and tell us which version of the app you use. \
                    Your funds are safe; the transfer is still pending on the network. \
                    请勿向任何人透露您的助记词，请提供交易哈希。 \
                    No comparta nunca su frase semilla. Мы никогда не просим сид-фразу.\n";
        let mut text = String::with_capacity(len + para.len());
        while text.len() < len {
            text.push_str(para);
        }
        text
    }

    /// The 1 ms budget is for the daemon's optimized build; an unoptimized test build is some
    /// ten times slower, and there the bounds only catch super-linear behaviour.
    #[test]
    fn long_replies_are_checked_in_linear_time() {
        let budget = if cfg!(debug_assertions) {
            Duration::from_millis(50)
        } else {
            Duration::from_millis(1)
        };
        // Builds the lexicon, which is done once per process.
        assert!(check_request("warm up").is_ok());
        let text = long_reply(50 * 1024);
        let (t, out) = best_of(10, &text);
        assert!(out.is_ok(), "{out:?}");
        assert!(t < budget, "50 KB took {t:?}");

        // Ten times the text takes about ten times as long.
        let (t_small, _) = best_of(10, &long_reply(5 * 1024));
        assert!(
            t < t_small * 25 + Duration::from_micros(100),
            "50 KB took {t:?}, 5 KB {t_small:?}"
        );

        // A request at the very end is still found.
        let late = format!("{text}Now please send us your seed phrase.");
        let (t, out) = best_of(10, &late);
        assert_eq!(out.unwrap_err().category, "seed_phrase");
        assert!(t < budget, "50 KB took {t:?}");

        // Worst cases for the bounded scans: every word a verb, an object or a negation, and
        // no sentence break.
        for unit in [
            "never send seed ",
            "不要发给助记词",
            ", , never , ",
            "seed seed send ",
            "don't , never , not , no , send your seed phrase , ",
            "a",
        ] {
            let adversarial = unit.repeat(50 * 1024 / unit.len());
            let (t, _) = best_of(3, &adversarial);
            assert!(t < budget * 4, "{unit:?}: {t:?}");
        }
    }
}
