//! Certificates made at test time (the `openssl` command), and a real TLS terminator (stunnel)
//! for servers that speak only plain TCP.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

/// A CA and one server certificate it signed, for `localhost` and 127.0.0.1 (or other names).
pub struct Certs {
    /// The CA certificate clients trust.
    pub ca: PathBuf,
    /// The server's certificate and key (PEM).
    pub cert: PathBuf,
    pub key: PathBuf,
    /// A CA that signed nothing here: trusting only it, a client must refuse the server.
    pub other_ca: PathBuf,
}

fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl").args(args).current_dir(dir).output().expect("the openssl command (Debian's openssl)");
    assert!(out.status.success(), "openssl {args:?}: {}", String::from_utf8_lossy(&out.stderr));
}

fn ca(dir: &Path, name: &str, cn: &str) {
    openssl(dir, &[
        "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-days", "2",
        "-keyout", &format!("{name}.key"), "-out", &format!("{name}.pem"), "-subj", &format!("/CN={cn}"),
        "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign",
    ]);
}

impl Certs {
    /// Makes a CA, a server certificate for `hosts` (DNS names or IP addresses), and a stranger CA.
    pub fn new(dir: &Path, hosts: &[&str]) -> Certs {
        std::fs::create_dir_all(dir).unwrap();
        ca(dir, "ca", "Flowlens test CA");
        ca(dir, "other-ca", "Somebody else's CA");
        let names: Vec<String> = hosts
            .iter()
            .map(|h| if h.parse::<std::net::IpAddr>().is_ok() { format!("IP:{h}") } else { format!("DNS:{h}") })
            .collect();
        std::fs::write(
            dir.join("server.ext"),
            format!("subjectAltName={}\nbasicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth,clientAuth\n", names.join(",")),
        )
        .unwrap();
        openssl(dir, &["req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", "server.key", "-out", "server.csr", "-subj", &format!("/CN={}", hosts[0])]);
        openssl(dir, &["x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial", "-days", "2", "-out", "server.pem", "-extfile", "server.ext"]);
        Certs { ca: dir.join("ca.pem"), cert: dir.join("server.pem"), key: dir.join("server.key"), other_ca: dir.join("other-ca.pem") }
    }
}

/// stunnel in front of a plain TCP server: TLS on `address`, plain TCP to `backend`. Killed when dropped.
pub struct Terminator {
    child: Child,
    pub address: String,
}

impl Terminator {
    pub async fn start(certs: &Certs, backend: &str) -> Terminator {
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        Terminator::on(certs, port, backend).await
    }

    pub async fn on(certs: &Certs, port: u16, backend: &str) -> Terminator {
        let dir = certs.ca.parent().unwrap();
        let conf = dir.join(format!("stunnel-{port}.conf"));
        std::fs::write(
            &conf,
            format!(
                "foreground = yes\npid =\ndebug = 4\n[tls]\naccept = 127.0.0.1:{port}\nconnect = {backend}\ncert = {}\nkey = {}\n",
                certs.cert.display(),
                certs.key.display()
            ),
        )
        .unwrap();
        let log = std::fs::File::create(dir.join(format!("stunnel-{port}.log"))).unwrap();
        let child = Command::new("stunnel")
            .arg(&conf)
            .stdout(Stdio::from(log.try_clone().unwrap()))
            .stderr(Stdio::from(log))
            .spawn()
            .expect("stunnel (Debian's stunnel4; scripts/setup --tests installs it)");
        let address = format!("127.0.0.1:{port}");
        for _ in 0..200 {
            if std::net::TcpStream::connect(&address).is_ok() {
                return Terminator { child, address };
            }
            tokio::time::sleep(std::time::Duration::from_millis(25)).await;
        }
        panic!("stunnel did not listen on {address} within 5 s");
    }
}

impl Drop for Terminator {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
