/* Helpers shared by the C forms of the head readers (_wire.c: responses, _request_wire.c: requests). */
#ifndef MESHGATE_WIRE_UTIL_H
#define MESHGATE_WIRE_UTIL_H
#include <Python.h>
#include <stdint.h>
#include <string.h>

/* s[0:n], ASCII case folded, equals the string literal `lower` (lower-case letters, digits, '-'):
 * the length first, then a word at a time (the byte loop it replaces was ~8 instructions a byte,
 * ~1k per request over the names the readers classify) */
#define EQUAL_LOWER(s, n, lower) \
    ((n) == (Py_ssize_t)sizeof(lower) - 1 && fold_equal((s), (lower), (Py_ssize_t)sizeof(lower) - 1))

/* 0x20 on the bytes of `lower` that are letters: or-ed into the other side, it folds A-Z onto a-z;
 * no byte that is not that letter in either case can fold onto it, and digits and '-' stay exact */
static inline uint64_t fold_bits(uint64_t lower) { return (lower >> 1) & 0x2020202020202020ULL; }

static inline int fold_word(const char *s, const char *lower, int size) {
    uint64_t a = 0, b = 0;
    memcpy(&a, s, (size_t)size);
    memcpy(&b, lower, (size_t)size);
    return (a | fold_bits(b)) == b;
}

/* n is a constant where it is inlined, so the branches below fold away */
static inline int fold_equal(const char *s, const char *lower, Py_ssize_t n) {
    if (n >= 8) {
        for (Py_ssize_t i = 0; i + 8 <= n; i += 8)
            if (!fold_word(s + i, lower + i, 8)) return 0;
        return fold_word(s + n - 8, lower + n - 8, 8); /* the tail, overlapping */
    }
    if (n >= 4) return fold_word(s, lower, 4) && fold_word(s + n - 4, lower + n - 4, 4);
    for (Py_ssize_t i = 0; i < n; i++)
        if (((unsigned char)s[i] | (unsigned char)fold_bits((unsigned char)lower[i])) != (unsigned char)lower[i])
            return 0;
    return 1;
}

/* memcpy for the short pieces heads and log lines are made of, inline: two overlapping fixed-size
 * moves instead of a libc call (~15 instructions each, 80+ calls per request) */
static inline char *put_bytes(char *at, const char *from, Py_ssize_t n) {
    if (n >= 8 && n <= 16) {
        memcpy(at, from, 8);
        memcpy(at + n - 8, from + n - 8, 8);
    } else if (n >= 4 && n < 8) {
        memcpy(at, from, 4);
        memcpy(at + n - 4, from + n - 4, 4);
    } else if (n > 0 && n < 4) {
        at[0] = from[0];
        at[n / 2] = from[n / 2];
        at[n - 1] = from[n - 1];
    } else if (n > 16) {
        memcpy(at, from, (size_t)n);
    }
    return at + n;
}

/* Just past the blank line ending the header block that starts at p (limit when there is none): what
 * the output buffer is sized by, not the whole read (a body in the same read can be large) */
static inline const char *block_end(const char *p, const char *limit) {
    while (p < limit) {
        if (*p == '\n') return p + 1;
        if (*p == '\r' && limit - p >= 2 && p[1] == '\n') return p + 2;
        const char *nl = memchr(p, '\n', (size_t)(limit - p));
        if (nl == NULL) return limit;
        p = nl + 1;
    }
    return limit;
}

/* headers.PLAIN_CONNECTION: Connection values that name no field to drop */
static inline int plain_connection(const char *v, Py_ssize_t n) {
    return EQUAL_LOWER(v, n, "close") || EQUAL_LOWER(v, n, "keep-alive") || EQUAL_LOWER(v, n, "upgrade");
}

/* A header value trimmed of the optional whitespace around it (RFC 9110 §5.6.3) */
static inline void trim_ows(const char **value, const char **value_end) {
    while (*value < *value_end && (**value == ' ' || **value == '\t')) (*value)++;
    while (*value_end > *value && ((*value_end)[-1] == ' ' || (*value_end)[-1] == '\t')) (*value_end)--;
}

