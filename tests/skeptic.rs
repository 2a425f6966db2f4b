//! The book's inline Rust listings, compiled and run one by one.
//!
//! `build.rs` hands every chapter under `book/src` to skeptic, which writes one
//! test per Rust block into `skeptic-tests.rs`. Blocks that `{{#include}}` a
//! file are left out there: those files are compiled and tested by the crate.

include!(concat!(env!("OUT_DIR"), "/skeptic-tests.rs"));

// Fails, naming the block, if a Rust listing asks skeptic to skip it, only
// compile it, or expect a panic (see `build.rs`).
include!(concat!(env!("OUT_DIR"), "/listing-guard.rs"));
