//! Python bindings for ftpchat: filled in by the Python-package issue.
