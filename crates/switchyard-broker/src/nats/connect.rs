//! Connecting to NATS: credentials from the URL, bounded retries at start with errors that say
//! what to check, and the client's own reconnection with our backoff afterwards.

use crate::{BrokerError, BrokerOptions, BrokerUrl};

/// What to check when NATS cannot be reached.
const HINT: &str =
    "that nats-server is running and reachable at that host and port (with -js for durable mode)";

/// Splits `nats://user:pass@host:port` into the address and its credentials. A cluster is
/// named by its servers, comma-separated (`nats://a:4222,nats://b:4222`): the client picks
/// one and fails over to the others; credentials may be written on any of them.
fn credentials(server: &str) -> (Vec<String>, Option<(String, Option<String>)>) {
    let mut creds = None;
    let addresses: Vec<String> = server
        .split(',')
        .map(|one| {
            let (address, found) = one_credentials(one.trim());
            creds = creds.take().or(found);
            address
        })
        .collect();
    (addresses, creds)
}

fn one_credentials(server: &str) -> (String, Option<(String, Option<String>)>) {
    let Some((scheme, rest)) = server.split_once("://") else {
        return (server.to_owned(), None);
    };
    let (authority, path) = match rest.find('/') {
        Some(i) => rest.split_at(i),
        None => (rest, ""),
    };
    match authority.rsplit_once('@') {
        Some((userinfo, host)) => {
            let creds = match userinfo.split_once(':') {
                Some((u, p)) => (u.to_owned(), Some(p.to_owned())),
                None => (userinfo.to_owned(), None),
            };
            (format!("{scheme}://{host}{path}"), Some(creds))
        }
        None => (server.to_owned(), None),
    }
}

/// Connects, retrying per `options.retry`.
pub(crate) async fn connect(
    url: &BrokerUrl,
    options: &BrokerOptions,
) -> Result<async_nats::Client, BrokerError> {
    let (addresses, creds) = credentials(url.server());
    let redacted = url.redacted();
    let mut done = 0u32;
    loop {
        done += 1;
        let retry = options.retry;
        let events_url = redacted.clone();
        let mut connect = async_nats::ConnectOptions::new()
            .connection_timeout(options.response_timeout.min(std::time::Duration::from_secs(5)))
            .request_timeout(Some(options.response_timeout))
            .client_capacity(options.outage_buffer.max(1))
            .subscription_capacity(options.subscriber_buffer.max(1))
            .reconnect_delay_callback(move |attempts| retry.delay(attempts as u32))
            .event_callback(move |event| {
                let url = events_url.clone();
                async move {
                    match event {
                        async_nats::Event::Disconnected => tracing::warn!(
                            "lost the connection to NATS at {url}; reconnecting (core subscriptions miss what is published meanwhile)"
                        ),
                        async_nats::Event::Connected => {
                            tracing::info!("connected to NATS at {url}")
                        }
                        async_nats::Event::SlowConsumer(sid) => tracing::warn!(
                            "NATS at {url}: subscription {sid} is too slow; messages were dropped"
                        ),
                        other => tracing::debug!("NATS at {url}: {other}"),
                    }
                }
            });
        connect = match &creds {
            Some((user, Some(pass))) => connect.user_and_password(user.clone(), pass.clone()),
            Some((token, None)) => connect.token(token.clone()),
            None => connect,
        };
        match connect.connect(addresses.as_slice()).await {
            Ok(client) => return Ok(client),
            Err(e) => {
                use async_nats::ConnectErrorKind as K;
                if matches!(e.kind(), K::AuthorizationViolation | K::Authentication) {
                    return Err(BrokerError::Auth {
                        url: redacted,
                        detail: e.to_string(),
                    });
                }
                if matches!(e.kind(), K::ServerParse) {
                    return Err(BrokerError::Config(format!(
                        "{redacted} is not a usable NATS URL: {e}"
                    )));
                }
                if !options.retry.may_retry(done) {
                    return Err(BrokerError::Unreachable {
                        url: redacted,
                        attempts: done,
                        detail: e.to_string(),
                        hint: HINT,
                    });
                }
                let delay = options.retry.delay(done);
                tracing::warn!(
                    "cannot reach NATS at {redacted} (attempt {done}): {e}; retrying in {delay:?} (check {HINT})"
                );
                tokio::time::sleep(delay).await;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::credentials;

    #[test]
    fn credentials_come_out_of_the_address() {
        let one = |s: &str| vec![s.to_owned()];
        assert_eq!(
            credentials("nats://u:p@h:1"),
            (
                one("nats://h:1"),
                Some(("u".to_owned(), Some("p".to_owned())))
            )
        );
        assert_eq!(
            credentials("nats://tok@h:1"),
            (one("nats://h:1"), Some(("tok".to_owned(), None)))
        );
        assert_eq!(credentials("nats://h:1"), (one("nats://h:1"), None));
        assert_eq!(
            credentials("nats://u:p@a:1, nats://b:2,c:3"),
            (
                vec!["nats://a:1".into(), "nats://b:2".into(), "c:3".into()],
                Some(("u".to_owned(), Some("p".to_owned())))
            )
        );
    }
}
