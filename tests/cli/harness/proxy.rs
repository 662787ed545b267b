//! A recording TCP proxy in front of moto that can fail on purpose: it can be taken down (new
//! connections closed, open ones cut), go down after a number of requests, hold connections
//! without answering, and answer with canned HTTP errors.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;

/// The proxy's state, shared by its connections.
#[derive(Default)]
struct Shared {
    up: AtomicBool,
    hold: AtomicBool,
    recorded: Mutex<Vec<u8>>,
    inject: Mutex<VecDeque<String>>,
    requests: AtomicUsize,
    stop_after: AtomicUsize,
    cancel: Mutex<CancellationToken>,
}

impl Shared {
    /// Unreachable: new connections are closed at once, open ones are cut.
    fn go_down(&self) {
        self.up.store(false, Ordering::SeqCst);
        let mut c = self.cancel.lock().unwrap();
        c.cancel();
        *c = CancellationToken::new();
    }
}

/// A recording TCP proxy on 127.0.0.1 in front of `upstream`.
#[derive(Clone)]
pub struct Proxy {
    addr: SocketAddr,
    shared: Arc<Shared>,
}

impl Proxy {
    /// Starts forwarding to `upstream`.
    pub async fn start(upstream: SocketAddr) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let shared = Arc::new(Shared::default());
        shared.up.store(true, Ordering::SeqCst);
        shared.stop_after.store(usize::MAX, Ordering::SeqCst);
        let s = shared.clone();
        tokio::spawn(async move {
            loop {
                let Ok((sock, _)) = listener.accept().await else {
                    return;
                };
                tokio::spawn(handle(sock, upstream, s.clone()));
            }
        });
        Proxy { addr, shared }
    }

    /// `http://127.0.0.1:PORT`, for an endpoint setting.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Where it listens.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Unreachable from now on (until [`Proxy::up`]).
    pub fn down(&self) {
        self.shared.go_down();
    }

    /// Holds every new connection: reads and records its request, then never answers.
    pub fn hold(&self) {
        self.shared.hold.store(true, Ordering::SeqCst);
    }

    /// Reachable again, with no pending [`Proxy::stop_after`].
    pub fn up(&self) {
        self.shared.stop_after.store(usize::MAX, Ordering::SeqCst);
        self.shared.up.store(true, Ordering::SeqCst);
    }

    /// Goes down when request number `n + 1` arrives (it is not forwarded).
    pub fn stop_after(&self, n: usize) {
        self.shared.stop_after.store(n, Ordering::SeqCst);
    }

    /// The next new connection is answered with this HTTP response instead of forwarded.
    pub fn inject(&self, status: &str, body: &str) {
        let resp = format!(
            "HTTP/1.1 {status}\r\nContent-Type: application/x-amz-json-1.0\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        );
        self.shared.inject.lock().unwrap().push_back(resp);
    }

    /// Every request byte that came through.
    pub fn recorded(&self) -> Vec<u8> {
        self.shared.recorded.lock().unwrap().clone()
    }

    /// Requests seen so far.
    pub fn requests(&self) -> usize {
        self.shared.requests.load(Ordering::SeqCst)
    }
}

/// How many times `needle` occurs in `hay`.
pub fn count(hay: &[u8], needle: &[u8]) -> usize {
    hay.windows(needle.len()).filter(|w| *w == needle).count()
}

/// One HTTP request from `sock`: the head and a `Content-Length` body.
async fn read_request(sock: &mut TcpStream) -> Vec<u8> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 8192];
    loop {
        let n = sock.read(&mut chunk).await.unwrap_or(0);
        if n == 0 {
            return buf;
        }
        buf.extend_from_slice(&chunk[..n]);
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..end]).to_ascii_lowercase();
            let len: usize = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .and_then(|v| v.trim().parse().ok())
                .unwrap_or(0);
            if buf.len() >= end + 4 + len {
                return buf;
            }
        }
    }
}

/// One connection: refused while down, held, answered with a canned response, or
/// forwarded and recorded (going down after [`Proxy::stop_after`] requests).
async fn handle(mut client: TcpStream, upstream: SocketAddr, s: Arc<Shared>) {
    if !s.up.load(Ordering::SeqCst) {
        return;
    }
    if s.hold.load(Ordering::SeqCst) {
        let req = read_request(&mut client).await;
        s.recorded.lock().unwrap().extend_from_slice(&req);
        s.requests.fetch_add(1, Ordering::SeqCst);
        tokio::time::sleep(Duration::from_secs(600)).await;
        return;
    }
    let canned = s.inject.lock().unwrap().pop_front();
    if let Some(resp) = canned {
        let req = read_request(&mut client).await;
        s.recorded.lock().unwrap().extend_from_slice(&req);
        s.requests.fetch_add(1, Ordering::SeqCst);
        let _ = client.write_all(resp.as_bytes()).await;
        let _ = client.shutdown().await;
        return;
    }
    let Ok(server) = TcpStream::connect(upstream).await else {
        return;
    };
    let cancel = s.cancel.lock().unwrap().clone();
    let (mut cr, mut cw) = client.into_split();
    let (mut sr, mut sw) = server.into_split();
    let s2 = s.clone();
    let c2s = async move {
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            let n = cr.read(&mut buf).await.unwrap_or(0);
            if n == 0 {
                return;
            }
            let new = count(&buf[..n], b"POST /");
            if new > 0 {
                let total = s2.requests.fetch_add(new, Ordering::SeqCst) + new;
                if total > s2.stop_after.load(Ordering::SeqCst) {
                    s2.go_down();
                    return;
                }
            }
            s2.recorded.lock().unwrap().extend_from_slice(&buf[..n]);
            if sw.write_all(&buf[..n]).await.is_err() {
                return;
            }
        }
    };
    let s2c = async move {
        let _ = tokio::io::copy(&mut sr, &mut cw).await;
    };
    tokio::select! {
        _ = c2s => {}
        _ = s2c => {}
        _ = cancel.cancelled() => {}
    }
}
