// rust_cdylib: a Rust cdylib on the default allocator, dlopened by tests/progs/
// rust_cdylib_host.c (tests/cli/rust_cdylib.sh): its allocator shims exist only after
// dlopen. rs_work runs tests/rust/phase.rs in slot 0 and prints the ground truth.
mod phase;
mod truth;

#[no_mangle]
pub extern "C" fn rs_work() -> i32 {
    let total = phase::phase(0);
    truth::print();
    println!("ok {}", total);
    0
}
