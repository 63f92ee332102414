//! The protocol of one connection, without I/O: what to send to register (PASS, CAP and SASL
//! PLAIN, NICK, USER), and what each line from the server means: PING, the welcome and
//! `CASEMAPPING`, a nick taken, our joins, kicks and nick changes, a KILL, ERROR, netsplits,
//! and the PRIVMSGs that become events. Lines that do not parse are counted and skipped.

use std::collections::HashSet;

use base64::Engine as _;
use irc_proto::{CapSubCommand, Command, Message, Prefix, Response};

use crate::config::{IrcConfig, Secret};
use crate::names::{self, CaseMapping};

/// Someone said something where we hear it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Heard {
    /// The channel, or `None` for a private message.
    pub(crate) channel: Option<String>,
    pub(crate) nick: String,
    pub(crate) user: String,
    pub(crate) host: String,
    pub(crate) text: String,
    pub(crate) action: bool,
}

/// Why the server ended the session (or we must).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum End {
    /// `ERROR :…`: the server closes the link.
    ServerError(String),
    /// An operator or the server KILLed us.
    Killed(String),
    /// SASL did not succeed.
    SaslFailed(String),
}

impl End {
    /// The `reason` label of the disconnect metric.
    pub(crate) fn label(&self) -> &'static str {
        match self {
            End::ServerError(_) => "server_error",
            End::Killed(_) => "killed",
            End::SaslFailed(_) => "sasl_failed",
        }
    }
}

/// What one line asks of the connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Step {
    /// Send this line now (protocol traffic; not flood-limited).
    Send(String),
    /// Publish this.
    Heard(Heard),
    /// Registration is done: outbound messages may go.
    Registered,
    /// End the session.
    End(End),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Sasl {
    Off,
    Listing,
    Requested,
    Authenticating,
    Done,
}

/// One connection's protocol state.
pub(crate) struct Session {
    network: String,
    wanted_nick: String,
    username: String,
    realname: String,
    password: Option<Secret>,
    sasl_login: Option<(String, Secret)>,
    channels: Vec<String>,
    /// Our nick now.
    nick: String,
    nick_tries: u32,
    registered: bool,
    casemapping: CaseMapping,
    /// The channels we are in, folded.
    joined: HashSet<String>,
    sasl: Sasl,
    caps: String,
    last_split: Option<String>,
}

impl Session {
    /// A session for `config`, with its SASL password read already.
    pub(crate) fn new(config: &IrcConfig, sasl_password: Option<Secret>) -> Self {
        let sasl_login = config
            .sasl
            .as_ref()
            .zip(sasl_password)
            .map(|(s, p)| (s.username.clone(), p));
        Session {
            network: config.network.clone(),
            wanted_nick: config.nick.clone(),
            username: config
                .username
                .clone()
                .unwrap_or_else(|| config.nick.clone()),
            realname: config
                .realname
                .clone()
                .unwrap_or_else(|| "switchyard".into()),
            password: config.password.clone(),
            sasl: if sasl_login.is_some() {
                Sasl::Listing
            } else {
                Sasl::Off
            },
            sasl_login,
            channels: config.channels.clone(),
            nick: config.nick.clone(),
            nick_tries: 0,
            registered: false,
            casemapping: CaseMapping::default(),
            joined: HashSet::new(),
            caps: String::new(),
            last_split: None,
        }
    }

    /// The lines that open the session.
    pub(crate) fn greeting(&self) -> Vec<String> {
        let mut out = Vec::new();
        if let Some(p) = &self.password {
            out.push(format!("PASS :{}", p.expose()));
        }
        if self.sasl != Sasl::Off {
            out.push("CAP LS 302".into());
        }
        out.push(format!("NICK {}", self.nick));
        out.push(format!("USER {} 0 * :{}", self.username, self.realname));
        out
    }

    /// Our nick now.
    pub(crate) fn nick(&self) -> &str {
        &self.nick
    }

    /// The server's case mapping.
    pub(crate) fn casemapping(&self) -> CaseMapping {
        self.casemapping
    }

    /// Whether registration is done.
    pub(crate) fn registered(&self) -> bool {
        self.registered
    }

    /// The channels joined, folded, sorted.
    pub(crate) fn joined(&self) -> Vec<String> {
        let mut v: Vec<String> = self.joined.iter().cloned().collect();
        v.sort();
        v
    }

    /// What to send on a quiet tick: JOIN for the channels we should be in and are not (after
    /// a kick or a netsplit), and our nick back if we had to take another.
    pub(crate) fn upkeep(&self) -> Vec<String> {
        if !self.registered {
            return Vec::new();
        }
        let mut out: Vec<String> = self
            .channels
            .iter()
            .filter(|c| !self.joined.contains(&self.casemapping.lower(c)))
            .map(|c| format!("JOIN {c}"))
            .collect();
        if self.casemapping.lower(&self.nick) != self.casemapping.lower(&self.wanted_nick) {
            out.push(format!("NICK {}", self.wanted_nick));
        }
        out
    }

