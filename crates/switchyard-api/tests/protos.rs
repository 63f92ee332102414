//! The published protos stay compatible: every message field, enum value and method in
//! `tests/published.txt` keeps its number and type, and nothing new appears without being
//! added there (on purpose, in the same commit as the proto change).

use prost::Message as _;
use prost_types::FileDescriptorSet;
use switchyard_api::proto::FILE_DESCRIPTOR_SET;

/// One line per message field (`field switchyard.v1.Bot.name = 1 string`), enum value
/// (`enum switchyard.v1.ShardState.SHARD_STATE_ACTIVE = 4`) and method
/// (`rpc switchyard.v1.Cache.Read(ReadRequest) returns (ReadReply)`), sorted.
fn surface() -> Vec<String> {
    let set = FileDescriptorSet::decode(FILE_DESCRIPTOR_SET).expect("the descriptor set");
    let mut lines = Vec::new();
    for file in set.file {
        let package = file.package().to_owned();
        for message in &file.message_type {
            let name = format!("{package}.{}", message.name());
            for field in &message.field {
                let label = match field.label() {
                    prost_types::field_descriptor_proto::Label::Repeated => "repeated ",
                    _ if field.proto3_optional() => "optional ",
                    _ => "",
                };
                let kind = match field.type_name() {
                    "" => format!("{:?}", field.r#type()).to_lowercase(),
                    named => named.trim_start_matches('.').to_owned(),
                };
                lines.push(format!(
                    "field {name}.{} = {} {label}{kind}",
                    field.name(),
                    field.number()
                ));
            }
        }
        for e in &file.enum_type {
            for value in &e.value {
                lines.push(format!(
                    "enum {package}.{}.{} = {}",
                    e.name(),
                    value.name(),
                    value.number()
                ));
            }
        }
        for service in &file.service {
            for method in &service.method {
                let stream = |s: bool| if s { "stream " } else { "" };
                lines.push(format!(
                    "rpc {package}.{}.{}({}{}) returns ({}{})",
                    service.name(),
                    method.name(),
                    stream(method.client_streaming()),
                    method.input_type().rsplit('.').next().unwrap_or_default(),
                    stream(method.server_streaming()),
                    method.output_type().rsplit('.').next().unwrap_or_default(),
                ));
            }
        }
    }
    lines.sort();
    lines
}

#[test]
fn published_fields_keep_their_numbers_and_types() {
    let published = include_str!("published.txt");
    let published: Vec<&str> = published
        .lines()
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .collect();
    let now = surface();
    let gone: Vec<_> = published
        .iter()
        .filter(|l| !now.iter().any(|n| n == *l))
        .collect();
    assert!(
        gone.is_empty(),
        "published protos changed incompatibly: these are gone or were renumbered or \
         retyped (clients built on them would break; add new fields instead):\n{gone:#?}"
    );
    let new: Vec<_> = now
        .iter()
        .filter(|n| !published.contains(&n.as_str()))
        .collect();
    assert!(
        new.is_empty(),
        "the protos have additions not yet in crates/switchyard-api/tests/published.txt; \
         add these lines there (sorted) if they are meant:\n{}",
        new.iter()
            .map(|s| s.as_str())
            .collect::<Vec<_>>()
            .join("\n")
    );
}

#[test]
fn snowflakes_are_fixed64_read_as_strings_in_javascript() {
    use prost_types::field_descriptor_proto::Type;
    let set = FileDescriptorSet::decode(FILE_DESCRIPTOR_SET).expect("the descriptor set");
    let ids = [
        "guild", "channel", "user", "role", "message", "ids", "after", "before",
    ];
    let integers = [
        Type::Uint64,
        Type::Int64,
        Type::Sint64,
        Type::Sfixed64,
        Type::Uint32,
    ];
    let mut snowflakes = 0;
    for file in set.file {
        for message in &file.message_type {
            for field in &message.field {
                let what = format!("{}.{}", message.name(), field.name());
                assert!(
                    !(ids.contains(&field.name()) && integers.contains(&field.r#type())),
                    "{what} is a snowflake: fixed64, not {:?}",
                    field.r#type()
                );
                if field.r#type() == Type::Fixed64 {
                    snowflakes += 1;
                    let js = field.options.as_ref().map(|o| o.jstype());
                    assert_eq!(
                        js,
                        Some(prost_types::field_options::JsType::JsString),
                        "{what} must be read as a string in JavaScript (jstype = JS_STRING)"
                    );
                }
            }
        }
    }
    assert!(snowflakes > 20, "only {snowflakes} snowflake fields found");
}
