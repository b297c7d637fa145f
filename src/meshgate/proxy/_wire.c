/* meshgate.proxy._wire: the per-request chores that cost the most as Python calls.
 *
 * wire.py holds the same functions in Python and is the reference (the tests compare them on
 * generated input); this file is only their fast form, built by setup.py like the mypyc modules and
 * absent in MESHGATE_PURE builds.
 *
 *   response_fields(head, start)
 *       -> (end, status, http11, lines, length, chunked, connection, has_date, upgrade) | None
 *       Reads a response head that httptools (llhttp) has already accepted, so one call replaces
 *       five Python callbacks per header line (bench/results/README.md). llhttp has checked the
 *       syntax (CRLF line ends, token names, no obs-fold, no trailing whitespace); anything that does
 *       not look like that anyway gives None and the caller treats the head as unparsable.
 *   request_id() -> bytes
 *       A version-4 UUID in hex (x-request-id), from xoshiro256** seeded by getrandom(): the same
 *       grade of randomness as the random module it replaces (not a secret, not a security token).
 *   concat(*parts) -> bytes
 *       b"".join(parts) for the heads the gateway writes, without building a list first.
 *   text_line(fallback, start_time, *fields) -> bytes
 *       One line of Istio's default text access log in UTF-8, written into one buffer: the f-string
 *       it replaces built ~60 pieces into a str (6.6k of ~51k instructions per request). bytes, not
 *       str, so the log's buffer is written to the binary stream without a join and encode of str.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <pthread.h>
#include <stdint.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "_wire_util.h"

/* ---- response_fields ------------------------------------------------------------------------ */

enum owned { NOT_OWNED, CONTENT_LENGTH, TRANSFER_ENCODING, CONNECTION, DATE, UPGRADE, DROPPED };

/* headers.RESPONSE_OWNED: hop-by-hop fields, content-length, server, date */
static enum owned classify(const char *name, Py_ssize_t n) {
    switch (n) {
    case 2: return EQUAL_LOWER(name, n, "te") ? DROPPED : NOT_OWNED;
    case 4: return EQUAL_LOWER(name, n, "date") ? DATE : NOT_OWNED;
    case 6: return EQUAL_LOWER(name, n, "server") ? DROPPED : NOT_OWNED;
    case 7: return EQUAL_LOWER(name, n, "upgrade") ? UPGRADE : NOT_OWNED;
    case 10:
        if (EQUAL_LOWER(name, n, "connection")) return CONNECTION;
        return EQUAL_LOWER(name, n, "keep-alive") ? DROPPED : NOT_OWNED;
    case 14: return EQUAL_LOWER(name, n, "content-length") ? CONTENT_LENGTH : NOT_OWNED;
    case 16: return EQUAL_LOWER(name, n, "proxy-connection") ? DROPPED : NOT_OWNED;
    case 17: return EQUAL_LOWER(name, n, "transfer-encoding") ? TRANSFER_ENCODING : NOT_OWNED;
    default: return NOT_OWNED;
    }
}

static int ends_with_chunked(const char *v, Py_ssize_t n) {
    return n >= 7 && EQUAL_LOWER(v + n - 7, 7, "chunked");
}

/* The response head at p (base: the start of the bytes object), as response_fields answers; with
 * `length` >= 0 (lone_response) that number follows as a tenth item */
