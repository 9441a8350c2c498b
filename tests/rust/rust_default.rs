// rust_default: a Rust program on the default (System) global allocator, built by
// tests/cli/rust_default.sh in debug, release and fat-LTO forms. The main thread and 8
// more threads each run tests/rust/phase.rs in their own slot; the program then prints
// its ground truth (truth.rs) and "ok".
mod phase;
mod truth;

fn main() {
    let mut total = phase::phase(0);
    let threads: Vec<_> = (1..truth::SLOTS).map(|slot| std::thread::spawn(move || phase::phase(slot))).collect();
    for t in threads {
        total += t.join().unwrap();
    }
    truth::print();
    println!("ok {}", total);
}
