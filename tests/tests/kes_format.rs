//! The `.kes` format: a golden file pins the byte layout; every single-byte corruption and
//! every truncation is rejected with an error (never a panic); misuse gives typed errors.

use kestrel_runtime::AlignedBuf;
use kestrel_runtime::format::{self, section};
use kestrel_runtime::{Error, Model};
use kestrel_tests::*;

fn small_model() -> Vec<u8> {
    let g = import_optimized(&reference_onnx("mnist_cnn_28"), true);
    let (kes, _) = compile_int8(&g, &inputs(&g, 8, 3));
    kes.as_slice().to_vec()
}

fn load(bytes: &[u8]) -> Result<(), Error> {
    let b = AlignedBuf::from_bytes(bytes);
    Model::load(b.as_slice()).map(|_| ())
}

#[test]
fn golden_file_pins_the_layout() {
    let bytes = small_model();
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("golden/mnist_cnn_28.int8.kes");
    if std::env::var_os("KESTREL_BLESS").is_some() {
        std::fs::write(&path, &bytes).expect("write golden");
    }
    let golden = std::fs::read(&path).expect("golden file tests/golden/mnist_cnn_28.int8.kes");
    assert!(
        golden == bytes,
        "the .kes bytes changed; if intended, regenerate with KESTREL_BLESS=1 cargo test -p kestrel-tests --test kes_format (and bump FORMAT_VERSION if the layout changed)"
    );
    // The layout itself: magic, version, header length, section table right after the header.
    assert_eq!(&golden[..8], b"KESTREL\0");
    assert_eq!(u16::from_le_bytes([golden[8], golden[9]]), format::FORMAT_VERSION);
    assert_eq!(u16::from_le_bytes([golden[10], golden[11]]) as usize, format::HEADER_LEN);
    let n = u32::from_le_bytes(golden[24..28].try_into().unwrap()) as usize;
    let mut kinds = vec![];
    for i in 0..n {
        let e = format::HEADER_LEN + i * format::SECTION_ENTRY_LEN;
        let kind = u32::from_le_bytes(golden[e..e + 4].try_into().unwrap());
        let off = u32::from_le_bytes(golden[e + 4..e + 8].try_into().unwrap()) as usize;
        if kind == section::WEIGHTS {
            assert_eq!(off % format::WEIGHT_ALIGN, 0, "weights must be 64-byte aligned");
        }
        kinds.push(kind);
    }
    kinds.sort();
    assert_eq!(kinds, vec![1, 2, 3, 4, 5, 6]);
    let b = AlignedBuf::from_bytes(&golden);
    let m = Model::load(b.as_slice()).expect("golden loads");
    assert_eq!(m.input().dims, [1, 28, 28, 1]);
    assert_eq!(m.output().dims, [1, 1, 1, 10]);
}

#[test]
fn every_single_byte_corruption_is_rejected() {
    let bytes = small_model();
    load(&bytes).expect("pristine model loads");
    for i in 0..bytes.len() {
        for flip in [0x01u8, 0x80, 0xFF] {
            let mut b = bytes.clone();
            b[i] ^= flip;
            assert!(load(&b).is_err(), "corrupting byte {i} (xor {flip:#x}) was accepted");
        }
    }
}

#[test]
fn every_truncation_is_rejected() {
    let bytes = small_model();
    for len in 0..bytes.len() {
        let e = load(&bytes[..len]).expect_err("truncated model accepted");
        assert!(matches!(e, Error::Truncated { .. } | Error::BadSection { .. }), "len {len}: {e}");
    }
    let mut longer = bytes.clone();
    longer.push(0);
    assert!(load(&longer).is_err(), "trailing garbage accepted");
}

#[test]
fn newer_version_is_a_typed_error() {
    let mut b = small_model();
    b[8..10].copy_from_slice(&(format::FORMAT_VERSION + 1).to_le_bytes());
    let e = load(&b).expect_err("newer version accepted");
    assert_eq!(e, Error::UnsupportedVersion { found: format::FORMAT_VERSION + 1, supported: format::FORMAT_VERSION });
    assert!(e.to_string().contains("newer"), "{e}");
}

#[test]
fn misuse_is_a_typed_error() {
    let bytes = small_model();
    let b = AlignedBuf::from_bytes(&bytes);
    let m = Model::load(b.as_slice()).expect("load");
    let need = m.arena_size();
    let mut small = AlignedBuf::zeroed(need - 1);
    let e = m.run(small.as_mut_slice()).expect_err("small arena accepted");
    assert_eq!(e, Error::ArenaTooSmall { needed: need, got: need - 1 });
    assert!(e.to_string().contains(&need.to_string()), "error must give the size needed: {e}");
    let mut arena = AlignedBuf::zeroed(need + 1);
    let e = m.run(&mut arena.as_mut_slice()[1..]).expect_err("misaligned arena accepted");
    assert!(matches!(e, Error::ArenaMisaligned { .. }), "{e}");
    let mut arena = AlignedBuf::zeroed(need);
    let e = m.set_input_f32(arena.as_mut_slice(), &[0.0; 10]).expect_err("wrong input length accepted");
    assert_eq!(e, Error::WrongLength { expected: 784, got: 10 });
    let mut out = [0f32; 3];
    assert!(matches!(m.output_f32(arena.as_slice(), &mut out), Err(Error::WrongLength { .. })));
    // A model at a misaligned address is refused, not read unaligned.
    let mut shifted = AlignedBuf::zeroed(bytes.len() + 1);
    shifted.as_mut_slice()[1..].copy_from_slice(&bytes);
    assert!(matches!(Model::load(&shifted.as_slice()[1..]), Err(Error::ModelMisaligned { .. })));
}

/// Beyond the checksum: mutate every byte of the body, re-seal the checksum so the
/// structural validator is what has to catch it, and run whatever still loads. Nothing may
/// panic or read out of bounds (the arena is exactly the size the model claims).
#[test]
fn resealed_mutations_never_panic() {
    let bytes = small_model();
    let mut accepted = 0usize;
    let mut panics = vec![];
    for i in format::HEADER_LEN..bytes.len() {
        for v in [bytes[i] ^ 0x01, bytes[i] ^ 0x80, 0x00, 0xFF, bytes[i].wrapping_add(16)] {
            if v == bytes[i] {
                continue;
            }
            let mut b = bytes.clone();
            b[i] = v;
            let crc = kestrel_runtime::crc32(&b[format::HEADER_LEN..]);
            b[20..24].copy_from_slice(&crc.to_le_bytes());
            let buf = AlignedBuf::from_bytes(&b);
            let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                let Ok(m) = Model::load(buf.as_slice()) else { return false };
                if m.arena_size() > 64 << 20 {
                    return true;
                }
                let mut arena = AlignedBuf::zeroed(m.arena_size());
                let x = vec![0.5f32; m.input().len()];
                let _ = m.set_input_f32(arena.as_mut_slice(), &x);
                let _ = m.run(arena.as_mut_slice());
                let mut y = vec![0f32; m.output().len()];
                let _ = m.output_f32(arena.as_slice(), &mut y);
                true
            }));
            match r {
                Ok(true) => accepted += 1,
                Ok(false) => {}
                Err(_) => panics.push((i, v)),
            }
        }
    }
    eprintln!("{accepted} re-sealed mutations still loaded (weights, scales, names) and ran without panicking");
    assert!(panics.is_empty(), "mutations that panicked (offset, value): {panics:?}");
}
