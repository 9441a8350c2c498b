// rust_counting: a counting #[global_allocator] over System whose own log (truth.rs) is
// the ground truth: every call it receives inside a thread's window is logged by the
// allocator itself. Built by tests/cli/rust_counting.sh; with `--cfg traced` (and
// `--extern alloctrace`, libtrace/bindings/rust) the counter is wrapped in
// alloctrace::Traced, the cooperative layer (tests/cli/rust_traced.sh). The main thread
// and 8 more threads each run `work` in their own slot: Vec growth, strings, a HashMap,
// over-aligned boxes (64, 128, 4096) and vectors of them, zeroed and large buffers.
mod truth;

use std::alloc::{GlobalAlloc, Layout, System};
use std::collections::HashMap;

struct Counting;

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        let p = System.alloc(l);
        if !p.is_null() {
            truth::record(b'A', l.size(), 0, l.align());
        }
        p
    }
    unsafe fn alloc_zeroed(&self, l: Layout) -> *mut u8 {
        let p = System.alloc_zeroed(l);
        if !p.is_null() {
            truth::record(b'Z', l.size(), 0, l.align());
        }
        p
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        truth::record(b'D', l.size(), 0, l.align());
        System.dealloc(p, l)
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, new_size: usize) -> *mut u8 {
        let q = System.realloc(p, l, new_size);
        if !q.is_null() {
            truth::record(b'R', new_size, l.size(), l.align());
        }
        q
    }
}

#[cfg(not(traced))]
#[global_allocator]
static GLOBAL: Counting = Counting;

#[cfg(traced)]
#[global_allocator]
static GLOBAL: alloctrace::Traced<Counting> = alloctrace::Traced::new(Counting);

#[repr(align(64))]
#[derive(Clone, Copy)]
struct A64([u8; 64]);
#[repr(align(128))]
#[derive(Clone, Copy)]
struct A128([u8; 24]);
#[repr(align(4096))]
struct A4096([u8; 100]);

#[inline(never)]
fn work(slot: usize) -> usize {
    truth::begin(slot, true);
    let mut n = 0;
    let mut v: Vec<u64> = Vec::new();
    for i in 0..2000 {
        v.push(i);
    }
    n += v.len();
    let names: Vec<String> = (0..50).map(|i| format!("item number {}", i * slot)).collect();
    n += names.iter().map(|s| s.len()).sum::<usize>();
    let mut map = HashMap::new();
    for i in 0..200u64 {
        map.insert(i, i * 3);
    }
    n += map.len();
    let b64 = truth::keep(Box::new(A64([1; 64])));
    let b4k = truth::keep(Box::new(A4096([2; 100])));
    let mut v128: Vec<A128> = Vec::new();
    for _ in 0..40 {
        v128.push(A128([3; 24]));
    }
    let mut v64 = vec![A64([4; 64]); 3];
    v64.extend_from_slice(&[A64([5; 64]); 20]);
    let zeros = vec![0u8; 5000];
    let big = vec![9u8; 1 << 20];
    let mut s = String::new();
    for i in 0..300 {
        s.push_str(if i % 2 == 0 { "ab" } else { "cde" });
    }
    n += b64.0[0] as usize + b4k.0[99] as usize + v128[7].0[3] as usize + v64.len() + zeros.len() + big[77] as usize + s.len();
    drop((v, names, map, b64, b4k, v128, v64, zeros, big, s));
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
    #[cfg(traced)]
    println!("tracing {}", alloctrace::is_tracing());
    println!("ok {}", total);
}
