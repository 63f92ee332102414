//! Command dispatch with Redis's checks in Redis's order (unknown command, unknown
//! subcommand, arity, authentication, subscribed-mode restriction), and the connection
//! commands: PING, QUIT, RESET, HELLO, AUTH, SELECT, CLIENT, INFO, COMMAND.

use bytes::Bytes;

use super::codec::parse_i64;
use super::conn::{Conn, Flow};
use super::redis_commands::COMMANDS;
use super::reply::Proto;

/// The version reported by HELLO and INFO: the Redis release whose pub/sub behaviour the
/// listener follows.
pub(super) const REDIS_VERSION: &str = "7.2.0";

/// Commands a RESP2 client may send while subscribed (Redis's list).
const SUBSCRIBED_OK: &[&str] = &[
    "ping",
    "subscribe",
    "ssubscribe",
    "unsubscribe",
    "sunsubscribe",
    "psubscribe",
    "punsubscribe",
    "quit",
    "reset",
];

/// Commands allowed before authentication.
const NO_AUTH: &[&str] = &["auth", "hello", "quit", "reset"];

/// How Redis's `%.128s` shows an argument: up to the first NUL, at most 128 bytes.
fn c_str(arg: &[u8], max: usize) -> &[u8] {
    let end = arg.iter().position(|&b| b == 0).unwrap_or(arg.len());
    &arg[..end.min(max)]
}

fn arity_ok(arity: i32, argc: usize) -> bool {
    if arity >= 0 {
        argc == arity as usize
    } else {
        argc >= arity.unsigned_abs() as usize
    }
}

fn text(parts: &[&[u8]]) -> Vec<u8> {
    parts.concat()
}

impl Conn {
    /// Executes one request. `args` is never empty.
    pub(super) fn execute(&mut self, args: Vec<Bytes>) -> Flow {
        // Messages already queued go out before this command's reply, as they would from
        // Redis, which writes them into the client's buffer when they are published.
        self.drain_pending();
        let name = args[0].to_ascii_lowercase();
        let Ok(found) = COMMANDS.binary_search_by(|row| row.0.as_bytes().cmp(&name)) else {
            return self.unknown_command(&args);
        };
        let (cmd, arity, subcommands) = COMMANDS[found];
        let mut fullname = cmd.to_owned();
        if !subcommands.is_empty() && args.len() >= 2 {
            let sub = args[1].to_ascii_lowercase();
            let Some(&(sub_name, sub_arity)) =
                subcommands.iter().find(|(s, _)| s.as_bytes() == sub)
            else {
                self.count_error("unknown_command");
                let message = text(&[
                    b"unknown subcommand '",
                    c_str(&args[1], 128),
                    b"'. Try ",
                    cmd.to_ascii_uppercase().as_bytes(),
                    b" HELP.",
                ]);
                self.reply().error(&message);
                return Flow::Continue;
            };
            fullname = format!("{cmd}|{sub_name}");
            if !arity_ok(sub_arity, args.len()) {
                return self.arity_error(&fullname);
            }
        } else if !arity_ok(arity, args.len()) {
            return self.arity_error(cmd);
        }
        if !self.authenticated && !NO_AUTH.contains(&cmd) {
            self.count_error("auth");
            self.reply().error(b"-NOAUTH Authentication required.");
            return Flow::Continue;
        }
        if self.proto == Proto::Resp2 && self.subscriptions() > 0 && !SUBSCRIBED_OK.contains(&cmd) {
            self.count_error("subscribed_mode");
            let message = format!(
                "Can't execute '{fullname}': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET are allowed in this context"
            );
            self.reply().error(message.as_bytes());
            return Flow::Continue;
        }
        match fullname.as_str() {
            "ping" => self.ping(&args),
            "quit" => {
                self.reply().ok();
                return Flow::Close;
            }
            "reset" => {
                self.reset();
                self.reply().simple("RESET");
            }
            "hello" => self.hello(&args),
            "auth" => self.auth(&args),
            "select" => self.select(&args[1]),
            "info" => self.info(),
            "client|id" => {
                let id = self.id as i64;
                self.reply().int(id);
            }
            "client|getname" => match self.name.clone() {
                Some(name) => self.reply().bulk(&name),
                None => self.reply().null(),
            },
            "client|setname" => {
                if self.valid_name(&args[2], "Client names") {
                    self.name = (!args[2].is_empty()).then(|| args[2].clone());
                    self.reply().ok();
                }
            }
            "client|setinfo" => self.client_setinfo(&args),
            "command" => self.reply().array(0),
            "command|count" => self.reply().int(0),
            "command|docs" => self.reply().map(0),
            "publish" => self.publish(&args[1], &args[2]),
            "subscribe" => self.subscribe(&args[1..], false),
            "psubscribe" => self.subscribe(&args[1..], true),
            "unsubscribe" => self.unsubscribe(&args[1..], false),
            "punsubscribe" => self.unsubscribe(&args[1..], true),
            "pubsub|channels"
            | "pubsub|numsub"
            | "pubsub|numpat"
            | "pubsub|help"
            | "pubsub|shardchannels"
            | "pubsub|shardnumsub" => self.pubsub(&fullname, &args),
            _ if !subcommands.is_empty() => {
                // A Redis subcommand this listener does not implement.
                self.count_error("unknown_command");
                let message = text(&[
                    b"unknown subcommand '",
                    c_str(&args[1], 128),
                    b"'. Try ",
                    cmd.to_ascii_uppercase().as_bytes(),
                    b" HELP.",
                ]);
                self.reply().error(&message);
            }
            _ => return self.unknown_command(&args),
        }
        Flow::Continue
    }

