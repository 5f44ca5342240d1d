//! bench-client: the measurements `oha` cannot make, with the standard library only.
//!
//! - `ttfb`: sequential (concurrency 1) keep-alive HTTP/1.1 requests; per request the time to the
//!   response head, to the first body byte, to the first content token, and to the end of the body.
//! - `coldstart`: spawns a server, polls `GET /health` (or `--health-path`) every ~0.5 ms, then sends one chat request:
//!   process start -> healthy, and -> first answered request.
//! - `lambda-init`: a minimal Lambda Runtime API on 127.0.0.1; spawns the function with
//!   `AWS_LAMBDA_RUNTIME_API` pointing at it and times process start -> first `GET .../next`
//!   (what Lambda reports as Init Duration), then each invocation's round trip.
//!
//! Every command prints one JSON object on stdout. Only loopback addresses are used; every loop is
//! bounded by a count and a deadline.

use std::collections::HashMap;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, ExitCode, Stdio};
use std::sync::{Arc, Condvar, Mutex};
use std::thread;
use std::time::{Duration, Instant};

type Res<T> = Result<T, String>;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("ttfb") => ttfb(&args[1..]),
        Some("coldstart") => coldstart(&args[1..]),
        Some("lambda-init") => lambda_init(&args[1..]),
        _ => {
            Err("usage: bench-client ttfb|coldstart|lambda-init [options] (see src/main.rs)".into())
        }
    };
    match result {
        Ok(json) => {
            println!("{json}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("bench-client: {e}");
            ExitCode::FAILURE
        }
    }
}

// ---------------------------------------------------------------- options

struct Opts {
    flags: HashMap<String, Vec<String>>,
    command: Vec<String>,
}

fn parse_opts(args: &[String]) -> Res<Opts> {
    let mut flags: HashMap<String, Vec<String>> = HashMap::new();
    let mut i = 0;
    while i < args.len() {
        let a = &args[i];
        if a == "--" {
            return Ok(Opts {
                flags,
                command: args[i + 1..].to_vec(),
            });
        }
        let name = a
            .strip_prefix("--")
            .ok_or_else(|| format!("unexpected argument {a}"))?;
        let value = args
            .get(i + 1)
            .ok_or_else(|| format!("--{name} needs a value"))?;
        flags
            .entry(name.to_owned())
            .or_default()
            .push(value.clone());
        i += 2;
    }
    Ok(Opts {
        flags,
        command: Vec::new(),
    })
}

impl Opts {
    fn get(&self, name: &str) -> Option<&str> {
        self.flags
            .get(name)
            .and_then(|v| v.last())
            .map(String::as_str)
    }
    fn req(&self, name: &str) -> Res<&str> {
        self.get(name)
            .ok_or_else(|| format!("--{name} is required"))
    }
    fn num(&self, name: &str, default: u64) -> Res<u64> {
        self.get(name).map_or(Ok(default), |v| {
            v.parse().map_err(|e| format!("--{name} {v}: {e}"))
        })
    }
    fn all(&self, name: &str) -> Vec<String> {
        self.flags.get(name).cloned().unwrap_or_default()
    }
}

// ---------------------------------------------------------------- HTTP/1.1 client

struct Timing {
    status: u16,
    head: Duration,
    first_byte: Option<Duration>,
    first_token: Option<Duration>,
    total: Duration,
    body: Vec<u8>,
}

#[derive(Clone, Copy, PartialEq)]
enum Marker {
    /// A Bedrock event-stream frame of type contentBlockDelta.
    EventStream,
    /// An SSE `data:` chunk whose delta has non-empty `"content"`.
    Sse,
    /// Any body byte.
    None,
}

fn find(hay: &[u8], needle: &[u8], from: usize) -> Option<usize> {
    if from >= hay.len() || needle.is_empty() {
        return None;
    }
    hay[from..]
        .windows(needle.len())
        .position(|w| w == needle)
        .map(|p| p + from)
}

