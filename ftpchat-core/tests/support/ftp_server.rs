//! The in-process FTP(S) server for tests (crate `ftpchat-test-ftp-server`: libunftp on
//! 127.0.0.1, a free port and a fresh temporary root), with the transports ftpchat's
//! tests build on it.
//!
//! ```ignore
//! let server = TestFtpServer::start();            // plain FTP, anonymous
//! let ftps = TestFtpServer::builder().ftps().start(); // explicit FTPS (plain also allowed)
//! let transport = server.transport();              // FtpTransport on a fresh subdirectory
//! ```

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use ftpchat_core::{make_dir_all, RemotePath};
use ftpchat_core::{FtpConfigBuilder, FtpTransport};

// Each test crate uses a part of it.
#[allow(unused_imports)]
pub use ftpchat_test_ftp_server::{self_signed_cert, TestFtpServer};

/// The transports ftpchat's tests build on a [`TestFtpServer`].
pub trait FtpServerTransports {
    /// A configuration builder for the server root: the URL, the CA if any, short timeouts.
    fn config_builder(&self) -> FtpConfigBuilder;
    /// A transport on a fresh, empty subdirectory (`t1`, `t2`, ...) of the server root, so
    /// tests sharing a server do not see each other's files.
    fn transport(&self) -> FtpTransport;
    /// A transport on the server root itself.
    fn root_transport(&self) -> FtpTransport;
}

impl FtpServerTransports for TestFtpServer {
    fn config_builder(&self) -> FtpConfigBuilder {
        let mut builder = FtpConfigBuilder::from_url(&self.url())
            .expect("test URL parses")
            .connect_timeout(Duration::from_secs(5))
            .io_timeout(Duration::from_secs(10));
        if let Some(pem) = self.ca_pem() {
            builder = builder.ca_pem(pem);
        }
        builder
    }

    fn transport(&self) -> FtpTransport {
        let dir = self.fresh_dir();
        FtpTransport::new(
            self.config_builder()
                .root(&dir)
                .build()
                .expect("test config builds"),
        )
    }

    fn root_transport(&self) -> FtpTransport {
        FtpTransport::new(self.config_builder().build().expect("test config builds"))
    }
}

/// A transport for the server of `builder` whose root is a new, empty directory
/// `<builder's root>/<unique name starting with prefix>`: the way to isolate tests on a
/// shared (external) server.
pub fn transport_in_fresh_dir(builder: FtpConfigBuilder, prefix: &str) -> FtpTransport {
    let base_config = builder.clone().build().expect("config builds");
    let base_root = base_config.root().map(|r| r.as_str().to_owned());
    let base = FtpTransport::new(base_config);
    let dir = unique_name(prefix);
    let path = RemotePath::new(&dir).expect("valid directory name");
    make_dir_all(&base, &path).expect("create the test directory");
    drop(base);
    let root = match base_root {
        Some(r) => format!("{r}/{dir}"),
        None => dir,
    };
    FtpTransport::new(builder.root(&root).build().expect("config builds"))
}

/// A name unique to this process and call, for directories on shared external servers.
pub fn unique_name(prefix: &str) -> String {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let n = COUNTER.fetch_add(1, Ordering::SeqCst);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!("{prefix}-{}-{nanos:x}-{n}", std::process::id())
}
