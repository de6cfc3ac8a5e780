//! The engine's decisions, sans I/O: which messages go in the next append, what to do
//! after a failed one, how a file's end is classified, and the vocabulary a delivery uses
//! to say what it needs done next ([`Step`]) and to hear what happened ([`Observed`]).
//!
//! Nothing here touches a transport or waits: `room::io::drive` performs the steps, the
//! engine waits on the injected `Clock`.

use std::time::Duration;

use super::state::Outgoing;
use super::RoomError;
use crate::transport::{RemotePath, TransportError};

/// The most lines one append carries.
pub(crate) const MAX_BATCH_LINES: usize = 256;

/// The next append's messages: the oldest in the outbox, up to [`MAX_BATCH_LINES`] lines
/// and `max_bytes` bytes (a single longer line still goes alone).
pub(crate) fn next_batch<'a>(
    outbox: impl IntoIterator<Item = &'a Outgoing>,
    max_bytes: usize,
) -> Vec<Outgoing> {
    let mut bytes = 0;
    outbox
        .into_iter()
        .take(MAX_BATCH_LINES)
        .take_while(|o| {
            bytes += o.line.len() + 1;
            bytes <= max_bytes || bytes == o.line.len() + 1
        })
        .cloned()
        .collect()
}

/// The bytes of one append: an optional leading LF, then each line and LF.
pub(crate) fn batch_data<'a>(leading_lf: bool, lines: impl Iterator<Item = &'a [u8]>) -> Vec<u8> {
    let mut data = Vec::new();
    if leading_lf {
        data.push(b'\n');
    }
    for line in lines {
        data.extend_from_slice(line);
        data.push(b'\n');
    }
    data
}

/// What to do after a delivery attempt that failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Next {
    /// Try again after this pause (on the room's clock).
    RetryAfter(Duration),
    /// Give up and return the error; the messages stay in the outbox.
    GiveUp,
}

/// Delivery retries: a transient failure is retried with a doubling pause (20 ms, 40 ms,
/// ... up to 640 ms), at most `attempts` attempts in all per batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct RetryPolicy {
    pub attempts: u32,
}

impl RetryPolicy {
    /// After the `failures`-th failure in a row (1-based) with `error`.
    pub fn after_failure(&self, failures: u32, error: &RoomError) -> Next {
        if !error.is_transient() || failures >= self.attempts.max(1) {
            Next::GiveUp
        } else {
            Next::RetryAfter(Duration::from_millis(10u64 << failures.min(6)))
        }
    }
}

/// How a shared file ends, seen before appending to it.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Tail {
    /// With LF (or empty) at `end`.
    EndsWithLf { end: u64 },
    /// Mid-line, in a line that is not the start of ours.
    Partial { end: u64 },
    /// Mid-line, in the first `len` bytes (possibly all) of our line number `line`, which
    /// start at `start`.
    OwnPrefix { line: usize, start: u64, len: usize },
}

impl Tail {
    /// Where to read from to classify a file of `size` bytes: at most one of `ours`
    /// lines' worth before its end.
    pub fn read_from(size: u64, ours: &[&[u8]]) -> u64 {
        let longest = ours.iter().map(|l| l.len()).max().unwrap_or(0);
        size.saturating_sub(longest as u64 + 1)
    }

    /// Classifies the end of a file from its bytes from `from` to its end.
    pub fn classify(from: u64, bytes: &[u8], ours: &[&[u8]]) -> Tail {
        let end = from + bytes.len() as u64;
        if bytes.last().is_none_or(|&b| b == b'\n') {
            return Tail::EndsWithLf { end };
        }
        let fragment = match bytes.iter().rposition(|&b| b == b'\n') {
            Some(lf) => &bytes[lf + 1..],
            // No line start within reach: longer than our line, so not ours.
            None if from > 0 => return Tail::Partial { end },
            None => bytes,
        };
        // A line of ours torn just before its LF needs only the LF. (A torn append whose
        // confirmation failed is retried whole, so the torn line need not be the first.)
        match ours.iter().position(|l| l.starts_with(fragment)) {
            Some(line) => Tail::OwnPrefix {
                line,
                start: end - fragment.len() as u64,
                len: fragment.len(),
            },
            None => Tail::Partial { end },
        }
    }
}

