use super::*;
use crate::config::SaslConfig;

fn session() -> Session {
    let mut c = IrcConfig::new("net", "h:1", "sybot");
    c.channels = vec!["#Rust".into(), "#b".into()];
    Session::new(&c, None)
}

fn feed(s: &mut Session, line: &str) -> Vec<Step> {
    let mut out = Vec::new();
    s.handle(line, &mut out).expect(line);
    out
}

fn sends(steps: &[Step]) -> Vec<&str> {
    steps
        .iter()
        .filter_map(|s| match s {
            Step::Send(l) => Some(l.as_str()),
            _ => None,
        })
        .collect()
}

#[test]
fn registers_joins_and_answers_pings() {
    let mut s = session();
    assert_eq!(s.greeting(), ["NICK sybot", "USER sybot 0 * :switchyard"]);
    assert_eq!(
        sends(&feed(&mut s, "PING :irc.example")),
        ["PONG :irc.example"]
    );
    let steps = feed(&mut s, ":irc.example 001 sybot :Welcome");
    assert_eq!(sends(&steps), ["JOIN #Rust", "JOIN #b"]);
    assert!(steps.contains(&Step::Registered));
    feed(
        &mut s,
        ":irc.example 005 sybot CASEMAPPING=ascii CHANTYPES=# :are supported",
    );
    assert_eq!(s.casemapping(), CaseMapping::Ascii);
    feed(&mut s, ":sybot!u@h JOIN #rust");
    assert_eq!(
        s.upkeep(),
        ["JOIN #b"],
        "#Rust is joined, whatever its case"
    );
    feed(&mut s, ":sybot!u@h JOIN :#b");
    assert!(s.upkeep().is_empty());
    feed(&mut s, ":op!u@h KICK #b sybot :out");
    assert_eq!(s.upkeep(), ["JOIN #b"], "a kick is undone on the next tick");
}

#[test]
fn a_taken_nick_gets_underscores_then_comes_back() {
    let mut s = session();
    let steps = feed(&mut s, ":irc.example 433 * sybot :Nickname already in use");
    assert_eq!(sends(&steps), ["NICK sybot_"]);
    feed(&mut s, ":irc.example 433 * sybot_ :Nickname already in use");
    feed(&mut s, ":irc.example 436 * sybot__ :Nickname collision");
    let steps = feed(&mut s, ":irc.example 433 * sybot___ :in use");
    assert_eq!(sends(&steps), ["NICK sybot4"]);
    feed(&mut s, ":irc.example 001 sybot4 :Welcome");
    assert_eq!(s.nick(), "sybot4");
    assert!(s.upkeep().contains(&"NICK sybot".to_owned()));
    assert!(sends(&feed(&mut s, ":irc.example 433 sybot4 sybot :in use")).is_empty());
    feed(&mut s, ":sybot4!u@h NICK :sybot");
    assert_eq!(s.nick(), "sybot");
    assert!(!s.upkeep().iter().any(|l| l.starts_with("NICK")));
}

#[test]
fn privmsgs_become_events_and_the_rest_does_not() {
    let mut s = session();
    feed(&mut s, ":irc.example 001 sybot :Welcome");
    let heard = |s: &mut Session, line: &str| {
        feed(s, line).into_iter().find_map(|st| match st {
            Step::Heard(h) => Some(h),
            _ => None,
        })
    };
    let h = heard(&mut s, ":Ferris!~f@crab PRIVMSG #Rust :,echo hi : there").expect("channel");
    assert_eq!(h.channel.as_deref(), Some("#Rust"));
    assert_eq!(
        (h.nick.as_str(), h.user.as_str(), h.host.as_str()),
        ("Ferris", "~f", "crab")
    );
    assert_eq!(h.text, ",echo hi : there");
    let h = heard(&mut s, ":Ferris!~f@crab PRIVMSG SyBot :psst").expect("private");
    assert_eq!(h.channel, None);
    let h = heard(
        &mut s,
        ":Ferris!~f@crab PRIVMSG #rust :\x01ACTION waves\x01",
    )
    .expect("action");
    assert!(h.action);
    assert_eq!(h.text, "waves");
    assert!(heard(&mut s, ":Ferris!~f@crab PRIVMSG sybot :\x01VERSION\x01").is_none());
    assert!(heard(&mut s, ":sybot!u@h PRIVMSG #rust :my own").is_none());
    assert!(heard(&mut s, ":Ferris!~f@crab PRIVMSG other :not to us").is_none());
    assert!(heard(&mut s, ":irc.example PRIVMSG #rust :from a server").is_none());
    assert!(
        heard(
            &mut s,
            ":Ferris!~f@crab NOTICE #rust :notices are never answered"
        )
        .is_none()
    );
}