fn has_token(body: &[u8], marker: Marker) -> bool {
    match marker {
        Marker::None => !body.is_empty(),
        Marker::EventStream => find(body, b"contentBlockDelta", 0).is_some(),
        Marker::Sse => {
            for pat in [&b"\"content\":\""[..], &b"\"content\": \""[..]] {
                let mut from = 0;
                while let Some(p) = find(body, pat, from) {
                    let next = body.get(p + pat.len()).copied();
                    if next.is_some() && next != Some(b'"') {
                        return true;
                    }
                    from = p + 1;
                }
            }
            false
        }
    }
}

/// Parses a chunked body from `buf`; returns (decoded body, complete?).
fn dechunk(buf: &[u8]) -> (Vec<u8>, bool) {
    let mut out = Vec::new();
    let mut pos = 0;
    loop {
        let Some(eol) = find(buf, b"\r\n", pos) else {
            return (out, false);
        };
        let line = String::from_utf8_lossy(&buf[pos..eol]);
        let size_hex = line.split(';').next().unwrap_or("").trim();
        let Ok(size) = usize::from_str_radix(size_hex, 16) else {
            return (out, false);
        };
        let data = eol + 2;
        if size == 0 {
            // Trailers (possibly none), then an empty line.
            if buf.len() >= data + 2 && &buf[data..data + 2] == b"\r\n" {
                return (out, true);
            }
            return (
                out,
                find(buf, b"\r\n\r\n", data.saturating_sub(2)).is_some(),
            );
        }
        if buf.len() < data + size + 2 {
            out.extend_from_slice(&buf[data..buf.len().min(data + size)]);
            return (out, false);
        }
        out.extend_from_slice(&buf[data..data + size]);
        pos = data + size + 2;
    }
}

struct Head {
    status: u16,
    content_length: Option<usize>,
    chunked: bool,
    close: bool,
}

fn parse_head(head: &[u8]) -> Res<Head> {
    let text = String::from_utf8_lossy(head);
    let mut lines = text.split("\r\n");
    let status_line = lines.next().unwrap_or("");
    let status = status_line
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| format!("bad status line {status_line:?}"))?;
    let mut h = Head {
        status,
        content_length: None,
        chunked: false,
        close: false,
    };
    for line in lines {
        let Some((k, v)) = line.split_once(':') else {
            continue;
        };
        let (k, v) = (k.trim().to_ascii_lowercase(), v.trim().to_ascii_lowercase());
        match k.as_str() {
            "content-length" => h.content_length = v.parse().ok(),
            "transfer-encoding" => h.chunked = v.contains("chunked"),
            "connection" => h.close = v.contains("close"),
            _ => {}
        }
    }
    Ok(h)
}

/// Sends one request on `stream` and reads the whole response, timing its parts from `start`.
fn exchange(stream: &mut TcpStream, request: &[u8], marker: Marker) -> Res<(Timing, bool)> {
    let start = Instant::now();
    stream
        .write_all(request)
        .map_err(|e| format!("write: {e}"))?;
    let mut buf: Vec<u8> = Vec::with_capacity(16 * 1024);
    let mut chunk = [0u8; 16 * 1024];
    let mut head_end: Option<usize> = None;
    let mut head: Option<Head> = None;
    let mut t_head = Duration::ZERO;
    let mut first_byte = None;
    let mut first_token = None;
    loop {
        let n = stream.read(&mut chunk).map_err(|e| format!("read: {e}"))?;
        let now = start.elapsed();
        if n == 0 {
            // EOF: a body delimited by the connection's end, or a broken exchange.
            let Some(he) = head_end else {
                return Err("connection closed before a response".into());
            };
            let h = head.as_ref().ok_or("no head")?;
            if h.content_length.is_none() && !h.chunked {
                let body = buf[he..].to_vec();
                return Ok((
                    Timing {
                        status: h.status,
                        head: t_head,
                        first_byte,
                        first_token,
                        total: now,
                        body,
                    },
                    true,
                ));
            }
            return Err("connection closed mid-body".into());
        }
        buf.extend_from_slice(&chunk[..n]);
        if head_end.is_none() {
            if let Some(p) = find(&buf, b"\r\n\r\n", 0) {
                head_end = Some(p + 4);
                head = Some(parse_head(&buf[..p])?);
                t_head = now;
            } else {
                continue;
            }
        }
        let (Some(he), Some(h)) = (head_end, head.as_ref()) else {
            continue;
        };
        let raw = &buf[he..];
        if !raw.is_empty() && first_byte.is_none() {
            first_byte = Some(now);
        }
        let (body, complete) = if h.chunked {
            dechunk(raw)
        } else if let Some(len) = h.content_length {
            (raw[..raw.len().min(len)].to_vec(), raw.len() >= len)
        } else {
            (raw.to_vec(), false)
        };
        if std::env::var_os("BENCH_CLIENT_DEBUG").is_some() {
            eprintln!(
                "{:>9.3} ms read {n:>5} body {:>5} complete {complete} token {}",
                now.as_secs_f64() * 1e3,
                body.len(),
                has_token(&body, marker)
            );
        }
        if first_token.is_none() && has_token(&body, marker) {
            first_token = Some(now);
        }
        if complete {
            let close = h.close;
            return Ok((
                Timing {
                    status: h.status,
                    head: t_head,
                    first_byte,
                    first_token,
                    total: now,
                    body,
                },
                close,
            ));
        }
    }
}

