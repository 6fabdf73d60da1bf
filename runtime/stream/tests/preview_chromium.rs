//! The preview page end to end in headless Chromium, driven through chromedriver's
//! WebDriver HTTP API: the page loads, an MJPEG frame and a label appear, and a screenshot
//! is taken. Chromium and chromedriver come from Debian (scripts/setup.sh installs them);
//! if they are missing this test fails and says so, it never skips.

mod common;

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine;
use common::*;
use kestrel_runtime::Model;
use kestrel_stream::source::PatternConfig;
use kestrel_stream::{run, Config, PreviewServer, SourceOptions, SourceSpec};
use serde_json::{json, Value};

fn which(names: &[&str]) -> Option<String> {
    let path = std::env::var("PATH").unwrap_or_default();
    for n in names {
        for dir in path.split(':').chain(["/usr/bin", "/usr/lib/chromium"]) {
            let p = std::path::Path::new(dir).join(n);
            if p.is_file() {
                return Some(p.display().to_string());
            }
        }
    }
    None
}

struct Kill(Child);
impl Drop for Kill {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn post(url: &str, body: Value) -> Value {
    ureq::post(url)
        .send_json(body)
        .unwrap_or_else(|e| panic!("POST {url}: {e}"))
        .body_mut()
        .read_json::<Value>()
        .unwrap_or_else(|e| panic!("POST {url}: {e}"))
}

#[test]
fn preview_page_shows_frames_and_labels_in_headless_chromium() {
    let chromium = which(&["chromium", "chromium-browser"])
        .expect("chromium is not installed: run scripts/setup.sh (it installs Debian's chromium and chromium-driver)");
    let driver = which(&["chromedriver"])
        .expect("chromedriver is not installed: run scripts/setup.sh (it installs Debian's chromium-driver)");

    // The pipeline: the pattern at 15 fps into the preview server, until stopped.
    let stop = Arc::new(AtomicBool::new(false));
    let mut server = PreviewServer::start("127.0.0.1:0").unwrap();
    let page = server.url();
    let st = stop.clone();
    let pipeline = std::thread::spawn(move || {
        let buf = mnist();
        let m = Model::load(buf.as_slice()).unwrap();
        let spec = SourceSpec::Pattern(PatternConfig { width: 320, height: 240, ..PatternConfig::default() });
        let cfg = Config { fps: Some(15.0), ..Config::default() };
        let r = run(&m, spec.opener(&SourceOptions::default()), &cfg, &mut [&mut server], &st);
        server.close();
        r.map(|s| s.report.frames)
    });

    let port = free_port();
    let _driver = Kill(
        Command::new(&driver)
            .args([format!("--port={port}"), "--log-level=WARNING".into()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start chromedriver"),
    );
    let base = format!("http://127.0.0.1:{port}");
    let t0 = Instant::now();
    while ureq::get(&format!("{base}/status")).call().is_err() {
        assert!(t0.elapsed() < Duration::from_secs(30), "chromedriver did not start");
        std::thread::sleep(Duration::from_millis(100));
    }
    let profile = tmp("chromium-profile");
    let args = [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--window-size=1280,800",
    ]
    .iter()
    .map(|s| s.to_string())
    .chain([format!("--user-data-dir={}", profile.display())])
    .collect::<Vec<_>>();
    let session = post(
        &format!("{base}/session"),
        json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            // The MJPEG image never finishes loading: don't wait for the load event.
            "pageLoadStrategy": "eager",
            "goog:chromeOptions": {"binary": chromium, "args": args}
        }}}),
    );
    let id = session["value"]["sessionId"].as_str().unwrap_or_else(|| panic!("no session: {session}")).to_string();
    let s = format!("{base}/session/{id}");
    post(&format!("{s}/url"), json!({"url": page}));

    // Wait for a decoded MJPEG frame and a label.
    let probe = "const i = document.getElementById('frame'); \
                 return [i ? i.naturalWidth : 0, document.getElementById('label').textContent, \
                         document.getElementById('status').textContent];";
    let t0 = Instant::now();
    let (width, label, status) = loop {
        let v = post(&format!("{s}/execute/sync"), json!({"script": probe, "args": []}));
        let w = v["value"][0].as_u64().unwrap_or(0);
        let l = v["value"][1].as_str().unwrap_or("").to_string();
        let st = v["value"][2].as_str().unwrap_or("").to_string();
        if w > 0 && !l.is_empty() && st == "live" {
            break (w, l, st);
        }
        assert!(t0.elapsed() < Duration::from_secs(30), "no frame/label on the page after 30 s: {v}");
        std::thread::sleep(Duration::from_millis(200));
    };
    assert_eq!(width, 320, "the MJPEG frame is the pattern's size");
    assert!(label.starts_with("digit_"), "{label}");
    assert_eq!(status, "live");

    let shot = ureq::get(&format!("{s}/screenshot")).call().unwrap().body_mut().read_json::<Value>().unwrap();
    let png = base64::engine::general_purpose::STANDARD.decode(shot["value"].as_str().unwrap()).unwrap();
    let img = image::load_from_memory(&png).expect("a PNG screenshot");
    assert!(img.width() >= 640 && img.height() >= 400, "{}x{}", img.width(), img.height());
    let path = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("kestrel-preview.png");
    std::fs::write(&path, &png).unwrap();
    println!("screenshot: {}", path.display());
    let _ = ureq::delete(&s).call();

    stop.store(true, Ordering::Relaxed);
    let frames = pipeline.join().unwrap().unwrap();
    assert!(frames > 0);
    let _ = std::fs::remove_dir_all(&profile);
}
