//! The checks of the `grpc_requests` fuzz target (`fuzz/`), and their replay of its corpus
//! in an ordinary test: whatever bytes a client sends as a request message, decoding never
//! panics, a decoded message encodes back to one that decodes the same, and a cache read is
//! either refused with INVALID_ARGUMENT or becomes a query that survives the JSON it is
//! forwarded between nodes in. A REST call is refused with INVALID_ARGUMENT or becomes a
//! request; a typed call's route is the one it names, whatever its fields hold (no `..`, `?`
//! or `#` slipped into its path).

use prost::Message;
use switchyard_gateway::CacheQuery;

use crate::proto::{
    CreateMessageRequest, InteractionResponseRequest, ListBotsRequest, MemberRoleTarget,
    ReactionTarget, ReadManyRequest, ReadRequest, RestRequest, ServiceCommand,
};
use crate::query::to_query;
use crate::rest;

/// Reads `data` as each request message the services take, and checks what comes of it.
pub fn run(data: &[u8]) {
    if let Ok(read) = ReadRequest::decode(data) {
        round_trip(&read);
        check_read(read);
    }
    if let Ok(many) = ReadManyRequest::decode(data) {
        round_trip(&many);
        for read in many.reads {
            check_read(read);
        }
    }
    if let Ok(command) = ServiceCommand::decode(data) {
        round_trip(&command);
    }
    if let Ok(list) = ListBotsRequest::decode(data) {
        round_trip(&list);
    }
    check_rest(data);
}

fn check_rest(data: &[u8]) {
    if let Ok(r) = RestRequest::decode(data) {
        round_trip(&r);
        refused_or(rest::general(r), |_| true);
    }
    if let Ok(r) = CreateMessageRequest::decode(data) {
        round_trip(&r);
        refused_or(rest::create_message(r), |req| typed_path(&req.path));
    }
    if let Ok(r) = ReactionTarget::decode(data) {
        round_trip(&r);
        refused_or(rest::reaction_path(&r), |path| typed_path(path));
    }
    if let Ok(r) = MemberRoleTarget::decode(data) {
        round_trip(&r);
        refused_or(rest::member_role(http::Method::PUT, r), |req| {
            typed_path(&req.path)
        });
    }
    if let Ok(r) = InteractionResponseRequest::decode(data) {
        round_trip(&r);
        refused_or(rest::interaction_response(r), |req| typed_path(&req.path));
    }
}

/// Either built, and `ok` holds of what was built, or refused with INVALID_ARGUMENT and a
/// message.
fn refused_or<T: std::fmt::Debug>(built: Result<T, tonic::Status>, ok: impl FnOnce(&T) -> bool) {
    match built {
        Ok(t) => assert!(ok(&t), "built {t:?}"),
        Err(status) => {
            assert_eq!(status.code(), tonic::Code::InvalidArgument, "{status:?}");
            assert!(!status.message().is_empty());
        }
    }
}

/// A typed call's path: its fields became whole segments of the route it names.
fn typed_path(path: &str) -> bool {
    path.starts_with('/')
        && !path.contains(['?', '#', '\\'])
        && path.split('/').all(|seg| seg != ".." && seg != ".")
}

fn round_trip<M: Message + Default + PartialEq + std::fmt::Debug>(message: &M) {
    let again = M::decode(message.encode_to_vec().as_slice()).expect("re-encoded decodes");
    assert_eq!(
        &again, message,
        "a message changed through encode and decode"
    );
}

fn check_read(read: ReadRequest) {
    let had_query = read.query.is_some();
    match to_query(read) {
        Ok(query) => {
            let json = serde_json::to_string(&query).expect("a query serializes");
            let back: CacheQuery = serde_json::from_str(&json).expect("and reads back");
            assert_eq!(back, query, "a query changed through its JSON: {json}");
        }
        Err(status) => {
            assert_eq!(status.code(), tonic::Code::InvalidArgument, "{status:?}");
            assert!(!status.message().is_empty());
            assert!(
                had_query || status.message().contains("one query"),
                "{status:?}"
            );
        }
    }
}

#[cfg(test)]
mod tests {
    /// Every file of `fuzz/corpus/grpc_requests` through the driver.
    #[test]
    fn the_fuzz_corpus_passes_the_driver() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../fuzz/corpus/grpc_requests");
        let mut replayed = 0;
        for entry in std::fs::read_dir(&dir).expect("the corpus directory") {
            let path = entry.expect("an entry").path();
            let data = std::fs::read(&path).expect("a corpus file");
            super::run(&data);
            replayed += 1;
        }
        assert!(
            replayed >= 5,
            "only {replayed} corpus files in {}",
            dir.display()
        );
    }
}
