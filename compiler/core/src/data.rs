//! Inputs: `.npy` float32 tensors and images, turned into the runtime's NHWC f32 input.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use kestrel_runtime::{ChannelOrder, Preprocess, Resize};

/// A `.npy` array of f32.
#[derive(Debug, Clone, PartialEq)]
pub struct Npy {
    /// Shape.
    pub shape: Vec<usize>,
    /// Values, C order.
    pub data: Vec<f32>,
}

/// Parse `.npy` bytes (format 1.0–3.0, little-endian float32 or float64, C order).
pub fn parse_npy(b: &[u8]) -> Result<Npy> {
    if b.len() < 10 || &b[..6] != b"\x93NUMPY" {
        bail!("not a .npy file");
    }
    let (hlen, start): (usize, usize) = match b[6] {
        1 => (u16::from_le_bytes([b[8], b[9]]) as usize, 10),
        2 | 3 if b.len() >= 12 => (u32::from_le_bytes([b[8], b[9], b[10], b[11]]) as usize, 12),
        v => bail!(".npy format version {v} is not supported"),
    };
    let header = b.get(start..start.saturating_add(hlen)).context(".npy header is truncated")?;
    let header = std::str::from_utf8(header).context(".npy header is not text")?;
    let field = |key: &str| -> Option<&str> {
        let i = header.find(&format!("'{key}'"))? + key.len() + 2;
        let rest = header[i..].trim_start().strip_prefix(':')?.trim_start();
        Some(rest)
    };
    let descr = field("descr").context(".npy header has no descr")?;
    let elem = if descr.starts_with("'<f4'") {
        4
    } else if descr.starts_with("'<f8'") {
        8
    } else {
        // The quoted dtype whole (a structured dtype holds commas of its own).
        let d = descr.strip_prefix('\'').and_then(|r| r.split('\'').next()).map(|d| format!("'{d}'")).unwrap_or_else(|| descr.chars().take(40).collect());
        bail!(".npy dtype {d} is not supported (use float32)");
    };
    if field("fortran_order").is_some_and(|f| f.starts_with("True")) {
        bail!(".npy arrays in Fortran order are not supported");
    }
    let shape_s = field("shape").context(".npy header has no shape")?;
    let shape_s = shape_s.strip_prefix('(').and_then(|s| s.split(')').next()).context(".npy shape is malformed")?;
    let shape: Vec<usize> = shape_s
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| s.parse::<usize>().context(".npy shape is malformed"))
        .collect::<Result<_>>()?;
    let n = shape.iter().try_fold(1usize, |a, &d| a.checked_mul(d)).context(".npy shape overflows")?;
    let body = &b[start + hlen..];
    if body.len() != n.checked_mul(elem).context(".npy shape overflows")? {
        bail!(".npy data has {} bytes, the shape {:?} needs {}", body.len(), shape, n * elem);
    }
    let data = if elem == 4 {
        body.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect()
    } else {
        body.chunks_exact(8).map(|c| f64::from_le_bytes(c.try_into().unwrap_or([0; 8])) as f32).collect()
    };
    Ok(Npy { shape, data })
}

/// Serialize f32 values as `.npy` (format 1.0).
pub fn write_npy(shape: &[usize], data: &[f32]) -> Vec<u8> {
    let dims: Vec<String> = shape.iter().map(|d| d.to_string()).collect();
    let shape_s = if dims.len() == 1 { format!("({},)", dims[0]) } else { format!("({})", dims.join(", ")) };
    let mut h = format!("{{'descr': '<f4', 'fortran_order': False, 'shape': {shape_s}, }}");
    while (10 + h.len() + 1) % 64 != 0 {
        h.push(' ');
    }
    h.push('\n');
    let mut out = b"\x93NUMPY\x01\x00".to_vec();
    out.extend_from_slice(&(h.len() as u16).to_le_bytes());
    out.extend_from_slice(h.as_bytes());
    out.extend(data.iter().flat_map(|v| v.to_le_bytes()));
    out
}

