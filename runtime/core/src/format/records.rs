//! The fixed-size records of a `.kes` file decoded into values: the META section
//! ([`Meta`], [`Preprocess`]) and one TENSORS record ([`TensorInfo`]), with the typed
//! codes they hold ([`DType`], [`Precision`], [`ChannelOrder`], [`Resize`]).

use super::{meta, rd_f32, rd_u16, rd_u32, tensor};

/// Element type of a tensor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DType {
    /// int8, asymmetric per-tensor quantization.
    I8,
    /// 32-bit float.
    F32,
}

impl DType {
    /// Decode from the file's byte.
    pub fn from_u8(v: u8) -> Option<DType> {
        match v {
            1 => Some(DType::I8),
            2 => Some(DType::F32),
            _ => None,
        }
    }
    /// The file's byte.
    pub fn to_u8(self) -> u8 {
        match self {
            DType::I8 => 1,
            DType::F32 => 2,
        }
    }
    /// Bytes per element.
    pub fn size(self) -> usize {
        match self {
            DType::I8 => 1,
            DType::F32 => 4,
        }
    }
}

/// Numeric precision of a model.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Precision {
    /// int8 activations and weights.
    Int8,
    /// f32 throughout.
    F32,
}

impl Precision {
    /// The element type of every tensor of a model of this precision.
    pub fn dtype(self) -> DType {
        match self {
            Precision::Int8 => DType::I8,
            Precision::F32 => DType::F32,
        }
    }
}

/// The value whose code (its index in `all`, which lists them in code order) is `v`.
fn by_code<T: Copy>(v: u8, all: &[T]) -> Result<T, u8> {
    all.get(v as usize).copied().ok_or(v)
}

/// Channel order of the images a model takes ([`meta::CHANNEL_ORDER`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChannelOrder {
    /// Red, green, blue.
    Rgb = 0,
    /// Blue, green, red.
    Bgr = 1,
    /// One gray channel.
    Gray = 2,
}

impl TryFrom<u8> for ChannelOrder {
    type Error = u8;
    /// The order stored as `v`, or `Err(v)` for an unknown code.
    fn try_from(v: u8) -> Result<ChannelOrder, u8> {
        by_code(v, &[ChannelOrder::Rgb, ChannelOrder::Bgr, ChannelOrder::Gray])
    }
}

/// How an image is fitted to the model's input size ([`meta::RESIZE`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resize {
    /// Scale each axis to the input size.
    Stretch = 0,
    /// Scale the short side, crop the center.
    CenterCrop = 1,
    /// Scale the long side, pad the rest.
    Letterbox = 2,
}

impl TryFrom<u8> for Resize {
    type Error = u8;
    /// The policy stored as `v`, or `Err(v)` for an unknown code.
    fn try_from(v: u8) -> Result<Resize, u8> {
        by_code(v, &[Resize::Stretch, Resize::CenterCrop, Resize::Letterbox])
    }
}

/// How images are turned into the input tensor.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Preprocess {
    /// Layout of the source model's input: `true` for NCHW (tensor files given to
    /// `kestrel run` use it); the runtime itself always takes NHWC.
    pub src_nchw: bool,
    /// Channel order of the images.
    pub channel_order: ChannelOrder,
    /// How an image is fitted to the input size.
    pub resize: Resize,
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
    /// The source model's output is NCHW-ordered (see [`meta::OUTPUT_NCHW`]).
    pub output_nchw: bool,
}

impl Meta {
    /// Decode a META section (`b` is [`meta::LEN`] bytes); an unknown precision, channel
    /// order or resize code is an error saying which.
    pub(crate) fn parse(b: &[u8]) -> Result<Meta, &'static str> {
        let precision = match rd_u32(b, meta::PRECISION) {
            1 => Precision::Int8,
            2 => Precision::F32,
            _ => return Err("unknown precision"),
        };
        let channel_order = ChannelOrder::try_from(b[meta::CHANNEL_ORDER]).map_err(|_| "unknown channel order")?;
        let resize = Resize::try_from(b[meta::RESIZE]).map_err(|_| "unknown resize policy")?;
        let f4 = |o: usize| [rd_f32(b, o), rd_f32(b, o + 4), rd_f32(b, o + 8), rd_f32(b, o + 12)];
        Ok(Meta {
            precision,
            n_tensors: rd_u32(b, meta::N_TENSORS) as usize,
            n_ops: rd_u32(b, meta::N_OPS) as usize,
            arena_size: rd_u32(b, meta::ARENA_SIZE) as usize,
            input: rd_u16(b, meta::INPUT) as usize,
            output: rd_u16(b, meta::OUTPUT) as usize,
            preprocess: Preprocess {
                src_nchw: b[meta::SRC_LAYOUT] == 0,
                channel_order,
                resize,
                rescale: rd_f32(b, meta::RESCALE),
                mean: f4(meta::MEAN),
                std: f4(meta::STD),
            },
            output_nchw: b[meta::OUTPUT_NCHW] == 1,
        })
    }
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
    /// Decode a tensor record (`r` is [`tensor::LEN`] bytes). An unknown dtype byte reads
    /// as int8; the validator refuses it.
    pub(crate) fn parse(r: &[u8]) -> TensorInfo {
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
    /// Number of elements.
    pub fn len(&self) -> usize {
        self.dims[0] * self.dims[1] * self.dims[2] * self.dims[3]
    }
    /// True if the tensor has no elements (never for a validated model).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_round_trip() {
        for v in 0..=255u8 {
            if let Ok(c) = ChannelOrder::try_from(v) {
                assert_eq!(c as u8, v);
            }
            if let Ok(r) = Resize::try_from(v) {
                assert_eq!(r as u8, v);
            }
            if let Ok(p) = crate::format::Packing::try_from(v) {
                assert_eq!(p as u8, v);
            }
        }
        assert_eq!(ChannelOrder::try_from(3), Err(3));
        assert_eq!(Resize::try_from(2), Ok(Resize::Letterbox));
        assert_eq!(crate::format::Packing::try_from(2), Err(2));
    }
}
