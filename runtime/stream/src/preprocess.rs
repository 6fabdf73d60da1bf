//! One fused pass from an RGB frame (or a tile of it) to the model's input bytes: resize
//! (stretch, center crop or letterbox, as the `.kes` says), convert channels, normalize and
//! quantize, written straight into the input tensor in the arena.
//!
//! Resampling is separable with a triangle filter whose support widens with the downscale
//! factor (as `image`'s `FilterType::Triangle`, which `kestrel run` uses), so a 4K frame
//! shrunk to 28x28 averages its pixels instead of aliasing. Resampled pixels are rounded
//! to 0..=255, and a 256-entry table per channel maps them to the normalized, quantized
//! value: exactly `Model::set_input_f32` on `(p * rescale - mean) / std`, with no f32 input
//! tensor in between.

use kestrel_runtime::{ChannelOrder, DType, Model, Resize};

use crate::Frame;

/// A rectangle in frame pixels.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rect {
    /// Left edge.
    pub x: f32,
    /// Top edge.
    pub y: f32,
    /// Width.
    pub w: f32,
    /// Height.
    pub h: f32,
}

impl Rect {
    /// The whole frame.
    pub fn full(frame: &Frame) -> Rect {
        Rect { x: 0.0, y: 0.0, w: frame.width as f32, h: frame.height as f32 }
    }
}

/// How the model's channels come from RGB pixels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChannelMap {
    /// R, G, B.
    Rgb,
    /// B, G, R.
    Bgr,
    /// One luma channel (a 1-channel model).
    Gray,
    /// Luma replicated into three channels (a 3-channel model trained on gray images).
    GrayToRgb,
}

/// Per-axis filter taps: for output `o`, source pixels `start[o]..` with weights.
#[derive(Debug, Default)]
struct Taps {
    off: Vec<u32>,
    idx: Vec<u32>,
    w: Vec<f32>,
}

impl Taps {
    /// Taps resampling `[s0, s0 + len)` of an axis of `limit` pixels onto `n` outputs.
    fn build(&mut self, s0: f32, len: f32, n: usize, limit: usize) {
        self.off.clear();
        self.idx.clear();
        self.w.clear();
        let factor = len / n as f32;
        let support = factor.max(1.0);
        let last = limit.saturating_sub(1) as i64;
        for o in 0..n {
            self.off.push(self.w.len() as u32);
            let center = s0 + (o as f32 + 0.5) * factor;
            let lo = (center - support).floor() as i64;
            let hi = (center + support).ceil() as i64;
            let first = self.w.len();
            let mut sum = 0.0;
            for i in lo..hi {
                let wt = 1.0 - ((i as f32 + 0.5 - center) / support).abs();
                if wt <= 0.0 {
                    continue;
                }
                self.idx.push(i.clamp(0, last) as u32);
                self.w.push(wt);
                sum += wt;
            }
            if self.w.len() == first {
                self.idx.push((center.floor() as i64).clamp(0, last) as u32);
                self.w.push(1.0);
                sum = 1.0;
            }
            for wt in &mut self.w[first..] {
                *wt /= sum;
            }
        }
        self.off.push(self.w.len() as u32);
    }

    fn of(&self, o: usize) -> (&[u32], &[f32]) {
        let (a, b) = (self.off[o] as usize, self.off[o + 1] as usize);
        (&self.idx[a..b], &self.w[a..b])
    }

    fn span(&self) -> (usize, usize) {
        let lo = self.idx.iter().copied().min().unwrap_or(0) as usize;
        let hi = self.idx.iter().copied().max().map_or(0, |v| v as usize + 1);
        (lo, hi)
    }
}

/// The fused frame → input-tensor pass for one model. Holds its scratch, so frames after
/// the first allocate nothing.
#[derive(Debug)]
pub struct Preprocessor {
    h: usize,
    w: usize,
    c: usize,
    resize: Resize,
    map: ChannelMap,
    dtype: DType,
    lut_i8: Vec<i8>,
    lut_f32: Vec<f32>,
    xt: Taps,
    yt: Taps,
    hbuf: Vec<f32>,
}

