//! Weight packings (the op record's `packing` byte) and the layout arithmetic that the
//! compiler's packer, the validator and every kernel share, so they can't drift.

/// Conv weights `[out][kh][kw][in/groups]`, dense weights `[out][in]` (NHWC flatten order).
/// Read by the scalar reference kernels only (files written before BLOCKED existed).
pub const PLAIN: u8 = 0;
/// Output channels in blocks of [`OC_BLOCK`], input channels in groups of `G` (`G` =
/// [`IC_GROUP_I8`] for int8, [`IC_GROUP_F32`] for f32), zero padded:
/// conv `[groups][ceil(ocg/16)][kh][kw][ceil(icg/G)][16][G]`, dense (one tap, one group)
/// `[ceil(n/16)][ceil(k/G)][16][G]`, where `ocg`/`icg` are the channels per conv group.
/// An int8 group is the 4 consecutive input channels of one output channel: one lane of
/// x86 `vpdpbusd`, of aarch64 `sdot`, two Cortex-M `smlad`s; a 64-byte row holds 16
/// output channels. One file runs on every target; the scalar reference reads it too.
pub const BLOCKED: u8 = 1;
/// A weight packing, decoded from the op record's byte ([`PLAIN`] or [`BLOCKED`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Packing {
    /// [`PLAIN`].
    Plain = PLAIN as isize,
    /// [`BLOCKED`].
    Blocked = BLOCKED as isize,
}

impl TryFrom<u8> for Packing {
    type Error = u8;
    /// The packing stored as `v`, or `Err(v)` for one this runtime has no kernel for.
    fn try_from(v: u8) -> Result<Packing, u8> {
        match v {
            PLAIN => Ok(Packing::Plain),
            BLOCKED => Ok(Packing::Blocked),
            _ => Err(v),
        }
    }
}

/// Output channels per block.
pub const OC_BLOCK: usize = 16;
/// Input channels per group, int8.
pub const IC_GROUP_I8: usize = 4;
/// Input channels per group, f32.
pub const IC_GROUP_F32: usize = 1;

/// Shape of a [`BLOCKED`] weight tensor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Blocked {
    /// Convolution groups (1 for dense).
    pub groups: usize,
    /// Output channels per group.
    pub ocg: usize,
    /// Kernel taps (kh * kw; 1 for dense).
    pub taps: usize,
    /// Input channels per group (k for dense).
    pub icg: usize,
    /// Input channels per packed group (`G`).
    pub ig: usize,
}

impl Blocked {
    /// A convolution's packed shape (`oc`, `ic` total channels).
    pub fn conv(oc: usize, ic: usize, kh: usize, kw: usize, groups: usize, int8: bool) -> Blocked {
        let ig = if int8 { IC_GROUP_I8 } else { IC_GROUP_F32 };
        let g = groups.max(1);
        Blocked { groups: g, ocg: oc / g, taps: kh * kw, icg: ic / g, ig }
    }
    /// A dense layer's packed shape (`n` outputs, `k` inputs).
    pub fn dense(n: usize, k: usize, int8: bool) -> Blocked {
        Blocked::conv(n, k, 1, 1, 1, int8)
    }
    /// Output-channel blocks per group.
    pub fn oc_blocks(&self) -> usize {
        self.ocg.div_ceil(OC_BLOCK)
    }
    /// Packed input-channel groups per tap.
    pub fn ic_groups(&self) -> usize {
        self.icg.div_ceil(self.ig)
    }
    /// Elements of one tap of one output block (`ic_groups * G * 16`).
    pub fn tap_len(&self) -> usize {
        self.ic_groups() * self.ig * OC_BLOCK
    }
    /// Elements of one output block (all taps).
    pub fn block_len(&self) -> usize {
        self.taps * self.tap_len()
    }
    /// Total elements, `None` on overflow (the validator checks this before any index).
    pub fn elements(&self) -> Option<usize> {
        let tap = self.icg.checked_add(self.ig - 1)? / self.ig * self.ig * OC_BLOCK;
        let blocks = self.ocg.checked_add(OC_BLOCK - 1)? / OC_BLOCK;
        self.groups.checked_mul(blocks)?.checked_mul(self.taps)?.checked_mul(tap)
    }
    /// Element index of the weight of output channel `oc` (0..groups*ocg), tap `tap`,
    /// input channel `ci` (0..icg, within the group).
    #[inline(always)]
    pub fn index(&self, oc: usize, tap: usize, ci: usize) -> usize {
        let (g, o) = (oc / self.ocg, oc % self.ocg);
        let block = g * self.oc_blocks() + o / OC_BLOCK;
        block * self.block_len() + tap * self.tap_len() + (ci / self.ig) * self.ig * OC_BLOCK + (o % OC_BLOCK) * self.ig + ci % self.ig
    }
}
