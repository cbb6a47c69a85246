//! Lambda init: starts `order-get` and the hello-world `hello-lambda` (both built with the release
//! profile, as deployed) as processes against a fake Runtime API on 127.0.0.1, many times, and
//! prints the time from process start to the first `/next` (init) and to the first response,
//! each beside the hello-world floor with the ratio. `order-get` runs on the embedded store (a
//! temporary folder) and on DynamoDB (the emulator of `.venv`, when present).
//!
//! `cargo bench -p lambda-init-bench` builds the two binaries first (`BUILD=0` uses those already
//! in the target folder) and runs each `RUNS` times (default 50).

use std::fs::{self, File};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use lambda_init_bench::{Call, FakeRuntimeApi};

const FUNCTION: &str = "order-get";
const HELLO: &str = "hello-lambda";
const TABLE: &str = "oms-init-bench";
const TIMEOUT: Duration = Duration::from_secs(30);

struct Case {
    label: &'static str,
    binary: PathBuf,
    function_name: &'static str,
    env: Vec<(String, String)>,
    log: PathBuf,
    init: Vec<Duration>,
    response: Vec<Duration>,
    status: Option<String>,
}

struct Sample {
    init: Duration,
    response: Duration,
    status: String,
}

fn main() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").canonicalize().expect("workspace root");
    let runs: usize = std::env::var("RUNS").ok().and_then(|v| v.parse().ok()).unwrap_or(50);
    let bin_dir = build(&root);
    let event = fs::read(root.join("events").join(format!("{FUNCTION}.json"))).expect("events/order-get.json");
    let scratch = std::env::temp_dir().join(format!("lambda-init-bench-{}", std::process::id()));
    fs::create_dir_all(scratch.join("data")).expect("temporary folder");

    let base = lambda_env(&scratch);
    let case = |label: &'static str, binary: &str, function_name: &'static str, extra: Vec<(&str, String)>| {
        let mut env = base.clone();
        env.push(("AWS_LAMBDA_FUNCTION_NAME".into(), function_name.to_string()));
        env.push(("AWS_LAMBDA_LOG_GROUP_NAME".into(), format!("/aws/lambda/{function_name}")));
        env.extend(extra.into_iter().map(|(k, v)| (k.to_string(), v)));
        Case {
            label,
            binary: bin_dir.join(binary),
            function_name,
            env,
            log: scratch.join(format!("{label}.log").replace([' ', ','], "-")),
            init: Vec::new(),
            response: Vec::new(),
            status: None,
        }
    };
    let mut cases = vec![
        case("hello-lambda (echo)", HELLO, HELLO, vec![]),
        case(
            "order-get, embedded store",
            FUNCTION,
            FUNCTION,
            vec![("OMS_DATA_DIR", scratch.join("data").display().to_string())],
        ),
    ];
    let emulator = match Emulator::start(&root, &scratch) {
        Ok(emulator) => {
            cases.push(case(
                "order-get, DynamoDB (emulator)",
                FUNCTION,
                FUNCTION,
                vec![
                    ("TABLE_NAME", TABLE.into()),
                    ("CHANGE_TRACKER_QUEUE_URL", format!("{}/123456789012/oms-change-tracker", emulator.url)),
                    ("AWS_ENDPOINT_URL", emulator.url.clone()),
                ],
            ));
            Some(emulator)
        }
        Err(why) => {
            println!("DynamoDB mode skipped: {why}");
            None
        }
    };

    // One unmeasured run each warms the page cache (and creates the embedded database).
    for case in &mut cases {
        if let Err(err) = run_once(case, &event) {
            fail(case, &err);
        }
    }
    for _ in 0..runs {
        for case in &mut cases {
            match run_once(case, &event) {
                Ok(sample) => {
                    case.init.push(sample.init);
                    case.response.push(sample.response);
                    case.status = Some(sample.status);
                }
                Err(err) => fail(case, &err),
            }
        }
    }
    drop(emulator);
    let _ = fs::remove_dir_all(&scratch);
    report(&mut cases, runs);
}