    fn is_me(&self, nick: &str) -> bool {
        self.casemapping.lower(nick) == self.casemapping.lower(&self.nick)
    }

    /// Reads one line from the server. `Err` for a line that does not parse (the caller
    /// counts and logs it).
    pub(crate) fn handle(&mut self, line: &str, out: &mut Vec<Step>) -> Result<(), String> {
        let msg: Message = line.parse().map_err(|e| format!("{e}"))?;
        let from = match &msg.prefix {
            Some(Prefix::Nickname(n, u, h)) => Some((n.as_str(), u.as_str(), h.as_str())),
            _ => None,
        };
        match msg.command {
            Command::PING(token, _) => out.push(Step::Send(format!("PONG :{token}"))),
            Command::Response(resp, args) => self.numeric(resp, &args, out),
            Command::NICK(new) => {
                if let Some((n, _, _)) = from
                    && self.is_me(n)
                {
                    tracing::info!(network = %self.network, old = %n, new = %new, "our nick changed");
                    self.nick = new;
                }
            }
            Command::JOIN(chans, _, _) => {
                if let Some((n, _, _)) = from
                    && self.is_me(n)
                {
                    for c in chans.split(',') {
                        tracing::info!(network = %self.network, channel = %c, "joined");
                        self.joined.insert(self.casemapping.lower(c));
                    }
                }
            }
            Command::PART(chans, _) => {
                if let Some((n, _, _)) = from
                    && self.is_me(n)
                {
                    for c in chans.split(',') {
                        self.joined.remove(&self.casemapping.lower(c));
                    }
                }
            }
            Command::KICK(chan, who, reason) if self.is_me(&who) => {
                tracing::warn!(network = %self.network, channel = %chan, reason = ?reason, "kicked; joining again on the next tick");
                metrics::counter!("switchyard_irc_kicks_total", "network" => self.network.clone())
                    .increment(1);
                self.joined.remove(&self.casemapping.lower(&chan));
            }
            Command::KILL(target, reason) if self.is_me(&target) => {
                out.push(Step::End(End::Killed(reason)));
            }
            Command::ERROR(reason) => out.push(Step::End(End::ServerError(reason))),
            Command::QUIT(Some(reason)) => self.quit(&reason),
            Command::CAP(_, sub, a, b) => self.cap(sub, a, b, out),
            Command::AUTHENTICATE(data) if data == "+" => self.authenticate(out),
            Command::PRIVMSG(target, text) => {
                if let Some((n, u, h)) = from
                    && !self.is_me(n)
                {
                    self.privmsg(&target, text, (n, u, h), out);
                }
            }
            _ => {}
        }
        Ok(())
    }

    fn numeric(&mut self, resp: Response, args: &[String], out: &mut Vec<Step>) {
        match resp {
            Response::RPL_WELCOME => {
                if let Some(n) = args.first() {
                    self.nick = n.clone();
                }
                self.registered = true;
                self.joined.clear();
                tracing::info!(network = %self.network, nick = %self.nick, "registered");
                out.extend(
                    self.channels
                        .iter()
                        .map(|c| Step::Send(format!("JOIN {c}"))),
                );
                out.push(Step::Registered);
            }
            Response::RPL_ISUPPORT => {
                for token in args {
                    if let Some(v) = token.strip_prefix("CASEMAPPING=") {
                        self.casemapping = CaseMapping::from_token(v);
                    }
                }
            }
            Response::ERR_NICKNAMEINUSE
            | Response::ERR_NICKCOLLISION
            | Response::ERR_ERRONEOUSNICKNAME => {
                if self.registered {
                    // Our attempt to take our nick back: not a new collision.
                    tracing::debug!(network = %self.network, "our nick is still taken");
                    return;
                }
                metrics::counter!("switchyard_irc_nick_collisions_total", "network" => self.network.clone()).increment(1);
                self.nick_tries += 1;
                self.nick = match self.nick_tries {
                    n @ 1..=3 => format!("{}{}", self.wanted_nick, "_".repeat(n as usize)),
                    n => format!("{}{n}", self.wanted_nick),
                };
                tracing::warn!(network = %self.network, wanted = %self.wanted_nick, trying = %self.nick, "nick taken");
                out.push(Step::Send(format!("NICK {}", self.nick)));
            }
            Response::RPL_LOGGEDIN => {
                tracing::info!(network = %self.network, "SASL: logged in");
            }
            Response::RPL_SASLSUCCESS => {
                self.sasl = Sasl::Done;
                out.push(Step::Send("CAP END".into()));
            }
            Response::ERR_NICKLOCKED
            | Response::ERR_SASLFAIL
            | Response::ERR_SASLTOOLONG
            | Response::ERR_SASLABORT
            | Response::RPL_SASLMECHS
                if self.sasl != Sasl::Done =>
            {
                let reason = args.last().cloned().unwrap_or_default();
                out.push(Step::End(End::SaslFailed(format!(
                    "{} {reason}",
                    resp as u16
                ))));
            }
            _ => {}
        }
    }

