//! Model signing (Ed25519): key files, signing a `.kes`, checking a signature. The
//! signature block's layout is the runtime's (`kestrel_runtime::format::sig`); the private
//! key never enters a model.
//!
//! Key files are one line of text: `kestrel-ed25519-secret-key <64 hex digits>` (the
//! 32-byte secret seed; written owner-only, mode 0600) and
//! `kestrel-ed25519-public-key <64 hex digits>` (the 32-byte public key, `KEY.pub`).

use std::path::{Path, PathBuf};

use anyhow::{anyhow, bail, Result};
use ed25519_dalek::{Signer, SigningKey, VerifyingKey};
use kestrel_runtime::{signature, Model};

use kestrel_runtime::AlignedBuf;

/// First word of a secret key file.
pub const SECRET_TAG: &str = "kestrel-ed25519-secret-key";
/// First word of a public key file.
pub const PUBLIC_TAG: &str = "kestrel-ed25519-public-key";

/// A fresh signing key from the operating system's random number generator.
pub fn generate() -> Result<SigningKey> {
    use rand::TryRngCore;
    let mut seed = [0u8; 32];
    rand::rngs::OsRng.try_fill_bytes(&mut seed).map_err(|e| anyhow!("no randomness from the OS: {e}"))?;
    Ok(SigningKey::from_bytes(&seed))
}

/// `KEY` → `KEY.pub`.
pub fn public_path(secret: &Path) -> PathBuf {
    let mut s = secret.as_os_str().to_owned();
    s.push(".pub");
    PathBuf::from(s)
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// A key id (8 bytes) as 16 hex digits.
pub fn key_id_hex(public_key: &[u8; 32]) -> String {
    hex(&signature::key_id(public_key))
}

/// The public key as a Rust constant for firmware (`Model::load_verified(bytes, &KEY)`).
pub fn rust_const(public_key: &[u8; 32]) -> String {
    let bytes: Vec<String> = public_key.iter().map(|b| format!("0x{b:02x}")).collect();
    format!("pub const TRUSTED_MODEL_KEY: [u8; 32] = [{}];", bytes.join(", "))
}

/// Write `KEY` (secret, owner-only) and `KEY.pub` together (both or neither); refuses
/// to overwrite either. Returns the public key file's path.
pub fn write_keypair(secret: &Path, key: &SigningKey) -> Result<PathBuf> {
    let public = public_path(secret);
    let mut outs = crate::output::Outputs::new(&[]);
    outs.stage_new(secret, format!("{SECRET_TAG} {}\n", hex(key.as_bytes())).as_bytes(), 0o600)?;
    outs.stage_new(&public, format!("{PUBLIC_TAG} {}\n", hex(key.verifying_key().as_bytes())).as_bytes(), 0o644)?;
    outs.commit()?;
    Ok(public)
}

/// Parse a key file's text: `(tag, 32 bytes)`; errors name the file but never echo it.
fn parse_key_file(path: &Path, want: &str) -> Result<[u8; 32]> {
    let raw = crate::bounded::read(path, crate::bounded::Kind::Key)?;
    let text = std::str::from_utf8(&raw).unwrap_or("");
    let words: Vec<&str> = text.split_whitespace().collect();
    let example = format!("a line `{want} <64 hex digits>` as `kestrel keygen` writes it");
    let [tag, digits] = words[..] else {
        bail!("{} is not a kestrel key file (expected {example})", path.display());
    };
    match (tag, want) {
        (PUBLIC_TAG, SECRET_TAG) => bail!(
            "{} is a public key; signing needs the secret key file (the one without .pub)",
            path.display()
        ),
        (SECRET_TAG, PUBLIC_TAG) => {
            bail!("{} is a secret key; verifying needs the public key file (KEY.pub)", path.display())
        }
        (t, w) if t == w => {}
        _ => bail!("{} is not a kestrel key file (expected {example})", path.display()),
    }
    let d = digits.as_bytes();
    if d.len() != 64 || !d.iter().all(u8::is_ascii_hexdigit) {
        bail!("{}: malformed key (expected 64 hex digits after {want})", path.display());
    }
    let mut k = [0u8; 32];
    for (i, b) in k.iter_mut().enumerate() {
        let s = std::str::from_utf8(&d[2 * i..2 * i + 2]).unwrap_or("00");
        *b = u8::from_str_radix(s, 16).unwrap_or(0);
    }
    Ok(k)
}

/// Read a secret key file; refuses one that other users can read (as ssh does).
pub fn read_secret_key(path: &Path) -> Result<SigningKey> {
    let seed = parse_key_file(path, SECRET_TAG)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(path)?.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            bail!("{} is accessible by other users (mode {mode:o}); run chmod 600 on it", path.display());
        }
    }
    Ok(SigningKey::from_bytes(&seed))
}

/// Read a public key file.
pub fn read_public_key(path: &Path) -> Result<[u8; 32]> {
    let k = parse_key_file(path, PUBLIC_TAG)?;
    let v = VerifyingKey::from_bytes(&k).map_err(|_| anyhow!("{}: not a valid Ed25519 public key", path.display()))?;
    if v.is_weak() {
        bail!("{}: not a valid Ed25519 public key (small order)", path.display());
    }
    Ok(k)
}

/// Sign a valid, unsigned `.kes`: returns the signed file (header flag set, signature
/// block appended), checked against the key's public half before it is returned.
pub fn sign_model(model: &[u8], key: &SigningKey) -> Result<Vec<u8>> {
    let buf = AlignedBuf::from_bytes(model);
    if let Ok(Some(s)) = signature::signature_info(buf.as_slice()) {
        bail!("model is already signed (by key {}); sign the unsigned model", hex(&s.key_id));
    }
    Model::load(buf.as_slice()).map_err(|e| anyhow!("refusing to sign an invalid model: {e}"))?;
    let public = key.verifying_key().to_bytes();
    let (mut out, n) = signature::prepare_signed(model, &public).map_err(|e| anyhow!("{e}"))?;
    let s = key.sign(&out[..n]).to_bytes();
    signature::put_signature(&mut out, &s);
    let check = AlignedBuf::from_bytes(&out);
    Model::load_verified(check.as_slice(), &public).map_err(|e| anyhow!("signed model does not verify: {e}"))?;
    Ok(out)
}
