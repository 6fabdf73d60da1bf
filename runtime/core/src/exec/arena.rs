//! The caller's arena: its size and alignment check, the split into one op's output and
//! inputs, and the model's input and tensor accessors that read and write it.

use crate::format::{DType, BUFFER_ALIGN};
use crate::{cast, Error, Model, Result};

/// Check size and alignment of a caller's arena.
pub(crate) fn check_arena(m: &Model<'_>, arena: &[u8]) -> Result<()> {
    let need = m.arena_size();
    if arena.len() < need {
        return Err(Error::ArenaTooSmall { needed: need, got: arena.len() });
    }
    if arena.as_ptr() as usize % BUFFER_ALIGN != 0 {
        return Err(Error::ArenaMisaligned { required: BUFFER_ALIGN });
    }
    Ok(())
}

/// A tensor's byte range in the arena: `(offset, len)`.
pub(crate) type Range = (usize, usize);

/// Split the arena into the output range (mutable) and up to two input ranges (shared; an
/// empty range for a missing input). `None` if a range is out of bounds or an input
/// overlaps the output, which validation rules out.
pub(crate) fn split(arena: &mut [u8], out: Range, ins: [Range; 2]) -> Option<(&mut [u8], [&[u8]; 2])> {
    let (lo, rest) = arena.split_at_mut_checked(out.0)?;
    let (o, hi) = rest.split_at_mut_checked(out.1)?;
    let (lo, hi): (&[u8], &[u8]) = (lo, hi);
    let base = out.0 + out.1;
    let get = |r: Range| -> Option<&[u8]> {
        if r.1 == 0 {
            Some(&[])
        } else if r.0 + r.1 <= out.0 {
            lo.get(r.0..r.0 + r.1)
        } else {
            hi.get(r.0.checked_sub(base)?..)?.get(..r.1)
        }
    };
    Some((o, [get(ins[0])?, get(ins[1])?]))
}

impl Model<'_> {
    /// The bytes of the arena that hold the input tensor.
    pub fn input_bytes_mut<'b>(&self, arena: &'b mut [u8]) -> Result<&'b mut [u8]> {
        check_arena(self, arena)?;
        let t = self.input();
        Ok(&mut arena[t.offset..t.offset + t.size])
    }

    /// Write an NHWC f32 input into the arena, quantizing it for int8 models
    /// (`q = clamp(round_half_even(x / scale) + zp)`, as ONNX QuantizeLinear).
    pub fn set_input_f32(&self, arena: &mut [u8], x: &[f32]) -> Result<()> {
        self.set_input_f32_with(crate::kernels::best(), arena, x)
    }

    /// [`Model::set_input_f32`] quantizing with `kernels`' quantize kernel (every set gives
    /// the same bytes; a caller that forces a set, as `kestrel run --kernels scalar` does,
    /// runs no other set's code).
    pub fn set_input_f32_with(&self, kernels: &crate::kernels::Kernels, arena: &mut [u8], x: &[f32]) -> Result<()> {
        let t = self.input();
        if x.len() != t.len() {
            return Err(Error::WrongLength { expected: t.len(), got: x.len() });
        }
        let dst = self.input_bytes_mut(arena)?;
        match t.dtype {
            DType::I8 => {
                (kernels.quantize)(x, t.scale, t.zero_point, cast::i8s_mut(dst));
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
        self.tensor_f32(arena, self.meta().output, out)
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
}