    fn quit(&mut self, reason: &str) {
        // A netsplit's QUIT reason is the two servers' names.
        let mut parts = reason.split(' ');
        let split = matches!((parts.next(), parts.next(), parts.next()),
            (Some(a), Some(b), None) if a.contains('.') && b.contains('.'));
        if split && self.last_split.as_deref() != Some(reason) {
            tracing::warn!(network = %self.network, servers = %reason, "netsplit");
            metrics::counter!("switchyard_irc_netsplits_total", "network" => self.network.clone())
                .increment(1);
            self.last_split = Some(reason.to_owned());
        }
    }

    fn cap(
        &mut self,
        sub: CapSubCommand,
        a: Option<String>,
        b: Option<String>,
        out: &mut Vec<Step>,
    ) {
        let more = a.as_deref() == Some("*") && b.is_some();
        let caps = b.or(a).unwrap_or_default();
        let has_sasl = caps
            .split(' ')
            .any(|c| c == "sasl" || c.starts_with("sasl="));
        match (self.sasl, sub) {
            (Sasl::Listing, CapSubCommand::LS) => {
                self.caps.push(' ');
                self.caps.push_str(&caps);
                if more {
                    return;
                }
                let offered = self
                    .caps
                    .split(' ')
                    .find_map(|c| (c == "sasl").then_some("").or(c.strip_prefix("sasl=")));
                match offered {
                    Some(mechs) if mechs.is_empty() || mechs.split(',').any(|m| m == "PLAIN") => {
                        self.sasl = Sasl::Requested;
                        out.push(Step::Send("CAP REQ :sasl".into()));
                    }
                    _ => out.push(Step::End(End::SaslFailed(
                        "the server offers no SASL PLAIN".into(),
                    ))),
                }
            }
            (Sasl::Requested, CapSubCommand::ACK) if has_sasl => {
                self.sasl = Sasl::Authenticating;
                out.push(Step::Send("AUTHENTICATE PLAIN".into()));
            }
            (Sasl::Requested, CapSubCommand::NAK) => out.push(Step::End(End::SaslFailed(
                "the server refused the sasl capability".into(),
            ))),
            _ => {}
        }
    }

    fn authenticate(&mut self, out: &mut Vec<Step>) {
        let Some((user, password)) = self
            .sasl_login
            .as_ref()
            .filter(|_| self.sasl == Sasl::Authenticating)
        else {
            return;
        };
        let plain = format!("{user}\0{user}\0{}", password.expose());
        let encoded = base64::engine::general_purpose::STANDARD.encode(plain);
        // At most 400 bytes per line; a last chunk of exactly 400 is followed by `+`.
        let chunks: Vec<&str> = encoded
            .as_bytes()
            .chunks(400)
            .map(|c| std::str::from_utf8(c).unwrap_or(""))
            .collect();
        for c in &chunks {
            out.push(Step::Send(format!("AUTHENTICATE {c}")));
        }
        if chunks.last().is_none_or(|c| c.len() == 400) {
            out.push(Step::Send("AUTHENTICATE +".into()));
        }
    }

    fn privmsg(
        &self,
        target: &str,
        text: String,
        (n, u, h): (&str, &str, &str),
        out: &mut Vec<Step>,
    ) {
        let channel = if names::is_channel(target) {
            Some(target.to_owned())
        } else if self.is_me(target) {
            None
        } else {
            return; // a server mask or someone else: not ours to answer
        };
        let (text, action) = match text.strip_prefix('\x01') {
            Some(ctcp) => match ctcp.trim_end_matches('\x01').strip_prefix("ACTION ") {
                Some(act) => (act.to_owned(), true),
                None => return, // VERSION, PING…: not messages
            },
            None => (text, false),
        };
        if text.trim().is_empty() {
            return;
        }
        out.push(Step::Heard(Heard {
            channel,
            nick: n.to_owned(),
            user: u.to_owned(),
            host: h.to_owned(),
            text,
            action,
        }));
    }
}

#[cfg(test)]
#[path = "session_tests.rs"]
mod tests;
