//! `kestrel keygen`, `sign` and `verify-signature` end to end, and every bad input
//! (key files missing, malformed or of the wrong kind, re-signing, a damaged signature
//! block) as one clear line on stderr with exit code 1, never a panic.

use std::path::{Path, PathBuf};

mod common;
use common::{kestrel, repo, tmp, fails_with, ok};

fn s(p: &Path) -> &str {
    p.to_str().expect("utf-8 path")
}

/// A key pair and a copy of the golden (unsigned) model in a fresh directory.
fn setup(name: &str) -> (PathBuf, PathBuf, PathBuf) {
    let d = tmp(name);
    let key = d.join("key");
    ok(&kestrel(&["keygen", "-o", s(&key)]));
    let model = d.join("m.kes");
    std::fs::copy(repo().join("tests/golden/mnist_cnn_28.int8.kes"), &model).expect("golden");
    (d, key, model)
}

#[test]
fn keygen_sign_verify_run() {
    let (d, key, model) = setup("ok");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&key).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "secret key must be owner-only");
    }
    let secret = std::fs::read_to_string(&key).unwrap();
    let public = std::fs::read_to_string(d.join("key.pub")).unwrap();
    assert!(secret.starts_with("kestrel-ed25519-secret-key ") && public.starts_with("kestrel-ed25519-public-key "));
    let signed = d.join("s.kes");
    ok(&kestrel(&["sign", s(&model), "--key", s(&key), "-o", s(&signed)]));
    // The private key never enters the model; the signature block adds 88 bytes.
    let unsigned = std::fs::read(&model).unwrap();
    let sb = std::fs::read(&signed).unwrap();
    assert_eq!(sb.len(), unsigned.len() + 88);
    let seed = secret.split_whitespace().nth(1).unwrap();
    let seed: Vec<u8> = (0..32).map(|i| u8::from_str_radix(&seed[2 * i..2 * i + 2], 16).unwrap()).collect();
    assert!(!sb.windows(32).any(|w| w == seed.as_slice()), "secret key bytes found in the signed model");
    let out = ok(&kestrel(&["verify-signature", s(&signed), "--pubkey", s(&d.join("key.pub"))]));
    assert!(out.contains("good signature"), "{out}");
    // A signed model still runs and inspects as before.
    let sample = repo().join("models/mnist_cnn_28/samples/sample_0.npy");
    let plain_run = ok(&kestrel(&["run", s(&signed), s(&sample)]));
    // `run --pubkey`: the signed model runs (same answer); the unsigned one and one signed
    // by another key are refused before anything is run.
    let pubkey = d.join("key.pub");
    assert_eq!(ok(&kestrel(&["run", s(&signed), s(&sample), "--pubkey", s(&pubkey)])), plain_run);
    fails_with(&kestrel(&["run", s(&model), s(&sample), "--pubkey", s(&pubkey)]), &["not signed"]);
    let other = d.join("other");
    ok(&kestrel(&["keygen", "-o", s(&other)]));
    fails_with(&kestrel(&["run", s(&signed), s(&sample), "--pubkey", s(&d.join("other.pub"))]), &["signed by key", "other.pub"]);
    // In place (no -o).
    ok(&kestrel(&["sign", s(&model), "--key", s(&key)]));
    assert_eq!(std::fs::read(&model).unwrap(), sb, "Ed25519 signatures are deterministic");
}

