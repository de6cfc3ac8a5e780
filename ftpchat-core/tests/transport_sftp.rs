//! The SFTP transport against a real OpenSSH sshd (`.ci/sftp-server.sh`, announced by
//! `FTPCHAT_TEST_SFTP_*`; required under `CI=true`): the conformance suite with password
//! and key logins, typed errors for refused credentials and host keys, and `open_location`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::error::Error as _;

use ftpchat_core::{
    open_location, HostKeyCheck, OpenOptions, RemotePath, SftpConfig, SftpError, SftpTransport,
    Transport, TransportError, TransportErrorKind,
};
use support::sftp::external_sftp;

/// The typed source of a transport error.
fn sftp_source(err: &TransportError) -> &SftpError {
    err.source()
        .and_then(|s| s.downcast_ref::<SftpError>())
        .unwrap_or_else(|| panic!("no SftpError source in {err}"))
}

mod conformance_password {
    use ftpchat_core::{SftpTransport, Transport};

    ftpchat_core::conformance_tests!({
        let Some(server) = crate::support::sftp::external_sftp() else {
            return;
        };
        move || Box::new(SftpTransport::new(server.config()).unwrap()) as Box<dyn Transport>
    });
}

mod conformance_key_and_fingerprint {
    use ftpchat_core::{SftpConfig, SftpTransport, Transport};

    // Key login (no password in the URL) and a pinned fingerprint instead of known_hosts.
    ftpchat_core::conformance_tests!({
        let Some(server) = crate::support::sftp::external_sftp() else {
            return;
        };
        move || {
            let config = SftpConfig::from_url(&server.url_without_password())
                .unwrap()
                .with_key_file(&server.key, None)
                .with_host_fingerprint(&server.fingerprint);
            Box::new(SftpTransport::new(config).unwrap()) as Box<dyn Transport>
        }
    });
}

#[test]
fn wrong_password_is_a_typed_auth_error() {
    let Some(server) = external_sftp() else {
        return;
    };
    let t = SftpTransport::new(server.config().with_password("not-the-password")).unwrap();
    let err = t.connect().unwrap_err();
    assert_eq!(err.kind(), TransportErrorKind::Permanent, "{err}");
    assert!(
        matches!(sftp_source(&err), SftpError::AuthFailed { user } if user == "ftpchat-sftp"),
        "{err}"
    );
    assert!(!err.to_string().contains("not-the-password"));
    // Operations report the same error (no retry loop on refused credentials).
    let p = RemotePath::new("x").unwrap();
    let err = t.size(&p).unwrap_err();
    assert!(matches!(sftp_source(&err), SftpError::AuthFailed { .. }));
}

#[test]
fn wrong_key_is_a_typed_auth_error() {
    let Some(server) = external_sftp() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let other_key = dir.path().join("other_key");
    let status = std::process::Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-f"])
        .arg(&other_key)
        .status()
        .unwrap();
    assert!(status.success());
    let config = SftpConfig::from_url(&server.url_without_password())
        .unwrap()
        .with_known_hosts(&server.known_hosts)
        .with_key_file(&other_key, None);
    let err = SftpTransport::new(config).unwrap().connect().unwrap_err();
    assert_eq!(err.kind(), TransportErrorKind::Permanent, "{err}");
    assert!(
        matches!(sftp_source(&err), SftpError::AuthFailed { .. }),
        "{err}"
    );

    // The right key alone logs in.
    let config = SftpConfig::from_url(&server.url_without_password())
        .unwrap()
        .with_known_hosts(&server.known_hosts)
        .with_key_file(&server.key, None);
    SftpTransport::new(config).unwrap().connect().unwrap();

    // A key file that is not a key is a typed error too.
    let junk = dir.path().join("junk");
    std::fs::write(&junk, "not a key").unwrap();
    let config = SftpConfig::from_url(&server.url_without_password())
        .unwrap()
        .with_known_hosts(&server.known_hosts)
        .with_key_file(&junk, None);
    let err = SftpTransport::new(config).unwrap().connect().unwrap_err();
    assert!(
        matches!(sftp_source(&err), SftpError::KeyFile { .. }),
        "{err}"
    );
}