/// NCHW (ONNX layout) → NHWC (runtime layout) for one image.
pub fn nchw_to_nhwc(x: &[f32], c: usize, h: usize, w: usize) -> Vec<f32> {
    let mut o = vec![0f32; x.len()];
    for ch in 0..c {
        for i in 0..h * w {
            o[i * c + ch] = x[ch * h * w + i];
        }
    }
    o
}

/// NHWC → NCHW.
pub fn nhwc_to_nchw(x: &[f32], c: usize, h: usize, w: usize) -> Vec<f32> {
    let mut o = vec![0f32; x.len()];
    for ch in 0..c {
        for i in 0..h * w {
            o[ch * h * w + i] = x[i * c + ch];
        }
    }
    o
}

/// Files usable as inputs in `dir` (`.npy`, `.png`, `.jpg`, `.jpeg`), sorted by name.
pub fn list_inputs(dir: &Path) -> Result<Vec<PathBuf>> {
    let rd = std::fs::read_dir(dir).with_context(|| format!("cannot read directory {}", dir.display()))?;
    let mut v: Vec<PathBuf> = rd
        .flatten()
        .map(|e| e.path())
        .filter(|p| is_input_file(p))
        .collect();
    v.sort();
    if v.is_empty() {
        bail!("{} has no .npy, .png or .jpg files", dir.display());
    }
    Ok(v)
}

fn is_input_file(p: &Path) -> bool {
    matches!(
        p.extension().and_then(|e| e.to_str()).map(|e| e.to_ascii_lowercase()).as_deref(),
        Some("npy" | "png" | "jpg" | "jpeg")
    )
}

/// How a `.npy` input's shape is read.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum NpyLayout {
    /// The model's ONNX input shape (`[1, C, H, W]` for an NCHW model), with or without
    /// the dimensions of size 1: any array whose memory order is the model's.
    #[default]
    Onnx,
    /// `[1, H, W, C]` (channels last, as Keras/TensorFlow save images), whatever the model's.
    Nhwc,
    /// Any shape with the right element count, taken in the model's ONNX layout.
    Flat,
}

/// A shape without its dimensions of size 1.
fn squeezed(s: &[usize]) -> Vec<usize> {
    s.iter().copied().filter(|&d| d != 1).collect()
}

/// Load one input file as the runtime's NHWC f32 tensor for an input of NHWC `dims`.
/// `.npy` files must have the source model's ONNX shape (NCHW if `pp.src_nchw`); images
/// are decoded and preprocessed as `pp` says. A NaN or infinite value is an error.
pub fn load_input(path: &Path, dims: [usize; 4], pp: &Preprocess) -> Result<Vec<f32>> {
    load_input_as(path, dims, pp, NpyLayout::Onnx)
}

/// [`load_input`] with `.npy` arrays read as `layout` says.
pub fn load_input_as(path: &Path, dims: [usize; 4], pp: &Preprocess, layout: NpyLayout) -> Result<Vec<f32>> {
    let [_, h, w, c] = dims;
    let ext = path.extension().and_then(|e| e.to_str()).map(|e| e.to_ascii_lowercase()).unwrap_or_default();
    let kind = if ext == "npy" { crate::bounded::Kind::Npy } else { crate::bounded::Kind::Image };
    let bytes = crate::bounded::read(path, kind)?;
    if ext == "npy" {
        let npy = parse_npy(&bytes).with_context(|| format!("{}", path.display()))?;
        let onnx = if pp.src_nchw { vec![1, c, h, w] } else { vec![1, h, w, c] };
        let (want, nchw) = match layout {
            NpyLayout::Onnx => (onnx.clone(), pp.src_nchw),
            NpyLayout::Nhwc | NpyLayout::Flat if npy.data.len() != h * w * c => (onnx.clone(), pp.src_nchw),
            NpyLayout::Nhwc => (vec![1, h, w, c], false),
            NpyLayout::Flat => (npy.shape.clone(), pp.src_nchw),
        };
        if squeezed(&npy.shape) != squeezed(&want) {
            let hint = if npy.data.len() == h * w * c { " (same element count, other layout: pass --npy-layout nhwc or flat to say how to read it)" } else { "" };
            bail!("{}: tensor of shape {:?} does not fit the model input {:?}{hint}", path.display(), npy.shape, onnx);
        }
        if let Some(i) = npy.data.iter().position(|v| !v.is_finite()) {
            bail!("{}: element {i} is {}; inputs must be finite numbers", path.display(), npy.data[i]);
        }
        return Ok(if nchw && h * w > 1 { nchw_to_nhwc(&npy.data, c, h, w) } else { npy.data });
    }
    let img = decode_image(&bytes).with_context(|| format!("{}: cannot decode image", path.display()))?;
    Ok(preprocess_image(&img, h, w, c, pp))
}

