//! Typed errors of the runtime: every malformed file or misuse maps to one of these.

use core::fmt;

/// Everything that can go wrong when loading or running a model.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Error {
    /// The file is shorter than its header or section table claims.
    Truncated {
        /// bytes needed
        needed: usize,
        /// bytes present
        got: usize,
    },
    /// The file does not start with the `.kes` magic.
    BadMagic,
    /// The file was written by a newer format version than this runtime reads.
    UnsupportedVersion {
        /// version in the file
        found: u16,
        /// newest version this runtime reads
        supported: u16,
    },
    /// The body checksum does not match the header.
    ChecksumMismatch {
        /// checksum in the header
        expected: u32,
        /// checksum computed over the body
        actual: u32,
    },
    /// The model bytes are not aligned as required (kernels read weights in place).
    ModelMisaligned {
        /// required alignment in bytes
        required: usize,
    },
    /// A section is missing, duplicated, out of bounds or malformed.
    BadSection {
        /// section kind
        kind: u32,
        /// what is wrong
        what: &'static str,
    },
    /// A tensor record is invalid.
    BadTensor {
        /// tensor index
        index: usize,
        /// what is wrong
        what: &'static str,
    },
    /// An op record is invalid.
    BadOp {
        /// op index
        index: usize,
        /// what is wrong
        what: &'static str,
    },
    /// The model has more tensors or ops than this runtime supports.
    TooLarge {
        /// what overflowed
        what: &'static str,
    },
    /// The arena is smaller than the model's plan.
    ArenaTooSmall {
        /// bytes the model needs
        needed: usize,
        /// bytes given
        got: usize,
    },
    /// The model's arena is larger than the caller allows ([`crate::Model::load_with_limits`]).
    ArenaTooLarge {
        /// bytes the model needs
        needed: usize,
        /// the caller's limit
        limit: usize,
    },
    /// The arena does not start at a 16-byte aligned address.
    ArenaMisaligned {
        /// required alignment
        required: usize,
    },
    /// An input or output slice has the wrong number of elements.
    WrongLength {
        /// elements expected
        expected: usize,
        /// elements given
        got: usize,
    },
    /// The requested kernel set cannot run this model (packing or precision mismatch).
    UnsupportedKernel {
        /// op index
        index: usize,
    },
    /// A frame of another size than the model's input was fed to it.
    InputShape {
        /// the model's input: height, width, channels
        expected: [usize; 3],
        /// the frame's height, width, channels
        got: [usize; 3],
    },
    /// A trusted key is configured and the model carries no signature.
    Unsigned,
    /// The signature block is malformed (length, magic, algorithm, trailing bytes).
    BadSignatureBlock {
        /// what is wrong
        what: &'static str,
    },
    /// The model was signed by a key other than the trusted one.
    UntrustedKey {
        /// key id in the file (first 8 bytes of the signer's public key, big endian)
        key_id: u64,
    },
    /// The signature does not match the model's bytes (tampered, or forged).
    BadSignature,
    /// The trusted public key is not a valid Ed25519 public key.
    BadPublicKey,
    /// The model is signed already (the signer refuses to sign it again).
    AlreadySigned {
        /// key id in the file
        key_id: u64,
    },
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Error::Truncated { needed, got } => {
                write!(f, "truncated model: needs {needed} bytes, has {got}")
            }
            Error::BadMagic => write!(f, "not a .kes model (bad magic)"),
            Error::UnsupportedVersion { found, supported } => write!(
                f,
                ".kes format version {found} is newer than this runtime reads (up to {supported}); update kestrel"
            ),
            Error::ChecksumMismatch { expected, actual } => write!(
                f,
                "corrupted model: checksum {actual:#010x} does not match header {expected:#010x}"
            ),
            Error::ModelMisaligned { required } => {
                write!(f, "model bytes must start at a {required}-byte aligned address")
            }
            Error::BadSection { kind, what } => write!(f, "invalid model: section {kind}: {what}"),
            Error::BadTensor { index, what } => write!(f, "invalid model: tensor {index}: {what}"),
            Error::BadOp { index, what } => write!(f, "invalid model: op {index}: {what}"),
            Error::TooLarge { what } => write!(f, "model too large for this runtime: {what}"),
            Error::ArenaTooSmall { needed, got } => write!(
                f,
                "arena too small: the model needs {needed} bytes, got {got}"
            ),
            Error::ArenaTooLarge { needed, limit } => write!(
                f,
                "the model needs a {needed}-byte arena, above the limit of {limit} bytes"
            ),
            Error::ArenaMisaligned { required } => {
                write!(f, "arena must start at a {required}-byte aligned address")
            }
            Error::WrongLength { expected, got } => {
                write!(f, "wrong tensor length: expected {expected} elements, got {got}")
            }
            Error::UnsupportedKernel { index } => {
                write!(f, "op {index}: no kernel in this kernel set for its packing/precision")
            }
            Error::InputShape { expected, got } => write!(
                f,
                "the model takes {}x{}x{} (HxWxC) input, got a {}x{}x{} frame",
                expected[0], expected[1], expected[2], got[0], got[1], got[2]
            ),
            Error::Unsigned => write!(f, "model is not signed, and this runtime only loads signed models"),
            Error::BadSignatureBlock { what } => write!(f, "invalid signature block: {what}"),
            Error::UntrustedKey { key_id } => {
                write!(f, "model is signed by key {key_id:016x}, which is not the trusted key")
            }
            Error::BadSignature => {
                write!(f, "signature does not match the model (modified after signing, or forged)")
            }
            Error::BadPublicKey => write!(f, "the trusted key is not a valid Ed25519 public key"),
            Error::AlreadySigned { key_id } => write!(f, "model is already signed (by key {key_id:016x})"),
        }
    }
}

#[cfg(any(test, feature = "writer"))]
extern crate std;
#[cfg(any(test, feature = "writer"))]
impl std::error::Error for Error {}
