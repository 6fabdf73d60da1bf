//! Signed models: the signature block's structure (checked by every load), the Ed25519
//! check against a trusted key (feature `signature`, [`crate::Model::load_verified`]), and
//! the signer's half of the layout (feature `writer`). The layout is in [`crate::format`].

use crate::format::{rd_u32, sig, Header, HEADER_LEN};
use crate::{Error, Result};

/// What a signature block says about its signer (not a proof of anything until verified).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SignatureInfo {
    /// Key id: the first 8 bytes of the signer's public key.
    pub key_id: [u8; sig::KEY_ID_LEN],
    /// Bytes covered by the checksum (the block starts here).
    pub file_len: usize,
}

/// Key id of a public key: its first 8 bytes.
pub fn key_id(public_key: &[u8; 32]) -> [u8; sig::KEY_ID_LEN] {
    let mut id = [0u8; sig::KEY_ID_LEN];
    id.copy_from_slice(&public_key[..sig::KEY_ID_LEN]);
    id
}

fn bad(what: &'static str) -> Error {
    Error::BadSignatureBlock { what }
}

/// Check the structure of a signature block (magic, length field, algorithm).
pub(crate) fn check_block(block: &[u8]) -> Result<()> {
    if block.len() != sig::LEN {
        return Err(bad("wrong length"));
    }
    if block[..8] != sig::MAGIC {
        return Err(bad("bad magic"));
    }
    if rd_u32(block, sig::BLOCK_LEN) as usize != sig::LEN {
        return Err(bad("length field does not match the block"));
    }
    if rd_u32(block, sig::ALG) != sig::ALG_ED25519 {
        return Err(bad("unknown signature algorithm"));
    }
    Ok(())
}

/// Read only the header and the signature block: `Ok(None)` for an unsigned model,
/// `Ok(Some(..))` for a well-formed block. Checks nothing past the header and the block.
pub fn signature_info(bytes: &[u8]) -> Result<Option<SignatureInfo>> {
    let h = Header::parse(bytes)?;
    if !h.signed() {
        return Ok(None);
    }
    let file_len = h.file_len;
    if file_len < HEADER_LEN {
        return Err(Error::BadSection { kind: 0, what: "file length in header does not match the data" });
    }
    let total = h.total_len();
    if bytes.len() < total {
        return Err(Error::Truncated { needed: total, got: bytes.len() });
    }
    if bytes.len() > total {
        return Err(bad("trailing bytes after the signature block"));
    }
    let block = &bytes[file_len..];
    check_block(block)?;
    let mut key_id = [0u8; sig::KEY_ID_LEN];
    key_id.copy_from_slice(&block[sig::KEY_ID..sig::KEY_ID + sig::KEY_ID_LEN]);
    Ok(Some(SignatureInfo { key_id, file_len }))
}

/// Check `bytes`' signature against `trusted` (an Ed25519 public key) before anything but
/// the header and the signature block is read.
#[cfg(feature = "signature")]
pub(crate) fn verify(bytes: &[u8], trusted: &[u8; 32]) -> Result<()> {
    use ed25519_dalek::{Signature, VerifyingKey};
    let info = signature_info(bytes)?.ok_or(Error::Unsigned)?;
    if info.key_id != key_id(trusted) {
        return Err(Error::UntrustedKey { key_id: u64::from_be_bytes(info.key_id) });
    }
    let key = VerifyingKey::from_bytes(trusted).map_err(|_| Error::BadPublicKey)?;
    let at = info.file_len + sig::SIGNATURE;
    let mut s = [0u8; sig::SIGNATURE_LEN];
    s.copy_from_slice(&bytes[at..at + sig::SIGNATURE_LEN]);
    key.verify_strict(&bytes[..at], &Signature::from_bytes(&s)).map_err(|_| Error::BadSignature)
}

/// The signer's half: `unsigned` with the header flag set and a signature block appended
/// whose signature is still zero, and the length of the prefix to sign. Sign
/// `out[..len]` with the key whose public half is `public_key` and write the 64-byte
/// signature with [`put_signature`]. Refuses models that are already signed.
#[cfg(feature = "writer")]
pub fn prepare_signed(unsigned: &[u8], public_key: &[u8; 32]) -> Result<(alloc::vec::Vec<u8>, usize)> {
    use crate::format::{header, FLAG_SIGNED};
    if let Some(s) = signature_info(unsigned)? {
        return Err(Error::AlreadySigned { key_id: u64::from_be_bytes(s.key_id) });
    }
    let h = Header::parse(unsigned)?;
    let file_len = h.file_len;
    if file_len != unsigned.len() {
        return Err(Error::BadSection { kind: 0, what: "file length in header does not match the data" });
    }
    let mut out = alloc::vec::Vec::with_capacity(file_len + sig::LEN);
    out.extend_from_slice(unsigned);
    let flags = h.flags | FLAG_SIGNED;
    out[header::FLAGS..header::FLAGS + 4].copy_from_slice(&flags.to_le_bytes());
    out.extend_from_slice(&sig::MAGIC);
    out.extend_from_slice(&(sig::LEN as u32).to_le_bytes());
    out.extend_from_slice(&sig::ALG_ED25519.to_le_bytes());
    out.extend_from_slice(&key_id(public_key));
    out.extend_from_slice(&[0u8; sig::SIGNATURE_LEN]);
    Ok((out, file_len + sig::SIGNATURE))
}

/// Write the signature into a model prepared by [`prepare_signed`].
#[cfg(feature = "writer")]
pub fn put_signature(prepared: &mut [u8], signature: &[u8; 64]) {
    let at = prepared.len() - sig::SIGNATURE_LEN;
    prepared[at..].copy_from_slice(signature);
}