    /// Redis's text for a command it does not know, quoting the first arguments.
    fn unknown_command(&mut self, args: &[Bytes]) -> Flow {
        self.count_error("unknown_command");
        let mut rest = Vec::new();
        for arg in &args[1..] {
            if rest.len() >= 128 {
                break;
            }
            let room = 128 - rest.len();
            rest.push(b'\'');
            rest.extend_from_slice(c_str(arg, room));
            rest.extend_from_slice(b"' ");
        }
        let message = text(&[
            b"unknown command '",
            c_str(&args[0], 128),
            b"', with args beginning with: ",
            &rest,
        ]);
        tracing::debug!(peer = %self.peer, command = %String::from_utf8_lossy(c_str(&args[0], 64)), "unknown RESP command");
        self.reply().error(&message);
        Flow::Continue
    }

    fn arity_error(&mut self, fullname: &str) -> Flow {
        self.count_error("arity");
        let message = format!("wrong number of arguments for '{fullname}' command");
        self.reply().error(message.as_bytes());
        Flow::Continue
    }

    fn ping(&mut self, args: &[Bytes]) {
        if args.len() > 2 {
            self.arity_error("ping");
            return;
        }
        let subscribed = self.subscriptions() > 0;
        let mut out = self.reply();
        if out.proto == Proto::Resp2 && subscribed {
            out.push(2);
            out.bulk(b"pong");
            out.bulk(args.get(1).map_or(&b""[..], |a| &a[..]));
        } else {
            match args.get(1) {
                Some(arg) => out.bulk(arg),
                None => out.simple("PONG"),
            }
        }
    }

    /// Redis's `validateClientName`: printable ASCII without spaces.
    fn valid_name(&mut self, name: &[u8], what: &str) -> bool {
        if name.iter().all(|&b| (b'!'..=b'~').contains(&b)) {
            return true;
        }
        let message = format!("{what} cannot contain spaces, newlines or special characters.");
        self.reply().error(message.as_bytes());
        false
    }

    fn client_setinfo(&mut self, args: &[Bytes]) {
        let attr = args[2].to_ascii_lowercase();
        if attr != b"lib-name" && attr != b"lib-ver" {
            let message = text(&[b"Unrecognized option '", c_str(&args[2], 128), b"'"]);
            self.reply().error(&message);
            return;
        }
        let what = String::from_utf8_lossy(&args[2]).into_owned();
        if !self.valid_name(&args[3], &what) {
            return;
        }
        let value = (!args[3].is_empty()).then(|| args[3].clone());
        if attr == b"lib-name" {
            self.lib_name = value;
        } else {
            self.lib_ver = value;
        }
        self.reply().ok();
    }

    /// Whether `user`/`password` are valid credentials (user `default` only).
    fn credentials_ok(&self, user: &[u8], password: &[u8]) -> bool {
        if user != b"default" {
            return false;
        }
        match &self.shared.config.password {
            // Like Redis's `nopass` default user: any password is accepted.
            None => true,
            Some(expected) => constant_time_eq(expected.as_bytes(), password),
        }
    }

