//! The operator's preview page, served by `tiny_http`: `/` is the page, `/stream.mjpg` an
//! MJPEG stream of the annotated frames, `/state.json` the current labels, alerts and
//! stream health (the page polls it), `/frame.jpg` the latest frame alone.
//!
//! The server keeps the last frame and state, so while a source reconnects the page goes on
//! showing what was last seen, marked `reconnecting` or `stalled`.

use std::collections::VecDeque;
use std::io::Write;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use anyhow::{bail, Result};
use tiny_http::{Header, Method, Response, Server};

use crate::pipeline::{Event, FrameResult};
use crate::sinks::{frame_json, FrameCtx, Sink};
use crate::stats::StatsReport;

/// Most MJPEG viewers at once (each holds a thread).
pub const MAX_VIEWERS: usize = 8;
const BOUNDARY: &str = "kestrelframe";
const PAGE: &str = include_str!("preview.html");

struct State {
    seq: u64,
    jpeg: Arc<Vec<u8>>,
    frame: serde_json::Value,
    stats: serde_json::Value,
    events: VecDeque<String>,
    closed: bool,
}

struct Shared {
    state: Mutex<State>,
    new_frame: Condvar,
    stop: AtomicBool,
    viewers: AtomicUsize,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn state_json(&self) -> String {
        let s = self.lock();
        serde_json::json!({
            "frame": s.frame,
            "stats": s.stats,
            "events": s.events,
            "has_image": !s.jpeg.is_empty(),
        })
        .to_string()
    }
}

/// A running preview server. As a [`Sink`] it publishes frames (at most `max_fps` a
/// second, shrunk to at most 960 px wide) and state.
pub struct PreviewServer {
    addr: SocketAddr,
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
    last_image: Option<Instant>,
    min_gap: Duration,
}

impl PreviewServer {
    /// Listen on `addr` (e.g. `127.0.0.1:8080`; port 0 picks a free one). A port in use
    /// or an address that can't be bound is an error.
    pub fn start(addr: &str) -> Result<PreviewServer> {
        let sock: SocketAddr = match addr.parse() {
            Ok(a) => a,
            Err(_) => match std::net::ToSocketAddrs::to_socket_addrs(addr).ok().and_then(|mut a| a.next()) {
                Some(a) => a,
                None => bail!("--serve {addr}: not an address (use HOST:PORT, e.g. 127.0.0.1:8080)"),
            },
        };
        let server = match Server::http(sock) {
            Ok(s) => s,
            Err(e) => {
                let why = e.to_string();
                if why.to_lowercase().contains("in use") {
                    bail!("--serve {addr}: the port is already in use (pick another with --serve HOST:PORT)");
                }
                bail!("--serve {addr}: cannot listen: {why}");
            }
        };
        let local = server.server_addr().to_ip().unwrap_or(sock);
        let shared = Arc::new(Shared {
            state: Mutex::new(State {
                seq: 0,
                jpeg: Arc::new(Vec::new()),
                frame: serde_json::Value::Null,
                stats: serde_json::Value::Null,
                events: VecDeque::new(),
                closed: false,
            }),
            new_frame: Condvar::new(),
            stop: AtomicBool::new(false),
            viewers: AtomicUsize::new(0),
        });
        let sh = shared.clone();
        let thread = std::thread::Builder::new().name("kestrel-preview".into()).spawn(move || serve(server, sh))?;
        Ok(PreviewServer { addr: local, shared, thread: Some(thread), last_image: None, min_gap: Duration::from_millis(66) })
    }

    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The page's URL.
    pub fn url(&self) -> String {
        format!("http://{}/", self.addr)
    }

    /// Publish at most `fps` frames a second to the viewers.
    pub fn with_max_fps(mut self, fps: f64) -> PreviewServer {
        self.min_gap = Duration::from_secs_f64(1.0 / fps.max(0.1));
        self
    }

    /// Publish a JPEG frame.
    pub fn publish_jpeg(&self, jpeg: Vec<u8>) {
        let mut s = self.shared.lock();
        s.seq += 1;
        s.jpeg = Arc::new(jpeg);
        drop(s);
        self.shared.new_frame.notify_all();
    }

