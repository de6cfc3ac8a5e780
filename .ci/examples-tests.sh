#!/usr/bin/env bash
# End-to-end tests of the `chat` example in real terminals (tmux send-keys / capture-pane):
#
# 1. The README's newcomer command, `cargo run -p ftpchat-examples --bin ftpchat -- chat`, starts the
#    embedded server; a second terminal runs the join command that the first one shows;
#    the two exchange messages and each screen shows the other's (and its own, confirmed).
# 2. `serve` with a users file (the README's commands); two clients log in with FTP
#    passwords typed at the prompt; the server is stopped: the sender's status bar says
#    OFFLINE and its outbox grows; the server is started again: the message is delivered
#    and the other client shows it.
# 3. `read-ftpchat` on the README's FTPChat 1.5 file, and on the chat file the real FTPChat
#    1.6 and 1.7 clients wrote (ftpchat-core/tests/testdata/ftpchat-1.6-1.7-chat.txt) with
#    only its password (FTPCHAT_PASSWORD, and typed at the --ask-password prompt): all six
#    messages.
# 4. `chat --compat 1.7` on the embedded server: the join command carries --compat 1.7, two
#    terminals exchange messages, the file holds FTPChat 1.7 lines (decrypted here with
#    Python's `cryptography` the way the 1.7 client does, when it is installed), and a third
#    terminal with a wrong room password is told so and writes nothing.
# 5. `chat --members` (the README's command) on the embedded server: alice's `/invite`
#    prints a join command; bob (another home, so another device identity) runs it; they
#    exchange signed messages (each sees the other's fingerprint start); `/members` lists
#    both; `/whois` and `/verify` mark bob verified; alice `/edit`s a message and `/delete`s
#    another, both `/react` (and bob takes his back), each screen following the other's;
#    bob quits, alice `/msg`s him, he comes back and reads it in its own conversation
#    (`/open`) and answers her alone; he `/block`s and `/unblock`s her; `/who` and `/last`
#    list who is online, `/seen` says bob read alice's last message;
#    `/remove` removes bob: he is told, his next message is refused, and neither sees what
#    the other writes afterwards.
# 6. Attachments on the embedded server (a native room): alice `/send`s a 3 MiB random file
#    (a path with a space, quoted, and a caption), bob sees its line (name, media type, size,
#    caption) and `/save`s it with no path (its name in his working folder); bob `/send`s a
#    small text file and alice `/save`s it to a path she names; the SHA-256 of each saved
#    copy equals its source's. A second `/save` does not replace the file, and a missing
#    file is refused in one line.
#
# Installs tmux when missing (apt-get), builds the binaries, runs everything on 127.0.0.1
# on a private tmux socket, prints `examples: N passed, N failed` and exits non-zero on a
# failure. Everything it starts is stopped and its temporary folder removed on exit.
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
REPO="$(pwd)"
STARTED=$SECONDS
PASSED=0
FAILED=0
export TERM="${TERM:-xterm-256color}"
[[ "$TERM" == "dumb" ]] && export TERM=xterm-256color

pass() { PASSED=$((PASSED + 1)); echo "PASS: $*"; }
fail() { FAILED=$((FAILED + 1)); echo "FAIL: $*"; }
summary() {
    echo "=== examples end-to-end: $((SECONDS - STARTED)) s"
    echo "examples: ${PASSED} passed, ${FAILED} failed"
}

if ! command -v tmux >/dev/null 2>&1; then
    echo "=== installing tmux"
    SUDO=""
    [[ "$(id -u)" != 0 ]] && command -v sudo >/dev/null 2>&1 && SUDO="sudo"
    export DEBIAN_FRONTEND=noninteractive
    $SUDO apt-get install -y tmux >/dev/null 2>&1 \
        || { $SUDO apt-get update >/dev/null 2>&1 && $SUDO apt-get install -y tmux >/dev/null 2>&1; }
fi
if ! command -v tmux >/dev/null 2>&1; then
    fail "tmux is not installed and could not be installed"
    summary
    exit 1
fi

echo "=== cargo build -p ftpchat-examples --bins"
if ! cargo build -p ftpchat-examples --bins --locked; then
    fail "build"
    summary
    exit 1
fi

WORK="$(mktemp -d "${TMPDIR:-/tmp}/ftpchat-examples-e2e.XXXXXX")"
SOCKET="ftpchat-examples-$$"
T() { tmux -L "$SOCKET" "$@"; }
cleanup() {
    T kill-server >/dev/null 2>&1 || true
    # Programs killed with the terminals may still be closing files for a moment.
    for _ in 1 2 3 4 5 6 7 8 9 10; do
        rm -rf "$WORK" 2>/dev/null && break
        sleep 0.5
    done
}
trap cleanup EXIT

