//! A stand-in forge: a real HTTP server on loopback that checks every request against the
//! forge's published API description (OpenAPI 3 or Swagger 2 JSON under `tests/fixtures/`),
//! records it, and answers as the forge would: with the operation's success status, or
//! with 500 while told to fail.
//!
//! The check covers what a client can get wrong: the method and path must be an operation
//! of the description, path parameters must be present, and a JSON body must have every
//! required field, the right types and only allowed enum values.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

/// One request the stand-in received.
#[derive(Debug, Clone)]
pub struct Received {
    pub method: String,
    pub path: String,
    pub query: String,
    pub body: Value,
    pub headers: BTreeMap<String, String>,
    /// Whether it was answered with success (not refused by a failure window).
    pub accepted: bool,
}

/// An API description: its operations by method and path template.
pub struct Description {
    spec: Value,
    /// `(METHOD, template segments)`, as written in the description.
    operations: Vec<(String, Vec<String>, String)>,
    /// A prefix the description's paths are served under (`/api/v4`, `/api/v1`).
    base_path: String,
}

impl Description {
    /// Reads a description from `tests/fixtures/`.
    pub fn load(relative: &str) -> Description {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures").join(relative);
        let spec: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        let base_path = spec["basePath"].as_str().unwrap_or_default().trim_end_matches('/').to_string();
        let mut operations = Vec::new();
        for (template, item) in spec["paths"].as_object().expect("a description has paths") {
            for method in ["get", "post", "put", "patch", "delete"] {
                if item.get(method).is_some() {
                    let segments = template.trim_matches('/').split('/').map(str::to_string).collect();
                    operations.push((method.to_uppercase(), segments, template.clone()));
                }
            }
        }
        Description { spec, operations, base_path }
    }

    /// The operation a request is, or why it is none.
    fn operation(&self, method: &str, path: &str) -> Result<(String, BTreeMap<String, String>), String> {
        let path = path.strip_prefix(&self.base_path).unwrap_or(path);
        let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
        let mut methods_for_path = Vec::new();
        for (operation_method, template, text) in &self.operations {
            let multi = |name: &str| self.multi_segment(text, name);
            let Some(params) = match_template(template, &segments, &multi) else { continue };
            if operation_method == method {
                return Ok((text.clone(), params));
            }
            methods_for_path.push(operation_method.clone());
        }
        if methods_for_path.is_empty() {
            Err(format!("{method} {path}: no such path in the description"))
        } else {
            Err(format!("{method} {path}: the description allows only {methods_for_path:?} here"))
        }
    }

    /// Checks a request; `Ok` with the status the forge answers.
    pub fn check(&self, method: &str, path: &str, body: &Value) -> Result<u16, String> {
        let (template, _params) = self.operation(method, path)?;
        let operation = &self.spec["paths"][&template][method.to_lowercase()];
        // OpenAPI 3 keeps the body in requestBody; Swagger 2 in a parameter `in: body`.
        let schema = operation["requestBody"]["content"]["application/json"]["schema"].clone();
        let body_parameter = operation["parameters"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|parameter| self.resolve(parameter))
            .find(|parameter| parameter["in"] == "body");
        let schema = if schema.is_null() {
            body_parameter.map(|parameter| parameter["schema"].clone()).unwrap_or(Value::Null)
        } else {
            schema
        };
        let required_body = operation["requestBody"]["required"] == true
            || operation["parameters"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|p| self.resolve(p))
                .any(|p| p["in"] == "body" && p["required"] == true);
        if !schema.is_null() {
            if body.is_null() {
                if required_body {
                    return Err(format!("{method} {path}: the body is required"));
                }
            } else {
                self.validate(&schema, body, "body").map_err(|err| format!("{method} {path}: {err}"))?;
            }
        }
        // Swagger 2 form parameters and OpenAPI 3 query parameters that are required.
        let success = operation["responses"]
            .as_object()
            .and_then(|responses| responses.keys().find(|code| code.starts_with('2')).cloned())
            .and_then(|code| code.parse().ok())
            .unwrap_or(200);
        Ok(success)
    }

    /// Checks a value against a schema of the description (a JSON pointer such as
    /// `/components/schemas/webhook-pull-request-opened`).
    pub fn check_value(&self, pointer: &str, value: &Value) -> Result<(), String> {
        let schema = self.spec.pointer(pointer).unwrap_or_else(|| panic!("no schema at {pointer}")).clone();
        self.validate(&schema, value, "value")
    }

    /// The smallest value a schema of the description accepts: every required field with
    /// the first value its schema allows (`null` where allowed, the first `enum` value, the
    /// first `oneOf` option, an empty array), and nothing else.
    pub fn instance(&self, pointer: &str) -> Value {
        let schema = self.spec.pointer(pointer).unwrap_or_else(|| panic!("no schema at {pointer}")).clone();
        self.smallest(&schema)
    }

