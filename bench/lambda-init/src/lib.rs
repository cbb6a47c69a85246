//! A fake Lambda Runtime API on 127.0.0.1, for the Lambda init benchmark.
//!
//! It answers the first `GET /2018-06-01/runtime/invocation/next` with one event and the headers
//! Lambda sends, holds every later `/next` (as Lambda does between invocations), accepts
//! `/response`, `/error` and `/init/error`, and reports each call with the instant it arrived.

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, Sender};
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

const API: &str = "/2018-06-01/runtime";
/// The request id of the one event the fake API hands out.
pub const REQUEST_ID: &str = "8476a536-e9f4-11e8-9739-2dfe598c3fcd";

/// A call a function made to the Runtime API.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Call {
    /// `GET /invocation/next`: the function is ready for an event (the first one ends init).
    Next,
    /// `POST /invocation/{id}/response`.
    Response { request_id: String, body: Vec<u8> },
    /// `POST /invocation/{id}/error`.
    Error { request_id: String, body: Vec<u8> },
    /// `POST /init/error`.
    InitError { body: Vec<u8> },
    /// Anything else (answered 404).
    Other { method: String, path: String },
}

/// A call and when its request had fully arrived.
#[derive(Debug)]
pub struct Seen {
    pub at: Instant,
    pub call: Call,
}

struct Shared {
    event: Vec<u8>,
    function_arn: String,
    event_given: AtomicBool,
    calls: Sender<Seen>,
}

/// The fake API; it stops listening when dropped.
pub struct FakeRuntimeApi {
    addr: SocketAddr,
    calls: Receiver<Seen>,
    stop: Arc<AtomicBool>,
}

impl FakeRuntimeApi {
    /// Listens on a free port of 127.0.0.1; the first `/next` gets `event` for `function_name`.
    pub fn start(event: Vec<u8>, function_name: &str) -> io::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let addr = listener.local_addr()?;
        let (sender, calls) = mpsc::channel();
        let shared = Arc::new(Shared {
            event,
            function_arn: format!("arn:aws:lambda:us-east-1:123456789012:function:{function_name}"),
            event_given: AtomicBool::new(false),
            calls: sender,
        });
        let stop = Arc::new(AtomicBool::new(false));
        let stopped = stop.clone();
        thread::spawn(move || {
            for stream in listener.incoming() {
                if stopped.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(stream) = stream else { continue };
                let _ = stream.set_nodelay(true);
                let shared = shared.clone();
                thread::spawn(move || serve(stream, &shared));
            }
        });
        Ok(Self { addr, calls, stop })
    }

    /// `127.0.0.1:PORT`, the value of `AWS_LAMBDA_RUNTIME_API`.
    pub fn address(&self) -> String {
        self.addr.to_string()
    }

    /// The next call, or `None` when none came within `timeout`.
    pub fn wait(&self, timeout: Duration) -> Option<Seen> {
        self.calls.recv_timeout(timeout).ok()
    }
}

impl Drop for FakeRuntimeApi {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wakes the accept loop so that it sees `stop`.
        let _ = TcpStream::connect(self.addr);
    }
}

struct Request {
    method: String,
    path: String,
    body: Vec<u8>,
}

