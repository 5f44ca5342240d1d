//! `moto_server` (DynamoDB and Secrets Manager at the wire) for tests that use the real AWS SDK.
//!
//! [`MotoServer::shared`] is one server per test process (tests isolate themselves with their own
//! table and secret names); [`MotoServer::spawn`] is a private one a test may stop and restart,
//! or freeze ([`MotoServer::freeze`], SIGSTOP: connections open but nothing answers, a stalled
//! store) and thaw.
//! A server started by `scripts/test.sh` is reused when `MOTO_ENDPOINT` is set. The binary is
//! `.venv/bin/moto_server` (`scripts/bootstrap-python.sh` installs it), or `MOTO_SERVER`.
//!
//! The server runs under `sh`, which kills it when our stdin pipe closes: a test process that
//! ends, even by a panic or a signal, leaves no server behind.
// Test support: failing loudly is the point.
#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use gateway::env::Environment;
use gateway::store::{create_table, AwsClients};

pub struct MotoServer {
    endpoint: String,
    port: u16,
    child: Option<(Child, ChildStdin)>,
    /// The server process itself (the child is the `sh` that runs it).
    pid: Option<u32>,
    frozen: bool,
    /// Runs `tests/python/moto_serialized.py` (one request at a time, DynamoDB's atomicity).
    serialized: bool,
}

