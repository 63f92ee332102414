//! IRC for tests: a private `ngircd` (Debian's IRC server) on a free port with a generated
//! configuration (an operator `oper`/`operpw` who may KILL; TLS with a CA of its own if
//! asked), and a small line-level client
//! that plays a person on it.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};

use crate::server::{Kind, Server};
use crate::{free_port, require_binary};

/// `ngircd`, in the foreground, with a configuration written for the test; with a TLS port
/// too when `tls_port` is set (a certificate for 127.0.0.1 signed by a CA of its own, both
/// made with `openssl`).
pub struct Ngircd {
    tls_port: Option<u16>,
}

/// A private `ngircd`.
pub type IrcServer = Server<Ngircd>;

impl Server<Ngircd> {
    /// Starts a server named `irc.test.local`.
    pub fn start() -> Self {
        Self::start_kind(Ngircd { tls_port: None })
    }

    /// Starts one that also speaks TLS on [`IrcServer::tls_addr`], with a certificate signed
    /// by the CA in [`IrcServer::tls_ca`].
    pub fn start_tls() -> Self {
        Self::start_kind(Ngircd {
            tls_port: Some(free_port()),
        })
    }

    /// `127.0.0.1:{port}`, as `[[irc]] server` takes it.
    pub fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port())
    }

    /// The TLS port's address (a server started with [`IrcServer::start_tls`]).
    pub fn tls_addr(&self) -> String {
        let port = self
            .kind()
            .tls_port
            .expect("a server started with start_tls");
        format!("127.0.0.1:{port}")
    }

    /// The CA that signed the server's certificate (PEM), to trust as `tls_ca`.
    pub fn tls_ca(&self) -> PathBuf {
        self.dir().join("ca.pem")
    }
}

