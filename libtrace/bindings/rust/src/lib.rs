//! Exact allocation reports for alloctrace, whatever the global allocator and the build.
//!
//! alloctrace sees a Rust program's allocations through libc, and through the allocator
//! shims it patches (`__rust_alloc`…) when they are plain jumps. A custom
//! `#[global_allocator]` in a release build of rustc >= 1.71, any LTO build, or an
//! allocator that does not use libc leaves it only the libc calls, without Rust's
//! alignment and old sizes, or nothing at all. Wrapping the allocator in [`Traced`]
//! reports each call with the size and alignment Rust asked for:
//!
//! ```ignore
//! use std::alloc::System;
//! #[global_allocator]
//! static GLOBAL: alloctrace::Traced<System> = alloctrace::Traced::new(System);
//! ```
//!
//! The recorder's C API (`alloctrace/api.h`: `atr_report_alloc`, `atr_report_free`,
//! `atr_report_realloc_begin/_end`, `atr_suppress_begin/_end`) is looked up with
//! `dlsym` on first use. Without liballoctrace.so preloaded every report is a no-op: the
//! program behaves and performs as with the inner allocator alone (one atomic load per
//! call). The inner allocator's own calls into libc are suppressed so that each block
//! is counted once. No dependencies; `no_std`.
#![no_std]

use core::alloc::{GlobalAlloc, Layout};
use core::ffi::c_void;
use core::sync::atomic::{AtomicUsize, Ordering};

type CInt = i32; // core::ffi::c_int needs rustc 1.64

extern "C" {
    // glibc's dlsym (libc.so.6 since 2.34, libdl before; std links both)
    fn dlsym(handle: *mut c_void, symbol: *const u8) -> *mut c_void;
}

const RTLD_DEFAULT: *mut c_void = core::ptr::null_mut();

type ReportAlloc = unsafe extern "C" fn(*mut c_void, usize, usize);
type ReportFree = unsafe extern "C" fn(*mut c_void);
type ReallocBegin = unsafe extern "C" fn(*mut c_void) -> CInt;
type ReallocEnd = unsafe extern "C" fn(CInt, *mut c_void, *mut c_void, usize, usize);
type SuppressBegin = unsafe extern "C" fn() -> CInt;
type SuppressEnd = unsafe extern "C" fn(CInt);

const NAMES: [&[u8]; 6] = [
    b"atr_report_alloc\0",
    b"atr_report_free\0",
    b"atr_report_realloc_begin\0",
    b"atr_report_realloc_end\0",
    b"atr_suppress_begin\0",
    b"atr_suppress_end\0",
];

const UNRESOLVED: usize = 0;
const ABSENT: usize = 1;
const PRESENT: usize = 2;

static STATE: AtomicUsize = AtomicUsize::new(UNRESOLVED);
#[allow(clippy::declare_interior_mutable_const)]
const NULL_FN: AtomicUsize = AtomicUsize::new(0);
static FNS: [AtomicUsize; 6] = [NULL_FN; 6];

#[derive(Clone, Copy)]
struct Api {
    alloc: ReportAlloc,
    free: ReportFree,
    realloc_begin: ReallocBegin,
    realloc_end: ReallocEnd,
    suppress_begin: SuppressBegin,
    suppress_end: SuppressEnd,
}

#[cold]
fn resolve() -> usize {
    let mut found = [0usize; 6];
    for (i, name) in NAMES.iter().enumerate() {
        // SAFETY: NUL-terminated name; dlsym has no other precondition.
        found[i] = unsafe { dlsym(RTLD_DEFAULT, name.as_ptr()) } as usize;
        if found[i] == 0 {
            STATE.store(ABSENT, Ordering::Release);
            return ABSENT;
        }
    }
    for (slot, f) in FNS.iter().zip(found.iter()) {
        slot.store(*f, Ordering::Relaxed);
    }
    STATE.store(PRESENT, Ordering::Release);
    PRESENT
}

#[inline]
fn api() -> Option<Api> {
    let mut state = STATE.load(Ordering::Acquire);
    if state == UNRESOLVED {
        state = resolve();
    }
    if state != PRESENT {
        return None;
    }
    let f = |i: usize| FNS[i].load(Ordering::Relaxed);
    // SAFETY: each address is the liballoctrace function of that name, whose C
    // prototype the type above matches (alloctrace/api.h).
    unsafe {
        Some(Api {
            alloc: core::mem::transmute::<usize, ReportAlloc>(f(0)),
            free: core::mem::transmute::<usize, ReportFree>(f(1)),
            realloc_begin: core::mem::transmute::<usize, ReallocBegin>(f(2)),
            realloc_end: core::mem::transmute::<usize, ReallocEnd>(f(3)),
            suppress_begin: core::mem::transmute::<usize, SuppressBegin>(f(4)),
            suppress_end: core::mem::transmute::<usize, SuppressEnd>(f(5)),
        })
    }
}

/// True when the program runs under alloctrace (liballoctrace.so is loaded).
pub fn is_tracing() -> bool {
    api().is_some()
}

/// A global allocator that forwards to `A` and reports every call to alloctrace.
pub struct Traced<A> {
    inner: A,
}

impl<A> Traced<A> {
    /// Wraps `inner`; usable in a `static`.
    pub const fn new(inner: A) -> Self {
        Traced { inner }
    }

    /// The wrapped allocator.
    pub fn inner(&self) -> &A {
        &self.inner
    }
}

unsafe impl<A: GlobalAlloc> GlobalAlloc for Traced<A> {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        match api() {
            None => unsafe { self.inner.alloc(layout) },
            Some(api) => unsafe {
                let token = (api.suppress_begin)();
                let p = self.inner.alloc(layout);
                (api.suppress_end)(token);
                if !p.is_null() {
                    (api.alloc)(p.cast(), layout.size(), layout.align());
                }
                p
            },
        }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        match api() {
            None => unsafe { self.inner.alloc_zeroed(layout) },
            Some(api) => unsafe {
                let token = (api.suppress_begin)();
                let p = self.inner.alloc_zeroed(layout);
                (api.suppress_end)(token);
                if !p.is_null() {
                    (api.alloc)(p.cast(), layout.size(), layout.align());
                }
                p
            },
        }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        match api() {
            None => unsafe { self.inner.dealloc(ptr, layout) },
            Some(api) => unsafe {
                // reported first: once released, another thread may be given the address
                (api.free)(ptr.cast());
                let token = (api.suppress_begin)();
                self.inner.dealloc(ptr, layout);
                (api.suppress_end)(token);
            },
        }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        match api() {
            None => unsafe { self.inner.realloc(ptr, layout, new_size) },
            Some(api) => unsafe {
                let begun = (api.realloc_begin)(ptr.cast());
                let token = (api.suppress_begin)();
                let p = self.inner.realloc(ptr, layout, new_size);
                (api.suppress_end)(token);
                (api.realloc_end)(begun, ptr.cast(), p.cast(), new_size, layout.align());
                p
            },
        }
    }
}
