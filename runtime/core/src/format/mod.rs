//! The `.kes` byte layout and its decoding, defined once: the constants below, the header
//! and section table ([`Header`], `file.rs`) and the fixed records ([`Meta`],
//! [`TensorInfo`], `records.rs`). The reader ([`crate::Model`]), the op decoder
//! (`layer.rs`), the signature check and the writer (`writer`, behind the `writer`
//! feature) all go through this module.
//!
//! ```text
//! offset 0   header (64 bytes)
//!   0  magic        b"KESTREL\0"
//!   8  u16 version  FORMAT_VERSION
//!   10 u16 header length (64)
//!   12 u32 flags    bit 0 (FLAG_SIGNED): a signature block follows `file_len`; others zero
//!   16 u32 file_len total bytes covered by the checksum and the section table
//!   20 u32 crc32    CRC-32 of bytes [64, file_len)
//!   24 u32 section count
//!   28..64 reserved, zero
//! offset 64  section table: count x 16 bytes { u32 kind, u32 offset, u32 len, u32 reserved }
//! sections   META (128 bytes), TENSORS (n x 48), OPS (n x 80), WEIGHTS (64-aligned blobs),
//!            LABELS and NAMES (string tables: u32 count, then { u32 len, utf-8 bytes }).
//! ```
//! All integers little endian. Every blob in WEIGHTS starts at a multiple of 64 bytes from
//! the section start, and the section itself starts at a multiple of 64 in the file.
//!
//! A signed model (header flag bit 0) ends with one signature block of [`sig::LEN`] bytes
//! right after `file_len`:
//!
//! ```text
//! file_len + 0   magic      b"KESSIG\0\0"
//!            8   u32 len    sig::LEN (88): the block's own length
//!            12  u32 alg    1 = Ed25519 (RFC 8032, pure)
//!            16  key id     8 bytes: the first 8 bytes of the signer's public key
//!            24  signature  64 bytes over file bytes [0, file_len + 24): the header (flag
//!                           set, checksum filled in), the whole body, and this block up to
//!                           the signature
//! ```
//! The checksum still covers `[64, file_len)` only, so signing changes no byte of the body.
//! The private key never enters the file; the public key is the verifier's, not the file's.

/// File magic.
pub const MAGIC: [u8; 8] = *b"KESTREL\0";
/// Newest format version this runtime reads and the writer writes.
pub const FORMAT_VERSION: u16 = 1;
/// Header length in bytes.
pub const HEADER_LEN: usize = 64;
/// Section table entry length.
pub const SECTION_ENTRY_LEN: usize = 16;
/// Alignment of the WEIGHTS section and of every blob in it.
pub const WEIGHT_ALIGN: usize = 64;
/// Alignment the model byte slice and the arena must have (for in-place f32/i32 reads).
pub const BUFFER_ALIGN: usize = 16;
/// Alignment of every tensor in the arena plan.
pub const TENSOR_ALIGN: usize = 16;
/// Most tensors a model may have (bounds the validator's stack use).
pub const MAX_TENSORS: usize = 1024;
/// Marker for "no tensor" in op input slots.
pub const NO_TENSOR: u16 = 0xFFFF;
/// Header flag: a signature block follows `file_len`.
pub const FLAG_SIGNED: u32 = 1;

/// Header field offsets.
pub mod header {
    /// u16 format version.
    pub const VERSION: usize = 8;
    /// u16 header length.
    pub const HEADER_LEN: usize = 10;
    /// u32 flags.
    pub const FLAGS: usize = 12;
    /// u32 bytes covered by the checksum and the section table (the signature block follows).
    pub const FILE_LEN: usize = 16;
    /// u32 CRC-32 of bytes [64, file_len).
    pub const CRC: usize = 20;
    /// u32 section count.
    pub const SECTIONS: usize = 24;
    /// First reserved (zero) byte; the rest of the header is reserved.
    pub const RESERVED: usize = 28;
}

/// Signature block layout (byte offsets from `file_len`).
pub mod sig {
    /// Block magic.
    pub const MAGIC: [u8; 8] = *b"KESSIG\0\0";
    /// Length of the whole block.
    pub const LEN: usize = 88;
    /// u32 block length (must equal [`LEN`]).
    pub const BLOCK_LEN: usize = 8;
    /// u32 algorithm.
    pub const ALG: usize = 12;
    /// Algorithm id of Ed25519.
    pub const ALG_ED25519: u32 = 1;
    /// Key id: the first [`KEY_ID_LEN`] bytes of the signer's public key.
    pub const KEY_ID: usize = 16;
    /// Length of the key id.
    pub const KEY_ID_LEN: usize = 8;
    /// The 64-byte signature; everything before it in the file is signed.
    pub const SIGNATURE: usize = 24;
    /// Length of an Ed25519 signature.
    pub const SIGNATURE_LEN: usize = 64;
}

/// Section kinds.
pub mod section {
    /// Model metadata (fixed 128 bytes).
    pub const META: u32 = 1;
    /// Tensor records.
    pub const TENSORS: u32 = 2;
    /// Op records.
    pub const OPS: u32 = 3;
    /// Weight blobs.
    pub const WEIGHTS: u32 = 4;
    /// Output labels (string table).
    pub const LABELS: u32 = 5;
    /// Layer names, one per op (string table).
    pub const NAMES: u32 = 6;
}

