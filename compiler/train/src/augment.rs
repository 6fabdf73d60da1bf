//! On-the-fly augmentation as Keras' `ImageDataGenerator`: random rotation, width and
//! height shift, shear, zoom and horizontal flip, with `fill_mode='nearest'` (points
//! outside the image take the nearest edge pixel) and bilinear sampling.
//!
//! Spec: comma-separated `key=value` (or a bare flag), Keras names accepted:
//! `rotation=40` (degrees), `width_shift=0.2`, `height_shift=0.2` (fractions of the size),
//! `shear=0.2` (radians, counter-clockwise), `zoom=0.2` (scale in `[1-z, 1+z]` per axis),
//! `hflip`, `rescale=0.00392` (sets the pixel scale of every split, as Keras' rescale).
//! Every draw comes from the RNG passed in; the trainer seeds one per sample from the run
//! seed, the epoch and the sample, so augmentation is reproducible and independent of
//! batching.

use anyhow::{bail, Context, Result};
use rand::rngs::StdRng;
use rand::Rng;

/// Augmentation parameters (all zero / false: none).
#[derive(Debug, Clone, Copy, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Augment {
    /// Rotation range in degrees.
    pub rotation: f32,
    /// Horizontal shift range, fraction of the width.
    pub width_shift: f32,
    /// Vertical shift range, fraction of the height.
    pub height_shift: f32,
    /// Shear range in radians.
    pub shear: f32,
    /// Zoom range: scales drawn in `[1 - zoom, 1 + zoom]`.
    pub zoom: f32,
    /// Random horizontal flips.
    pub hflip: bool,
    /// Pixel scale, if the spec set one.
    pub rescale: Option<f32>,
}

impl Augment {
    /// Parse a spec (see the module docs).
    pub fn parse(spec: &str) -> Result<Augment> {
        let mut a = Augment::default();
        for tok in spec.split(',').map(str::trim).filter(|t| !t.is_empty()) {
            let (k, v) = tok.split_once('=').map_or((tok, None), |(k, v)| (k.trim(), Some(v.trim())));
            let num = |v: Option<&str>| -> Result<f32> {
                let v = v.with_context(|| format!("augmentation '{tok}' needs a value ({k}=…)"))?;
                let x = if let Some((a, b)) = v.split_once('/') {
                    a.trim().parse::<f32>().ok().zip(b.trim().parse::<f32>().ok()).map(|(a, b)| a / b)
                } else {
                    v.parse::<f32>().ok()
                };
                let x = x.filter(|x| x.is_finite() && *x >= 0.0).with_context(|| format!("augmentation '{tok}': not a non-negative number"))?;
                Ok(x)
            };
            match k.to_ascii_lowercase().as_str() {
                "rotation" | "rotation_range" => a.rotation = num(v)?,
                "width_shift" | "width_shift_range" => a.width_shift = num(v)?,
                "height_shift" | "height_shift_range" => a.height_shift = num(v)?,
                "shift" => {
                    a.width_shift = num(v)?;
                    a.height_shift = a.width_shift;
                }
                "shear" | "shear_range" => a.shear = num(v)?,
                "zoom" | "zoom_range" => {
                    a.zoom = num(v)?;
                    if a.zoom >= 1.0 {
                        bail!("augmentation '{tok}': zoom must be below 1");
                    }
                }
                "hflip" | "horizontal_flip" => {
                    a.hflip = match v.map(|s| s.to_ascii_lowercase()) {
                        None => true,
                        Some(s) if s == "true" || s == "1" => true,
                        Some(s) if s == "false" || s == "0" => false,
                        Some(_) => bail!("augmentation '{tok}': use hflip or hflip=true|false"),
                    }
                }
                "rescale" => a.rescale = Some(num(v)?),
                "fill_mode" if v == Some("nearest") => {}
                "fill_mode" => bail!("augmentation '{tok}': only fill_mode=nearest is supported"),
                _ => bail!(
                    "unknown augmentation '{k}' (use rotation, width_shift, height_shift, shear, zoom, hflip, rescale)"
                ),
            }
        }
        Ok(a)
    }

    /// True if it changes images.
    pub fn is_active(&self) -> bool {
        self.rotation > 0.0 || self.width_shift > 0.0 || self.height_shift > 0.0 || self.shear > 0.0 || self.zoom > 0.0 || self.hflip
    }

