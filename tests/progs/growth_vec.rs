// growth_vec: a Rust Vec grown by push through the default (System) allocator, whose
// growth is a realloc chain (compiled by tests/cli/growth.sh with plain rustc when rustc
// exists). Prints its own ground truth (moves and bytes copied are the allocator's choice):
//
//   push_u64s      Vec<u64>, 100000 pushes: RawVec's capacity goes 4, 8, ..., 131072, so
//                  malloc(32) then 15 reallocs 64, 128, ..., 1048576: one chain of 16 sizes,
//                  15 steps, factor 2, reserve hint 1048576
//   with_capacity  Vec::with_capacity(100000) then 100000 pushes: malloc(800000), no chain
use std::hint::black_box;

#[inline(never)]
fn push_u64s(moves: &mut u64, copied: &mut u64) {
    let mut v: Vec<u64> = Vec::new();
    for i in 0..100_000u64 {
        let (cap, ptr) = (v.capacity(), v.as_ptr() as usize);
        v.push(i);
        if cap != 0 && v.capacity() != cap && v.as_ptr() as usize != ptr {
            *moves += 1;
            *copied += (cap * 8) as u64;
        }
    }
    black_box(&v);
}

#[inline(never)]
fn with_capacity() {
    let mut v: Vec<u64> = Vec::with_capacity(100_000);
    for i in 0..100_000u64 {
        v.push(i);
    }
    black_box(&v);
}

fn main() {
    let (mut moves, mut copied) = (0u64, 0u64);
    push_u64s(&mut moves, &mut copied);
    with_capacity();
    println!("vec_moves={} vec_copied={}", moves, copied);
}