/// Serves one keep-alive connection until the client closes it.
fn serve(stream: TcpStream, shared: &Shared) {
    let Ok(read_half) = stream.try_clone() else { return };
    let mut reader = BufReader::new(read_half);
    let mut writer = stream;
    while let Ok(Some(request)) = read_request(&mut reader) {
        let at = Instant::now();
        let call = classify(&request);
        let reply = match &call {
            Call::Next if shared.event_given.swap(true, Ordering::SeqCst) => None,
            Call::Next => Some(event_reply(shared)),
            Call::Response { .. } | Call::Error { .. } | Call::InitError { .. } => {
                Some(reply("202 Accepted", &[], br#"{"status":"OK"}"#))
            }
            Call::Other { .. } => Some(reply("404 Not Found", &[], b"{}")),
        };
        let _ = shared.calls.send(Seen { at, call });
        match reply {
            Some(bytes) => {
                if writer.write_all(&bytes).and_then(|()| writer.flush()).is_err() {
                    return;
                }
            }
            // A later /next: hold it until the function goes away, as Lambda freezes it.
            None => {
                let _ = io::copy(&mut reader, &mut io::sink());
                return;
            }
        }
    }
}

fn classify(request: &Request) -> Call {
    let path = request.path.split('?').next().unwrap_or_default();
    let invocation = path.strip_prefix(API).and_then(|rest| rest.strip_prefix("/invocation/"));
    match (request.method.as_str(), invocation) {
        ("GET", Some("next")) => Call::Next,
        ("POST", Some(rest)) => {
            if let Some(id) = rest.strip_suffix("/response") {
                Call::Response { request_id: id.to_owned(), body: request.body.clone() }
            } else if let Some(id) = rest.strip_suffix("/error") {
                Call::Error { request_id: id.to_owned(), body: request.body.clone() }
            } else {
                Call::Other { method: request.method.clone(), path: request.path.clone() }
            }
        }
        ("POST", None) if path == format!("{API}/init/error") => Call::InitError { body: request.body.clone() },
        _ => Call::Other { method: request.method.clone(), path: request.path.clone() },
    }
}

fn event_reply(shared: &Shared) -> Vec<u8> {
    let now_ms = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis()).unwrap_or_default();
    let deadline = (now_ms + 30_000).to_string();
    let headers = [
        ("Lambda-Runtime-Aws-Request-Id", REQUEST_ID),
        ("Lambda-Runtime-Deadline-Ms", deadline.as_str()),
        ("Lambda-Runtime-Invoked-Function-Arn", shared.function_arn.as_str()),
        ("Lambda-Runtime-Trace-Id", "Root=1-5bef4de7-ad49b0e87f6ef6c87fc2e700;Parent=9a9197af755a6419;Sampled=1"),
    ];
    reply("200 OK", &headers, &shared.event)
}

fn reply(status: &str, headers: &[(&str, &str)], body: &[u8]) -> Vec<u8> {
    let mut out = format!("HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n", body.len());
    for (name, value) in headers {
        out.push_str(&format!("{name}: {value}\r\n"));
    }
    out.push_str("\r\n");
    let mut bytes = out.into_bytes();
    bytes.extend_from_slice(body);
    bytes
}

/// One HTTP/1.1 request (a `Content-Length` or chunked body); `None` when the client closed.
fn read_request(reader: &mut impl BufRead) -> io::Result<Option<Request>> {
    let mut line = String::new();
    if reader.read_line(&mut line)? == 0 {
        return Ok(None);
    }
    let mut parts = line.split_whitespace();
    let (Some(method), Some(path)) = (parts.next(), parts.next()) else {
        return Err(io::Error::new(io::ErrorKind::InvalidData, format!("bad request line {line:?}")));
    };
    let (method, path) = (method.to_owned(), path.to_owned());
    let mut length = 0;
    let mut chunked = false;
    loop {
        let mut header = String::new();
        if reader.read_line(&mut header)? == 0 {
            return Ok(None);
        }
        let header = header.trim_end();
        if header.is_empty() {
            break;
        }
        let Some((name, value)) = header.split_once(':') else { continue };
        let value = value.trim();
        if name.eq_ignore_ascii_case("content-length") {
            length = value.parse().map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "bad Content-Length"))?;
        } else if name.eq_ignore_ascii_case("transfer-encoding") && value.eq_ignore_ascii_case("chunked") {
            chunked = true;
        }
    }
    let body = if chunked { read_chunked(reader)? } else { read_exact(reader, length)? };
    Ok(Some(Request { method, path, body }))
}

fn read_exact(reader: &mut impl Read, length: usize) -> io::Result<Vec<u8>> {
    let mut body = vec![0; length];
    reader.read_exact(&mut body)?;
    Ok(body)
}

