//! The capture thread: opens the source, paces it, delivers frames into the queue (corrupt
//! ones counted and skipped) and reopens a lost source with exponential backoff. The
//! pipeline holds a [`CaptureThread`] and reads its counters and events.

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicU8, Ordering};
use std::sync::mpsc::{self, Receiver, SyncSender};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use anyhow::{bail, Result};

use crate::pipeline::{Config, Event};
use crate::queue::{FrameQueue, Pop};
use crate::source::{FrameSource, Opener, SourceError};
use crate::Frame;

const LIVE: u8 = 0;
const RECONNECTING: u8 = 1;
const ENDED: u8 = 2;

/// Counters the capture thread updates.
#[derive(Default)]
struct CaptureShared {
    corrupt: AtomicU64,
    reconnects: AtomicU64,
    status: AtomicU8,
    stop: AtomicBool,
}

/// Totals since the start: frames the queue dropped, corrupt frames, reconnections.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Counts {
    pub dropped: u64,
    pub corrupt: u64,
    pub reconnects: u64,
}

/// The running capture thread, as the pipeline sees it.
pub(crate) struct CaptureThread {
    handle: Option<JoinHandle<()>>,
    queue: Arc<FrameQueue>,
    shared: Arc<CaptureShared>,
    events: Receiver<(Instant, Event)>,
}

impl CaptureThread {
    /// Start the thread and wait until it has opened the source (an error if it can't).
    pub fn start(opener: Opener, cfg: &Config, stop: &Arc<AtomicBool>) -> Result<CaptureThread> {
        let queue = Arc::new(FrameQueue::new(cfg.queue, !cfg.drop_frames));
        let shared = Arc::new(CaptureShared::default());
        let (ev_tx, events) = mpsc::sync_channel::<(Instant, Event)>(1024);
        let (open_tx, open_rx) = mpsc::sync_channel(1);
        let cap = Capture {
            opener,
            queue: queue.clone(),
            events: ev_tx,
            shared: shared.clone(),
            ext_stop: stop.clone(),
            fps: cfg.fps,
            backoff: cfg.backoff,
        };
        let handle = std::thread::Builder::new().name("kestrel-capture".into()).spawn(move || cap.run(open_tx))?;
        match open_rx.recv() {
            Ok(Ok(())) => Ok(CaptureThread { handle: Some(handle), queue, shared, events }),
            Ok(Err(e)) => {
                let _ = handle.join();
                bail!("{e}");
            }
            Err(_) => bail!("the capture thread died while opening the source"),
        }
    }

    /// The next frame, waiting up to `timeout`.
    pub fn pop(&self, timeout: Duration) -> Pop {
        self.queue.pop(timeout)
    }

    /// Hand a processed frame's buffers back to the capture thread.
    pub fn recycle(&self, f: Frame) {
        self.queue.recycle(f)
    }

    /// The events the thread has sent and nobody has read yet.
    pub fn events(&self) -> impl Iterator<Item = (Instant, Event)> + '_ {
        self.events.try_iter()
    }

    /// Count a frame the pipeline found corrupt.
    pub fn count_corrupt(&self) {
        self.shared.corrupt.fetch_add(1, Ordering::Relaxed);
    }

    /// The counters now.
    pub fn counts(&self) -> Counts {
        Counts {
            dropped: self.queue.dropped(),
            corrupt: self.shared.corrupt.load(Ordering::Relaxed),
            reconnects: self.shared.reconnects.load(Ordering::Relaxed),
        }
    }

    /// The source's state: `reconnecting`, `ended`, else `stalled` or `live`.
    pub fn source_state(&self, stalled: bool) -> &'static str {
        match self.shared.status.load(Ordering::Relaxed) {
            RECONNECTING => "reconnecting",
            ENDED => "ended",
            _ if stalled => "stalled",
            _ => "live",
        }
    }

    /// Stop the thread; a source blocked in a read gets a moment, then is left. Counters
    /// and events stay readable.
    pub fn shut_down(&mut self) {
        self.shared.stop.store(true, Ordering::Relaxed);
        self.queue.close();
        let Some(handle) = self.handle.take() else { return };
        let deadline = Instant::now() + Duration::from_secs(2);
        while !handle.is_finished() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
        if handle.is_finished() {
            let _ = handle.join();
        }
    }
}