fn build_request(
    method: &str,
    host: &str,
    path: &str,
    headers: &[String],
    body: &[u8],
    close: bool,
) -> Vec<u8> {
    let mut req = format!("{method} {path} HTTP/1.1\r\nHost: {host}\r\n");
    for h in headers {
        req.push_str(h);
        req.push_str("\r\n");
    }
    if !body.is_empty() || method == "POST" {
        req.push_str("Content-Type: application/json\r\n");
        req.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    if close {
        req.push_str("Connection: close\r\n");
    }
    req.push_str("\r\n");
    let mut bytes = req.into_bytes();
    bytes.extend_from_slice(body);
    bytes
}

fn connect(addr: &str) -> Res<TcpStream> {
    let s = TcpStream::connect(addr).map_err(|e| format!("connect {addr}: {e}"))?;
    s.set_nodelay(true).map_err(|e| e.to_string())?;
    s.set_read_timeout(Some(Duration::from_secs(30)))
        .map_err(|e| e.to_string())?;
    Ok(s)
}

fn check_loopback(addr: &str) -> Res<()> {
    if addr.starts_with("127.") || addr.starts_with("localhost:") || addr.starts_with("[::1]") {
        Ok(())
    } else {
        Err(format!("refusing non-loopback address {addr}"))
    }
}

// ---------------------------------------------------------------- statistics

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    // Nearest rank.
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

fn stats_json(mut us: Vec<f64>) -> String {
    us.sort_by(|a, b| a.partial_cmp(b).unwrap_or(std::cmp::Ordering::Equal));
    let mean = if us.is_empty() {
        f64::NAN
    } else {
        us.iter().sum::<f64>() / us.len() as f64
    };
    format!(
        "{{\"p50\":{:.1},\"p90\":{:.1},\"p99\":{:.1},\"mean\":{:.1},\"min\":{:.1},\"max\":{:.1}}}",
        percentile(&us, 50.0),
        percentile(&us, 90.0),
        percentile(&us, 99.0),
        mean,
        us.first().copied().unwrap_or(f64::NAN),
        us.last().copied().unwrap_or(f64::NAN),
    )
}

fn micros(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

// ---------------------------------------------------------------- ttfb

fn ttfb(args: &[String]) -> Res<String> {
    let o = parse_opts(args)?;
    let addr = o.req("addr")?;
    check_loopback(addr)?;
    let path = o.req("path")?;
    let body = std::fs::read(o.req("body-file")?).map_err(|e| format!("body-file: {e}"))?;
    let n = o.num("n", 200)?;
    let warmup = o.num("warmup", 20)?;
    let max_secs = o.num("max-seconds", 60)?;
    let marker = match o.get("marker").unwrap_or("none") {
        "eventstream" => Marker::EventStream,
        "sse" => Marker::Sse,
        _ => Marker::None,
    };
    let headers = o.all("header");
    let request = build_request("POST", addr, path, &headers, &body, false);
    let deadline = Instant::now() + Duration::from_secs(max_secs);
    let mut stream = connect(addr)?;
    let (mut head, mut fb, mut ft, mut total) = (vec![], vec![], vec![], vec![]);
    let mut errors = 0u64;
    let mut last_error = String::new();
    for i in 0..(warmup + n) {
        if Instant::now() > deadline {
            break;
        }
        let (t, close) = match exchange(&mut stream, &request, marker) {
            Ok(x) => x,
            Err(e) => {
                errors += 1;
                last_error = e;
                stream = connect(addr)?;
                continue;
            }
        };
        if close {
            stream = connect(addr)?;
        }
        if t.status != 200 {
            errors += 1;
            last_error = format!(
                "HTTP {}: {}",
                t.status,
                String::from_utf8_lossy(&t.body[..t.body.len().min(300)])
            );
            continue;
        }
        if i < warmup {
            continue;
        }
        head.push(micros(t.head));
        fb.push(micros(t.first_byte.unwrap_or(t.total)));
        ft.push(micros(t.first_token.unwrap_or(t.total)));
        total.push(micros(t.total));
    }
    if errors > 0 {
        eprintln!("bench-client ttfb: {errors} errors, last: {last_error}");
    }
    if total.is_empty() {
        return Err(format!("no successful request ({last_error})"));
    }
    Ok(format!(
        "{{\"n\":{},\"errors\":{errors},\"head_us\":{},\"first_byte_us\":{},\"first_token_us\":{},\"total_us\":{}}}",
        total.len(),
        stats_json(head),
        stats_json(fb),
        stats_json(ft),
        stats_json(total)
    ))
}

// ---------------------------------------------------------------- processes

fn spawn(command: &[String], extra_env: &[(String, String)], log: Option<&str>) -> Res<Child> {
    use std::os::unix::process::CommandExt;
    let (prog, rest) = command.split_first().ok_or("no command after --")?;
    let mut cmd = Command::new(prog);
    cmd.args(rest).stdin(Stdio::null()).process_group(0);
    for (k, v) in extra_env {
        cmd.env(k, v);
    }
    match log {
        Some(path) => {
            let f = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
                .map_err(|e| format!("{path}: {e}"))?;
            let f2 = f.try_clone().map_err(|e| e.to_string())?;
            cmd.stdout(f).stderr(f2);
        }
        None => {
            cmd.stdout(Stdio::null()).stderr(Stdio::null());
        }
    }
    cmd.spawn().map_err(|e| format!("spawn {prog}: {e}"))
}

/// Ends the child's whole process group (it was started as a group leader).
fn kill_group(child: &mut Child) {
    let pgid = child.id().to_string();
    let _ = Command::new("kill")
        .args(["-TERM", "--", &format!("-{pgid}")])
        .status();
    let deadline = Instant::now() + Duration::from_secs(5);
    while Instant::now() < deadline {
        if let Ok(Some(_)) = child.try_wait() {
            return;
        }
        thread::sleep(Duration::from_millis(20));
    }
    let _ = Command::new("kill")
        .args(["-KILL", "--", &format!("-{pgid}")])
        .status();
    let _ = child.wait();
}

fn vm_kb(pid: u32, field: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(field))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}

// ---------------------------------------------------------------- coldstart

fn coldstart(args: &[String]) -> Res<String> {
    let o = parse_opts(args)?;
    let addr = o.req("addr")?.to_owned();
    check_loopback(&addr)?;
    let body = std::fs::read(o.req("body-file")?).map_err(|e| format!("body-file: {e}"))?;
    let timeout = Duration::from_millis(o.num("timeout-ms", 60_000)?);
    let headers = o.all("header");
    let start = Instant::now();
    let mut child = spawn(&o.command, &[], o.get("log"))?;
    let pid = child.id();
    let result = (|| -> Res<String> {
        let health_path = o.get("health-path").unwrap_or("/health");
        let health_req = build_request("GET", &addr, health_path, &[], &[], true);
        let mut polls = 0u64;
        let healthy = loop {
            if start.elapsed() > timeout {
                return Err("timed out waiting for /health".into());
            }
            if let Ok(Some(status)) = child.try_wait() {
                return Err(format!("process exited early: {status}"));
            }
            polls += 1;
            if let Ok(mut s) = connect(&addr) {
                if let Ok((t, _)) = exchange(&mut s, &health_req, Marker::None) {
                    if t.status == 200 {
                        break start.elapsed();
                    }
                }
            }
            thread::sleep(Duration::from_micros(500));
        };
        let chat_path = o.get("path").unwrap_or("/v1/chat/completions");
        let chat_req = build_request("POST", &addr, chat_path, &headers, &body, true);
        let mut s = connect(&addr)?;
        let (t, _) = exchange(&mut s, &chat_req, Marker::None)?;
        let answered = start.elapsed();
        if t.status != 200 {
            return Err(format!(
                "first chat request: HTTP {}: {}",
                t.status,
                String::from_utf8_lossy(&t.body[..t.body.len().min(300)])
            ));
        }
        Ok(format!(
            "{{\"healthy_ms\":{:.2},\"first_answer_ms\":{:.2},\"health_polls\":{polls},\"rss_kb_after_first\":{}}}",
            healthy.as_secs_f64() * 1e3,
            answered.as_secs_f64() * 1e3,
            vm_kb(pid, "VmRSS:")
        ))
    })();
    kill_group(&mut child);
    result
}

// ---------------------------------------------------------------- lambda-init

#[derive(Default)]
struct RtState {
    first_next: Option<Duration>,
    sent: Vec<Option<Duration>>,
    done: Vec<Option<Duration>>,
    responses: Vec<Vec<u8>>,
    errors: Vec<String>,
    next_index: usize,
}

struct Runtime {
    start: Instant,
    event: Vec<u8>,
    invokes: usize,
    state: Mutex<RtState>,
    changed: Condvar,
}

/// Reads a request head: method, path, lower-cased headers.
fn read_head(
    reader: &mut BufReader<TcpStream>,
) -> io::Result<Option<(String, String, HashMap<String, String>)>> {
    let mut line = String::new();
    if reader.read_line(&mut line)? == 0 {
        return Ok(None);
    }
    let mut parts = line.split_whitespace();
    let method = parts.next().unwrap_or("").to_owned();
    let path = parts.next().unwrap_or("").to_owned();
    let mut headers = HashMap::new();
    loop {
        let mut h = String::new();
        if reader.read_line(&mut h)? == 0 {
            return Ok(None);
        }
        let h = h.trim_end();
        if h.is_empty() {
            break;
        }
        if let Some((k, v)) = h.split_once(':') {
            headers.insert(k.trim().to_ascii_lowercase(), v.trim().to_owned());
        }
    }
    Ok(Some((method, path, headers)))
}

/// Reads a request body (chunked with trailers, or Content-Length).
fn read_body(
    reader: &mut BufReader<TcpStream>,
    headers: &HashMap<String, String>,
) -> io::Result<Vec<u8>> {
    let mut body = Vec::new();
    if headers
        .get("transfer-encoding")
        .is_some_and(|v| v.to_ascii_lowercase().contains("chunked"))
    {
        loop {
            let mut size_line = String::new();
            reader.read_line(&mut size_line)?;
            let size = usize::from_str_radix(size_line.trim().split(';').next().unwrap_or("0"), 16)
                .unwrap_or(0);
            if size == 0 {
                // Trailers until an empty line.
                loop {
                    let mut t = String::new();
                    if reader.read_line(&mut t)? == 0 || t.trim_end().is_empty() {
                        break;
                    }
                }
                break;
            }
            let mut data = vec![0u8; size + 2];
            reader.read_exact(&mut data)?;
            body.extend_from_slice(&data[..size]);
        }
    } else if let Some(len) = headers
        .get("content-length")
        .and_then(|v| v.parse::<usize>().ok())
    {
        body.resize(len, 0);
        reader.read_exact(&mut body)?;
    }
    Ok(body)
}

fn respond(
    stream: &mut TcpStream,
    status: &str,
    headers: &[(&str, String)],
    body: &[u8],
) -> io::Result<()> {
    let mut head = format!("HTTP/1.1 {status}\r\nContent-Length: {}\r\n", body.len());
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes())?;
    stream.write_all(body)?;
    stream.flush()
}

