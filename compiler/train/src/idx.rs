//! IDX files (MNIST, Fashion-MNIST): big-endian headers, `u8` data, gzipped or not.
//!
//! Images: magic `0x00000803`, count, rows, cols, then `count*rows*cols` bytes.
//! Labels: magic `0x00000801`, count, then `count` bytes.

use std::io::Read;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};

/// The images of an IDX image file.
#[derive(Debug, Clone, PartialEq)]
pub struct IdxImages {
    /// Number of images.
    pub count: usize,
    /// Rows of each image.
    pub rows: usize,
    /// Columns of each image.
    pub cols: usize,
    /// `count*rows*cols` pixels, row-major per image.
    pub pixels: Vec<u8>,
}

impl IdxImages {
    /// Pixels of image `i`.
    pub fn image(&self, i: usize) -> &[u8] {
        let n = self.rows * self.cols;
        &self.pixels[i * n..(i + 1) * n]
    }
}

/// Read a whole file, gunzipping it when it starts with the gzip magic.
pub fn read_maybe_gz(path: &Path) -> Result<Vec<u8>> {
    let raw = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    if raw.starts_with(&[0x1f, 0x8b]) {
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(&raw[..])
            .read_to_end(&mut out)
            .with_context(|| format!("{}: corrupt gzip data", path.display()))?;
        Ok(out)
    } else {
        Ok(raw)
    }
}

fn be32(b: &[u8], at: usize) -> usize {
    u32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]]) as usize
}

/// Parse IDX image bytes.
pub fn parse_images(b: &[u8]) -> Result<IdxImages> {
    if b.len() < 16 || be32(b, 0) != 0x803 {
        bail!("not an IDX image file (magic 0x00000803)");
    }
    let (count, rows, cols) = (be32(b, 4), be32(b, 8), be32(b, 12));
    let n = count.checked_mul(rows).and_then(|v| v.checked_mul(cols)).context("IDX sizes overflow")?;
    if rows == 0 || cols == 0 || b.len() - 16 != n {
        bail!("IDX image file holds {} data bytes, its header ({count} x {rows} x {cols}) says {n}", b.len() - 16);
    }
    Ok(IdxImages { count, rows, cols, pixels: b[16..].to_vec() })
}

/// Parse IDX label bytes.
pub fn parse_labels(b: &[u8]) -> Result<Vec<u8>> {
    if b.len() < 8 || be32(b, 0) != 0x801 {
        bail!("not an IDX label file (magic 0x00000801)");
    }
    let count = be32(b, 4);
    if b.len() - 8 != count {
        bail!("IDX label file holds {} labels, its header says {count}", b.len() - 8);
    }
    Ok(b[8..].to_vec())
}

/// An image file and its label file, checked to agree.
pub fn load_pair(images: &Path, labels: &Path) -> Result<(IdxImages, Vec<u8>)> {
    let im = parse_images(&read_maybe_gz(images)?).with_context(|| images.display().to_string())?;
    let lb = parse_labels(&read_maybe_gz(labels)?).with_context(|| labels.display().to_string())?;
    if im.count != lb.len() {
        bail!("{} has {} images but {} has {} labels", images.display(), im.count, labels.display(), lb.len());
    }
    Ok((im, lb))
}

/// The label file next to an image file: `…images-idx3-ubyte…` → `…labels-idx1-ubyte…`.
pub fn labels_for(images: &Path) -> Option<PathBuf> {
    let name = images.file_name()?.to_str()?;
    let l = name.replace("images-idx3", "labels-idx1").replace("images.idx3", "labels.idx1");
    (l != name).then(|| images.with_file_name(l))
}

/// Find `{prefix}-images-idx3-ubyte[.gz]` in `dir` (prefix `train` or `t10k`).
pub fn find_images(dir: &Path, prefix: &str) -> Option<PathBuf> {
    ["", ".gz"]
        .iter()
        .map(|ext| dir.join(format!("{prefix}-images-idx3-ubyte{ext}")))
        .find(|p| p.is_file())
}

/// IDX image bytes for tests and tools.
pub fn encode_images(rows: usize, cols: usize, pixels: &[u8]) -> Vec<u8> {
    let count = pixels.len() / (rows * cols);
    let mut b = Vec::with_capacity(16 + pixels.len());
    for v in [0x803, count, rows, cols] {
        b.extend_from_slice(&(v as u32).to_be_bytes());
    }
    b.extend_from_slice(pixels);
    b
}

/// IDX label bytes for tests and tools.
pub fn encode_labels(labels: &[u8]) -> Vec<u8> {
    let mut b = Vec::with_capacity(8 + labels.len());
    for v in [0x801, labels.len()] {
        b.extend_from_slice(&(v as u32).to_be_bytes());
    }
    b.extend_from_slice(labels);
    b
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn round_trip_plain_and_gzip() {
        let dir = std::env::temp_dir().join(format!("kestrel-idx-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("tmp");
        let px: Vec<u8> = (0..2 * 3 * 4).map(|v| v as u8).collect();
        std::fs::write(dir.join("train-images-idx3-ubyte"), encode_images(3, 4, &px)).expect("write");
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(&encode_labels(&[7, 1])).expect("gz");
        std::fs::write(dir.join("train-labels-idx1-ubyte.gz"), gz.finish().expect("gz")).expect("write");
        let im = find_images(&dir, "train").expect("found");
        let lb = dir.join("train-labels-idx1-ubyte.gz");
        let (i, l) = load_pair(&im, &lb).expect("loads");
        assert_eq!((i.count, i.rows, i.cols), (2, 3, 4));
        assert_eq!(i.image(1), &px[12..]);
        assert_eq!(l, [7, 1]);
        assert!(parse_images(&encode_labels(&[1])).is_err());
        assert!(parse_labels(&encode_labels(&[1, 2])[..9]).is_err());
        assert_eq!(labels_for(Path::new("/a/t10k-images-idx3-ubyte.gz")), Some(PathBuf::from("/a/t10k-labels-idx1-ubyte.gz")));
        std::fs::remove_dir_all(&dir).ok();
    }
}
