//! Which bot a call is about: the `x-switchyard-bot` metadata, or the node's only bot.

use tonic::Status;

/// The metadata key naming the bot.
pub(crate) const BOT_KEY: &str = "x-switchyard-bot";

/// The index in `names` of the bot `metadata` names, or of the only bot when it names none.
pub(crate) fn pick(
    names: &[String],
    metadata: &tonic::metadata::MetadataMap,
) -> Result<usize, Status> {
    let asked = match metadata.get(BOT_KEY).map(|v| v.to_str()) {
        Some(Ok(name)) => Some(name),
        Some(Err(_)) => {
            return Err(Status::invalid_argument(format!(
                "{BOT_KEY} must be a bot's name in ASCII"
            )));
        }
        None => None,
    };
    match asked {
        Some(name) => names.iter().position(|n| n == name).ok_or_else(|| {
            Status::not_found(format!(
                "no bot named {name:?} runs here; this node runs: {}",
                list(names)
            ))
        }),
        None if names.len() == 1 => Ok(0),
        None if names.is_empty() => Err(Status::failed_precondition("this node runs no bot")),
        None => Err(Status::invalid_argument(format!(
            "this node runs several bots ({}): name one in the {BOT_KEY} metadata",
            list(names)
        ))),
    }
}

fn list(names: &[String]) -> String {
    if names.is_empty() {
        "none".to_owned()
    } else {
        names.join(", ")
    }
}
