//! The loaded, validated model: a zero-copy view over the `.kes` bytes.

use crate::format::{meta, rd_f32, rd_u16, rd_u32, tensor, BUFFER_ALIGN};
use crate::ops::{DType, Op};
use crate::{cast, Error, Result};

/// Numeric precision of a model.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Precision {
    /// int8 activations and weights.
    Int8,
    /// f32 throughout.
    F32,
}

/// How images are turned into the input tensor.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Preprocess {
    /// Layout of the source model's input: `true` for NCHW (tensor files given to
    /// `kestrel run` use it); the runtime itself always takes NHWC.
    pub src_nchw: bool,
    /// 0 = RGB, 1 = BGR, 2 = gray.
    pub channel_order: u8,
    /// 0 = stretch, 1 = center crop, 2 = letterbox.
    pub resize: u8,
    /// Multiplier applied to 0..255 pixel values.
    pub rescale: f32,
    /// Per-channel mean subtracted after rescale.
    pub mean: [f32; 4],
    /// Per-channel std divided after mean.
    pub std: [f32; 4],
}

/// Model-level metadata.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Meta {
    /// Precision of the model.
    pub precision: Precision,
    /// Number of tensors.
    pub n_tensors: usize,
    /// Number of ops.
    pub n_ops: usize,
    /// Arena bytes the plan needs.
    pub arena_size: usize,
    /// Input tensor index.
    pub input: usize,
    /// Output tensor index.
    pub output: usize,
    /// Image preprocessing.
    pub preprocess: Preprocess,
    /// The source model's output is NCHW-ordered (see [`crate::format::meta::OUTPUT_NCHW`]).
    pub output_nchw: bool,
}

/// A tensor's shape, type, place in the arena and quantization.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TensorInfo {
    /// Element type.
    pub dtype: DType,
    /// N, H, W, C.
    pub dims: [usize; 4],
    /// Arena offset.
    pub offset: usize,
    /// Bytes.
    pub size: usize,
    /// Quantization scale (int8).
    pub scale: f32,
    /// Quantization zero point (int8).
    pub zero_point: i32,
}

impl TensorInfo {
    /// Number of elements.
    pub fn len(&self) -> usize {
        self.dims[0] * self.dims[1] * self.dims[2] * self.dims[3]
    }
    /// True if the tensor has no elements (never for a validated model).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// A validated `.kes` model borrowing its bytes.
#[derive(Debug, Clone, Copy)]
pub struct Model<'a> {
    pub(crate) meta: Meta,
    pub(crate) tensors: &'a [u8],
    pub(crate) ops: &'a [u8],
    pub(crate) weights: &'a [u8],
    pub(crate) labels: &'a [u8],
    pub(crate) names: &'a [u8],
}

impl<'a> Model<'a> {
    /// Parse and validate a `.kes` file. `bytes` must start at a 16-byte aligned address
    /// (kernels read f32 and i32 blobs in place). Nothing is copied.
    pub fn load(bytes: &'a [u8]) -> Result<Model<'a>> {
        crate::validate::load(bytes)
    }

    /// Load a model only if it is signed by `trusted` (an Ed25519 public key, e.g. a
    /// `const` compiled into the firmware; `kestrel keygen` prints it as Rust).
    ///
    /// Before anything past the header is read, the signature block must be present and
    /// well formed, name `trusted`'s key id, and hold a valid Ed25519 signature over the
    /// file; only then is the model validated as [`Model::load`] does. Unsigned models
    /// ([`Error::Unsigned`]), other signers ([`Error::UntrustedKey`]) and any change to a
    /// signed byte ([`Error::BadSignature`]) are refused.
    #[cfg(feature = "signature")]
    pub fn load_verified(bytes: &'a [u8], trusted: &[u8; 32]) -> Result<Model<'a>> {
        crate::signature::verify(bytes, trusted)?;
        crate::validate::load(bytes)
    }

    /// Model metadata.
    pub fn meta(&self) -> &Meta {
        &self.meta
    }

    /// Arena bytes needed by [`Model::run`]: the file's planned activation arena
    /// ([`Meta::arena_size`]) and, where a kernel set this build and CPU can run needs it,
    /// scratch for the conv kernels after it (one region per thread part; none on the
    /// scalar and Cortex-M sets).
    pub fn arena_size(&self) -> usize {
        match crate::scratch::scratch_size(self) {
            0 => self.meta.arena_size,
            s => self.meta.arena_size.div_ceil(BUFFER_ALIGN) * BUFFER_ALIGN + s,
        }
    }

    /// Number of ops.
    pub fn n_ops(&self) -> usize {
        self.meta.n_ops
    }

    /// Number of tensors.
    pub fn n_tensors(&self) -> usize {
        self.meta.n_tensors
    }

    /// Decoded op `i` (panics only if `i >= n_ops`; use [`Model::n_ops`]).
    pub fn op(&self, i: usize) -> Op {
        let l = crate::format::op::LEN;
        Op::decode(&self.ops[i * l..(i + 1) * l])
    }

    /// Tensor `i`'s description.
    pub fn tensor(&self, i: usize) -> TensorInfo {
        let r = &self.tensors[i * tensor::LEN..(i + 1) * tensor::LEN];
        let d = |k: usize| rd_u32(r, tensor::DIMS + 4 * k) as usize;
        TensorInfo {
            dtype: DType::from_u8(r[tensor::DTYPE]).unwrap_or(DType::I8),
            dims: [d(0), d(1), d(2), d(3)],
            offset: rd_u32(r, tensor::OFFSET) as usize,
            size: rd_u32(r, tensor::SIZE) as usize,
            scale: rd_f32(r, tensor::SCALE),
            zero_point: rd_u32(r, tensor::ZERO_POINT) as i32,
        }
    }

    /// The input tensor.
    pub fn input(&self) -> TensorInfo {
        self.tensor(self.meta.input)
    }

    /// The output tensor.
    pub fn output(&self) -> TensorInfo {
        self.tensor(self.meta.output)
    }

    /// The weights section (for kernels and inspection).
    pub fn weights(&self) -> &'a [u8] {
        self.weights
    }

    /// Output labels stored in the file (may be empty).
    pub fn labels(&self) -> Labels<'a> {
        Labels::new(self.labels)
    }