#[test]
fn bad_keys_are_one_line() {
    let (d, key, model) = setup("keys");
    let public = d.join("key.pub");
    let out = d.join("o.kes");
    // missing
    fails_with(&kestrel(&["sign", s(&model), "--key", "/nonexistent/key", "-o", s(&out)]), &["/nonexistent/key"]);
    fails_with(&kestrel(&["verify-signature", s(&model), "--pubkey", "/nonexistent/key.pub"]), &["/nonexistent/key.pub"]);
    // wrong kind
    fails_with(&kestrel(&["sign", s(&model), "--key", s(&public), "-o", s(&out)]), &["key.pub", "public key"]);
    fails_with(&kestrel(&["verify-signature", s(&model), "--pubkey", s(&key)]), &["secret key"]);
    // malformed: garbage, binary, short hex, an ssh key
    let bad = d.join("bad");
    for content in [
        &b"hello"[..],
        b"\xff\xfe\x00\x01binary",
        b"kestrel-ed25519-secret-key abcd",
        b"kestrel-ed25519-secret-key zz29cc5c78d82a3a248abf474de8be999c373a64cff30e3a29540b7badec5a69",
        b"ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFakeFakeFake user@host",
        b"",
    ] {
        std::fs::write(&bad, content).unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&bad, std::fs::Permissions::from_mode(0o600)).unwrap();
        }
        fails_with(&kestrel(&["sign", s(&model), "--key", s(&bad), "-o", s(&out)]), &["bad"]);
        fails_with(&kestrel(&["verify-signature", s(&model), "--pubkey", s(&bad)]), &["bad"]);
    }
    // a public key that is not a curve point
    let np = d.join("np.pub");
    let off_curve = (2u8..=255)
        .map(|b| {
            let mut k = [0u8; 32];
            k[0] = b;
            k
        })
        .find(|k| ed25519_dalek::VerifyingKey::from_bytes(k).is_err())
        .expect("a y coordinate off the curve");
    let hex: String = off_curve.iter().map(|b| format!("{b:02x}")).collect();
    std::fs::write(&np, format!("kestrel-ed25519-public-key {hex}\n")).unwrap();
    fails_with(&kestrel(&["verify-signature", s(&model), "--pubkey", s(&np)]), &["np.pub", "not a valid"]);
    // a weak (small-order) public key: the identity point
    let mut id = [0u8; 32];
    id[0] = 1;
    let hex: String = id.iter().map(|b| format!("{b:02x}")).collect();
    std::fs::write(&np, format!("kestrel-ed25519-public-key {hex}\n")).unwrap();
    fails_with(&kestrel(&["verify-signature", s(&model), "--pubkey", s(&np)]), &["np.pub", "not a valid"]);
    // a secret key others can read
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).unwrap();
        fails_with(&kestrel(&["sign", s(&model), "--key", s(&key), "-o", s(&out)]), &["chmod 600"]);
        std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).unwrap();
    }
    // keygen never overwrites
    fails_with(&kestrel(&["keygen", "-o", s(&key)]), &["exists"]);
    fails_with(&kestrel(&["keygen", "-o", "/nonexistent/dir/key"]), &["/nonexistent/dir/key"]);
}

#[test]
fn bad_models_and_signatures_are_one_line() {
    let (d, key, model) = setup("models");
    let public = d.join("key.pub");
    let signed = d.join("s.kes");
    ok(&kestrel(&["sign", s(&model), "--key", s(&key), "-o", s(&signed)]));
    let good = std::fs::read(&signed).unwrap();
    let p = d.join("x.kes");
    let verify = |bytes: &[u8]| {
        std::fs::write(&p, bytes).unwrap();
        kestrel(&["verify-signature", s(&p), "--pubkey", s(&public)])
    };
    // signing an already signed model
    fails_with(&kestrel(&["sign", s(&signed), "--key", s(&key), "-o", s(&p)]), &["already signed"]);
    // signing something that is not a valid model
    std::fs::write(&p, b"not a model").unwrap();
    fails_with(&kestrel(&["sign", s(&p), "--key", s(&key), "-o", s(&d.join("y.kes"))]), &["x.kes"]);
    // unsigned
    fails_with(&kestrel(&["verify-signature", s(&model), "--pubkey", s(&public)]), &["m.kes", "not signed"]);
    // signature block with a bad length: cut short, one byte too long, length field wrong
    fails_with(&verify(&good[..good.len() - 1]), &["truncated"]);
    let mut longer = good.clone();
    longer.push(0);
    fails_with(&verify(&longer), &["signature block", "trailing"]);
    let mut lenfield = good.clone();
    let at = good.len() - 88 + 8;
    lenfield[at] = 96;
    fails_with(&verify(&lenfield), &["signature block", "length"]);
    // tampered body and tampered signature
    let mut body = good.clone();
    body[2000] ^= 1;
    fails_with(&verify(&body), &["signature does not match"]);
    let mut sig = good.clone();
    let n = sig.len();
    sig[n - 1] ^= 0x80;
    fails_with(&verify(&sig), &["signature does not match"]);
    // signed by another key
    let other = d.join("other");
    ok(&kestrel(&["keygen", "-o", s(&other)]));
    fails_with(&kestrel(&["verify-signature", s(&signed), "--pubkey", s(&d.join("other.pub"))]), &["signed by key", "other.pub"]);
    // A plain load still refuses a damaged block (run and inspect).
    std::fs::write(&p, &lenfield).unwrap();
    let sample = repo().join("models/mnist_cnn_28/samples/sample_0.npy");
    fails_with(&kestrel(&["run", s(&p), s(&sample)]), &["signature block"]);
}
