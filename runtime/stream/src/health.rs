//! The pipeline's health: stage timings over the report window and the whole run, frames and
//! stalls counted, the capture counters at the last report, and stall detection.

use std::time::{Duration, Instant};

use crate::capture::Counts;
use crate::pipeline::{Config, Event};
use crate::stats::{Stages, StatsReport};

/// Statistics the pipeline keeps while it runs.
pub(crate) struct Health {
    start: Instant,
    report_every: Duration,
    stall_after: Duration,
    total: Stages,
    window: Stages,
    frames: u64,
    win_frames: u64,
    stalls: u64,
    win_stalls: u64,
    /// The capture counters at the last report.
    last_counts: Counts,
    last_report: Instant,
    last_frame_at: Instant,
    stalled_since: Option<Instant>,
    recent_fps: f64,
}

impl Health {
    /// Nothing seen yet; the first window starts at `start`, the wait for a frame now.
    pub fn new(start: Instant, cfg: &Config) -> Health {
        Health {
            start,
            report_every: cfg.report_every,
            stall_after: cfg.stall_after,
            total: Stages::default(),
            window: Stages::default(),
            frames: 0,
            win_frames: 0,
            stalls: 0,
            win_stalls: 0,
            last_counts: Counts::default(),
            last_report: start,
            last_frame_at: Instant::now(),
            stalled_since: None,
            recent_fps: 0.0,
        }
    }

    /// Frames processed so far.
    pub fn frames(&self) -> u64 {
        self.frames
    }

    /// Frames per second over the last report's window (0 before the first).
    pub fn recent_fps(&self) -> f64 {
        self.recent_fps
    }

    /// Whether the source is stalled now.
    pub fn stalled(&self) -> bool {
        self.stalled_since.is_some()
    }

    /// Whether a periodic report is due at `now`.
    pub fn report_due(&self, now: Instant) -> bool {
        now.duration_since(self.last_report) >= self.report_every
    }

    /// The report of the window ending `now` (`counts`: the capture's totals now, `source`:
    /// its state); a new window starts.
    pub fn report(&mut self, now: Instant, counts: Counts, source: &'static str) -> StatsReport {
        let rep = StatsReport {
            at_s: now.duration_since(self.start).as_secs_f64(),
            period_s: now.duration_since(self.last_report).as_secs_f64(),
            frames: self.win_frames,
            dropped: counts.dropped - self.last_counts.dropped,
            corrupt: counts.corrupt - self.last_counts.corrupt,
            reconnects: counts.reconnects - self.last_counts.reconnects,
            stalls: self.win_stalls,
            stages: self.window.clone(),
            source,
        };
        self.recent_fps = rep.fps();
        self.last_counts = counts;
        self.last_report = now;
        self.window.clear();
        self.win_frames = 0;
        self.win_stalls = 0;
        rep
    }

    /// No frame came within the wait: a `Stalled` event when this starts a stall.
    pub fn idle(&mut self) -> Option<Event> {
        let idle = self.last_frame_at.elapsed();
        if self.stalled_since.is_some() || idle < self.stall_after {
            return None;
        }
        self.stalled_since = Some(self.last_frame_at);
        self.stalls += 1;
        self.win_stalls += 1;
        Some(Event::Stalled { for_s: idle.as_secs_f64() })
    }

    /// A frame came: a `Resumed` event when it ends a stall.
    pub fn frame_arrived(&mut self) -> Option<Event> {
        self.last_frame_at = Instant::now();
        let since = self.stalled_since.take()?;
        Some(Event::Resumed { after_s: since.elapsed().as_secs_f64() })
    }

    /// A frame went through every stage (`total`: from its capture to the sinks).
    pub fn frame_done(&mut self, capture: Duration, preprocess: Duration, inference: Duration, total: Duration) {
        self.frames += 1;
        self.win_frames += 1;
        for st in [&mut self.total, &mut self.window] {
            st.capture.add(capture);
            st.preprocess.add(preprocess);
            st.inference.add(inference);
            st.total.add(total);
        }
    }

    /// The whole run as one report (`counts` and `source` as for [`Health::report`]).
    pub fn summary(self, counts: Counts, source: &'static str) -> StatsReport {
        let elapsed = self.start.elapsed().as_secs_f64();
        StatsReport {
            at_s: elapsed,
            period_s: elapsed,
            frames: self.frames,
            dropped: counts.dropped,
            corrupt: counts.corrupt,
            reconnects: counts.reconnects,
            stalls: self.stalls,
            stages: self.total,
            source,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_event_per_stall_and_counts_per_window() {
        let cfg = Config { stall_after: Duration::ZERO, report_every: Duration::from_secs(3600), ..Config::default() };
        let mut h = Health::new(Instant::now(), &cfg);
        assert!(matches!(h.idle(), Some(Event::Stalled { .. })));
        assert_eq!(h.idle(), None, "one event per stall");
        assert!(h.stalled());
        assert!(matches!(h.frame_arrived(), Some(Event::Resumed { .. })));
        assert_eq!(h.frame_arrived(), None);
        let ms = Duration::from_millis(1);
        h.frame_done(ms, ms, ms, ms);
        let r = h.report(Instant::now(), Counts { dropped: 3, corrupt: 1, reconnects: 0 }, "live");
        assert_eq!((r.frames, r.stalls, r.dropped, r.corrupt, r.reconnects), (1, 1, 3, 1, 0));
        h.frame_done(ms, ms, ms, ms);
        let totals = Counts { dropped: 5, corrupt: 1, reconnects: 1 };
        let r = h.report(Instant::now(), totals, "live");
        assert_eq!((r.frames, r.stalls, r.dropped, r.corrupt, r.reconnects), (1, 0, 2, 0, 1), "only what the window saw");
        assert_eq!(r.stages.total.count(), 1);
        assert!(!h.report_due(Instant::now()));
        let s = h.summary(totals, "ended");
        assert_eq!((s.frames, s.stalls, s.dropped, s.reconnects, s.source), (2, 1, 5, 1, "ended"));
        assert_eq!(s.stages.total.count(), 2);
    }
}