static PyObject *read_response(const char *base, const char *p, const char *limit, long long length_number) {
    /* the status line: "HTTP/d.d ddd" then anything to the line end */
    if (limit - p < 12 || memcmp(p, "HTTP/", 5) != 0 || p[6] != '.' || p[8] != ' ') Py_RETURN_NONE;
    for (int i = 9; i < 12; i++)
        if (p[i] < '0' || p[i] > '9') Py_RETURN_NONE;
    long status = (p[9] - '0') * 100 + (p[10] - '0') * 10 + (p[11] - '0');
    int http11 = p[5] == '1' && p[7] == '1';
    const char *nl = memchr(p, '\n', (size_t)(limit - p));
    if (nl == NULL) Py_RETURN_NONE;
    p = nl + 1;

    struct lines_out out;
    lines_init(&out);
    const char *length = NULL, *connection = NULL, *upgrade = NULL;
    Py_ssize_t length_n = 0, upgrade_n = 0;
    int chunked = 0, has_date = 0;
    /* several Connection lines naming fields: joined with "," (rare: collected in a second buffer) */
    char *joined = NULL;
    Py_ssize_t joined_n = 0;
    PyObject *result = NULL;

    for (;;) {
        if (limit - p >= 2 && p[0] == '\r' && p[1] == '\n') {
            p += 2;
            break;
        }
        nl = memchr(p, '\n', (size_t)(limit - p));
        if (nl == NULL || nl == p || nl[-1] != '\r') goto unparsable;
        const char *line_end = nl - 1; /* the CR */
        const char *colon = memchr(p, ':', (size_t)(line_end - p));
        if (colon == NULL || colon == p) goto unparsable;
        const char *value = colon + 1, *value_end = line_end;
        trim_ows(&value, &value_end);
        Py_ssize_t name_n = colon - p, value_n = value_end - value;
        enum owned kind = classify(p, name_n);
        switch (kind) {
        case CONTENT_LENGTH: length = value; length_n = value_n; break;
        case TRANSFER_ENCODING: chunked = ends_with_chunked(value, value_n); break;
        case UPGRADE: upgrade = value; upgrade_n = value_n; break;
        case CONNECTION:
            if (!plain_connection(value, value_n)) {
                if (joined_n == 0) { /* as wire.py: an empty value so far is replaced, not joined */
                    connection = value;
                    joined_n = value_n;
                    PyMem_Free(joined);
                    joined = NULL;
                } else {
                    char *grown = PyMem_Realloc(joined, (size_t)(joined_n + 1 + value_n));
                    if (grown == NULL) goto nomemory;
                    if (joined == NULL) memcpy(grown, connection, (size_t)joined_n);
                    joined = grown;
                    joined[joined_n] = ',';
                    memcpy(joined + joined_n + 1, value, (size_t)value_n);
                    joined_n += 1 + value_n;
                }
            }
            break;
        case DROPPED: break;
        case DATE: has_date = 1; /* fall through: kept */
        case NOT_OWNED:
            if (put_line(&out, p, limit, name_n, value, value_n) < 0) goto nomemory;
            break;
        }
        p = nl + 1;
    }

    PyObject *items[10] = {
        PyLong_FromSsize_t(p - base),
        PyLong_FromLong(status),
        Py_NewRef(http11 ? Py_True : Py_False),
        PyBytes_FromStringAndSize(out.data, out.used),
        PyBytes_FromStringAndSize(length ? length : "", length_n),
        Py_NewRef(chunked ? Py_True : Py_False),
        PyBytes_FromStringAndSize(joined ? joined : (connection ? connection : ""), joined_n),
        Py_NewRef(has_date ? Py_True : Py_False),
        PyBytes_FromStringAndSize(upgrade ? upgrade : "", upgrade_n),
        length_number >= 0 ? PyLong_FromLongLong(length_number) : NULL,
    };
    result = tuple_of(items, length_number >= 0 ? 10 : 9);
    goto done;

nomemory:
    PyErr_NoMemory();
    goto done;
unparsable:
    result = Py_NewRef(Py_None);
done:
    lines_free(&out);
    PyMem_Free(joined);
    return result;
}

static PyObject *response_fields(PyObject *module, PyObject *const *args, Py_ssize_t nargs) {
    (void)module;
    const char *base, *p, *limit;
    int readable = head_arguments(args, nargs, "response_fields(head: bytes, start: int)", &base, &p, &limit);
    if (readable <= 0) return readable < 0 ? NULL : Py_NewRef(Py_None);
    return read_response(base, p, limit, -1);
}

/* ---- lone_response -------------------------------------------------------------------------- */

