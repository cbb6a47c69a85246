//! The local server binary as a process: start it, call it over HTTP, mint its tokens.

#![allow(dead_code)] // each test file uses its own part

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub const BIN: &str = env!("CARGO_BIN_EXE_oms-local");

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

pub fn start(data: &Path, port: u16) -> Child {
    launch(data, port, &[], &[], Stdio::piped(), Stdio::piped())
}

/// Starts `oms-local` with `args` (e.g. `serve --no-demo`), its output appended to
/// `server.log` in the data folder (a pipe nobody reads would stall it), and waits for `/health`.
pub fn start_with(data: &Path, port: u16, args: &[&str]) -> Child {
    start_with_env(data, port, args, &[])
}

/// As [`start_with`], with extra environment variables.
pub fn start_with_env(data: &Path, port: u16, args: &[&str], envs: &[(&str, &str)]) -> Child {
    let log = std::fs::OpenOptions::new().create(true).append(true).open(data.join("server.log")).unwrap();
    launch(data, port, args, envs, Stdio::from(log.try_clone().unwrap()), Stdio::from(log))
}

fn launch(data: &Path, port: u16, args: &[&str], envs: &[(&str, &str)], stdout: Stdio, stderr: Stdio) -> Child {
    let child = Command::new(BIN)
        .args(args)
        .envs(envs.iter().copied())
        .env("OMS_DATA_DIR", data)
        .env("OMS_ADDR", format!("127.0.0.1:{port}"))
        .env_remove("TABLE_NAME")
        .env_remove("OMS_JWT_SECRET")
        .stdout(stdout)
        .stderr(stderr)
        .spawn()
        .unwrap();
    let started = Instant::now();
    while request(port, "GET", "/health", None, None).is_none() {
        assert!(started.elapsed() < Duration::from_secs(30), "the local server did not answer in 30 s");
        std::thread::sleep(Duration::from_millis(100));
    }
    child
}

/// A minimal HTTP/1.1 client: (status, body).
pub fn request(port: u16, method: &str, path: &str, token: Option<&str>, body: Option<&str>) -> Option<(u16, String)> {
    request_with(port, method, path, token, "", body)
}

/// As [`request`], with `extra` header lines (each ending in CRLF).
pub fn request_with(
    port: u16,
    method: &str,
    path: &str,
    token: Option<&str>,
    extra: &str,
    body: Option<&str>,
) -> Option<(u16, String)> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(10))).ok()?;
    let body = body.unwrap_or_default();
    let auth = token.map(|t| format!("Authorization: Bearer {t}\r\n")).unwrap_or_default();
    let head = format!(
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\nContent-Type: application/json\r\n{auth}{extra}Content-Length: {}\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).ok()?;
    stream.write_all(body.as_bytes()).ok()?;
    let mut raw = String::new();
    stream.read_to_string(&mut raw).ok()?;
    let status = raw.split_whitespace().nth(1)?.parse().ok()?;
    let body = raw.split_once("\r\n\r\n").map(|(_, b)| b.to_string()).unwrap_or_default();
    Some((status, body))
}

pub fn mint(data: &Path) -> String {
    let out =
        Command::new(BIN).arg("mint-token").env("OMS_DATA_DIR", data).env_remove("OMS_JWT_SECRET").output().unwrap();
    assert!(out.status.success());
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

pub fn temp_dir() -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("oms-local-test-{}-{}", std::process::id(), free_port()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}
