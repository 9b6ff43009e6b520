//! GraphQL over WebSocket at `GET /graphql/ws`: the `graphql-transport-ws` protocol to the
//! letter (close codes 4400 invalid message, 4401 subscribe before ack, 4403 bad
//! credentials, 4408 no `connection_init` in time, 4409 duplicate subscription id, 4429
//! repeated `connection_init`; ping answered with pong; 1001 when the server shuts down),
//! and the legacy `graphql-ws`
//! (subscriptions-transport-ws) protocol. Credentials come from the `connection_init`
//! payload: `{"authorization": "Bearer …"}`.
//!
//! Each connection is bounded: subscriptions per connection and connections per user are
//! limited, and outgoing messages go through a bounded queue — a client too slow to read
//! its events is disconnected rather than buffered without limit.

use async_graphql::parser::types::OperationType;
use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket, WebSocketUpgrade};
use axum::extract::{ConnectInfo, State};
use axum::http::HeaderMap;
use axum::response::Response;
use futures_util::{SinkExt, StreamExt};
use plexus_api::loaders::PassGate;
use plexus_api::{ClientAddr, Loaders, RequestAuth, SocketId};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use uuid::Uuid;

use crate::app::AppState;

/// Read and write buffer of each WebSocket, in bytes.
const WS_BUFFER: usize = 8 * 1024;

/// Messages waiting to be written before a connection counts as a slow consumer.
const OUTBOX: usize = 256;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Protocol {
    /// `graphql-transport-ws` (the `graphql-ws` npm library).
    TransportWs,
    /// `graphql-ws` (Apollo's legacy subscriptions-transport-ws).
    Legacy,
}

/// `GET /graphql/ws`.
pub async fn handler(
    State(app): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    ws: WebSocketUpgrade,
) -> Response {
    let offered = headers
        .get("sec-websocket-protocol")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let offers: Vec<&str> = offered.split(',').map(str::trim).collect();
    let protocol = if offers.contains(&"graphql-transport-ws") || !offers.contains(&"graphql-ws") {
        Protocol::TransportWs
    } else {
        Protocol::Legacy
    };
    let client = ClientAddr(crate::http::client_ip(
        &headers,
        Some(peer.ip()),
        app.config.trust_proxy,
    ));
    ws.protocols(["graphql-transport-ws", "graphql-ws"])
        // tungstenite's defaults (128 KiB read and 128 KiB write buffer per socket) dominate
        // the memory of an idle subscriber; GraphQL messages are small, and larger ones
        // still pass (the buffers are where reads and writes start, not a size limit).
        .read_buffer_size(WS_BUFFER)
        .write_buffer_size(WS_BUFFER)
        .on_upgrade(move |socket| Connection::new(app, protocol, client).run(socket))
}

enum Control {
    Close(u16, String),
    Done(String),
}

/// Numbers connections for the presence hub.
static NEXT_SOCKET: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);

struct Connection {
    app: AppState,
    /// This connection, as the presence hub knows it.
    socket: SocketId,
    protocol: Protocol,
    client: ClientAddr,
    /// The `authorization` value of the accepted `connection_init`.
    credentials: Option<Option<String>>,
    user: Option<Uuid>,
    subscriptions: HashMap<String, JoinHandle<()>>,
}

impl Connection {
    fn new(app: AppState, protocol: Protocol, client: ClientAddr) -> Self {
        Self {
            app,
            socket: SocketId(NEXT_SOCKET.fetch_add(1, std::sync::atomic::Ordering::Relaxed)),
            protocol,
            client,
            credentials: None,
            user: None,
            subscriptions: HashMap::new(),
        }
    }

