//! `Circuit::from_bytes` never allocates for a length its input cannot back.
//!
//! A separate test binary, because it installs a global allocator that
//! records the largest request made on each thread.

use ferroq_core::{Circuit, Complex64, GateKind};
use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

thread_local! {
    static LARGEST: Cell<usize> = const { Cell::new(0) };
}

fn record(size: usize) {
    // `try_with`: the allocator also runs while thread locals are torn down.
    let _ = LARGEST.try_with(|largest| largest.set(largest.get().max(size)));
}

struct Tracking;

unsafe impl GlobalAlloc for Tracking {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        record(layout.size());
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        record(layout.size());
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        record(new_size);
        unsafe { System.realloc(ptr, layout, new_size) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOCATOR: Tracking = Tracking;

/// The largest single allocation `from_bytes` makes on `data`.
fn largest_allocation(data: &[u8]) -> usize {
    LARGEST.with(|l| l.set(0));
    let _ = std::hint::black_box(Circuit::from_bytes(data));
    LARGEST.with(|l| l.get())
}

fn sample() -> Circuit {
    let mut c = Circuit::new(5, 2);
    c.name = Some("sample".into());
    c.append_gate("h", &[0], &[]).unwrap();
    c.append_gate("mcx", &[0, 1, 2, 4], &[]).unwrap();
    c.append_gate("cu", &[3, 1], &[0.1, 0.2, 0.3, 0.4]).unwrap();
    let m = GateKind::Iswap.full_matrix(2, &[]);
    c.append_unitary(m.data().to_vec(), 4, 4, &[2, 4]).unwrap();
    c.barrier(&[]).unwrap();
    c.save("probabilities", "p", &[1, 3], &[], &[]).unwrap();
    c.save("amplitudes", "a", &[], &[0, 31], &[]).unwrap();
    let terms = [("XZ".to_string(), Complex64::new(0.5, 0.0))];
    c.save("expectation_value", "e", &[0, 4], &[], &terms)
        .unwrap();
    c.measure(4, 1).unwrap();
    c
}

#[test]
fn declared_lengths_never_outgrow_the_input() {
    let bytes = sample().to_bytes();
    assert_eq!(Circuit::from_bytes(&bytes).unwrap(), sample());
    // Decoding allocates per instruction at most a few times the bytes that
    // describe it (an `Instruction` is larger than its encoding).
    let bound = 128 * bytes.len() + 4096;
    assert!(largest_allocation(&bytes) <= bound);
    // Every 8-byte window, aligned or not, overwritten with large values: this
    // hits each length field (name, count, lists, label, matrix) whatever
    // the layout.
    let values = [
        u64::MAX,
        1 << 62,
        1 << 40,
        1 << 32,
        1 << 24,
        1 << 20,
        1 << 16,
    ];
    for at in 0..bytes.len() - 8 {
        for v in values {
            let mut bad = bytes.clone();
            bad[at..at + 8].copy_from_slice(&v.to_le_bytes());
            let largest = largest_allocation(&bad);
            assert!(
                largest <= bound,
                "{largest} bytes allocated for {v:#x} at byte {at}"
            );
        }
    }
}
