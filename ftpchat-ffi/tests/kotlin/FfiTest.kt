// Executes the generated Kotlin bindings (org.ftpchat) against libftpchat_ffi.so on the JVM.
//
// Rooms on a local folder and on real FTP servers: send from one room object, receive
// through the listener of another, error mapping, async calls, sync_once, subscriptions,
// FTPChat 1.7/1.6/1.5 shared files (the chat file the real 1.6 and 1.7 clients wrote, read
// with only its password; a wrong password as a typed error), member rooms (identities,
// invitations, signers, members, removal), identity backups, edits, deletes and
// reactions (typed refusals, onChanged), private messages, blocking, presence and
// seen receipts between three members, attachments (files of a few MiB both ways,
// SHA-256 of the saved copies, progress, cancel from the listener and resume, the size
// limit), and coroutines (suspend calls, UpdateStream, the Flow of FtpChatFlow.kt,
// cancellation).
// Prints `N passed, N failed` and exits non-zero on any failure (.ci/ffi-tests.sh runs it).
//
// Rooms on the stores that cannot append (S3 on moto, WebDAV on wsgidav: the segment layout)
// and on SFTP (sshd), configured through RoomOptions.store (the library is built with the
// `stores` feature).
//
// Environment: FTPCHAT_TEST_PYFTPDLIB_URL (required when CI=true),
// FTPCHAT_TEST_VSFTPD_FTPS_URL + FTPCHAT_TEST_FTPS_CA (optional, FTPS with a custom CA),
// FTPCHAT_TEST_S3_* (moto), FTPCHAT_TEST_WEBDAV_* (wsgidav), FTPCHAT_TEST_SFTP_* (sshd),
// each required when CI=true (from .ci/ftp-servers.sh),
// FTPCHAT_TESTDATA (default: ftpchat-core/tests/testdata, from the repository root).

import java.io.File
import java.net.URI
import java.nio.file.Files
import java.util.concurrent.ConcurrentHashMap
import java.util.concurrent.CountDownLatch
import java.util.concurrent.LinkedBlockingQueue
import java.util.concurrent.TimeUnit
import java.util.concurrent.atomic.AtomicInteger
import kotlin.system.exitProcess
import kotlinx.coroutines.async
import kotlinx.coroutines.cancelAndJoin
import kotlinx.coroutines.delay
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.flow.first
import kotlinx.coroutines.flow.retryWhen
import kotlinx.coroutines.flow.toList
import kotlinx.coroutines.launch
import kotlinx.coroutines.runBlocking
import kotlinx.coroutines.withTimeout
import org.ftpchat.*

const val PASSWORD = "correct horse battery staple"
const val TIMEOUT_MS = 20_000L
const val ITERATIONS = 20_000u // fast native rooms for tests (the default is 600,000)

var passed = 0
var failed = 0
var skipped = 0

/** How the scenarios reach the store under test (SFTP host key, S3 endpoint and key); see withStore. */
var currentStore: StoreOptions? = null

fun check(name: String, body: () -> Unit) {
    val start = System.nanoTime()
    try {
        body()
        passed++
        println("ok    $name (${(System.nanoTime() - start) / 1_000_000} ms)")
    } catch (e: Throwable) {
        failed++
        println("FAIL  $name: $e")
        e.printStackTrace(System.out)
    }
}

fun skip(name: String, why: String) {
    skipped++
    println("skip  $name: $why")
}

fun expect(condition: Boolean, message: () -> String = { "expectation failed" }) {
    if (!condition) throw AssertionError(message())
}

inline fun <reified E : Throwable> expectThrows(body: () -> Unit): E {
    try {
        body()
    } catch (e: Throwable) {
        if (e is E) return e
        throw AssertionError("expected ${E::class.qualifiedName}, got $e", e)
    }
    throw AssertionError("expected ${E::class.qualifiedName}, nothing was thrown")
}

/** An error must not reveal any of these strings, in its message or its fields. */
fun expectNoSecret(e: Throwable, vararg secrets: String) {
    val shown = "$e ${e.message} ${e.toString()}"
    for (s in secrets) expect(!shown.contains(s)) { "error reveals a secret: $shown" }
}

var counter = 0
fun unique(label: String) = "kt-$label-${ProcessHandle.current().pid()}-${System.currentTimeMillis()}-${counter++}"

fun tempFolder(): String = Files.createTempDirectory("ftpchat-kt").toString()

/** Collects what a subscription delivers, and on which threads. */
class Collector : ChatListener {
    val messages = LinkedBlockingQueue<ChatMessage>()
    val confirmed = LinkedBlockingQueue<String>()
    val changed = LinkedBlockingQueue<ChatMessage>()
    val events = LinkedBlockingQueue<ChatEvent>()
    val errors = LinkedBlockingQueue<ChatException>()
    val messageCalls = AtomicInteger()
    val threads: MutableSet<String> = ConcurrentHashMap.newKeySet()

    override fun onMessages(messages: List<ChatMessage>) {
        threads.add(Thread.currentThread().name)
        messageCalls.incrementAndGet()
        this.messages.addAll(messages)
    }

    override fun onConfirmed(ids: List<String>) {
        threads.add(Thread.currentThread().name)
        confirmed.addAll(ids)
    }

    override fun onChanged(messages: List<ChatMessage>) {
        threads.add(Thread.currentThread().name)
        changed.addAll(messages)
    }

    override fun onEvent(event: ChatEvent) {
        events.add(event)
    }

    override fun onError(error: ChatException) {
        errors.add(error)
    }

    /** Waits for a message matching `predicate`, skipping others. */
    fun await(predicate: (ChatMessage) -> Boolean): ChatMessage {
        val deadline = System.currentTimeMillis() + TIMEOUT_MS
        while (true) {
            val left = deadline - System.currentTimeMillis()
            if (left <= 0) throw AssertionError("no matching message within $TIMEOUT_MS ms")
            val m = messages.poll(left, TimeUnit.MILLISECONDS) ?: continue
            if (predicate(m)) return m
        }
    }
}

fun nativeOptions(room: String, name: String, create: Boolean = true, caPem: String? = null, stateDir: String? = null) =
    RoomOptions(
        room = room,
        displayName = name,
        layout = RoomLayout.NATIVE,
        create = create,
        caPem = caPem,
        stateDir = stateDir,
        nativeIterations = ITERATIONS,
        store = currentStore,
    )

/** The password in an FTP URL (decoded and raw), to check it never shows. */
fun urlSecrets(location: String): Array<String> {
    val uri = runCatching { URI(location) }.getOrNull() ?: return emptyArray()
    val raw = uri.rawUserInfo?.substringAfter(':', "") ?: ""
    val decoded = uri.userInfo?.substringAfter(':', "") ?: ""
    return listOf(raw, decoded).filter { it.isNotEmpty() }.toTypedArray()
}

/** Two devices in one native room at `location`: everything a chat screen does. */
fun roomScenario(label: String, location: String, caPem: String? = null) {
    val room = unique(label)
    val secrets = urlSecrets(location)
    val alice: ChatRoom
    val bob: ChatRoom
    try {
        alice = ChatRoom(location, PASSWORD, nativeOptions(room, "Alice", caPem = caPem))
        bob = ChatRoom(location, PASSWORD, nativeOptions(room, "Bob", create = false, caPem = caPem))
    } catch (e: Throwable) {
        check("$label: open two room objects") { throw e }
        return
    }
    val listener = Collector()
    val subscription = bob.watch(listener, 20uL, 200uL)
    try {
        check("$label: describe() shows the location without secrets") {
            val d = alice.describe()
            expect(d.isNotEmpty()) { "empty description" }
            for (s in secrets) expect(!d.contains(s)) { "describe() reveals the password: $d" }
            expect(alice.displayName() == "Alice")
        }
        check("$label: send() queues a pending message; sync() confirms it") {
            val id = alice.send("hello from Alice")
            expect(id.length == 32) { "id $id" }
            expect(alice.outboxLen() == 1uL) { "outbox ${alice.outboxLen()}" }
            expect(alice.message(id)?.status == MessageStatus.PENDING) { "status ${alice.message(id)}" }
            val update = alice.sync()
            expect(update.confirmed.contains(id)) { "confirmed ${update.confirmed}" }
            expect(alice.outboxLen() == 0uL)
            expect(alice.message(id)?.status == MessageStatus.CONFIRMED)
        }
        check("$label: the other room's listener receives it on the watcher thread") {
            val m = listener.await { it.text == "hello from Alice" }
            expect(m.sender == "Alice" && !m.isOwn) { "$m" }
            expect(m.codec == MessageCodec.NATIVE && m.status == MessageStatus.CONFIRMED) { "$m" }
            expect(m.timestampMs != null && m.timestampMs!! > 1_600_000_000_000uL) { "$m" }
            val main = Thread.currentThread().name
            expect(listener.threads.isNotEmpty() && main !in listener.threads) { "threads ${listener.threads}" }
        }
        check("$label: the watcher delivers its room's sends and reports confirmation") {
            val id = bob.send("hi Alice, Bob here")
            val confirmed = listener.confirmed.poll(TIMEOUT_MS, TimeUnit.MILLISECONDS)
            expect(confirmed == id) { "confirmed $confirmed, sent $id" }
            val update = alice.sync()
            expect(update.messages.any { it.text == "hi Alice, Bob here" && it.sender == "Bob" }) { "$update" }
        }
        check("$label: history() pages oldest first") {
            val page = alice.history(null, 10u)
            expect(page.map { it.text } == listOf("hello from Alice", "hi Alice, Bob here")) { "$page" }
            val older = alice.history(page[1].id, 10u)
            expect(older.map { it.text } == listOf("hello from Alice")) { "$older" }
            expect(alice.history(null, 1u).single().text == "hi Alice, Bob here")
        }
        check("$label: sync_once within its budget completes") {
            val id = alice.send("background window")
            val r = alice.syncOnce(15_000uL)
            expect(r.completed && r.outboxLen == 0uL && id in r.update.confirmed) { "$r" }
            expect(listener.await { it.text == "background window" }.sender == "Alice")
        }
        check("$label: async calls (suspend) work from coroutines") {
            runBlocking(Dispatchers.Default) {
                alice.send("async hello")
                val u = alice.syncAsync()
                expect(u.confirmed.size == 1) { "$u" }
                val page = alice.historyAsync(null, 3u)
                expect(page.last().text == "async hello") { "$page" }
                val once = alice.syncOnceAsync(10_000uL)
                expect(once.completed) { "$once" }
                alice.flushAsync()
                ChatRoom.openAsync(location, PASSWORD, nativeOptions(room, "Carol", create = false, caPem = caPem)).use { carol ->
                    val all = carol.syncAsync()
                    expect(all.messages.map { it.text }.containsAll(listOf("hello from Alice", "async hello"))) { "$all" }
                }
            }
            expect(listener.await { it.text == "async hello" }.sender == "Alice")
        }
        check("$label: cancel() stops the listener, and no message is lost") {
            subscription.cancel()
            expect(!subscription.isActive())
            val calls = listener.messageCalls.get()
            alice.send("after cancel")
            alice.sync()
            Thread.sleep(800)
            expect(listener.messageCalls.get() == calls) { "listener called after cancel()" }
            val u = bob.sync()
            expect(u.messages.any { it.text == "after cancel" }) { "$u" }
        }
        check("$label: wrong password maps to WrongPassword, without the password") {
            val wrong = "not-the-password-4711"
            val e = expectThrows<ChatException.WrongPassword> {
                ChatRoom(location, wrong, nativeOptions(room, "Eve", create = false, caPem = caPem))
            }
            expectNoSecret(e, wrong, PASSWORD, *secrets)
        }
        check("$label: shutdown() closes the room") {
            bob.shutdown()
            expect(bob.isShutDown())
            expectThrows<ChatException.Closed> { bob.send("too late") }
            expectThrows<ChatException.Closed> { bob.sync() }
            expect(bob.describe().isNotEmpty())
        }
    } finally {
        subscription.cancel()
        bob.shutdown()
        alice.shutdown()
    }
}

