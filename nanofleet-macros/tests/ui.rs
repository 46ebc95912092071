//! Compile-time behaviour of the macros: every error message, at the right token, and every
//! supported signature compiling (and running) without warnings.
//!
//! Regenerate the expected output with `TRYBUILD=overwrite cargo test -p nanofleet-macros --test ui`.

#[test]
fn ui() {
    let cases = trybuild::TestCases::new();
    cases.compile_fail("tests/ui/fail/*.rs");
    cases.pass("tests/ui/pass/*.rs");
}