/* lone_response(data) -> response_fields(data, 0) + (content_length,) | None
 * When `data` starts with a complete response head in the strict reading (_wire_util.h) that frames
 * its body by one Content-Length of at most 15 digits and is followed by no more than that body:
 * "HTTP/1.1 " a status 200-599 other than 204 and 304 (no 1xx, no 101: nothing but this one message),
 * an optional reason of field-value bytes, CRLF, strict header lines (no Transfer-Encoding, no
 * Upgrade, Connection at most "keep-alive": the connection stays reusable). llhttp would read such a
 * response the same way, so upstream_conn.py takes it, and its body, without feeding llhttp. None:
 * anything else (the caller feeds llhttp). */
static PyObject *lone_response(PyObject *module, PyObject *data) {
    (void)module;
    const char *base, *limit;
    if (!bytes_argument(data, "lone_response(data: bytes)", &base, &limit)) return NULL;
    const char *p = base;
    if (limit - p < 14 || memcmp(p, "HTTP/1.1 ", 9) != 0) Py_RETURN_NONE;
    for (int i = 9; i < 12; i++)
        if (p[i] < '0' || p[i] > '9') Py_RETURN_NONE;
    int status = (p[9] - '0') * 100 + (p[10] - '0') * 10 + (p[11] - '0');
    if (status < 200 || status > 599 || status == 204 || status == 304) Py_RETURN_NONE;
    p += 12;
    if (*p == ' ')
        while (char_class[(unsigned char)*++p] & VALUE) {}
    if (p[0] != '\r' || p[1] != '\n') Py_RETURN_NONE;
    struct strict_lines found;
    if (!strict_lines(p + 2, limit, &found) || found.lengths != 1 || found.length_n < 1 || found.length_n > 15)
        Py_RETURN_NONE;
    long long length = 0;
    for (Py_ssize_t i = 0; i < found.length_n; i++) {
        char c = found.length[i];
        if (c < '0' || c > '9') Py_RETURN_NONE;
        length = length * 10 + (c - '0');
    }
    if (limit - found.end > length) Py_RETURN_NONE; /* bytes after the body: llhttp says what they are */
    return read_response(base, base, limit, length);
}

/* ---- request_id ----------------------------------------------------------------------------- */

static uint64_t state[4];

static void seed(void) {
    uint64_t fresh[4] = {0, 0, 0, 0};
    if (getrandom(fresh, sizeof fresh, 0) != (ssize_t)sizeof fresh) {
        /* no entropy source answered: time and pid still keep processes apart */
        struct timespec now;
        clock_gettime(CLOCK_REALTIME, &now);
        fresh[0] = (uint64_t)now.tv_nsec ^ ((uint64_t)now.tv_sec << 32);
        fresh[1] = (uint64_t)getpid() * 0x9E3779B97F4A7C15ULL;
    }
    /* splitmix64 over the seed: xoshiro must not start from all zeros */
    uint64_t x = fresh[0] ^ fresh[1] ^ fresh[2] ^ fresh[3];
    for (int i = 0; i < 4; i++) {
        uint64_t z = (x += 0x9E3779B97F4A7C15ULL);
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
        state[i] = fresh[i] ^ z ^ (z >> 31);
    }
}

static inline uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

static uint64_t next_random(void) { /* xoshiro256** (Blackman & Vigna) */
    uint64_t result = rotl(state[1] * 5, 7) * 9, t = state[1] << 17;
    state[2] ^= state[0];
    state[3] ^= state[1];
    state[1] ^= state[2];
    state[0] ^= state[3];
    state[2] ^= t;
    state[3] = rotl(state[3], 45);
    return result;
}

/* "00".."ff": a UUID's 16 bytes are written two hex digits at a time */
static char hex_pairs[512];

static inline char *put_hex(char *at, uint64_t value, int bytes) {
    for (int i = bytes - 1; i >= 0; i--) {
        memcpy(at, hex_pairs + 2 * ((value >> (i * 8)) & 0xFF), 2);
        at += 2;
    }
    return at;
}