fun errorMapping() {
    val folder = tempFolder()
    check("errors: a room path with CR/LF maps to InvalidPath") {
        expectThrows<ChatException.InvalidPath> {
            ChatRoom(folder, PASSWORD, nativeOptions("bad\r\nDELE x", "Alice"))
        }
        expectThrows<ChatException.InvalidPath> { validateRoomPath("room\nQUIT") }
        expectThrows<ChatException.InvalidPath> { validateRoomPath("../escape") }
        validateRoomPath("rooms/lobby")
    }
    check("errors: an FTP URL whose path has CR/LF maps to InvalidPath") {
        val e = expectThrows<ChatException.InvalidPath> {
            ChatRoom("ftp://user:pw-secret-9@127.0.0.1:9/chat%0D%0ADELE%20x", PASSWORD, nativeOptions("r", "Alice"))
        }
        expectNoSecret(e, "pw-secret-9", PASSWORD)
    }
    check("errors: a refused FTP connection maps to Transport, without the password") {
        val e = expectThrows<ChatException.Transport> {
            ChatRoom("ftp://someone:top-secret-77@127.0.0.1:1/chat", PASSWORD, nativeOptions("r", "Alice"))
        }
        expect(e.reason.isNotEmpty())
        expectNoSecret(e, "top-secret-77", PASSWORD)
    }
    check("errors: an unknown location scheme maps to Transport(UNSUPPORTED)") {
        val e = expectThrows<ChatException.Transport> { ChatRoom("gopher://x/y", PASSWORD, nativeOptions("r", "A")) }
        expect(e.kind == TransportFailure.UNSUPPORTED && !e.transient) { "$e" }
    }
    check("errors: a missing room with create=false maps to NotFound") {
        expectThrows<ChatException.NotFound> { ChatRoom(folder, PASSWORD, nativeOptions("absent", "Alice", create = false)) }
    }
    check("errors: a native room without a password maps to InvalidConfig") {
        expectThrows<ChatException.InvalidConfig> { ChatRoom(folder, null, nativeOptions("r", "Alice")) }
        expectThrows<ChatException.InvalidConfig> {
            ChatRoom(folder, PASSWORD, RoomOptions(room = "c.txt", displayName = "A", layout = RoomLayout.SHARED_FILE16, compatIterations = 0u))
        }
        expectThrows<ChatException.InvalidConfig> {
            ChatRoom(folder, null, RoomOptions(room = "c.txt", displayName = "A", layout = RoomLayout.SHARED_FILE17))
        }
    }
    ChatRoom(folder, PASSWORD, nativeOptions("errors", "Alice")).use { room ->
        check("errors: an oversized message maps to MessageTooLarge") {
            expectThrows<ChatException.MessageTooLarge> { room.send("x".repeat(70_000)) }
        }
        check("errors: a bad display name maps to InvalidName") {
            expectThrows<ChatException.InvalidName> { ChatRoom(folder, PASSWORD, nativeOptions("errors", "bad\nname")) }
        }
        check("errors: bad arguments map to InvalidArgument") {
            expectThrows<ChatException.InvalidArgument> { room.history("not-hex", 10u) }
            expectThrows<ChatException.InvalidArgument> { room.message("abc") }
            expectThrows<ChatException.InvalidArgument> { room.watch(Collector(), 0uL, 100uL) }
            expectThrows<ChatException.InvalidArgument> { room.watch(Collector(), 500uL, 100uL) }
        }
    }
    check("functions: libraryVersion() and describeLocation() hide passwords") {
        expect(libraryVersion().matches(Regex("""\d+\.\d+\.\d+.*"""))) { libraryVersion() }
        val d = describeLocation("ftp://someone:hidden-pw-55@example.invalid:2121/chat")
        expect(d.contains("example.invalid") && !d.contains("hidden-pw-55")) { d }
    }
}

/** A listener that calls `body` on each batch of messages and ignores the rest. */
class OnMessages(val body: (List<ChatMessage>) -> Unit) : ChatListener {
    override fun onMessages(messages: List<ChatMessage>) = body(messages)
    override fun onConfirmed(ids: List<String>) {}
    override fun onChanged(messages: List<ChatMessage>) {}
    override fun onEvent(event: ChatEvent) {}
    override fun onError(error: ChatException) {}
}

/** What the core gives the bindings (issue 13); the same cases as tests/test_room_api.py. */
fun roomApi() {
    val prompt = 2_000L // ms: "returns promptly" while something else is blocked
    check("api: cancel() and stop() inside a callback return at once; nothing is lost") {
        val folder = tempFolder()
        ChatRoom(folder, PASSWORD, nativeOptions("r", "Alice")).use { alice ->
            ChatRoom(folder, PASSWORD, nativeOptions("r", "Bob")).use { bob ->
                alice.send("wake up"); alice.sync()
                val ready = CountDownLatch(1)
                val done = LinkedBlockingQueue<Long>()
                lateinit var sub: Subscription
                sub = bob.watch(OnMessages {
                    ready.await(TIMEOUT_MS, TimeUnit.MILLISECONDS)
                    val start = System.nanoTime()
                    sub.cancel()
                    sub.stop() // the watcher's own thread: must not wait for itself
                    done.add((System.nanoTime() - start) / 1_000_000)
                }, 10uL, 50uL)
                ready.countDown()
                val took = done.poll(TIMEOUT_MS, TimeUnit.MILLISECONDS)
                expect(took != null && took < prompt) { "took $took ms" }
                expect(!sub.isActive())
                alice.send("after"); alice.sync()
                val got = mutableListOf<String>()
                val deadline = System.currentTimeMillis() + TIMEOUT_MS
                while ("after" !in got && System.currentTimeMillis() < deadline) {
                    got += bob.sync().messages.map { it.text }
                }
                expect(got == listOf("after")) { "$got" }
            }
        }
    }
    check("api: cancel() does not wait for a blocked listener") {
        val folder = tempFolder()
        ChatRoom(folder, PASSWORD, nativeOptions("r", "Alice")).use { alice ->
            ChatRoom(folder, PASSWORD, nativeOptions("r", "Bob")).use { bob ->
                alice.send("first"); alice.sync()
                val entered = CountDownLatch(1)
                val release = CountDownLatch(1)
                val sub = bob.watch(OnMessages {
                    entered.countDown()
                    release.await()
                }, 10uL, 50uL)
                expect(entered.await(TIMEOUT_MS, TimeUnit.MILLISECONDS))
                val start = System.nanoTime()
                sub.cancel()
                sub.close() // destroying the subscription does not wait either
                val took = (System.nanoTime() - start) / 1_000_000
                expect(took < prompt) { "took $took ms" }
                release.countDown()
            }
        }
    }
    check("api: shutdown() is idempotent, saves the outbox, and later calls fail with Closed") {
        val folder = tempFolder()
        val state = tempFolder()
        val room = ChatRoom(folder, PASSWORD, nativeOptions("r", "Alice"))
        val sub = room.watch(Collector(), 10uL, 50uL)
        room.shutdown()
        room.shutdown()
        expect(room.isShutDown() && !sub.isActive())
        val calls = listOf<() -> Unit>(
            { room.send("x") }, { room.sync() }, { room.flush() }, { room.history(null, 1u) },
            { room.syncOnce(1_000uL) }, { room.watch(Collector(), 10uL, 50uL) },
        )
        for (call in calls) {
            val e = expectThrows<ChatException.Closed> { call() }
            expect(!e.transient)
        }
        room.close()
        // Without a subscription (which might deliver it first): the outbox is saved.
        val carol = ChatRoom(folder, PASSWORD, nativeOptions("r", "Carol", stateDir = state))
        carol.send("kept in the outbox")
        carol.shutdown()
        ChatRoom(folder, PASSWORD, nativeOptions("r", "Carol", stateDir = state)).use { again ->
            expect(again.outboxLen() == 1uL) { "${again.outboxLen()}" }
            again.sync()
        }
        ChatRoom(folder, PASSWORD, nativeOptions("r", "Bob")).use { bob ->
            expect(bob.sync().messages.map { it.text } == listOf("kept in the outbox"))
        }
    }
    check("api: a subscription and sync() together see every message and confirmation once") {
        val folder = tempFolder()
        ChatRoom(folder, PASSWORD, nativeOptions("r", "Alice")).use { alice ->
            ChatRoom(folder, PASSWORD, nativeOptions("r", "Bob")).use { bob ->
                val listener = Collector()
                val sub = bob.watch(listener, 10uL, 50uL)
                val expected = mutableListOf<String>()
                val own = mutableListOf<String>()
                val synced = mutableListOf<String>()
                val confirmed = mutableListOf<String>()
                for (round in 0 until 15) {
                    for (i in 0 until 3) {
                        val text = "a$round-$i"
                        alice.send(text); expected += text
                    }
                    alice.sync()
                    own += bob.send("b$round")
                    val u = bob.sync()
                    synced += u.messages.map { it.text }
                    confirmed += u.confirmed
                }
                sub.stop()
                val u = bob.sync()
                synced += u.messages.map { it.text }
                confirmed += u.confirmed
                val all = synced + listener.messages.map { it.text }
                expect(all.sorted() == expected.sorted()) { "$all" }
                val allConfirmed = confirmed + listener.confirmed.toList()
                expect(allConfirmed.sorted() == own.sorted()) { "$allConfirmed" }
            }
        }
    }
    check("api: two threads syncing see every message once") {
        val folder = tempFolder()
        ChatRoom(folder, PASSWORD, nativeOptions("r", "Alice")).use { alice ->
            ChatRoom(folder, PASSWORD, nativeOptions("r", "Bob")).use { bob ->
                val stop = java.util.concurrent.atomic.AtomicBoolean(false)
                val got = LinkedBlockingQueue<String>()
                val readers = (0 until 2).map {
                    Thread { while (!stop.get()) got.addAll(bob.sync().messages.map { m -> m.text }) }
                        .also { t -> t.start() }
                }
                val expected = (0 until 60).map { "m$it" }
                for (chunk in expected.chunked(10)) {
                    chunk.forEach { alice.send(it) }
                    alice.sync()
                }
                stop.set(true)
                readers.forEach { it.join(TIMEOUT_MS) }
                got.addAll(bob.sync().messages.map { it.text })
                expect(got.toList().sorted() == expected.sorted()) { "${got.toList()}" }
            }
        }
    }
    check("api: error variants and transience come from the core's kinds") {
        val folder = tempFolder()
        val e = expectThrows<ChatException.InvalidConfig> {
            ChatRoom(folder, PASSWORD, nativeOptions("r", "Alice").copy(lock = true))
        }
        expect(!e.transient && e.reason.contains("lock")) { "$e" }
        ChatRoom(folder, PASSWORD, nativeOptions("r", "Alice")).use { }
        val wrong = expectThrows<ChatException.WrongPassword> {
            ChatRoom(folder, "wrong", nativeOptions("r", "Eve"))
        }
        expect(!wrong.transient)
        val unsupported = expectThrows<ChatException.Transport> {
            ChatRoom("gopher://x/y", PASSWORD, nativeOptions("r", "A"))
        }
        expect(!unsupported.transient && unsupported.kind == TransportFailure.UNSUPPORTED)
        val missing = expectThrows<ChatException.NotFound> {
            ChatRoom(folder, PASSWORD, nativeOptions("absent", "A", create = false))
        }
        expect(!missing.transient)
    }
    check("api: a changed header is refused unless acceptChangedHeader") {
        val server = tempFolder()
        val state = tempFolder()
        ChatRoom(server, PASSWORD, nativeOptions("r", "Alice", stateDir = state)).use { }
        File(server, "r").deleteRecursively()
        ChatRoom(server, PASSWORD, nativeOptions("r", "Mallory")).use { }
        val e = expectThrows<ChatException.HeaderChanged> {
            ChatRoom(server, PASSWORD, nativeOptions("r", "Alice", stateDir = state))
        }
        expect(!e.transient)
        val accepted = nativeOptions("r", "Alice", stateDir = state).copy(acceptChangedHeader = true)
        ChatRoom(server, PASSWORD, accepted).use { alice ->
            val events = alice.sync().events
            expect(events.any { it is ChatEvent.Other && it.description.contains("header") }) { "$events" }
        }
    }
}