fn serve_runtime_connection(rt: Arc<Runtime>, stream: TcpStream) {
    let _ = stream.set_nodelay(true);
    let Ok(mut writer) = stream.try_clone() else {
        return;
    };
    let mut reader = BufReader::new(stream);
    while let Ok(Some((method, path, headers))) = read_head(&mut reader) {
        let p = path.trim_start_matches("/2018-06-01/runtime");
        // Acknowledge a response as soon as its head arrives, then take the (possibly streamed)
        // body. The runtime client in lambda_runtime does not set TCP_NODELAY, so answering only
        // after the body lets its Nagle and this side's delayed ACK stall a streamed body by
        // ~40 ms. Early acknowledgement isolates the function's own work; bench.py's
        // cargo-lambda cross-check shows what an emulator that does not do this sees.
        if method == "POST" {
            let status = if p.starts_with("/invocation/") || p == "/init/error" {
                "202 Accepted"
            } else {
                "404 Not Found"
            };
            if respond(
                &mut writer,
                status,
                &[("Content-Type", "application/json".into())],
                b"{\"status\":\"OK\"}",
            )
            .is_err()
            {
                return;
            }
        }
        let Ok(body) = read_body(&mut reader, &headers) else {
            return;
        };
        let now = rt.start.elapsed();
        if method == "GET" && p == "/invocation/next" {
            let index = {
                let mut st = rt.state.lock().unwrap_or_else(|e| e.into_inner());
                st.first_next.get_or_insert(now);
                rt.changed.notify_all();
                if st.next_index >= rt.invokes {
                    None
                } else {
                    let i = st.next_index;
                    st.next_index += 1;
                    Some(i)
                }
            };
            let Some(i) = index else {
                // No more work: hold the long poll until the process is ended.
                thread::sleep(Duration::from_secs(600));
                return;
            };
            let deadline_ms = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_millis() + 30_000)
                .unwrap_or(0);
            let headers = [
                ("Content-Type", "application/json".to_owned()),
                ("Lambda-Runtime-Aws-Request-Id", format!("bench-{i}")),
                ("Lambda-Runtime-Deadline-Ms", deadline_ms.to_string()),
                (
                    "Lambda-Runtime-Invoked-Function-Arn",
                    "arn:aws:lambda:us-east-1:123456789012:function:chat".to_owned(),
                ),
                (
                    "Lambda-Runtime-Trace-Id",
                    format!("Root=1-00000000-00000000000000000000000{i};Sampled=0"),
                ),
            ];
            {
                let mut st = rt.state.lock().unwrap_or_else(|e| e.into_inner());
                st.sent[i] = Some(rt.start.elapsed());
            }
            if respond(&mut writer, "200 OK", &headers, &rt.event).is_err() {
                return;
            }
        } else if method == "POST" && p.starts_with("/invocation/") {
            let rest = &p["/invocation/".len()..];
            let (id, kind) = rest.split_once('/').unwrap_or((rest, ""));
            let index = id
                .strip_prefix("bench-")
                .and_then(|i| i.parse::<usize>().ok());
            {
                let mut st = rt.state.lock().unwrap_or_else(|e| e.into_inner());
                if kind == "response" {
                    if let Some(i) = index.filter(|i| *i < rt.invokes) {
                        st.done[i] = Some(now);
                        st.responses[i] = body.clone();
                    }
                } else {
                    st.errors
                        .push(format!("{kind}: {}", String::from_utf8_lossy(&body)));
                }
                rt.changed.notify_all();
            }
        } else if method == "POST" && p == "/init/error" {
            let mut st = rt.state.lock().unwrap_or_else(|e| e.into_inner());
            st.errors
                .push(format!("init error: {}", String::from_utf8_lossy(&body)));
            rt.changed.notify_all();
        } else if method != "POST" {
            let _ = respond(&mut writer, "404 Not Found", &[], b"{}");
        }
    }
}

