//! Small generated datasets for tests and quick checks: simple shapes a CNN separates in a
//! few epochs (a horizontal bar, a vertical bar, a square, a diagonal, a cross, a frame),
//! at random positions with noise, written in the Keras folder layout.

use std::path::Path;

use anyhow::{Context, Result};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// Class names of the generated shapes.
pub const SHAPES: [&str; 6] = ["bar_h", "bar_v", "square", "diagonal", "cross", "frame"];

/// One `size` x `size` grayscale image of shape `class` (0..6).
pub fn shape_image(class: usize, size: usize, rng: &mut StdRng) -> Vec<u8> {
    let s = size as i64;
    let mut px: Vec<u8> = (0..size * size).map(|_| rng.random_range(0..40u8)).collect();
    let m = (s / 4).max(1);
    let a = rng.random_range(m..(s - m).max(m + 1));
    let b = rng.random_range(m..(s - m).max(m + 1));
    let len = s / 2;
    let mut set = |x: i64, y: i64| {
        if (0..s).contains(&x) && (0..s).contains(&y) {
            px[(y * s + x) as usize] = rng.random_range(200..=255u8);
        }
    };
    match class % SHAPES.len() {
        0 => (0..len).for_each(|i| (0..2).for_each(|t| set(b - len / 2 + i, a + t))),
        1 => (0..len).for_each(|i| (0..2).for_each(|t| set(a + t, b - len / 2 + i))),
        2 => (0..len / 2).for_each(|i| (0..len / 2).for_each(|j| set(a - len / 4 + i, b - len / 4 + j))),
        3 => (0..len).for_each(|i| (0..2).for_each(|t| set(a - len / 2 + i + t, b - len / 2 + i))),
        4 => (0..len).for_each(|i| {
            set(a - len / 2 + i, b);
            set(a, b - len / 2 + i);
        }),
        _ => (0..len).for_each(|i| {
            set(a - len / 2 + i, b - len / 2);
            set(a - len / 2 + i, b + len / 2);
            set(a - len / 2, b - len / 2 + i);
            set(a + len / 2, b - len / 2 + i);
        }),
    }
    px
}

/// Write `root/{split}/{class}/{i}.png` for the first `classes` shapes, `per_class[k]`
/// images per split (`splits` pairs a split name with its count), grayscale or RGB.
pub fn write_folder(root: &Path, classes: usize, splits: &[(&str, usize)], size: usize, rgb: bool, seed: u64) -> Result<()> {
    let mut rng = StdRng::seed_from_u64(seed);
    for (split, n) in splits {
        for (k, name) in SHAPES.iter().enumerate().take(classes) {
            let dir = root.join(split).join(name);
            std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
            for i in 0..*n {
                let px = shape_image(k, size, &mut rng);
                let p = dir.join(format!("{i:04}.png"));
                if rgb {
                    let img = image::RgbImage::from_fn(size as u32, size as u32, |x, y| {
                        let v = px[y as usize * size + x as usize];
                        image::Rgb([v, v / 2 + 60, 255 - v])
                    });
                    img.save(&p)
                } else {
                    image::GrayImage::from_raw(size as u32, size as u32, px).context("image")?.save(&p)
                }
                .with_context(|| format!("cannot write {}", p.display()))?;
            }
        }
    }
    Ok(())
}
