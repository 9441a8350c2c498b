// Workload rust: Vec / String / HashMap churn through Rust's default (system)
// allocator (~14 M events at scale 1); built by run.sh with plain rustc.
// Must never use crates, randomised hashing, or print more than its checksum.
use std::collections::HashMap;
use std::collections::hash_map::DefaultHasher;
use std::hash::BuildHasherDefault;

type Map<K, V> = HashMap<K, V, BuildHasherDefault<DefaultHasher>>;

const ROUNDS: f64 = 96000.0; // ~146 events per round at scale 1.0

struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> u32 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 33) as u32
    }
}

#[inline(never)]
fn vec_growth(g: &mut Lcg) -> u64 {
    let n = 1 + g.next() % 300;
    let mut v: Vec<u32> = Vec::new();
    for _ in 0..n {
        v.push(g.next());
    }
    let mut nested: Vec<Vec<u8>> = Vec::new();
    for i in 0..4u32 {
        let mut inner = Vec::new();
        for j in 0..(16 + i * 8) {
            inner.push((i * j) as u8);
        }
        nested.push(inner);
    }
    v.len() as u64 + v[v.len() - 1] as u64 + nested.iter().map(|x| x.len() as u64).sum::<u64>()
}

#[inline(never)]
fn build_string(g: &mut Lcg) -> String {
    const WORDS: [&str; 8] = ["alloc", "trace", "heap", "stack", "frame", "unwind", "event", "block"];
    let mut s = String::new();
    let n = 4 + g.next() % 20;
    for _ in 0..n {
        let w = WORDS[(g.next() & 7) as usize];
        let piece = format!("{}-{}/", w, g.next() % 100000); // one allocation
        s.push_str(&piece);
    }
    s
}

#[inline(never)]
fn maps(g: &mut Lcg) -> u64 {
    let mut m: Map<u32, String> = Map::default();
    let n = 8 + g.next() % 40;
    for i in 0..n {
        let len = 4 + (g.next() % 40) as usize;
        m.insert(g.next() % 1000, "k".repeat(len + (i as usize % 3)));
    }
    let mut counts: Map<u64, u64> = Map::default();
    for i in 0..(16 + g.next() % 64) {
        *counts.entry((g.next() % 4096) as u64).or_insert(0) += i as u64;
    }
    let a: u64 = m.iter().map(|(k, v)| *k as u64 + v.len() as u64).sum();
    let b: u64 = counts.iter().map(|(k, v)| k ^ v).sum();
    a.wrapping_add(b)
}

fn main() {
    let scale: f64 = match std::env::args().nth(1) {
        None => 1.0,
        Some(a) => match a.parse::<f64>() {
            Ok(s) if s > 0.0 && s <= 1000.0 => s,
            _ => {
                eprintln!("usage: rust_work [scale>0]");
                std::process::exit(2);
            }
        },
    };
    let rounds = ((ROUNDS * scale) as u64).max(1);
    let mut g = Lcg(31337);
    let mut keep: Vec<String> = vec![String::new(); 1000];
    let mut sum: u64 = 0;
    for r in 0..rounds {
        sum = sum.wrapping_add(vec_growth(&mut g));
        let s = build_string(&mut g);
        sum = sum.wrapping_add(s.len() as u64 + s.as_bytes()[s.len() / 2] as u64);
        keep[(r % 1000) as usize] = s;
        sum = sum.wrapping_add(maps(&mut g));
    }
    sum = sum.wrapping_add(keep.iter().map(|s| s.len() as u64).sum::<u64>());
    println!("checksum rust {:016x}", sum);
}
