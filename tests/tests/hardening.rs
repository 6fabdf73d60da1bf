//! Signed models and runtime misuse: `Model::load_verified` refuses unsigned models, other
//! signers and every single-byte change of a signed model, and checks the signature before
//! it reads the contents; a plain `Model::load` still reads signed models; feeding a frame
//! of another size is a typed error.

use ed25519_dalek::{Signer, SigningKey};
use kestrel_runtime::AlignedBuf;
use kestrel_runtime::format::{self, sig};
use kestrel_runtime::signature;
use kestrel_runtime::{Error, Model};

fn golden() -> Vec<u8> {
    let p = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("golden/mnist_cnn_28.int8.kes");
    std::fs::read(p).expect("golden model")
}

fn key(seed: u8) -> (SigningKey, [u8; 32]) {
    let k = SigningKey::from_bytes(&[seed; 32]);
    let p = k.verifying_key().to_bytes();
    (k, p)
}

fn sign(unsigned: &[u8], k: &SigningKey) -> Vec<u8> {
    let (mut out, n) = signature::prepare_signed(unsigned, &k.verifying_key().to_bytes()).expect("prepare");
    let s = k.sign(&out[..n]).to_bytes();
    signature::put_signature(&mut out, &s);
    out
}

fn verified(bytes: &[u8], trusted: &[u8; 32]) -> Result<(), Error> {
    let b = AlignedBuf::from_bytes(bytes);
    Model::load_verified(b.as_slice(), trusted).map(|_| ())
}

fn load(bytes: &[u8]) -> Result<(), Error> {
    let b = AlignedBuf::from_bytes(bytes);
    Model::load(b.as_slice()).map(|_| ())
}

#[test]
fn signed_models_load_and_verify() {
    let (k, pk) = key(1);
    let unsigned = golden();
    let signed = sign(&unsigned, &k);
    assert_eq!(signed.len(), unsigned.len() + sig::LEN);
    assert_eq!(&signed[..format::header::FLAGS], &unsigned[..format::header::FLAGS]);
    assert_eq!(&signed[format::header::FLAGS + 4..unsigned.len()], &unsigned[format::header::FLAGS + 4..]);
    assert_eq!(signed[format::header::FLAGS] & 1, 1, "flag bit 0 marks the signature block");
    verified(&signed, &pk).expect("verifies");
    load(&signed).expect("a plain load reads signed models");
    let info = signature::signature_info(&signed).expect("info").expect("signed");
    assert_eq!(info.key_id, signature::key_id(&pk));
    assert_eq!(signature::signature_info(&unsigned).expect("info"), None);
    // The signed model runs like the unsigned one.
    let b = AlignedBuf::from_bytes(&signed);
    let m = Model::load_verified(b.as_slice(), &pk).expect("load");
    let mut arena = AlignedBuf::zeroed(m.arena_size());
    m.set_input_f32(arena.as_mut_slice(), &vec![0.25; m.input().len()]).expect("input");
    m.run(arena.as_mut_slice()).expect("run");
    // Signing twice is refused.
    let e = signature::prepare_signed(&signed, &pk).expect_err("re-signing");
    assert!(matches!(e, Error::AlreadySigned { .. }), "{e}");
}

#[test]
fn unsigned_and_foreign_models_are_refused() {
    let (k, pk) = key(1);
    let (_, other) = key(2);
    let unsigned = golden();
    assert_eq!(verified(&unsigned, &pk), Err(Error::Unsigned));
    let signed = sign(&unsigned, &k);
    let e = verified(&signed, &other).expect_err("foreign key");
    assert_eq!(e, Error::UntrustedKey { key_id: u64::from_be_bytes(signature::key_id(&pk)) });
    // Claiming the trusted key's id does not help a signature made with another key.
    let (k2, _) = key(2);
    let mut forged = sign(&unsigned, &k2);
    let at = unsigned.len() + sig::KEY_ID;
    forged[at..at + sig::KEY_ID_LEN].copy_from_slice(&signature::key_id(&pk));
    assert_eq!(verified(&forged, &pk), Err(Error::BadSignature));
    // A trusted key that is not a curve point is a typed error too.
    let mut bad = pk;
    let found = (0u8..=255).find(|b| {
        bad[31] = *b;
        ed25519_dalek::VerifyingKey::from_bytes(&bad).is_err()
    });
    if found.is_some() {
        let s = sign(&unsigned, &SigningKey::from_bytes(&[1; 32]));
        assert_eq!(verified(&s, &bad), Err(Error::BadPublicKey));
    }
}