fn lambda_init(args: &[String]) -> Res<String> {
    let o = parse_opts(args)?;
    let event = std::fs::read(o.req("event-file")?).map_err(|e| format!("event-file: {e}"))?;
    let invokes = usize::try_from(o.num("invokes", 3)?.clamp(1, 100)).unwrap_or(3);
    let timeout = Duration::from_millis(o.num("timeout-ms", 30_000)?);
    let expect = o.get("expect").unwrap_or("").as_bytes().to_vec();
    let listener = TcpListener::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
    let port = listener.local_addr().map_err(|e| e.to_string())?.port();
    let rt = Arc::new(Runtime {
        start: Instant::now(),
        event,
        invokes,
        state: Mutex::new(RtState {
            sent: vec![None; invokes],
            done: vec![None; invokes],
            responses: vec![Vec::new(); invokes],
            ..RtState::default()
        }),
        changed: Condvar::new(),
    });
    {
        let rt = Arc::clone(&rt);
        thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let rt = Arc::clone(&rt);
                thread::spawn(move || serve_runtime_connection(rt, stream));
            }
        });
    }
    let env = vec![
        (
            "AWS_LAMBDA_RUNTIME_API".to_owned(),
            format!("127.0.0.1:{port}"),
        ),
        ("AWS_LAMBDA_FUNCTION_NAME".to_owned(), "chat".to_owned()),
        (
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE".to_owned(),
            "128".to_owned(),
        ),
        (
            "AWS_LAMBDA_FUNCTION_VERSION".to_owned(),
            "$LATEST".to_owned(),
        ),
        ("AWS_LAMBDA_LOG_STREAM_NAME".to_owned(), "bench".to_owned()),
        (
            "AWS_LAMBDA_LOG_GROUP_NAME".to_owned(),
            "/aws/lambda/chat".to_owned(),
        ),
        ("_HANDLER".to_owned(), "bootstrap".to_owned()),
    ];
    // Restart the clock at the spawn, as Lambda's Init Duration does.
    let spawn_at = rt.start.elapsed();
    let mut child = spawn(&o.command, &env, o.get("log"))?;
    let pid = child.id();
    let result = (|| -> Res<String> {
        let mut st = rt.state.lock().unwrap_or_else(|e| e.into_inner());
        let wait_until = Instant::now() + timeout;
        while st.done.iter().any(Option::is_none) && st.errors.is_empty() {
            let left = wait_until.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(format!(
                    "timed out: init {:?}, done {:?}",
                    st.first_next, st.done
                ));
            }
            st = rt
                .changed
                .wait_timeout(st, left)
                .map_err(|_| "lock poisoned")?
                .0;
            if let Ok(Some(status)) = child.try_wait() {
                return Err(format!("function exited: {status}"));
            }
        }
        if !st.errors.is_empty() {
            return Err(st.errors.join("; "));
        }
        let init = st
            .first_next
            .ok_or("no GET /next")?
            .saturating_sub(spawn_at);
        let mut invokes_ms = Vec::new();
        for i in 0..invokes {
            let (Some(s), Some(d)) = (st.sent[i], st.done[i]) else {
                return Err("missing invoke".into());
            };
            invokes_ms.push(format!("{:.3}", d.saturating_sub(s).as_secs_f64() * 1e3));
            if !expect.is_empty() && find(&st.responses[i], &expect, 0).is_none() {
                return Err(format!(
                    "invoke {i}: response lacks {:?}: {}",
                    String::from_utf8_lossy(&expect),
                    String::from_utf8_lossy(&st.responses[i][..st.responses[i].len().min(400)])
                ));
            }
        }
        let first_done = st.done[0]
            .ok_or("no first response")?
            .saturating_sub(spawn_at);
        Ok(format!(
            "{{\"init_ms\":{:.3},\"start_to_first_response_ms\":{:.3},\"invoke_ms\":[{}],\"rss_kb\":{}}}",
            init.as_secs_f64() * 1e3,
            first_done.as_secs_f64() * 1e3,
            invokes_ms.join(","),
            vm_kb(pid, "VmRSS:")
        ))
    })();
    kill_group(&mut child);
    result
}
