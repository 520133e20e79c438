//! The database the tests run on. By default each test gets a SQLite file in its temp dir;
//! with `SWITCHBOARD_TEST_BACKEND=postgres` every test gets a fresh database on one real
//! PostgreSQL server that this test process starts (tests/servers/postgres.sh: `initdb` and
//! `pg_ctl` into a temp dir, 127.0.0.1 on a free port) and that stops when the process ends.

use std::path::Path;
use std::process::Command;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};

/// Whether this run uses PostgreSQL.
pub fn on_postgres() -> bool {
    std::env::var("SWITCHBOARD_TEST_BACKEND").is_ok_and(|b| b == "postgres")
}

struct Server {
    port: u16,
    bin: String,
    dir: std::path::PathBuf,
}

fn server() -> &'static Server {
    static SERVER: OnceLock<Server> = OnceLock::new();
    SERVER.get_or_init(|| {
        let dir = tempfile::Builder::new()
            .prefix("switchboard-pg-")
            .tempdir()
            .expect("temp dir for PostgreSQL")
            // Removed by the server's watcher once this process has ended.
            .keep();
        let port = super::helpers::free_port();
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/servers/postgres.sh");
        let out = Command::new("sh")
            .arg(script)
            .arg(&dir)
            .arg(port.to_string())
            .arg(std::process::id().to_string())
            .output()
            .expect("sh runs");
        assert!(
            out.status.success(),
            "PostgreSQL did not start: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let bin = Command::new("sh")
            .arg("-c")
            .arg("ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1")
            .output()
            .expect("sh runs");
        Server {
            dir: dir.clone(),
            port,
            bin: String::from_utf8_lossy(&bin.stdout).trim().to_owned(),
        }
    })
}

/// The URL of a new, empty PostgreSQL database on the shared test server.
pub fn fresh_postgres_url() -> String {
    static N: AtomicU64 = AtomicU64::new(0);
    let server = server();
    let name = format!(
        "t{}_{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    );
    let out = Command::new(format!("{}/createdb", server.bin))
        .args([
            "-h",
            "127.0.0.1",
            "-p",
            &server.port.to_string(),
            "-U",
            "postgres",
            &name,
        ])
        .output()
        .expect("createdb runs");
    assert!(
        out.status.success(),
        "createdb: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    format!("postgres://postgres@127.0.0.1:{}/{name}", server.port)
}

/// The database URL for a test whose files live in `dir`: SQLite there, or a fresh
/// PostgreSQL database.
pub fn database_url(dir: &Path) -> String {
    if on_postgres() {
        fresh_postgres_url()
    } else {
        format!("sqlite://{}", dir.join("sb.db").display())
    }
}

/// On PostgreSQL, the server's write-ahead log: where every commit of every test's database
/// reaches the disk first.
pub fn wal_dir() -> Option<std::path::PathBuf> {
    on_postgres().then(|| server().dir.join("data/pg_wal"))
}
