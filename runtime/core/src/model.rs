//! The loaded, validated model: a zero-copy view over the `.kes` bytes. Running it and
//! reading and writing its tensors in an arena is the executor's ([`crate::exec`]).

use crate::format::{rd_u32, File, Meta, TensorInfo, BUFFER_ALIGN};
use crate::layer::{layer, Layer};
use crate::ops::Op;
use crate::Result;

/// What a caller allows a model to need, checked by [`Model::load_with_limits`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Most arena bytes ([`Model::arena_size`]) a model may need.
    pub max_arena: usize,
}

/// A validated `.kes` model borrowing its bytes.
#[derive(Debug, Clone, Copy)]
pub struct Model<'a> {
    pub(crate) file: File<'a>,
    /// Conv kernels' scratch past the planned arena, sized once at load (`scratch.rs`).
    scratch: usize,
}

impl<'a> Model<'a> {
    /// Parse and validate a `.kes` file. `bytes` must start at a 16-byte aligned address
    /// (kernels read f32 and i32 blobs in place). Nothing is copied.
    pub fn load(bytes: &'a [u8]) -> Result<Model<'a>> {
        let mut m = Model { file: crate::validate::load(bytes)?, scratch: 0 };
        m.scratch = crate::scratch::scratch_size(&m);
        Ok(m)
    }

    /// [`Model::load`], then refuse a model whose arena ([`Model::arena_size`]) is above
    /// `limits.max_arena` ([`Error::ArenaTooLarge`]), before the caller allocates it: a
    /// host that loads models from others states how much memory one may take.
    pub fn load_with_limits(bytes: &'a [u8], limits: &Limits) -> Result<Model<'a>> {
        let m = Model::load(bytes)?;
        m.check_limits(limits)?;
        Ok(m)
    }

    /// Refuse this model if it needs more than `limits` allow (what
    /// [`Model::load_with_limits`] checks; for a model loaded another way).
    pub fn check_limits(&self, limits: &Limits) -> Result<()> {
        let needed = self.arena_size();
        if needed > limits.max_arena {
            return Err(crate::Error::ArenaTooLarge { needed, limit: limits.max_arena });
        }
        Ok(())
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
        Model::load(bytes)
    }

    /// Model metadata.
    pub fn meta(&self) -> &Meta {
        &self.file.meta
    }

    /// Arena bytes needed by [`Model::run`]: the file's planned activation arena
    /// ([`Meta::arena_size`]) and, where a kernel set this build and CPU can run needs it,
    /// scratch for the conv kernels after it (one region per thread part; none on the
    /// scalar and Cortex-M sets).
    pub fn arena_size(&self) -> usize {
        match self.scratch {
            0 => self.file.meta.arena_size,
            s => self.file.meta.arena_size.div_ceil(BUFFER_ALIGN) * BUFFER_ALIGN + s,
        }
    }

    /// Number of ops.
    pub fn n_ops(&self) -> usize {
        self.file.meta.n_ops
    }

    /// Number of tensors.
    pub fn n_tensors(&self) -> usize {
        self.file.meta.n_tensors
    }

    /// Op `i`'s record as stored (panics only if `i >= n_ops`; use [`Model::n_ops`]).
    pub fn op(&self, i: usize) -> Op {
        Op::decode(self.file.op_record(i))
    }

    /// Op `i` decoded for execution (`Err` only for `i >= n_ops`, never for a validated op).
    pub(crate) fn layer(&self, i: usize) -> Result<Layer<'a>> {
        if i >= self.n_ops() {
            return Err(crate::Error::BadOp { index: i, what: "no such op" });
        }
        layer(&self.file, i)
    }

    /// Tensor `i`'s description.
    pub fn tensor(&self, i: usize) -> TensorInfo {
        self.file.tensor(i)
    }

    /// The input tensor.
    pub fn input(&self) -> TensorInfo {
        self.tensor(self.file.meta.input)
    }

    /// The output tensor.
    pub fn output(&self) -> TensorInfo {
        self.tensor(self.file.meta.output)
    }

    /// The weights section (for kernels and inspection).
    pub fn weights(&self) -> &'a [u8] {
        self.file.weights
    }

    /// Output labels stored in the file (may be empty).
    pub fn labels(&self) -> Labels<'a> {
        Labels::new(self.file.labels)
    }

    /// Layer names, one per op (may be empty).
    pub fn layer_names(&self) -> Labels<'a> {
        Labels::new(self.file.names)
    }

    /// Multiply-accumulates of one inference (convolutions and dense layers).
    pub fn macs(&self) -> u64 {
        (0..self.n_ops()).fold(0u64, |a, i| a.saturating_add(self.layer_work(i).0))
    }

    /// Elementary operations of one inference: the MACs plus every pool window tap and
    /// twice each element of the other ops. The runtime's time per inference is this work
    /// and nothing else (no op loops on the values it reads), so a device can refuse, before
    /// running it, a model above its budget: `if m.work() > BUDGET { … }`.
    pub fn work(&self) -> u64 {
        (0..self.n_ops()).fold(0u64, |a, i| a.saturating_add(self.layer_work(i).1))
    }

    /// `(macs, work)` of op `i` ([`Layer::work`]); a validated op always decodes.
    fn layer_work(&self, i: usize) -> (u64, u64) {
        let l = self.layer(i);
        debug_assert!(l.is_ok(), "op {i} of a validated model does not decode");
        l.map_or((0, 0), |l| l.work())
    }
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