/* The arguments (head: bytes, start: int) of a head reader. 1: read [*p, *limit); 0: start lies
 * outside head (the reader answers None); -1: an exception is set. */
static inline int head_arguments(PyObject *const *args, Py_ssize_t nargs, const char *signature,
                                 const char **base, const char **p, const char **limit) {
    if (nargs != 2 || !PyBytes_Check(args[0])) {
        PyErr_SetString(PyExc_TypeError, signature);
        return -1;
    }
    Py_ssize_t start = PyLong_AsSsize_t(args[1]);
    if (start == -1 && PyErr_Occurred()) return -1;
    Py_ssize_t size = PyBytes_GET_SIZE(args[0]);
    if (start < 0 || start > size) return 0;
    *base = PyBytes_AS_STRING(args[0]);
    *p = *base + start;
    *limit = *base + size;
    return 1;
}

/* The one argument (data: bytes) of a lone reader: 1 with [*base, *limit) set; 0 with TypeError set */
static inline int bytes_argument(PyObject *data, const char *signature, const char **base, const char **limit) {
    if (!PyBytes_Check(data)) {
        PyErr_SetString(PyExc_TypeError, signature);
        return 0;
    }
    *base = PyBytes_AS_STRING(data);
    *limit = *base + PyBytes_GET_SIZE(data);
    return 1;
}

/* The lines a head reader keeps, "name: value\r\n" each: a stack buffer while it lasts, then one heap
 * buffer sized by what is left of the header block (a line grows by at most 2 bytes; a body after
 * the block in the same read is not counted) */
struct lines_out {
    char *data;
    Py_ssize_t used, room;
    char stack[8192];
};

static inline void lines_init(struct lines_out *out) {
    out->data = out->stack;
    out->used = 0;
    out->room = (Py_ssize_t)sizeof out->stack;
}

static inline void lines_free(struct lines_out *out) {
    if (out->data != out->stack) PyMem_Free(out->data);
}

/* Append the header line at `line` (its name is line[0:name_n]) as "name: value\r\n"; -1: no memory */
static inline int put_line(struct lines_out *out, const char *line, const char *limit, Py_ssize_t name_n,
                           const char *value, Py_ssize_t value_n) {
    if (out->used + name_n + value_n + 4 > out->room) {
        Py_ssize_t room = out->used + (block_end(line, limit) - line) * 2 + 2;
        char *bigger = PyMem_Malloc((size_t)room);
        if (bigger == NULL) return -1;
        memcpy(bigger, out->data, (size_t)out->used);
        lines_free(out);
        out->data = bigger;
        out->room = room;
    }
    char *at = put_bytes(out->data + out->used, line, name_n);
    *at++ = ':';
    *at++ = ' ';
    at = put_bytes(at, value, value_n);
    *at++ = '\r';
    *at++ = '\n';
    out->used = at - out->data;
    return 0;
}

/* A tuple of n new references; NULL (every item released) when one is NULL or the tuple fails */
static inline PyObject *tuple_of(PyObject **items, int n) {
    PyObject *tuple = NULL;
    for (int i = 0; i < n; i++)
        if (items[i] == NULL) goto failed;
    tuple = PyTuple_New(n);
    if (tuple == NULL) goto failed;
    for (int i = 0; i < n; i++) PyTuple_SET_ITEM(tuple, i, items[i]);
    return tuple;
failed:
    for (int i = 0; i < n; i++) Py_XDECREF(items[i]);
    return NULL;
}

/* ---- the strict reading: heads llhttp accepts, and reads, the same way byte for byte ------------
 * A lone head (http1.py, upstream_conn.py) is handled without llhttp, so what is read as one must be
 * a head llhttp would accept with the same meaning: a deliberately narrow subset of its grammar
 * (checked against httptools by tests/proxy/test_lone_heads.py). Anything outside it goes through
 * llhttp as before, which accepts or refuses it. */

enum { TOKEN = 1, VALUE = 2, TARGET = 4 };