    /// Stop serving: viewers' streams end and the server thread exits.
    pub fn close(&mut self) {
        self.shared.stop.store(true, Ordering::Relaxed);
        self.shared.lock().closed = true;
        self.shared.new_frame.notify_all();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for PreviewServer {
    fn drop(&mut self) {
        self.close();
    }
}

impl Sink for PreviewServer {
    fn needs_image(&self, _r: &FrameResult) -> bool {
        self.last_image.is_none_or(|t| t.elapsed() >= self.min_gap)
    }

    fn frame(&mut self, ctx: &FrameCtx<'_>) -> Result<()> {
        let mut v = frame_json(ctx.result, ctx.labels, 5);
        if let Some(h) = ctx.heat_class {
            v["heat_class"] = crate::pipeline::class_name(ctx.labels, h).into();
        }
        self.shared.lock().frame = v;
        if let Some(img) = ctx.image {
            if self.needs_image(ctx.result) {
                self.last_image = Some(Instant::now());
                let small = crate::annotate::downscale(img, 960);
                self.publish_jpeg(crate::annotate::jpeg(&small, 80));
            }
        }
        Ok(())
    }

    fn event(&mut self, t: f64, e: &Event, labels: &[String]) {
        let mut s = self.shared.lock();
        if s.events.len() == 8 {
            s.events.pop_front();
        }
        s.events.push_back(format!("{t:.1}s {}", e.line(labels)));
    }

    fn stats(&mut self, r: &StatsReport, last: bool) {
        let mut v = r.json(if last { "summary" } else { "stats" });
        if last {
            v["source"] = "ended".into();
        }
        self.shared.lock().stats = v;
    }
}

fn header(k: &str, v: &str) -> Header {
    Header::from_bytes(k.as_bytes(), v.as_bytes()).unwrap_or_else(|_| Header::from_bytes(&b"X-Kestrel"[..], &b"1"[..]).expect("static header"))
}

fn serve(server: Server, shared: Arc<Shared>) {
    while !shared.stop.load(Ordering::Relaxed) {
        let req = match server.recv_timeout(Duration::from_millis(100)) {
            Ok(Some(r)) => r,
            Ok(None) => continue,
            Err(_) => break,
        };
        let path = req.url().split('?').next().unwrap_or("/").to_string();
        let get = matches!(req.method(), Method::Get | Method::Head);
        let _ = match (get, path.as_str()) {
            (true, "/" | "/index.html") => req.respond(
                Response::from_string(PAGE).with_header(header("Content-Type", "text/html; charset=utf-8")),
            ),
            (true, "/state.json") => req.respond(
                Response::from_string(shared.state_json())
                    .with_header(header("Content-Type", "application/json"))
                    .with_header(header("Cache-Control", "no-store")),
            ),
            (true, "/frame.jpg") => {
                let jpeg = shared.lock().jpeg.clone();
                if jpeg.is_empty() {
                    req.respond(Response::from_string("no frame yet").with_status_code(503))
                } else {
                    req.respond(
                        Response::from_data(jpeg.as_slice().to_vec())
                            .with_header(header("Content-Type", "image/jpeg"))
                            .with_header(header("Cache-Control", "no-store")),
                    )
                }
            }
            (true, "/stream.mjpg") => {
                if shared.viewers.fetch_add(1, Ordering::Relaxed) >= MAX_VIEWERS {
                    shared.viewers.fetch_sub(1, Ordering::Relaxed);
                    req.respond(Response::from_string("too many viewers").with_status_code(503))
                } else {
                    let sh = shared.clone();
                    let spawned = std::thread::Builder::new().name("kestrel-mjpeg".into()).spawn(move || {
                        let _ = mjpeg(req.into_writer(), &sh);
                        sh.viewers.fetch_sub(1, Ordering::Relaxed);
                    });
                    if spawned.is_err() {
                        shared.viewers.fetch_sub(1, Ordering::Relaxed);
                    }
                    Ok(())
                }
            }
            (true, _) => req.respond(Response::from_string("not found").with_status_code(404)),
            (false, _) => req.respond(Response::from_string("method not allowed").with_status_code(405)),
        };
    }
}

/// Stream frames as `multipart/x-mixed-replace` until the viewer leaves or the server
/// stops. tiny_http parsed the request; this writes the response head and the parts,
/// flushing each frame so the viewer sees it at once.
fn mjpeg(mut w: Box<dyn Write + Send>, shared: &Shared) -> std::io::Result<()> {
    write!(
        w,
        "HTTP/1.1 200 OK\r\nContent-Type: multipart/x-mixed-replace; boundary={BOUNDARY}\r\nCache-Control: no-cache, no-store\r\nPragma: no-cache\r\nConnection: close\r\n\r\n"
    )?;
    w.flush()?;
    let mut last = 0u64;
    loop {
        let jpeg = {
            let mut s = shared.lock();
            loop {
                if s.closed || shared.stop.load(Ordering::Relaxed) {
                    return Ok(());
                }
                if s.seq != last && !s.jpeg.is_empty() {
                    break;
                }
                s = shared.new_frame.wait_timeout(s, Duration::from_millis(500)).unwrap_or_else(|e| e.into_inner()).0;
            }
            last = s.seq;
            s.jpeg.clone()
        };
        write!(w, "--{BOUNDARY}\r\nContent-Type: image/jpeg\r\nContent-Length: {}\r\n\r\n", jpeg.len())?;
        w.write_all(&jpeg)?;
        w.write_all(b"\r\n")?;
        w.flush()?;
    }
}
