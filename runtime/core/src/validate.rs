//! Load-time validation: after [`load`] succeeds, every offset, length, shape, parameter
//! and arena range the executor touches is known to be in bounds and consistent.

use crate::format::{
    self, meta, rd_u16, rd_u32, section, BUFFER_ALIGN, FORMAT_VERSION, HEADER_LEN, MAGIC, MAX_TENSORS,
    NO_TENSOR, SECTION_ENTRY_LEN, TENSOR_ALIGN, WEIGHT_ALIGN,
};
use crate::model::{read_meta, Model, Precision, TensorInfo};
use crate::format::packing::Blocked;
use crate::ops::{Activation, Blob, DType, Op, OpKind};
use crate::{crc32, Error, Result};

const MAX_SECTIONS: usize = 16;

fn sec_err(kind: u32, what: &'static str) -> Error {
    Error::BadSection { kind, what }
}

/// Parse and validate a model.
pub(crate) fn load(bytes: &[u8]) -> Result<Model<'_>> {
    if bytes.len() < HEADER_LEN {
        return Err(Error::Truncated { needed: HEADER_LEN, got: bytes.len() });
    }
    if bytes[..8] != MAGIC {
        return Err(Error::BadMagic);
    }
    let version = rd_u16(bytes, 8);
    if version > FORMAT_VERSION {
        return Err(Error::UnsupportedVersion { found: version, supported: FORMAT_VERSION });
    }
    if version == 0 || rd_u16(bytes, 10) as usize != HEADER_LEN {
        return Err(sec_err(0, "bad header version or length"));
    }
    let flags = rd_u32(bytes, format::header::FLAGS);
    if flags & !format::FLAG_SIGNED != 0 || bytes[28..HEADER_LEN].iter().any(|&b| b != 0) {
        return Err(sec_err(0, "unknown header flags or non-zero reserved bytes"));
    }
    // A signed model ends with a signature block; its structure is checked here, its
    // signature only by `Model::load_verified` (feature `signature`).
    let sig_len = if flags & format::FLAG_SIGNED != 0 { format::sig::LEN } else { 0 };
    let file_len = rd_u32(bytes, format::header::FILE_LEN) as usize;
    let total = file_len.saturating_add(sig_len);
    if bytes.len() < total {
        return Err(Error::Truncated { needed: total, got: bytes.len() });
    }
    if bytes.len() > total || file_len < HEADER_LEN {
        return Err(sec_err(0, "file length in header does not match the data"));
    }
    if sig_len != 0 {
        crate::signature::check_block(&bytes[file_len..])?;
    }
    let expected = rd_u32(bytes, format::header::CRC);
    let actual = crc32(&bytes[HEADER_LEN..file_len]);
    if expected != actual {
        return Err(Error::ChecksumMismatch { expected, actual });
    }
    if bytes.as_ptr() as usize % BUFFER_ALIGN != 0 {
        return Err(Error::ModelMisaligned { required: BUFFER_ALIGN });
    }

    // Section table.
    let n_sections = rd_u32(bytes, 24) as usize;
    if n_sections > MAX_SECTIONS || HEADER_LEN + n_sections * SECTION_ENTRY_LEN > file_len {
        return Err(sec_err(0, "section table out of bounds"));
    }
    let mut found: [Option<&[u8]>; 7] = [None; 7];
    let mut weights_off = 0;
    for i in 0..n_sections {
        let e = HEADER_LEN + i * SECTION_ENTRY_LEN;
        let (kind, off, len) = (rd_u32(bytes, e), rd_u32(bytes, e + 4) as usize, rd_u32(bytes, e + 8) as usize);
        let end = off.checked_add(len).ok_or(sec_err(kind, "section out of bounds"))?;
        if off < HEADER_LEN + n_sections * SECTION_ENTRY_LEN || end > file_len {
            return Err(sec_err(kind, "section out of bounds"));
        }
        let slot = found.get_mut(kind as usize).filter(|_| kind != 0).ok_or(sec_err(kind, "unknown section kind"))?;
        if slot.is_some() {
            return Err(sec_err(kind, "duplicate section"));
        }
        *slot = Some(&bytes[off..end]);
        if kind == section::WEIGHTS {
            weights_off = off;
        }
    }
    let need = |k: u32| found[k as usize].ok_or(sec_err(k, "missing section"));
    let meta_b = need(section::META)?;
    let tensors = need(section::TENSORS)?;
    let ops = need(section::OPS)?;
    let weights = need(section::WEIGHTS)?;
    let labels = found[section::LABELS as usize].unwrap_or(&[]);
    let names = found[section::NAMES as usize].unwrap_or(&[]);
    if weights_off % WEIGHT_ALIGN != 0 {
        return Err(sec_err(section::WEIGHTS, "weights section not 64-byte aligned"));
    }
    if meta_b.len() != meta::LEN {
        return Err(sec_err(section::META, "wrong length"));
    }
    let m = read_meta(meta_b).ok_or(sec_err(section::META, "unknown precision"))?;
    if m.n_tensors == 0 || m.n_tensors > MAX_TENSORS {
        return Err(Error::TooLarge { what: "tensor count (1..=1024)" });
    }
    if m.n_ops == 0 || m.n_ops >= u16::MAX as usize {
        return Err(Error::TooLarge { what: "op count (1..65535)" });
    }
    if tensors.len() != m.n_tensors * format::tensor::LEN {
        return Err(sec_err(section::TENSORS, "length does not match tensor count"));
    }
    if ops.len() != m.n_ops * format::op::LEN {
        return Err(sec_err(section::OPS, "length does not match op count"));
    }
    if m.input >= m.n_tensors || m.output >= m.n_tensors {
        return Err(sec_err(section::META, "input/output tensor index out of range"));
    }
    let n_labels = check_strings(labels, section::LABELS)?;
    let n_names = check_strings(names, section::NAMES)?;
    if n_names != 0 && n_names != m.n_ops {
        return Err(sec_err(section::NAMES, "one name per op expected"));
    }
    let _ = n_labels;
    let pp = &m.preprocess;
    if meta_b[meta::OUTPUT_NCHW] > 1 || meta_b[meta::SRC_LAYOUT] > 1 || meta_b[meta::PRECISION + 1..meta::PRECISION + 4] != [0, 0, 0] {
        return Err(sec_err(section::META, "invalid layout flags"));
    }
    if meta_b[60..].iter().any(|&b| b != 0) {
        return Err(sec_err(section::META, "non-zero reserved bytes"));
    }
    if pp.channel_order > 2 || pp.resize > 2 || !pp.rescale.is_finite() || pp.std.iter().any(|s| !(s.is_finite() && *s != 0.0)) || pp.mean.iter().any(|s| !s.is_finite()) {
        return Err(sec_err(section::META, "invalid preprocessing parameters"));
    }

    let model = Model { meta: m, tensors, ops, weights, labels, names };
    let dtype = match m.precision {
        Precision::Int8 => DType::I8,
        Precision::F32 => DType::F32,
    };
    for i in 0..m.n_tensors {
        check_tensor(&model, i, dtype)?;
    }
    for i in 0..m.n_ops {
        check_op(&model, i)?;
    }
    check_plan(&model)?;
    Ok(model)
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

