//! Fuzzing on the stable toolchain: `tests/fuzz.rs` feeds every parser of outside input the
//! inputs kept in `corpus/<target>/`, then mutations of them (byte flips, insertions,
//! deletions, splices, JSON fragments) chosen by `arbtest` for a time budget per target
//! (`NANOFLEET_FUZZ_MS`, default 1500). A target fails on a panic or a broken property; the
//! failure prints the seed that reproduces it. `cargo xtask fuzz --seconds N` runs a long
//! campaign and reports the inputs each target ran.