    fn smallest(&self, schema: &Value) -> Value {
        let schema = self.resolve(schema);
        if schema["nullable"] == true || schema["x-nullable"] == true {
            return Value::Null;
        }
        if let Some(first) = schema["enum"].as_array().and_then(|options| options.first()) {
            return first.clone();
        }
        for combinator in ["oneOf", "anyOf"] {
            if let Some(first) = schema[combinator].as_array().and_then(|options| options.first()) {
                return self.smallest(first);
            }
        }
        if let Some(parts) = schema["allOf"].as_array() {
            let mut merged = serde_json::Map::new();
            for part in parts {
                if let Value::Object(fields) = self.smallest(part) {
                    merged.extend(fields);
                }
            }
            return Value::Object(merged);
        }
        match schema["type"].as_str() {
            Some("string") => match schema["format"].as_str() {
                Some("date-time") => json!("2026-11-30T10:00:00Z"),
                Some("uri") => json!("https://example.com/"),
                _ => json!("x"),
            },
            Some("integer") | Some("number") => json!(1),
            Some("boolean") => json!(false),
            Some("array") => json!([]),
            Some("object") | None if schema["properties"].is_object() || schema["required"].is_array() => {
                let mut object = serde_json::Map::new();
                for name in schema["required"].as_array().into_iter().flatten().filter_map(Value::as_str) {
                    let property = &schema["properties"][name];
                    let value = if property.is_null() { json!("x") } else { self.smallest(property) };
                    object.insert(name.to_string(), value);
                }
                Value::Object(object)
            }
            Some("object") => json!({}),
            _ => Value::Null,
        }
    }

    /// Whether a path parameter may span several segments (`x-multi-segment`).
    fn multi_segment(&self, template: &str, name: &str) -> bool {
        let item = &self.spec["paths"][template];
        let mut parameters: Vec<Value> = item["parameters"].as_array().cloned().unwrap_or_default();
        for method in ["get", "post", "put", "patch", "delete"] {
            parameters.extend(item[method]["parameters"].as_array().cloned().unwrap_or_default());
        }
        parameters.iter().map(|parameter| self.resolve(parameter)).any(|parameter| {
            parameter["name"] == name && parameter["in"] == "path" && parameter["x-multi-segment"] == true
        })
    }

    fn resolve(&self, value: &Value) -> Value {
        match value["$ref"].as_str() {
            Some(reference) => {
                let pointer = reference.trim_start_matches('#');
                self.resolve(self.spec.pointer(pointer).unwrap_or_else(|| panic!("unresolved {reference}")))
            }
            None => value.clone(),
        }
    }

    fn validate(&self, schema: &Value, value: &Value, at: &str) -> Result<(), String> {
        let schema = self.resolve(schema);
        if value.is_null() && (schema["nullable"] == true || schema["x-nullable"] == true) {
            return Ok(());
        }
        for combinator in ["oneOf", "anyOf"] {
            if let Some(options) = schema[combinator].as_array() {
                let errors: Vec<String> =
                    options.iter().filter_map(|option| self.validate(option, value, at).err()).collect();
                if errors.len() == options.len() {
                    return Err(format!("{at} matches none of {combinator}: {}", errors.join("; ")));
                }
                return Ok(());
            }
        }
        if let Some(all) = schema["allOf"].as_array() {
            for part in all {
                self.validate(part, value, at)?;
            }
        }
        if let Some(options) = schema["enum"].as_array()
            && !options.contains(value)
        {
            return Err(format!("{at} is {value}, not one of {}", Value::Array(options.clone())));
        }
        let kind = schema["type"].as_str();
        let type_ok = match kind {
            Some("string") => value.is_string(),
            Some("integer") => value.is_i64() || value.is_u64(),
            Some("number") => value.is_number(),
            Some("boolean") => value.is_boolean(),
            Some("array") => value.is_array(),
            Some("object") => value.is_object(),
            _ => true,
        };
        if !type_ok {
            return Err(format!("{at} is {value}, not of type {}", kind.unwrap_or("?")));
        }
        if let Some(object) = value.as_object() {
            for required in schema["required"].as_array().into_iter().flatten().filter_map(Value::as_str) {
                if !object.contains_key(required) {
                    return Err(format!("{at} lacks the required field {required:?}"));
                }
            }
            if let Some(properties) = schema["properties"].as_object() {
                for (name, field) in object {
                    match properties.get(name) {
                        Some(property) => self.validate(property, field, &format!("{at}.{name}"))?,
                        None if schema["additionalProperties"] == false => {
                            return Err(format!("{at} has the unknown field {name:?}"));
                        }
                        None => {}
                    }
                }
            }
        }
        if let (Some(items), Some(values)) = (schema.get("items"), value.as_array()) {
            for (index, item) in values.iter().enumerate() {
                self.validate(items, item, &format!("{at}[{index}]"))?;
            }
        }
        Ok(())
    }
}