# A terminal (tmux session) named $1 running a clean bash in the repository; the remaining
# arguments are VAR=value settings for its environment.
terminal() {
    local name="$1"
    shift
    T -u new-session -d -s "$name" -x 200 -y 50 \
        "env -u FTPCHAT_PASSWORD -u FTPCHAT_FTP_PASSWORD LANG=C.UTF-8 LC_ALL=C.UTF-8 HISTFILE=/dev/null TMPDIR='$WORK' $* bash --norc --noprofile"
    T set-option -w -t "=$name:0" remain-on-exit on >/dev/null
    T send-keys -t "=$name:0.0" "cd '$REPO'" Enter
}
# Types a line (literally) and Enter.
type_line() {
    T send-keys -t "=$1:0.0" -l -- "$2"
    T send-keys -t "=$1:0.0" Enter
}
screen() { T capture-pane -p -J -t "=$1:0.0" 2>/dev/null; }
# Waits until the screen of $1 shows the fixed string $2 (at most $3 seconds).
wait_for() {
    local end=$((SECONDS + ${3:-30}))
    while ((SECONDS < end)); do
        screen "$1" | grep -qF -- "$2" && return 0
        sleep 0.3
    done
    return 1
}
show() {
    echo "----- screen of $1:"
    screen "$1" | sed -e '/^[[:space:]]*$/d' | tail -40
    echo "-----"
}
# check DESCRIPTION TERMINAL TEXT [SECONDS]
check() {
    if wait_for "$2" "$3" "${4:-30}"; then
        pass "$1"
    else
        fail "$1 (no \"$3\" on $2's screen)"
        show "$2"
    fi
}
# check_not DESCRIPTION TERMINAL TEXT
check_not() {
    if screen "$2" | grep -qF -- "$3"; then
        fail "$1"
        show "$2"
    else
        pass "$1"
    fi
}
# Waits until the program in terminal $1 has exited back to the shell.
check_exited() {
    local end=$((SECONDS + ${3:-20})) cmd=""
    while ((SECONDS < end)); do
        cmd="$(T display-message -p -t "=$1:0.0" '#{pane_current_command}' 2>/dev/null)"
        [[ "$cmd" == "bash" ]] && { pass "$2"; return 0; }
        sleep 0.3
    done
    fail "$2 (still running: $cmd)"
    show "$1"
}

BUILD_WAIT=300 # the first `cargo run` may wait for a build lock

echo "=== 1. newcomer path: chat on the embedded server, two terminals"
ROOM_PW='correct horse 42'
terminal alice USER=alice
type_line alice "cargo run -p ftpchat-examples --bin ftpchat -- chat"
check "chat starts the embedded server and asks for a room password" alice "Choose a room password:" $BUILD_WAIT
check "chat prints the command a second person runs" alice "To join from another terminal, run:" 5
type_line alice "$ROOM_PW"
check "alice is in the chat" alice "You are alice in room lobby" 60
check "alice's status bar: server, no TLS, online, outbox" alice "| no TLS | online | outbox 0 | alice in lobby" 20