fun folderExtras() {
    check("folder: sync_once with no budget starts nothing and loses nothing") {
        val folder = tempFolder()
        ChatRoom(folder, PASSWORD, nativeOptions("r", "Alice")).use { alice ->
            alice.send("zero budget")
            val r = alice.syncOnce(0uL)
            expect(!r.completed && r.outboxLen == 1uL) { "$r" }
            val u = alice.sync()
            expect(u.confirmed.size == 1 && alice.outboxLen() == 0uL) { "$u" }
        }
    }
    check("folder: FTPChat 1.6 shared file: the 1.6 client's line shape") {
        val folder = tempFolder()
        fun opts(name: String) = RoomOptions(room = "chat.txt", displayName = name, layout = RoomLayout.SHARED_FILE16)
        ChatRoom(folder, PASSWORD, opts("Alice")).use { alice ->
            ChatRoom(folder, PASSWORD, opts("Bob")).use { bob ->
                alice.send("fernet line")
                alice.sync()
                val m = bob.sync().messages.single()
                expect(m.text == "fernet line" && m.sender == "Alice" && m.codec == MessageCodec.FERNET16) { "$m" }
                expect(m.localTime?.matches(Regex("""\d{4}-\d\d-\d\d \d\d:\d\d""")) == true) { "$m" }
            }
        }
        val lines = File(folder, "chat.txt").readLines()
        expect(lines.size == 1 && lines[0].startsWith("Z0FBQUFB")) { "$lines" }
    }
    check("folder: FTPChat 1.5 shared file needs no password") {
        val folder = tempFolder()
        fun opts(name: String) = RoomOptions(room = "old.txt", displayName = name, layout = RoomLayout.SHARED_FILE15)
        ChatRoom(folder, null, opts("Alice")).use { alice ->
            ChatRoom(folder, null, opts("Bob")).use { bob ->
                alice.send("legacy")
                alice.sync()
                val m = bob.sync().messages.single()
                expect(m.text == "legacy" && m.codec == MessageCodec.LEGACY15) { "$m" }
            }
        }
    }
    check("folder: the state folder keeps unsent messages across restarts") {
        val folder = tempFolder()
        val state = tempFolder()
        ChatRoom(folder, PASSWORD, nativeOptions("r", "Alice", stateDir = state)).use { alice ->
            alice.send("survives a restart")
            // The server goes away: delivery fails, and the outbox is saved (the core saves
            // state on every sync/flush attempt, not on send).
            expect(File(folder, "r").renameTo(File(folder, "r.away")))
            File(folder, "r").writeText("a file where the room directory was")
            expectThrows<ChatException> { alice.flush() }
            alice.shutdown()
            expect(File(folder, "r").delete() && File(folder, "r.away").renameTo(File(folder, "r")))
        }
        ChatRoom(folder, PASSWORD, nativeOptions("r", "Alice", stateDir = state)).use { again ->
            expect(again.outboxLen() == 1uL) { "outbox ${again.outboxLen()}" }
            expect(again.history(null, 10u).single().status == MessageStatus.PENDING)
            expect(again.sync().confirmed.size == 1)
            expect(again.outboxLen() == 0uL)
        }
        ChatRoom(folder, PASSWORD, nativeOptions("r", "Alice", stateDir = state)).use { third ->
            // Read positions are kept too: nothing old comes back as new.
            expect(third.sync().messages.isEmpty())
            expect(third.history(null, 10u).map { it.text } == listOf("survives a restart"))
        }
        ChatRoom(folder, PASSWORD, nativeOptions("r", "Bob")).use { bob ->
            expect(bob.sync().messages.map { it.text } == listOf("survives a restart"))
        }
    }
    check("folder: a throwing listener does not stop the subscription") {
        val folder = tempFolder()
        ChatRoom(folder, PASSWORD, nativeOptions("r", "Alice")).use { alice ->
            ChatRoom(folder, PASSWORD, nativeOptions("r", "Bob")).use { bob ->
                val calls = AtomicInteger()
                val twice = CountDownLatch(2)
                val sub = bob.watch(object : ChatListener {
                    override fun onMessages(messages: List<ChatMessage>) {
                        calls.incrementAndGet()
                        twice.countDown()
                        throw IllegalStateException("listener bug (expected in this test)")
                    }
                    override fun onConfirmed(ids: List<String>) {}
                    override fun onChanged(messages: List<ChatMessage>) {}
                    override fun onEvent(event: ChatEvent) {}
                    override fun onError(error: ChatException) {}
                }, 20uL, 100uL)
                alice.send("one"); alice.sync()
                Thread.sleep(300)
                alice.send("two"); alice.sync()
                expect(twice.await(TIMEOUT_MS, TimeUnit.MILLISECONDS)) { "calls: ${calls.get()}" }
                expect(sub.isActive())
                sub.cancel()
            }
        }
    }
    check("folder: cancel() from inside a callback, and close() of the room stops its subscription") {
        val folder = tempFolder()
        ChatRoom(folder, PASSWORD, nativeOptions("r", "Alice")).use { alice ->
            val bob = ChatRoom(folder, PASSWORD, nativeOptions("r", "Bob"))
            val cancelled = CountDownLatch(1)
            lateinit var sub: Subscription
            val listener = object : ChatListener {
                override fun onMessages(messages: List<ChatMessage>) {
                    sub.cancel()
                    cancelled.countDown()
                }
                override fun onConfirmed(ids: List<String>) {}
                override fun onChanged(messages: List<ChatMessage>) {}
                override fun onEvent(event: ChatEvent) {}
                override fun onError(error: ChatException) {}
            }
            sub = bob.watch(listener, 20uL, 100uL)
            alice.send("stop now"); alice.sync()
            expect(cancelled.await(TIMEOUT_MS, TimeUnit.MILLISECONDS)) { "no callback" }
            expect(!sub.isActive())
            val second = bob.watch(Collector(), 20uL, 100uL)
            expect(second.isActive())
            bob.close() // AutoCloseable: destroys the room, which shuts it down
            expect(!second.isActive()) { "close() left the subscription running" }
        }
    }
    check("folder: a cancelled async sync neither loses nor repeats a message") {
        val folder = tempFolder()
        ChatRoom(folder, PASSWORD, nativeOptions("r", "Alice")).use { alice ->
            ChatRoom(folder, PASSWORD, nativeOptions("r", "Bob")).use { bob ->
                alice.send("keep me"); alice.sync()
                runBlocking(Dispatchers.Default) {
                    val job = async { bob.syncAsync() }
                    job.cancelAndJoin()
                }
                // Cancelled while running: the update comes with the next sync. (Cancelled
                // just as UniFFI hands the result over, it is dropped by UniFFI; the message
                // is in the timeline either way.)
                val again = bob.sync().messages.map { it.text }
                expect(again.isEmpty() || again == listOf("keep me")) { "$again" }
                expect(bob.history(null, 10u).map { it.text } == listOf("keep me"))
                expect(bob.sync().messages.isEmpty())
            }
        }
    }
}

fun sharedOptions(file: String, name: String, caPem: String? = null, show: Boolean = false, stateDir: String? = null) =
    RoomOptions(
        room = file,
        displayName = name,
        layout = RoomLayout.SHARED_FILE17,
        caPem = caPem,
        showUnauthenticated = show,
        stateDir = stateDir,
        store = currentStore,
    )