fn read_chunked(reader: &mut impl BufRead) -> io::Result<Vec<u8>> {
    let mut body = Vec::new();
    loop {
        let mut size_line = String::new();
        reader.read_line(&mut size_line)?;
        let size = size_line.trim().split(';').next().unwrap_or_default();
        let size = usize::from_str_radix(size, 16)
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, format!("bad chunk size {size_line:?}")))?;
        if size == 0 {
            // Trailers, then the empty line.
            loop {
                let mut trailer = String::new();
                if reader.read_line(&mut trailer)? == 0 || trailer.trim_end().is_empty() {
                    return Ok(body);
                }
            }
        }
        body.extend(read_exact(reader, size)?);
        read_exact(reader, 2)?; // CRLF after the chunk
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn send(api: &FakeRuntimeApi, request: &str) -> (TcpStream, String) {
        let mut stream = TcpStream::connect(api.address()).unwrap();
        stream.write_all(request.as_bytes()).unwrap();
        stream.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let mut reader = BufReader::new(stream.try_clone().unwrap());
        let mut head = String::new();
        let mut length = 0;
        loop {
            let mut line = String::new();
            reader.read_line(&mut line).unwrap();
            if let Some(value) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                length = value.trim().parse().unwrap();
            }
            head.push_str(&line);
            if line == "\r\n" {
                break;
            }
        }
        let body = read_exact(&mut reader, length).unwrap();
        (stream, head + &String::from_utf8(body).unwrap())
    }

    #[test]
    fn when_a_function_asks_for_the_next_event_should_answer_with_the_event_and_the_lambda_headers() {
        let api = FakeRuntimeApi::start(br#"{"hello":"world"}"#.to_vec(), "hello").unwrap();
        let (_stream, answer) = send(&api, "GET /2018-06-01/runtime/invocation/next HTTP/1.1\r\nHost: x\r\n\r\n");
        assert!(answer.starts_with("HTTP/1.1 200 OK\r\n"), "{answer}");
        for header in [
            "Lambda-Runtime-Aws-Request-Id: 8476a536",
            "Lambda-Runtime-Deadline-Ms: ",
            "Lambda-Runtime-Invoked-Function-Arn: arn:aws:lambda:us-east-1:123456789012:function:hello",
            "Lambda-Runtime-Trace-Id: Root=",
        ] {
            assert!(answer.contains(header), "{header} missing in {answer}");
        }
        assert!(answer.ends_with(r#"{"hello":"world"}"#));
        assert_eq!(api.wait(Duration::from_secs(5)).unwrap().call, Call::Next);
    }

    #[test]
    fn when_a_function_posts_a_chunked_response_should_report_its_body() {
        let api = FakeRuntimeApi::start(b"{}".to_vec(), "hello").unwrap();
        let (_stream, answer) = send(
            &api,
            "POST /2018-06-01/runtime/invocation/abc/response HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n\
             3\r\n{\"a\r\n4\r\n\":1}\r\n0\r\n\r\n",
        );
        assert!(answer.starts_with("HTTP/1.1 202 Accepted\r\n"), "{answer}");
        let seen = api.wait(Duration::from_secs(5)).unwrap();
        assert_eq!(seen.call, Call::Response { request_id: "abc".into(), body: br#"{"a":1}"#.to_vec() });
    }

    #[test]
    fn when_init_fails_should_report_the_init_error() {
        let api = FakeRuntimeApi::start(b"{}".to_vec(), "hello").unwrap();
        let (_stream, answer) =
            send(&api, "POST /2018-06-01/runtime/init/error HTTP/1.1\r\nContent-Length: 2\r\n\r\n{}");
        assert!(answer.starts_with("HTTP/1.1 202 Accepted\r\n"), "{answer}");
        assert_eq!(api.wait(Duration::from_secs(5)).unwrap().call, Call::InitError { body: b"{}".to_vec() });
    }
}
