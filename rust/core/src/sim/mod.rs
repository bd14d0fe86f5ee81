//! The simulation engine: the statevector and its kernels (one family per
//! instruction set behind one interface in `simd`), gate fusion, the cache
//! blocking plan, single and double precision, sampling, threading, and the
//! engine that runs batches of circuits with their options and saves.

pub(crate) mod compile;
pub mod engine;
pub mod env;
pub mod fusion;
pub mod kernels;
pub mod options;
pub(crate) mod outcomes;
pub mod parallel;
pub mod plan;
pub mod precision;
pub mod result;
pub mod rng;
pub mod sample;
pub(crate) mod saves;
pub mod simd;
pub mod state;
