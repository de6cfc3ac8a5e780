// Hand-written companion of the generated Swift bindings (FtpChat.swift): the room's
// updates as an AsyncThrowingStream. Add it to the same target as FtpChat.swift. It only
// adapts ChatRoom.updateStream (a UniFFI object whose async `next()` is implemented in
// Rust): no logic of its own.
//
// Not compiled here (no Swift compiler on the CI machines): .ci/ffi-tests.sh checks that
// the generated declarations it calls exist with these signatures.

import Foundation

extension ChatRoom {
    /// The room's updates as an `AsyncThrowingStream`: iterating it starts a background
    /// watcher (`updateStream(minIntervalMs:maxIntervalMs:)`, polling every
    /// `minIntervalMs` while the chat is active and backing off to `maxIntervalMs` when
    /// idle) and yields each `ChatUpdate` it reads (messages from others, confirmations of
    /// own messages, events, changed messages; never an empty one). Each stream has its
    /// own watcher; every message goes to exactly one consumer of the room.
    ///
    /// The stream finishes when the room is shut down. A failed sync finishes it by
    /// throwing its `ChatError` (e.g. `ChatError.Transport` with `transient == true` while
    /// the server is unreachable): call `updates()` again to go on (nothing read is lost).
    /// Invalid intervals throw `ChatError.InvalidArgument`, a shut-down room
    /// `ChatError.Closed`.
    ///
    /// Ending the iteration (leaving the loop, cancelling the task) cancels the watcher
    /// without waiting for it; what it read and did not yield goes back to the room, for
    /// the next sync or listener.
    ///
    /// ```swift
    /// for try await update in room.updates() {
    ///     show(update.messages)
    /// }
    /// ```
    public func updates(minIntervalMs: UInt64 = 250, maxIntervalMs: UInt64 = 1000)
        -> AsyncThrowingStream<ChatUpdate, Error>
    {
        AsyncThrowingStream { continuation in
            let stream: UpdateStream
            do {
                stream = try self.updateStream(
                    minIntervalMs: minIntervalMs, maxIntervalMs: maxIntervalMs)
            } catch {
                continuation.finish(throwing: error)
                return
            }
            let task = Task {
                do {
                    while let update = try await stream.next() {
                        continuation.yield(update)
                    }
                    continuation.finish()
                } catch {
                    continuation.finish(throwing: error)
                }
            }
            // Swift task cancellation does not reach a UniFFI call: cancelling the stream
            // makes the pending `next()` return nil, which ends the task.
            continuation.onTermination = { _ in
                stream.cancel()
                task.cancel()
            }
        }
    }
}
