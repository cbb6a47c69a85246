//! What the local server's benches share: a minimal keep-alive HTTP client, and running many
//! of them at once with latency percentiles.
#![allow(dead_code)] // each bench uses its own part

use std::time::{Duration, Instant};

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

pub const CLIENTS: usize = 32;

/// A minimal HTTP/1.1 keep-alive client: one connection, one request at a time.
pub struct Client {
    stream: BufReader<TcpStream>,
    token: String,
}

impl Client {
    pub async fn connect(port: u16, token: &str) -> Client {
        let stream = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
        stream.set_nodelay(true).unwrap();
        Client { stream: BufReader::new(stream), token: token.to_owned() }
    }

    pub async fn call(&mut self, method: &str, path: &str, body: &str) -> u16 {
        self.call_body(method, path, body).await.0
    }

    /// The status and the body of one request.
    pub async fn call_body(&mut self, method: &str, path: &str, body: &str) -> (u16, Vec<u8>) {
        let head = format!(
            "{method} {path} HTTP/1.1\r\nhost: 127.0.0.1\r\nauthorization: Bearer {}\r\nx-site-context: {{\"account\":\"bench\"}}\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n",
            self.token,
            body.len()
        );
        let stream = self.stream.get_mut();
        stream.write_all(head.as_bytes()).await.unwrap();
        stream.write_all(body.as_bytes()).await.unwrap();
        let mut line = String::new();
        self.stream.read_line(&mut line).await.unwrap();
        let status: u16 = line.split_whitespace().nth(1).and_then(|s| s.parse().ok()).unwrap();
        let mut length = 0;
        loop {
            line.clear();
            self.stream.read_line(&mut line).await.unwrap();
            if line == "\r\n" {
                break;
            }
            if let Some((name, value)) = line.split_once(':')
                && name.eq_ignore_ascii_case("content-length")
            {
                length = value.trim().parse().unwrap();
            }
        }
        let mut body = vec![0; length];
        self.stream.read_exact(&mut body).await.unwrap();
        (status, body)
    }
}

pub struct Figures {
    pub requests: usize,
    pub elapsed: Duration,
    pub p50: Duration,
    pub p99: Duration,
}

impl Figures {
    pub fn per_second(&self) -> f64 {
        self.requests as f64 / self.elapsed.as_secs_f64()
    }
}

/// Runs `work(client, n)` for n in 0..total across CLIENTS connections; latency percentiles.
pub async fn measure<F, Fut>(port: u16, token: &str, total: usize, work: F) -> Figures
where
    F: Fn(Client, Vec<usize>) -> Fut,
    Fut: std::future::Future<Output = Vec<Duration>> + Send + 'static,
{
    let mut tasks = Vec::new();
    let started = Instant::now();
    for c in 0..CLIENTS {
        let mine: Vec<usize> = (c..total).step_by(CLIENTS).collect();
        let client = Client::connect(port, token).await;
        tasks.push(tokio::spawn(work(client, mine)));
    }
    let mut latencies = Vec::with_capacity(total);
    for task in tasks {
        latencies.extend(task.await.unwrap());
    }
    let elapsed = started.elapsed();
    latencies.sort();
    let at = |q: f64| latencies[((latencies.len() as f64 * q) as usize).min(latencies.len() - 1)];
    Figures { requests: latencies.len(), elapsed, p50: at(0.50), p99: at(0.99) }
}

pub fn print(name: &str, f: &Figures) {
    println!(
        "{name:<28} {:>6} requests in {:>7.2?}  {:>9.0} req/s  p50 {:>9.2?}  p99 {:>9.2?}",
        f.requests,
        f.elapsed,
        f.per_second(),
        f.p50,
        f.p99
    );
}
