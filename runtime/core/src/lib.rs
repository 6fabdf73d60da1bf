//! `kestrel-runtime`: loads a `.kes` model from a byte slice (zero copy), validates it once,
//! and runs it in one caller-owned arena with int8 or f32 kernels.
//!
//! `#![no_std]`, no allocator needed, no panics on malformed input: every offset, length,
//! shape, parameter and arena range is checked by [`Model::load`], so a truncated,
//! corrupted or hostile file is a typed [`Error`].
//!
//! ```ignore
//! let model = Model::load(bytes)?;              // bytes: 16-byte aligned
//! let mut arena = [0u8; N];                      // >= model.arena_size(), 16-byte aligned
//! model.set_input_f32(&mut arena, &input_nhwc)?;
//! model.run(&mut arena)?;
//! model.output_f32(&arena, &mut scores)?;
//! ```
#![cfg_attr(not(any(test, feature = "writer", feature = "std")), no_std)]
#![deny(missing_docs)]
#![deny(clippy::undocumented_unsafe_blocks)]

#[cfg(any(test, feature = "writer"))]
extern crate alloc;
#[cfg(feature = "std")]
extern crate std;

#[cfg(feature = "std")]
mod aligned;
mod cast;
mod crc32;
mod error;
mod exec;
pub mod format;
pub mod kernels;
mod layer;
pub mod lifetimes;
mod model;
pub mod ops;
pub mod parallel;
#[cfg(feature = "std")]
mod pool;
mod scratch;
pub mod signature;
mod validate;
#[cfg(feature = "writer")]
pub mod writer;

#[cfg(feature = "std")]
pub use aligned::AlignedBuf;
pub use crc32::crc32;
pub use error::Error;
pub use format::{ChannelOrder, Meta, Packing, Precision, Preprocess, Resize, TensorInfo};
pub use model::{Labels, Limits, Model};
pub use ops::{Activation, DType, Lrn, Op, OpKind, PadMode, SoftmaxAxes, Strided, Unary, COPY_MAX_RANK};
pub use parallel::{Parallel, Sequential};
#[cfg(feature = "std")]
pub use pool::ThreadPool;

/// Result type of the runtime.
pub type Result<T> = core::result::Result<T, Error>;
