//! The moto S3 server that `.ci/s3-server.sh` starts, announced by `FTPCHAT_TEST_S3_*`.

use std::time::Duration;

use ftpchat_core::{S3Config, S3Credentials, S3Transport};

use super::env_or_skip;

/// `s3://bucket/prefix`.
pub const S3_URL: &str = "FTPCHAT_TEST_S3_URL";
/// `http://127.0.0.1:<port>`.
pub const S3_ENDPOINT: &str = "FTPCHAT_TEST_S3_ENDPOINT";
/// The access key id.
pub const S3_ACCESS_KEY: &str = "FTPCHAT_TEST_S3_ACCESS_KEY";
/// Its secret (do not print it).
pub const S3_SECRET_KEY: &str = "FTPCHAT_TEST_S3_SECRET_KEY";
/// The region.
pub const S3_REGION: &str = "FTPCHAT_TEST_S3_REGION";
/// moto's log: one line per HTTP request.
pub const S3_REQUEST_LOG: &str = "FTPCHAT_TEST_S3_REQUEST_LOG";

/// Counts the HTTP requests the server logged whose line names `needle` (a folder name
/// unique to one test, so that tests running beside it do not count).
#[derive(Debug)]
pub struct RequestLog(std::path::PathBuf);

impl RequestLog {
    /// The log the environment announces; `None` after a note outside CI.
    pub fn from_env() -> Option<Self> {
        env_or_skip(S3_REQUEST_LOG).map(|p| RequestLog(p.into()))
    }

    /// Requests logged so far that name `needle`, once the log has been still for 100 ms
    /// (the server writes a line as it answers).
    pub fn count(&self, needle: &str) -> usize {
        let read = || {
            std::fs::read_to_string(&self.0)
                .unwrap_or_else(|e| panic!("reading {}: {e}", self.0.display()))
                .lines()
                .filter(|l| l.contains("HTTP/1.1") && l.contains(needle))
                .count()
        };
        let mut last = read();
        loop {
            std::thread::sleep(Duration::from_millis(100));
            let now = read();
            if now == last {
                return now;
            }
            last = now;
        }
    }
}

/// The announced S3 server.
#[derive(Debug, Clone)]
pub struct S3Server {
    /// `s3://bucket/prefix`.
    pub url: String,
    /// The endpoint.
    pub endpoint: String,
    /// The access key id.
    pub access_key: String,
    /// The secret.
    pub secret_key: String,
    /// The region.
    pub region: String,
}

/// The server from the environment; `None` after a note outside CI, a panic under CI.
pub fn external_s3() -> Option<S3Server> {
    Some(S3Server {
        url: env_or_skip(S3_URL)?,
        endpoint: env_or_skip(S3_ENDPOINT)?,
        access_key: env_or_skip(S3_ACCESS_KEY)?,
        secret_key: env_or_skip(S3_SECRET_KEY)?,
        region: env_or_skip(S3_REGION)?,
    })
}

impl S3Server {
    /// The credentials.
    pub fn credentials(&self) -> S3Credentials {
        S3Credentials::new(&self.access_key, &self.secret_key)
    }

    /// The configuration of `url` (another prefix of the bucket, or [`url`](Self::url)).
    pub fn config_for(&self, url: &str) -> S3Config {
        S3Config::from_url(url)
            .unwrap_or_else(|e| panic!("the S3 URL does not parse: {e}"))
            .with_endpoint(&self.endpoint)
            .with_region(&self.region)
            .with_credentials(self.credentials())
            .with_timeout(Duration::from_secs(20))
    }

    /// A transport on the announced URL.
    pub fn transport(&self) -> S3Transport {
        S3Transport::new(self.config_for(&self.url)).unwrap()
    }
}
