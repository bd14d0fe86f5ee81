//! The environment variables are checked like the options they stand for.
//! A test binary of its own: it sets variables the whole process reads.

use ferroq_core::sim::env::{CACHE_BYTES, NUM_THREADS, cache_bytes, check, num_threads};

#[test]
fn every_variable_is_checked_like_its_option() {
    // SAFETY: no other test reads these variables while this one runs.
    let set = |k: &str, v: &str| unsafe { std::env::set_var(k, v) };
    let unset = |k: &str| unsafe { std::env::remove_var(k) };
    set(NUM_THREADS, "100000");
    let err = check().unwrap_err().to_string();
    assert!(
        err.contains("FERROQ_NUM_THREADS") && err.contains("4096"),
        "{err}"
    );
    set(NUM_THREADS, " 3 ");
    assert_eq!(num_threads().unwrap(), Some(3));
    for bad in ["0", "-1", "two"] {
        set(NUM_THREADS, bad);
        assert!(num_threads().is_err(), "{bad}");
    }
    unset(NUM_THREADS);
    set(CACHE_BYTES, "lots");
    assert!(
        check()
            .unwrap_err()
            .to_string()
            .contains("FERROQ_CACHE_BYTES")
    );
    set(CACHE_BYTES, "0");
    assert_eq!(cache_bytes().unwrap(), Some(None));
    unset(CACHE_BYTES);
    set("FERROQ_NO_SIMD", "yes");
    assert!(check().unwrap_err().to_string().contains("FERROQ_NO_SIMD"));
    unset("FERROQ_NO_SIMD");
    check().unwrap();
}