    /// Layer names, one per op (may be empty).
    pub fn layer_names(&self) -> Labels<'a> {
        Labels::new(self.names)
    }

    /// The bytes of the arena that hold the input tensor.
    pub fn input_bytes_mut<'b>(&self, arena: &'b mut [u8]) -> Result<&'b mut [u8]> {
        check_arena(self, arena)?;
        let t = self.input();
        Ok(&mut arena[t.offset..t.offset + t.size])
    }

    /// Write an NHWC f32 input into the arena, quantizing it for int8 models
    /// (`q = clamp(round_half_even(x / scale) + zp)`, as ONNX QuantizeLinear).
    pub fn set_input_f32(&self, arena: &mut [u8], x: &[f32]) -> Result<()> {
        let t = self.input();
        if x.len() != t.len() {
            return Err(Error::WrongLength { expected: t.len(), got: x.len() });
        }
        let dst = self.input_bytes_mut(arena)?;
        match t.dtype {
            DType::I8 => {
                (crate::kernels::best().quantize)(x, t.scale, t.zero_point, cast::i8s_mut(dst));
            }
            DType::F32 => {
                let d = cast::f32s_mut(dst).ok_or(Error::ArenaMisaligned { required: BUFFER_ALIGN })?;
                d.copy_from_slice(x);
            }
        }
        Ok(())
    }

    /// [`Model::set_input_f32`] for a frame the caller describes as `[height, width,
    /// channels]` (NHWC data): a frame of another size than the model's input is
    /// [`Error::InputShape`], even when its element count happens to match.
    pub fn set_input_frame_f32(&self, arena: &mut [u8], frame: [usize; 3], x: &[f32]) -> Result<()> {
        let [_, h, w, c] = self.input().dims;
        if frame != [h, w, c] {
            return Err(Error::InputShape { expected: [h, w, c], got: frame });
        }
        self.set_input_f32(arena, x)
    }

    /// Read the output tensor as f32 (dequantized for int8 models).
    pub fn output_f32(&self, arena: &[u8], out: &mut [f32]) -> Result<()> {
        self.tensor_f32(arena, self.meta.output, out)
    }

    /// Read any tensor as f32 (dequantized for int8). Valid for the output after
    /// [`Model::run`], and for any tensor inside a [`Model::run_observed`] callback.
    pub fn tensor_f32(&self, arena: &[u8], index: usize, out: &mut [f32]) -> Result<()> {
        check_arena(self, arena)?;
        let t = self.tensor(index);
        if out.len() != t.len() {
            return Err(Error::WrongLength { expected: t.len(), got: out.len() });
        }
        let src = &arena[t.offset..t.offset + t.size];
        match t.dtype {
            DType::I8 => {
                for (o, &q) in out.iter_mut().zip(cast::i8s(src)) {
                    *o = (q as i32 - t.zero_point) as f32 * t.scale;
                }
            }
            DType::F32 => {
                let s = cast::f32s(src).ok_or(Error::ArenaMisaligned { required: BUFFER_ALIGN })?;
                out.copy_from_slice(s);
            }
        }
        Ok(())
    }

    /// Multiply-accumulates of one inference (convolutions and dense layers).
    pub fn macs(&self) -> u64 {
        (0..self.n_ops()).fold(0u64, |a, i| a.saturating_add(crate::exec::op_work(self, i).0))
    }

    /// Elementary operations of one inference: the MACs plus every pool window tap and
    /// twice each element of the other ops. The runtime's time per inference is this work
    /// and nothing else (no op loops on the values it reads), so a device can refuse, before
    /// running it, a model above its budget: `if m.work() > BUDGET { … }`.
    pub fn work(&self) -> u64 {
        (0..self.n_ops()).fold(0u64, |a, i| a.saturating_add(crate::exec::op_work(self, i).1))
    }

    /// Run inference with the best kernels for this build. The input must already be
    /// in the arena ([`Model::set_input_f32`] or [`Model::input_bytes_mut`]).
    pub fn run(&self, arena: &mut [u8]) -> Result<()> {
        crate::exec::run(self, crate::kernels::best(), &crate::parallel::Sequential, arena, &mut |_, _| {})
    }

    /// Run with an explicit kernel set (tests force each path).
    pub fn run_with(&self, kernels: &crate::kernels::Kernels, arena: &mut [u8]) -> Result<()> {
        crate::exec::run(self, kernels, &crate::parallel::Sequential, arena, &mut |_, _| {})
    }

    /// Run with an explicit kernel set, splitting large ops across `par`'s workers (a
    /// `ThreadPool` on std hosts; each worker writes its own rows of the op's output).
    pub fn run_parallel(
        &self,
        kernels: &crate::kernels::Kernels,
        par: &dyn crate::parallel::Parallel,
        arena: &mut [u8],
    ) -> Result<()> {
        crate::exec::run(self, kernels, par, arena, &mut |_, _| {})
    }

    /// Run and call `observe(op_index, arena)` after every op (per-layer reports).
    pub fn run_observed(
        &self,
        arena: &mut [u8],
        observe: &mut dyn FnMut(usize, &[u8]),
    ) -> Result<()> {
        crate::exec::run(self, crate::kernels::best(), &crate::parallel::Sequential, arena, observe)
    }
}