impl MotoServer {
    /// The server this test process shares (started on first use).
    pub fn shared() -> &'static MotoServer {
        static SHARED: OnceLock<MotoServer> = OnceLock::new();
        SHARED.get_or_init(|| match external_endpoint() {
            Some(endpoint) => MotoServer {
                port: 0,
                endpoint,
                child: None,
                pid: None,
                frozen: false,
                serialized: false,
            },
            None => MotoServer::spawn(),
        })
    }

    /// A server of this test's own, on a free port; stopped when dropped.
    pub fn spawn() -> MotoServer {
        Self::spawn_as(false)
    }

    /// A server of this test's own that handles one request at a time, as atomic as DynamoDB's
    /// conditional writes (moto's own threads are not): for tests that race writes on one item.
    pub fn spawn_serialized() -> MotoServer {
        Self::spawn_as(true)
    }

    fn spawn_as(serialized: bool) -> MotoServer {
        let port = free_port();
        let mut server = MotoServer {
            endpoint: format!("http://127.0.0.1:{port}"),
            port,
            child: None,
            pid: None,
            frozen: false,
            serialized,
        };
        server.start();
        server
    }

    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// Stops the server process (SIGSTOP): it keeps its port and state and the kernel still
    /// accepts connections, but no request is answered until [`MotoServer::thaw`].
    pub fn freeze(&mut self) {
        self.signal("STOP");
        self.frozen = true;
    }

    /// Lets a frozen server run again (SIGCONT).
    pub fn thaw(&mut self) {
        if self.frozen {
            self.signal("CONT");
            self.frozen = false;
        }
    }

    fn signal(&self, name: &str) {
        let pid = self.pid.expect("a private moto_server (MotoServer::spawn)");
        let status = Command::new("kill")
            .arg(format!("-{name}"))
            .arg(pid.to_string())
            .status()
            .expect("kill runs");
        assert!(status.success(), "kill -{name} {pid} failed");
    }

    /// Kills the server (its state is lost); requests to it fail to connect.
    pub fn stop(&mut self) {
        self.thaw();
        self.pid = None;
        if let Some((mut child, stdin)) = self.child.take() {
            drop(stdin);
            let _ = child.wait();
            let addr = SocketAddr::from(([127, 0, 0, 1], self.port));
            let deadline = Instant::now() + Duration::from_secs(10);
            while TcpStream::connect(addr).is_ok() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(50));
            }
        }
    }

    /// Starts a fresh, empty server on the same port.
    pub fn start(&mut self) {
        assert!(self.child.is_none(), "moto_server is already running");
        let bin = moto_binary();
        let script = if self.serialized {
            let python = bin.with_file_name("python");
            let wrapper =
                PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("python/moto_serialized.py");
            format!(
                r#""{}" "{}" "$1" >/dev/null 2>&1 & pid=$!; echo $pid; read _; kill $pid"#,
                python.display(),
                wrapper.display()
            )
        } else {
            r#""$0" -H 127.0.0.1 -p "$1" >/dev/null 2>&1 & pid=$!; echo $pid; read _; kill $pid"#
                .to_owned()
        };
        let mut child = Command::new("sh")
            .arg("-c")
            .arg(script)
            .arg(&bin)
            .arg(self.port.to_string())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", bin.display()));
        let stdin = child.stdin.take().expect("piped stdin");
        let mut line = String::new();
        BufReader::new(child.stdout.take().expect("piped stdout"))
            .read_line(&mut line)
            .expect("the server's pid");
        self.pid = Some(line.trim().parse().expect("a pid"));
        self.child = Some((child, stdin));
        wait_until_listening(self.port);
    }

    /// An environment pointing the gateway's store clients at this server, with test credentials.
    pub fn env_pairs(&self) -> Vec<(String, String)> {
        [
            ("AWS_ENDPOINT_URL_DYNAMODB", self.endpoint.as_str()),
            ("AWS_ENDPOINT_URL_SECRETS_MANAGER", self.endpoint.as_str()),
            ("AWS_ACCESS_KEY_ID", "testing"),
            ("AWS_SECRET_ACCESS_KEY", "testing"),
            ("AWS_REGION", "us-east-1"),
            // moto on a busy test machine answers in tens of milliseconds, sometimes seconds:
            // generous deadlines here; the stalled-store tests use the production default.
            ("GATEWAY_STORE_TIMEOUT_SECS", "20"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
    }

    pub fn environment(&self) -> Environment {
        Environment::from_pairs(self.env_pairs())
    }

    /// Store clients for this server.
    pub async fn clients(&self) -> AwsClients {
        AwsClients::load(&self.environment()).await
    }

    /// Store clients for this server with the gateway's production deadlines.
    pub async fn clients_with_default_timeouts(&self) -> AwsClients {
        let pairs = self
            .env_pairs()
            .into_iter()
            .filter(|(name, _)| name != "GATEWAY_STORE_TIMEOUT_SECS");
        AwsClients::load(&Environment::from_pairs(pairs)).await
    }

    /// A new, empty table with the gateway's definition and a unique name.
    pub async fn new_table(&self, prefix: &str) -> String {
        let name = format!("{prefix}-{}", uuid_like());
        let clients = self.clients().await;
        create_table(&clients.dynamodb, &name)
            .await
            .unwrap_or_else(|e| panic!("create table {name}: {e}"));
        name
    }

    /// A new secret holding `value`, named `prefix` plus a unique suffix; its id.
    pub async fn new_secret(&self, prefix: &str, value: &str) -> String {
        let id = format!("{prefix}-{}", uuid_like());
        self.clients()
            .await
            .secrets_manager
            .create_secret()
            .name(&id)
            .secret_string(value)
            .send()
            .await
            .unwrap_or_else(|e| panic!("create secret {id}: {e}"));
        id
    }
}

impl Drop for MotoServer {
    fn drop(&mut self) {
        self.thaw();
        if let Some((_, stdin)) = self.child.as_mut() {
            let _ = stdin.write_all(b"\n");
        }
        self.stop();
    }
}

#[allow(clippy::disallowed_methods)]
fn external_endpoint() -> Option<String> {
    std::env::var("MOTO_ENDPOINT")
        .ok()
        .filter(|e| !e.is_empty())
}

#[allow(clippy::disallowed_methods)]
fn moto_binary() -> PathBuf {
    if let Ok(bin) = std::env::var("MOTO_SERVER") {
        return PathBuf::from(bin);
    }
    let venv = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../.venv/bin/moto_server");
    assert!(
        venv.exists(),
        "{} is missing: run scripts/bootstrap-python.sh (or set MOTO_SERVER)",
        venv.display()
    );
    venv
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

fn wait_until_listening(port: u16) {
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let deadline = Instant::now() + Duration::from_secs(30);
    while TcpStream::connect(addr).is_err() {
        assert!(
            Instant::now() < deadline,
            "moto_server did not listen on {addr} within 30 s"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn uuid_like() -> String {
    use std::sync::atomic::{AtomicU32, Ordering};
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or_default();
    format!(
        "{}-{nanos:x}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}