static PyObject *request_id(PyObject *module, PyObject *unused) {
    (void)module;
    (void)unused;
    uint64_t high = next_random(), low = next_random();
    high = (high & ~0xF000ULL) | 0x4000ULL;                     /* version 4 */
    low = (low & ~0xC000000000000000ULL) | 0x8000000000000000ULL; /* variant 10xx */
    char text[36];
    char *at = put_hex(text, high >> 32, 4); /* 8-4-4-4-12 */
    *at++ = '-';
    at = put_hex(at, high >> 16, 2);
    *at++ = '-';
    at = put_hex(at, high, 2);
    *at++ = '-';
    at = put_hex(at, low >> 48, 2);
    *at++ = '-';
    put_hex(at, low, 6);
    return PyBytes_FromStringAndSize(text, 36);
}

/* ---- text_line ------------------------------------------------------------------------------ */

/* What comes before each field of Istio's default text access-log line (wire.TEXT_BEFORE): field 0
 * is the start time, the others follow text_line's arguments. */
#define TEXT_FIELDS 24
static const char *const TEXT_BEFORE[TEXT_FIELDS] = {
    "[", "] \"", " ", " ", "\" ", " ", " ", " ", " \"", "\" ", " ", " ",
    " ", " \"", "\" \"", "\" \"", "\" \"", "\" \"", "\" ", " ", " ", " ", " ", " ",
};

static Py_ssize_t TEXT_BEFORE_SIZE[TEXT_FIELDS]; /* strlen of each, filled at import */

static long long stamp_second = -1;
static char stamp_text[19]; /* YYYY-MM-DDTHH:MM:SS, rendered once per second as wire.format_start_time */

static void put2(char *at, int value) {
    at[0] = (char)('0' + value / 10);
    at[1] = (char)('0' + value % 10);
}

static Py_ssize_t integer_size(long long value) {
    unsigned long long magnitude = value < 0 ? 0ULL - (unsigned long long)value : (unsigned long long)value;
    Py_ssize_t n = value < 0 ? 2 : 1;
    while (magnitude >= 10) {
        magnitude /= 10;
        n++;
    }
    return n;
}

static void put_integer(char *at, Py_ssize_t size, long long value) {
    unsigned long long magnitude = value < 0 ? 0ULL - (unsigned long long)value : (unsigned long long)value;
    if (value < 0) *at = '-';
    char *digit = at + size;
    do {
        *--digit = (char)('0' + magnitude % 10);
        magnitude /= 10;
    } while (magnitude);
}


/* The UTF-8 size of n bytes read as Latin-1 (a byte above 0x7F takes two) into *size; 1 when some
 * byte does (they are written by put_latin1), 0 when they are ASCII and copied as they are. Eight
 * bytes a step: the user agent and the request id are 36 bytes or more. */
static int latin1_size(const char *from, Py_ssize_t n, Py_ssize_t *size) {
    uint64_t high_bits = 0;
    Py_ssize_t i = 0;
    for (; i + 8 <= n; i += 8) {
        uint64_t word;
        memcpy(&word, from + i, 8);
        high_bits |= word;
    }
    for (; i < n; i++) high_bits |= (unsigned char)from[i];
    *size = n;
    if (!(high_bits & 0x8080808080808080ULL)) return 0;
    for (i = 0; i < n; i++) *size += (unsigned char)from[i] >> 7;
    return 1;
}

static char *put_latin1(char *at, const char *from, Py_ssize_t n) {
    for (Py_ssize_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)from[i];
        if (c < 0x80) {
            *at++ = (char)c;
        } else {
            *at++ = (char)(0xC0 | (c >> 6));
            *at++ = (char)(0x80 | (c & 0x3F));
        }
    }
    return at;
}

enum field_kind { FIELD_TEXT, FIELD_LATIN1, FIELD_INTEGER };

