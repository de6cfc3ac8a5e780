// Hand-written companion of the generated Kotlin bindings (org/ftpchat/ftpchat.kt): the
// room's updates as a kotlinx.coroutines Flow. Compile it with the generated file (same
// package); it needs kotlinx-coroutines-core. It only adapts ChatRoom.updateStream (a
// UniFFI object whose suspend `next()` is implemented in Rust): no logic of its own.
@file:JvmName("FtpChatFlow")

package org.ftpchat

import kotlinx.coroutines.flow.Flow
import kotlinx.coroutines.flow.flow

/**
 * The room's updates as a cold [Flow]: collecting it starts a background watcher
 * ([ChatRoom.updateStream], polling every [minIntervalMs] while the chat is active and
 * backing off to [maxIntervalMs] when idle) and emits each [ChatUpdate] it reads
 * (messages from others, confirmations of own messages, events, changed messages; never
 * an empty one). Each collection has its own watcher; every message goes to exactly one
 * consumer of the room, so share one collection (`shareIn`) rather than collecting twice.
 *
 * The flow completes when the room is shut down. A failed sync is thrown as its
 * [ChatException] (e.g. [ChatException.Transport] with `transient = true` while the server
 * is unreachable, [ChatException.WrongPassword] for a shared file): handle it with
 * `catch`, or keep going with `retryWhen`, waiting before each retry (a retry starts a new
 * watcher, whose first sync is immediate; nothing read is lost):
 * `retryWhen { e, _ -> (e is ChatException.Transport && e.transient).also { if (it) delay(3_000) } }`.
 * Invalid intervals throw [ChatException.InvalidArgument], a shut-down room
 * [ChatException.Closed], when collection starts.
 *
 * Cancelling the collecting coroutine (or any other end of the collection) cancels the
 * watcher without waiting for it; what it read and did not emit goes back to the room,
 * for the next sync or listener. No I/O on the collecting thread.
 */
fun ChatRoom.updates(minIntervalMs: ULong = 250uL, maxIntervalMs: ULong = 1_000uL): Flow<ChatUpdate> = flow {
    val stream = updateStream(minIntervalMs, maxIntervalMs)
    try {
        while (true) {
            val update = stream.next() ?: break
            emit(update)
        }
    } finally {
        stream.cancel()
        stream.close()
    }
}