/// Most bytes one decoded image may take (the decoder refuses larger images before it
/// allocates: a small hostile PNG can otherwise claim gigabytes).
pub const MAX_IMAGE_ALLOC: u64 = 512 << 20;
/// Largest image side accepted, in pixels.
pub const MAX_IMAGE_SIDE: u32 = 1 << 15;

/// Decode png/jpeg bytes, refusing images larger than [`MAX_IMAGE_SIDE`] or
/// [`MAX_IMAGE_ALLOC`].
pub fn decode_image(bytes: &[u8]) -> Result<image::DynamicImage> {
    decode_image_limited(bytes, MAX_IMAGE_ALLOC)
}

/// [`decode_image`] with an explicit allocation limit in bytes.
pub fn decode_image_limited(bytes: &[u8], max_alloc: u64) -> Result<image::DynamicImage> {
    let mut r = image::ImageReader::new(std::io::Cursor::new(bytes)).with_guessed_format()?;
    let mut limits = image::Limits::default();
    limits.max_image_width = Some(MAX_IMAGE_SIDE);
    limits.max_image_height = Some(MAX_IMAGE_SIDE);
    limits.max_alloc = Some(max_alloc);
    r.limits(limits);
    Ok(r.decode()?)
}

/// An IDX array (the MNIST / Fashion-MNIST file format) of unsigned bytes.
#[derive(Debug, Clone, PartialEq)]
pub struct Idx {
    /// Dimensions: `[n]` for labels (magic 0x801), `[n, rows, cols]` for images (0x803).
    pub dims: Vec<usize>,
    /// Values, C order.
    pub data: Vec<u8>,
}

/// Parse IDX bytes: magic `00 00 08 ndim` (unsigned bytes, 1 to 4 dimensions: 0x801 is
/// labels, 0x803 images), `ndim` big-endian u32 dimensions, then exactly the data.
/// (`*-ubyte.gz` files are gunzipped first by the caller.)
pub fn parse_idx(b: &[u8]) -> Result<Idx> {
    if b.len() < 4 || b[0] != 0 || b[1] != 0 {
        bail!("not an IDX file (bad magic)");
    }
    if b[2] != 0x08 {
        bail!("IDX element type {:#04x} is not supported (only unsigned bytes, 0x08)", b[2]);
    }
    let ndim = b[3] as usize;
    if !(1..=4).contains(&ndim) {
        bail!("IDX files with {ndim} dimensions are not supported (1 to 4)");
    }
    let start = 4 + 4 * ndim;
    let head = b.get(4..start).context("IDX header is truncated")?;
    let dims: Vec<usize> =
        head.chunks_exact(4).map(|c| u32::from_be_bytes([c[0], c[1], c[2], c[3]]) as usize).collect();
    let n = dims.iter().try_fold(1usize, |a, &d| a.checked_mul(d)).context("IDX shape overflows")?;
    let body = &b[start..];
    if body.len() != n {
        bail!("IDX data has {} bytes, the shape {:?} needs {}", body.len(), dims, n);
    }
    Ok(Idx { dims, data: body.to_vec() })
}

