//! The fuzz targets' bodies, shared by `fuzz/` (cargo-fuzz) and the regression test
//! `tests/tests/fuzz_regressions.rs`, which replays every crash the fuzzer found and the
//! seed corpora through the same code. Each function takes arbitrary bytes and panics
//! only when Kestrel breaks a promise (a panic inside Kestrel, or an accepted input that
//! is not internally consistent).

use kestrel_runtime::AlignedBuf;
use kestrel_compiler::data;
use kestrel_compiler::lower::{default_preprocess, lower, LowerOptions};
use kestrel_compiler::onnx::import::import_onnx;
use kestrel_compiler::passes;
use kestrel_runtime::format::{self, header};
use kestrel_runtime::{ChannelOrder, Model, OpKind, Preprocess, Resize};

/// Largest arena the `.kes` target runs a model in.
pub const MAX_ARENA: usize = 64 << 20;
/// Most multiply-accumulates (or window reads) the `.kes` target runs one model for:
/// a valid model may ask for far more (time is bounded by the model, not by us).
pub const MAX_WORK: u64 = 20_000_000;
/// Largest decoded image the `image` target accepts.
pub const MAX_IMAGE_ALLOC: u64 = 16 << 20;

/// Ed25519 public key of the fuzz corpus' signed seed (secret seed `[7; 32]`, a test key).
pub fn fuzz_public_key() -> [u8; 32] {
    ed25519_dalek::SigningKey::from_bytes(&[7; 32]).verifying_key().to_bytes()
}

/// The `.kes` reader, validator and executor. The input is loaded as is, then again with
/// its checksum re-sealed (so mutations reach the structural validator); every accepted
/// model runs once in an arena of exactly the size it asks for.
pub fn kes(input: &[u8]) {
    let buf = AlignedBuf::from_bytes(input);
    if let Ok(m) = Model::load(buf.as_slice()) {
        exercise(&m);
    }
    if input.len() >= format::HEADER_LEN && input[header::FLAGS] & 1 != 0 {
        if let Ok(m) = Model::load_verified(buf.as_slice(), &fuzz_public_key()) {
            exercise(&m);
        }
    }
    if input.len() > format::HEADER_LEN {
        let mut b = input.to_vec();
        let file_len = u32::from_le_bytes(b[16..20].try_into().unwrap_or_default()) as usize;
        let end = file_len.clamp(format::HEADER_LEN, b.len());
        let crc = kestrel_runtime::crc32(&b[format::HEADER_LEN..end]);
        b[header::CRC..header::CRC + 4].copy_from_slice(&crc.to_le_bytes());
        let buf = AlignedBuf::from_bytes(&b);
        if let Ok(m) = Model::load(buf.as_slice()) {
            exercise(&m);
        }
    }
}

/// Work of one inference: multiply-accumulates for conv/dense, window reads for pools,
/// elements for the rest.
pub fn work(m: &Model<'_>) -> u64 {
    (0..m.n_ops())
        .map(|i| {
            let op = m.op(i);
            let x = m.tensor(op.in0 as usize);
            let y = m.tensor(op.out as usize);
            let window = op.kh as u64 * op.kw as u64;
            let out = y.len() as u64;
            match op.op_kind() {
                Some(OpKind::Conv2d | OpKind::DepthwiseConv2d) => out * window * (x.dims[3] / (op.groups as usize).max(1)) as u64,
                Some(OpKind::Dense) => out * x.len() as u64,
                Some(OpKind::MaxPool | OpKind::AvgPool) => out * window,
                _ => out + x.len() as u64,
            }
        })
        .fold(0u64, u64::saturating_add)
}

fn exercise(m: &Model<'_>) {
    let _ = m.meta();
    for i in 0..m.n_ops() {
        let _ = m.op(i);
    }
    let _ = m.labels().count();
    let _ = m.layer_names().count();
    if m.arena_size() > MAX_ARENA || work(m) > MAX_WORK {
        return;
    }
    let mut arena = AlignedBuf::zeroed(m.arena_size());
    let x = vec![0.5f32; m.input().len()];
    m.set_input_f32(arena.as_mut_slice(), &x).expect("a validated model takes its input");
    m.run(arena.as_mut_slice()).expect("a validated model runs");
    let mut y = vec![0f32; m.output().len()];
    m.output_f32(arena.as_slice(), &mut y).expect("a validated model gives its output");
}

/// The ONNX importer: bytes → IR or a typed error. An imported graph must also pass the
/// float passes, and a graph the f32 lowering accepts must give a `.kes` that loads.
pub fn onnx_import(input: &[u8]) {
    let Ok(mut g) = import_onnx(input) else { return };
    if passes::optimize(&mut g, false).is_err() {
        return;
    }
    let opts = LowerOptions { preprocess: default_preprocess(), labels: vec![] };
    if let Ok(l) = lower(&g, None, &opts) {
        let buf = AlignedBuf::from_bytes(&l.bytes);
        if let Err(e) = Model::load(buf.as_slice()) {
            panic!("the compiler wrote a .kes the runtime refuses: {e}");
        }
    }
}

/// The `.npy` reader: an accepted array has as many values as its shape says, and
/// survives a write/read round trip bit for bit.
pub fn npy(input: &[u8]) {
    let Ok(a) = data::parse_npy(input) else { return };
    assert_eq!(a.data.len(), a.shape.iter().product::<usize>(), "npy length vs shape");
    let b = data::parse_npy(&data::write_npy(&a.shape, &a.data)).expect("npy round trip");
    assert_eq!(a.shape, b.shape);
    assert!(a.data.iter().zip(&b.data).all(|(x, y)| x.to_bits() == y.to_bits()), "npy round trip values");
}

/// The IDX reader: an accepted array has as many bytes as its shape says.
pub fn idx(input: &[u8]) {
    let Ok(a) = data::parse_idx(input) else { return };
    assert_eq!(a.data.len(), a.dims.iter().product::<usize>(), "idx length vs shape");
}

/// Image decoding and preprocessing. The first 3 bytes pick the model input (height and
/// width 1..=64, 1 or 3 channels) and the preprocessing (resize policy, channel order);
/// the rest is the image file.
pub fn image(input: &[u8]) {
    let [a, b, c, ref rest @ ..] = *input else { return };
    let (h, w) = (1 + a as usize % 64, 1 + b as usize % 64);
    let ch = if c & 1 == 0 { 1 } else { 3 };
    let pp = Preprocess {
        src_nchw: true,
        channel_order: [ChannelOrder::Rgb, ChannelOrder::Bgr, ChannelOrder::Gray][(c as usize >> 1) % 3],
        resize: [Resize::Stretch, Resize::CenterCrop, Resize::Letterbox][(c as usize >> 3) % 3],
        rescale: 1.0 / 255.0,
        mean: [0.5; 4],
        std: [0.25; 4],
    };
    let Ok(img) = data::decode_image_limited(rest, MAX_IMAGE_ALLOC) else { return };
    let t = data::preprocess_image(&img, h, w, ch, &pp);
    assert_eq!(t.len(), h * w * ch, "preprocessed tensor size");
    assert!(t.iter().all(|v| v.is_finite()), "preprocessed values are finite");
}

/// Dispatch by target name (the regression test replays files by folder name).
pub fn run(target: &str, input: &[u8]) {
    match target {
        "kes" => kes(input),
        "onnx_import" => onnx_import(input),
        "npy" => npy(input),
        "idx" => idx(input),
        "image" => image(input),
        other => panic!("unknown fuzz target {other}"),
    }
}