impl Preprocessor {
    /// The pass for `model`'s input. Errors (one line) when frames can't feed the input.
    pub fn new(model: &Model<'_>) -> Result<Preprocessor, String> {
        let t = model.input();
        let [n, h, w, c] = t.dims;
        if n != 1 {
            return Err(format!("the model's input has batch {n}; streaming needs batch 1"));
        }
        let pp = model.meta().preprocess;
        let map = match (c, pp.channel_order) {
            (1, _) => ChannelMap::Gray,
            (3, ChannelOrder::Gray) => ChannelMap::GrayToRgb,
            (3, ChannelOrder::Bgr) => ChannelMap::Bgr,
            (3, _) => ChannelMap::Rgb,
            _ => {
                return Err(format!(
                    "the model's input has {c} channels; frames are RGB, so only 1-channel (gray) or 3-channel models can be fed"
                ))
            }
        };
        let mut lut_i8 = vec![0i8; c * 256];
        let mut lut_f32 = vec![0f32; c * 256];
        for ch in 0..c {
            let k = ch.min(3);
            for p in 0..256 {
                let v = (p as f32 * pp.rescale - pp.mean[k]) / pp.std[k];
                lut_f32[ch * 256 + p] = v;
                lut_i8[ch * 256 + p] = kestrel_runtime::kernels::quantize_f32(v, t.scale, t.zero_point);
            }
        }
        Ok(Preprocessor {
            h,
            w,
            c,
            resize: pp.resize,
            map,
            dtype: t.dtype,
            lut_i8,
            lut_f32,
            xt: Taps::default(),
            yt: Taps::default(),
            hbuf: Vec::new(),
        })
    }

    /// The model input's height, width and channels.
    pub fn dims(&self) -> [usize; 3] {
        [self.h, self.w, self.c]
    }

    /// How channels are made from RGB.
    pub fn channel_map(&self) -> ChannelMap {
        self.map
    }

    /// A one-line note when frames are converted to feed the model (gray models).
    pub fn conversion_note(&self) -> Option<String> {
        match self.map {
            ChannelMap::Gray => Some(format!(
                "the model takes {}x{}x1 gray input: RGB frames are converted to gray (luma)",
                self.h, self.w
            )),
            ChannelMap::GrayToRgb => {
                Some("the model was compiled for gray images: RGB frames are converted to gray".into())
            }
            _ => None,
        }
    }

    /// Bytes the input tensor takes.
    pub fn input_bytes(&self) -> usize {
        self.h * self.w * self.c * if self.dtype == DType::F32 { 4 } else { 1 }
    }

