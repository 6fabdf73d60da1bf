//! Streaming batches: a producer thread decodes (and augments) the next batch while the
//! current one trains; unreadable images are skipped and recorded on the dataset.
//!
//! Everything random is derived from the run seed with [`mix`]: the epoch's shuffle from
//! `(seed, epoch)`, each sample's augmentation from `(seed, epoch, sample)`. A batch is
//! therefore the same whatever came before it, which is what makes `--resume` end with the
//! weights of an uninterrupted run.

use std::sync::mpsc::sync_channel;

use anyhow::Result;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::SeedableRng;

use super::augment::Augment;
use super::dataset::{load_sample, Dataset, Source, Split};

/// SplitMix64 over a few words: independent seeds for independent streams.
pub fn mix(words: &[u64]) -> u64 {
    let mut z = 0x9e37_79b9_7f4a_7c15u64;
    for &w in words {
        z = z.wrapping_add(w).wrapping_add(0x9e37_79b9_7f4a_7c15);
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^= z >> 31;
    }
    z
}

/// Stream tags for [`mix`].
pub mod stream {
    /// Shuffle order.
    pub const SHUFFLE: u64 = 1;
    /// Per-sample augmentation.
    pub const AUGMENT: u64 = 2;
    /// Dropout masks.
    pub const DROPOUT: u64 = 3;
}

/// The order of an epoch: `0..n` shuffled by `(seed, epoch)`.
pub fn epoch_order(n: usize, seed: u64, epoch: usize) -> Vec<usize> {
    let mut v: Vec<usize> = (0..n).collect();
    v.shuffle(&mut StdRng::seed_from_u64(mix(&[seed, stream::SHUFFLE, epoch as u64])));
    v
}

/// What a batch holds: NCHW f32 images and class indices.
#[derive(Debug, Clone, PartialEq)]
pub struct Batch {
    /// `n * c * h * w` values.
    pub x: Vec<f32>,
    /// Class of each image.
    pub y: Vec<u32>,
    /// Images in the batch (fewer than asked if some could not be decoded).
    pub n: usize,
}

/// How samples become tensors.
#[derive(Debug, Clone, Copy)]
pub struct Shape {
    /// Channels.
    pub c: usize,
    /// Height.
    pub h: usize,
    /// Width.
    pub w: usize,
    /// Pixel scale (Keras `rescale`).
    pub rescale: f32,
}

/// Decode the samples `ids` of `split` (augmented with `aug` and seeds from `(seed, epoch)`).
pub fn make_batch(ds: &Dataset, split: &Split, ids: &[usize], s: Shape, aug: Option<(&Augment, u64, usize)>) -> Batch {
    let per = s.c * s.h * s.w;
    let mut x = Vec::with_capacity(ids.len() * per);
    let mut y = Vec::with_capacity(ids.len());
    for &i in ids {
        let (src, label) = &split.items[i];
        match load_sample(split, src, s.c, s.h, s.w, s.rescale) {
            Ok(img) => {
                let img = match aug {
                    Some((a, seed, epoch)) if a.is_active() => {
                        let mut rng = StdRng::seed_from_u64(mix(&[seed, stream::AUGMENT, epoch as u64, i as u64]));
                        a.apply(&img, s.c, s.h, s.w, &mut rng)
                    }
                    _ => img,
                };
                x.extend_from_slice(&img);
                y.push(*label as u32);
            }
            Err(e) => {
                if let Source::File(p) = src {
                    ds.mark_corrupt(p, &format!("{e:#}"));
                }
            }
        }
    }
    let n = y.len();
    Batch { x, y, n }
}

/// Run `f` on every batch of `order` (in chunks of `batch_size`), decoding the next batch
/// on a second thread meanwhile. Stops at the first error of `f`.
pub fn for_each_batch(
    ds: &Dataset,
    split: &Split,
    order: &[usize],
    batch_size: usize,
    s: Shape,
    aug: Option<(&Augment, u64, usize)>,
    mut f: impl FnMut(Batch) -> Result<()>,
) -> Result<()> {
    let (tx, rx) = sync_channel::<Batch>(2);
    std::thread::scope(|scope| {
        // Owned here so an early error drops it, which stops the producer before the join.
        let rx = rx;
        scope.spawn(move || {
            for ids in order.chunks(batch_size.max(1)) {
                if tx.send(make_batch(ds, split, ids, s, aug)).is_err() {
                    break;
                }
            }
        });
        for b in rx.iter() {
            if b.n == 0 {
                continue;
            }
            f(b)?;
        }
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn order_is_seeded() {
        assert_eq!(epoch_order(50, 1, 0), epoch_order(50, 1, 0));
        assert_ne!(epoch_order(50, 1, 0), epoch_order(50, 1, 1));
        assert_ne!(epoch_order(50, 1, 0), epoch_order(50, 2, 0));
        let mut o = epoch_order(50, 3, 4);
        o.sort_unstable();
        assert_eq!(o, (0..50).collect::<Vec<_>>());
    }
}