/** Two devices in one FTPChat 1.7 shared file at `location`, and a third with a wrong password. */
fun sharedScenario(label: String, location: String, caPem: String? = null, folder: File? = null) {
    val file = unique(label) + ".txt"
    val secrets = urlSecrets(location)
    val alice: ChatRoom
    val bob: ChatRoom
    try {
        alice = ChatRoom(location, PASSWORD, sharedOptions(file, "Alice", caPem))
        bob = ChatRoom(location, PASSWORD, sharedOptions(file, "Bob", caPem))
    } catch (e: Throwable) {
        check("$label: open two rooms on a 1.7 shared file") { throw e }
        return
    }
    val listener = Collector()
    val subscription = bob.watch(listener, 20uL, 200uL)
    try {
        check("$label: 1.7 shared file: one room writes, the other's listener reads") {
            val id = alice.send("hello in FTPChat 1.7   ")
            // 1.7 strips trailing white space; the sender's copy shows what readers get.
            expect(alice.message(id)?.text == "hello in FTPChat 1.7") { "${alice.message(id)}" }
            expect(alice.sync().confirmed == listOf(id))
            val m = listener.await { it.sender == "Alice" }
            expect(m.id == id && m.text == "hello in FTPChat 1.7" && m.codec == MessageCodec.FERNET17) { "$m" }
            expect(!m.isOwn && m.status == MessageStatus.CONFIRMED) { "$m" }
            expect(m.localTime?.matches(Regex("""\d{4}-\d\d-\d\d \d\d:\d\d""")) == true) { "$m" }
        }
        check("$label: 1.7 shared file: the watcher delivers, the other room reads") {
            val id = bob.send("two\nlines from Bob")
            expect(listener.confirmed.poll(TIMEOUT_MS, TimeUnit.MILLISECONDS) == id)
            val u = alice.sync()
            val m = u.messages.single()
            expect(m.sender == "Bob" && m.text == "two\nlines from Bob" && m.codec == MessageCodec.FERNET17) { "$u" }
        }
        if (folder != null) {
            check("$label: 1.7 shared file: one raw Fernet token per line") {
                val lines = File(folder, file).readLines()
                expect(lines.size == 2 && lines.all { it.startsWith("gAAAAA") }) { "$lines" }
            }
        }
        check("$label: 1.7 shared file: a wrong password is ChatException.WrongPassword, nothing written") {
            val wrong = "not-the-room-password-1234"
            ChatRoom(location, wrong, sharedOptions(file, "Eve", caPem)).use { eve ->
                eve.send("must not reach the file")
                val e = expectThrows<ChatException.WrongPassword> { eve.sync() }
                expectNoSecret(e, wrong, PASSWORD, *secrets)
                expectThrows<ChatException.WrongPassword> { eve.flush() }
                expectThrows<ChatException.WrongPassword> { runBlocking { eve.syncAsync() } }
                expect(eve.outboxLen() == 1uL) { "outbox ${eve.outboxLen()}" }
                val errors = Collector()
                val sub = eve.watch(errors, 20uL, 200uL)
                val reported = errors.errors.poll(TIMEOUT_MS, TimeUnit.MILLISECONDS)
                // The event that explains the failing syncs reaches the listener too.
                val deadline = System.currentTimeMillis() + TIMEOUT_MS
                var explained: ChatEvent? = null
                while (explained == null && System.currentTimeMillis() < deadline) {
                    val e = errors.events.poll(100, TimeUnit.MILLISECONDS)
                    if (e is ChatEvent.WrongPassword) explained = e
                }
                sub.cancel()
                expect(reported is ChatException.WrongPassword) { "$reported" }
                expect(explained != null) { "no WrongPassword event: ${errors.events}" }
            }
            expect(alice.sync().messages.isEmpty()) { "the wrong-password room wrote something" }
            if (folder != null) {
                val lines = File(folder, file).readLines()
                expect(lines.size == 2) { "$lines" }
            }
        }
    } finally {
        subscription.cancel()
        bob.shutdown()
        alice.shutdown()
    }
}

/** `"key": "value"` strings of a small JSON file, in order (`\n`, `\"`, `\\` undone). */
fun jsonStrings(json: String, key: String): List<String> =
    Regex(""""${Regex.escape(key)}": "((?:[^"\\]|\\.)*)"""").findAll(json).map { match ->
        match.groupValues[1].replace(Regex("""\\(.)""")) { e ->
            when (val c = e.groupValues[1]) {
                "n" -> "\n"
                "\"", "\\", "/" -> c
                else -> throw AssertionError("unexpected escape \\$c")
            }
        }
    }.toList()

fun realClients() {
    val testdata = File(System.getenv("FTPCHAT_TESTDATA") ?: "ftpchat-core/tests/testdata")
    check("real clients: the FTPChat 1.6/1.7 chat file opens with only the password") {
        val expected = File(testdata, "ftpchat-1.6-1.7-chat.expected.json").readText()
        val password = jsonStrings(expected, "password").single()
        val clients = jsonStrings(expected, "client")
        val senders = jsonStrings(expected, "sender")
        val plaintexts = jsonStrings(expected, "plaintext")
        expect(clients.size == 6 && senders.size == 6 && plaintexts.size == 6) { "$clients $senders" }
        val folder = tempFolder()
        File(testdata, "ftpchat-1.6-1.7-chat.txt").copyTo(File(folder, "chat.txt"))
        // RoomOptions with nothing set but the layout: the clients' salt and iterations are
        // the defaults.
        ChatRoom(folder, password, sharedOptions("chat.txt", "Reader")).use { room ->
            val u = room.sync()
            expect(u.events.isEmpty()) { "${u.events}" }
            expect(u.messages.size == 6) { "${u.messages}" }
            u.messages.forEachIndexed { i, m ->
                // "YYYY-MM-DD HH:MM:sender: text"; 1.6's trailing newline is not shown.
                val prefix = plaintexts[i].substring(0, 16) + ":" + senders[i] + ": "
                expect(plaintexts[i].startsWith(prefix)) { plaintexts[i] }
                val text = plaintexts[i].removePrefix(prefix).removeSuffix("\n")
                val codec = if (clients[i] == "1.6") MessageCodec.FERNET16 else MessageCodec.FERNET17
                expect(m.sender == senders[i] && m.text == text && m.codec == codec) { "message $i: $m" }
                expect(m.localTime == plaintexts[i].substring(0, 16)) { "message $i: $m" }
            }
            room.send("a reply from the bindings")
            expect(room.sync().confirmed.size == 1)
        }
        val lines = File(folder, "chat.txt").readLines()
        expect(lines.size == 7 && lines[6].startsWith("gAAAAA")) { "$lines" }
        ChatRoom(folder, "wrong horse", sharedOptions("chat.txt", "Eve")).use { eve ->
            expectThrows<ChatException.WrongPassword> { eve.sync() }
        }
    }
    check("keyless lines: a 1.5 line in a 1.7 file is reported, or shown when asked") {
        val folder = tempFolder()
        ChatRoom(folder, null, RoomOptions(room = "chat.txt", displayName = "Mallory", layout = RoomLayout.SHARED_FILE15)).use {
            it.send("keyless")
            it.sync()
        }
        ChatRoom(folder, PASSWORD, sharedOptions("chat.txt", "Alice")).use {
            it.send("keyed")
            it.sync()
        }
        ChatRoom(folder, PASSWORD, sharedOptions("chat.txt", "Bob")).use { bob ->
            val u = bob.sync()
            expect(u.messages.map { it.text } == listOf("keyed")) { "$u" }
            expect(u.events == listOf<ChatEvent>(ChatEvent.UnauthenticatedLine("chat.txt", 0uL))) { "${u.events}" }
        }
        ChatRoom(folder, PASSWORD, sharedOptions("chat.txt", "Carol", show = true)).use { carol ->
            val u = carol.sync()
            expect(u.messages.map { it.sender to it.codec } == listOf("Mallory" to MessageCodec.LEGACY15, "Alice" to MessageCodec.FERNET17)) { "$u" }
        }
    }
    check("held outbox: unsent messages of another password are reported, kept, sent later") {
        val folder = tempFolder()
        val state = tempFolder()
        ChatRoom(folder, PASSWORD, sharedOptions("sub/chat.txt", "Alice", stateDir = state)).use { first ->
            first.send("under the first password")
            expectThrows<ChatException> { first.sync() } // the folder sub/ does not exist
        }
        ChatRoom(folder, "another password", sharedOptions("sub/chat.txt", "Alice", stateDir = state)).use { other ->
            expect(other.outboxLen() == 0uL)
            val u = other.sync()
            expect(u.events == listOf<ChatEvent>(ChatEvent.OutboxHeld(1uL))) { "${u.events}" }
        }
        expect(File(folder, "sub").mkdir())
        ChatRoom(folder, PASSWORD, sharedOptions("sub/chat.txt", "Alice", stateDir = state)).use { again ->
            expect(again.outboxLen() == 1uL)
            expect(again.sync().confirmed.size == 1)
        }
    }
}

/** Edits, deletes and reactions (SPEC §8.4.1) between two room objects at `location`. */
fun changesScenario(label: String, location: String, caPem: String? = null) {
    val room = unique("$label-changes")
    check("$label: changes: edit, react and delete reach the other room; refusals are typed") {
        ChatRoom(location, PASSWORD, nativeOptions(room, "Alice", caPem = caPem)).use { alice ->
            ChatRoom(location, PASSWORD, nativeOptions(room, "Bob", caPem = caPem)).use { bob ->
                val id = alice.send("helo")
                alice.sync()
                val first = readUntil(bob, "helo")
                expect(!first.edited && !first.deleted && first.reactions.isEmpty()) { "$first" }

                // The author edits; the other room's listener gets the message as it is now.
                val listener = Collector()
                val sub = bob.watch(listener, 20uL, 200uL)
                val edit = alice.edit(id, "hello")
                expect(edit.length == 32 && edit != id) { edit }
                val mine = alice.message(id)!!
                expect(mine.edited && mine.text == "hello") { "$mine" }
                alice.sync()
                val changed = listener.changed.poll(TIMEOUT_MS, TimeUnit.MILLISECONDS)
                expect(changed != null && changed.id == id && changed.text == "hello" && changed.edited) { "$changed" }
                expect(Thread.currentThread().name !in listener.threads) { "${listener.threads}" }
                sub.stop()

                // Any member reacts; sync() returns the message in `changed`, not `messages`.
                bob.react(id, "👍")
                bob.sync()
                var update = alice.sync()
                val deadline = System.currentTimeMillis() + TIMEOUT_MS
                while (update.changed.isEmpty() && System.currentTimeMillis() < deadline) update = alice.sync()
                expect(update.messages.isEmpty() && update.changed.map { it.id } == listOf(id)) { "$update" }
                expect(update.changed[0].reactions == listOf(ChatReaction("👍", listOf("Bob"), false))) { "$update" }
                bob.react(id, "")
                expect(bob.message(id)!!.reactions.isEmpty())

                // Refusals: typed, not transient, nothing queued.
                val outbox = bob.outboxLen()
                val notAllowed = expectThrows<ChatException.NotAllowed> { bob.edit(id, "pwned") }
                expect(!notAllowed.transient) { "$notAllowed" }
                expectThrows<ChatException.NotAllowed> { bob.delete(id) }
                expectThrows<ChatException.UnknownMessage> { bob.react("07".repeat(16), "👍") }
                expectThrows<ChatException.InvalidArgument> { bob.edit("not hex", "x") }
                expect(bob.outboxLen() == outbox) { "outbox ${bob.outboxLen()}" }

                // The author deletes, for good.
                alice.delete(id)
                alice.sync()
                var gone: ChatMessage? = null
                val until = System.currentTimeMillis() + TIMEOUT_MS
                while (gone == null && System.currentTimeMillis() < until) {
                    gone = bob.sync().changed.firstOrNull { it.id == id && it.deleted }
                }
                expect(gone != null && gone.text.isEmpty() && gone.reactions.isEmpty() && !gone.edited) { "$gone" }
                expectThrows<ChatException.NotAllowed> { alice.edit(id, "back") }
            }
        }
    }
    check("$label: changes: an FTPChat shared file refuses them as Unsupported") {
        ChatRoom(location, PASSWORD, sharedOptions(unique("$label-changes") + ".txt", "Carol", caPem)).use { shared ->
            val own = shared.send("hi")
            val e = expectThrows<ChatException.Unsupported> { shared.edit(own, "x") }
            expect(!e.transient && e.reason.isNotEmpty()) { "$e" }
            expectThrows<ChatException.Unsupported> { shared.delete(own) }
            expectThrows<ChatException.Unsupported> { shared.react(own, "👍") }
        }
    }
}