/// What a read-back of a file region showed: which wanted lines are in it as complete
/// lines, where the file ends and whether it ends with LF.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Confirmation {
    pub found: Vec<bool>,
    pub end: u64,
    pub ends_with_lf: bool,
    /// Complete native records in the region that are none of the wanted lines (nor a
    /// torn start of one).
    pub others: u64,
}

/// One thing a delivery needs done on the transport.
#[derive(Debug)]
pub(crate) enum Step {
    /// The file's size (`None`: it does not exist).
    Size(RemotePath),
    /// Read the file from `from` to its end and report which of the batch's lines are
    /// there as complete lines ([`Confirmation`]).
    Confirm { path: RemotePath, from: u64 },
    /// Read the file's bytes from `from` to its end.
    ReadTail { path: RemotePath, from: u64 },
    /// Append these bytes.
    Append { path: RemotePath, data: Vec<u8> },
    /// Finished: which of the batch's lines are now on the server.
    Done(Result<Vec<bool>, TransportError>),
}

/// What happened when a [`Step`] was performed.
#[derive(Debug)]
pub(crate) enum Observed {
    Size(Option<u64>),
    Confirmed(Confirmation),
    Tail { from: u64, bytes: Vec<u8> },
    Appended,
}

/// A delivery of one batch, as a state machine: `next` says what to do, `observe` takes
/// its outcome. A step's error is observed like any outcome; the machine decides whether
/// it ends the delivery.
pub(crate) trait Delivery {
    /// The next step (after `Done`, `Done` again).
    fn next(&mut self) -> Step;
    /// The outcome of the step `next` returned last.
    fn observe(&mut self, outcome: Result<Observed, TransportError>);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::timeline::{MessageId, SortKey};
    use crate::transport::TransportErrorKind;

    fn out(len: usize) -> Outgoing {
        Outgoing {
            id: MessageId([len as u8; 16]),
            key: SortKey::File {
                pending: 1,
                order: len as u64,
            },
            line: "x".repeat(len),
        }
    }

    #[test]
    fn batches_stop_at_the_byte_limit_but_a_long_line_goes_alone() {
        let outbox = [out(10), out(10), out(10)];
        assert_eq!(next_batch(&outbox, 22).len(), 2);
        assert_eq!(next_batch(&outbox, 5).len(), 1);
        let many: Vec<_> = (0..300).map(|_| out(1)).collect();
        assert_eq!(next_batch(&many, usize::MAX).len(), MAX_BATCH_LINES);
        assert_eq!(batch_data(true, [&b"a"[..], b"b"].into_iter()), b"\na\nb\n");
    }

    #[test]
    fn retries_double_on_transient_errors_and_stop_on_permanent_ones() {
        let policy = RetryPolicy { attempts: 4 };
        let transient = RoomError::Transport(TransportError::new(
            TransportErrorKind::Transient,
            "append",
            "x",
        ));
        let pauses: Vec<Next> = (1..=4)
            .map(|n| policy.after_failure(n, &transient))
            .collect();
        assert_eq!(
            pauses,
            [
                Next::RetryAfter(Duration::from_millis(20)),
                Next::RetryAfter(Duration::from_millis(40)),
                Next::RetryAfter(Duration::from_millis(80)),
                Next::GiveUp,
            ]
        );
        assert_eq!(
            policy.after_failure(1, &RoomError::WrongPassword),
            Next::GiveUp
        );
    }

    #[test]
    fn a_file_end_is_classified_from_its_last_bytes() {
        let ours: [&[u8]; 2] = [b"gAAAA-one", b"gAAAA-two"];
        assert_eq!(Tail::read_from(100, &ours), 90);
        assert_eq!(
            Tail::classify(90, b"xx\n", &ours),
            Tail::EndsWithLf { end: 93 }
        );
        assert_eq!(Tail::classify(0, b"", &ours), Tail::EndsWithLf { end: 0 });
        assert_eq!(
            Tail::classify(90, b"x\ngAAAA-t", &ours),
            Tail::OwnPrefix {
                line: 1,
                start: 92,
                len: 7
            }
        );
        assert_eq!(
            Tail::classify(90, b"x\nsomeone", &ours),
            Tail::Partial { end: 99 }
        );
        // No LF within reach of a file that goes on before: longer than ours.
        assert_eq!(
            Tail::classify(90, b"gAAAA-t", &ours),
            Tail::Partial { end: 97 }
        );
        assert_eq!(
            Tail::classify(0, b"gAAAA-o", &ours),
            Tail::OwnPrefix {
                line: 0,
                start: 0,
                len: 7
            }
        );
    }
}