/// Builds both binaries with the release profile; returns the folder that holds them.
fn build(root: &Path) -> PathBuf {
    let target = match std::env::var_os("CARGO_TARGET_DIR") {
        Some(dir) => root.join(dir),
        None => root.join("target"),
    };
    let dir = target.join("release");
    if std::env::var("BUILD").is_ok_and(|v| v == "0") {
        println!("BUILD=0: using the binaries already in {}", dir.display());
    } else {
        println!("building {FUNCTION} and {HELLO} (release profile)...");
        let mut cargo = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
        // What cargo sets for the benchmark itself; build scripts watch some of these variables,
        // and a build that saw them would be redone by the next plain `cargo build`.
        for (name, _) in std::env::vars_os() {
            let name = name.to_string_lossy();
            if name.starts_with("CARGO_PKG_")
                || name.starts_with("CARGO_MANIFEST_")
                || name.starts_with("CARGO_CRATE_")
                || name.starts_with("CARGO_BIN_")
                || name == "CARGO_PRIMARY_PACKAGE"
                || name == "CARGO_RUSTC_CURRENT_DIR"
                || name == "OUT_DIR"
            {
                cargo.env_remove(name.as_ref());
            }
        }
        let status = cargo
            .current_dir(root)
            .args(["build", "--quiet", "--release", "-p", FUNCTION, "-p", HELLO])
            .status()
            .expect("cargo build");
        assert!(status.success(), "cargo build --release -p {FUNCTION} -p {HELLO} failed");
    }
    for binary in [FUNCTION, HELLO] {
        let size = fs::metadata(dir.join(binary)).map(|m| m.len()).unwrap_or_default();
        println!("{binary}: {:.1} MB ({})", size as f64 / 1e6, dir.join(binary).display());
    }
    dir
}

