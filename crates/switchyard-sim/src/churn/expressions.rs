//! Emojis and stickers added, renamed and removed (GUILD_EMOJIS_UPDATE,
//! GUILD_STICKERS_UPDATE).
//!
//! Rule, from Discord's gateway documentation: each event carries `guild_id` and the whole
//! new list (`emojis`, `stickers`), never the one that changed. The optional `user` (who
//! uploaded it) is left out: a copy of a user inside a list would go stale when the user
//! changes, and nothing sends the list again for that.

use serde_json::json;

use super::Ctx;

/// Emojis a guild keeps at most.
const MAX_EMOJIS: usize = 6;
/// Stickers a guild keeps at most.
const MAX_STICKERS: usize = 4;

const NAMES: &[&str] = &["pog", "kekw", "blobwave", "partyparrot", "sadcat", "thonk"];

/// One emoji is added, renamed or removed.
pub(super) fn emojis(cx: &mut Ctx<'_>) -> bool {
    let Some(before) = cx.state.guilds.get(&cx.guild).map(|g| g.emojis.clone()) else {
        return false;
    };
    let mut list = before.clone();
    if list.len() < MAX_EMOJIS && (list.is_empty() || cx.chance(50)) {
        let id = cx.state.next_id();
        let emoji = json!({
            "id": id.to_string(), "name": name(cx), "roles": [], "require_colons": true,
            "managed": false, "animated": cx.chance(30), "available": true,
        });
        list.push(emoji);
    } else if cx.chance(50) {
        let at = cx.rng.below(list.len() as u64) as usize;
        list.remove(at);
    } else {
        let at = cx.rng.below(list.len() as u64) as usize;
        let name = name(cx);
        if let Some(e) = list.get_mut(at) {
            e["name"] = json!(name);
        }
    }
    if let Some(g) = cx.state.guilds.get_mut(&cx.guild) {
        g.emojis = list.clone();
    }
    let d = json!({"guild_id": cx.gid(), "emojis": list});
    cx.emit("GUILD_EMOJIS_UPDATE", d, Some(json!(before)));
    true
}

/// One sticker is added, renamed or removed.
pub(super) fn stickers(cx: &mut Ctx<'_>) -> bool {
    let Some(before) = cx.state.guilds.get(&cx.guild).map(|g| g.stickers.clone()) else {
        return false;
    };
    let mut list = before.clone();
    if list.len() < MAX_STICKERS && (list.is_empty() || cx.chance(50)) {
        let id = cx.state.next_id();
        let sticker = json!({
            "id": id.to_string(), "name": name(cx), "tags": name(cx),
            "type": 2, "format_type": 1, "description": super::words(cx.rng, 4),
            "available": true, "guild_id": cx.gid(),
        });
        list.push(sticker);
    } else if cx.chance(50) {
        let at = cx.rng.below(list.len() as u64) as usize;
        list.remove(at);
    } else {
        let at = cx.rng.below(list.len() as u64) as usize;
        let description = super::words(cx.rng, 4);
        if let Some(s) = list.get_mut(at) {
            s["description"] = json!(description);
        }
    }
    if let Some(g) = cx.state.guilds.get_mut(&cx.guild) {
        g.stickers = list.clone();
    }
    let d = json!({"guild_id": cx.gid(), "stickers": list});
    cx.emit("GUILD_STICKERS_UPDATE", d, Some(json!(before)));
    true
}

fn name(cx: &mut Ctx<'_>) -> String {
    format!("{}{}", cx.pick(NAMES).unwrap_or("emoji"), cx.rng.below(100))
}
