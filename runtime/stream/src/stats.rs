//! Stage timings with constant memory: log-bucketed histograms (4% wide buckets from 1 µs to
//! ~6 minutes), so a run of any length reports p50/p99 without keeping its samples.

use std::time::Duration;

const BUCKETS: usize = 512;
const GROWTH: f64 = 1.04;

/// A latency histogram.
#[derive(Debug, Clone)]
pub struct Hist {
    counts: Box<[u32; BUCKETS]>,
    n: u64,
    sum_us: f64,
    max_us: f64,
}

impl Default for Hist {
    fn default() -> Hist {
        Hist { counts: Box::new([0; BUCKETS]), n: 0, sum_us: 0.0, max_us: 0.0 }
    }
}

impl Hist {
    /// Record one duration.
    pub fn add(&mut self, d: Duration) {
        let us = d.as_secs_f64() * 1e6;
        let b = if us < 1.0 { 0 } else { ((us.ln() / GROWTH.ln()) as usize + 1).min(BUCKETS - 1) };
        self.counts[b] = self.counts[b].saturating_add(1);
        self.n += 1;
        self.sum_us += us;
        self.max_us = self.max_us.max(us);
    }

    /// Samples recorded.
    pub fn count(&self) -> u64 {
        self.n
    }

    /// The `q` quantile (0..=1) in milliseconds (bucket midpoint, within 2%).
    pub fn quantile_ms(&self, q: f64) -> f64 {
        if self.n == 0 {
            return 0.0;
        }
        let rank = ((q * self.n as f64).ceil() as u64).clamp(1, self.n);
        let mut seen = 0u64;
        for (b, &c) in self.counts.iter().enumerate() {
            seen += c as u64;
            if seen >= rank {
                if b == 0 {
                    return 0.0005;
                }
                let lo = GROWTH.powi(b as i32 - 1);
                let mid = lo * (1.0 + GROWTH) / 2.0;
                return (mid / 1000.0).min(self.max_us / 1000.0);
            }
        }
        self.max_us / 1000.0
    }

    /// Mean in milliseconds.
    pub fn mean_ms(&self) -> f64 {
        if self.n == 0 {
            0.0
        } else {
            self.sum_us / self.n as f64 / 1000.0
        }
    }

    /// Forget everything.
    pub fn clear(&mut self) {
        self.counts.fill(0);
        self.n = 0;
        self.sum_us = 0.0;
        self.max_us = 0.0;
    }
}

/// The four stages the pipeline times.
#[derive(Debug, Clone, Default)]
pub struct Stages {
    /// Source delivering a frame.
    pub capture: Hist,
    /// Resize + normalize + quantize into the input (all tiles of a frame).
    pub preprocess: Hist,
    /// The runtime (all tiles of a frame).
    pub inference: Hist,
    /// From the start of the capture to the results leaving the sinks (queueing included).
    pub total: Hist,
}

impl Stages {
    /// Forget everything.
    pub fn clear(&mut self) {
        self.capture.clear();
        self.preprocess.clear();
        self.inference.clear();
        self.total.clear();
    }

    fn json(h: &Hist) -> serde_json::Value {
        serde_json::json!({
            "p50_ms": round3(h.quantile_ms(0.5)),
            "p99_ms": round3(h.quantile_ms(0.99)),
            "mean_ms": round3(h.mean_ms()),
        })
    }
}

/// Round to 3 decimals for printing.
pub fn round3(v: f64) -> f64 {
    (v * 1000.0).round() / 1000.0
}

/// A report over a period (one second, or the whole run).
#[derive(Debug, Clone)]
pub struct StatsReport {
    /// Seconds since the pipeline started.
    pub at_s: f64,
    /// Length of the period in seconds.
    pub period_s: f64,
    /// Frames processed in the period.
    pub frames: u64,
    /// Frames dropped by the queue in the period (a newer frame arrived first).
    pub dropped: u64,
    /// Corrupt frames skipped in the period.
    pub corrupt: u64,
    /// Reconnections of the source in the period.
    pub reconnects: u64,
    /// Stalls detected in the period.
    pub stalls: u64,
    /// Timings of the period.
    pub stages: Stages,
    /// The source's state now: `live`, `stalled`, `reconnecting` or `ended`.
    pub source: &'static str,
}

impl StatsReport {
    /// Frames per second over the period.
    pub fn fps(&self) -> f64 {
        if self.period_s > 0.0 {
            self.frames as f64 / self.period_s
        } else {
            0.0
        }
    }

    /// As a JSON object (`kind`: "stats" or "summary").
    pub fn json(&self, kind: &str) -> serde_json::Value {
        serde_json::json!({
            "type": kind,
            "t": round3(self.at_s),
            "period_s": round3(self.period_s),
            "frames": self.frames,
            "fps": round3(self.fps()),
            "dropped": self.dropped,
            "corrupt": self.corrupt,
            "reconnects": self.reconnects,
            "stalls": self.stalls,
            "source": self.source,
            "capture": Stages::json(&self.stages.capture),
            "preprocess": Stages::json(&self.stages.preprocess),
            "inference": Stages::json(&self.stages.inference),
            "total": Stages::json(&self.stages.total),
        })
    }

    /// One human-readable line.
    pub fn line(&self) -> String {
        let s = &self.stages;
        let pq = |h: &Hist| format!("{:.2}/{:.2}", h.quantile_ms(0.5), h.quantile_ms(0.99));
        format!(
            "{:7.1}s {:8.1} fps  frames {} dropped {} corrupt {} reconnects {} stalls {} [{}] | ms p50/p99: capture {} preprocess {} inference {} total {}",
            self.at_s,
            self.fps(),
            self.frames,
            self.dropped,
            self.corrupt,
            self.reconnects,
            self.stalls,
            self.source,
            pq(&s.capture),
            pq(&s.preprocess),
            pq(&s.inference),
            pq(&s.total)
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_within_a_bucket() {
        let mut h = Hist::default();
        for i in 1..=1000u64 {
            h.add(Duration::from_micros(i * 10));
        }
        let p50 = h.quantile_ms(0.5);
        let p99 = h.quantile_ms(0.99);
        assert!((p50 - 5.0).abs() / 5.0 < 0.04, "{p50}");
        assert!((p99 - 9.9).abs() / 9.9 < 0.04, "{p99}");
        assert!((h.mean_ms() - 5.005).abs() < 1e-6);
        h.clear();
        assert_eq!(h.quantile_ms(0.5), 0.0);
    }
}
