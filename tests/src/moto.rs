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
#![allow(
    clippy::expect_used,
    clippy::unwrap_used,
    clippy::panic,
    clippy::print_stderr
)]

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
    /// Whether moto has answered on `port` once (a restart must keep the port).
    started: bool,
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
                started: true,
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
            started: false,
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
        if self.end_process() {
            let addr = SocketAddr::from(([127, 0, 0, 1], self.port));
            let deadline = Instant::now() + Duration::from_secs(10);
            while TcpStream::connect(addr).is_ok() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(50));
            }
        }
    }

    /// Ends the server process; whether one was running.
    fn end_process(&mut self) -> bool {
        self.thaw();
        self.pid = None;
        match self.child.take() {
            Some((mut child, stdin)) => {
                drop(stdin);
                let _ = child.wait();
                true
            }
            None => false,
        }
    }

    /// Starts a fresh, empty server on the same port.
    ///
    /// A port found free by binding port 0 stays free only until someone binds it: another test
    /// in this process may take it before moto (a Python process, slow to start) does. moto then
    /// fails to bind and exits, and a bare "something listens" check would send this test's
    /// requests to the other server (seen in CI: CreateTable answered 404 with an empty body). So
    /// the server is recognised by a request only moto answers, and a first start that lost its
    /// port tries another; a restart keeps its port (clients point at it) and fails loudly.
    pub fn start(&mut self) {
        assert!(self.child.is_none(), "moto_server is already running");
        let first_start = !self.started;
        for _attempt in 0..5 {
            self.spawn_process();
            let pid = self.pid.expect("just spawned");
            match wait_for_moto(self.port, pid) {
                Ok(()) => {
                    self.started = true;
                    return;
                }
                Err(why) if first_start => {
                    eprintln!(
                        "moto_server on port {}: {why}; trying another port",
                        self.port
                    );
                    self.end_process();
                    self.port = free_port();
                    self.endpoint = format!("http://127.0.0.1:{}", self.port);
                }
                Err(why) => panic!("moto_server did not restart on port {}: {why}", self.port),
            }
        }
        panic!("moto_server did not start on any of 5 ports");
    }

    fn spawn_process(&mut self) {
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

/// Waits until moto itself answers on `port` (`GET /moto-api/data.json` → 200), or fails when its
/// process `pid` has exited (it could not bind) or 30 s pass.
fn wait_for_moto(port: u16, pid: u32) -> Result<(), String> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if moto_answers(port) {
            return Ok(());
        }
        if !process_runs(pid) {
            return Err("the process exited (its port was taken)".into());
        }
        if Instant::now() > deadline {
            return Err("no answer from moto within 30 s".into());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn moto_answers(port: u16) -> bool {
    use std::io::Read;
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let Ok(mut stream) = TcpStream::connect_timeout(&addr, Duration::from_secs(2)) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
    let request = b"GET /moto-api/data.json HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n";
    let mut head = [0u8; 12];
    stream.write_all(request).is_ok()
        && stream.read_exact(&mut head).is_ok()
        && head.starts_with(b"HTTP/1.")
        && &head[9..12] == b"200"
}

/// Whether `pid` runs (an exited child of the `sh` wrapper stays a zombie until reaped).
fn process_runs(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map(|stat| {
            stat.rsplit_once(')')
                .is_some_and(|(_, rest)| !rest.trim_start().starts_with(['Z', 'X']))
        })
        .unwrap_or(false)
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    #[test]
    fn another_server_on_moto_s_port_is_not_taken_for_moto() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let mut stream = stream.unwrap();
                let mut buf = [0u8; 512];
                let _ = stream.read(&mut buf);
                let _ = stream.write_all(b"HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\n\r\n");
            }
        });
        assert!(!moto_answers(port), "a 404 server is not moto");

        // A moto that lost the port exits: seen as not running even before it is reaped.
        let mut exited = Command::new("true").spawn().unwrap();
        let pid = exited.id();
        std::thread::sleep(Duration::from_millis(300));
        assert!(
            !process_runs(pid),
            "an exited, unreaped process is not running"
        );
        assert!(wait_for_moto(port, pid).is_err());
        exited.wait().unwrap();

        let moto = MotoServer::spawn();
        assert!(moto_answers(moto.port));
        assert!(process_runs(moto.pid.unwrap()));
    }
}
