/*
 * Calls the library through the C header that the Swift bindings use (FtpChatFFI.h),
 * since no Swift compiler is available here. Built by .ci/ffi-tests.sh with
 *   gcc -D_Nullable= -D_Nonnull= -I <generated swift dir> -include swift_checks.inc ...
 * where swift_checks.inc (generated from FtpChat.swift) defines EXPECTED_CONTRACT_VERSION
 * and SWIFT_CHECKSUMS(X): the checks the Swift bindings run when they load, replayed here.
 *
 * Prints `c: N passed, N failed` and exits non-zero on any failure.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "FtpChatFFI.h"

static int passed = 0;
static int failed = 0;

#define CHECK(cond, ...)                                                   \
    do {                                                                   \
        if (cond) {                                                        \
            passed++;                                                      \
        } else {                                                           \
            failed++;                                                      \
            printf("FAIL  %s:%d: %s: ", __FILE__, __LINE__, #cond);        \
            printf(__VA_ARGS__);                                           \
            printf("\n");                                                  \
        }                                                                  \
    } while (0)

/* UniFFI call status codes. */
enum { CALL_SUCCESS = 0, CALL_ERROR = 1, CALL_UNEXPECTED_ERROR = 2 };

/* ChatError variants are numbered from 1 in declaration order (see FtpChat.swift). */
enum { CHAT_ERROR_WRONG_PASSWORD = 1, CHAT_ERROR_TRANSPORT = 2, CHAT_ERROR_INVALID_PATH = 3 };

/* A string argument: Rust copies the bytes into a buffer it owns, then takes it. */
static RustBuffer lower_string(const char *s) {
    RustCallStatus status = {0};
    ForeignBytes bytes = {.len = (int32_t)strlen(s), .data = (const uint8_t *)s};
    RustBuffer buf = ffi_ftpchat_ffi_rustbuffer_from_bytes(bytes, &status);
    if (status.code != CALL_SUCCESS) {
        printf("rustbuffer_from_bytes failed\n");
        exit(2);
    }
    return buf;
}

/* A returned string is a buffer of UTF-8 bytes; copy it out and free the buffer. */
static char *lift_string(RustBuffer buf) {
    char *s = malloc(buf.len + 1);
    if (s == NULL) exit(2);
    if (buf.len > 0) memcpy(s, buf.data, buf.len);
    s[buf.len] = '\0';
    RustCallStatus status = {0};
    ffi_ftpchat_ffi_rustbuffer_free(buf, &status);
    return s;
}

static uint32_t read_u32_be(const uint8_t *p) {
    return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}

/* A serialized ChatError: i32 variant (big endian); for the variants other than Transport
 * an i8 `transient` flag and one string field (i32 length + UTF-8). Returns the variant;
 * stores the reason and the flag. */
static int32_t lift_error_flag(RustBuffer buf, char *reason, size_t reason_size,
                               int *transient) {
    int32_t variant = -1;
    reason[0] = '\0';
    *transient = -1;
    if (buf.len >= 9) {
        variant = (int32_t)read_u32_be(buf.data);
        *transient = buf.data[4];
        uint32_t n = buf.len >= 9 + 4 ? read_u32_be(buf.data + 5) : 0;
        if (buf.len >= 9 && n <= buf.len - 9 && n < reason_size) {
            memcpy(reason, buf.data + 9, n);
            reason[n] = '\0';
        }
    }
    RustCallStatus status = {0};
    ffi_ftpchat_ffi_rustbuffer_free(buf, &status);
    return variant;
}

static int32_t lift_error(RustBuffer buf, char *reason, size_t reason_size) {
    int transient;
    int32_t variant = lift_error_flag(buf, reason, reason_size, &transient);
    CHECK(variant < 0 || transient == 0, "variant %d: transient flag %d", variant, transient);
    return variant;
}

static void check_swift_load_checks(void) {
    /* What FtpChat.swift verifies on first use: same contract, same API checksums. */
    uint32_t contract = ffi_ftpchat_ffi_uniffi_contract_version();
    CHECK(contract == EXPECTED_CONTRACT_VERSION, "contract %u, Swift expects %d", contract,
          EXPECTED_CONTRACT_VERSION);
    int checksums = 0;
#define CHECK_CHECKSUM(fn, expected)                                                   \
    do {                                                                               \
        checksums++;                                                                   \
        CHECK(fn() == (expected), "%s() = %u, FtpChat.swift expects %u", #fn,         \
              (unsigned)fn(), (unsigned)(expected));                                   \
    } while (0);
    SWIFT_CHECKSUMS(CHECK_CHECKSUM)
    CHECK(checksums > 20, "only %d checksums found in FtpChat.swift", checksums);
    printf("c: %d API checksums match FtpChat.swift\n", checksums);
}

static void check_functions(void) {
    RustCallStatus status = {0};
    char *version = lift_string(uniffi_ftpchat_ffi_fn_func_library_version(&status));
    CHECK(status.code == CALL_SUCCESS, "library_version status %d", status.code);
    CHECK(strlen(version) >= 5 && strchr(version, '.') != NULL, "version '%s'", version);
    printf("c: library_version() = %s\n", version);
    free(version);

    /* validate_room_path: success, then CR/LF refused as InvalidPath. */
    status = (RustCallStatus){0};
    uniffi_ftpchat_ffi_fn_func_validate_room_path(lower_string("rooms/lobby"), &status);
    CHECK(status.code == CALL_SUCCESS, "valid path refused (status %d)", status.code);

    status = (RustCallStatus){0};
    uniffi_ftpchat_ffi_fn_func_validate_room_path(lower_string("lobby\r\nDELE x"), &status);
    CHECK(status.code == CALL_ERROR, "CR/LF path: status %d", status.code);
    if (status.code == CALL_ERROR) {
        char reason[256];
        int32_t variant = lift_error(status.errorBuf, reason, sizeof reason);
        CHECK(variant == CHAT_ERROR_INVALID_PATH, "variant %d (reason '%s')", variant, reason);
        CHECK(strstr(reason, "control") != NULL, "reason '%s'", reason);
    }

    /* describe_location: the FTP password never comes back. */
    status = (RustCallStatus){0};
    char *shown = lift_string(uniffi_ftpchat_ffi_fn_func_describe_location(
        lower_string("ftps://alice:very-secret-pw@ftp.example.invalid:990/chat"), &status));
    CHECK(status.code == CALL_SUCCESS, "describe_location status %d", status.code);
    CHECK(strstr(shown, "ftp.example.invalid") != NULL, "'%s'", shown);
    CHECK(strstr(shown, "very-secret-pw") == NULL, "password shown: '%s'", shown);
    printf("c: describe_location() = %s\n", shown);
    free(shown);

    /* An unknown scheme is a Transport error (the variant with kind/transient fields). */
    status = (RustCallStatus){0};
    RustBuffer out = uniffi_ftpchat_ffi_fn_func_describe_location(lower_string("gopher://x"), &status);
    CHECK(status.code == CALL_ERROR, "gopher: status %d", status.code);
    if (status.code == CALL_ERROR) {
        CHECK(status.errorBuf.len >= 4 &&
                  (int32_t)read_u32_be(status.errorBuf.data) == CHAT_ERROR_TRANSPORT,
              "not a Transport error");
        RustCallStatus free_status = {0};
        ffi_ftpchat_ffi_rustbuffer_free(status.errorBuf, &free_status);
    } else {
        free(lift_string(out));
    }
}

int main(void) {
    check_swift_load_checks();
    check_functions();
    printf("c: %d passed, %d failed\n", passed, failed);
    return failed == 0 ? 0 : 1;
}