/* tchar (RFC 9110 §5.6.2); field-value bytes llhttp takes (HTAB, SP, VCHAR, obs-text); target bytes
 * (VCHAR: what llhttp's strict URL reading takes). NUL is in no class, so every scan stops at the
 * NUL CPython keeps after a bytes object's last byte: no bounds check inside the loops. */
static unsigned char char_class[256];

static void char_class_init(void) {
    for (int c = 0x21; c <= 0x7e; c++) char_class[c] = VALUE | TARGET;
    for (int c = 0x80; c <= 0xff; c++) char_class[c] = VALUE;
    char_class['\t'] = char_class[' '] = VALUE;
    for (const char *t = "!#$%&'*+-.^_`|~"; *t; t++) char_class[(unsigned char)*t] |= TOKEN;
    for (int c = '0'; c <= '9'; c++) char_class[c] |= TOKEN;
    for (int c = 'a'; c <= 'z'; c++) char_class[c] |= TOKEN, char_class[c - 32] |= TOKEN;
}

/* Whether [v, end) holds only field-value bytes, eight at a time: a word with a byte below 0x20 or a
 * DEL (bit tricks exact as a yes/no, Anderson's "Bit Twiddling Hacks") is looked at byte by byte,
 * where an HTAB still passes. About one instruction a byte where the table walk took five. */
static inline int field_value(const char *v, const char *end) {
    const uint64_t ones = 0x0101010101010101ULL, highs = 0x8080808080808080ULL;
    for (; end - v >= 8; v += 8) {
        uint64_t x, del;
        memcpy(&x, v, 8);
        del = x ^ (ones * 0x7f);
        if ((((x - ones * 0x20) & ~x) | ((del - ones) & ~del)) & highs)
            for (int i = 0; i < 8; i++)
                if (!(char_class[(unsigned char)v[i]] & VALUE)) return 0;
    }
    for (; v < end; v++)
        if (!(char_class[(unsigned char)*v] & VALUE)) return 0;
    return 1;
}

/* What the strict reading of a header block found */
struct strict_lines {
    const char *end;    /* just past the empty line */
    const char *length; /* the Content-Length value, OWS trimmed */
    Py_ssize_t length_n;
    int lengths; /* Content-Length lines */
};

/* The header lines from p to the empty line, each `token ":" value CRLF` (no obs-fold, no bare LF, no
 * space before the colon), none of them Transfer-Encoding, Upgrade, Expect or Proxy-Connection, and
 * Connection only as "keep-alive". 1 with *found filled in, else 0. `p` lies in a bytes object. */
static int strict_lines(const char *p, const char *limit, struct strict_lines *found) {
    found->lengths = 0;
    for (;;) {
        if (p[0] == '\r' && p[1] == '\n' && limit - p >= 2) {
            found->end = p + 2;
            return 1;
        }
        const char *name = p;
        while (char_class[(unsigned char)*p] & TOKEN) p++;
        Py_ssize_t name_n = p - name;
        if (name_n == 0 || *p != ':') return 0;
        const char *value = ++p;
        p = memchr(p, '\r', (size_t)(limit - p));
        if (p == NULL || p[1] != '\n' || limit - p < 2 || !field_value(value, p)) return 0;
        const char *value_end = p;
        p += 2;
        switch (name_n) {
        case 6: if (EQUAL_LOWER(name, 6, "expect")) return 0; break;
        case 7: if (EQUAL_LOWER(name, 7, "upgrade")) return 0; break;
        case 10:
            if (EQUAL_LOWER(name, 10, "connection")) {
                trim_ows(&value, &value_end);
                if (!EQUAL_LOWER(value, value_end - value, "keep-alive")) return 0;
            }
            break;
        case 14:
            if (EQUAL_LOWER(name, 14, "content-length")) {
                trim_ows(&value, &value_end);
                found->length = value;
                found->length_n = value_end - value;
                found->lengths++;
            }
            break;
        case 16: if (EQUAL_LOWER(name, 16, "proxy-connection")) return 0; break;
        case 17: if (EQUAL_LOWER(name, 17, "transfer-encoding")) return 0; break;
        default: break;
        }
    }
}

#endif
