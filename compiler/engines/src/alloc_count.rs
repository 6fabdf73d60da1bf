//! A counting global allocator for the `kestrel` binary, so `kestrel bench` can report heap
//! allocations per inference. Counting is off (one relaxed load per allocation) until a
//! benchmark turns it on.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

static ON: AtomicBool = AtomicBool::new(false);
static COUNT: AtomicU64 = AtomicU64::new(0);

/// The system allocator, counting `alloc`/`realloc` calls while counting is on. Install it
/// with `#[global_allocator]`.
#[derive(Debug, Default, Clone, Copy)]
pub struct Counting;

// SAFETY: every call is forwarded to the system allocator unchanged; the counter is a
// side effect that allocates nothing.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        if ON.load(Ordering::Relaxed) {
            COUNT.fetch_add(1, Ordering::Relaxed);
        }
        // SAFETY: the caller upholds `GlobalAlloc::alloc`'s contract, which we pass on.
        unsafe { System.alloc(l) }
    }
    unsafe fn alloc_zeroed(&self, l: Layout) -> *mut u8 {
        if ON.load(Ordering::Relaxed) {
            COUNT.fetch_add(1, Ordering::Relaxed);
        }
        // SAFETY: as in `alloc`.
        unsafe { System.alloc_zeroed(l) }
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        // SAFETY: as in `alloc`; `p` came from this allocator, i.e. from `System`.
        unsafe { System.dealloc(p, l) }
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, n: usize) -> *mut u8 {
        if ON.load(Ordering::Relaxed) {
            COUNT.fetch_add(1, Ordering::Relaxed);
        }
        // SAFETY: as in `dealloc`.
        unsafe { System.realloc(p, l, n) }
    }
}

/// Turn counting on and report whether [`Counting`] is the global allocator (an allocation
/// made now is seen).
pub fn start() -> bool {
    ON.store(true, Ordering::SeqCst);
    let before = COUNT.load(Ordering::SeqCst);
    std::hint::black_box(Box::new(0u64));
    COUNT.load(Ordering::SeqCst) > before
}

/// Allocations counted so far (all threads).
pub fn count() -> u64 {
    COUNT.load(Ordering::SeqCst)
}
