//! Load-time validation: after [`load`] succeeds, every offset, length, shape, parameter
//! and arena range the executor touches is known to be in bounds and consistent.
//!
//! The header and section table are decoded by [`crate::format`], each op by
//! [`crate::layer`]; this module adds what decoding alone doesn't prove: the checksum, the
//! metadata and tensor records, the shapes and parameters of each layer, and the arena plan.

use crate::format::packing::{Blocked, OC_BLOCK};
use crate::format::{meta, rd_u32, section, DType, File, Header, Packing, BUFFER_ALIGN, HEADER_LEN, MAX_TENSORS, TENSOR_ALIGN};
use crate::layer::{layer, Layer, LayerKind, Params, PRelu};
use crate::lifetimes::{lifetimes, Broken, UNWRITTEN};
use crate::ops::Op;
use crate::{crc32, Error, Result};

fn sec_err(kind: u32, what: &'static str) -> Error {
    Error::BadSection { kind, what }
}

/// Parse and validate a model file.
pub(crate) fn load(bytes: &[u8]) -> Result<File<'_>> {
    let h = Header::parse(bytes)?;
    h.check(bytes)?;
    // A signed model ends with a signature block; its structure is checked here, its
    // signature only by `Model::load_verified` (feature `signature`).
    if h.signed() {
        crate::signature::check_block(&bytes[h.file_len..])?;
    }
    let actual = crc32(&bytes[HEADER_LEN..h.file_len]);
    if h.crc != actual {
        return Err(Error::ChecksumMismatch { expected: h.crc, actual });
    }
    if bytes.as_ptr() as usize % BUFFER_ALIGN != 0 {
        return Err(Error::ModelMisaligned { required: BUFFER_ALIGN });
    }
    let f = File::parse(bytes, &h)?;
    check_meta(&f)?;
    for i in 0..f.meta.n_tensors {
        check_tensor(&f, i)?;
    }
    for i in 0..f.meta.n_ops {
        check_layer(&layer(&f, i)?).map_err(|what| Error::BadOp { index: i, what })?;
    }
    check_plan(&f)?;
    Ok(f)
}

/// META beyond what [`File::parse`] checked: tensor indices, string tables, flags and
/// preprocessing parameters.
fn check_meta(f: &File<'_>) -> Result<()> {
    let (m, b) = (&f.meta, f.meta_bytes);
    if m.input >= m.n_tensors || m.output >= m.n_tensors {
        return Err(sec_err(section::META, "input/output tensor index out of range"));
    }
    check_strings(f.labels, section::LABELS)?;
    let n_names = check_strings(f.names, section::NAMES)?;
    if n_names != 0 && n_names != m.n_ops {
        return Err(sec_err(section::NAMES, "one name per op expected"));
    }
    if b[meta::OUTPUT_NCHW] > 1 || b[meta::SRC_LAYOUT] > 1 || b[meta::PRECISION + 1..meta::PRECISION + 4] != [0, 0, 0] {
        return Err(sec_err(section::META, "invalid layout flags"));
    }
    if b[60..].iter().any(|&v| v != 0) {
        return Err(sec_err(section::META, "non-zero reserved bytes"));
    }
    let pp = &m.preprocess;
    if !pp.rescale.is_finite() || pp.std.iter().any(|s| !(s.is_finite() && *s != 0.0)) || pp.mean.iter().any(|s| !s.is_finite()) {
        return Err(sec_err(section::META, "invalid preprocessing parameters"));
    }
    Ok(())
}

/// Validate a string table; returns its entry count.
fn check_strings(t: &[u8], kind: u32) -> Result<usize> {
    if t.is_empty() {
        return Ok(0);
    }
    if t.len() < 4 {
        return Err(sec_err(kind, "string table truncated"));
    }
    let n = rd_u32(t, 0) as usize;
    let mut p = 4;
    for _ in 0..n {
        if p + 4 > t.len() {
            return Err(sec_err(kind, "string table truncated"));
        }
        let l = rd_u32(t, p) as usize;
        let s = t.get(p + 4..).and_then(|r| r.get(..l)).ok_or(sec_err(kind, "string table truncated"))?;
        if core::str::from_utf8(s).is_err() {
            return Err(sec_err(kind, "string is not utf-8"));
        }
        p += 4 + l;
    }
    if p != t.len() {
        return Err(sec_err(kind, "trailing bytes in string table"));
    }
    Ok(n)
}

