//! A thread pool for std hosts (feature `std`): [`Parallel`] over persistent workers, so a
//! split op costs a wake-up, not a thread spawn, and inference allocates nothing.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};
use std::vec::Vec;

use crate::parallel::Parallel;

type Task = dyn Fn(usize, &mut [u8]) + Sync;

/// One `for_chunks` call as the workers see it.
#[derive(Clone, Copy)]
struct Job {
    f: *const Task,
    base: *mut u8,
    len: usize,
    chunk: usize,
    n: usize,
}

// SAFETY: a Job is only dereferenced while the `for_chunks` call that published it is
// blocked waiting for every chunk to finish, so the closure and the buffer outlive every
// use; the closure is `Sync`, and each chunk (a disjoint part of the buffer) goes to one
// thread only.
unsafe impl Send for Job {}

struct State {
    job: Option<Job>,
    next: usize,
    remaining: usize,
    panicked: bool,
    shutdown: bool,
}

struct Shared {
    state: Mutex<State>,
    work: Condvar,
    done: Condvar,
    generation: AtomicU64,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Run chunks of the current job until none is left; `st` is the held lock.
    fn work_on<'a>(&'a self, mut st: MutexGuard<'a, State>) -> MutexGuard<'a, State> {
        while let Some(job) = st.job.filter(|j| st.next < j.n) {
            let i = st.next;
            st.next += 1;
            drop(st);
            let start = i * job.chunk;
            let len = job.chunk.min(job.len - start);
            // SAFETY: see `Job`: chunk `i` is `[start, start + len)` of the live buffer,
            // handed to this thread alone; the closure is alive until `remaining` is 0.
            let ok = catch_unwind(AssertUnwindSafe(|| unsafe {
                (*job.f)(i, core::slice::from_raw_parts_mut(job.base.add(start), len))
            }))
            .is_ok();
            st = self.lock();
            st.panicked |= !ok;
            st.remaining -= 1;
            if st.remaining == 0 {
                st.job = None;
                self.done.notify_all();
            }
        }
        st
    }
}

/// Persistent worker threads; the calling thread is one of the [`ThreadPool::workers`].
pub struct ThreadPool {
    shared: Arc<Shared>,
    handles: Vec<JoinHandle<()>>,
}

impl core::fmt::Debug for ThreadPool {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "ThreadPool({} workers)", self.workers())
    }
}

/// How long an idle worker spins before it sleeps (wake-ups cost tens of µs; ops of one
/// inference follow each other closely).
const SPIN: Duration = Duration::from_micros(200);

fn worker(shared: Arc<Shared>) {
    let mut seen = 0u64;
    loop {
        let t0 = Instant::now();
        while shared.generation.load(Ordering::Acquire) == seen && t0.elapsed() < SPIN {
            core::hint::spin_loop();
        }
        let mut st = shared.lock();
        loop {
            if st.shutdown {
                return;
            }
            let g = shared.generation.load(Ordering::Acquire);
            if g != seen {
                seen = g;
                break;
            }
            st = shared.work.wait(st).unwrap_or_else(|e| e.into_inner());
        }
        drop(shared.work_on(st));
    }
}

impl ThreadPool {
    /// A pool of `threads` workers (at least 1): `threads - 1` threads are spawned, the
    /// thread calling [`Parallel::for_chunks`] is the last. When the system refuses a
    /// thread the pool keeps the ones it has ([`Parallel::workers`] says how many).
    pub fn new(threads: usize) -> ThreadPool {
        let shared = Arc::new(Shared {
            state: Mutex::new(State { job: None, next: 0, remaining: 0, panicked: false, shutdown: false }),
            work: Condvar::new(),
            done: Condvar::new(),
            generation: AtomicU64::new(0),
        });
        let handles = (1..threads.max(1))
            .map_while(|i| {
                let s = Arc::clone(&shared);
                std::thread::Builder::new().name(std::format!("kestrel-{i}")).spawn(move || worker(s)).ok()
            })
            .collect();
        ThreadPool { shared, handles }
    }
}

impl Parallel for ThreadPool {
    fn workers(&self) -> usize {
        self.handles.len() + 1
    }

    fn for_chunks(&self, out: &mut [u8], chunk_len: usize, f: &(dyn Fn(usize, &mut [u8]) + Sync)) {
        let chunk = chunk_len.max(1);
        let n = out.len().div_ceil(chunk);
        if n <= 1 || self.handles.is_empty() {
            for (i, c) in out.chunks_mut(chunk).enumerate() {
                f(i, c);
            }
            return;
        }
        // SAFETY: only the lifetime is erased; this call doesn't return (below) before
        // every chunk has finished, so no worker uses `f` after it goes out of scope.
        let f: &'static Task = unsafe { core::mem::transmute::<&(dyn Fn(usize, &mut [u8]) + Sync), &'static Task>(f) };
        let mut st = self.shared.lock();
        st.job = Some(Job { f, base: out.as_mut_ptr(), len: out.len(), chunk, n });
        st.next = 0;
        st.remaining = n;
        st.panicked = false;
        self.shared.generation.fetch_add(1, Ordering::Release);
        self.shared.work.notify_all();
        st = self.shared.work_on(st);
        while st.remaining > 0 {
            st = self.shared.done.wait(st).unwrap_or_else(|e| e.into_inner());
        }
        let panicked = st.panicked;
        drop(st);
        assert!(!panicked, "a kernel panicked on a worker thread");
    }
}

impl Drop for ThreadPool {
    fn drop(&mut self) {
        self.shared.lock().shutdown = true;
        self.shared.generation.fetch_add(1, Ordering::Release);
        self.shared.work.notify_all();
        for h in self.handles.drain(..) {
            let _ = h.join();
        }
    }
}
