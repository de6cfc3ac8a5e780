//! Runs the conformance suite (`ftpchat_core::testing::conformance`) against the transports that
//! need no server: memory, a local folder, and the fault wrapper with no faults armed.

#![allow(clippy::unwrap_used)]

use ftpchat_core::testing::conformance;

mod memory {
    use ftpchat_core::testing::MemoryTransport;
    use ftpchat_core::Transport;

    ftpchat_core::conformance_tests!({
        let store = MemoryTransport::new();
        move || Box::new(store.clone()) as Box<dyn Transport>
    });
}

mod local {
    use ftpchat_core::LocalTransport;
    use ftpchat_core::Transport;

    // The closure owns the TempDir, so the folder lives exactly as long as the test.
    ftpchat_core::conformance_tests!({
        let root = tempfile::tempdir().unwrap();
        move || Box::new(LocalTransport::new(root.path())) as Box<dyn Transport>
    });
}

mod faulty_without_faults {
    use ftpchat_core::testing::FaultyTransport;
    use ftpchat_core::testing::MemoryTransport;
    use ftpchat_core::Transport;

    ftpchat_core::conformance_tests!({
        let store = MemoryTransport::new();
        move || Box::new(FaultyTransport::new(store.clone())) as Box<dyn Transport>
    });
}

mod faulty_trait_object_over_local {
    use std::sync::Arc;

    use ftpchat_core::testing::FaultyTransport;
    use ftpchat_core::LocalTransport;
    use ftpchat_core::Transport;

    // Wrapping a `dyn Transport`, as a suite whose fixture yields boxes would.
    ftpchat_core::conformance_tests!({
        let root = tempfile::tempdir().unwrap();
        move || {
            let inner: Box<dyn Transport> = Box::new(LocalTransport::new(root.path()));
            Box::new(FaultyTransport::<dyn Transport>::from_arc(Arc::from(inner)))
                as Box<dyn Transport>
        }
    });
}

/// `run_all` (the one-test entry point other suites may prefer) runs every case.
#[test]
fn run_all_passes_on_memory() {
    let store = ftpchat_core::testing::MemoryTransport::new();
    conformance::run_all(&move || Box::new(store.clone()) as Box<dyn ftpchat_core::Transport>);
}

/// The suite must fail transports with the classic FTP bugs, or it proves nothing.
mod suite_catches_broken_transports {
    use std::io::Write;
    use std::panic::{catch_unwind, AssertUnwindSafe};

    use ftpchat_core::testing::MemoryTransport;
    use ftpchat_core::{
        Capabilities, DirEntry, RemotePath, Transport, TransportError, TransportErrorKind,
    };

    use ftpchat_core::testing::conformance::{self, Case};

    #[derive(Debug, Clone, Copy)]
    enum Flaw {
        /// An ASCII-mode upload: LF becomes CRLF.
        AsciiUploads,
        /// `LIST` without `-a`: dot files are hidden.
        HidesDotFiles,
        /// `REST` past the end answered with an error (pyftpdlib's 554).
        ErrorPastEnd,
        /// `MKD` on an existing directory reported as success.
        MakeDirIdempotent,
        /// `.` and `..` passed through from a `LIST -a`.
        ListsDotEntries,
    }

    #[derive(Debug)]
    struct Broken {
        inner: MemoryTransport,
        flaw: Flaw,
    }

    fn ascii(data: &[u8]) -> Vec<u8> {
        data.iter()
            .flat_map(|&b| {
                if b == b'\n' {
                    vec![b'\r', b'\n']
                } else {
                    vec![b]
                }
            })
            .collect()
    }

    impl Transport for Broken {
        fn capabilities(&self) -> Capabilities {
            self.inner.capabilities()
        }
        fn describe(&self) -> String {
            format!("broken({:?})", self.flaw)
        }
        fn size(&self, path: &RemotePath) -> Result<Option<u64>, TransportError> {
            self.inner.size(path)
        }
        fn read_from(
            &self,
            path: &RemotePath,
            offset: u64,
            sink: &mut dyn Write,
        ) -> Result<u64, TransportError> {
            if let Flaw::ErrorPastEnd = self.flaw {
                if self.inner.size(path)?.is_some_and(|len| offset >= len) {
                    return Err(TransportError::new(
                        TransportErrorKind::Transient,
                        "read_from",
                        "554 REST past end",
                    ));
                }
            }
            self.inner.read_from(path, offset, sink)
        }
        fn append(&self, path: &RemotePath, data: &[u8]) -> Result<(), TransportError> {
            match self.flaw {
                Flaw::AsciiUploads => self.inner.append(path, &ascii(data)),
                _ => self.inner.append(path, data),
            }
        }
        fn write_atomic(&self, path: &RemotePath, data: &[u8]) -> Result<(), TransportError> {
            match self.flaw {
                Flaw::AsciiUploads => self.inner.write_atomic(path, &ascii(data)),
                _ => self.inner.write_atomic(path, data),
            }
        }
        fn list(&self, dir: &RemotePath) -> Result<Vec<DirEntry>, TransportError> {
            let mut entries = self.inner.list(dir)?;
            match self.flaw {
                Flaw::HidesDotFiles => entries.retain(|e| !e.name.starts_with('.')),
                Flaw::ListsDotEntries => {
                    for name in [".", ".."] {
                        entries.push(DirEntry::dir(name));
                    }
                }
                _ => {}
            }
            Ok(entries)
        }
        fn make_dir(&self, path: &RemotePath) -> Result<(), TransportError> {
            match (self.flaw, self.inner.make_dir(path)) {
                (Flaw::MakeDirIdempotent, Err(e))
                    if e.kind() == TransportErrorKind::AlreadyExists =>
                {
                    Ok(())
                }
                (_, result) => result,
            }
        }
        fn remove_file(&self, path: &RemotePath) -> Result<(), TransportError> {
            self.inner.remove_file(path)
        }
        fn remove_dir(&self, path: &RemotePath) -> Result<(), TransportError> {
            self.inner.remove_dir(path)
        }
        fn rename(&self, from: &RemotePath, to: &RemotePath) -> Result<(), TransportError> {
            self.inner.rename(from, to)
        }
    }

    fn assert_fails(flaw: Flaw, case: Case) {
        let store = MemoryTransport::new();
        let make = move || {
            Box::new(Broken {
                inner: store.clone(),
                flaw,
            }) as Box<dyn Transport>
        };
        let outcome = catch_unwind(AssertUnwindSafe(|| case(&make)));
        assert!(
            outcome.is_err(),
            "the suite accepted a transport with {flaw:?}"
        );
    }

    #[test]
    fn ascii_mode_uploads_fail() {
        assert_fails(
            Flaw::AsciiUploads,
            conformance::binary_data_round_trips_byte_exact,
        );
    }

    #[test]
    fn hidden_dot_files_fail() {
        assert_fails(Flaw::HidesDotFiles, conformance::list_shows_dot_files);
    }

    #[test]
    fn errors_past_the_end_fail() {
        assert_fails(
            Flaw::ErrorPastEnd,
            conformance::read_at_or_past_end_returns_zero,
        );
    }

    #[test]
    fn make_dir_that_never_says_exists_fails() {
        assert_fails(
            Flaw::MakeDirIdempotent,
            conformance::make_dir_existing_is_already_exists,
        );
    }

    #[test]
    fn listing_dot_entries_fails() {
        assert_fails(
            Flaw::ListsDotEntries,
            conformance::list_of_empty_dir_is_empty,
        );
        assert_fails(
            Flaw::ListsDotEntries,
            conformance::list_shows_files_with_sizes_and_dirs,
        );
    }
}
