//! A private PostgreSQL server for one test, in a scratch directory on a free port, so the test can
//! stop and start it without disturbing the machine's shared one. Stopped when dropped.

use std::path::{Path, PathBuf};
use std::process::Command;

pub struct Postgres {
    bin: PathBuf,
    pub dir: PathBuf,
    pub port: u16,
    /// Extra server settings (`-c name=value`), e.g. TLS.
    settings: Vec<String>,
}

/// The newest installed server's programs (Debian keeps them out of PATH).
fn bin_dir() -> PathBuf {
    let mut versions: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .expect("PostgreSQL is installed under /usr/lib/postgresql")
        .filter_map(|e| e.ok().map(|e| e.path().join("bin")))
        .filter(|p| p.join("pg_ctl").exists())
        .collect();
    versions.sort();
    versions.pop().expect("a PostgreSQL server with pg_ctl")
}

/// PostgreSQL refuses to run as root: as root, run its programs as the `postgres` user.
fn as_server_user(program: &Path) -> Command {
    use std::os::unix::fs::MetadataExt;
    let root = Path::new("/proc/self").metadata().is_ok_and(|m| m.uid() == 0);
    if root {
        let mut c = Command::new("runuser");
        c.args(["-u", "postgres", "--"]).arg(program);
        c
    } else {
        Command::new(program)
    }
}

fn run(mut cmd: Command, what: &str) {
    let out = cmd.output().unwrap_or_else(|e| panic!("{what}: {e}"));
    assert!(out.status.success(), "{what} failed: {}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
}

impl Postgres {
    pub fn start() -> Postgres {
        let pg = Postgres::init();
        pg.up();
        pg
    }

    /// A server that takes connections over TLS only (`hostssl` alone in pg_hba.conf), with
    /// this certificate and key.
    pub fn start_tls(cert: &Path, key: &Path) -> Postgres {
        let mut pg = Postgres::init();
        let data = pg.dir.join("data");
        std::fs::copy(cert, data.join("server.crt")).unwrap();
        std::fs::copy(key, data.join("server.key")).unwrap();
        std::fs::write(data.join("pg_hba.conf"), "local all all trust\nhostssl all all 127.0.0.1/32 trust\n").unwrap();
        {
            use std::os::unix::fs::PermissionsExt;
            // The server refuses a key others can read.
            std::fs::set_permissions(data.join("server.key"), std::fs::Permissions::from_mode(0o600)).unwrap();
        }
        let _ = Command::new("chown").args(["postgres:postgres"]).arg(data.join("server.crt")).arg(data.join("server.key")).arg(data.join("pg_hba.conf")).status();
        pg.settings = vec!["ssl=on".into(), "ssl_cert_file=server.crt".into(), "ssl_key_file=server.key".into()];
        pg.up();
        pg
    }

    fn init() -> Postgres {
        let bin = bin_dir();
        let dir = std::env::temp_dir().join(format!("flowlens-pg-{}-{}", std::process::id(), fastrand::u32(..)));
        std::fs::create_dir_all(&dir).unwrap();
        // The server user must own its directory.
        let _ = Command::new("chown").args(["postgres:postgres"]).arg(&dir).status();
        let mut init = as_server_user(&bin.join("initdb"));
        init.args(["-A", "trust", "-U", "postgres", "--no-sync", "-D"]).arg(dir.join("data"));
        run(init, "initdb");
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        Postgres { bin, dir, port, settings: Vec::new() }
    }

    pub fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    pub fn up(&self) {
        let mut cmd = as_server_user(&self.bin.join("pg_ctl"));
        cmd.arg("-D").arg(self.dir.join("data")).arg("-l").arg(self.dir.join("server.log"));
        let extra: String = self.settings.iter().map(|s| format!(" -c {s}")).collect();
        cmd.args(["-w", "-o"]).arg(format!("-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off{extra}", self.port, self.dir.display()));
        cmd.arg("start");
        run(cmd, "pg_ctl start");
    }

    /// Stops the server as a crash would: no shutdown checkpoint, connections cut.
    pub fn crash(&self) {
        let mut cmd = as_server_user(&self.bin.join("pg_ctl"));
        cmd.arg("-D").arg(self.dir.join("data")).args(["-m", "immediate", "-w", "stop"]);
        run(cmd, "pg_ctl stop");
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        let mut cmd = as_server_user(&self.bin.join("pg_ctl"));
        cmd.arg("-D").arg(self.dir.join("data")).args(["-m", "immediate", "stop"]);
        let _ = cmd.output();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