fn sleep_unless(stop: &AtomicBool, ext: &AtomicBool, d: Duration) -> bool {
    let end = Instant::now() + d;
    while Instant::now() < end {
        if stop.load(Ordering::Relaxed) || ext.load(Ordering::Relaxed) {
            return false;
        }
        std::thread::sleep((end - Instant::now()).min(Duration::from_millis(20)));
    }
    true
}

struct Capture {
    opener: Opener,
    queue: Arc<FrameQueue>,
    events: SyncSender<(Instant, Event)>,
    shared: Arc<CaptureShared>,
    ext_stop: Arc<AtomicBool>,
    fps: Option<f64>,
    backoff: (Duration, Duration),
}

impl Capture {
    fn event(&self, e: Event) {
        let _ = self.events.try_send((Instant::now(), e));
    }

    fn stopped(&self) -> bool {
        self.shared.stop.load(Ordering::Relaxed) || self.ext_stop.load(Ordering::Relaxed)
    }

    /// The capture thread: open, then deliver frames until the end, reopening on loss.
    fn run(mut self, opened: SyncSender<Result<(), String>>) {
        let mut src: Box<dyn FrameSource> = match (self.opener)() {
            Ok(s) => {
                let _ = opened.send(Ok(()));
                s
            }
            Err(e) => {
                let _ = opened.send(Err(e.to_string()));
                self.queue.close();
                return;
            }
        };
        let period = self.fps.filter(|f| *f > 0.0).map(|f| Duration::from_secs_f64(1.0 / f));
        let mut due = Instant::now();
        let mut seq = 0u64;
        while !self.stopped() {
            if let Some(p) = period {
                let now = Instant::now();
                if due > now && !sleep_unless(&self.shared.stop, &self.ext_stop, due - now) {
                    break;
                }
                due = if due + p < Instant::now() { Instant::now() + p } else { due + p };
            }
            let mut f = self.queue.spare();
            let t0 = Instant::now();
            match src.next_frame(&mut f) {
                Ok(()) if f.is_consistent() => {
                    seq += 1;
                    f.seq = seq;
                    f.captured_at = t0;
                    f.capture_time = t0.elapsed();
                    self.queue.push(f);
                }
                Ok(()) => {
                    seq += 1;
                    self.shared.corrupt.fetch_add(1, Ordering::Relaxed);
                    self.event(Event::Corrupt(format!("frame {seq}: {}x{} with {} bytes", f.width, f.height, f.rgb.len())));
                    self.queue.recycle(f);
                }
                Err(SourceError::Corrupt(m)) => {
                    seq += 1;
                    self.shared.corrupt.fetch_add(1, Ordering::Relaxed);
                    self.event(Event::Corrupt(m));
                    self.queue.recycle(f);
                }
                Err(SourceError::End) => {
                    self.event(Event::Ended);
                    break;
                }
                Err(SourceError::Disconnected(m) | SourceError::Open(m)) => {
                    self.queue.recycle(f);
                    drop(src);
                    self.event(Event::Disconnected(m));
                    match self.reconnect() {
                        Some(s) => src = s,
                        None => break,
                    }
                }
            }
        }
        self.shared.status.store(ENDED, Ordering::Relaxed);
        self.queue.close();
    }

    fn reconnect(&mut self) -> Option<Box<dyn FrameSource>> {
        self.shared.status.store(RECONNECTING, Ordering::Relaxed);
        let mut wait = self.backoff.0;
        for attempt in 1u32.. {
            self.event(Event::Reconnecting { attempt, wait_ms: wait.as_millis() as u64 });
            if !sleep_unless(&self.shared.stop, &self.ext_stop, wait) {
                return None;
            }
            match (self.opener)() {
                Ok(s) => {
                    self.shared.reconnects.fetch_add(1, Ordering::Relaxed);
                    self.shared.status.store(LIVE, Ordering::Relaxed);
                    self.event(Event::Reconnected { attempts: attempt });
                    return Some(s);
                }
                Err(SourceError::End) => return None,
                Err(e) => self.event(Event::ReconnectFailed(e.to_string())),
            }
            wait = (wait * 2).min(self.backoff.1);
        }
        None
    }
}

