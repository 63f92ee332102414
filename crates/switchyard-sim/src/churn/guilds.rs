//! The guild's own fields (GUILD_UPDATE), and outages: a guild becoming unavailable
//! (GUILD_DELETE with `unavailable: true`) and available again (a full GUILD_CREATE).
//!
//! Rules, from Discord's gateway documentation:
//! - GUILD_UPDATE is the guild object (its roles, emojis and stickers included), without the
//!   fields only GUILD_CREATE carries (`joined_at`, `large`, `member_count`, the member,
//!   channel, presence and voice lists...).
//! - "Sent when a guild becomes or was already unavailable due to an outage ... If the
//!   `unavailable` field is not set, the user was removed from the guild": an outage is
//!   GUILD_DELETE `{id, unavailable: true}`; nothing of the guild is sent meanwhile, and
//!   GUILD_CREATE is sent "when a Guild becomes available again to the client", carrying
//!   the guild as it is then (what changed meanwhile included).

use serde_json::json;

use super::Ctx;

const NAMES: &[&str] = &["Cozy Corner", "Night Shift", "Pixel Pub", "Quiet Quarter"];

/// One of the guild's own fields changes.
pub(super) fn update(cx: &mut Ctx<'_>) -> bool {
    let Some(before) = cx.state.guild(cx.guild) else {
        return false;
    };
    let (key, value) = match cx.rng.below(6) {
        0 => (
            "name",
            json!(format!(
                "{} {}",
                cx.pick(NAMES).unwrap_or("Guild"),
                cx.rng.below(100)
            )),
        ),
        1 => ("description", json!(super::words(cx.rng, 6))),
        2 => ("verification_level", json!(cx.rng.below(5))),
        3 => (
            "afk_timeout",
            json!(cx.pick(&[60, 300, 900, 3600]).unwrap_or(300)),
        ),
        4 => ("icon", json!(super::hash(cx.rng))),
        _ => ("premium_subscription_count", json!(cx.rng.below(30))),
    };
    if let Some(g) = cx.state.guilds.get_mut(&cx.guild) {
        g.fields.insert(key.to_owned(), value);
    }
    let Some(d) = cx.state.guild_object(cx.guild) else {
        return false;
    };
    cx.emit("GUILD_UPDATE", d, Some(before));
    true
}

/// The guild becomes unavailable; not while the bots cannot view one of its channels (the
/// GUILD_CREATE that ends the outage would not list that channel's threads, and what the
/// bots knew of their messages would differ from the state's).
pub(super) fn outage(cx: &mut Ctx<'_>) -> bool {
    if cx
        .state
        .guilds
        .get(&cx.guild)
        .is_none_or(|g| !g.hidden.is_empty())
    {
        return false;
    }
    let Some(before) = cx.state.guild(cx.guild) else {
        return false;
    };
    cx.emit(
        "GUILD_DELETE",
        json!({"id": cx.gid(), "unavailable": true}),
        Some(before),
    );
    if let Some(g) = cx.state.guilds.get_mut(&cx.guild) {
        g.unavailable = true;
    }
    true
}

/// The guild is available again: its GUILD_CREATE, rendered for the churn's bot.
pub(super) fn recover(cx: &mut Ctx<'_>) {
    if let Some(g) = cx.state.guilds.get_mut(&cx.guild) {
        g.unavailable = false;
    }
    if let Some(d) = cx.state.guild_create(cx.guild, cx.bot, 250, true) {
        cx.emit("GUILD_CREATE", d, None);
    }
}