/** Records every progress report (and its thread); cancels its transfer once `cancelAt` bytes are done. */
class ProgressLog(private val cancelAt: ULong? = null) : TransferListener {
    val reports = java.util.Collections.synchronizedList(mutableListOf<Pair<ULong, ULong>>())
    val threads: MutableSet<String> = ConcurrentHashMap.newKeySet()
    lateinit var transfer: ChatTransfer

    override fun onProgress(done: ULong, total: ULong) {
        reports.add(done to total)
        threads.add(Thread.currentThread().name)
        if (cancelAt != null && done >= cancelAt) transfer.cancel()
    }

    /** A transfer reporting to this log. */
    fun start(): ChatTransfer = ChatTransfer(this).also { transfer = it }

    /** Starts at `(start, size)`, never goes back, ends at `(size, size)`. */
    fun expectComplete(size: ULong, start: ULong = 0uL) {
        val r = reports.toList()
        expect(r.isNotEmpty() && r.first() == (start to size)) { "first report: $r" }
        expect(r.last() == (size to size)) { "last report: $r" }
        expect(r.all { it.second == size } && r.zipWithNext().all { (a, b) -> a.first <= b.first }) { "reports: $r" }
    }
}

fun sha256(file: File): String =
    java.security.MessageDigest.getInstance("SHA-256").digest(file.readBytes()).joinToString("") { "%02x".format(it) }

/** A file of `size` pseudo-random bytes named `name` in a new folder. */
fun randomFile(name: String, size: Int, seed: Long): File {
    val bytes = ByteArray(size)
    java.util.Random(seed).nextBytes(bytes)
    return File(tempFolder(), name).also { it.writeBytes(bytes) }
}

/** Syncs `room` until the message `id` arrives; returns it. */
fun syncUntilId(room: ChatRoom, id: String): ChatMessage {
    val deadline = System.currentTimeMillis() + TIMEOUT_MS
    while (System.currentTimeMillis() < deadline) {
        room.sync().messages.firstOrNull { it.id == id }?.let { return it }
        Thread.sleep(20)
    }
    throw AssertionError("message $id did not arrive within $TIMEOUT_MS ms")
}

/** Attachments (SPEC §8.4.3) between two room objects at `location`: both ways, progress, cancel, the size limit. */
fun attachmentScenario(label: String, location: String, caPem: String? = null) {
    val room = unique("$label-files")
    val photo = randomFile("holiday photo.png", 3 * 1024 * 1024 + 4321, 7)
    val notes = randomFile("notes.bin", 2 * 1024 * 1024 + 99, 8)
    val saved = File(tempFolder())
    try {
        val alice: ChatRoom
        val bob: ChatRoom
        try {
            alice = ChatRoom(location, PASSWORD, nativeOptions(room, "Alice", caPem = caPem))
            bob = ChatRoom(location, PASSWORD, nativeOptions(room, "Bob", caPem = caPem))
        } catch (e: Throwable) {
            check("$label: files: open two room objects") { throw e }
            return
        }
        alice.use {
            bob.use {
                var photoId = ""
                check("$label: files: sendFile uploads with progress and queues the message") {
                    val log = ProgressLog()
                    photoId = alice.sendFile(photo.path, "the view", log.start())
                    expect(photoId.length == 32) { photoId }
                    log.expectComplete(photo.length().toULong())
                    expect(log.threads == setOf(Thread.currentThread().name)) { "progress threads ${log.threads}" }
                    val mine = alice.message(photoId)!!
                    expect(mine.text == "the view" && mine.status == MessageStatus.PENDING) { "$mine" }
                    expect(mine.attachment == ChatAttachment("holiday photo.png", photo.length().toULong(), "image/png")) { "$mine" }
                    expect(alice.sync().confirmed.contains(photoId))
                }
                check("$label: files: the other room saves it; SHA-256 matches, progress ends at (size, size)") {
                    val m = syncUntilId(bob, photoId)
                    expect(m.sender == "Alice" && m.text == "the view" && !m.isOwn) { "$m" }
                    expect(m.attachment == ChatAttachment("holiday photo.png", photo.length().toULong(), "image/png")) { "$m" }
                    val target = File(saved, "photo.png")
                    val log = ProgressLog()
                    bob.saveAttachment(photoId, target.path, log.start())
                    expect(sha256(target) == sha256(photo)) { "hash of the saved copy" }
                    log.expectComplete(photo.length().toULong())
                }
                check("$label: files: the other way, without a transfer object") {
                    val id = bob.sendFile(notes.path, "")
                    bob.sync()
                    val m = syncUntilId(alice, id)
                    expect(m.text.isEmpty() && m.attachment?.name == "notes.bin" && m.attachment?.size == notes.length().toULong()) { "$m" }
                    val target = File(saved, "notes.bin")
                    alice.saveAttachment(id, target.path)
                    expect(sha256(target) == sha256(notes)) { "hash of the saved copy" }
                }
                check("$label: files: cancel from the listener is Cancelled with no target file; the next save resumes") {
                    val target = File(saved, "cancelled.png")
                    val size = photo.length().toULong()
                    val log = ProgressLog(cancelAt = 1uL)
                    val transfer = log.start()
                    val e = expectThrows<ChatException.Cancelled> { bob.saveAttachment(photoId, target.path, transfer) }
                    expect(!e.transient && transfer.isCancelled()) { "$e" }
                    expect(!target.exists()) { "a cancelled save wrote the target" }
                    val cancelledAt = log.reports.last().first
                    expect(cancelledAt in 1uL until size) { "cancelled at $cancelledAt of $size" }
                    // A used, cancelled transfer refuses at once.
                    expectThrows<ChatException.Cancelled> { bob.saveAttachment(photoId, target.path, transfer) }
                    val again = ProgressLog()
                    bob.saveAttachment(photoId, target.path, again.start())
                    expect(sha256(target) == sha256(photo)) { "hash after resuming" }
                    val resumedAt = again.reports.first().first
                    expect(resumedAt > 0uL && resumedAt <= cancelledAt) { "resumed at $resumedAt (cancelled at $cancelledAt)" }
                    again.expectComplete(size, resumedAt)
                    val left = saved.list()!!.sorted()
                    expect(left == listOf("cancelled.png", "notes.bin", "photo.png")) { "files left beside the targets: $left" }
                }
                check("$label: files: a cancelled upload queues nothing") {
                    val outbox = alice.outboxLen()
                    val log = ProgressLog(cancelAt = 1uL)
                    expectThrows<ChatException.Cancelled> { alice.sendFile(photo.path, "never", log.start()) }
                    expect(alice.outboxLen() == outbox) { "outbox ${alice.outboxLen()}" }
                    expect(alice.history(null, 10u).none { it.text == "never" })
                }
                check("$label: files: FileTooLarge with a small limit, both ways; other refusals are typed") {
                    val limit = 1024uL * 1024uL
                    ChatRoom(location, PASSWORD, nativeOptions(room, "Carol", caPem = caPem).copy(maxAttachmentSize = limit)).use { carol ->
                        val e = expectThrows<ChatException.FileTooLarge> { carol.sendFile(photo.path, "too big") }
                        expect(!e.transient && e.reason.contains(photo.length().toString())) { "$e" }
                        syncUntilId(carol, photoId)
                        val target = File(saved, "too-big.png")
                        expectThrows<ChatException.FileTooLarge> { carol.saveAttachment(photoId, target.path) }
                        expect(!target.exists())
                    }
                    expectThrows<ChatException.LocalFile> { alice.sendFile(File(saved, "absent.bin").path, "") }
                    val text = alice.send("just text")
                    expectThrows<ChatException.Unsupported> { alice.saveAttachment(text, File(saved, "x").path) }
                    expectThrows<ChatException.UnknownMessage> { alice.saveAttachment("07".repeat(16), File(saved, "x").path) }
                    expectThrows<ChatException.InvalidArgument> { alice.saveAttachment("not hex", File(saved, "x").path) }
                }
            }
        }
        check("$label: files: an FTPChat shared file refuses sendFile as Unsupported") {
            // (A store that cannot append refuses the shared file itself, also Unsupported.)
            expectThrows<ChatException.Unsupported> {
                ChatRoom(location, PASSWORD, sharedOptions(unique("$label-files") + ".txt", "Dave", caPem)).use { shared ->
                    shared.sendFile(notes.path, "")
                }
            }
        }
    } finally {
        // A few MiB each: leave no copies behind.
        listOf(photo.parentFile, notes.parentFile, saved).forEach { it.deleteRecursively() }
    }
}

fun memberOptions(room: String, name: String, stateDir: String, caPem: String? = null) =
    RoomOptions(room = room, displayName = name, layout = RoomLayout.NATIVE, stateDir = stateDir, caPem = caPem, store = currentStore)

/** Syncs `room` until a message with `text` arrives; returns it. */
fun readUntil(room: ChatRoom, text: String): ChatMessage {
    val deadline = System.currentTimeMillis() + TIMEOUT_MS
    while (System.currentTimeMillis() < deadline) {
        room.sync().messages.firstOrNull { it.text == text }?.let { return it }
        Thread.sleep(20)
    }
    throw AssertionError("$text did not arrive within $TIMEOUT_MS ms")
}

/** Syncs `room` until `done()`; returns every message read. */
fun syncUntil(room: ChatRoom, done: (List<ChatMessage>) -> Boolean): List<ChatMessage> {
    val got = mutableListOf<ChatMessage>()
    val deadline = System.currentTimeMillis() + TIMEOUT_MS
    while (!done(got)) {
        if (System.currentTimeMillis() > deadline) throw AssertionError("gave up waiting: ${got.map { it.text }}")
        got.addAll(room.sync().messages)
    }
    return got
}

/** Three members of a new member room at `location`: Alice (admin) invites Bob and Carol. */
class Trio(val alice: ChatRoom, val bob: ChatRoom, val carol: ChatRoom, val aliceId: String, val bobId: String, val carolId: String)