/* text_line(fallback, start_time, *fields) -> bytes: the UTF-8 line, or fallback(start_time,
 * *fields) (wire.text_line_py) when a value is outside what this fast form renders: a time outside
 * years 1970..9999, an int beyond 64 bits, a str that is not valid UTF-8 text. Fields are str, bytes
 * (read as Latin-1, as the request's header values are) or int; empty ones print as "-". The caller
 * passes the fallback so its arguments are not built twice. */
static PyObject *text_line(PyObject *module, PyObject *const *args, Py_ssize_t nargs) {
    (void)module;
    if (nargs != TEXT_FIELDS + 1 || !PyFloat_Check(args[1])) {
        PyErr_SetString(PyExc_TypeError, "text_line(fallback, start_time: float, 23 fields: str | bytes | int)");
        return NULL;
    }
    PyObject *fallback = args[0];
    args++;
    nargs--;
    double epoch = PyFloat_AS_DOUBLE(args[0]);
    if (!(epoch >= 0.0 && epoch < 253402300800.0)) goto refused;
    long long second = (long long)epoch;
    int millis = (int)((long long)(epoch * 1000.0) % 1000);
    if (second != stamp_second) {
        time_t t = (time_t)second;
        struct tm parts;
        if (gmtime_r(&t, &parts) == NULL) goto refused;
        int year = parts.tm_year + 1900;
        put2(stamp_text, year / 100);
        put2(stamp_text + 2, year % 100);
        stamp_text[4] = '-';
        put2(stamp_text + 5, parts.tm_mon + 1);
        stamp_text[7] = '-';
        put2(stamp_text + 8, parts.tm_mday);
        stamp_text[10] = 'T';
        put2(stamp_text + 11, parts.tm_hour);
        stamp_text[13] = ':';
        put2(stamp_text + 14, parts.tm_min);
        stamp_text[16] = ':';
        put2(stamp_text + 17, parts.tm_sec);
        stamp_second = second;
    }

    /* sizes first: the UTF-8 bytes of each str field (an ASCII str: its own), the Latin-1 bytes of
     * each bytes field as UTF-8, the digits of each int */
    const char *text[TEXT_FIELDS];
    Py_ssize_t length[TEXT_FIELDS], size[TEXT_FIELDS];
    long long number[TEXT_FIELDS];
    enum field_kind kind[TEXT_FIELDS];
    Py_ssize_t total = 1 + 19 + 5 + 1; /* "[", the start time, the final newline */
    for (int i = 1; i < TEXT_FIELDS; i++) {
        PyObject *field = args[i];
        total += TEXT_BEFORE_SIZE[i];
        kind[i] = FIELD_TEXT;
        if (PyUnicode_Check(field)) {
            if (PyUnicode_IS_COMPACT_ASCII(field)) {
                text[i] = (const char *)PyUnicode_DATA(field);
                size[i] = PyUnicode_GET_LENGTH(field);
            } else {
                text[i] = PyUnicode_AsUTF8AndSize(field, &size[i]);
                if (text[i] == NULL) {
                    PyErr_Clear(); /* lone surrogates: the Python form renders them */
                    goto refused;
                }
            }
        } else if (PyBytes_Check(field)) {
            text[i] = PyBytes_AS_STRING(field);
            length[i] = PyBytes_GET_SIZE(field);
            if (latin1_size(text[i], length[i], &size[i])) kind[i] = FIELD_LATIN1;
        } else if (PyLong_Check(field)) {
            int overflow = 0;
            number[i] = PyLong_AsLongLongAndOverflow(field, &overflow);
            if (overflow) goto refused;
            kind[i] = FIELD_INTEGER;
            size[i] = integer_size(number[i]);
        } else {
            PyErr_SetString(PyExc_TypeError, "text_line fields are str, bytes or int");
            return NULL;
        }
        if (size[i] == 0) {
            text[i] = "-";
            size[i] = 1;
        }
        total += size[i];
    }

    PyObject *line = PyBytes_FromStringAndSize(NULL, total);
    if (line == NULL) return NULL;
    char *at = PyBytes_AS_STRING(line);
    *at++ = '[';
    at = put_bytes(at, stamp_text, 19);
    *at++ = '.';
    *at++ = (char)('0' + millis / 100);
    *at++ = (char)('0' + millis / 10 % 10);
    *at++ = (char)('0' + millis % 10);
    *at++ = 'Z';
    for (int i = 1; i < TEXT_FIELDS; i++) {
        at = put_bytes(at, TEXT_BEFORE[i], TEXT_BEFORE_SIZE[i]);
        switch (kind[i]) {
        case FIELD_TEXT: at = put_bytes(at, text[i], size[i]); break;
        case FIELD_LATIN1: at = put_latin1(at, text[i], length[i]); break;
        case FIELD_INTEGER:
            put_integer(at, size[i], number[i]);
            at += size[i];
            break;
        }
    }
    *at = '\n';
    return line;

refused:
    return PyObject_Vectorcall(fallback, args, (size_t)nargs, NULL);
}