    async fn run(mut self, socket: WebSocket) {
        let (mut sink, mut incoming) = socket.split();
        let (out, mut outbox) = mpsc::channel::<Message>(OUTBOX);
        let writer = tokio::spawn(async move {
            while let Some(m) = outbox.recv().await {
                let closing = matches!(m, Message::Close(_));
                if sink.send(m).await.is_err() || closing {
                    break;
                }
            }
            let _ = sink.close().await;
        });
        let (control_tx, mut control) = mpsc::unbounded_channel::<Control>();
        let init_deadline = tokio::time::sleep(self.app.config.ws_init_timeout);
        tokio::pin!(init_deadline);
        let lifecycle = self.app.lifecycle.clone();
        let _open = lifecycle.socket_opened();
        let stopping = lifecycle.stopping();
        tokio::pin!(stopping);
        let close = loop {
            tokio::select! {
                () = &mut stopping => {
                    break Some((1001, "Server is shutting down".to_string()));
                }
                _ = &mut init_deadline, if self.credentials.is_none() => {
                    break Some((4408, "Connection initialisation timeout".to_string()));
                }
                c = control.recv() => match c {
                    Some(Control::Close(code, reason)) => break Some((code, reason)),
                    Some(Control::Done(id)) => { self.subscriptions.remove(&id); }
                    None => break None,
                },
                m = incoming.next() => match m {
                    Some(Ok(Message::Text(text))) => {
                        if let Err((code, reason)) = self.on_message(text.as_str(), &out, &control_tx).await {
                            break Some((code, reason));
                        }
                    }
                    Some(Ok(Message::Binary(_))) => break Some((4400, "Binary messages are not supported".into())),
                    Some(Ok(Message::Close(_))) | None | Some(Err(_)) => break None,
                    Some(Ok(_)) => {}
                },
            }
        };
        for (_, task) in self.subscriptions.drain() {
            task.abort();
        }
        // Members whose last socket on a project this was are announced gone — unless the
        // server is shutting down: its clients reconnect to another instance (1001) and
        // carry on there, so nobody is told they left.
        if !matches!(close, Some((1001, _))) {
            self.app.api.presence.socket_closed(self.socket);
        }
        if let Some(user) = self.user {
            release(&self.app, user);
        }
        if let Some((code, reason)) = close {
            let frame = CloseFrame {
                code,
                reason: Utf8Bytes::from(reason),
            };
            let _ = out.send(Message::Close(Some(frame))).await;
        }
        drop(out);
        let _ = writer.await;
    }

    async fn on_message(
        &mut self,
        text: &str,
        out: &mpsc::Sender<Message>,
        control: &mpsc::UnboundedSender<Control>,
    ) -> Result<(), (u16, String)> {
        let invalid = |why: &str| (4400, format!("Invalid message received: {why}"));
        let msg: Value = serde_json::from_str(text).map_err(|_| invalid("not JSON"))?;
        let kind = msg
            .get("type")
            .and_then(Value::as_str)
            .ok_or_else(|| invalid("no `type`"))?;
        match (self.protocol, kind) {
            (_, "connection_init") => self.on_init(msg.get("payload"), out).await,
            (Protocol::TransportWs, "ping") => {
                let mut pong = json!({ "type": "pong" });
                if let Some(p) = msg.get("payload") {
                    pong["payload"] = p.clone();
                }
                send(out, pong).await;
                Ok(())
            }
            (Protocol::TransportWs, "pong") => Ok(()),
            (Protocol::TransportWs, "subscribe") | (Protocol::Legacy, "start") => {
                self.on_subscribe(&msg, out, control)
            }
            (Protocol::TransportWs, "complete") | (Protocol::Legacy, "stop") => {
                let id = msg
                    .get("id")
                    .and_then(Value::as_str)
                    .ok_or_else(|| invalid("no `id`"))?;
                if let Some(task) = self.subscriptions.remove(id) {
                    task.abort();
                }
                Ok(())
            }
            (Protocol::Legacy, "connection_terminate") => Err((1000, "Terminated".into())),
            _ => Err(invalid(&format!("unknown type `{kind}`"))),
        }
    }