fun withTrio(label: String, location: String, caPem: String?, body: (Trio) -> Unit) {
    val room = unique("$label-trio")
    val ids = List(3) { Identity.generate() }
    ChatRoom.openMemberRoom(location, ids[0], memberOptions(room, "Alice", tempFolder(), caPem)).use { alice ->
        val join = { i: Int, name: String ->
            ChatRoom.join(alice.invite(MemberRole.MEMBER, location), ids[i], memberOptions(room, name, tempFolder(), caPem), null)
        }
        join(1, "Bob").use { bob ->
            join(2, "Carol").use { carol ->
                for (r in listOf(alice, bob, carol, alice)) r.sync()
                val byFingerprint = alice.members().associate { it.fingerprints[0] to it.id }
                val (a, b, c) = ids.map { byFingerprint.getValue(it.fingerprint()) }
                body(Trio(alice, bob, carol, a, b, c))
            }
        }
    }
}

/** Private messages, blocking (SPEC §8.4.2), presence and seen receipts (SPEC §18). */
fun privatePresenceScenario(label: String, location: String, caPem: String? = null) {
    check("$label: private message: read by its recipient only, in its own conversation") {
        withTrio(label, location, caPem) { t ->
            val secret = t.alice.sendPrivate(t.bobId, "for Bob only")
            expect(t.alice.message(secret)!!.privateWith == t.bobId)
            t.alice.send("hello everyone")
            t.alice.sync()
            expect(t.alice.history(null, 10u).map { it.text } == listOf("hello everyone"))
            expect(t.alice.privateHistory(t.bobId, null, 10u).map { it.text } == listOf("for Bob only"))

            val got = syncUntil(t.bob) { ms -> ms.any { it.text == "for Bob only" } && ms.any { it.text == "hello everyone" } }
            val privates = got.filter { it.privateWith != null }
            expect(privates.size == 1 && privates[0].id == secret && privates[0].privateWith == t.aliceId) { "$got" }
            expect(t.bob.history(null, 10u).map { it.text } == listOf("hello everyone"))
            val page = runBlocking(Dispatchers.Default) { t.bob.privateHistoryAsync(t.aliceId, null, 10u) }
            expect(page.map { it.text } == listOf("for Bob only")) { "$page" }

            val carolGot = syncUntil(t.carol) { ms -> ms.any { it.text == "hello everyone" } }
            expect(carolGot.none { it.text == "for Bob only" }) { "$carolGot" }
            expect(t.carol.message(secret) == null)
            expect(t.carol.privateHistory(t.aliceId, null, 10u).isEmpty())
            val outbox = t.carol.outboxLen()
            val e = expectThrows<ChatException.Membership> { t.carol.sendPrivate("55".repeat(16), "to nobody") }
            expect(!e.transient) { "$e" }
            expectThrows<ChatException.InvalidArgument> { t.carol.sendPrivate("nope", "x") }
            expect(t.carol.outboxLen() == outbox)
        }
    }
    check("$label: block hides a member's messages until unblocked") {
        withTrio(label, location, caPem) { t ->
            t.carol.send("before the block")
            t.carol.sync()
            syncUntil(t.bob) { ms -> ms.any { it.text == "before the block" } }
            t.bob.block(t.carolId)
            expect(t.bob.blocked() == listOf(t.carolId)) { "${t.bob.blocked()}" }
            expectThrows<ChatException.NotAllowed> { t.bob.block(t.bobId) }
            t.bob.sync()
            t.carol.send("after the block")
            t.carol.sendPrivate(t.bobId, "psst, Bob")
            t.carol.sync()
            t.alice.send("alice still talks")
            t.alice.sync()
            val got = syncUntil(t.bob) { ms -> ms.any { it.text == "alice still talks" } }
            expect(got.none { it.text == "after the block" || it.text == "psst, Bob" }) { "$got" }
            expect(t.bob.history(null, 50u).none { it.text.endsWith("the block") })
            expect(t.bob.privateHistory(t.carolId, null, 10u).isEmpty())

            t.bob.unblock(t.carolId)
            t.bob.sync()
            expect(t.bob.blocked().isEmpty())
            val history = t.bob.history(null, 50u).map { it.text }
            expect("before the block" in history && "after the block" in history) { "$history" }
            expect(t.bob.privateHistory(t.carolId, null, 10u).map { it.text } == listOf("psst, Bob"))
        }
    }
    check("$label: presence, typing and seenBy; password rooms refuse them") {
        withTrio(label, location, caPem) { t ->
            val presence = t.alice.presence()
            expect(presence.map { it.member } == listOf(t.aliceId, t.bobId, t.carolId).sorted()) { "$presence" }
            expect(presence.all { it.state == PresenceState.ONLINE && !it.typing }) { "$presence" }
            expect(presence.single { it.isSelf }.member == t.aliceId)
            fun of(member: String) = t.alice.presence().first { it.member == member }
            val now = System.currentTimeMillis().toULong()
            expect(of(t.bobId).displayName == "Bob" && of(t.bobId).seenWithin(now, 0uL))

            t.bob.setTyping(true)
            t.bob.sync()
            t.carol.setPresence(PresenceState.AWAY)
            t.carol.sync()
            val events = mutableListOf<ChatEvent>()
            val deadline = System.currentTimeMillis() + TIMEOUT_MS
            while (!(of(t.bobId).typing && of(t.carolId).state == PresenceState.AWAY)) {
                expect(System.currentTimeMillis() < deadline) { "$events" }
                events.addAll(t.alice.sync().events)
            }
            expect(events.any { it is ChatEvent.PresenceChanged }) { "$events" }
            t.carol.setPresence(PresenceState.OFFLINE)
            t.carol.sync()
            while (of(t.carolId).state != PresenceState.OFFLINE) {
                expect(System.currentTimeMillis() < deadline)
                t.alice.sync()
            }
            expect(of(t.carolId).seenWithin(now, 3_600_000uL))
            expect(!of(t.carolId).seenWithin(now + 7_200_000uL, 3_600_000uL))

            val id = t.alice.send("read me")
            t.alice.sync()
            syncUntil(t.bob) { ms -> ms.any { it.id == id } }
            expect(t.alice.seenBy(id) == SeenBy(emptyList(), 2u)) { "${t.alice.seenBy(id)}" }
            expect(t.bob.markRead(id))
            expect(!t.bob.markRead(id))
            t.bob.sync()
            while (t.alice.seenBy(id).readers != listOf(t.bobId)) {
                expect(System.currentTimeMillis() < deadline) { "${t.alice.seenBy(id)}" }
                t.alice.sync()
            }
            expectThrows<ChatException.UnknownMessage> { t.alice.seenBy("07".repeat(16)) }
        }
        ChatRoom(location, PASSWORD, nativeOptions(unique("$label-pw"), "Dan", caPem = caPem)).use { room ->
            val id = room.send("hi")
            expectThrows<ChatException.Membership> { room.presence() }
            expectThrows<ChatException.Membership> { room.markRead(id) }
            expectThrows<ChatException.Membership> { room.block("ab".repeat(16)) }
            expectThrows<ChatException.Membership> { room.sendPrivate("ab".repeat(16), "x") }
            expect(room.blocked().isEmpty())
        }
        expectThrows<ChatException.InvalidConfig> {
            ChatRoom(location, PASSWORD, nativeOptions(unique("$label-pw"), "Dan", caPem = caPem).copy(presence = false))
        }
    }
}

/** Member rooms (issue 14): identities, an invitation, signed messages, members, removal. */
fun memberScenario(label: String, location: String, caPem: String? = null) {
    val room = unique("$label-members")
    check("$label: member room: create, invite, join, chat with signers, remove") {
        val aliceId = Identity.generate()
        val bobId = Identity.loadOrCreate(tempFolder())
        ChatRoom.openMemberRoom(location, aliceId, memberOptions(room, "Alice", tempFolder(), caPem)).use { alice ->
            expect(alice.identity()?.fingerprint() == aliceId.fingerprint())
            val first = alice.members()
            expect(first.size == 1 && first[0].role == MemberRole.ADMIN) { "$first" }
            expect(first[0].devices == listOf(aliceId.publicIdentity()))
            expect(first[0].fingerprints == listOf(aliceId.fingerprint()))
            val link = alice.invite(MemberRole.MEMBER, location)
            expect(link.startsWith("ftpchat://join?"))
            // location = null: the invitation's location.
            ChatRoom.join(link, bobId, memberOptions(room, "Bob", tempFolder(), caPem), null).use { bob ->
                expect(alice.sync().events.any { it is ChatEvent.MembershipChanged })
                val roles = alice.members().associate { it.fingerprints[0] to it.role }
                expect(roles == mapOf(aliceId.fingerprint() to MemberRole.ADMIN, bobId.fingerprint() to MemberRole.MEMBER)) { "$roles" }

                alice.send("hello Bob")
                alice.sync()
                val hello = readUntil(bob, "hello Bob")
                expect(hello.signer == aliceId.fingerprint()) { "$hello" }
                bob.send("hi Alice")
                bob.sync()
                val hi = readUntil(alice, "hi Alice")
                expect(hi.signer == bobId.fingerprint() && !hi.isOwn) { "$hi" }

                val bobMember = alice.members().first { bobId.publicIdentity() in it.devices }
                val epoch = alice.removeMember(bobMember.id)
                expect(epoch >= 2uL) { "epoch $epoch" }
                expect(alice.members().map { it.role } == listOf(MemberRole.ADMIN))
                alice.send("after Bob left")
                alice.sync()
                val update = bob.sync()
                expect(update.messages.none { it.text == "after Bob left" }) { "$update" }
                expect(update.events.any { it is ChatEvent.RemovedFromRoom }) { "${update.events}" }
                val e = expectThrows<ChatException.NotAMember> { bob.send("still here?") }
                expect(!e.transient)
                expect(bob.history(null, 100u).none { it.text == "after Bob left" })
            }
        }
    }
    check("$label: member room: add_member and promote by public identity") {
        val aliceId = Identity.generate()
        val carolId = Identity.generate()
        val room2 = unique("$label-promote")
        ChatRoom.openMemberRoom(location, aliceId, memberOptions(room2, "Alice", tempFolder(), caPem)).use { alice ->
            alice.addMember(carolId.publicIdentity(), MemberRole.MEMBER, false)
            val carolMember = alice.members().first { carolId.publicIdentity() in it.devices }
            ChatRoom.openMemberRoom(location, carolId, memberOptions(room2, "Carol", tempFolder(), caPem)).use { carol ->
                expectThrows<ChatException.Membership> { carol.invite(MemberRole.MEMBER, location) }
                alice.promote(carolMember.id)
                carol.sync()
                expect(carol.members().first { it.id == carolMember.id }.role == MemberRole.ADMIN)
                expect(carol.invite(MemberRole.ADMIN, location).contains("role=admin"))
            }
        }
    }
}

