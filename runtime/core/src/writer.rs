//! The `.kes` writer (feature `writer`): the inverse of the reader, using the same layout
//! constants from [`crate::format`]. The compiler plans the arena and fills this in.

use alloc::string::String;
use alloc::vec::Vec;

use crate::format::{meta, op, section, tensor, FORMAT_VERSION, HEADER_LEN, MAGIC, SECTION_ENTRY_LEN, WEIGHT_ALIGN};
use crate::format::{header, Precision, Preprocess};
use crate::ops::{Blob, DType, Op};

/// One tensor as the writer records it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TensorSpec {
    /// Element type.
    pub dtype: DType,
    /// N, H, W, C.
    pub dims: [usize; 4],
    /// Arena offset (from the planner).
    pub offset: usize,
    /// Quantization scale (int8; 1.0 for f32).
    pub scale: f32,
    /// Quantization zero point (int8; 0 for f32).
    pub zero_point: i32,
}

impl TensorSpec {
    /// Bytes the tensor occupies.
    pub fn size(&self) -> usize {
        self.dims.iter().product::<usize>() * self.dtype.size()
    }
}

/// Builds a `.kes` file.
#[derive(Debug, Clone)]
pub struct KesWriter {
    /// Model precision.
    pub precision: Precision,
    /// Tensors, indexed by op records.
    pub tensors: Vec<TensorSpec>,
    /// Ops in execution order, with their layer names.
    pub ops: Vec<(Op, String)>,
    /// The WEIGHTS section being built.
    pub weights: Vec<u8>,
    /// Output labels.
    pub labels: Vec<String>,
    /// Input tensor index.
    pub input: u16,
    /// Output tensor index.
    pub output: u16,
    /// Arena bytes.
    pub arena_size: usize,
    /// Image preprocessing.
    pub preprocess: Preprocess,
    /// The source model's output is NCHW-ordered.
    pub output_nchw: bool,
}

fn put_u32(v: &mut Vec<u8>, x: u32) {
    v.extend_from_slice(&x.to_le_bytes());
}

fn string_table(items: &[&str]) -> Vec<u8> {
    let mut v = Vec::new();
    if items.is_empty() {
        return v;
    }
    put_u32(&mut v, items.len() as u32);
    for s in items {
        put_u32(&mut v, s.len() as u32);
        v.extend_from_slice(s.as_bytes());
    }
    v
}

fn pad_to(v: &mut Vec<u8>, align: usize) {
    while v.len() % align != 0 {
        v.push(0);
    }
}

impl KesWriter {
    /// An empty model of the given precision.
    pub fn new(precision: Precision, preprocess: Preprocess) -> KesWriter {
        KesWriter {
            precision,
            tensors: Vec::new(),
            ops: Vec::new(),
            weights: Vec::new(),
            labels: Vec::new(),
            input: 0,
            output: 0,
            arena_size: 0,
            preprocess,
            output_nchw: false,
        }
    }

    /// Add a tensor; returns its index.
    pub fn add_tensor(&mut self, t: TensorSpec) -> u16 {
        self.tensors.push(t);
        (self.tensors.len() - 1) as u16
    }

    /// Append a 64-byte aligned blob to the WEIGHTS section.
    pub fn add_blob(&mut self, bytes: &[u8]) -> Blob {
        pad_to(&mut self.weights, WEIGHT_ALIGN);
        let offset = self.weights.len() as u32;
        self.weights.extend_from_slice(bytes);
        Blob { offset, len: bytes.len() as u32 }
    }

    /// Append f32 values as a blob.
    pub fn add_f32s(&mut self, v: &[f32]) -> Blob {
        let b: Vec<u8> = v.iter().flat_map(|x| x.to_le_bytes()).collect();
        self.add_blob(&b)
    }

    /// Append i32 values as a blob.
    pub fn add_i32s(&mut self, v: &[i32]) -> Blob {
        let b: Vec<u8> = v.iter().flat_map(|x| x.to_le_bytes()).collect();
        self.add_blob(&b)
    }

    /// Append an op with its layer name.
    pub fn add_op(&mut self, o: Op, name: &str) {
        self.ops.push((o, String::from(name)));
    }

    fn meta_bytes(&self) -> Vec<u8> {
        let mut m = alloc::vec![0u8; meta::LEN];
        let w32 = |m: &mut Vec<u8>, o: usize, x: u32| m[o..o + 4].copy_from_slice(&x.to_le_bytes());
        w32(&mut m, meta::PRECISION, if self.precision == Precision::Int8 { 1 } else { 2 });
        w32(&mut m, meta::N_TENSORS, self.tensors.len() as u32);
        w32(&mut m, meta::N_OPS, self.ops.len() as u32);
        w32(&mut m, meta::ARENA_SIZE, self.arena_size as u32);
        m[meta::INPUT..meta::INPUT + 2].copy_from_slice(&self.input.to_le_bytes());
        m[meta::OUTPUT..meta::OUTPUT + 2].copy_from_slice(&self.output.to_le_bytes());
        let p = &self.preprocess;
        m[meta::SRC_LAYOUT] = if p.src_nchw { 0 } else { 1 };
        m[meta::CHANNEL_ORDER] = p.channel_order as u8;
        m[meta::RESIZE] = p.resize as u8;
        m[meta::OUTPUT_NCHW] = self.output_nchw as u8;
        w32(&mut m, meta::RESCALE, p.rescale.to_bits());
        for i in 0..4 {
            w32(&mut m, meta::MEAN + 4 * i, p.mean[i].to_bits());
            w32(&mut m, meta::STD + 4 * i, p.std[i].to_bits());
        }
        m
    }