#[test]
fn kills_errors_and_netsplits() {
    let mut s = session();
    feed(&mut s, ":irc.example 001 sybot :Welcome");
    assert!(feed(&mut s, ":op!u@h KILL someone :bye").is_empty());
    assert_eq!(
        feed(&mut s, ":op!u@h KILL sybot :go away"),
        [Step::End(End::Killed("go away".into()))]
    );
    assert_eq!(
        feed(&mut s, "ERROR :Closing link"),
        [Step::End(End::ServerError("Closing link".into()))]
    );
    for _ in 0..3 {
        feed(&mut s, ":a!u@h QUIT :hub.example leaf.example");
    }
    assert_eq!(s.last_split.as_deref(), Some("hub.example leaf.example"));
    feed(&mut s, ":a!u@h QUIT :Quit: gone home");
    assert_eq!(s.last_split.as_deref(), Some("hub.example leaf.example"));
}

#[test]
fn malformed_lines_are_errors_not_panics() {
    let mut s = session();
    let mut out = Vec::new();
    for line in [
        "",
        ":only-a-prefix",
        "@tags-only",
        ":p 001",
        "PRIVMSG",
        ":x PRIVMSG #c",
    ] {
        let _ = s.handle(line, &mut out);
    }
    assert!(s.handle("", &mut out).is_err());
    assert!(
        out.iter().all(|st| !matches!(st, Step::Heard(_))),
        "{out:?}"
    );
}

#[test]
fn sasl_plain_in_order_and_its_failure() {
    let mut c = IrcConfig::new("net", "h:1", "sybot");
    c.sasl = Some(SaslConfig {
        username: "acct".into(),
        password: None,
        password_env: None,
    });
    let mut s = Session::new(&c, Some("hunter2".into()));
    assert_eq!(s.greeting()[0], "CAP LS 302");
    assert!(sends(&feed(&mut s, ":srv CAP * LS * :multi-prefix")).is_empty());
    assert_eq!(
        sends(&feed(
            &mut s,
            ":srv CAP * LS :sasl=PLAIN,EXTERNAL away-notify"
        )),
        ["CAP REQ :sasl"]
    );
    assert_eq!(
        sends(&feed(&mut s, ":srv CAP sybot ACK :sasl")),
        ["AUTHENTICATE PLAIN"]
    );
    // base64("acct\0acct\0hunter2")
    assert_eq!(
        sends(&feed(&mut s, "AUTHENTICATE +")),
        ["AUTHENTICATE YWNjdABhY2N0AGh1bnRlcjI="]
    );
    feed(
        &mut s,
        ":srv 900 sybot sybot!u@h acct :You are now logged in",
    );
    assert_eq!(
        sends(&feed(&mut s, ":srv 903 sybot :SASL successful")),
        ["CAP END"]
    );

    let mut s = Session::new(&c, Some("wrong".into()));
    feed(&mut s, ":srv CAP * LS :sasl");
    feed(&mut s, ":srv CAP * ACK :sasl");
    feed(&mut s, "AUTHENTICATE +");
    let steps = feed(&mut s, ":srv 904 * :SASL authentication failed");
    assert!(matches!(&steps[..], [Step::End(End::SaslFailed(r))] if r.starts_with("904")));

    let mut s = Session::new(&c, Some("x".into()));
    let steps = feed(&mut s, ":srv CAP * LS :multi-prefix");
    assert!(
        matches!(&steps[..], [Step::End(End::SaslFailed(_))]),
        "no SASL offered"
    );
}