/* ---- module --------------------------------------------------------------------------------- */

/* ---- concat --------------------------------------------------------------------------------- */

/* concat(*parts: bytes) -> bytes, b"".join(parts) without the list to build, its iteration and a
 * buffer request per part (a head is 6 to 11 parts: ~0.6k instructions per b"".join) */
static PyObject *concat(PyObject *module, PyObject *const *args, Py_ssize_t nargs) {
    (void)module;
    Py_ssize_t total = 0;
    for (Py_ssize_t i = 0; i < nargs; i++) {
        if (!PyBytes_Check(args[i])) {
            PyErr_SetString(PyExc_TypeError, "concat(*parts: bytes)");
            return NULL;
        }
        Py_ssize_t n = PyBytes_GET_SIZE(args[i]);
        if (n > PY_SSIZE_T_MAX - total) return PyErr_NoMemory();
        total += n;
    }
    PyObject *result = PyBytes_FromStringAndSize(NULL, total);
    if (result == NULL) return NULL;
    char *at = PyBytes_AS_STRING(result);
    for (Py_ssize_t i = 0; i < nargs; i++) {
        at = put_bytes(at, PyBytes_AS_STRING(args[i]), PyBytes_GET_SIZE(args[i]));
    }
    return result;
}

static PyMethodDef methods[] = {
    {"response_fields", (PyCFunction)(void (*)(void))response_fields, METH_FASTCALL,
     "response_fields(head, start) -> (end, status, http11, lines, length, chunked, connection, has_date, "
     "upgrade) | None"},
    {"lone_response", lone_response, METH_O,
     "lone_response(data) -> response_fields(data, 0) + (content_length,) when data starts with one strict head"},
    {"concat", (PyCFunction)(void (*)(void))concat, METH_FASTCALL, "concat(*parts) -> b''.join(parts)"},
    {"request_id", request_id, METH_NOARGS, "request_id() -> a version-4 UUID as 36 bytes of hex"},
    {"text_line", (PyCFunction)(void (*)(void))text_line, METH_FASTCALL,
     "text_line(fallback, start_time, *fields) -> Istio's default text access-log line, UTF-8"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module_def = {PyModuleDef_HEAD_INIT, "_wire", NULL, -1, methods};

PyMODINIT_FUNC PyInit__wire(void) {
    char_class_init();
    for (int i = 0; i < TEXT_FIELDS; i++) TEXT_BEFORE_SIZE[i] = (Py_ssize_t)strlen(TEXT_BEFORE[i]);
    seed();
    for (int i = 0; i < 256; i++) {
        hex_pairs[2 * i] = "0123456789abcdef"[i >> 4];
        hex_pairs[2 * i + 1] = "0123456789abcdef"[i & 15];
    }
    /* a forked worker must not repeat its parent's ids */
    pthread_atfork(NULL, NULL, seed);
    return PyModule_Create(&module_def);
}