fn check_tensor(m: &Model<'_>, i: usize, dtype: DType) -> Result<()> {
    let r = &m.tensors[i * format::tensor::LEN..][..format::tensor::LEN];
    let bad = |what| Err(Error::BadTensor { index: i, what });
    if DType::from_u8(r[format::tensor::DTYPE]) != Some(dtype) {
        return bad("dtype does not match the model precision");
    }
    let t = m.tensor(i);
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
    if t.offset.checked_add(t.size).map_or(true, |e| e > m.meta.arena_size) {
        return bad("tensor extends past the arena");
    }
    if dtype == DType::I8 && !(t.scale.is_finite() && t.scale > 0.0 && (-128..=127).contains(&t.zero_point)) {
        return bad("invalid quantization parameters");
    }
    Ok(())
}

/// Expected output size of a window op along one axis; `None` if the window doesn't fit.
fn out_dim(i: usize, k: u16, s: u16, d: u16, p0: u16, p1: u16) -> Option<usize> {
    let ext = (d as usize).checked_mul(k as usize - 1)? + 1;
    let padded = i + p0 as usize + p1 as usize;
    if padded < ext {
        return None;
    }
    Some((padded - ext) / s as usize + 1)
}

fn check_op(m: &Model<'_>, i: usize) -> Result<()> {
    let op = m.op(i);
    let bad = |what| Error::BadOp { index: i, what };
    let kind = op.op_kind().ok_or(bad("unknown op kind"))?;
    let act = op.activation().ok_or(bad("unknown activation"))?;
    let int8 = m.meta.precision == Precision::Int8;
    match act {
        Activation::Clip(lo, hi) if !(lo.is_finite() && hi.is_finite() && lo <= hi) => return Err(bad("invalid clip range")),
        Activation::LeakyRelu(a) if !a.is_finite() || int8 => return Err(bad("invalid leaky relu")),
        _ => {}
    }
    if act != Activation::None && !matches!(kind, OpKind::Conv2d | OpKind::Dense | OpKind::Add | OpKind::Act) {
        return Err(bad("activation not allowed on this op"));
    }
    // Weights are PLAIN or BLOCKED (conv and dense only); any other packing is one this
    // runtime has no kernel for.
    let blocked = op.packing == format::packing::BLOCKED;
    if op.packing != format::packing::PLAIN && !(blocked && matches!(kind, OpKind::Conv2d | OpKind::Dense)) {
        return Err(Error::UnsupportedKernel { index: i });
    }
    let nt = m.meta.n_tensors;
    if op.in0 as usize >= nt || op.out as usize >= nt {
        return Err(bad("tensor index out of range"));
    }
    let two_inputs = kind == OpKind::Add;
    if two_inputs != (op.in1 != NO_TENSOR) || (two_inputs && op.in1 as usize >= nt) {
        return Err(bad("wrong number of inputs"));
    }
    if op.out == op.in0 || op.out == op.in1 {
        return Err(bad("an op may not write its own input"));
    }
    let x = m.tensor(op.in0 as usize);
    let y = m.tensor(op.out as usize);
    let elem = if int8 { 1 } else { 4 };
    let blob = |b: Blob, len: usize| -> Result<()> {
        let end = (b.offset as usize).checked_add(b.len as usize);
        if b.offset as usize % WEIGHT_ALIGN != 0 || b.len as usize != len || end.map_or(true, |e| e > m.weights.len()) {
            return Err(bad("weight blob has a wrong offset, length or alignment"));
        }
        Ok(())
    };
    let no_blobs = |op: &Op| {
        if op.weights.len != 0 || op.bias.len != 0 || (op.quant.len != 0 && !int8) {
            return Err(bad("unexpected weight blob"));
        }
        Ok(())
    };
    let finite_mults = |b: Blob| -> Result<()> {
        let s = crate::cast::f32s(&m.weights[b.offset as usize..][..b.len as usize]).ok_or(bad("misaligned blob"))?;
        if s.iter().any(|v| !(v.is_finite() && *v >= 0.0)) {
            return Err(bad("invalid requantization multiplier"));
        }
        Ok(())
    };
    let [_, ih, iw, ic] = x.dims;
    let [_, oh, ow, oc] = y.dims;
    match kind {
        OpKind::Conv2d | OpKind::MaxPool | OpKind::AvgPool => {
            if [op.kh, op.kw, op.sh, op.sw, op.dh, op.dw, op.groups].contains(&0) {
                return Err(bad("zero kernel, stride, dilation or groups"));
            }
            let eh = out_dim(ih, op.kh, op.sh, op.dh, op.pad_t, op.pad_b);
            let ew = out_dim(iw, op.kw, op.sw, op.dw, op.pad_l, op.pad_r);
            if eh != Some(oh) || ew != Some(ow) {
                return Err(bad("output shape does not match the window geometry"));
            }
            if kind == OpKind::Conv2d {
                let g = op.groups as usize;
                if ic % g != 0 || oc % g != 0 {
                    return Err(bad("channels not divisible by groups"));
                }
                let wlen = weight_elems(blocked, Blocked::conv(oc, ic, op.kh as usize, op.kw as usize, g, int8)).ok_or(bad("conv too large"))?;
                blob(op.weights, wlen.checked_mul(elem).ok_or(bad("conv too large"))?)?;
                if blocked && int8 {
                    check_zero_padding(m, op.weights, &Blocked::conv(oc, ic, op.kh as usize, op.kw as usize, g, true)).map_err(bad)?;
                }
                blob(op.bias, oc * 4)?;
                if int8 {
                    blob(op.quant, oc * 4)?;
                    finite_mults(op.quant)?;
                } else {
                    no_blobs(&Op { weights: Blob::default(), bias: Blob::default(), ..op })?;
                }
            } else {
                if op.groups != 1 || oc != ic {
                    return Err(bad("pooling must keep the channel count"));
                }
                let ext_h = (op.kh as usize - 1) * op.dh as usize + 1;
                let ext_w = (op.kw as usize - 1) * op.dw as usize + 1;
                if op.pad_t as usize >= ext_h || op.pad_b as usize >= ext_h || op.pad_l as usize >= ext_w || op.pad_r as usize >= ext_w {
                    return Err(bad("pooling pad must be smaller than the window"));
                }
                if kind == OpKind::AvgPool && op.aux > 1 {
                    return Err(bad("count_include_pad must be 0 or 1"));
                }
                if int8 && (x.scale != y.scale || x.zero_point != y.zero_point) {
                    return Err(bad("int8 pooling must keep the quantization"));
                }
                no_blobs(&op)?;
                if op.quant.len != 0 {
                    return Err(bad("unexpected weight blob"));
                }
            }
        }
        OpKind::Dense => {
            let k = x.len();
            if y.dims[1] != 1 || y.dims[2] != 1 {
                return Err(bad("dense output must be 1x1xN"));
            }
            let wlen = weight_elems(blocked, Blocked::dense(oc, k, int8)).ok_or(bad("dense too large"))?;
            blob(op.weights, wlen.checked_mul(elem).ok_or(bad("dense too large"))?)?;
            if blocked && int8 {
                check_zero_padding(m, op.weights, &Blocked::dense(oc, k, true)).map_err(bad)?;
            }
            blob(op.bias, oc * 4)?;
            if int8 {
                blob(op.quant, oc * 4)?;
                finite_mults(op.quant)?;
            } else {
                no_blobs(&Op { weights: Blob::default(), bias: Blob::default(), ..op })?;
            }
        }
        OpKind::Add => {
            let b = m.tensor(op.in1 as usize);
            if b.dims != y.dims || x.dims != y.dims {
                return Err(bad("add inputs and output must have one shape"));
            }
            no_blobs(&Op { quant: Blob::default(), ..op })?;
            if int8 {
                blob(op.quant, 8)?;
                finite_mults(op.quant)?;
            }
        }
        OpKind::ConcatPart => {
            if x.dims[..3] != y.dims[..3] || (op.aux as usize).checked_add(ic).map_or(true, |e| e > oc) {
                return Err(bad("concat input does not fit the output"));
            }
            no_blobs(&Op { quant: Blob::default(), ..op })?;
            if int8 {
                blob(op.quant, 4)?;
                finite_mults(op.quant)?;
            }
        }
        OpKind::Softmax => {
            if x.dims != y.dims {
                return Err(bad("softmax must keep the shape"));
            }
            no_blobs(&op)?;
            if op.quant.len != 0 {
                return Err(bad("unexpected weight blob"));
            }
        }
        OpKind::Act => {
            if int8 || x.dims != y.dims {
                return Err(bad("standalone activation needs f32 tensors of one shape"));
            }
            no_blobs(&op)?;
        }
        OpKind::Lut => {
            if !int8 || x.dims != y.dims {
                return Err(bad("lookup table needs int8 tensors of one shape"));
            }
            no_blobs(&Op { quant: Blob::default(), ..op })?;
            blob(op.quant, 256)?;
        }
    }
    Ok(())
}

