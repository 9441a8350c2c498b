// The allocations of tests/rust/rust_default.rs and rust_cdylib.rs, made through the
// default global allocator and logged by hand next to each call (see truth.rs):
//   aligned_blocks  alloc of 15 layouts, aligns 1..4096 (64, 128 and 4096 included, some
//                   smaller than their align), alloc_zeroed (100, 8) and (64, 4096),
//                   realloc 24 -> 48 -> 96 (align 8) and 100 -> 400 (align 64), dealloc all
//   vec_growth      Vec<u64>, 1000 pushes: alloc 32, then realloc doubling up to 8192
//                   (logged from the capacity the Vec reports), dealloc
//   boxes           Box<[u8; 100]> and String::from("hello world")
use crate::truth;
use std::alloc::{alloc, alloc_zeroed, dealloc, realloc, Layout};

const LAYOUTS: [(usize, usize); 15] = [
    (9, 1), (10, 2), (12, 4), (24, 8), (40, 16), (48, 32), (100, 64), (200, 128), (300, 256),
    (600, 512), (1000, 1024), (3000, 2048), (5000, 4096), (8, 64), (16, 128),
];

unsafe fn get(slot: usize, size: usize, align: usize, zeroed: bool) -> *mut u8 {
    let l = Layout::from_size_align(size, align).unwrap();
    let p = if zeroed { alloc_zeroed(l) } else { alloc(l) };
    assert!(!p.is_null() && (p as usize) % align == 0);
    truth::log(slot, if zeroed { b'Z' } else { b'A' }, size, 0, align);
    std::ptr::write_volatile(p, 7);
    p
}

unsafe fn resize(slot: usize, p: *mut u8, old: usize, align: usize, new: usize) -> *mut u8 {
    let q = realloc(p, Layout::from_size_align(old, align).unwrap(), new);
    assert!(!q.is_null() && (q as usize) % align == 0 && *q == 7);
    truth::log(slot, b'R', new, old, align);
    q
}

unsafe fn put(slot: usize, p: *mut u8, size: usize, align: usize) {
    truth::log(slot, b'D', size, 0, align);
    dealloc(p, Layout::from_size_align(size, align).unwrap());
}

#[inline(never)]
pub fn aligned_blocks(slot: usize) {
    unsafe {
        let mut ptrs = [std::ptr::null_mut::<u8>(); 15];
        for (i, &(size, align)) in LAYOUTS.iter().enumerate() {
            ptrs[i] = get(slot, size, align, false);
        }
        let z1 = get(slot, 100, 8, true);
        let z2 = get(slot, 64, 4096, true);
        ptrs[3] = resize(slot, ptrs[3], 24, 8, 48);
        ptrs[3] = resize(slot, ptrs[3], 48, 8, 96);
        ptrs[6] = resize(slot, ptrs[6], 100, 64, 400);
        for (i, &(size, align)) in LAYOUTS.iter().enumerate() {
            let size = match i {
                3 => 96,
                6 => 400,
                _ => size,
            };
            put(slot, ptrs[i], size, align);
        }
        put(slot, z1, 100, 8);
        put(slot, z2, 64, 4096);
    }
}

#[inline(never)]
pub fn vec_growth(slot: usize) -> u64 {
    let mut v: Vec<u64> = Vec::new();
    let mut sum = 0;
    for i in 0..1000u64 {
        let cap = v.capacity();
        v.push(i);
        if v.capacity() != cap {
            if cap == 0 {
                truth::log(slot, b'A', v.capacity() * 8, 0, 8);
            } else {
                truth::log(slot, b'R', v.capacity() * 8, cap * 8, 8);
            }
        }
        sum += v[v.len() / 2];
    }
    truth::log(slot, b'D', v.capacity() * 8, 0, 8);
    drop(truth::keep(v));
    sum
}

#[inline(never)]
pub fn boxes(slot: usize) -> usize {
    let b = truth::keep(Box::new([7u8; 100]));
    truth::log(slot, b'A', 100, 0, 1);
    let s = truth::keep(String::from("hello world"));
    truth::log(slot, b'A', 11, 0, 1);
    let n = b[50] as usize + s.len();
    truth::log(slot, b'D', 11, 0, 1);
    drop(s);
    truth::log(slot, b'D', 100, 0, 1);
    drop(b);
    n
}

pub fn phase(slot: usize) -> u64 {
    truth::begin(slot, false);
    aligned_blocks(slot);
    let a = vec_growth(slot);
    let b = boxes(slot);
    truth::end(slot, false);
    a + b as u64
}