/// Check size and alignment of a caller's arena.
pub(crate) fn check_arena(m: &Model<'_>, arena: &[u8]) -> Result<()> {
    let needed = m.arena_size();
    if arena.len() < needed {
        return Err(Error::ArenaTooSmall { needed, got: arena.len() });
    }
    if arena.as_ptr() as usize % BUFFER_ALIGN != 0 {
        return Err(Error::ArenaMisaligned { required: BUFFER_ALIGN });
    }
    Ok(())
}

/// Iterator over a string table (labels or layer names).
#[derive(Debug, Clone)]
pub struct Labels<'a> {
    rest: &'a [u8],
    left: usize,
}

impl<'a> Labels<'a> {
    fn new(table: &'a [u8]) -> Labels<'a> {
        if table.len() < 4 {
            return Labels { rest: &[], left: 0 };
        }
        Labels { rest: &table[4..], left: rd_u32(table, 0) as usize }
    }
    /// Entry `i`, if present.
    pub fn get(&self, i: usize) -> Option<&'a str> {
        self.clone().nth(i)
    }
}

impl<'a> Iterator for Labels<'a> {
    type Item = &'a str;
    fn next(&mut self) -> Option<&'a str> {
        if self.left == 0 || self.rest.len() < 4 {
            return None;
        }
        let n = rd_u32(self.rest, 0) as usize;
        let s = self.rest.get(4..4 + n)?;
        self.rest = &self.rest[4 + n..];
        self.left -= 1;
        core::str::from_utf8(s).ok()
    }
}

pub(crate) fn read_meta(b: &[u8]) -> Option<Meta> {
    let precision = match rd_u32(b, meta::PRECISION) {
        1 => Precision::Int8,
        2 => Precision::F32,
        _ => return None,
    };
    let f4 = |o: usize| [rd_f32(b, o), rd_f32(b, o + 4), rd_f32(b, o + 8), rd_f32(b, o + 12)];
    Some(Meta {
        precision,
        n_tensors: rd_u32(b, meta::N_TENSORS) as usize,
        n_ops: rd_u32(b, meta::N_OPS) as usize,
        arena_size: rd_u32(b, meta::ARENA_SIZE) as usize,
        input: rd_u16(b, meta::INPUT) as usize,
        output: rd_u16(b, meta::OUTPUT) as usize,
        preprocess: Preprocess {
            src_nchw: b[meta::SRC_LAYOUT] == 0,
            channel_order: b[meta::CHANNEL_ORDER],
            resize: b[meta::RESIZE],
            rescale: rd_f32(b, meta::RESCALE),
            mean: f4(meta::MEAN),
            std: f4(meta::STD),
        },
        output_nchw: b[meta::OUTPUT_NCHW] == 1,
    })
}
