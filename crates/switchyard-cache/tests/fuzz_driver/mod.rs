//! The cache's fuzz driver, shared by the cargo-fuzz target (`fuzz/fuzz_targets/
//! cache_events.rs`) and the corpus replay (`tests/fuzz_corpus.rs`).
//!
//! An input is a sequence of events separated by NUL bytes; each starts with one byte that
//! picks the event name from [`EVENTS`], followed by its payload. Whatever the payloads, the
//! cache never panics, every `old` is JSON, an event it cannot read leaves it as it was, and
//! every read answers.

use switchyard_cache::{CacheConfig, Id, MemberQuery, PresenceStatus, ShardCache};

/// The events the cache reads (and one it does not).
pub const EVENTS: &[&str] = &[
    "READY",
    "GUILD_CREATE",
    "GUILD_UPDATE",
    "GUILD_DELETE",
    "USER_UPDATE",
    "CHANNEL_CREATE",
    "CHANNEL_UPDATE",
    "CHANNEL_DELETE",
    "THREAD_CREATE",
    "THREAD_UPDATE",
    "THREAD_DELETE",
    "THREAD_LIST_SYNC",
    "GUILD_ROLE_CREATE",
    "GUILD_ROLE_UPDATE",
    "GUILD_ROLE_DELETE",
    "GUILD_MEMBER_ADD",
    "GUILD_MEMBER_UPDATE",
    "GUILD_MEMBER_REMOVE",
    "GUILD_MEMBERS_CHUNK",
    "MESSAGE_CREATE",
    "MESSAGE_UPDATE",
    "MESSAGE_DELETE",
    "MESSAGE_DELETE_BULK",
    "GUILD_EMOJIS_UPDATE",
    "GUILD_STICKERS_UPDATE",
    "PRESENCE_UPDATE",
    "VOICE_STATE_UPDATE",
    "STAGE_INSTANCE_CREATE",
    "STAGE_INSTANCE_UPDATE",
    "STAGE_INSTANCE_DELETE",
    "GUILD_SCHEDULED_EVENT_CREATE",
    "GUILD_SCHEDULED_EVENT_UPDATE",
    "GUILD_SCHEDULED_EVENT_DELETE",
    "TYPING_START",
];

/// Runs one input.
pub fn run(data: &[u8]) {
    let mut cache = ShardCache::new(CacheConfig {
        messages: 3,
        ..CacheConfig::all()
    });
    for chunk in data.split(|b| *b == 0) {
        let Some((&pick, rest)) = chunk.split_first() else {
            continue;
        };
        let event = EVENTS[usize::from(pick) % EVENTS.len()];
        let Ok(text) = std::str::from_utf8(rest) else {
            continue;
        };
        let before = cache.counts();
        match cache.apply(event, text) {
            Ok(Some(old)) => {
                let parsed: Result<serde_json::Value, _> = serde_json::from_str(old.get());
                assert!(parsed.is_ok(), "{event}: old is not JSON: {}", old.get());
            }
            Ok(None) => {}
            Err(e) => assert_eq!(
                cache.counts(),
                before,
                "{event}: an event the cache cannot read ({e}) changed it"
            ),
        }
        read_everything(&mut cache);
    }
}

/// Every read, on the ids the seeds use.
fn read_everything(cache: &mut ShardCache) {
    let (guild, user, channel) = (Id(1), Id(10), Id(100));
    let _ = cache.counts();
    let _ = cache.guild(guild);
    let _ = cache.guild_channels(guild);
    let _ = cache.guild_roles(guild);
    let _ = cache.member(guild, user);
    let _ = cache.members_page(guild, Id(0), 10);
    let _ = cache.presence(guild, user);
    let _ = cache.voice_state(guild, user);
    let _ = cache.channel_voice_states(guild, channel);
    let _ = cache.messages_page(channel, None, 10);
    let _ = cache.user(user);
    let _ = cache.user_guilds(user);
    let _ = cache.missing_members(guild);
    let _ = cache.permissions(guild, user, Some(channel), 0);
    let _ = cache.permissions(guild, user, None, 0);
    for status in [None, Some(PresenceStatus::Online)] {
        let query = MemberQuery {
            prefix: Some("a".into()),
            role: None,
            status,
            limit: 5,
        };
        let _ = cache.search_members(guild, &query);
    }
}