/// Resize (stretch, center crop or letterbox), convert channels and normalize an image into NHWC f32.
pub fn preprocess_image(img: &image::DynamicImage, h: usize, w: usize, c: usize, pp: &Preprocess) -> Vec<f32> {
    use image::imageops::FilterType;
    let (iw, ih) = (img.width().max(1), img.height().max(1));
    let resized = match pp.resize {
        Resize::CenterCrop => {
            // center crop to the target aspect ratio, then resize
            let target = w as f64 / h as f64;
            let (cw, ch) = if iw as f64 / ih as f64 > target {
                (((ih as f64) * target).round().max(1.0) as u32, ih)
            } else {
                (iw, ((iw as f64) / target).round().max(1.0) as u32)
            };
            img.crop_imm((iw - cw.min(iw)) / 2, (ih - ch.min(ih)) / 2, cw.min(iw), ch.min(ih)).resize_exact(w as u32, h as u32, FilterType::Triangle)
        }
        Resize::Letterbox => {
            let fit = img.resize(w as u32, h as u32, FilterType::Triangle);
            let mut canvas = image::DynamicImage::new_rgb8(w as u32, h as u32);
            image::imageops::overlay(&mut canvas, &fit, ((w as u32 - fit.width()) / 2) as i64, ((h as u32 - fit.height()) / 2) as i64);
            canvas
        }
        Resize::Stretch => img.resize_exact(w as u32, h as u32, FilterType::Triangle),
    };
    let mut out = Vec::with_capacity(h * w * c);
    if c == 1 || pp.channel_order == ChannelOrder::Gray {
        let g = resized.to_luma8();
        for p in g.pixels() {
            let v = p[0] as f32 * pp.rescale;
            for ch in 0..c {
                out.push((v - pp.mean[ch.min(3)]) / pp.std[ch.min(3)]);
            }
        }
    } else {
        let rgb = resized.to_rgb8();
        for p in rgb.pixels() {
            for ch in 0..c {
                let src = if pp.channel_order == ChannelOrder::Bgr { 2 - ch.min(2) } else { ch.min(2) };
                out.push((p[src] as f32 * pp.rescale - pp.mean[ch.min(3)]) / pp.std[ch.min(3)]);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn npy_round_trip() {
        let b = write_npy(&[1, 2, 3], &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0]);
        let n = parse_npy(&b).expect("parse");
        assert_eq!(n.shape, vec![1, 2, 3]);
        assert_eq!(n.data[5], 6.0);
        assert!(parse_npy(&b[..b.len() - 1]).is_err());
        assert!(parse_npy(b"garbage").is_err());
    }

    #[test]
    fn idx_images_and_labels() {
        let mut img = vec![0, 0, 8, 3, 0, 0, 0, 2, 0, 0, 0, 2, 0, 0, 0, 3];
        img.extend(0..12u8);
        let i = parse_idx(&img).expect("images");
        assert_eq!(i.dims, vec![2, 2, 3]);
        assert_eq!(i.data[11], 11);
        assert!(parse_idx(&img[..img.len() - 1]).is_err());
        let lab = [0, 0, 8, 1, 0, 0, 0, 3, 7, 8, 9];
        assert_eq!(parse_idx(&lab).expect("labels").data, vec![7, 8, 9]);
        assert!(parse_idx(&[0, 0, 0x0d, 1, 0, 0, 0, 0]).is_err(), "float IDX");
        assert!(parse_idx(&[0, 0, 8, 3, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]).is_err());
        assert!(parse_idx(b"").is_err());
    }

    #[test]
    fn layout_round_trip() {
        let x: Vec<f32> = (0..24).map(|v| v as f32).collect();
        assert_eq!(nhwc_to_nchw(&nchw_to_nhwc(&x, 3, 2, 4), 3, 2, 4), x);
    }
}