    /// Preprocess `region` of `frame` into `dst` (the input tensor's bytes, from
    /// `Model::input_bytes_mut`).
    pub fn run(&mut self, frame: &Frame, region: Rect, dst: &mut [u8]) -> Result<(), String> {
        if !frame.is_consistent() {
            return Err(format!("frame {}x{} has {} bytes", frame.width, frame.height, frame.rgb.len()));
        }
        if dst.len() != self.input_bytes() {
            return Err(format!("input tensor has {} bytes, expected {}", dst.len(), self.input_bytes()));
        }
        let (fw, fh) = (frame.width as usize, frame.height as usize);
        let region = Rect {
            x: region.x.clamp(0.0, fw as f32 - 1.0),
            y: region.y.clamp(0.0, fh as f32 - 1.0),
            w: region.w.max(1.0),
            h: region.h.max(1.0),
        };
        let (src, [ox0, oy0, ow, oh]) = self.geometry(region);
        // Letterbox bars: black pixels, normalized and quantized like any other.
        if ow < self.w || oh < self.h {
            for px in 0..self.h * self.w {
                for ch in 0..self.c {
                    self.put(dst, px * self.c + ch, ch, 0);
                }
            }
        }
        self.xt.build(src.x, src.w, ow, fw);
        self.yt.build(src.y, src.h, oh, fh);
        let (y_lo, y_hi) = self.yt.span();
        let rows = y_hi - y_lo;
        self.hbuf.clear();
        self.hbuf.resize(rows * ow * 3, 0.0);
        let stride = fw * 3;
        for r in 0..rows {
            let row = &frame.rgb[(y_lo + r) * stride..(y_lo + r + 1) * stride];
            let out = &mut self.hbuf[r * ow * 3..(r + 1) * ow * 3];
            for o in 0..ow {
                let (idx, wts) = self.xt.of(o);
                let mut acc = [0f32; 3];
                for (&i, &wt) in idx.iter().zip(wts) {
                    let p = &row[i as usize * 3..i as usize * 3 + 3];
                    acc[0] += wt * p[0] as f32;
                    acc[1] += wt * p[1] as f32;
                    acc[2] += wt * p[2] as f32;
                }
                out[o * 3..o * 3 + 3].copy_from_slice(&acc);
            }
        }
        for oy in 0..oh {
            let (idx, wts) = self.yt.of(oy);
            for o in 0..ow {
                let mut acc = [0f32; 3];
                for (&i, &wt) in idx.iter().zip(wts) {
                    let p = &self.hbuf[((i as usize - y_lo) * ow + o) * 3..][..3];
                    acc[0] += wt * p[0];
                    acc[1] += wt * p[1];
                    acc[2] += wt * p[2];
                }
                let px = acc.map(|v| (v + 0.5).clamp(0.0, 255.0) as u32);
                let base = ((oy0 + oy) * self.w + ox0 + o) * self.c;
                match self.map {
                    ChannelMap::Rgb => {
                        for (ch, &v) in px.iter().enumerate() {
                            self.put(dst, base + ch, ch, v as usize);
                        }
                    }
                    ChannelMap::Bgr => {
                        for (ch, &v) in px.iter().rev().enumerate() {
                            self.put(dst, base + ch, ch, v as usize);
                        }
                    }
                    ChannelMap::Gray | ChannelMap::GrayToRgb => {
                        let l = ((2126 * px[0] + 7152 * px[1] + 722 * px[2]) / 10000) as usize;
                        for ch in 0..self.c {
                            self.put(dst, base + ch, ch, l);
                        }
                    }
                }
            }
        }
        Ok(())
    }

    /// The part of `region` to sample and where it lands in the input (x, y, w, h).
    fn geometry(&self, region: Rect) -> (Rect, [usize; 4]) {
        let (w, h) = (self.w as f32, self.h as f32);
        match self.resize {
            Resize::CenterCrop => {
                let target = w / h;
                let src = if region.w / region.h > target {
                    let cw = region.h * target;
                    Rect { x: region.x + (region.w - cw) / 2.0, w: cw, ..region }
                } else {
                    let ch = region.w / target;
                    Rect { y: region.y + (region.h - ch) / 2.0, h: ch, ..region }
                };
                (src, [0, 0, self.w, self.h])
            }
            Resize::Letterbox => {
                let s = (w / region.w).min(h / region.h);
                let fw = ((region.w * s).round() as usize).clamp(1, self.w);
                let fh = ((region.h * s).round() as usize).clamp(1, self.h);
                (region, [(self.w - fw) / 2, (self.h - fh) / 2, fw, fh])
            }
            Resize::Stretch => (region, [0, 0, self.w, self.h]),
        }
    }

    #[inline(always)]
    fn put(&self, dst: &mut [u8], i: usize, ch: usize, v: usize) {
        match self.dtype {
            DType::I8 => dst[i] = self.lut_i8[ch * 256 + v] as u8,
            DType::F32 => dst[i * 4..i * 4 + 4].copy_from_slice(&self.lut_f32[ch * 256 + v].to_ne_bytes()),
        }
    }
}
