//! UniFFI's bindings generator, built from this workspace so its version always matches
//! the scaffolding: `cargo run -p ftpchat-ffi --bin uniffi-bindgen -- generate --library
//! target/debug/libftpchat_ffi.so --language kotlin --out-dir out --no-format`.

fn main() {
    uniffi::uniffi_bindgen_main()
}
