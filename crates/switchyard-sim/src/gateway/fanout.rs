//! Events to sessions: which sessions see an event (its shard, their intents, the bot it
//! concerns) and what they get (MESSAGE_CONTENT stripped without the intent).

use std::sync::Arc;

use crate::state::{Event, Shared};
use crate::world::Guild;
use switchyard_core::gateway_proto::intents;

/// Delivers an event to every session that should see it. Returns how many sessions got it.
pub(crate) fn dispatch(shared: &Shared, event: &Event) -> usize {
    let in_guild = event.guild_id.is_some();
    let needed = intents::required(&event.name, in_guild);
    let own_member_update = event.name == "GUILD_MEMBER_UPDATE";
    let name: Arc<str> = Arc::from(event.name.as_str());
    let mut full: Option<Arc<str>> = None;
    let mut stripped: Option<Arc<str>> = None;
    let mut delivered = 0;
    for s in shared.live_sessions() {
        let bot_id = s.bot.identity.user_id;
        if event.only_bot.is_some_and(|b| b != bot_id) || event.except_bot == Some(bot_id) {
            continue;
        }
        let shard_ok = match event.guild_id {
            Some(g) => Guild::shard(g, s.shard[1]) == s.shard[0],
            None => s.shard[0] == 0,
        };
        if !shard_ok {
            continue;
        }
        if let Some(bit) = needed
            && s.intents & bit == 0
            && !(own_member_update && event.about_user == Some(bot_id))
        {
            continue;
        }
        let strip = in_guild
            && s.intents & intents::MESSAGE_CONTENT == 0
            && event
                .message
                .as_ref()
                .is_some_and(|m| m.author_id != bot_id && !m.mentions.contains(&bot_id));
        let d = if strip {
            stripped.get_or_insert_with(|| {
                let mut d = event.d.clone();
                intents::strip_content(&mut d);
                Arc::from(d.to_string())
            })
        } else {
            full.get_or_insert_with(|| Arc::from(event.d.to_string()))
        };
        if s.push_shared(&name, d, true).is_some() {
            delivered += 1;
        }
    }
    delivered
}

/// Delivers an event whose payload depends on the session (e.g. a GUILD_CREATE, which
/// carries the bot's own member) to every session that should see it, by the same rules as
/// [`dispatch`]: `render` gives a session's payload, or `None` to skip it. Returns how many
/// sessions got it.
pub(crate) fn dispatch_rendered(
    shared: &Shared,
    name: &str,
    guild_id: u64,
    render: impl Fn(&crate::state::session::Session) -> Option<String>,
) -> usize {
    let needed = intents::required(name, true);
    let name: Arc<str> = Arc::from(name);
    let mut delivered = 0;
    for s in shared.live_sessions() {
        if Guild::shard(guild_id, s.shard[1]) != s.shard[0]
            || needed.is_some_and(|bit| s.intents & bit == 0)
        {
            continue;
        }
        let Some(d) = render(&s) else {
            continue;
        };
        if s.push_shared(&name, &Arc::from(d), true).is_some() {
            delivered += 1;
        }
    }
    delivered
}