#[test]
fn unknown_host_key_is_refused_unless_pinned_or_trusted() {
    let Some(server) = external_sftp() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let empty = dir.path().join("known_hosts");
    std::fs::write(&empty, "").unwrap();

    // Not in known_hosts: a typed error naming the fingerprint; nothing is sent.
    let err = SftpTransport::new(server.config().with_known_hosts(&empty))
        .unwrap()
        .connect()
        .unwrap_err();
    assert_eq!(err.kind(), TransportErrorKind::Permanent, "{err}");
    match sftp_source(&err) {
        SftpError::UnknownHostKey { host, fingerprint } => {
            assert!(host.starts_with("[127.0.0.1]:"), "{host}");
            assert_eq!(fingerprint, &server.fingerprint);
        }
        other => panic!("expected UnknownHostKey, got {other:?}"),
    }

    // Another key recorded for this host: a mismatch.
    let host_label = match sftp_source(&err) {
        SftpError::UnknownHostKey { host, .. } => host.clone(),
        _ => unreachable!(),
    };
    let other_key = dir.path().join("other_host_key");
    let status = std::process::Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-f"])
        .arg(&other_key)
        .status()
        .unwrap();
    assert!(status.success());
    let public = std::fs::read_to_string(other_key.with_extension("pub")).unwrap();
    let key_part: Vec<&str> = public.split_whitespace().take(2).collect();
    let wrong = dir.path().join("wrong_known_hosts");
    std::fs::write(&wrong, format!("{host_label} {}\n", key_part.join(" "))).unwrap();
    let err = SftpTransport::new(server.config().with_known_hosts(&wrong))
        .unwrap()
        .connect()
        .unwrap_err();
    assert!(
        matches!(sftp_source(&err), SftpError::HostKeyMismatch { fingerprint, .. } if fingerprint == &server.fingerprint),
        "{err}"
    );
    // Trust-on-first-use does not override a recorded, different key.
    let err = SftpTransport::new(
        server
            .config()
            .with_host_key_check(HostKeyCheck::TrustOnFirstUse(Some(wrong.clone()))),
    )
    .unwrap()
    .connect()
    .unwrap_err();
    assert!(
        matches!(sftp_source(&err), SftpError::HostKeyMismatch { .. }),
        "{err}"
    );

    // A wrong pinned fingerprint is a mismatch; the right one (with or without the
    // `SHA256:` prefix) is accepted.
    let err = SftpTransport::new(
        server
            .config()
            .with_host_fingerprint("SHA256:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"),
    )
    .unwrap()
    .connect()
    .unwrap_err();
    assert!(
        matches!(sftp_source(&err), SftpError::HostKeyMismatch { .. }),
        "{err}"
    );
    for pin in [
        server.fingerprint.clone(),
        server.fingerprint.trim_start_matches("SHA256:").to_owned(),
    ] {
        SftpTransport::new(server.config().with_host_fingerprint(pin))
            .unwrap()
            .connect()
            .unwrap();
    }

    // Explicit trust-on-first-use accepts the unknown key and works.
    let t = SftpTransport::new(
        server
            .config()
            .with_host_key_check(HostKeyCheck::TrustOnFirstUse(Some(empty.clone()))),
    )
    .unwrap();
    let name = RemotePath::new(&format!("tofu-{}", std::process::id())).unwrap();
    t.append(&name, b"ok").unwrap();
    assert_eq!(t.size(&name).unwrap(), Some(2));
    t.remove_file(&name).unwrap();
}

#[test]
fn control_characters_in_paths_and_urls_are_refused() {
    let Some(server) = external_sftp() else {
        return;
    };
    for bad in ["a\r\nb", "a\0b", "a\nb"] {
        let err: TransportError = RemotePath::new(bad).unwrap_err().into();
        assert_eq!(err.kind(), TransportErrorKind::InvalidPath);
    }
    let url = server.url.replace("/chat", "/ch%0Dat");
    let err = SftpConfig::from_url(&url).unwrap_err();
    assert_eq!(err.kind(), TransportErrorKind::InvalidPath);
    assert!(!err.to_string().contains("s3cret"), "{err}");
}

#[test]
fn missing_root_is_not_found_and_refused_connection_is_transient() {
    let Some(server) = external_sftp() else {
        return;
    };
    let url = server.url.replace("/chat", "/chat/no-such-dir");
    let t = SftpTransport::new(
        SftpConfig::from_url(&url)
            .unwrap()
            .with_known_hosts(&server.known_hosts),
    )
    .unwrap();
    assert_eq!(
        t.connect().unwrap_err().kind(),
        TransportErrorKind::NotFound
    );

    // Nothing listens on port 1.
    let t = SftpTransport::new(
        SftpConfig::from_url("sftp://u:p@127.0.0.1:1/x")
            .unwrap()
            .with_connect_attempts(2),
    )
    .unwrap();
    assert_eq!(
        t.connect().unwrap_err().kind(),
        TransportErrorKind::Transient
    );
}

#[test]
fn open_location_opens_sftp_urls() {
    let Some(server) = external_sftp() else {
        return;
    };
    let options = OpenOptions::default().with_known_hosts(&server.known_hosts);
    let t = open_location(&server.url, &options).unwrap();
    assert_eq!(t.describe(), server.url_without_password());
    let name = RemotePath::new(&format!("open-location-{}", std::process::id())).unwrap();
    t.write_atomic(&name, b"hello\n").unwrap();
    assert_eq!(t.size(&name).unwrap(), Some(6));
    t.remove_file(&name).unwrap();

    // Key login and a pinned fingerprint through the options.
    let options = OpenOptions::default()
        .with_ssh_key_file(&server.key)
        .with_host_fingerprint(&server.fingerprint);
    let t = open_location(&server.url_without_password(), &options).unwrap();
    assert!(t.size(&name).unwrap().is_none());
    // Without options the key is checked against ~/.ssh/known_hosts, which does not list
    // the test server: the typed error, not a silent acceptance.
    if std::env::var_os("HOME").is_some() {
        let t = open_location(&server.url, &OpenOptions::default()).unwrap();
        let err = t.size(&name).unwrap_err();
        assert!(
            matches!(
                sftp_source(&err),
                SftpError::UnknownHostKey { .. } | SftpError::HostKeyMismatch { .. }
            ),
            "{err}"
        );
    }
}