    async fn on_init(
        &mut self,
        payload: Option<&Value>,
        out: &mpsc::Sender<Message>,
    ) -> Result<(), (u16, String)> {
        if self.credentials.is_some() {
            return Err((4429, "Too many initialisation requests".into()));
        }
        let authorization = payload
            .and_then(|p| p.get("authorization").or_else(|| p.get("Authorization")))
            .and_then(Value::as_str)
            .map(String::from);
        let auth = RequestAuth::from_header(authorization.as_deref());
        let actor = match auth.actor(&self.app.api.users).await {
            Ok(a) => a,
            Err(_) => {
                if self.protocol == Protocol::Legacy {
                    send(out, json!({ "type": "connection_error", "payload": { "message": "Forbidden" } })).await;
                }
                return Err((4403, "Forbidden".into()));
            }
        };
        if let Some(user) = actor.user_id() {
            if !acquire(&self.app, user) {
                return Err((4429, "Too many connections for this user".into()));
            }
            self.user = Some(user);
        }
        self.credentials = Some(authorization);
        send(out, json!({ "type": "connection_ack" })).await;
        Ok(())
    }

    fn on_subscribe(
        &mut self,
        msg: &Value,
        out: &mpsc::Sender<Message>,
        control: &mpsc::UnboundedSender<Control>,
    ) -> Result<(), (u16, String)> {
        let invalid = |why: &str| (4400, format!("Invalid message received: {why}"));
        let id = msg
            .get("id")
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .ok_or_else(|| invalid("no `id`"))?
            .to_string();
        let payload = msg
            .get("payload")
            .filter(|p| p.is_object())
            .ok_or_else(|| invalid("no `payload`"))?;
        if !payload.get("query").is_some_and(Value::is_string) {
            return Err(invalid("no `payload.query`"));
        }
        let Some(credentials) = self.credentials.clone() else {
            return Err((4401, "Unauthorized".into()));
        };
        if self.subscriptions.contains_key(&id) {
            return Err((4409, format!("Subscriber for {id} already exists")));
        }
        if self.subscriptions.len() >= self.app.config.ws_max_subscriptions {
            let err = json!([{ "message": format!("at most {} subscriptions per connection", self.app.config.ws_max_subscriptions), "extensions": { "code": "RATE_LIMITED" } }]);
            let out = out.clone();
            let protocol = self.protocol;
            tokio::spawn(async move { send(&out, error_message(protocol, &id, err)).await });
            return Ok(());
        }
        let request: async_graphql::Request =
            serde_json::from_value(payload.clone()).map_err(|e| invalid(&e.to_string()))?;
        let task = tokio::spawn(run_operation(
            self.app.clone(),
            self.socket,
            self.protocol,
            self.client,
            credentials,
            id.clone(),
            request,
            out.clone(),
            control.clone(),
        ));
        self.subscriptions.insert(id, task);
        Ok(())
    }
}

