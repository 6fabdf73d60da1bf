//! `kestrel keygen`, `kestrel sign`, `kestrel verify-signature`: Ed25519-signed models.

use std::path::{Path, PathBuf};

use anyhow::{anyhow, Result};
use clap::Args as ClapArgs;
use kestrel_compiler::output::Outputs;
use kestrel_compiler::signing;
use kestrel_runtime::{Error, Model};

/// Arguments of `kestrel keygen`.
#[derive(ClapArgs)]
pub struct KeygenArgs {
    /// Secret key file to write (owner-only); the public key goes to OUTPUT.pub
    #[arg(short, long)]
    output: PathBuf,
}

/// Arguments of `kestrel sign`.
#[derive(ClapArgs)]
pub struct SignArgs {
    /// The unsigned .kes model
    model: PathBuf,
    /// Secret key file written by `kestrel keygen`
    #[arg(long)]
    key: PathBuf,
    /// Signed model to write (default: sign MODEL in place)
    #[arg(short, long)]
    output: Option<PathBuf>,
}

/// Arguments of `kestrel verify-signature`.
#[derive(ClapArgs)]
pub struct VerifyArgs {
    /// The signed .kes model
    model: PathBuf,
    /// Public key file (KEY.pub) the model must be signed with
    #[arg(long)]
    pubkey: PathBuf,
}

pub fn keygen(a: KeygenArgs) -> Result<()> {
    let key = signing::generate()?;
    let public_path = signing::write_keypair(&a.output, &key)?;
    let public = key.verifying_key().to_bytes();
    println!("secret key: {} (keep it private: mode 0600)", a.output.display());
    println!("public key: {} (key id {})", public_path.display(), signing::key_id_hex(&public));
    println!("for firmware built with kestrel-runtime's `signature` feature:");
    println!("{}", signing::rust_const(&public));
    Ok(())
}

pub fn sign(a: SignArgs) -> Result<()> {
    let key = signing::read_secret_key(&a.key)?;
    let bytes = kestrel_compiler::bounded::read(&a.model, kestrel_compiler::bounded::Kind::Kes)?;
    let signed = signing::sign_model(&bytes, &key).map_err(|e| anyhow!("{}: {e}", a.model.display()))?;
    // Without -o the model is signed in place; an explicit -o may not be an input.
    let mut outs = Outputs::new(&[&a.key]);
    if a.output.is_some() {
        outs.input(&a.model);
    }
    let out = a.output.unwrap_or_else(|| a.model.clone());
    outs.stage(&out, &signed)?;
    outs.commit()?;
    let id = signing::key_id_hex(&key.verifying_key().to_bytes());
    println!("signed {} with key {id} -> {}", a.model.display(), out.display());
    Ok(())
}

pub fn verify_signature(a: VerifyArgs) -> Result<()> {
    let buf = super::read_kes(&a.model)?;
    load_trusted(&a.model, buf.as_slice(), &a.pubkey)?;
    let public = signing::read_public_key(&a.pubkey)?;
    println!("{}: good signature by key {}; model valid", a.model.display(), signing::key_id_hex(&public));
    Ok(())
}

/// Load `bytes` (read from `model`) only if it is signed with the public key in `pubkey`:
/// the signature is checked before anything else in the file is read.
pub fn load_trusted<'a>(model: &Path, bytes: &'a [u8], pubkey: &Path) -> Result<Model<'a>> {
    let public = signing::read_public_key(pubkey)?;
    let p = model.display();
    match Model::load_verified(bytes, &public) {
        Ok(m) => Ok(m),
        Err(Error::Unsigned) => Err(anyhow!("{p}: not signed (sign it with `kestrel sign`)")),
        Err(Error::UntrustedKey { key_id }) => Err(anyhow!(
            "{p}: signed by key {key_id:016x}, not by {} (key {})",
            pubkey.display(),
            signing::key_id_hex(&public)
        )),
        Err(e) => Err(anyhow!("{p}: {e}")),
    }
}