    fn tensor_bytes(&self) -> Vec<u8> {
        let mut v = Vec::with_capacity(self.tensors.len() * tensor::LEN);
        for t in &self.tensors {
            let mut r = [0u8; tensor::LEN];
            r[tensor::DTYPE] = t.dtype.to_u8();
            for (k, d) in t.dims.iter().enumerate() {
                r[tensor::DIMS + 4 * k..][..4].copy_from_slice(&(*d as u32).to_le_bytes());
            }
            r[tensor::OFFSET..][..4].copy_from_slice(&(t.offset as u32).to_le_bytes());
            r[tensor::SIZE..][..4].copy_from_slice(&(t.size() as u32).to_le_bytes());
            r[tensor::SCALE..][..4].copy_from_slice(&t.scale.to_le_bytes());
            r[tensor::ZERO_POINT..][..4].copy_from_slice(&t.zero_point.to_le_bytes());
            v.extend_from_slice(&r);
        }
        v
    }

    fn op_bytes(&self) -> Vec<u8> {
        let mut v = Vec::with_capacity(self.ops.len() * op::LEN);
        for (o, _) in &self.ops {
            let mut r = [0u8; op::LEN];
            r[op::KIND] = o.kind;
            r[op::ACT] = o.act;
            r[op::PACKING] = o.packing;
            r[op::IN0..][..2].copy_from_slice(&o.in0.to_le_bytes());
            r[op::IN1..][..2].copy_from_slice(&o.in1.to_le_bytes());
            r[op::OUT..][..2].copy_from_slice(&o.out.to_le_bytes());
            let geom = [o.kh, o.kw, o.sh, o.sw, o.dh, o.dw, o.pad_t, o.pad_l, o.pad_b, o.pad_r, o.groups];
            for (k, g) in geom.iter().enumerate() {
                r[op::GEOM + 2 * k..][..2].copy_from_slice(&g.to_le_bytes());
            }
            r[op::AUX..][..4].copy_from_slice(&o.aux.to_le_bytes());
            r[op::ACT_A..][..4].copy_from_slice(&o.act_a.to_le_bytes());
            r[op::ACT_B..][..4].copy_from_slice(&o.act_b.to_le_bytes());
            for (off, b) in [(op::WEIGHTS, o.weights), (op::BIAS, o.bias), (op::QUANT, o.quant)] {
                r[off..][..4].copy_from_slice(&b.offset.to_le_bytes());
                r[off + 4..][..4].copy_from_slice(&b.len.to_le_bytes());
            }
            v.extend_from_slice(&r);
        }
        v
    }

    /// Serialize: header, section table, sections (WEIGHTS 64-aligned), checksum.
    pub fn finish(&self) -> Vec<u8> {
        let labels: Vec<&str> = self.labels.iter().map(|s| s.as_str()).collect();
        let names: Vec<&str> = self.ops.iter().map(|(_, n)| n.as_str()).collect();
        let sections: Vec<(u32, Vec<u8>)> = alloc::vec![
            (section::META, self.meta_bytes()),
            (section::TENSORS, self.tensor_bytes()),
            (section::OPS, self.op_bytes()),
            (section::LABELS, string_table(&labels)),
            (section::NAMES, string_table(&names)),
            (section::WEIGHTS, self.weights.clone()),
        ];
        let mut out = alloc::vec![0u8; HEADER_LEN + sections.len() * SECTION_ENTRY_LEN];
        let mut table = Vec::new();
        for (kind, body) in &sections {
            pad_to(&mut out, if *kind == section::WEIGHTS { WEIGHT_ALIGN } else { 16 });
            table.push((*kind, out.len() as u32, body.len() as u32));
            out.extend_from_slice(body);
        }
        out[..8].copy_from_slice(&MAGIC);
        out[header::VERSION..][..2].copy_from_slice(&FORMAT_VERSION.to_le_bytes());
        out[header::HEADER_LEN..][..2].copy_from_slice(&(HEADER_LEN as u16).to_le_bytes());
        let total = out.len() as u32;
        out[header::FILE_LEN..][..4].copy_from_slice(&total.to_le_bytes());
        out[header::SECTIONS..][..4].copy_from_slice(&(sections.len() as u32).to_le_bytes());
        for (i, (kind, off, len)) in table.iter().enumerate() {
            let e = HEADER_LEN + i * SECTION_ENTRY_LEN;
            out[e..e + 4].copy_from_slice(&kind.to_le_bytes());
            out[e + 4..e + 8].copy_from_slice(&off.to_le_bytes());
            out[e + 8..e + 12].copy_from_slice(&len.to_le_bytes());
        }
        let crc = crate::crc32(&out[HEADER_LEN..]);
        out[header::CRC..][..4].copy_from_slice(&crc.to_le_bytes());
        out
    }
}
