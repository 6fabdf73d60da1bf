//! Kestrel on a Cortex-M4: classify embedded inputs with an embedded `.kes` in a static
//! arena sized from the model at build time; results through semihosting.
//! No allocator, no heap: the model is read in place from flash.

#![no_std]
#![no_main]

use cortex_m as _;
use cortex_m_rt::entry;
use cortex_m_semihosting::{debug, hprintln};
use kestrel_runtime::Model;
use panic_semihosting as _;

include!(concat!(env!("OUT_DIR"), "/consts.rs"));

#[repr(C, align(16))]
struct Aligned<T: ?Sized>(T);

static MODEL: &Aligned<[u8]> = &Aligned(*include_bytes!(concat!(env!("OUT_DIR"), "/model.kes")));
static SAMPLE_BYTES: &Aligned<[u8]> = &Aligned(*include_bytes!(concat!(env!("OUT_DIR"), "/samples.bin")));
static mut ARENA: Aligned<[u8; ARENA_SIZE]> = Aligned([0; ARENA_SIZE]);

#[entry]
fn main() -> ! {
    // SAFETY: `main` runs once, single-threaded, and is the only code that touches ARENA;
    // no interrupt handler uses it.
    let arena: &mut [u8] = unsafe { &mut (*core::ptr::addr_of_mut!(ARENA)).0 };
    let code = match classify(arena) {
        Ok(()) => debug::EXIT_SUCCESS,
        Err(e) => {
            hprintln!("error: {}", e);
            debug::EXIT_FAILURE
        }
    };
    debug::exit(code);
    loop {}
}

fn classify(arena: &mut [u8]) -> Result<(), kestrel_runtime::Error> {
    let m = Model::load(&MODEL.0)?;
    hprintln!("kestrel-cortex-m4: model {} ({} ops, arena {} bytes)", MODEL_PATH, m.n_ops(), m.arena_size());
    let mut x = [0f32; INPUT_LEN];
    let mut y = [0f32; 64];
    let n_out = m.output().len().min(y.len());
    for (i, name) in SAMPLES.iter().enumerate() {
        let bytes = &SAMPLE_BYTES.0[i * INPUT_LEN * 4..(i + 1) * INPUT_LEN * 4];
        for (v, c) in x.iter_mut().zip(bytes.chunks_exact(4)) {
            *v = f32::from_le_bytes([c[0], c[1], c[2], c[3]]);
        }
        m.set_input_f32(arena, &x)?;
        m.run(arena)?;
        m.output_f32(arena, &mut y[..n_out])?;
        let best = (0..n_out).fold(0, |b, k| if y[k] > y[b] { k } else { b });
        let label = m.labels().get(best).unwrap_or("?");
        hprintln!("{}: {} {} {}", name, best, label, y[best]);
    }
    Ok(())
}