/// META section layout (byte offsets).
pub mod meta {
    /// Length of the META section.
    pub const LEN: usize = 128;
    /// u32: 1 = int8, 2 = f32.
    pub const PRECISION: usize = 0;
    /// u32 tensor count.
    pub const N_TENSORS: usize = 4;
    /// u32 op count.
    pub const N_OPS: usize = 8;
    /// u32 arena bytes.
    pub const ARENA_SIZE: usize = 12;
    /// u16 input tensor index.
    pub const INPUT: usize = 16;
    /// u16 output tensor index.
    pub const OUTPUT: usize = 18;
    /// u8 layout of the source model's input: 0 = NCHW, 1 = NHWC.
    pub const SRC_LAYOUT: usize = 20;
    /// u8 channel order of images: 0 = RGB, 1 = BGR, 2 = gray.
    pub const CHANNEL_ORDER: usize = 21;
    /// u8 resize policy: 0 = stretch, 1 = center crop, 2 = letterbox.
    pub const RESIZE: usize = 22;
    /// u8 order of the source model's output: 0 = as stored (NHWC / flat), 1 = NCHW (the
    /// ONNX output is NCHW or a CHW-order flatten: transpose the stored NHWC to get it).
    pub const OUTPUT_NCHW: usize = 23;
    /// f32 rescale applied to 0..255 pixel values.
    pub const RESCALE: usize = 24;
    /// f32 x 4 per-channel mean (after rescale).
    pub const MEAN: usize = 28;
    /// f32 x 4 per-channel std.
    pub const STD: usize = 44;
}

/// Tensor record layout (byte offsets).
pub mod tensor {
    /// Length of a tensor record.
    pub const LEN: usize = 48;
    /// u8 dtype: 1 = i8, 2 = f32.
    pub const DTYPE: usize = 0;
    /// u32 x 4: N, H, W, C (activations are NHWC).
    pub const DIMS: usize = 4;
    /// u32 arena offset.
    pub const OFFSET: usize = 20;
    /// u32 byte size.
    pub const SIZE: usize = 24;
    /// f32 quantization scale (int8).
    pub const SCALE: usize = 28;
    /// i32 quantization zero point (int8).
    pub const ZERO_POINT: usize = 32;
}

/// Op record layout (byte offsets).
pub mod op {
    /// Length of an op record.
    pub const LEN: usize = 80;
    /// u8 op kind ([`crate::OpKind`]: 1 conv, 2 dense, 3 max pool, 4 average pool, 5 add,
    /// 6 concat part, 7 softmax, 8 lookup table, 9 activation, 10 depthwise conv; kind 10
    /// is an addition to version 1, which older runtimes refuse as an unknown kind).
    pub const KIND: usize = 0;
    /// u8 fused activation: 0 none, 1 relu, 2 clip, 3 leaky relu.
    pub const ACT: usize = 1;
    /// u8 weight packing (0 = plain: conv OHWI, dense [out][in]).
    pub const PACKING: usize = 2;
    /// u16 first input tensor.
    pub const IN0: usize = 4;
    /// u16 second input tensor or 0xFFFF.
    pub const IN1: usize = 6;
    /// u16 output tensor.
    pub const OUT: usize = 8;
    /// u16 x 11: kh, kw, sh, sw, dh, dw, pad top, left, bottom, right, groups.
    pub const GEOM: usize = 12;
    /// u32 op-specific: concat channel offset; avg pool count_include_pad.
    pub const AUX: usize = 36;
    /// f32 activation parameter a (clip min, leaky alpha).
    pub const ACT_A: usize = 40;
    /// f32 activation parameter b (clip max).
    pub const ACT_B: usize = 44;
    /// u32 offset, u32 len of the weights blob.
    pub const WEIGHTS: usize = 48;
    /// u32 offset, u32 len of the bias blob (i32 for int8, f32 for f32).
    pub const BIAS: usize = 56;
    /// u32 offset, u32 len of the requantization blob (f32 multipliers, or a 256-byte LUT).
    pub const QUANT: usize = 64;
}

/// Weight packings and the BLOCKED layout arithmetic.
pub mod packing;

mod file;
mod records;

pub(crate) use file::File;
pub use file::Header;
pub use packing::Packing;
pub use records::{ChannelOrder, DType, Meta, Precision, Preprocess, Resize, TensorInfo};

/// Read a little-endian u16 at `off` (caller checked bounds).
pub(crate) fn rd_u16(b: &[u8], off: usize) -> u16 {
    u16::from_le_bytes([b[off], b[off + 1]])
}
/// Read a little-endian u32 at `off` (caller checked bounds).
pub(crate) fn rd_u32(b: &[u8], off: usize) -> u32 {
    u32::from_le_bytes([b[off], b[off + 1], b[off + 2], b[off + 3]])
}
/// Read a little-endian f32 at `off` (caller checked bounds).
pub(crate) fn rd_f32(b: &[u8], off: usize) -> f32 {
    f32::from_bits(rd_u32(b, off))
}