JOIN="$(screen alice | grep -o 'cargo run -p ftpchat-examples --bin ftpchat -- chat ftp://[^ ]*' | head -n 1)"
if [[ "$JOIN" =~ ^cargo\ run\ -p\ ftpchat-examples\ --bin\ ftpchat\ --\ chat\ ftp://guest:[A-Za-z0-9]+@127\.0\.0\.1:[0-9]+/lobby$ ]]; then
    pass "the join command is shown in the chat: $JOIN"
else
    fail "the join command is shown in the chat (got: \"$JOIN\")"
    show alice
fi

terminal bob USER=bob
type_line bob "$JOIN"
check "bob is asked for the room password" bob "Room password for lobby:" $BUILD_WAIT
type_line bob "$ROOM_PW"
check "bob is in the chat" bob "You are bob in room lobby" 60
check "bob is online" bob "| online | outbox 0 | bob in lobby" 20

type_line alice "hello from alice"
type_line bob "hi alice, bob here"
check "bob's screen shows alice's message" bob "alice: hello from alice" 30
check "alice's screen shows bob's message" alice "bob: hi alice, bob here" 30
check "alice's own message is confirmed" alice "alice: hello from alice ✓" 30
check "bob's own message is confirmed" bob "bob: hi alice, bob here ✓" 30

type_line bob "/help"
check "/help lists /history" bob "/history [N]" 10
type_line bob "/history"
check "/history answers" bob "no older messages" 20
type_line bob "/quit"
check_exited bob "/quit leaves bob's chat"
type_line alice "/quit"
check_exited alice "/quit leaves alice's chat and stops the server"
# Back on the normal screen: the prompt is there, the typed password is not.
check "alice's terminal shows the password prompt after the chat" alice "Choose a room password:" 5
check_not "the room password was not echoed" alice "$ROOM_PW"

echo "=== 2. README commands: serve with a users file, two chats, a bot; the server goes away and comes back"
# The README's commands, typed verbatim. They keep their files under ~/ftpchat: here HOME is
# a scratch folder (cargo and rustup keep their own homes).
export CARGO_HOME="${CARGO_HOME:-$HOME/.cargo}" RUSTUP_HOME="${RUSTUP_HOME:-$HOME/.rustup}"
HOME_ENV="HOME='$WORK/home' CARGO_HOME='$CARGO_HOME' RUSTUP_HOME='$RUSTUP_HOME'"
mkdir -p "$WORK/home"
README_ADD_ALICE='cargo run -p ftpchat-examples --bin ftpchat -- serve add-user --users ~/ftpchat/users.txt alice'
README_ADD_BOB='cargo run -p ftpchat-examples --bin ftpchat -- serve add-user --users ~/ftpchat/users.txt bob'
README_SERVE='cargo run -p ftpchat-examples --bin ftpchat -- serve --root ~/ftpchat/rooms --users ~/ftpchat/users.txt'
README_ALICE='cargo run -p ftpchat-examples --bin ftpchat -- chat ftp://alice@127.0.0.1:2221/lobby'
README_BOB='cargo run -p ftpchat-examples --bin ftpchat -- chat ftp://bob@127.0.0.1:2221/lobby'
README_BOT='cargo run -p ftpchat-examples --bin bot -- ftp://bob@127.0.0.1:2221/lobby'
README_READ='cargo run -p ftpchat-examples --bin read-ftpchat -- ftpchat-core/tests/testdata/legacy-v1.5-chat.txt'
FTP_PW_ALICE='alice ftp pw'
FTP_PW_BOB='bob:ftp@pw'
LOBBY_PW='lobby room pw'

if (exec 3<>/dev/tcp/127.0.0.1/2221) 2>/dev/null; then
    fail "port 2221 (serve's default, used by the README) is free"
fi

terminal admin "$HOME_ENV"
type_line admin "$README_ADD_ALICE"
check "serve add-user asks for alice's password" admin "Password for alice:" $BUILD_WAIT
type_line admin "$FTP_PW_ALICE"
check "serve add-user adds alice" admin "added alice to" 30
type_line admin "$README_ADD_BOB"
check "serve add-user asks for bob's password" admin "Password for bob:" 60
type_line admin "$FTP_PW_BOB"
check "serve add-user adds bob" admin "added bob to" 30
check_not "add-user does not echo the password" admin "$FTP_PW_ALICE"
if grep -qF "$FTP_PW_ALICE" "$WORK/home/ftpchat/users.txt" 2>/dev/null \
    || [[ "$(grep -c . "$WORK/home/ftpchat/users.txt" 2>/dev/null)" != 2 ]]; then
    fail "the users file has two lines and no plaintext password"
else
    pass "the users file has two lines and no plaintext password"
fi

terminal server "$HOME_ENV"
type_line server "$README_SERVE"
check "serve is ready on 127.0.0.1:2221" server "ready; Ctrl-C stops" $BUILD_WAIT

terminal alice2 USER=alice "$HOME_ENV"
terminal bob2 USER=bob "$HOME_ENV"
type_line alice2 "$README_ALICE"
check "alice is asked for her FTP password" alice2 "FTP password for alice:" $BUILD_WAIT
type_line alice2 "$FTP_PW_ALICE"
check "alice is asked for the room password" alice2 "Room password for lobby:" 30
type_line alice2 "$LOBBY_PW"
check "alice is in the chat on serve" alice2 "| online | outbox 0 | alice in lobby" 60
type_line bob2 "$README_BOB"
check "bob is asked for his FTP password" bob2 "FTP password for bob:" $BUILD_WAIT
type_line bob2 "$FTP_PW_BOB"
check "bob is asked for the room password" bob2 "Room password for lobby:" 30
type_line bob2 "$LOBBY_PW"
check "bob is in the chat on serve" bob2 "| online | outbox 0 | bob in lobby" 60

type_line alice2 "hi bob"
check "bob's screen shows alice's message" bob2 "alice: hi bob" 30
type_line bob2 "hi alice"
check "alice's screen shows bob's message" alice2 "bob: hi alice" 30

terminal botterm "$HOME_ENV"
type_line botterm "$README_BOT"
check "the bot asks for bob's FTP password" botterm "FTP password for bob:" $BUILD_WAIT
type_line botterm "$FTP_PW_BOB"
check "the bot asks for the room password" botterm "Room password:" 30
type_line botterm "$LOBBY_PW"
check "the bot is listening" botterm "bot is listening in lobby" 60
type_line alice2 "ping"
check "the bot answers alice" alice2 "bot: pong" 30

T send-keys -t "=server:0.0" C-c
check_exited server "serve stops on Ctrl-C"
check "alice's status bar shows the server offline" alice2 "| OFFLINE |" 30
type_line alice2 "sent while offline"
check "alice's message waits in the outbox" alice2 "| OFFLINE | outbox 1 |" 10
check "alice's message is marked pending" alice2 "alice: sent while offline …" 10

type_line server "$README_SERVE"
check "serve is ready again" server "ready; Ctrl-C stops" 60
check "alice is back online and her outbox is empty" alice2 "| online | outbox 0 |" 30
check "bob's screen shows the message sent while offline" bob2 "alice: sent while offline" 30
check "alice's offline message is confirmed" alice2 "alice: sent while offline ✓" 30
check "alice is told the connection came back" alice2 "back online" 5

type_line alice2 "/quit"
type_line bob2 "/quit"
check_exited alice2 "alice's chat exits"
check_exited bob2 "bob's chat exits"
check_not "the FTP password was not echoed" alice2 "$FTP_PW_ALICE"
check_not "the room password was not echoed" bob2 "$LOBBY_PW"
T send-keys -t "=botterm:0.0" C-c
check_exited botterm "the bot stops on Ctrl-C"
T send-keys -t "=server:0.0" C-c
check_exited server "serve stops"

echo "=== 3. read-ftpchat: the README's FTPChat 1.5 file, the real 1.6/1.7 clients' file"
READ_OUT="$(bash -c "$README_READ" 2>"$WORK/read.err" </dev/null)"
if [[ "$READ_OUT" == *"[2025-12-04 18:30] ahmed: Salam! anyone here?"* && "$READ_OUT" == *"user:odd: colon in name"* ]]; then
    pass "read-ftpchat prints the FTPChat 1.5 file"
else
    fail "read-ftpchat prints the FTPChat 1.5 file"
    echo "$READ_OUT"
    cat "$WORK/read.err"
fi

REAL_FILE='ftpchat-core/tests/testdata/ftpchat-1.6-1.7-chat.txt'
REAL_PW='correct horse'
# The first screen line of each message of ftpchat-1.6-1.7-chat.expected.json.
REAL_LINES=(
    "[2026-12-02 04:18] Ahmed: Hello from FTPChat 1.6"
    "[2026-12-02 04:18] Mona: Hi Ahmed, this is 1.7"
    "[2026-12-02 04:18] Ahmed: Two lines"
    "[2026-12-02 04:18] Mona: unicode: "
    "[2026-12-02 04:18] Ahmed: last: ends with spaces"
    "[2026-12-02 04:18] Mona: trailing spaces are stripped by 1.7"
)
READ_OUT="$(FTPCHAT_PASSWORD="$REAL_PW" cargo run -q -p ftpchat-examples --bin read-ftpchat -- \
    "$REAL_FILE" 2>"$WORK/read-real.err" </dev/null)"
missing=""
for line in "${REAL_LINES[@]}" "    in one message"; do
    grep -qF -- "$line" <<<"$READ_OUT" || missing+=" [$line]"
done
if [[ -z "$missing" && "$(grep -c '^\[2026-12-02 04:18\] ' <<<"$READ_OUT")" == 6 ]] \
    && grep -qF "6 message(s)" "$WORK/read-real.err" && ! grep -q "not decoded" "$WORK/read-real.err"; then
    pass "read-ftpchat prints the 6 messages of the real FTPChat 1.6/1.7 file with FTPCHAT_PASSWORD"
else
    fail "read-ftpchat prints the 6 messages of the real FTPChat 1.6/1.7 file with FTPCHAT_PASSWORD (missing:$missing)"
    echo "$READ_OUT"
    cat "$WORK/read-real.err"
fi

terminal reader
type_line reader "cargo run -p ftpchat-examples --bin read-ftpchat -- --ask-password $REAL_FILE"
check "read-ftpchat --ask-password asks for the password" reader "Password of ftpchat-1.6-1.7-chat.txt:" $BUILD_WAIT
type_line reader "$REAL_PW"
check "read-ftpchat --ask-password reads the whole file" reader "6 message(s) from" 30
for line in "${REAL_LINES[@]}"; do
    check "read-ftpchat --ask-password shows: $line" reader "$line" 2
done
check_not "read-ftpchat --ask-password does not echo the password" reader "$REAL_PW"
check_not "read-ftpchat --ask-password: every line decoded" reader "not decoded"

echo "=== 4. chat --compat 1.7: two terminals on the embedded server, and a wrong password"
COMPAT_PW='compat room pw 7'
terminal carol USER=carol
type_line carol "cargo run -p ftpchat-examples --bin ftpchat -- chat --compat 1.7"
check "chat --compat 1.7 starts the embedded server" carol "Choose a room password:" $BUILD_WAIT
type_line carol "$COMPAT_PW"
check "carol is in the 1.7 chat" carol "You are carol in room lobby" 60
COMPAT_JOIN="$(screen carol | grep -o 'cargo run -p ftpchat-examples --bin ftpchat -- chat --compat 1.7 ftp://[^ ]*' | head -n 1)"
if [[ "$COMPAT_JOIN" =~ ^cargo\ run\ -p\ ftpchat-examples\ --bin\ ftpchat\ --\ chat\ --compat\ 1\.7\ ftp://guest:[A-Za-z0-9]+@127\.0\.0\.1:[0-9]+/lobby$ ]]; then
    pass "the join command carries --compat 1.7: $COMPAT_JOIN"
else
    fail "the join command carries --compat 1.7 (got: \"$COMPAT_JOIN\")"
    show carol
fi
terminal dave USER=dave
type_line dave "$COMPAT_JOIN"
check "dave is asked for the room password" dave "Room password for lobby:" $BUILD_WAIT
type_line dave "$COMPAT_PW"
check "dave is in the 1.7 chat" dave "| online | outbox 0 | dave in lobby" 60
type_line carol "hello from carol in 1.7   "
check "dave's screen shows carol's 1.7 message" dave "carol: hello from carol in 1.7" 30
check "carol's 1.7 message is confirmed (trailing spaces stripped, as 1.7 does)" carol "carol: hello from carol in 1.7 ✓" 30
type_line dave "hi carol"
check "carol's screen shows dave's 1.7 message" carol "dave: hi carol" 30
check "dave's 1.7 message is confirmed" dave "dave: hi carol ✓" 30

CHAT_FILE="$(ls -d "$WORK"/ftpchat-served-*/lobby 2>/dev/null | head -n 1)"
if [[ -f "$CHAT_FILE" && "$(grep -c . "$CHAT_FILE")" == 2 && "$(grep -c '^gAAAAA' "$CHAT_FILE")" == 2 ]]; then
    pass "the chat file holds two FTPChat 1.7 lines (raw Fernet tokens)"
else
    fail "the chat file holds two FTPChat 1.7 lines (raw Fernet tokens) ($CHAT_FILE)"
    cat "$CHAT_FILE" 2>/dev/null
fi
if python3 -c 'import cryptography' 2>/dev/null; then
    # What the FTPChat 1.7 client does to read a line: PBKDF2-HMAC-SHA256 of the password
    # with its constant salt and 100,000 iterations as the Fernet key, decrypt, inflate.
    DECRYPTED="$(FTPCHAT_PASSWORD="$COMPAT_PW" python3 - "$CHAT_FILE" <<'PY' 2>&1
import base64, hashlib, os, sys, zlib
from cryptography.fernet import Fernet
salt = b"q6334#Q0q8294%E$(#$%^&^%$#@!#%^YHB>$W#CX>E"
key = hashlib.pbkdf2_hmac("sha256", os.environ["FTPCHAT_PASSWORD"].encode(), salt, 100000, 32)
fernet = Fernet(base64.urlsafe_b64encode(key))
for line in open(sys.argv[1], "rb").read().splitlines():
    if line.strip():
        print(zlib.decompress(fernet.decrypt(line)).decode())
PY
)"
    TS='[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9]{2}:[0-9]{2}'
    EXPECTED_RE="^${TS}:carol: hello from carol in 1\\.7"$'\n'"${TS}:dave: hi carol\$"
    if [[ "$DECRYPTED" =~ $EXPECTED_RE ]]; then
        pass "the FTPChat 1.7 client's decryption reads both lines (\"YYYY-MM-DD HH:MM:name: text\", stripped)"
    else
        fail "the FTPChat 1.7 client's decryption reads both lines"
        echo "$DECRYPTED"
    fi
else
    echo "(python3 has no 'cryptography': the lines are not decrypted the 1.7 client's way)"
fi

terminal eve USER=eve
type_line eve "$COMPAT_JOIN"
check "eve is asked for the room password" eve "Room password for lobby:" $BUILD_WAIT
type_line eve "a wrong room password"
check "eve is told clearly that the password is wrong" eve "WRONG PASSWORD: the lines of lobby do not open with this room password" 60
type_line eve "eve writes under the wrong key"
check "eve's message waits in the outbox" eve "| outbox 1 | eve in lobby" 10
sleep 3
check_not "carol's screen does not show eve's message" carol "eve writes under the wrong key"
if [[ "$(grep -c . "$CHAT_FILE")" == 2 ]]; then
    pass "nothing was written under the wrong password"
else
    fail "nothing was written under the wrong password"
    cat "$CHAT_FILE"
fi
type_line eve "/quit"
check_exited eve "eve's chat exits"
check "eve is told her message was not delivered" eve "1 message(s) not delivered: wrong password" 5
check_not "eve's wrong password was not echoed" eve "a wrong room password"

type_line dave "/quit"
check_exited dave "dave's 1.7 chat exits"
type_line carol "/quit"
check_exited carol "carol's 1.7 chat exits and stops the server"
check_not "the 1.7 room password was not echoed" carol "$COMPAT_PW"

echo "=== 5. member rooms: --members on the embedded server, /invite, --join, /members, /verify, /edit, /react, /delete, /msg, /open, /block, /who, /seen, /remove"
# Two people on one machine: each has a home of their own, so each device keeps its own
# identity (in ~/.local/share/ftpchat/chat).
README_MEMBERS='cargo run -p ftpchat-examples --bin ftpchat -- chat --members'
mkdir -p "$WORK/alice-home" "$WORK/bob-home"
MEMBER_ENV="XDG_DATA_HOME= CARGO_HOME='$CARGO_HOME' RUSTUP_HOME='$RUSTUP_HOME'"
terminal malice USER=alice "HOME='$WORK/alice-home'" "$MEMBER_ENV"
type_line malice "$README_MEMBERS"
check "chat --members starts the embedded server with a member room" malice "You are alice in member room lobby" $BUILD_WAIT
check "alice is an admin of the new room" malice "(admin). /help lists the commands." 5
check "alice's status bar: online" malice "| online | outbox 0 | alice in lobby" 20
ALICE_FP5="$(screen malice | grep -oE 'Your device fingerprint: [0-9]{5}' | head -n 1 | grep -oE '[0-9]{5}$')"
[[ -n "$ALICE_FP5" ]] && pass "alice's fingerprint is shown ($ALICE_FP5 ...)" || fail "alice's fingerprint is shown"
if [[ -f "$WORK/alice-home/.local/share/ftpchat/chat/device-identity" ]]; then
    pass "alice's device identity is kept in ~/.local/share/ftpchat/chat"
else
    fail "alice's device identity is kept in ~/.local/share/ftpchat/chat"
fi

type_line malice "/invite"
check "/invite prints an invitation" malice "-- ftpchat://join?v=1&room=" 30
check "/invite prints the join command" malice "They join with this command" 5
# The join command as the screen shows it, wrapped over several lines: joined again.
MEMBER_JOIN="$(screen malice | awk -v q="'" '
    found { line = $0; gsub(/[[:space:]]/, "", line); cmd = cmd line; if (index(line, q)) { print cmd; exit }; next }
    index($0, "-- cargo run -p ftpchat-examples --bin ftpchat -- chat --join " q "ftpchat://join?") == 1 {
        found = 1; cmd = substr($0, 4); sub(/[[:space:]]+$/, "", cmd)
        if (gsub(q, q, cmd) >= 2) { print cmd; exit }
    }')"
if [[ "$MEMBER_JOIN" =~ ^cargo\ run\ -p\ ftpchat-examples\ --bin\ ftpchat\ --\ chat\ --join\ \'ftpchat://join\?v=1\&room=[0-9a-f]{32}\&anchor=[0-9a-f]{64}\&role=member\&key=[A-Za-z0-9_-]+\&at=ftp%3A%2F%2Fguest%3A[A-Za-z0-9]+%40127\.0\.0\.1%3A[0-9]+%2Flobby\'$ ]]; then
    pass "the join command is on alice's screen"
else
    fail "the join command is on alice's screen (got: \"$MEMBER_JOIN\")"
    show malice
fi

terminal mbob USER=bob "HOME='$WORK/bob-home'" "$MEMBER_ENV"
type_line mbob "$MEMBER_JOIN"
check "bob joins with the invitation" mbob "You are bob in member room lobby" $BUILD_WAIT
check "bob is told how to open the room next time" mbob "Next time open the room with: cargo run -p ftpchat-examples --bin ftpchat -- chat --members ftp://guest:" 5
check "bob is online" mbob "| online | outbox 0 | bob in lobby" 20
check "alice sees bob join" malice "joined as member" 30
check_not "bob is not told he was removed when he joins" mbob "YOU WERE REMOVED"
BOB_FP5="$(screen mbob | grep -oE 'Your device fingerprint: [0-9]{5}' | head -n 1 | grep -oE '[0-9]{5}$')"

type_line malice "hello bob, members only"
check "bob sees alice's signed message (her fingerprint's start beside her name)" mbob "alice [$ALICE_FP5]: hello bob, members only" 30
check "alice's message is confirmed" malice "alice: hello bob, members only ✓" 30
type_line mbob "hi alice, signed by bob"
check "alice sees bob's signed message" malice "bob [$BOB_FP5]: hi alice, signed by bob" 30

type_line malice "/members"
check "/members on alice shows two members" malice "2 member(s)" 10
check "/members marks alice" malice "alice (you)" 5
BOB_ID="$(screen malice | grep -oE 'member [0-9a-f]{8} bob' | tail -n 1 | awk '{print $2}')"
[[ "$BOB_ID" =~ ^[0-9a-f]{8}$ ]] && pass "/members shows bob's id ($BOB_ID)" || { fail "/members shows bob's id"; show malice; }

type_line malice "/whois $BOB_ID"
check "/whois shows the safety number" malice "safety number with you:" 10
type_line malice "/verify $BOB_ID"
check "/verify marks bob's device verified" malice "marked verified on this device ✓" 10
type_line mbob "now verified?"
check "alice sees bob's next message as verified" malice "bob [✓]: now verified?" 30

# Edits, deletes and reactions (issue 15): bob's screen follows alice's changes, hers his.
type_line malice "/edit hello bob, edited"
check "alice's edit shows at once on her screen" malice "alice: hello bob, edited (edited)" 10
check "bob sees alice's edit in place of her message" mbob "alice [$ALICE_FP5]: hello bob, edited (edited)" 30
type_line malice "react to this"
check "bob sees the message to react to" mbob "alice [$ALICE_FP5]: react to this" 30
type_line mbob "/react +1"
check "alice sees bob's reaction" malice "alice: react to this [+1] ✓" 30
type_line malice "/react +1"
check "bob sees two +1 (his own marked)" mbob "alice [$ALICE_FP5]: react to this [+1 x2*]" 30
type_line mbob "/react"
check "bob takes his reaction back: alice sees only hers" malice "alice: react to this [+1*] ✓" 30
type_line malice "/delete"
check "bob sees alice's message deleted" mbob "alice [$ALICE_FP5]: (message deleted)" 30
check_not "the deleted text is gone from bob's screen" mbob "react to this"

# Private messages (issue 15): bob is away; alice writes to him privately; he comes back,
# is told, reads it in its own conversation (not in the room's), and answers her alone.
type_line mbob "/quit"
check_exited mbob "bob quits: he is away"
type_line malice "/msg $BOB_ID see you at five"
check "alice's status bar shows her private conversation with bob" malice "> private with $BOB_ID" 10
check "alice's private message reaches the server" malice "alice: see you at five ✓" 30
BOB_AT="$(printf '%s' "$MEMBER_JOIN" | sed -E "s/.*[?&]at=([^&']+).*/\1/")"
BOB_LOCATION="$(printf '%b' "$(printf '%s' "$BOB_AT" | sed 's/%/\\x/g')")"
type_line mbob "cargo run -p ftpchat-examples --bin ftpchat -- chat --members $BOB_LOCATION"
check "bob is back in the member room" mbob "You are bob in member room lobby" $BUILD_WAIT
check "bob is told a private message came while he was away" mbob "private message from alice (" 30
check_not "the private message is not in bob's room conversation" mbob "see you at five"
ALICE_ID="$(screen mbob | grep -oE 'private message from alice \([0-9a-f]{8}\)' | head -n 1 | grep -oE '[0-9a-f]{8}')"
type_line mbob "/open $ALICE_ID"
check "bob reads alice's private message in their conversation" mbob "alice [$ALICE_FP5]: see you at five" 10
type_line mbob "see you then"
check "alice reads bob's private answer (his device is verified)" malice "bob [✓]: see you then" 30
type_line malice "/room"
type_line mbob "/room"
check "back in the room's conversation" mbob "back in the room's conversation" 10

# Blocking: bob hides alice; she is not told; he undoes it.
type_line mbob "/block $ALICE_ID"
check "bob blocks alice" mbob "blocked $ALICE_ID" 10
type_line malice "bob should not see this"
check "alice's message reaches the server" malice "alice: bob should not see this ✓" 30
sleep 5
check_not "bob does not see a blocked member's message" mbob "bob should not see this"
type_line mbob "/unblock $ALICE_ID"
check "bob unblocks alice" mbob "unblocked $ALICE_ID" 10
type_line malice "unblocked again"
check "bob sees alice's messages again" mbob "alice [$ALICE_FP5]: unblocked again" 30

# Presence and read receipts: /who, /last, /seen.
type_line malice "/who"
check "/who lists who is online now" malice "2 online now:" 10
check "/who shows bob online" malice "$BOB_ID bob online" 5
type_line malice "/last"
check "/last lists who was online in the last hour" malice "2 online in the last hour:" 10
type_line malice "did you read this?"
check "bob gets alice's question" mbob "alice [$ALICE_FP5]: did you read this?" 30
for _ in $(seq 1 20); do
    type_line malice "/seen"
    if wait_for malice "your last message is seen by 1 of 1" 2; then break; fi
done
check "/seen: alice's last message is seen by bob" malice "your last message is seen by 1 of 1: bob ($BOB_ID)" 5

type_line malice "/remove $BOB_ID"
check "alice removes bob" malice "removed $BOB_ID" 30
check "alice is told bob left the membership" malice "members: $BOB_ID (bob) was removed from the room" 30
check "bob is told he was removed" mbob "YOU WERE REMOVED from this room" 30
check "bob's status bar says REMOVED" mbob "bob in lobby (REMOVED)" 10
type_line mbob "bob writes after removal"
check "bob's message is refused with a clear notice" mbob "NOT SENT: you are not a member of this room" 10
type_line malice "alice writes after bob left"
check "alice's message after the removal is confirmed" malice "alice: alice writes after bob left ✓" 30
sleep 3
check_not "alice does not see what bob types after his removal" malice "bob writes after removal"
check_not "bob does not read what alice sends after his removal" mbob "alice writes after bob left"

type_line mbob "/quit"
check_exited mbob "bob's member chat exits"
type_line malice "/quit"
check_exited malice "alice's member chat exits and stops the server"
check "alice was told a member room has no room password" malice "A member room: no room password" 5
check_not "alice was not asked for a room password" malice "Choose a room password"

echo "=== 6. attachments: /send and /save both ways between two chats, SHA-256 of each copy"
ATT_STARTED=$SECONDS
ATT_PW='files room pw'
ATT_SRC="$WORK/att-src"
mkdir -p "$ATT_SRC" "$WORK/att-alice" "$WORK/att-bob"
head -c $((3 * 1024 * 1024)) /dev/urandom >"$ATT_SRC/big noise.bin"
printf 'notes from bob\nsecond line\n' >"$ATT_SRC/notes.txt"
# Each chat runs in a folder of its own (where /save puts a file by default).
IN_WORKSPACE="cargo run --manifest-path '$REPO/Cargo.toml'"
terminal falice USER=alice
type_line falice "cd '$WORK/att-alice' && $IN_WORKSPACE -p ftpchat-examples --bin ftpchat -- chat"
check "alice's chat starts the embedded server" falice "Choose a room password:" $BUILD_WAIT
type_line falice "$ATT_PW"
check "alice is in the chat" falice "| online | outbox 0 | alice in lobby" 60
FILES_JOIN="$(screen falice | grep -o 'cargo run -p ftpchat-examples --bin ftpchat -- chat ftp://[^ ]*' | head -n 1)"
terminal fbob USER=bob
type_line fbob "cd '$WORK/att-bob' && ${FILES_JOIN/cargo run/$IN_WORKSPACE}"
check "bob is asked for the room password" fbob "Room password for lobby:" $BUILD_WAIT
type_line fbob "$ATT_PW"
check "bob is in the chat" fbob "| online | outbox 0 | bob in lobby" 60
type_line fbob "/help"
check "/help lists /send and /save" fbob "/save [^N] [PATH] save the last file on screen" 10

BIG_LINE="📎 big noise.bin (application/octet-stream, 3.0 MiB) — 3 MiB of noise"
type_line falice "/send '$ATT_SRC/big noise.bin' 3 MiB of noise"
check "alice's upload ends with a full progress bar" falice "sent big noise.bin [##########] 100% 3.0/3.0 MiB" 60
check "alice's file message is confirmed" falice "alice: $BIG_LINE ✓" 30
check "bob sees the file: name, media type, size and caption" fbob "alice: $BIG_LINE" 30
type_line fbob "/save"
check "bob saves it under its name in his folder" fbob "saved big noise.bin to big noise.bin (SHA-256 checked) [##########] 100% 3.0/3.0 MiB" 60
same_file() { # DESCRIPTION SOURCE COPY
    local a b
    a="$(sha256sum <"$2" | cut -d' ' -f1)"
    b="$(sha256sum <"$3" 2>/dev/null | cut -d' ' -f1)"
    if [[ -n "$b" && "$a" == "$b" ]]; then
        pass "$1 (sha256 $a)"
    else
        fail "$1 (sha256 of the source $a, of the copy ${b:-missing})"
    fi
}
same_file "bob's copy of the 3 MiB file is identical" "$ATT_SRC/big noise.bin" "$WORK/att-bob/big noise.bin"
type_line fbob "/save"
check "a second /save does not replace the file" fbob "not saved: big noise.bin already exists (nothing is replaced)" 10

type_line fbob "/send $ATT_SRC/notes.txt"
check "bob's small file is sent" fbob "sent notes.txt [##########] 100% 27/27 B" 30
check "alice sees bob's file" falice "bob: 📎 notes.txt (text/plain, 27 B)" 30
type_line falice "/save $WORK/att-alice/from bob.txt"
check "alice saves it to the path she gave" falice "saved notes.txt to $WORK/att-alice/from bob.txt (SHA-256 checked)" 30
same_file "alice's copy of the text file is identical" "$ATT_SRC/notes.txt" "$WORK/att-alice/from bob.txt"
type_line falice "/send $ATT_SRC/no-such-file"
check "a missing file is refused in one line" falice "not sent: cannot read $ATT_SRC/no-such-file: No such file or directory" 10
if [[ -e "$WORK/att-alice/big noise.bin" || -e "$REPO/big noise.bin" || -e "$REPO/notes.txt" ]]; then
    fail "nothing is saved where nobody asked"
else
    pass "nothing is saved where nobody asked"
fi

type_line fbob "/quit"
check_exited fbob "bob's chat exits"
type_line falice "/quit"
check_exited falice "alice's chat exits and stops the server"
echo "(section 6 took $((SECONDS - ATT_STARTED)) s)"

summary
[[ $FAILED -eq 0 ]]