fn match_template(
    template: &[String],
    segments: &[&str],
    multi_segment: &dyn Fn(&str) -> bool,
) -> Option<BTreeMap<String, String>> {
    let mut params = BTreeMap::new();
    let mut index = 0;
    for (position, part) in template.iter().enumerate() {
        if let Some(name) = part.strip_prefix('{').and_then(|part| part.strip_suffix('}')) {
            let last = position + 1 == template.len();
            let take = if multi_segment(name) && last { segments.len().saturating_sub(index) } else { 1 };
            let value = segments.get(index..index + take)?.join("/");
            if value.is_empty() {
                return None;
            }
            params.insert(name.to_string(), value);
            index += take;
        } else {
            if segments.get(index) != Some(&part.as_str()) {
                return None;
            }
            index += 1;
        }
    }
    (index == segments.len()).then_some(params)
}

/// How the stand-in answers a request it accepted: its status and body, from the method, the
/// path with its query (`/repos/o/r/issues/7/comments?page=2`), the body, and the status the
/// description gives for success.
pub type Responder = dyn Fn(&str, &str, &Value, u16) -> (u16, Value) + Send + Sync;

struct Shared {
    description: Description,
    received: Mutex<Vec<Received>>,
    violations: Mutex<Vec<String>>,
    /// While more than zero, requests are refused with 500 (and this counts down).
    failures_left: AtomicUsize,
    /// While set, every request is refused with 500.
    down: std::sync::atomic::AtomicBool,
    responder: Box<Responder>,
}

/// A running stand-in forge.
pub struct Forge {
    shared: Arc<Shared>,
    pub address: SocketAddr,
    _runtime: tokio::runtime::Runtime,
}

impl Forge {
    /// Serves `description` on a free loopback port, answering with `{"id": N}`-style bodies.
    pub fn start(description: &str) -> Forge {
        Forge::start_with(description, Box::new(default_response))
    }

    pub fn start_with(description: &str, responder: Box<Responder>) -> Forge {
        let shared = Arc::new(Shared {
            description: Description::load(description),
            received: Mutex::new(Vec::new()),
            violations: Mutex::new(Vec::new()),
            failures_left: AtomicUsize::new(0),
            down: std::sync::atomic::AtomicBool::new(false),
            responder,
        });
        let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();
        let listener = runtime.block_on(tokio::net::TcpListener::bind("127.0.0.1:0")).unwrap();
        let address = listener.local_addr().unwrap();
        let router = axum::Router::new().fallback(handle).with_state(Arc::clone(&shared));
        runtime.spawn(async move { axum::serve(listener, router).await });
        Forge { shared, address, _runtime: runtime }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.address)
    }

    /// Refuses the next `n` requests with 500.
    pub fn fail_next(&self, n: usize) {
        self.shared.failures_left.store(n, Ordering::SeqCst);
    }

    /// Refuses every request with 500 until `set_down(false)`.
    pub fn set_down(&self, down: bool) {
        self.shared.down.store(down, Ordering::SeqCst);
    }

    pub fn received(&self) -> Vec<Received> {
        self.shared.received.lock().unwrap().clone()
    }

    /// Requests that broke the description.
    pub fn violations(&self) -> Vec<String> {
        self.shared.violations.lock().unwrap().clone()
    }

    /// Fails the test if any request broke the description.
    #[track_caller]
    pub fn assert_valid(&self) {
        let violations = self.violations();
        assert!(violations.is_empty(), "requests that break the API description:\n{}", violations.join("\n"));
    }
}

fn default_response(_method: &str, _path: &str, body: &Value, status: u16) -> (u16, Value) {
    let mut answer = body.clone();
    if !answer.is_object() {
        answer = json!({});
    }
    answer["id"] = json!(1);
    (status, answer)
}

async fn handle(
    State(shared): State<Arc<Shared>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let body: Value = if body.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&body).unwrap_or(Value::String("<not JSON>".into()))
    };
    let path = uri.path().to_string();
    let refused = shared.down.load(Ordering::SeqCst)
        || shared.failures_left.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1)).is_ok();
    let checked = shared.description.check(method.as_str(), &path, &body);
    if let Err(violation) = &checked {
        shared.violations.lock().unwrap().push(violation.clone());
    }
    shared.received.lock().unwrap().push(Received {
        method: method.to_string(),
        path: path.clone(),
        query: uri.query().unwrap_or_default().to_string(),
        body: body.clone(),
        headers: headers
            .iter()
            .map(|(name, value)| (name.to_string(), value.to_str().unwrap_or_default().to_string()))
            .collect(),
        accepted: !refused && checked.is_ok(),
    });
    if refused {
        return (StatusCode::INTERNAL_SERVER_ERROR, axum::Json(json!({"message": "Server Error"}))).into_response();
    }
    match checked {
        Ok(status) => {
            let target = uri.path_and_query().map_or(path.as_str(), |target| target.as_str());
            let (status, answer) = (shared.responder)(method.as_str(), target, &body, status);
            if answer.is_null() {
                return StatusCode::from_u16(status).unwrap().into_response();
            }
            (StatusCode::from_u16(status).unwrap(), axum::Json(answer)).into_response()
        }
        Err(violation) => (StatusCode::UNPROCESSABLE_ENTITY, axum::Json(json!({"message": violation}))).into_response(),
    }
}
