//! A fake IMDS for the unit tests, served over loopback by a task on the test's own tokio
//! runtime, so that its clock is tokio's: tokens expire by [`tokio::time::Instant`], and a
//! test lets tokens and credentials age with [`advance`] instead of sleeping. It answers the
//! token PUT and the few GETs the client tests need, and logs every request.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;
use tokio::time::Instant;

use super::client::{ROLE_LIST_PATH, TOKEN_HEADER, TOKEN_PATH, TTL_HEADER};

/// The instance id the fake serves at `/latest/meta-data/instance-id`.
pub(crate) const INSTANCE_ID: &str = "i-0123456789abcdef0";

/// Moves tokio's clock forward by `d` at once: the clock is paused only for the jump, because
/// the fake answers over real sockets, and a clock left paused would auto-advance into the
/// client's timeouts whenever the runtime waits for one.
pub(crate) async fn advance(d: Duration) {
    tokio::time::pause();
    tokio::time::advance(d).await;
    tokio::time::resume();
}

/// What the fake IMDS serves; tests change it through [`FakeImds::with`].
#[derive(Debug)]
pub(crate) struct State {
    /// The longest token TTL granted, in seconds.
    pub(crate) max_ttl: u64,
    /// The tokens handed out, and when each expires.
    pub(crate) tokens: HashMap<String, Instant>,
    /// The attached role, if any.
    pub(crate) role: Option<String>,
    /// Part of the access key id: change it to rotate the credentials.
    pub(crate) key_serial: u32,
    /// The credentials' `Expiration`.
    pub(crate) expiration: SystemTime,
    /// Every request, as `METHOD path status`.
    pub(crate) log: Vec<String>,
    issued: u64,
}

/// A running fake IMDS; dropping it stops the server.
#[derive(Debug)]
pub(crate) struct FakeImds {
    endpoint: String,
    state: Arc<Mutex<State>>,
    server: JoinHandle<()>,
}

impl Drop for FakeImds {
    fn drop(&mut self) {
        self.server.abort();
    }
}

impl FakeImds {
    /// A fake with role `credhygiene-test-role` whose credentials expire at `expiration`.
    pub(crate) async fn start(expiration: SystemTime) -> FakeImds {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let endpoint = format!("http://{}", listener.local_addr().unwrap());
        let state = Arc::new(Mutex::new(State {
            max_ttl: 21_600,
            tokens: HashMap::new(),
            role: Some("credhygiene-test-role".into()),
            key_serial: 1,
            expiration,
            log: Vec::new(),
            issued: 0,
        }));
        let shared = Arc::clone(&state);
        let server = tokio::spawn(async move {
            loop {
                let (conn, _) = listener.accept().await.unwrap();
                tokio::spawn(serve(conn, Arc::clone(&shared)));
            }
        });
        FakeImds {
            endpoint,
            state,
            server,
        }
    }

    /// The base URL.
    pub(crate) fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// Reads or changes what the fake serves.
    pub(crate) fn with<R>(&self, f: impl FnOnce(&mut State) -> R) -> R {
        f(&mut self.state.lock().unwrap())
    }

    /// The requests so far, as `METHOD path status`.
    pub(crate) fn log(&self) -> Vec<String> {
        self.with(|s| s.log.clone())
    }

    /// How many requests were `method path`.
    pub(crate) fn count(&self, method: &str, path: &str) -> usize {
        let prefix = format!("{method} {path} ");
        self.log().iter().filter(|l| l.starts_with(&prefix)).count()
    }
}

/// Answers one request on `conn`, then closes it.
async fn serve(mut conn: TcpStream, state: Arc<Mutex<State>>) {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
        match conn.read(&mut chunk).await {
            Ok(0) | Err(_) => return,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
    let head = String::from_utf8_lossy(&buf).into_owned();
    let mut lines = head.split("\r\n");
    let mut first = lines.next().unwrap_or_default().split(' ');
    let (method, path) = (first.next().unwrap_or(""), first.next().unwrap_or(""));
    let headers: HashMap<String, String> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    let (status, extra, body) = {
        let mut s = state.lock().unwrap();
        let answer = s.answer(method, path, &headers);
        s.log.push(format!("{method} {path} {}", answer.0));
        answer
    };
    let mut out = format!(
        "HTTP/1.1 {status} X\r\nContent-Length: {}\r\nConnection: close\r\n",
        body.len()
    );
    for (k, v) in extra {
        out.push_str(&format!("{k}: {v}\r\n"));
    }
    out.push_str("\r\n");
    out.push_str(&body);
    let _ = conn.write_all(out.as_bytes()).await;
    let _ = conn.shutdown().await;
}

impl State {
    /// Status, extra headers and body for a request.
    fn answer(
        &mut self,
        method: &str,
        path: &str,
        headers: &HashMap<String, String>,
    ) -> (u16, Vec<(&'static str, String)>, String) {
        if method == "PUT" && path == TOKEN_PATH {
            let Some(asked) = headers.get(TTL_HEADER).and_then(|v| v.parse::<u64>().ok()) else {
                return (400, vec![], String::new());
            };
            let ttl = asked.min(self.max_ttl);
            self.issued += 1;
            let token = format!("token-{}", self.issued);
            let expires = Instant::now() + Duration::from_secs(ttl);
            self.tokens.insert(token.clone(), expires);
            return (200, vec![(TTL_HEADER, ttl.to_string())], token);
        }
        let valid = headers
            .get(TOKEN_HEADER)
            .and_then(|t| self.tokens.get(t))
            .is_some_and(|&expires| Instant::now() < expires);
        if method != "GET" || !valid {
            return (401, vec![], String::new());
        }
        let role = self.role.clone().unwrap_or_default();
        match path.strip_prefix(ROLE_LIST_PATH) {
            _ if path == "/latest/meta-data/instance-id" => (200, vec![], INSTANCE_ID.into()),
            Some("") if self.role.is_some() => (200, vec![], role),
            Some(r) if !r.is_empty() && r == role => (200, vec![], self.credentials()),
            _ => (404, vec![], String::new()),
        }
    }

    fn credentials(&self) -> String {
        serde_json::json!({
            "Code": "Success",
            "Type": "AWS-HMAC",
            "AccessKeyId": format!("ASIAFAKE{:012}", self.key_serial),
            "SecretAccessKey": "fake-secret",
            "Token": "fake-session-token",
            "Expiration": humantime::format_rfc3339_seconds(self.expiration).to_string(),
        })
        .to_string()
    }
}