#[allow(clippy::too_many_arguments)]
async fn run_operation(
    app: AppState,
    socket: SocketId,
    protocol: Protocol,
    client: ClientAddr,
    credentials: Option<String>,
    id: String,
    mut request: async_graphql::Request,
    out: mpsc::Sender<Message>,
    control: mpsc::UnboundedSender<Control>,
) {
    let op_name = request.operation_name.clone();
    let variables = std::mem::take(&mut request.variables);
    let checked = match app.document(&mut request) {
        Err(e) => Err(json!([{ "message": e.message, "extensions": { "code": "GRAPHQL_PARSE_FAILED" } }])),
        Ok(doc) => crate::limits::check(doc, op_name.as_deref(), &variables, &app.limits)
            .map(|cost| {
                // A subscription lives for as long as the client wants: it takes no slot.
                let ty = crate::http::selected_operation_type(doc, op_name.as_deref());
                if ty == Some(OperationType::Subscription) { 0 } else { cost }
            })
            .map_err(|message| json!([{ "message": message, "extensions": { "code": "GRAPHQL_VALIDATION_FAILED" } }])),
    };
    request.variables = variables;
    let cost = match checked {
        Ok(cost) => cost,
        Err(errors) => {
            return fail(&out, &control, protocol, id, errors).await;
        }
    };
    let _ticket = app.admission.admit(cost).await;
    let gate = PassGate::new();
    let request = request
        .data(RequestAuth::from_header(credentials.as_deref()))
        .data(client)
        .data(socket)
        .data(Arc::new(Loaders::new(&app.api, &gate)));
    let mut stream = app.schema.execute_stream(request);
    let mut first = true;
    loop {
        let Some(mut resp) = gate.run(stream.next()).await else {
            break;
        };
        let request_error = first
            && resp.data == async_graphql::Value::Null
            && !resp.errors.is_empty()
            && resp.errors.iter().all(|e| e.path.is_empty());
        first = false;
        for e in &mut resp.errors {
            let ext = e.extensions.get_or_insert_with(Default::default);
            if ext.get("code").is_none() {
                ext.set(
                    "code",
                    if request_error {
                        "GRAPHQL_VALIDATION_FAILED"
                    } else {
                        "INTERNAL"
                    },
                );
            }
        }
        if request_error {
            let errors = serde_json::to_value(&resp.errors).unwrap_or_default();
            return fail(&out, &control, protocol, id, errors).await;
        }
        let kind = if protocol == Protocol::Legacy {
            "data"
        } else {
            "next"
        };
        let msg = match crate::json::message(&id, kind, &resp) {
            Ok(msg) => msg,
            Err(e) => {
                tracing::error!(error = %e, "serialising a subscription event");
                let errors =
                    json!([{ "message": "internal error", "extensions": { "code": "INTERNAL" } }]);
                return fail(&out, &control, protocol, id, errors).await;
            }
        };
        if out.try_send(Message::Text(msg.into())).is_err() {
            // The client does not read fast enough (or is gone): drop it, do not buffer.
            let _ = control.send(Control::Close(
                4499,
                "Slow consumer: too many undelivered messages".into(),
            ));
            return;
        }
    }
    send(&out, json!({ "id": id, "type": "complete" })).await;
    let _ = control.send(Control::Done(id));
}

/// Ends operation `id` with an `error` message carrying `errors`.
async fn fail(
    out: &mpsc::Sender<Message>,
    control: &mpsc::UnboundedSender<Control>,
    protocol: Protocol,
    id: String,
    errors: Value,
) {
    send(out, error_message(protocol, &id, errors)).await;
    let _ = control.send(Control::Done(id));
}

fn error_message(protocol: Protocol, id: &str, errors: Value) -> Value {
    match protocol {
        Protocol::TransportWs => json!({ "id": id, "type": "error", "payload": errors }),
        Protocol::Legacy => {
            json!({ "id": id, "type": "error", "payload": errors.get(0).cloned().unwrap_or(errors) })
        }
    }
}

async fn send(out: &mpsc::Sender<Message>, v: Value) {
    let _ = out.send(Message::Text(v.to_string().into())).await;
}

/// Counts a connection of `user`; false when they already have the most allowed.
fn acquire(app: &AppState, user: Uuid) -> bool {
    let mut map = app.ws_users.lock().unwrap_or_else(|p| p.into_inner());
    let n = map.entry(user).or_insert(0);
    if *n >= app.config.ws_max_connections_per_user {
        return false;
    }
    *n += 1;
    true
}

fn release(app: &AppState, user: Uuid) {
    let mut map = app.ws_users.lock().unwrap_or_else(|p| p.into_inner());
    if let Some(n) = map.get_mut(&user) {
        *n = n.saturating_sub(1);
        if *n == 0 {
            map.remove(&user);
        }
    }
}
