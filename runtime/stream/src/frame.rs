//! A captured frame: packed RGB, 8 bits per channel, rows top to bottom.

use std::time::{Duration, Instant};

/// One frame. Sources fill it in place so its buffer is reused frame after frame.
#[derive(Debug, Clone)]
pub struct Frame {
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// `width * height * 3` bytes, RGB.
    pub rgb: Vec<u8>,
    /// Sequence number the pipeline gives every frame a source delivers (corrupt ones too).
    pub seq: u64,
    /// When the capture of this frame began.
    pub captured_at: Instant,
    /// How long the source took to deliver it.
    pub capture_time: Duration,
}

impl Default for Frame {
    fn default() -> Frame {
        Frame { width: 0, height: 0, rgb: Vec::new(), seq: 0, captured_at: Instant::now(), capture_time: Duration::ZERO }
    }
}

impl Frame {
    /// Resize the buffer for a `width x height` frame (keeps its allocation when it fits).
    pub fn reshape(&mut self, width: u32, height: u32) {
        self.width = width;
        self.height = height;
        self.rgb.resize(width as usize * height as usize * 3, 0);
    }

    /// A frame of one color (tests).
    pub fn filled(width: u32, height: u32, rgb: [u8; 3]) -> Frame {
        let mut f = Frame::default();
        f.reshape(width, height);
        for p in f.rgb.chunks_exact_mut(3) {
            p.copy_from_slice(&rgb);
        }
        f
    }

    /// True when the buffer matches the dimensions.
    pub fn is_consistent(&self) -> bool {
        self.width > 0 && self.height > 0 && self.rgb.len() == self.width as usize * self.height as usize * 3
    }
}
