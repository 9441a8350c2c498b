// rust_jemalloc: jemalloc-sys (statically linked, `_rjem_` prefix) as the global
// allocator, called the way the jemallocator crate does: malloc/calloc/realloc when the
// alignment is at most 16 and at most the size, otherwise mallocx/rallocx with
// MALLOCX_LG_ALIGN (and MALLOCX_ZERO); sdallocx to free. The allocator logs every call
// it gets inside each thread's window (tests/rust/truth.rs); 9 threads run `work`.
#[path = "../../truth.rs"]
mod truth;

use std::alloc::{GlobalAlloc, Layout};
use std::collections::HashMap;
use std::os::raw::{c_int, c_void};

struct Je;

fn flags(align: usize, size: usize) -> c_int {
    if align <= 16 && align <= size {
        0
    } else {
        jemalloc_sys::MALLOCX_LG_ALIGN(align.trailing_zeros() as usize)
    }
}

unsafe impl GlobalAlloc for Je {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        let f = flags(l.align(), l.size());
        let p = if f == 0 {
            jemalloc_sys::malloc(l.size())
        } else {
            jemalloc_sys::mallocx(l.size(), f)
        };
        if !p.is_null() {
            truth::record(b'A', l.size(), 0, l.align());
        }
        p as *mut u8
    }
    unsafe fn alloc_zeroed(&self, l: Layout) -> *mut u8 {
        let f = flags(l.align(), l.size());
        let p = if f == 0 {
            jemalloc_sys::calloc(1, l.size())
        } else {
            jemalloc_sys::mallocx(l.size(), f | jemalloc_sys::MALLOCX_ZERO)
        };
        if !p.is_null() {
            truth::record(b'Z', l.size(), 0, l.align());
        }
        p as *mut u8
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        truth::record(b'D', l.size(), 0, l.align());
        jemalloc_sys::sdallocx(p as *mut c_void, l.size(), flags(l.align(), l.size()))
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, new_size: usize) -> *mut u8 {
        let f = flags(l.align(), new_size);
        let q = if f == 0 {
            jemalloc_sys::realloc(p as *mut c_void, new_size)
        } else {
            jemalloc_sys::rallocx(p as *mut c_void, new_size, f)
        };
        if !q.is_null() {
            truth::record(b'R', new_size, l.size(), l.align());
        }
        q as *mut u8
    }
}

#[global_allocator]
static GLOBAL: Je = Je;

#[repr(align(64))]
#[derive(Clone, Copy)]
struct A64([u8; 64]);
#[repr(align(4096))]
struct A4096([u8; 100]);

#[inline(never)]
fn work(slot: usize) -> usize {
    truth::begin(slot, true);
    let mut v: Vec<u64> = Vec::new();
    for i in 0..2000 {
        v.push(i);
    }
    let names: Vec<String> = (0..50).map(|i| format!("item number {}", i * slot)).collect();
    let mut map = HashMap::new();
    for i in 0..200u64 {
        map.insert(i, i * 3);
    }
    let b4k = truth::keep(Box::new(A4096([2; 100])));
    let mut v64 = vec![A64([4; 64]); 3];
    v64.extend_from_slice(&[A64([5; 64]); 20]);
    let zeros = vec![0u8; 5000];
    let big = vec![9u8; 1 << 20];
    let n = v.len() + names.len() + map.len() + b4k.0[99] as usize + v64.len() + zeros.len()
        + big[77] as usize;
    drop((v, names, map, b4k, v64, zeros, big));
    truth::end(slot, true);
    n
}

fn main() {
    let mut total = work(0);
    let threads: Vec<_> = (1..truth::SLOTS).map(|slot| std::thread::spawn(move || work(slot))).collect();
    for t in threads {
        total += t.join().unwrap();
    }
    truth::print();
    println!("ok {}", total);
}