/// What Lambda puts in a function's environment (the emulator takes the fake credentials).
fn lambda_env(scratch: &Path) -> Vec<(String, String)> {
    let mut env: Vec<(String, String)> = [
        ("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "1024"),
        ("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST"),
        ("AWS_LAMBDA_LOG_STREAM_NAME", "2026/01/01/[$LATEST]0123456789abcdef"),
        ("AWS_LAMBDA_INITIALIZATION_TYPE", "on-demand"),
        ("AWS_EXECUTION_ENV", "AWS_Lambda_provided.al2023"),
        ("AWS_REGION", "us-east-1"),
        ("AWS_DEFAULT_REGION", "us-east-1"),
        ("AWS_ACCESS_KEY_ID", "testing"),
        ("AWS_SECRET_ACCESS_KEY", "testing"),
        ("AWS_SESSION_TOKEN", "testing"),
        ("_HANDLER", "bootstrap"),
        ("TZ", ":UTC"),
        ("LANG", "en_US.UTF-8"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    env.push(("PATH".into(), "/usr/local/bin:/usr/bin:/bin".into()));
    // An empty home: no developer profile files.
    env.push(("HOME".into(), scratch.display().to_string()));
    env
}

/// Starts the binary, hands it the event, and times its first `/next` and its response.
fn run_once(case: &Case, event: &[u8]) -> Result<Sample, String> {
    let api = FakeRuntimeApi::start(event.to_vec(), case.function_name).map_err(|e| e.to_string())?;
    let log = File::options().create(true).append(true).open(&case.log).map_err(|e| e.to_string())?;
    let log_err = log.try_clone().map_err(|e| e.to_string())?;
    let start = Instant::now();
    let mut child = Command::new(&case.binary)
        .env_clear()
        .envs(case.env.iter().map(|(k, v)| (k, v)))
        .env("AWS_LAMBDA_RUNTIME_API", api.address())
        .stdin(Stdio::null())
        .stdout(log)
        .stderr(log_err)
        .spawn()
        .map_err(|e| format!("{}: {e}", case.binary.display()))?;
    let result = wait_for_response(&api, &mut child, start);
    let _ = child.kill();
    let _ = child.wait();
    result
}

fn wait_for_response(api: &FakeRuntimeApi, child: &mut Child, start: Instant) -> Result<Sample, String> {
    let mut init = None;
    loop {
        match api.wait(Duration::from_millis(50)) {
            Some(seen) => match seen.call {
                Call::Next => {
                    init.get_or_insert(seen.at - start);
                }
                Call::Response { body, .. } => {
                    let init = init.ok_or("a response before any /next")?;
                    return Ok(Sample { init, response: seen.at - start, status: status_of(&body) });
                }
                Call::Error { body, .. } | Call::InitError { body } => {
                    return Err(format!("the function reported {}", String::from_utf8_lossy(&body)));
                }
                Call::Other { method, path } => return Err(format!("unexpected call {method} {path}")),
            },
            None => {
                if let Ok(Some(status)) = child.try_wait() {
                    return Err(format!("the process exited ({status}) before answering"));
                }
                if start.elapsed() > TIMEOUT {
                    return Err(format!("no response within {TIMEOUT:?}"));
                }
            }
        }
    }
}

/// The `statusCode` of an API Gateway response, or "echo" for the hello-world answer.
fn status_of(body: &[u8]) -> String {
    let body = String::from_utf8_lossy(body);
    match body.split_once("\"statusCode\":") {
        Some((_, rest)) => {
            format!("HTTP {}", rest.trim_start().chars().take_while(char::is_ascii_digit).collect::<String>())
        }
        None => "echo".into(),
    }
}

fn fail(case: &Case, err: &str) -> ! {
    let log = fs::read_to_string(&case.log).unwrap_or_default();
    let tail: Vec<&str> = log.lines().rev().take(20).collect();
    eprintln!("{}: {err}\nlast log lines:", case.label);
    for line in tail.iter().rev() {
        eprintln!("  {line}");
    }
    std::process::exit(1);
}

fn report(cases: &mut [Case], runs: usize) {
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    let stats = |samples: &mut Vec<Duration>| {
        samples.sort();
        let at = |q: f64| samples[((samples.len() as f64 * q).ceil() as usize).clamp(1, samples.len()) - 1];
        (ms(at(0.5)), ms(at(0.9)))
    };
    let (hello_init, hello_response) = {
        let hello = &mut cases[0];
        (stats(&mut hello.init), stats(&mut hello.response))
    };
    println!(
        "\nLambda init, {runs} runs each (release profile; process start to the fake Runtime API's first /next, \
         and to the first response)"
    );
    println!(
        "{:<32} {:>9} {:>9} {:>8}   {:>9} {:>9} {:>8}   first answer",
        "", "init p50", "init p90", "x hello", "resp p50", "resp p90", "x hello"
    );
    for case in cases.iter_mut() {
        let init = stats(&mut case.init);
        let response = stats(&mut case.response);
        println!(
            "{:<32} {:>6.2} ms {:>6.2} ms {:>7.2}x   {:>6.2} ms {:>6.2} ms {:>7.2}x   {}",
            case.label,
            init.0,
            init.1,
            init.0 / hello_init.0,
            response.0,
            response.1,
            response.0 / hello_response.0,
            case.status.as_deref().unwrap_or("-"),
        );
    }
}

/// The DynamoDB + SQS emulator (scripts/emulator.py on the `.venv` of scripts/test.sh) with the
/// benchmark's table; stopped when dropped.
struct Emulator {
    url: String,
    child: Child,
}

impl Emulator {
    fn start(root: &Path, scratch: &Path) -> Result<Self, String> {
        let python = root.join(".venv/bin/python");
        if !python.exists() {
            return Err(format!("{} not found (scripts/test.sh creates it)", python.display()));
        }
        let port =
            std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map_err(|e| e.to_string())?.port();
        let url = format!("http://127.0.0.1:{port}");
        let log = File::create(scratch.join("emulator.log")).map_err(|e| e.to_string())?;
        let child = Command::new(&python)
            .arg(root.join("scripts/emulator.py"))
            .args(["127.0.0.1", &port.to_string()])
            .stdout(log.try_clone().map_err(|e| e.to_string())?)
            .stderr(log)
            .spawn()
            .map_err(|e| format!("{}: {e}", python.display()))?;
        let emulator = Self { url, child };
        let created = Command::new(&python)
            .args(["-c", CREATE_TABLE, &emulator.url, TABLE])
            .output()
            .map_err(|e| format!("{}: {e}", python.display()))?;
        if !created.status.success() {
            return Err(format!(
                "the emulator's table could not be created: {}",
                String::from_utf8_lossy(&created.stderr).trim()
            ));
        }
        Ok(emulator)
    }
}

impl Drop for Emulator {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Waits for the emulator, then creates the table (keys only: `order-get` reads by key).
const CREATE_TABLE: &str = r#"
import sys, time, boto3, botocore.exceptions
url, table = sys.argv[1], sys.argv[2]
client = boto3.client("dynamodb", endpoint_url=url, region_name="us-east-1",
                      aws_access_key_id="testing", aws_secret_access_key="testing")
deadline = time.monotonic() + 60
while True:
    try:
        client.create_table(
            TableName=table, BillingMode="PAY_PER_REQUEST",
            KeySchema=[{"AttributeName": "PK", "KeyType": "HASH"}, {"AttributeName": "SK", "KeyType": "RANGE"}],
            AttributeDefinitions=[{"AttributeName": "PK", "AttributeType": "S"},
                                  {"AttributeName": "SK", "AttributeType": "S"}])
        break
    except botocore.exceptions.EndpointConnectionError:
        if time.monotonic() > deadline:
            raise
        time.sleep(0.2)
"#;