/// The signature is checked before the contents: a damaged body behind a valid header is
/// reported as a signature problem (unsigned, other key, bad signature), never reached by
/// the validator; with the right key and a valid signature the validator then refuses it.
#[test]
fn signature_is_checked_before_the_contents() {
    let (k, pk) = key(1);
    let (_, other) = key(2);
    let mut broken = golden();
    // A section table entry pointing far out of the file, checksum re-sealed.
    broken[format::HEADER_LEN + 4..format::HEADER_LEN + 8].copy_from_slice(&0x7fff_0000u32.to_le_bytes());
    let crc = kestrel_runtime::crc32(&broken[format::HEADER_LEN..]);
    broken[20..24].copy_from_slice(&crc.to_le_bytes());
    assert!(matches!(load(&broken), Err(Error::BadSection { .. })));
    assert_eq!(verified(&broken, &pk), Err(Error::Unsigned));
    let signed = sign(&broken, &k);
    assert!(matches!(verified(&signed, &other), Err(Error::UntrustedKey { .. })));
    let mut tampered = signed.clone();
    tampered[100] ^= 1;
    assert_eq!(verified(&tampered, &pk), Err(Error::BadSignature));
    assert!(matches!(verified(&signed, &pk), Err(Error::BadSection { .. })), "validated after the signature");
}

/// Every byte of a signed model, changed three ways (xor 0x01, 0x80, 0xFF), and every byte
/// of its header and signature block changed to each of the 255 other values: all refused.
/// (`scripts/measure-hardening.sh` changes every byte to every value.)
#[test]
fn every_single_byte_change_of_a_signed_model_is_refused() {
    let (k, pk) = key(1);
    let signed = sign(&golden(), &k);
    let file_len = signed.len() - sig::LEN;
    let mut checked = 0usize;
    for i in 0..signed.len() {
        let all_values = i < format::HEADER_LEN || i >= file_len;
        for v in 0..=255u8 {
            let changed = if all_values { v } else { signed[i] ^ [0x01, 0x80, 0xFF][v as usize % 3] };
            if changed == signed[i] || (!all_values && v >= 3) {
                continue;
            }
            let mut b = signed.clone();
            b[i] = changed;
            assert!(verified(&b, &pk).is_err(), "changing byte {i} to {changed:#04x} was accepted");
            checked += 1;
        }
    }
    eprintln!("{checked} single-byte changes of a {}-byte signed model, all refused", signed.len());
}

#[test]
fn every_truncation_of_a_signed_model_is_refused() {
    let (k, pk) = key(1);
    let signed = sign(&golden(), &k);
    for len in 0..signed.len() {
        let e = verified(&signed[..len], &pk).expect_err("truncated model accepted");
        assert!(matches!(e, Error::Truncated { .. } | Error::Unsigned | Error::BadSection { .. }), "len {len}: {e}");
        assert!(load(&signed[..len]).is_err(), "len {len}: plain load accepted a truncation");
    }
    let mut longer = signed.clone();
    longer.push(0);
    assert!(matches!(verified(&longer, &pk), Err(Error::BadSignatureBlock { .. })));
    assert!(load(&longer).is_err());
}

/// A plain load checks the signature block's structure (not the signature itself).
#[test]
fn plain_load_checks_the_block_structure() {
    let (k, _) = key(1);
    let signed = sign(&golden(), &k);
    let file_len = signed.len() - sig::LEN;
    for (off, what) in [(0, "magic"), (sig::BLOCK_LEN, "length"), (sig::ALG, "algorithm")] {
        let mut b = signed.clone();
        b[file_len + off] ^= 0x10;
        assert!(matches!(load(&b), Err(Error::BadSignatureBlock { .. })), "{what}");
    }
    let mut b = golden();
    b[format::header::FLAGS] |= 2;
    assert!(matches!(load(&b), Err(Error::BadSection { .. })), "unknown flag bits are refused");
}

