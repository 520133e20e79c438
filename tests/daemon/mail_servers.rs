//! Real mail servers on 127.0.0.1 for the email tests: Dovecot (Debian `dovecot-imapd`) in the
//! foreground with its own config and a maildir in a temp dir, and aiosmtpd (Debian
//! `python3-aiosmtpd`) writing what it accepts into a maildir. Plus a throwaway CA for TLS.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;
use tempfile::TempDir;

pub const USER: &str = "support";
pub const PASSWORD: &str = "imap-password-1";

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

async fn wait_for_port(port: u16, what: &str, log: &Path) {
    for _ in 0..200 {
        if tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_ok()
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!(
        "{what} did not listen on {port}: {}",
        std::fs::read_to_string(log).unwrap_or_default()
    );
}

/// A CA and a server certificate for `localhost` / 127.0.0.1, made with the openssl CLI.
pub struct TestCa {
    pub ca: PathBuf,
    pub cert: PathBuf,
    pub key: PathBuf,
    _dir: TempDir,
}

impl TestCa {
    pub fn new() -> Self {
        let dir = TempDir::new().unwrap();
        let p = |name: &str| dir.path().join(name);
        let ext = p("san.ext");
        std::fs::write(
            &ext,
            "subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\n",
        )
        .unwrap();
        let run = |args: &[&str]| {
            let out = Command::new("openssl")
                .args(args)
                .output()
                .expect("openssl is installed");
            assert!(
                out.status.success(),
                "openssl {args:?}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        };
        let s = |p: &PathBuf| p.to_str().unwrap().to_owned();
        let (ca, ca_key, key, csr, cert) = (
            p("ca.pem"),
            p("ca.key"),
            p("server.key"),
            p("server.csr"),
            p("server.pem"),
        );
        run(&[
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-keyout",
            &s(&ca_key),
            "-out",
            &s(&ca),
            "-days",
            "2",
            "-subj",
            "/CN=Switchboard Test CA",
            "-addext",
            "basicConstraints=critical,CA:TRUE",
            "-addext",
            "keyUsage=critical,keyCertSign",
        ]);
        run(&[
            "req",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-keyout",
            &s(&key),
            "-out",
            &s(&csr),
            "-subj",
            "/CN=localhost",
        ]);
        run(&[
            "x509",
            "-req",
            "-in",
            &s(&csr),
            "-CA",
            &s(&ca),
            "-CAkey",
            &s(&ca_key),
            "-CAcreateserial",
            "-out",
            &s(&cert),
            "-days",
            "2",
            "-extfile",
            &s(&ext),
        ]);
        // Dovecot's unprivileged login process reads the key after dropping root.
        for f in [&cert, &key] {
            set_mode(f, 0o644);
        }
        set_mode(dir.path(), 0o755);
        Self {
            ca,
            cert,
            key,
            _dir: dir,
        }
    }
}

fn set_mode(path: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

/// The uid/gid mail is stored as. Dovecot refuses uid 0 for mail access, so root stores it
/// as `nobody`; anyone else uses their own ids.
fn mail_owner() -> (u32, u32) {
    let me = id("-u");
    if me == 0 {
        (65534, 65534)
    } else {
        (me, id("-g"))
    }
}

fn id(flag: &str) -> u32 {
    let out = Command::new("id").arg(flag).output().unwrap();
    String::from_utf8_lossy(&out.stdout).trim().parse().unwrap()
}

fn chown(path: &Path, (uid, gid): (u32, u32)) {
    std::os::unix::fs::chown(path, Some(uid), Some(gid)).unwrap();
}

pub struct Dovecot {
    pub port: u16,
    /// Implicit-TLS port, when started with a certificate.
    pub tls_port: Option<u16>,
    dir: TempDir,
    child: Option<Child>,
}

impl Dovecot {
    pub async fn start(tls: Option<&TestCa>) -> Self {
        Self::start_with(tls, "").await
    }

    /// With extra lines of Dovecot configuration (say, a capability list without IDLE).
    pub async fn start_with(tls: Option<&TestCa>, extra: &str) -> Self {
        let dir = TempDir::new().unwrap();
        set_mode(dir.path(), 0o755);
        let home = dir.path().join("home");
        let mail_home = home.join(USER);
        std::fs::create_dir_all(&mail_home).unwrap();
        set_mode(&home, 0o755);
        chown(&mail_home, mail_owner());
        let (port, tls_port) = (free_port(), tls.map(|_| free_port()));
        let root = dir.path().display();
        let (uid, gid) = mail_owner();
        let me = id("-u");
        // As root Dovecot uses its packaged system users; otherwise everything runs as us.
        let users = if me == 0 {
            String::new()
        } else {
            let name =
                String::from_utf8(Command::new("id").arg("-un").output().unwrap().stdout).unwrap();
            format!(
                "default_login_user = {0}\ndefault_internal_user = {0}\n",
                name.trim()
            )
        };
        let ssl = match tls {
            None => "ssl = no\n".to_owned(),
            Some(ca) => format!(
                "ssl = yes\nssl_cert = <{}\nssl_key = <{}\n",
                ca.cert.display(),
                ca.key.display()
            ),
        };
        let config = format!(
            "base_dir = {root}/run\nstate_dir = {root}/state\nlog_path = {root}/dovecot.log\n\
             protocols = imap\nlisten = 127.0.0.1\n{ssl}{users}\
             disable_plaintext_auth = no\nauth_mechanisms = plain login\n\
             mail_location = maildir:~/Maildir\nfirst_valid_uid = 1\nfirst_valid_gid = 1\n\
             passdb {{\n  driver = static\n  args = password={PASSWORD}\n}}\n\
             userdb {{\n  driver = static\n  args = uid={uid} gid={gid} home={root}/home/%u\n}}\n\
             service imap-login {{\n  inet_listener imap {{\n    address = 127.0.0.1\n    port = {port}\n  }}\n\
               inet_listener imaps {{\n    address = 127.0.0.1\n    port = {}\n    ssl = yes\n  }}\n}}\n\
             service stats {{\n  unix_listener stats-reader {{\n    mode = 0666\n  }}\n\
               unix_listener stats-writer {{\n    mode = 0666\n  }}\n}}\n{extra}\n",
            tls_port.unwrap_or(0)
        );
        std::fs::write(dir.path().join("dovecot.conf"), config).unwrap();
        let mut dovecot = Self {
            port,
            tls_port,
            dir,
            child: None,
        };
        dovecot.spawn().await;
        dovecot
    }

    async fn spawn(&mut self) {
        let log = self.dir.path().join("dovecot.log");
        // /usr/sbin may not be on a CI user's PATH.
        let binary = if Path::new("/usr/sbin/dovecot").exists() {
            "/usr/sbin/dovecot"
        } else {
            "dovecot"
        };
        let child = Command::new(binary)
            .arg("-F")
            .arg("-c")
            .arg(self.dir.path().join("dovecot.conf"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("dovecot is installed (apt-get install dovecot-imapd)");
        self.child = Some(child);
        wait_for_port(self.port, "dovecot", &log).await;
        if let Some(tls_port) = self.tls_port {
            wait_for_port(tls_port, "dovecot (TLS)", &log).await;
        }
    }

    /// SIGTERM to the master, which ends every IMAP session with it.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = Command::new("kill")
                .arg("-TERM")
                .arg(child.id().to_string())
                .status();
            let deadline = std::time::Instant::now() + Duration::from_secs(10);
            while child.try_wait().unwrap().is_none() {
                if std::time::Instant::now() > deadline {
                    let _ = child.kill();
                    break;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = child.wait();
            // The master's children (login, imap) leave with it; the port must be free again.
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    pub async fn start_again(&mut self) {
        self.stop();
        self.spawn().await;
    }

    pub fn maildir(&self) -> PathBuf {
        self.dir.path().join("home").join(USER).join("Maildir")
    }

    /// Drops the mailbox's UID state, so the next start numbers everything anew under a new
    /// UIDVALIDITY (Dovecot derives it from the clock: wait a second first). Dovecot must be
    /// stopped.
    pub fn reset_uids(&self) {
        std::thread::sleep(Duration::from_millis(1100));
        for entry in std::fs::read_dir(self.maildir()).unwrap() {
            let path = entry.unwrap().path();
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            if name.starts_with("dovecot") {
                std::fs::remove_file(&path).unwrap();
            }
        }
    }

    /// Writes a mail straight into the maildir (works while Dovecot is down).
    pub fn deliver_file(&self, raw: &[u8]) {
        let maildir = self.maildir();
        for sub in ["", "new", "cur", "tmp"] {
            let dir = maildir.join(sub);
            if !dir.exists() {
                std::fs::create_dir(&dir).unwrap();
                set_mode(&dir, 0o700);
                chown(&dir, mail_owner());
            }
        }
        let new = maildir.join("new");
        let name = format!(
            "{}.sb{}.test",
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos(),
            rand_suffix()
        );
        let tmp = self.maildir().join("tmp").join(&name);
        std::fs::write(&tmp, raw).unwrap();
        chown(&tmp, mail_owner());
        std::fs::rename(&tmp, new.join(&name)).unwrap();
    }

    /// IMAP APPEND as any mail client would; returns once Dovecot stored it.
    pub async fn append(&self, raw: &[u8]) {
        let tcp = tokio::net::TcpStream::connect(("127.0.0.1", self.port))
            .await
            .unwrap();
        let mut client = async_imap::Client::new(tcp);
        client.read_response().await.unwrap();
        let mut session = client
            .login(USER, PASSWORD)
            .await
            .map_err(|(e, _)| e)
            .unwrap();
        session.append("INBOX", None, None, raw).await.unwrap();
        session.logout().await.unwrap();
    }
}

fn rand_suffix() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    N.fetch_add(1, Ordering::Relaxed)
}

impl Drop for Dovecot {
    fn drop(&mut self) {
        self.stop();
    }
}

pub struct SmtpServer {
    pub port: u16,
    maildir: PathBuf,
    _dir: TempDir,
    child: Child,
}

impl SmtpServer {
    pub async fn start(tls: Option<&TestCa>) -> Self {
        let dir = TempDir::new().unwrap();
        let maildir = dir.path().join("Maildir");
        let port = free_port();
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/servers/smtp_server.py");
        let mut command = Command::new("/usr/bin/python3");
        command.arg(script).arg(port.to_string()).arg(&maildir);
        if let Some(ca) = tls {
            command.arg(&ca.cert).arg(&ca.key);
        }
        let child = command
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("/usr/bin/python3 runs (apt-get install python3-aiosmtpd)");
        wait_for_port(port, "aiosmtpd", Path::new("/dev/null")).await;
        Self {
            port,
            maildir,
            _dir: dir,
            child,
        }
    }

    /// Every mail accepted so far, oldest first.
    pub fn received(&self) -> Vec<Vec<u8>> {
        let Ok(entries) = std::fs::read_dir(self.maildir.join("new")) else {
            return Vec::new();
        };
        let mut files: Vec<_> = entries
            .map(|e| e.unwrap().path())
            .filter(|p| p.is_file())
            .collect();
        // Python's mailbox names files "<secs>.M<usec>P<pid>Q<n>.<host>", the microseconds not
        // zero-padded (so names do not sort by time within a second): Q, the server's counter of
        // delivered mails, gives the order they arrived in.
        let counter = |p: &PathBuf| -> u64 {
            let name = p.file_name().unwrap().to_string_lossy().to_string();
            let q = name.find('Q').map_or("", |at| &name[at + 1..]);
            let digits: String = q.chars().take_while(char::is_ascii_digit).collect();
            digits.parse().unwrap_or(u64::MAX)
        };
        files.sort_by_key(counter);
        files.iter().map(|p| std::fs::read(p).unwrap()).collect()
    }
}

impl Drop for SmtpServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
