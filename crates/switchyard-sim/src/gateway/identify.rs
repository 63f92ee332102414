//! IDENTIFY and RESUME: validation with Discord's close codes, identify rate limiting by
//! bucket, the session-start limit, READY and the GUILD_CREATE burst.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::state::session::{ConnCommand, ConnLink, Session};
use crate::state::{Shared, lock};
use switchyard_core::gateway_proto::frame::{CloseReason, Identify, Resume};
use switchyard_core::gateway_proto::intents;

/// What an IDENTIFY leads to.
#[derive(Debug)]
pub enum IdentifyOutcome {
    /// A new session; READY and the GUILD_CREATEs are queued on it.
    Ready(Arc<Session>),
    /// Identify rate limited: answer INVALID_SESSION(false).
    InvalidSession,
    /// Close with this code.
    Close(CloseReason),
}

/// What a RESUME leads to.
#[derive(Debug)]
pub enum ResumeOutcome {
    /// Resumed: replay everything after the given seq, then RESUMED.
    Resumed(Arc<Session>, u64),
    /// Unknown, ended or too old: answer INVALID_SESSION(false).
    InvalidSession,
    /// Close with this code.
    Close(CloseReason),
}

fn new_session_id(shared: &Shared) -> String {
    let n = shared.ids.next();
    format!(
        "{:016x}{:016x}",
        xxhash_rust::xxh3::xxh3_64(&n.to_le_bytes()),
        n
    )
}

/// Handles an IDENTIFY from connection `link`.
pub fn identify(shared: &Shared, link: ConnLink, ident: &Identify) -> IdentifyOutcome {
    let cfg = &shared.config;
    let Some(bot) = shared.bot(&ident.token) else {
        return IdentifyOutcome::Close(CloseReason::AUTH_FAILED);
    };
    let Some(wanted) = ident.intents else {
        return IdentifyOutcome::Close(CloseReason::INVALID_INTENTS);
    };
    if let Err(reason) = intents::validate(wanted, cfg.approved_intents_for(&bot.token)) {
        return IdentifyOutcome::Close(reason);
    }
    let [id, n] = ident.shard.unwrap_or([0, 1]);
    if n == 0 || id >= n || n > 65_535 || n % u64::from(cfg.shard_count_multiple.max(1)) != 0 {
        return IdentifyOutcome::Close(CloseReason::INVALID_SHARD);
    }
    let shard = [id as u32, n as u32];
    if shared.world.shard_guilds(shard[0], shard[1]).count() > cfg.max_guilds_per_shard {
        return IdentifyOutcome::Close(CloseReason::SHARDING_REQUIRED);
    }
    let period = Duration::from_millis(cfg.session_start_reset_ms);
    let (remaining, _) = bot.session_starts(cfg.session_start_total, period);
    if remaining == 0 {
        // Discord's docs: hitting the limit terminates every session and resets the token.
        bot.revoked.store(true, Ordering::Relaxed);
        for s in shared
            .live_sessions()
            .into_iter()
            .filter(|s| Arc::ptr_eq(&s.bot, &bot))
        {
            s.command(ConnCommand::Close(4004));
            s.end();
        }
        tracing::warn!(
            bot = bot.identity.user_id,
            "session start limit exhausted: token revoked"
        );
        return IdentifyOutcome::Close(CloseReason::AUTH_FAILED);
    }
    {
        let bucket = shard[0] % cfg.max_concurrency.max(1);
        let window = Duration::from_millis(cfg.timings.identify_window_ms);
        let mut limits = lock(&bot.limits);
        let now = Instant::now();
        if limits
            .identify_last
            .get(&bucket)
            .is_some_and(|t| now.duration_since(*t) < window)
        {
            shared.identifies_too_fast.fetch_add(1, Ordering::Relaxed);
            return IdentifyOutcome::InvalidSession;
        }
        limits.identify_last.insert(bucket, now);
        limits.starts_used += 1;
        shared.identifies.fetch_add(1, Ordering::Relaxed);
    }
    let session = Arc::new(Session::new(
        new_session_id(shared),
        bot.clone(),
        shard,
        ident.shard.is_some(),
        wanted,
        cfg.replay_buffer,
    ));
    {
        let mut inner = session.lock();
        inner.conn = Some(link);
        inner.presence = ident.presence.clone().unwrap_or(Value::Null);
    }
    // Held until the GUILD_CREATEs are queued: a churn's event is then either shown in them
    // or dispatched to this session after them.
    let churn = lock(&shared.churn);
    let older: Vec<Arc<Session>> = {
        let mut sessions = lock(&shared.sessions);
        sessions.insert(session.id.clone(), session.clone());
        sessions
            .values()
            .filter(|o| o.id != session.id && o.shard == shard)
            .filter(|o| o.bot.identity.user_id == bot.identity.user_id)
            .cloned()
            .collect()
    };
    // The bot's older sessions on this shard get the same events as this one from now on
    // (marked after the insert, so that an event in between counts as theirs alone); an
    // ended one only learns which IDENTIFY came next.
    for other in older {
        let mut o = other.lock();
        if o.superseded_by.is_none() {
            o.superseded_by = Some(session.id.clone());
            if !o.ended {
                o.superseded_at = Some(o.seq);
            }
        }
    }
    let guilds = shared.shard_guilds(shard);
    let mut ready = json!({
        "v": 10,
        "user": {
            "id": bot.identity.user_id.to_string(), "username": bot.identity.username,
            "discriminator": "0", "global_name": null, "avatar": null, "bot": true,
            "verified": true, "mfa_enabled": false, "email": null, "flags": 0,
            "public_flags": 0, "banner": null, "accent_color": null,
        },
        "user_settings": {}, "private_channels": [], "relationships": [], "presences": [],
        "guild_join_requests": [], "geo_ordered_rtc_regions": ["us-east", "us-central"],
        "guilds": guilds.iter().map(|g| json!({"id": g.id.to_string(), "unavailable": true})).collect::<Vec<_>>(),
        "session_type": "normal",
        "session_id": session.id,
        "resume_gateway_url": shared.ws_url,
        "application": {"id": bot.identity.application_id.to_string(), "flags": 565_248},
        "auth": {},
        "_trace": ["[\"switchyard-sim\",{\"micros\":0}]"],
    });
    if session.shard_given {
        ready["shard"] = json!(shard);
    }
    session.push("READY", &ready.to_string());
    let threshold = ident.large_threshold.unwrap_or(50).clamp(50, 250) as usize;
    let presences = wanted & intents::GUILD_PRESENCES != 0;
    for g in guilds {
        let d = match churn.as_ref() {
            Some(churn) => churn
                .state()
                .guild_create(g.id, &bot.user(), threshold, presences),
            None => Some(g.create_json(&bot.identity, threshold)),
        };
        if let Some(d) = d {
            session.push("GUILD_CREATE", &d.to_string());
        }
    }
    drop(churn);
    tracing::debug!(session = %session.id, shard = ?shard, "identified");
    IdentifyOutcome::Ready(session)
}