    /// Augment one CHW image of `c` x `h` x `w` with draws from `rng`.
    pub fn apply(&self, x: &[f32], c: usize, h: usize, w: usize, rng: &mut StdRng) -> Vec<f32> {
        let mut draw = |r: f32| if r > 0.0 { rng.random_range(-r..=r) } else { 0.0 };
        let theta = draw(self.rotation).to_radians();
        let tx = draw(self.width_shift) * w as f32;
        let ty = draw(self.height_shift) * h as f32;
        let shear = draw(self.shear);
        let (zx, zy) = (1.0 + draw(self.zoom), 1.0 + draw(self.zoom));
        let flip = self.hflip && rng.random::<bool>();
        // Output pixel (u, v) around the centre maps to input R(theta) · Shear · Zoom · (u, v) + t.
        let (ct, st) = (theta.cos(), theta.sin());
        let (sh_s, sh_c) = (-(shear.sin()), shear.cos());
        // Shear matrix [[1, -sin s], [0, cos s]], zoom diag(zx, zy), rotation [[c, -s], [s, c]].
        let m00 = ct * zx;
        let m01 = (ct * sh_s - st * sh_c) * zy;
        let m10 = st * zx;
        let m11 = (st * sh_s + ct * sh_c) * zy;
        let (cx, cy) = ((w as f32 - 1.0) / 2.0, (h as f32 - 1.0) / 2.0);
        let mut out = vec![0f32; x.len()];
        let n = h * w;
        for oy in 0..h {
            for ox in 0..w {
                let u = ox as f32 - cx;
                let v = oy as f32 - cy;
                let sx = (m00 * u + m01 * v + tx + cx).clamp(0.0, (w - 1) as f32);
                let sy = (m10 * u + m11 * v + ty + cy).clamp(0.0, (h - 1) as f32);
                let (x0, y0) = (sx.floor() as usize, sy.floor() as usize);
                let (x1, y1) = ((x0 + 1).min(w - 1), (y0 + 1).min(h - 1));
                let (fx, fy) = (sx - x0 as f32, sy - y0 as f32);
                let dst_x = if flip { w - 1 - ox } else { ox };
                for ch in 0..c {
                    let p = &x[ch * n..(ch + 1) * n];
                    let top = p[y0 * w + x0] * (1.0 - fx) + p[y0 * w + x1] * fx;
                    let bot = p[y1 * w + x0] * (1.0 - fx) + p[y1 * w + x1] * fx;
                    out[ch * n + oy * w + dst_x] = top * (1.0 - fy) + bot * fy;
                }
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn parse_spec() {
        let a = Augment::parse("rotation=40, width_shift_range=0.2,height_shift=0.1,shear=0.2,zoom=0.2,hflip,rescale=1/255").expect("parses");
        assert_eq!(a.rotation, 40.0);
        assert_eq!(a.height_shift, 0.1);
        assert!(a.hflip);
        assert!((a.rescale.expect("rescale") - 1.0 / 255.0).abs() < 1e-9);
        for bad in ["spin=3", "zoom=2", "rotation", "rotation=-1", "hflip=maybe", "fill_mode=reflect"] {
            assert!(Augment::parse(bad).is_err(), "{bad}");
        }
        assert!(!Augment::parse("").expect("empty").is_active());
    }

    #[test]
    fn identity_flip_and_determinism() {
        let (c, h, w) = (2, 5, 7);
        let x: Vec<f32> = (0..c * h * w).map(|v| v as f32).collect();
        let none = Augment::default();
        assert_eq!(none.apply(&x, c, h, w, &mut StdRng::seed_from_u64(1)), x);
        let flip = Augment { hflip: true, ..Augment::default() };
        let flipped: Vec<Vec<f32>> = (0..8).map(|s| flip.apply(&x, c, h, w, &mut StdRng::seed_from_u64(s))).collect();
        let mirrored: Vec<f32> = (0..c * h * w).map(|i| x[i - i % w + (w - 1 - i % w)]).collect();
        assert!(flipped.iter().all(|f| *f == x || *f == mirrored));
        assert!(flipped.contains(&mirrored) && flipped.contains(&x));
        let all = Augment::parse("rotation=30,shift=0.2,shear=0.3,zoom=0.3,hflip").expect("parses");
        let a = all.apply(&x, c, h, w, &mut StdRng::seed_from_u64(7));
        assert_eq!(a, all.apply(&x, c, h, w, &mut StdRng::seed_from_u64(7)));
        assert_ne!(a, all.apply(&x, c, h, w, &mut StdRng::seed_from_u64(8)));
        // Nearest fill and bilinear sampling never leave the input's range.
        assert!(a.iter().all(|v| (0.0..=(c * h * w) as f32).contains(v)));
    }
}
