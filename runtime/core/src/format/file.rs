//! The container of a `.kes` file decoded: the 64-byte [`Header`] and the section table
//! ([`File`]: where each section's bytes are). Shared by the validator, the signature
//! check and the model view, so the header is parsed in one place.

use super::records::{DType, Meta, TensorInfo};
use super::{header, meta, op, rd_u16, rd_u32, section, sig, tensor, FLAG_SIGNED, FORMAT_VERSION, HEADER_LEN, MAGIC, MAX_TENSORS, SECTION_ENTRY_LEN, WEIGHT_ALIGN};
use crate::{Error, Result};

/// Most sections a file may list.
const MAX_SECTIONS: usize = 16;

fn sec_err(kind: u32, what: &'static str) -> Error {
    Error::BadSection { kind, what }
}

/// The fixed header, decoded: magic and version are checked by [`Header::parse`], the
/// rest by `Header::check` (the full load) or by its reader (the signature check).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    /// Format version (1..=[`FORMAT_VERSION`] once checked).
    pub version: u16,
    /// Header length field (must be [`HEADER_LEN`]).
    pub header_len: usize,
    /// Flags ([`FLAG_SIGNED`]).
    pub flags: u32,
    /// Bytes covered by the checksum and the section table.
    pub file_len: usize,
    /// CRC-32 of bytes `[HEADER_LEN, file_len)`.
    pub crc: u32,
    /// Section table entries.
    pub n_sections: usize,
    /// Bytes 28..64 are all zero.
    pub reserved_zero: bool,
}

impl Header {
    /// Decode the header of `bytes`: a typed error if it is too short, has the wrong magic
    /// or a newer version than this runtime reads.
    pub fn parse(bytes: &[u8]) -> Result<Header> {
        let h = bytes.get(..HEADER_LEN).ok_or(Error::Truncated { needed: HEADER_LEN, got: bytes.len() })?;
        if h[..8] != MAGIC {
            return Err(Error::BadMagic);
        }
        let version = rd_u16(h, header::VERSION);
        if version > FORMAT_VERSION {
            return Err(Error::UnsupportedVersion { found: version, supported: FORMAT_VERSION });
        }
        Ok(Header {
            version,
            header_len: rd_u16(h, header::HEADER_LEN) as usize,
            flags: rd_u32(h, header::FLAGS),
            file_len: rd_u32(h, header::FILE_LEN) as usize,
            crc: rd_u32(h, header::CRC),
            n_sections: rd_u32(h, header::SECTIONS) as usize,
            reserved_zero: h[header::RESERVED..].iter().all(|&b| b == 0),
        })
    }

    /// The file carries a signature block after `file_len`.
    pub fn signed(&self) -> bool {
        self.flags & FLAG_SIGNED != 0
    }

    /// Bytes the whole file has: `file_len` plus the signature block if signed.
    pub fn total_len(&self) -> usize {
        self.file_len.saturating_add(if self.signed() { sig::LEN } else { 0 })
    }

    /// The checks a full load adds: a known version and header length, no unknown flags,
    /// zero reserved bytes, and `bytes` exactly as long as the header says.
    pub(crate) fn check(&self, bytes: &[u8]) -> Result<()> {
        if self.version == 0 || self.header_len != HEADER_LEN {
            return Err(sec_err(0, "bad header version or length"));
        }
        if self.flags & !FLAG_SIGNED != 0 || !self.reserved_zero {
            return Err(sec_err(0, "unknown header flags or non-zero reserved bytes"));
        }
        let total = self.total_len();
        if bytes.len() < total {
            return Err(Error::Truncated { needed: total, got: bytes.len() });
        }
        if bytes.len() > total || self.file_len < HEADER_LEN {
            return Err(sec_err(0, "file length in header does not match the data"));
        }
        Ok(())
    }
}

/// The sections of a file whose header passed [`Header::check`], located and sized
/// against the META counts (themselves bounded); the records in them are not yet validated.
#[derive(Debug, Clone, Copy)]
pub(crate) struct File<'a> {
    /// The META section, decoded.
    pub meta: Meta,
    /// META's raw bytes (flags and reserved bytes the validator checks).
    pub meta_bytes: &'a [u8],
    /// TENSORS: `n_tensors` records.
    pub tensors: &'a [u8],
    /// OPS: `n_ops` records.
    pub ops: &'a [u8],
    /// WEIGHTS.
    pub weights: &'a [u8],
    /// LABELS (may be empty).
    pub labels: &'a [u8],
    /// NAMES (may be empty).
    pub names: &'a [u8],
}