/// Handles a RESUME from connection `link`.
pub fn resume(shared: &Shared, link: ConnLink, r: &Resume) -> ResumeOutcome {
    let Some(bot) = shared.bot(&r.token) else {
        return ResumeOutcome::Close(CloseReason::AUTH_FAILED);
    };
    let window = Duration::from_millis(shared.config.timings.resume_window_ms);
    let Some(session) = shared.session(&r.session_id) else {
        return ResumeOutcome::InvalidSession;
    };
    if !Arc::ptr_eq(&session.bot, &bot) && session.bot.token != bot.token {
        return ResumeOutcome::InvalidSession;
    }
    if !session.resumable(Instant::now(), window) {
        session.end();
        return ResumeOutcome::InvalidSession;
    }
    let seq = r.seq.unwrap_or(0);
    let mut inner = session.lock();
    if seq > inner.seq {
        // 4007 means "start a new session": this one can no longer be resumed, and a
        // connection still attached to it is told so.
        let old = inner.conn.clone();
        drop(inner);
        session.end();
        if let Some(old) = old {
            let _ = old.tx.send(ConnCommand::InvalidSession(false));
        }
        return ResumeOutcome::Close(CloseReason::INVALID_SEQ);
    }
    if inner.buffer.front().is_some_and(|q| q.seq > seq + 1) {
        drop(inner);
        session.end();
        return ResumeOutcome::InvalidSession;
    }
    if let Some(old) = inner.conn.replace(link) {
        let _ = old.tx.send(ConnCommand::Replaced);
    }
    inner.disconnected_at = None;
    inner.resumes += 1;
    drop(inner);
    ResumeOutcome::Resumed(session, seq)
}