#[test]
fn frames_of_another_size_are_refused() {
    let bytes = golden();
    let b = AlignedBuf::from_bytes(&bytes);
    let m = Model::load(b.as_slice()).expect("load");
    let mut arena = AlignedBuf::zeroed(m.arena_size());
    let x = vec![0.5f32; 784];
    m.set_input_frame_f32(arena.as_mut_slice(), [28, 28, 1], &x).expect("right size");
    // Same element count, other shape: still refused.
    let e = m.set_input_frame_f32(arena.as_mut_slice(), [14, 56, 1], &x).expect_err("14x56 accepted");
    assert_eq!(e, Error::InputShape { expected: [28, 28, 1], got: [14, 56, 1] });
    assert!(e.to_string().contains("28x28x1"), "{e}");
    let e = m.set_input_frame_f32(arena.as_mut_slice(), [32, 32, 3], &vec![0.0; 3072]).expect_err("32x32x3");
    assert!(matches!(e, Error::InputShape { .. }));
    let e = m.set_input_frame_f32(arena.as_mut_slice(), [28, 28, 1], &x[..700]).expect_err("short data");
    assert_eq!(e, Error::WrongLength { expected: 784, got: 700 });
}

fn median_micros(mut f: impl FnMut(), reps: usize) -> f64 {
    let mut t: Vec<f64> = (0..reps)
        .map(|_| {
            let s = std::time::Instant::now();
            f();
            s.elapsed().as_secs_f64() * 1e6
        })
        .collect();
    t.sort_by(f64::total_cmp);
    t[reps / 2]
}

/// Measurements for SECURITY.md (`scripts/measure-hardening.sh`; not part of the suite):
/// every byte of a signed model changed to every other value, and the signature check's
/// cost per load (load_verified minus load) on the golden model and on larger files.
#[test]
#[ignore]
fn measure_signed_model_hardening() {
    let (k, pk) = key(1);
    let signed = sign(&golden(), &k);
    let start = std::time::Instant::now();
    let (mut refused, mut total) = (0usize, 0usize);
    let mut b = AlignedBuf::from_bytes(&signed);
    for i in 0..signed.len() {
        for v in 0..=255u8 {
            if v == signed[i] {
                continue;
            }
            b.as_mut_slice()[i] = v;
            total += 1;
            refused += Model::load_verified(b.as_slice(), &pk).is_err() as usize;
        }
        b.as_mut_slice()[i] = signed[i];
    }
    println!(
        "exhaustive: {refused} of {total} single-byte changes of the {}-byte signed golden model refused ({:.0} s)",
        signed.len(),
        start.elapsed().as_secs_f64()
    );
    assert_eq!(refused, total);
    // Cost per load: the golden model, then the same header over bodies of 1 and 16 MiB
    // (the checksum fails after the signature passed, so both loads read every byte once).
    println!("| file | load | load_verified | signature check |");
    let gold = golden();
    for size in [gold.len(), 1 << 20, 16 << 20] {
        let mut unsigned = gold.clone();
        unsigned.resize(size, 0x5a);
        unsigned[16..20].copy_from_slice(&(size as u32).to_le_bytes());
        let s = sign(&unsigned, &k);
        let buf = AlignedBuf::from_bytes(&s);
        let reps = if size > 1 << 20 { 21 } else { 201 };
        let plain = median_micros(|| { let _ = std::hint::black_box(Model::load(buf.as_slice())); }, reps);
        let verified = median_micros(|| { let _ = std::hint::black_box(Model::load_verified(buf.as_slice(), &pk)); }, reps);
        assert!(!matches!(Model::load_verified(buf.as_slice(), &pk), Err(Error::BadSignature)));
        println!("| {} B | {plain:.1} µs | {verified:.1} µs | {:.1} µs |", s.len(), verified - plain);
    }
}
