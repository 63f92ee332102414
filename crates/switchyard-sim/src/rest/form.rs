//! `multipart/form-data` bodies, as Discord accepts them for messages, webhook and follow-up
//! messages: a `payload_json` part (or plain text fields) and file parts (`files[n]`), which
//! become the message's attachments.

use axum::http::{HeaderMap, header};
use bytes::Bytes;
use serde_json::{Map, Value, json};

use crate::ids::SnowflakeGen;
use crate::rest::error::ApiError;

/// One uploaded file.
#[derive(Debug, Clone, PartialEq)]
pub struct Upload {
    /// The index `n` of a `files[n]` part (its position among the files otherwise).
    pub index: u64,
    /// The file name sent with the part.
    pub filename: String,
    /// The part's Content-Type, if any.
    pub content_type: Option<String>,
    /// Size in bytes.
    pub size: usize,
}

/// A parsed multipart body.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Form {
    /// The JSON payload: `payload_json`, or else the text fields as strings.
    pub payload: Value,
    /// The file parts, in order.
    pub files: Vec<Upload>,
}

fn form_error(message: &str) -> ApiError {
    ApiError::InvalidForm(json!({"_errors": [{"code": "MULTIPART_INVALID", "message": message}]}))
}

/// Whether the request carries a multipart body.
pub fn is_multipart(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| {
            ct.get(..19)
                .is_some_and(|p| p.eq_ignore_ascii_case("multipart/form-data"))
        })
}

/// Parses a multipart body; `None` when the request is not multipart.
pub async fn parse(headers: &HeaderMap, body: &Bytes) -> Option<Result<Form, ApiError>> {
    if !is_multipart(headers) {
        return None;
    }
    Some(parse_multipart(headers, body.clone()).await)
}

async fn parse_multipart(headers: &HeaderMap, body: Bytes) -> Result<Form, ApiError> {
    let boundary = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|ct| multer::parse_boundary(ct).ok())
        .ok_or_else(|| form_error("multipart/form-data without a boundary"))?;
    // The whole body is already here (bounded by the server's body limit).
    let whole = futures_util::stream::once(async move { Ok::<_, std::convert::Infallible>(body) });
    let mut multipart = multer::Multipart::new(whole, boundary);
    let mut payload_json = None;
    let mut fields = Map::new();
    let mut files = Vec::new();
    loop {
        let field = match multipart.next_field().await {
            Ok(Some(f)) => f,
            Ok(None) => break,
            Err(e) => return Err(form_error(&e.to_string())),
        };
        let name = field.name().unwrap_or("").to_owned();
        let filename = field.file_name().map(str::to_owned);
        let content_type = field.content_type().map(ToString::to_string);
        let data = field
            .bytes()
            .await
            .map_err(|e| form_error(&e.to_string()))?;
        match filename {
            Some(filename) => {
                let index = name
                    .strip_prefix("files[")
                    .and_then(|r| r.strip_suffix(']'))
                    .and_then(|n| n.parse().ok())
                    .unwrap_or(files.len() as u64);
                files.push(Upload {
                    index,
                    filename,
                    content_type,
                    size: data.len(),
                });
            }
            None if name == "payload_json" => payload_json = Some(data),
            None => {
                let text = String::from_utf8_lossy(&data).into_owned();
                fields.insert(name, Value::String(text));
            }
        }
    }
    let payload = match payload_json {
        Some(raw) => serde_json::from_slice(&raw).map_err(|_| ApiError::INVALID_JSON)?,
        None => Value::Object(fields),
    };
    Ok(Form { payload, files })
}

fn same_index(v: &Value, index: u64) -> bool {
    v.as_u64() == Some(index) || v.as_str().and_then(|s| s.parse().ok()) == Some(index)
}

/// The attachment objects for the uploads of a message in `channel`: `filename` and
/// `description` come from the payload's `attachments` entry with the upload's index, if any.
pub fn attachments(
    ids: &SnowflakeGen,
    channel: u64,
    payload: &Value,
    files: &[Upload],
) -> Vec<Value> {
    let listed = payload["attachments"].as_array();
    files
        .iter()
        .map(|f| {
            let entry = listed.and_then(|l| l.iter().find(|a| same_index(&a["id"], f.index)));
            let filename = entry
                .and_then(|e| e["filename"].as_str())
                .unwrap_or(&f.filename)
                .to_owned();
            let id = ids.next();
            let url = format!("https://cdn.discordapp.com/attachments/{channel}/{id}/{filename}");
            let mut a = json!({
                "id": id.to_string(), "filename": filename, "size": f.size,
                "url": url, "proxy_url": url.replacen("cdn.discordapp.com", "media.discordapp.net", 1),
            });
            if let Some(ct) = &f.content_type {
                a["content_type"] = json!(ct);
            }
            if let Some(d) = entry.and_then(|e| e.get("description")).filter(|d| d.is_string()) {
                a["description"] = d.clone();
            }
            a
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(ct: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(header::CONTENT_TYPE, ct.parse().expect("header"));
        h
    }

    #[tokio::test]
    async fn payload_json_and_files_are_read() {
        let body = "--b\r\nContent-Disposition: form-data; name=\"payload_json\"\r\n\r\n{\"content\":\"hi\",\"attachments\":[{\"id\":0,\"description\":\"d\"}]}\r\n\
            --b\r\nContent-Disposition: form-data; name=\"files[0]\"; filename=\"a.txt\"\r\nContent-Type: text/plain\r\n\r\nabc\r\n--b--\r\n";
        let form = parse(
            &headers("multipart/form-data; boundary=b"),
            &Bytes::from(body),
        )
        .await
        .expect("multipart")
        .expect("parses");
        assert_eq!(form.payload["content"], "hi");
        assert_eq!(form.files.len(), 1);
        assert_eq!((form.files[0].index, form.files[0].size), (0, 3));
        let a = attachments(&SnowflakeGen::default(), 5, &form.payload, &form.files);
        assert_eq!(a[0]["filename"], "a.txt");
        assert_eq!(a[0]["description"], "d");
        assert_eq!(a[0]["content_type"], "text/plain");
        assert!(
            parse(&headers("application/json"), &Bytes::new())
                .await
                .is_none()
        );
        let bad = parse(&headers("multipart/form-data"), &Bytes::from("x")).await;
        assert!(matches!(bad, Some(Err(ApiError::InvalidForm(_)))));
    }
}
