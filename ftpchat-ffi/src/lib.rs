//! UniFFI bindings for ftpchat: filled in by the mobile-bindings issue.