fun identityApi() {
    check("identity: backup round trip, wrong passphrase, safety number, fingerprints") {
        val me = Identity.loadOrCreate(tempFolder())
        expect(me.publicIdentity().startsWith("ftpchat-id1:"))
        expect(publicFingerprint(me.publicIdentity()) == me.fingerprint())
        expect(!me.toString().contains("ftpchat-id1"))
        val backup = me.exportBackup("a long passphrase")
        expect(Identity.importBackup(backup, "a long passphrase").publicIdentity() == me.publicIdentity())
        val wrong = expectThrows<ChatException.WrongPassphrase> { Identity.importBackup(backup, "not it") }
        expectNoSecret(wrong, "not it")
        expectThrows<ChatException.InvalidBackup> { Identity.importBackup("not a backup", "x") }
        val other = Identity.generate()
        val n = safetyNumber(me.publicIdentity(), other.publicIdentity())
        expect(n == safetyNumber(other.publicIdentity(), me.publicIdentity()))
        expect(n.split(" ").size == 12) { n }
    }
    check("identity: typed errors for a bad public identity and a bad invitation URL") {
        expectThrows<ChatException.InvalidIdentity> { publicFingerprint("ftpchat-id1:AAAA") }
        expectThrows<ChatException.InvalidIdentity> { safetyNumber("nope", Identity.generate().publicIdentity()) }
        val secret = "S3cretKeyMaterial".repeat(4)
        val url = "ftpchat://join?v=1&room=00&anchor=00&role=member&key=$secret&at=x"
        val e = expectThrows<ChatException.InvalidInvitation> {
            ChatRoom.join(url, Identity.generate(), memberOptions("r", "Bob", tempFolder()), tempFolder())
        }
        expectNoSecret(e, secret, url)
        val folder = tempFolder()
        ChatRoom(folder, PASSWORD, nativeOptions("pw", "A")).use { room ->
            expect(room.identity() == null)
            expectThrows<ChatException.Membership> { room.members() }
        }
        ChatRoom.openMemberRoom(folder, Identity.generate(), memberOptions("m", "A", tempFolder())).use { room ->
            expectThrows<ChatException.InvalidArgument> { room.removeMember("xyz") }
            expectThrows<ChatException.InvalidIdentity> { room.addMember("ftpchat-id1:AAAA", MemberRole.MEMBER, false) }
            expectThrows<ChatException.Membership> { room.removeMember(room.members()[0].id) } // the last admin
        }
        expectThrows<ChatException.InvalidConfig> {
            ChatRoom.openMemberRoom(folder, Identity.generate(), memberOptions("m2", "A", tempFolder()).copy(layout = RoomLayout.SHARED_FILE17))
        }
    }
}

/** Holds a transfer at its first progress report until `go` opens. */
class Gate : TransferListener {
    val started = CountDownLatch(1)
    val go = CountDownLatch(1)
    override fun onProgress(done: ULong, total: ULong) {
        if (done == 0uL) {
            started.countDown()
            go.await(TIMEOUT_MS, TimeUnit.MILLISECONDS)
        }
    }
}

/**
 * The coroutine API at `location`: suspend calls between two room objects, the update
 * stream (`UpdateStream.next()`) and the `Flow` on top of it (`ChatRoom.updates()`,
 * FtpChatFlow.kt), cancellation, typed errors, async attachments.
 */
fun coroutineScenario(label: String, location: String, caPem: String? = null) {
    val room = unique("$label-co")
    val opened = runCatching {
        runBlocking(Dispatchers.Default) {
            val alice = ChatRoom.openAsync(location, PASSWORD, nativeOptions(room, "Alice", caPem = caPem))
            val bob = ChatRoom.openAsync(location, PASSWORD, nativeOptions(room, "Bob", create = false, caPem = caPem))
            alice to bob
        }
    }
    val (alice, bob) = opened.getOrElse { e ->
        check("$label: openAsync two room objects") { throw e }
        return
    }
    try {
        check("$label: suspend send/sync/history between two rooms") {
            runBlocking(Dispatchers.Default) {
                val id = alice.send("suspend hello")
                expect(id in alice.syncAsync().confirmed)
                val got = mutableListOf<String>()
                withTimeout(TIMEOUT_MS) {
                    while ("suspend hello" !in got) got.addAll(bob.syncAsync().messages.map { it.text })
                }
                expect(bob.historyAsync(null, 10u).map { it.text } == listOf("suspend hello"))
            }
        }
        check("$label: Flow<ChatUpdate> delivers the other room's message") {
            runBlocking(Dispatchers.Default) {
                withTimeout(TIMEOUT_MS) {
                    val arrived = async {
                        // The README's way to keep going through transient failures.
                        bob.updates(20uL, 200uL)
                            .retryWhen { e, _ -> (e is ChatException.Transport && e.transient).also { if (it) delay(3_000) } }
                            .first { u -> u.messages.any { it.text == "via flow" } }
                    }
                    alice.send("via flow")
                    alice.syncAsync()
                    val u = arrived.await()
                    val m = u.messages.single { it.text == "via flow" }
                    expect(m.sender == "Alice" && !m.isOwn) { "$m" }
                }
            }
            // `first` ended the collection, which cancelled its watcher: a later message
            // is left for the next sync.
            alice.send("after first"); alice.sync()
            Thread.sleep(500)
            expect(bob.sync().messages.map { it.text } == listOf("after first"))
        }
        check("$label: Flow: the watcher delivers own sends (confirmations)") {
            runBlocking(Dispatchers.Default) {
                withTimeout(TIMEOUT_MS) {
                    val id = bob.send("bob via flow")
                    bob.updates(20uL, 200uL).first { id in it.confirmed }
                    expect(bob.outboxLen() == 0uL)
                }
            }
            expect(alice.sync().messages.map { it.text } == listOf("bob via flow"))
        }
        check("$label: cancelling the collecting coroutine stops the watcher; nothing is lost") {
            runBlocking(Dispatchers.Default) {
                val seen = mutableListOf<String>()
                val job = launch { bob.updates(20uL, 100uL).collect { u -> seen.addAll(u.messages.map { it.text }) } }
                delay(300)
                job.cancelAndJoin()
                expect(seen.isEmpty()) { "$seen" }
            }
            alice.send("after cancel"); alice.sync()
            Thread.sleep(500) // a leaked watcher (every 20-100 ms) would take it meanwhile
            expect(bob.sync().messages.map { it.text } == listOf("after cancel"))
        }
        check("$label: UpdateStream: next() suspends until a message; cancel() ends it") {
            bob.updateStream(20uL, 100uL).use { stream ->
                runBlocking(Dispatchers.Default) {
                    val waiting = async { stream.next() }
                    delay(200)
                    expect(!waiting.isCompleted) { "next() returned with nothing new" }
                    alice.send("to the stream"); alice.syncAsync()
                    val texts = mutableListOf<String>()
                    withTimeout(TIMEOUT_MS) {
                        var u: ChatUpdate? = waiting.await()
                        while (true) {
                            texts.addAll(u!!.messages.map { it.text })
                            if ("to the stream" in texts) break
                            u = stream.next()
                        }
                    }
                    expect(texts == listOf("to the stream")) { "$texts" }
                    val pending = async { stream.next() }
                    delay(100)
                    stream.cancel()
                    expect(withTimeout(TIMEOUT_MS) { pending.await() } == null)
                    expect(stream.next() == null)
                    stream.cancel() // a second cancel is harmless
                    expect(stream.next() == null)
                    expect(!stream.isActive())
                    withTimeout(TIMEOUT_MS) { while (stream.isRunning()) delay(10) }
                }
            }
        }
        check("$label: a cancelled next() takes nothing from the stream") {
            bob.updateStream(20uL, 100uL).use { stream ->
                runBlocking(Dispatchers.Default) {
                    val job = launch { stream.next() }
                    delay(100)
                    job.cancelAndJoin()
                    alice.send("after a cancelled next"); alice.syncAsync()
                    val u = withTimeout(TIMEOUT_MS) { stream.next() }
                    expect(u!!.messages.map { it.text } == listOf("after a cancelled next")) { "$u" }
                    stream.cancel()
                }
            }
        }
        check("$label: invalid intervals are ChatException.InvalidArgument when collection starts") {
            val flow = bob.updates(0uL, 0uL) // cold: nothing happens yet
            expectThrows<ChatException.InvalidArgument> { runBlocking { flow.collect {} } }
        }
        check("$label: sendFileAsync/saveAttachmentAsync; a cancelled coroutine cancels its transfer") {
            val data = randomFile("co-$label.bin", 1_500_000, 7)
            runBlocking(Dispatchers.Default) {
                val id = alice.sendFileAsync(data.path, "async file", null)
                alice.syncAsync()
                val target = File(tempFolder(), "saved.bin")
                withTimeout(TIMEOUT_MS) { while (bob.message(id) == null) bob.syncAsync() }
                bob.saveAttachmentAsync(id, target.path, null)
                expect(sha256(target) == sha256(data)) { "the saved copy differs" }

                val gate = Gate()
                val transfer = ChatTransfer(gate)
                val upload = launch { alice.sendFileAsync(data.path, "never", transfer) }
                expect(gate.started.await(TIMEOUT_MS, TimeUnit.MILLISECONDS)) { "no progress" }
                upload.cancel()
                withTimeout(TIMEOUT_MS) { while (!transfer.isCancelled()) delay(10) }
                gate.go.countDown()
                upload.join()
                delay(300)
                expect(alice.outboxLen() == 0uL) { "a cancelled upload queued a message" }
            }
        }
        check("$label: shutdownAsync, then the Flow completes and calls throw Closed") {
            runBlocking(Dispatchers.Default) {
                val collected = async { bob.updates(20uL, 100uL).toList() }
                delay(200)
                bob.shutdownAsync()
                withTimeout(TIMEOUT_MS) { collected.await() }
                expect(bob.isShutDown())
                expectThrows<ChatException.Closed> { runBlocking { bob.syncAsync() } }
                expectThrows<ChatException.Closed> { runBlocking { bob.updates().collect {} } }
            }
        }
    } finally {
        bob.shutdown()
        alice.shutdown()
    }
}

