//! The synthetic test pattern: a moving gradient, a bright disc and a dark bar that move
//! frame by frame, sensor-like noise, and (drop-out mode) a deterministic schedule of
//! corrupt frames, stalls and outages with failing reopens, for resilience tests.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use super::{FrameSource, Opener, SourceError};
use crate::Frame;

/// What the pattern looks like and how it misbehaves.
#[derive(Debug, Clone, PartialEq)]
pub struct PatternConfig {
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// Noise amplitude (0..=127), added per pixel and channel.
    pub noise: u8,
    /// Seed of the noise.
    pub seed: u64,
    /// Misbehave on a schedule (`None`: a perfect source).
    pub dropout: Option<Dropout>,
}

impl Default for PatternConfig {
    fn default() -> PatternConfig {
        PatternConfig { width: 320, height: 240, noise: 12, seed: 1, dropout: None }
    }
}

/// The drop-out schedule, in frames counted across reopens (0 disables an entry).
#[derive(Debug, Clone, PartialEq)]
pub struct Dropout {
    /// Every Nth frame is corrupt.
    pub corrupt_every: u64,
    /// Every Nth frame the source disconnects...
    pub disconnect_every: u64,
    /// ...and this many reopen attempts fail before one succeeds.
    pub failed_reopens: u64,
    /// Every Nth frame the source stalls...
    pub stall_every: u64,
    /// ...for this long.
    pub stall: Duration,
}

impl Default for Dropout {
    fn default() -> Dropout {
        Dropout {
            corrupt_every: 50,
            disconnect_every: 200,
            failed_reopens: 2,
            stall_every: 300,
            stall: Duration::from_millis(600),
        }
    }
}

/// State shared by every opening of one pattern, so a reopened pattern continues.
#[derive(Debug, Default)]
struct Shared {
    /// Frames produced (or failed) so far.
    n: AtomicU64,
    /// Reopen attempts still to fail.
    failing_opens: AtomicU64,
}

/// An opened pattern.
pub struct PatternSource {
    cfg: PatternConfig,
    shared: Arc<Shared>,
    rng: u64,
}

/// The opener: every opening continues the same pattern; in drop-out mode the openings
/// right after a disconnect fail as the schedule says.
pub fn opener(cfg: PatternConfig) -> Opener {
    let shared = Arc::new(Shared::default());
    Box::new(move || {
        if shared.failing_opens.load(Ordering::Relaxed) > 0 {
            shared.failing_opens.fetch_sub(1, Ordering::Relaxed);
            return Err(SourceError::Open("pattern: simulated outage (drop-out mode)".into()));
        }
        Ok(Box::new(PatternSource::with_shared(cfg.clone(), shared.clone())) as Box<dyn FrameSource>)
    })
}

impl PatternSource {
    /// A pattern on its own (no reopen bookkeeping).
    pub fn new(cfg: PatternConfig) -> PatternSource {
        PatternSource::with_shared(cfg, Arc::new(Shared::default()))
    }

    fn with_shared(cfg: PatternConfig, shared: Arc<Shared>) -> PatternSource {
        let rng = cfg.seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
        PatternSource { cfg, shared, rng }
    }

    fn draw(&mut self, t: u64, frame: &mut Frame) {
        let (w, h) = (self.cfg.width, self.cfg.height);
        frame.reshape(w, h);
        let tf = t as f32;
        // A disc on a Lissajous path and a bar bouncing left to right.
        let (cx, cy) = (
            w as f32 * (0.5 + 0.35 * (tf * 0.031).sin()),
            h as f32 * (0.5 + 0.35 * (tf * 0.047).cos()),
        );
        let r = w.min(h) as f32 * 0.18;
        let period = 2 * w.max(1) as u64;
        let px = (t * 4) % period;
        let bar_x = if px < w as u64 { px } else { period - px } as i64;
        let bar_w = (w / 10).max(1) as i64;
        let amp = self.cfg.noise as i32;
        let mut rng = self.rng;
        for y in 0..h {
            let row = &mut frame.rgb[(y * w * 3) as usize..((y + 1) * w * 3) as usize];
            let dy = y as f32 - cy;
            for x in 0..w {
                let dx = x as f32 - cx;
                let mut p = if dx * dx + dy * dy < r * r {
                    [240, 220, 60]
                } else if (x as i64 - bar_x).abs() < bar_w && y > h / 4 && y < 3 * h / 4 {
                    [20, 30, 120]
                } else {
                    let g = ((x + y + t as u32 * 2) % 256) as u8;
                    [g, 255 - g, (x * 255 / w.max(1)) as u8]
                };
                if amp > 0 {
                    // xorshift64*
                    rng ^= rng >> 12;
                    rng ^= rng << 25;
                    rng ^= rng >> 27;
                    let v = rng.wrapping_mul(0x2545_F491_4F6C_DD1D);
                    for (k, c) in p.iter_mut().enumerate() {
                        let n = ((v >> (8 * k)) & 0xFF) as i32 * (2 * amp + 1) / 256 - amp;
                        *c = (*c as i32 + n).clamp(0, 255) as u8;
                    }
                }
                let o = x as usize * 3;
                row[o..o + 3].copy_from_slice(&p);
            }
        }
        self.rng = rng;
    }
}

impl FrameSource for PatternSource {
    fn next_frame(&mut self, frame: &mut Frame) -> Result<(), SourceError> {
        let n = self.shared.n.fetch_add(1, Ordering::Relaxed) + 1;
        if let Some(d) = &self.cfg.dropout {
            let hit = |every: u64| every > 0 && n % every == every / 2;
            if hit(d.disconnect_every) {
                self.shared.failing_opens.store(d.failed_reopens, Ordering::Relaxed);
                return Err(SourceError::Disconnected(format!("pattern: simulated outage at frame {n}")));
            }
            if hit(d.corrupt_every) {
                return Err(SourceError::Corrupt(format!("pattern: simulated corrupt frame {n}")));
            }
            if hit(d.stall_every) {
                std::thread::sleep(d.stall);
            }
        }
        self.draw(n, frame);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn moves_and_misbehaves_on_schedule() {
        let mut s = PatternSource::new(PatternConfig { width: 32, height: 24, ..Default::default() });
        let (mut a, mut b) = (Frame::default(), Frame::default());
        s.next_frame(&mut a).unwrap();
        s.next_frame(&mut b).unwrap();
        assert!(a.is_consistent() && b.is_consistent());
        assert_ne!(a.rgb, b.rgb, "the pattern moves");

        let d = Dropout { corrupt_every: 4, disconnect_every: 9, failed_reopens: 1, stall_every: 0, stall: Duration::ZERO };
        let mut open = opener(PatternConfig { width: 8, height: 8, dropout: Some(d), ..Default::default() });
        let mut src = open().unwrap();
        let mut f = Frame::default();
        let got: Vec<_> = (0..4).map(|_| src.next_frame(&mut f)).collect();
        assert!(matches!(got[1], Err(SourceError::Corrupt(_))), "{got:?}");
        assert!(matches!(got[3], Err(SourceError::Disconnected(_))), "{got:?}");
        assert!(open().is_err(), "the first reopen fails");
        let mut src = open().expect("the second reopen works");
        assert!(src.next_frame(&mut f).is_ok());
    }
}
