//! Test configuration only (not shipped: the package holds `src/` and the README).
//!
//! `wasm-pack test --headless --chrome` (or `--firefox`) runs the wasm32 tests with
//! `WASM_BINDGEN_TEST_ONLY_WEB=1`; `--node` with `WASM_BINDGEN_TEST_ONLY_NODE=1`. Tests written
//! for both must say `run_in_browser` in a browser run and nothing in a Node run, so this turns
//! the first into `--cfg wasm_browser_test`, which the test files read.
fn main() {
    println!("cargo:rustc-check-cfg=cfg(wasm_browser_test)");
    println!("cargo:rerun-if-env-changed=WASM_BINDGEN_TEST_ONLY_WEB");
    println!("cargo:rerun-if-changed=build.rs");
    if std::env::var_os("WASM_BINDGEN_TEST_ONLY_WEB").is_some() {
        println!("cargo:rustc-cfg=wasm_browser_test");
    }
}
