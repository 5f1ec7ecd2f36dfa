// SPDX-License-Identifier: MIT
// tests/victims/rustleak.rs: a std-only Rust program that leaks from generic functions and a closure.
// tests/integration/test_rust.py builds it with rustc in both symbol
// manglings and runs it under the preload. Rust's std allocates through
// the system malloc. "L:name" comments mark the lines the test checks.
use std::sync::atomic::{AtomicUsize, Ordering};

static SINK: AtomicUsize = AtomicUsize::new(0);

#[inline(never)]
fn leak_vec<T: Clone>(n: usize, v: T) -> usize {
    let x: Vec<T> = vec![v; n]; // L:leak_vec
    let len = x.len();
    SINK.fetch_add(x.as_ptr() as usize, Ordering::Relaxed);
    std::mem::forget(x);
    len
}

#[inline(never)]
fn leak_box(n: u64) -> &'static mut u64 {
    Box::leak(Box::new(n)) // L:leak_box
}

fn main() {
    let mut total = 0;
    for i in 0..10 {
        total += leak_vec::<u32>(100 + i, 7);
        total += leak_vec::<u8>(50, 1);
        *leak_box(i as u64) += 1;
    }
    let f = |k: usize| -> usize { leak_vec::<u16>(k, 3) }; // L:closure
    total += f(64);
    println!("{}", total);
}
