//! Python bindings for ftpchat: the native module `ftpchat._ftpchat`.
//!
//! Thin by design: it holds core objects, converts values and maps errors; every
//! protocol decision stays in `ftpchat-core`. The public Python API is the `ftpchat`
//! package (`python/ftpchat/`), which re-exports what is defined here and defines the
//! exception hierarchy (`_errors.py`) and value types (`_types.py`) that this module
//! builds.
//!
//! The GIL is released around every network operation and key derivation, so other
//! Python threads keep running while a room connects or syncs.
//!
//! Build with maturin (`pip install ./ftpchat-py`); a plain `cargo build` also works and
//! links against libpython, which keeps `cargo test --workspace` usable.

// No `unsafe` here: the workspace's `deny(unsafe_code)` applies (PyO3's generated FFI
// glue is exempt from the lint).
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used))]

mod codec;
mod convert;
mod errors;
mod identity;
mod room;
mod transfer;
mod watch;

use pyo3::prelude::*;

/// Native part of the `ftpchat` package; import `ftpchat` instead.
#[pymodule(name = "_ftpchat")]
mod ftpchat_native {
    #[pymodule_export]
    use crate::codec::{
        decode_15, decode_16, decode_17, derive_key, encode_15, encode_16, encode_17,
        fernet_decrypt, fernet_encrypt, format_plaintext, parse_plaintext,
    };
    #[pymodule_export]
    use crate::errors::_error_for_kind;
    #[pymodule_export]
    use crate::identity::{fingerprint, safety_number, PyIdentity};
    #[pymodule_export]
    use crate::room::{open, PyRoom};
    #[pymodule_export]
    use crate::transfer::PyTransfer;
    #[pymodule_export]
    use crate::watch::{_stop_all_watches, PySubscription, PyWatch};

    use pyo3::prelude::*;

    /// Module constants: the core's limits and defaults.
    #[pymodule_init]
    fn init(m: &Bound<'_, PyModule>) -> PyResult<()> {
        m.add("MAX_TEXT_LEN", ftpchat_core::MAX_TEXT_LEN)?;
        m.add("MAX_NAME_LEN", ftpchat_core::MAX_NAME_LEN)?;
        // The real FTPChat 1.6 and 1.7 clients' key derivation (the defaults of shared
        // rooms and of the 1.6/1.7 codec functions).
        m.add(
            "FTPCHAT_SALT",
            pyo3::types::PyBytes::new(m.py(), ftpchat_core::FTPCHAT_SALT),
        )?;
        m.add("FTPCHAT_ITERATIONS", ftpchat_core::FTPCHAT_ITERATIONS)?;
        m.add(
            "DEFAULT_NATIVE_ITERATIONS",
            ftpchat_core::KdfParams::DEFAULT_ITERATIONS,
        )?;
        m.add(
            "DEFAULT_MAX_ATTACHMENT_SIZE",
            ftpchat_core::DEFAULT_MAX_ATTACHMENT_SIZE,
        )?;
        m.add("__version__", env!("CARGO_PKG_VERSION"))?;
        Ok(())
    }
}