/// Makes a CA (`ca.pem`) and a server certificate for 127.0.0.1 it signed (`cert.pem`,
/// `key.pem`) in `dir`.
fn make_cert(dir: &Path) {
    let openssl = require_binary("openssl");
    let run = |args: &[&str]| {
        let out = Command::new(&openssl)
            .args(args)
            .current_dir(dir)
            .output()
            .expect("run openssl");
        assert!(
            out.status.success(),
            "openssl {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    std::fs::write(
        dir.join("ext.cnf"),
        "subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\n",
    )
    .expect("write ext.cnf");
    run(&[
        "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
    ]
    .into_iter()
    .chain([
        "-subj",
        "/CN=switchyard test CA",
        "-keyout",
        "ca.key",
        "-out",
        "ca.pem",
    ])
    .collect::<Vec<_>>());
    run(&[
        "req",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-subj",
        "/CN=127.0.0.1",
    ]
    .into_iter()
    .chain(["-keyout", "key.pem", "-out", "req.csr"])
    .collect::<Vec<_>>());
    run(&[
        "x509", "-req", "-in", "req.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
    ]
    .into_iter()
    .chain([
        "-CAcreateserial",
        "-days",
        "2",
        "-extfile",
        "ext.cnf",
        "-out",
        "cert.pem",
    ])
    .collect::<Vec<_>>());
}

impl Kind for Ngircd {
    const BINARY: &'static str = "ngircd";
    const SCHEME: &'static str = "irc";

    fn args(&self, port: u16, dir: &Path) -> Vec<String> {
        let config_path = dir.join("ngircd.conf");
        let config = format!(
            "[Global]\nName = irc.test.local\nInfo = switchyard test server\n\
             AdminInfo1 = tests\nAdminInfo2 = tests\nAdminEMail = tests@test.local\n\
             Listen = 127.0.0.1\nPorts = {port}\nMotdPhrase = switchyard test\n\
             PidFile = {pid}\n\
             [Limits]\nMaxConnectionsIP = 0\nPingTimeout = 120\nPongTimeout = 20\n\
             [Options]\nPAM = no\nIdent = no\nDNS = no\n\
             [Operator]\nName = oper\nPassword = operpw\n",
            pid = dir.join("ngircd.pid").display()
        );
        let config = match self.tls_port {
            None => config,
            Some(tls_port) => {
                if !dir.join("cert.pem").is_file() {
                    make_cert(dir);
                }
                format!(
                    "{config}[SSL]\nCertFile = {}\nKeyFile = {}\nPorts = {tls_port}\n",
                    dir.join("cert.pem").display(),
                    dir.join("key.pem").display()
                )
            }
        };
        std::fs::write(&config_path, config).expect("write ngircd config");
        vec![
            "-n".to_owned(),
            "-f".to_owned(),
            config_path.display().to_string(),
        ]
    }

    fn ready(port: u16) -> bool {
        let Ok(mut stream) = TcpStream::connect(("127.0.0.1", port)) else {
            return false;
        };
        let _ = stream.set_read_timeout(Some(Duration::from_millis(500)));
        if stream.write_all(b"PING :ready\r\n").is_err() {
            return false;
        }
        // An unregistered client's PING is refused with 451: the server reads.
        let mut buf = [0u8; 1];
        stream.read_exact(&mut buf).is_ok()
    }
}

/// A person on an IRC server: registers, joins, speaks, and waits for lines.
pub struct IrcClient {
    nick: String,
    reader: BufReader<OwnedReadHalf>,
    writer: OwnedWriteHalf,
    /// Every line read so far, for failure messages.
    seen: Vec<String>,
}

/// How long [`IrcClient`] waits for anything.
pub const IRC_WAIT: Duration = Duration::from_secs(30);

impl IrcClient {
    /// Connects to `addr` as `nick` and waits for the welcome.
    pub async fn connect(addr: &str, nick: &str) -> IrcClient {
        let stream = tokio::net::TcpStream::connect(addr)
            .await
            .unwrap_or_else(|e| panic!("cannot connect to the IRC server {addr}: {e}"));
        let (r, w) = stream.into_split();
        let mut client = IrcClient {
            nick: nick.to_owned(),
            reader: BufReader::new(r),
            writer: w,
            seen: Vec::new(),
        };
        client.send(&format!("NICK {nick}")).await;
        client.send(&format!("USER {nick} 0 * :test person")).await;
        client.wait_for(|l| l.contains(" 001 ")).await;
        client
    }

    /// Sends one raw line.
    pub async fn send(&mut self, line: &str) {
        self.writer
            .write_all(format!("{line}\r\n").as_bytes())
            .await
            .unwrap_or_else(|e| panic!("{} cannot send {line:?}: {e}", self.nick));
    }

    /// Joins `channel` and waits until the server confirms.
    pub async fn join(&mut self, channel: &str) {
        self.send(&format!("JOIN {channel}")).await;
        let end = " 366 ".to_owned();
        self.wait_for(move |l| l.contains(&end)).await;
    }

    /// Says `text` to `target`.
    pub async fn say(&mut self, target: &str, text: &str) {
        self.send(&format!("PRIVMSG {target} :{text}")).await;
    }

    /// The next line matching `want`, answering PINGs meanwhile; fails after [`IRC_WAIT`]
    /// with the lines seen.
    pub async fn wait_for(&mut self, mut want: impl FnMut(&str) -> bool) -> String {
        let deadline = tokio::time::Instant::now() + IRC_WAIT;
        loop {
            let mut line = String::new();
            let read = tokio::time::timeout_at(deadline, self.reader.read_line(&mut line)).await;
            match read {
                Ok(Ok(0)) => panic!(
                    "{}: the server closed the connection; lines seen:\n{}",
                    self.nick,
                    self.seen.join("\n")
                ),
                Ok(Ok(_)) => {}
                Ok(Err(e)) => panic!("{}: read error {e}", self.nick),
                Err(_) => panic!(
                    "{}: no matching line within {} s; lines seen:\n{}",
                    self.nick,
                    IRC_WAIT.as_secs(),
                    self.seen.join("\n")
                ),
            }
            let line = line.trim_end().to_owned();
            if let Some(token) = line.strip_prefix("PING ") {
                self.send(&format!("PONG {token}")).await;
            }
            self.seen.push(line.clone());
            if want(&line) {
                return line;
            }
        }
    }
}
