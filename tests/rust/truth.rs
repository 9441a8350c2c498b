// Ground truth for the Rust tests (tests/cli/rust_*.sh, checked by tests/rust/truth.py):
// each thread slot logs what the program asked its allocator for, in static memory so
// that logging never allocates, between two marker allocations whose sizes the checker
// finds in the trace. Printed as "T slot what size old align" lines at the end, where
// what is A (alloc), Z (alloc_zeroed), R (realloc: old -> size) or D (dealloc).
// Kept compatible with rustc 1.63 (Debian's): no black_box, no inline const.
#![allow(dead_code)]

use std::alloc::Layout;
use std::cell::{Cell, UnsafeCell};
use std::sync::atomic::{AtomicUsize, Ordering};

pub const SLOTS: usize = 9;
const CAP: usize = 4096;
pub const NO_SLOT: usize = usize::MAX;
const MARK: usize = 900_000; // slot k: begin MARK + 2k, end MARK + 2k + 1

#[derive(Clone, Copy)]
struct Op {
    what: u8,
    size: usize,
    old: usize,
    align: usize,
}

pub struct Log {
    ops: UnsafeCell<[Op; CAP]>,
    n: AtomicUsize,
}
// Each log is written by the one thread that owns its slot, read after joining it.
unsafe impl Sync for Log {}

const EMPTY: Op = Op { what: 0, size: 0, old: 0, align: 0 };
#[allow(clippy::declare_interior_mutable_const)]
const NEW_LOG: Log = Log { ops: UnsafeCell::new([EMPTY; CAP]), n: AtomicUsize::new(0) };
static LOGS: [Log; SLOTS] = [NEW_LOG; SLOTS];

thread_local! {
    // the slot this thread logs to while inside its window (allocator-level logging)
    static ARMED: Cell<usize> = const { Cell::new(NO_SLOT) };
}

pub fn log(slot: usize, what: u8, size: usize, old: usize, align: usize) {
    let l = &LOGS[slot];
    let i = l.n.load(Ordering::Relaxed);
    assert!(i < CAP, "truth log full");
    // SAFETY: slot owned by this thread (see Log)
    unsafe { (*l.ops.get())[i] = Op { what, size, old, align } };
    l.n.store(i + 1, Ordering::Relaxed);
}

/// Called by a counting global allocator for every call: logs it when this thread is
/// inside its window.
pub fn record(what: u8, size: usize, old: usize, align: usize) {
    let slot = ARMED.with(|a| a.get());
    if slot != NO_SLOT {
        log(slot, what, size, old, align);
    }
}

fn marker(size: usize) {
    let layout = Layout::from_size_align(size, 1).unwrap();
    unsafe {
        let p = std::alloc::alloc(layout);
        assert!(!p.is_null());
        std::ptr::write_volatile(p, 1);
        std::alloc::dealloc(p, layout);
    }
}

/// Opens slot's window; with `arm`, allocator-level logging starts too.
pub fn begin(slot: usize, arm: bool) {
    marker(MARK + 2 * slot);
    if arm {
        ARMED.with(|a| a.set(slot));
    }
}

/// Closes slot's window. Touches the thread-local only when armed: in a dlopened
/// library its first use mallocs the thread's TLS block (glibc's __tls_get_addr).
pub fn end(slot: usize, armed: bool) {
    if armed {
        ARMED.with(|a| a.set(NO_SLOT));
    }
    marker(MARK + 2 * slot + 1);
}

/// Keeps the optimizer from removing an allocation whose contents are never read.
pub fn keep<T>(x: T) -> T {
    let r = unsafe { std::ptr::read_volatile(&x) };
    std::mem::forget(x);
    r
}

pub fn print() {
    for (slot, l) in LOGS.iter().enumerate() {
        let n = l.n.load(Ordering::Relaxed);
        for i in 0..n {
            let op = unsafe { (*l.ops.get())[i] };
            println!("T {} {} {} {} {}", slot, op.what as char, op.size, op.old, op.align);
        }
    }
}