impl<'a> File<'a> {
    /// Locate the sections of `bytes` (whose header `h` passed [`Header::check`]).
    pub(crate) fn parse(bytes: &'a [u8], h: &Header) -> Result<File<'a>> {
        let (n, file_len) = (h.n_sections, h.file_len);
        let table_end = HEADER_LEN + n * SECTION_ENTRY_LEN;
        if n > MAX_SECTIONS || table_end > file_len {
            return Err(sec_err(0, "section table out of bounds"));
        }
        let mut found: [Option<&[u8]>; 7] = [None; 7];
        let mut weights_offset = 0;
        for i in 0..n {
            let e = HEADER_LEN + i * SECTION_ENTRY_LEN;
            let (kind, off, len) = (rd_u32(bytes, e), rd_u32(bytes, e + 4) as usize, rd_u32(bytes, e + 8) as usize);
            let end = off.checked_add(len).ok_or(sec_err(kind, "section out of bounds"))?;
            if off < table_end || end > file_len {
                return Err(sec_err(kind, "section out of bounds"));
            }
            let slot = found.get_mut(kind as usize).filter(|_| kind != 0).ok_or(sec_err(kind, "unknown section kind"))?;
            if slot.is_some() {
                return Err(sec_err(kind, "duplicate section"));
            }
            *slot = Some(&bytes[off..end]);
            if kind == section::WEIGHTS {
                weights_offset = off;
            }
        }
        let need = |k: u32| found[k as usize].ok_or(sec_err(k, "missing section"));
        let (meta_bytes, tensors, ops, weights) = (need(section::META)?, need(section::TENSORS)?, need(section::OPS)?, need(section::WEIGHTS)?);
        let optional = |k: u32| found[k as usize].unwrap_or(&[]);
        let (labels, names) = (optional(section::LABELS), optional(section::NAMES));
        if weights_offset % WEIGHT_ALIGN != 0 {
            return Err(sec_err(section::WEIGHTS, "weights section not 64-byte aligned"));
        }
        if meta_bytes.len() != meta::LEN {
            return Err(sec_err(section::META, "wrong length"));
        }
        let meta = Meta::parse(meta_bytes).map_err(|what| sec_err(section::META, what))?;
        if meta.n_tensors == 0 {
            return Err(sec_err(section::META, "the model has no tensors"));
        }
        if meta.n_ops == 0 {
            return Err(sec_err(section::META, "the model has no ops"));
        }
        if meta.n_tensors > MAX_TENSORS {
            return Err(Error::TooLarge { what: "tensor count (1..=1024)" });
        }
        if meta.n_ops >= u16::MAX as usize {
            return Err(Error::TooLarge { what: "op count (1..65535)" });
        }
        if tensors.len() != meta.n_tensors * tensor::LEN {
            return Err(sec_err(section::TENSORS, "length does not match tensor count"));
        }
        if ops.len() != meta.n_ops * op::LEN {
            return Err(sec_err(section::OPS, "length does not match op count"));
        }
        Ok(File { meta, meta_bytes, tensors, ops, weights, labels, names })
    }

    /// Tensor record `i` decoded (`i < n_tensors`).
    pub(crate) fn tensor(&self, i: usize) -> TensorInfo {
        TensorInfo::parse(&self.tensors[i * tensor::LEN..][..tensor::LEN])
    }

    /// Tensor record `i`'s element type, `None` for an unknown byte (`i < n_tensors`).
    pub(crate) fn tensor_dtype(&self, i: usize) -> Option<DType> {
        DType::from_u8(self.tensors[i * tensor::LEN + tensor::DTYPE])
    }

    /// The raw bytes of op record `i` (`i < n_ops`), for [`crate::ops::Op::decode`].
    pub(crate) fn op_record(&self, i: usize) -> &'a [u8] {
        &self.ops[i * op::LEN..][..op::LEN]
    }
}