/** Folder only: member rooms through suspend calls, and a failed sync through the Flow. */
fun coroutineFolderExtras() {
    check("coroutines: member rooms through suspend calls") {
        val folder = tempFolder()
        val ids = List(2) { Identity.generate() }
        runBlocking(Dispatchers.Default) {
            val alice = ChatRoom.openMemberRoomAsync(folder, ids[0], memberOptions("team", "Alice", tempFolder()))
            val link = alice.inviteAsync(MemberRole.MEMBER, folder)
            expectThrows<ChatException.InvalidInvitation> {
                runBlocking { ChatRoom.joinAsync("ftpchat://join?nonsense", ids[1], memberOptions("team", "Bob", tempFolder()), null) }
            }
            val bob = ChatRoom.joinAsync(link, ids[1], memberOptions("team", "Bob", tempFolder()), null)
            alice.syncAsync()
            val bobId = alice.members().single { it.fingerprints[0] == ids[1].fingerprint() }.id
            val promoted = alice.promoteAsync(bobId)
            val removed = alice.removeMemberAsync(bobId)
            expect(removed > promoted) { "$promoted $removed" }
            expect(alice.members().size == 1)
            bob.shutdownAsync()
            expectThrows<ChatException.Closed> { runBlocking { bob.inviteAsync(MemberRole.MEMBER, folder) } }
            alice.shutdownAsync()
        }
    }
    check("coroutines: a wrong shared-file password ends the Flow as ChatException.WrongPassword") {
        val folder = tempFolder()
        val file = unique("co-shared") + ".txt"
        ChatRoom(folder, PASSWORD, sharedOptions(file, "Alice")).use { alice ->
            alice.send("keyed line"); alice.sync()
            ChatRoom(folder, "not-the-room-password-1234", sharedOptions(file, "Eve")).use { eve ->
                eve.send("must not reach the file")
                val e = expectThrows<ChatException.WrongPassword> {
                    runBlocking(Dispatchers.Default) { withTimeout(TIMEOUT_MS) { eve.updates(20uL, 100uL).collect {} } }
                }
                expectNoSecret(e, "not-the-room-password-1234", PASSWORD)
                expect(File(folder, file).readLines().size == 1) { "a line was written" }
                // The stream itself goes on after the error: next() throws each round.
                eve.updateStream(20uL, 100uL).use { stream ->
                    repeat(2) {
                        expectThrows<ChatException.WrongPassword> {
                            runBlocking { withTimeout(TIMEOUT_MS) { while (true) stream.next() } }
                        }
                        expect(stream.isActive())
                    }
                    stream.cancel()
                }
            }
        }
    }
}

fun main() {
    println("ftpchat Kotlin bindings test, library ${libraryVersion()}")
    errorMapping()
    roomScenario("folder", tempFolder())
    folderExtras()
    coroutineScenario("folder", tempFolder())
    coroutineFolderExtras()
    roomApi()
    identityApi()
    memberScenario("folder", tempFolder())
    changesScenario("folder", tempFolder())
    privatePresenceScenario("folder", tempFolder())
    attachmentScenario("folder", tempFolder())
    val sharedFolder = File(tempFolder())
    sharedScenario("folder", sharedFolder.path, folder = sharedFolder)
    realClients()

    val ftp = System.getenv("FTPCHAT_TEST_PYFTPDLIB_URL")
    if (!ftp.isNullOrEmpty()) {
        roomScenario("ftp pyftpdlib", ftp)
        coroutineScenario("ftp pyftpdlib", ftp)
        sharedScenario("ftp pyftpdlib", ftp)
        memberScenario("ftp pyftpdlib", ftp)
        changesScenario("ftp pyftpdlib", ftp)
        privatePresenceScenario("ftp pyftpdlib", ftp)
        attachmentScenario("ftp pyftpdlib", ftp)
    } else if (System.getenv("CI") == "true") {
        check("ftp pyftpdlib") { throw AssertionError("FTPCHAT_TEST_PYFTPDLIB_URL is not set (CI=true needs the FTP servers of .ci/ftp-servers.sh)") }
    } else {
        skip("ftp pyftpdlib", "FTPCHAT_TEST_PYFTPDLIB_URL is not set (source .ci/ftp-servers.sh)")
    }

    val ftps = System.getenv("FTPCHAT_TEST_VSFTPD_FTPS_URL")
    val ca = System.getenv("FTPCHAT_TEST_FTPS_CA")
    if (!ftps.isNullOrEmpty() && !ca.isNullOrEmpty()) {
        roomScenario("ftps vsftpd", ftps, File(ca).readText())
        coroutineScenario("ftps vsftpd", ftps, File(ca).readText())
        sharedScenario("ftps vsftpd", ftps, File(ca).readText())
        memberScenario("ftps vsftpd", ftps, File(ca).readText())
        changesScenario("ftps vsftpd", ftps, File(ca).readText())
        privatePresenceScenario("ftps vsftpd", ftps, File(ca).readText())
        attachmentScenario("ftps vsftpd", ftps, File(ca).readText())
    } else {
        skip("ftps vsftpd", "FTPCHAT_TEST_VSFTPD_FTPS_URL / FTPCHAT_TEST_FTPS_CA not set")
    }

    storeScenarios()

    println()
    println("kotlin: $passed passed, $failed failed" + if (skipped > 0) ", $skipped skipped" else "")
    System.out.flush()
    exitProcess(if (failed == 0) 0 else 1)
}

/** Runs `body` with the scenarios' options reaching the store through `store`. */
fun <T> withStore(store: StoreOptions, body: () -> T): T {
    currentStore = store
    try {
        return body()
    } finally {
        currentStore = null
    }
}

/** Runs `body` with the variables `names` if all are set; else skips (fails under CI=true). */
fun withEnv(label: String, vararg names: String, body: (Map<String, String>) -> Unit) {
    val values = names.associateWith { System.getenv(it) ?: "" }
    val missing = values.filterValues { it.isEmpty() }.keys
    when {
        missing.isEmpty() -> body(values)
        System.getenv("CI") == "true" -> check(label) { throw AssertionError("$missing not set (CI=true needs the servers of .ci/ftp-servers.sh)") }
        else -> skip(label, "$missing not set (source .ci/ftp-servers.sh)")
    }
}

/** A store that cannot append: a native room works (segment layout), a shared file is refused before anything is written. */
fun cannotAppendScenario(label: String, location: String, vararg secrets: String) {
    check("$label: a shared FTPChat file is refused with Unsupported (the store cannot append)") {
        val e = expectThrows<ChatException.Unsupported> {
            ChatRoom(location, PASSWORD, sharedOptions(unique(label) + ".txt", "Alice")).use { it.sync() }
        }
        expect(e.message?.contains("append") == true) { "${e.message}" }
        expectNoSecret(e, PASSWORD, *secrets)
    }
}

/** S3 (moto), WebDAV (wsgidav) and SFTP (sshd) locations, configured through RoomOptions.store. */
fun storeScenarios() {
    withEnv("s3 moto", "FTPCHAT_TEST_S3_URL", "FTPCHAT_TEST_S3_ENDPOINT", "FTPCHAT_TEST_S3_REGION",
        "FTPCHAT_TEST_S3_ACCESS_KEY", "FTPCHAT_TEST_S3_SECRET_KEY") { env ->
        val location = env.getValue("FTPCHAT_TEST_S3_URL")
        val secret = env.getValue("FTPCHAT_TEST_S3_SECRET_KEY")
        val credentials = S3Credentials(env.getValue("FTPCHAT_TEST_S3_ACCESS_KEY"), secret)
        check("s3 moto: the access key's secret shows in no description of the options") {
            val o = RoomOptions(room = "r", displayName = "A", layout = RoomLayout.NATIVE,
                store = StoreOptions(s3Credentials = credentials))
            expect(!o.toString().contains(secret)) { "RoomOptions.toString() shows the S3 secret" }
        }
        withStore(StoreOptions(
            s3Endpoint = env.getValue("FTPCHAT_TEST_S3_ENDPOINT"),
            s3Region = env.getValue("FTPCHAT_TEST_S3_REGION"),
            s3Credentials = credentials,
        )) {
            roomScenario("s3 moto", location)
            memberScenario("s3 moto", location)
            privatePresenceScenario("s3 moto", location)
            attachmentScenario("s3 moto", location)
            cannotAppendScenario("s3 moto", location, secret)
        }
    }

    withEnv("webdav wsgidav", "FTPCHAT_TEST_WEBDAV_URL", "FTPCHAT_TEST_WEBDAV_USER", "FTPCHAT_TEST_WEBDAV_PASSWORD") { env ->
        // URLEncoder is for forms (space as '+'); userinfo wants %20.
        val encode = { v: String -> java.net.URLEncoder.encode(v, "UTF-8").replace("+", "%20") }
        val user = encode(env.getValue("FTPCHAT_TEST_WEBDAV_USER"))
        val password = encode(env.getValue("FTPCHAT_TEST_WEBDAV_PASSWORD"))
        val location = env.getValue("FTPCHAT_TEST_WEBDAV_URL").replaceFirst("://", "://$user:$password@")
        withStore(StoreOptions(connectTimeoutMs = 5_000uL, ioTimeoutMs = 20_000uL)) {
            roomScenario("webdav wsgidav", location)
            memberScenario("webdav wsgidav", location)
            attachmentScenario("webdav wsgidav", location)
            cannotAppendScenario("webdav wsgidav", location, env.getValue("FTPCHAT_TEST_WEBDAV_PASSWORD"))
        }
    }

    withEnv("sftp sshd", "FTPCHAT_TEST_SFTP_URL", "FTPCHAT_TEST_SFTP_KNOWN_HOSTS", "FTPCHAT_TEST_SFTP_FINGERPRINT",
        "FTPCHAT_TEST_SFTP_KEY") { env ->
        val location = env.getValue("FTPCHAT_TEST_SFTP_URL")
        withStore(StoreOptions(sshKnownHosts = env.getValue("FTPCHAT_TEST_SFTP_KNOWN_HOSTS"))) {
            roomScenario("sftp sshd", location)
            attachmentScenario("sftp sshd", location)
        }
        val uri = URI(location)
        val keyOnly = "sftp://${uri.rawUserInfo.substringBefore(':')}@${uri.host}:${uri.port}${uri.rawPath}"
        check("sftp sshd: login with a key file, the host key pinned by its fingerprint") {
            withStore(StoreOptions(sshHostFingerprint = env.getValue("FTPCHAT_TEST_SFTP_FINGERPRINT"),
                sshKeyFile = env.getValue("FTPCHAT_TEST_SFTP_KEY"))) {
                val room = unique("sftp-key")
                ChatRoom(keyOnly, PASSWORD, nativeOptions(room, "Alice")).use { alice ->
                    ChatRoom(location, PASSWORD, nativeOptions(room, "Bob")).use { bob ->
                        alice.send("signed in with a key")
                        alice.sync()
                        expect(readUntil(bob, "signed in with a key").sender == "Alice")
                    }
                }
            }
        }
        check("sftp sshd: a host key that does not match the pinned fingerprint is refused") {
            val wrong = "SHA256:" + "A".repeat(43)
            withStore(StoreOptions(sshHostFingerprint = wrong)) {
                val e = expectThrows<ChatException> {
                    ChatRoom(location, PASSWORD, nativeOptions(unique("sftp-wrong-key"), "Eve")).use { it.sync() }
                }
                expectNoSecret(e, PASSWORD, *urlSecrets(location))
            }
        }
    }
}