fn check_tensor(f: &File<'_>, i: usize) -> Result<()> {
    let dtype = f.meta.precision.dtype();
    let bad = |what| Err(Error::BadTensor { index: i, what });
    if f.tensor_dtype(i) != Some(dtype) {
        return bad("dtype does not match the model precision");
    }
    let t = f.tensor(i);
    if t.dims[0] != 1 || t.dims.iter().any(|&d| d == 0 || d > 1 << 24) {
        return bad("dimensions must be non-zero (batch 1)");
    }
    let n = t.dims.iter().try_fold(1usize, |a, &d| a.checked_mul(d));
    let bytes = n.and_then(|n| n.checked_mul(dtype.size()));
    if bytes != Some(t.size) {
        return bad("byte size does not match the shape");
    }
    if t.offset % TENSOR_ALIGN != 0 {
        return bad("arena offset not 16-byte aligned");
    }
    if t.offset.checked_add(t.size).map_or(true, |e| e > f.meta.arena_size) {
        return bad("tensor extends past the arena");
    }
    if dtype == DType::I8 && !(t.scale.is_finite() && t.scale > 0.0 && (-128..=127).contains(&t.zero_point)) {
        return bad("invalid quantization parameters");
    }
    Ok(())
}

type Check = core::result::Result<(), &'static str>;

/// What a decoded layer must also satisfy: shapes that fit together, finite multipliers,
/// zero-padded packed weights, pools that keep the quantization.
fn check_layer(l: &Layer<'_>) -> Check {
    if l.out == l.in0 || Some(l.out) == l.in1 {
        return Err("an op may not write its own input");
    }
    let (x, y) = (&l.x, &l.y);
    let (ic, oc) = (x.dims[3], y.dims[3]);
    let same_shape = |what| if x.dims == y.dims { Ok(()) } else { Err(what) };
    match &l.kind {
        LayerKind::Conv2d(c) | LayerKind::Depthwise(c) => check_params(&c.params, c.packing, Blocked::conv(oc, ic, c.g.kh, c.g.kw, c.g.groups, true)),
        LayerKind::Dense(d) => {
            if y.dims[1] != 1 || y.dims[2] != 1 {
                return Err("dense output must be 1x1xN");
            }
            check_params(&d.params, d.packing, Blocked::dense(oc, x.len(), true))
        }
        LayerKind::MaxPool(_) | LayerKind::AvgPool { .. } | LayerKind::Pad(_) | LayerKind::Copy(_) => {
            if x.dtype == DType::I8 && (x.scale != y.scale || x.zero_point != y.zero_point) {
                return Err("int8 pooling, padding and copies must keep the quantization");
            }
            Ok(())
        }
        LayerKind::Add { b, rescale } => {
            broadcast_inputs(l, b)?;
            finite_mults(rescale)
        }
        LayerKind::Mul { b, mult } => {
            broadcast_inputs(l, b)?;
            finite_mults(&[*mult])
        }
        LayerKind::ConcatPart { offset, rescale } => {
            if x.dims[..3] != y.dims[..3] || offset.checked_add(ic).map_or(true, |e| e > oc) {
                return Err("concat input does not fit the output");
            }
            finite_mults(&[*rescale])
        }
        LayerKind::Softmax(_) => same_shape("softmax must keep the shape"),
        LayerKind::Lrn(_) => same_shape("LRN must keep the shape"),
        LayerKind::Act => same_shape("standalone activation needs f32 tensors of one shape"),
        LayerKind::Lut(_) => same_shape("lookup table needs int8 tensors of one shape"),
        LayerKind::Unary(_) => same_shape("point-wise function needs tensors of one shape"),
        LayerKind::PRelu(p) => {
            same_shape("prelu must keep the shape")?;
            let v = match p {
                PRelu::I8 { mult } => mult,
                PRelu::F32 { slope } => slope,
            };
            if v.iter().any(|m| !m.is_finite()) {
                return Err("invalid prelu slope or multiplier");
            }
            Ok(())
        }
    }
}