/// Elements of a conv/dense weight blob: PLAIN `[oc][taps][icg]`, or the BLOCKED shape.
fn weight_elems(blocked: bool, b: Blocked) -> Option<usize> {
    if blocked {
        b.elements()
    } else {
        (b.groups * b.ocg).checked_mul(b.taps)?.checked_mul(b.icg)
    }
}

/// int8 BLOCKED weights pad each output channel's last group of 4 input channels with
/// zeros; SIMD kernels multiply those bytes with whatever input follows, so they must be 0
/// for every kernel to agree with the reference (which never reads them).
fn check_zero_padding(m: &Model<'_>, w: Blob, b: &Blocked) -> core::result::Result<(), &'static str> {
    let real = b.icg % b.ig;
    if real == 0 {
        return Ok(());
    }
    let blob = &m.weights[w.offset as usize..][..w.len as usize];
    let last = (b.ic_groups() - 1) * b.ig * format::packing::OC_BLOCK;
    for tap in blob.chunks_exact(b.tap_len()) {
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
fn check_plan(m: &Model<'_>) -> Result<()> {
    const NONE: u16 = u16::MAX;
    let nt = m.meta.n_tensors;
    let mut def = [NONE; MAX_TENSORS]; // step at which a tensor is first written (0 = input)
    let mut last = [0u16; MAX_TENSORS]; // last step that reads it
    def[m.meta.input] = 0;
    for i in 0..m.meta.n_ops {
        let op = m.op(i);
        let step = (i + 1) as u16;
        for t in [op.in0, op.in1] {
            if t == NO_TENSOR {
                continue;
            }
            if def[t as usize] == NONE {
                return Err(Error::BadOp { index: i, what: "reads a tensor before it is written" });
            }
            last[t as usize] = step;
        }
        let o = op.out as usize;
        if o == m.meta.input {
            return Err(Error::BadOp { index: i, what: "writes the model input" });
        }
        if def[o] == NONE {
            def[o] = step;
        }
        last[o] = last[o].max(step);
    }
    let out = m.meta.output;
    if def[out] == NONE {
        return Err(Error::BadTensor { index: out, what: "output is never written" });
    }
    last[out] = m.meta.n_ops as u16 + 1;
    for a in 0..nt {
        if def[a] == NONE {
            continue;
        }
        let ta: TensorInfo = m.tensor(a);
        for b in a + 1..nt {
            if def[b] == NONE || def[a] > last[b] || def[b] > last[a] {
                continue;
            }
            let tb = m.tensor(b);
            if ta.offset < tb.offset + tb.size && tb.offset < ta.offset + ta.size {
                return Err(Error::BadTensor { index: b, what: "overlaps a live tensor in the arena" });
            }
        }
    }
    Ok(())
}