    fn auth(&mut self, args: &[Bytes]) {
        if args.len() > 3 {
            self.reply().error(b"syntax error");
            return;
        }
        let (user, password): (&[u8], &[u8]) = if args.len() == 2 {
            if self.shared.config.password.is_none() {
                self.reply().error(b"AUTH <password> called without any password configured for the default user. Are you sure your configuration is correct?");
                return;
            }
            (b"default", &args[1])
        } else {
            (&args[1], &args[2])
        };
        if self.credentials_ok(user, password) {
            self.authenticated = true;
            self.reply().ok();
        } else {
            self.wrong_pass();
        }
    }

    fn wrong_pass(&mut self) {
        self.count_error("auth");
        tracing::info!(peer = %self.peer, client = self.id, "RESP AUTH failed");
        self.reply()
            .error(b"-WRONGPASS invalid username-password pair or user is disabled.");
    }

    fn hello(&mut self, args: &[Bytes]) {
        let mut proto = None;
        if let Some(version) = args.get(1) {
            match parse_i64(version) {
                Some(2) => proto = Some(Proto::Resp2),
                Some(3) => proto = Some(Proto::Resp3),
                Some(_) => {
                    self.reply().error(b"-NOPROTO unsupported protocol version");
                    return;
                }
                None => {
                    self.reply()
                        .error(b"Protocol version is not an integer or out of range");
                    return;
                }
            }
        }
        let mut credentials = None;
        let mut name = None;
        let mut j = 2;
        while j < args.len() {
            let more = args.len() - 1 - j;
            let option = args[j].to_ascii_lowercase();
            if option == b"auth" && more >= 2 {
                credentials = Some((args[j + 1].clone(), args[j + 2].clone()));
                j += 3;
            } else if option == b"setname" && more >= 1 {
                if !self.valid_name(&args[j + 1], "Client names") {
                    return;
                }
                name = Some(args[j + 1].clone());
                j += 2;
            } else {
                let message = text(&[
                    b"Syntax error in HELLO option '",
                    c_str(&args[j], usize::MAX),
                    b"'",
                ]);
                self.reply().error(&message);
                return;
            }
        }
        if let Some((user, password)) = credentials {
            if !self.credentials_ok(&user, &password) {
                self.wrong_pass();
                return;
            }
            self.authenticated = true;
        }
        if !self.authenticated {
            self.count_error("auth");
            self.reply().error(b"-NOAUTH HELLO must be called with the client already authenticated, otherwise the HELLO AUTH <user> <pass> option can be used to authenticate the client and select the RESP protocol version at the same time");
            return;
        }
        if let Some(name) = name {
            self.name = (!name.is_empty()).then_some(name);
        }
        if let Some(proto) = proto {
            self.proto = proto;
        }
        let id = self.id as i64;
        let mut out = self.reply();
        let proto_number = if out.proto == Proto::Resp3 { 3 } else { 2 };
        out.map(7);
        out.bulk(b"server");
        out.bulk(b"redis");
        out.bulk(b"version");
        out.bulk(REDIS_VERSION.as_bytes());
        out.bulk(b"proto");
        out.int(proto_number);
        out.bulk(b"id");
        out.int(id);
        out.bulk(b"mode");
        out.bulk(b"standalone");
        out.bulk(b"role");
        out.bulk(b"master");
        out.bulk(b"modules");
        out.array(0);
    }

    fn select(&mut self, index: &[u8]) {
        match parse_i64(index) {
            Some(0) => self.reply().ok(),
            Some(n) if i32::try_from(n).is_ok() => self.reply().error(
                b"DB index is out of range: Switchyard's embedded broker has only DB 0 (pub/sub does not depend on the DB)",
            ),
            _ => self
                .reply()
                .error(b"value is not an integer or out of range"),
        }
    }

    fn info(&mut self) {
        let text = format!(
            "# Server\r\nredis_version:{REDIS_VERSION}\r\nredis_mode:standalone\r\n\
             switchyard_version:{}\r\nswitchyard_note:this is Switchyard's embedded broker, \
             speaking the pub/sub subset of the Redis protocol\r\nprocess_id:{}\r\n\
             tcp_port:{}\r\n",
            env!("CARGO_PKG_VERSION"),
            std::process::id(),
            self.shared.local_addr.port(),
        );
        self.reply().verbatim(&text);
    }
}

/// Compares secrets without an early exit on the first difference.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    let mut diff = a.len() ^ b.len();
    for (i, &x) in a.iter().enumerate() {
        diff |= usize::from(x ^ b.get(i).copied().unwrap_or(!x));
    }
    diff == 0
}
