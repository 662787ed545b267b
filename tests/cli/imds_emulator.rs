//! Starts `tests/imds/emulator.py` for a test and drives it through its control endpoint.
//! The process is killed when the [`Emulator`] is dropped, and exits by itself if the test
//! binary dies (its stdin closes).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::time::Duration;

use serde_json::Value;

/// A running IMDS emulator on 127.0.0.1.
pub struct Emulator {
    child: Child,
    _stdin: ChildStdin,
    /// The port it listens on.
    pub port: u16,
    host: String,
}

impl Emulator {
    /// Starts the emulator on 127.0.0.1 with an initial scenario (a JSON object, see
    /// emulator.py).
    pub fn start(state: Value) -> Emulator {
        Emulator::start_on("127.0.0.1", state)
    }

    /// Starts the emulator on `host` (`127.0.0.1` or `::1`).
    pub fn start_on(host: &str, state: Value) -> Emulator {
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/imds/emulator.py");
        let mut child = Command::new("python3")
            .arg(script)
            .args(["--host", host, "--port", "0", "--watch-stdin", "--state"])
            .arg(state.to_string())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("python3 is needed to run the IMDS emulator");
        let stdin = child.stdin.take().unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .expect("emulator prints its port");
        let port = line
            .trim()
            .parse()
            .unwrap_or_else(|_| panic!("emulator did not print a port: {line:?}"));
        Emulator {
            child,
            _stdin: stdin,
            port,
            host: host.to_string(),
        }
    }

    /// `http://127.0.0.1:PORT` (or `http://[::1]:PORT`), for
    /// `AWS_EC2_METADATA_SERVICE_ENDPOINT`.
    pub fn endpoint(&self) -> String {
        if self.host.contains(':') {
            format!("http://[{}]:{}", self.host, self.port)
        } else {
            format!("http://{}:{}", self.host, self.port)
        }
    }

    /// Merges `change` into the scenario (`POST /_control`).
    pub fn control(&self, change: Value) {
        let (status, body) = self.http("POST", "/_control", &change.to_string());
        assert_eq!(status, 200, "emulator control refused {change}: {body}");
    }

    /// The request log: `[{method, path, headers, status}]`.
    pub fn log(&self) -> Vec<Value> {
        let (_, body) = self.http("GET", "/_control/log", "");
        serde_json::from_str(&body).expect("log is JSON")
    }

    /// Requests in the log for `method` and `path`.
    pub fn requests(&self, method: &str, path: &str) -> Vec<Value> {
        self.log()
            .into_iter()
            .filter(|r| r["method"] == method && r["path"] == path)
            .collect()
    }

    /// A raw HTTP/1.1 exchange with `Connection: close`; returns status and body.
    pub fn http(&self, method: &str, path: &str, body: &str) -> (u16, String) {
        let mut s = TcpStream::connect((self.host.as_str(), self.port)).expect("emulator is up");
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        write!(
            s,
            "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        )
        .unwrap();
        let mut resp = String::new();
        s.read_to_string(&mut resp).unwrap();
        let status = resp
            .split(' ')
            .nth(1)
            .and_then(|c| c.parse().ok())
            .unwrap_or(0);
        let body = resp
            .split_once("\r\n\r\n")
            .map(|(_, b)| b.to_string())
            .unwrap_or_default();
        (status, body)
    }
}

impl Drop for Emulator {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A port on 127.0.0.1 that nothing listens on (connection refused).
pub fn closed_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}