/// A two-input element-wise op (Add, Mul): the first input has the output's shape, the
/// second too or `[1, 1, 1, C]` (one value per channel, broadcast over H and W).
fn broadcast_inputs(l: &Layer<'_>, b: &crate::format::TensorInfo) -> Check {
    let c = l.y.dims[3];
    if l.x.dims != l.y.dims || (b.dims != l.y.dims && b.dims != [1, 1, 1, c]) {
        return Err("element-wise inputs must have the output's shape (the second may be [1, 1, 1, C])");
    }
    Ok(())
}

/// int8 multipliers finite and non-negative, BLOCKED int8 weights zero padded (`shape` is
/// their int8 packed shape).
fn check_params(p: &Params<'_>, packing: Packing, shape: Blocked) -> Check {
    match p {
        Params::I8 { w, mult, .. } => {
            finite_mults(mult)?;
            if packing == Packing::Blocked {
                check_zero_padding(w, &shape)?;
            }
            Ok(())
        }
        Params::F32 { .. } => Ok(()),
    }
}

fn finite_mults(m: &[f32]) -> Check {
    if m.iter().any(|v| !(v.is_finite() && *v >= 0.0)) {
        return Err("invalid requantization multiplier");
    }
    Ok(())
}

/// int8 BLOCKED weights pad each output channel's last group of 4 input channels with
/// zeros; SIMD kernels multiply those bytes with whatever input follows, so they must be 0
/// for every kernel to agree with the reference (which never reads them).
fn check_zero_padding(w: &[i8], b: &Blocked) -> Check {
    let real = b.icg % b.ig;
    if real == 0 {
        return Ok(());
    }
    let last = (b.ic_groups() - 1) * b.ig * OC_BLOCK;
    for tap in w.chunks_exact(b.tap_len()) {
        for lane in tap[last..].chunks_exact(b.ig) {
            if lane[real..].iter().any(|&v| v != 0) {
                return Err("non-zero padding in packed weights");
            }
        }
    }
    Ok(())
}

/// Dataflow and arena plan: every op reads tensors that were written before, and no two
/// tensors that are live at the same time share arena bytes.
fn check_plan(f: &File<'_>) -> Result<()> {
    let m = &f.meta;
    let mut def = [UNWRITTEN; MAX_TENSORS]; // step at which a tensor is first written (0 = input)
    let mut last = [0u16; MAX_TENSORS]; // last step that reads or writes it
    // Every op's tensor indices were checked by its layer (below `n_tensors <= MAX_TENSORS`).
    let io = |i: usize| {
        let op = Op::decode(f.op_record(i));
        (op.in0, op.in1, op.out)
    };
    lifetimes(m.input, m.output, m.n_ops, io, &mut def, &mut last).map_err(|e| match e {
        Broken::ReadBeforeWrite { index } => Error::BadOp { index, what: "reads a tensor before it is written" },
        Broken::WritesInput { index } => Error::BadOp { index, what: "writes the model input" },
        Broken::OutputNeverWritten => Error::BadTensor { index: m.output, what: "output is never written" },
    })?;
    check_overlaps(f, &def, &last)
}

/// No two tensors live at the same time (`def..=last` steps) share arena bytes.
fn check_overlaps(f: &File<'_>, def: &[u16; MAX_TENSORS], last: &[u16; MAX_TENSORS]) -> Result<()> {
    let nt = f.meta.n_tensors;
    for a in (0..nt).filter(|&a| def[a] != UNWRITTEN) {
        let ta = f.tensor(a);
        for b in a + 1..nt {
            if def[b] == UNWRITTEN || def[a] > last[b] || def[b] > last[a] {
                continue;
            }
            let tb = f.tensor(b);
            if ta.offset < tb.offset + tb.size && tb.offset < ta.offset + ta.size {
                return Err(Error::BadTensor { index: b, what: "overlaps a live tensor in the arena" });
            }
        }
    }
    Ok(())
}
