/* meshgate.proxy._request_wire: a client's request head read in one call.
 *
 * request_wire.py holds the same function in Python and is the reference (tests/proxy/
 * test_request_wire.py compares them on generated heads); this file is only its fast form, built
 * by setup.py, absent in MESHGATE_PURE builds.
 *
 *   request_fields(head, start)
 *       -> (end, method, target, version, lines, host, content_length, chunked, connection,
 *           expect_continue, upgrade, x_forwarded_for, user_agent, count, keep_alive,
 *           plain_path) | None
 *       Reads a request head that httptools (llhttp) has already accepted, so that the parser needs
 *       no on_url/on_header callbacks: those were two Python calls per header line plus the
 *       tuple and the list they fill (~1.4k instructions per header, bench/results/README.md).
 *       Anything that does not have the shape llhttp guarantees gives None (the caller answers 400).
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <string.h>

#include "_wire_util.h"

/* What a request header line is to the gateway (http1.py _GATEWAY_OWNED, request_wire.classify) */
enum kind {
    FORWARDED,  /* sent upstream as received */
    USER_AGENT, /* forwarded, and read for the access log */
    HOST,
    CONTENT_LENGTH,
    TRANSFER_ENCODING,
    CONNECTION,
    PROXY_CONNECTION, /* dropped, but llhttp reads its tokens as Connection's */
    EXPECT,
    UPGRADE,
    FORWARDED_FOR,
    DROPPED, /* hop-by-hop, rewritten by the gateway, or x-envoy-* (external requests may not steer it) */
};

static enum kind classify(const char *name, Py_ssize_t n) {
    if (n >= 8 && EQUAL_LOWER(name, 8, "x-envoy-")) return DROPPED;
    switch (n) {
    case 2: return EQUAL_LOWER(name, n, "te") ? DROPPED : FORWARDED;
    case 4: return EQUAL_LOWER(name, n, "host") ? HOST : FORWARDED;
    case 6: return EQUAL_LOWER(name, n, "expect") ? EXPECT : FORWARDED;
    case 7: return EQUAL_LOWER(name, n, "upgrade") ? UPGRADE : FORWARDED;
    case 10:
        if (EQUAL_LOWER(name, n, "connection")) return CONNECTION;
        if (EQUAL_LOWER(name, n, "user-agent")) return USER_AGENT;
        return EQUAL_LOWER(name, n, "keep-alive") ? DROPPED : FORWARDED;
    case 12: return EQUAL_LOWER(name, n, "x-request-id") ? DROPPED : FORWARDED;
    case 14: return EQUAL_LOWER(name, n, "content-length") ? CONTENT_LENGTH : FORWARDED;
    case 15: return EQUAL_LOWER(name, n, "x-forwarded-for") ? FORWARDED_FOR : FORWARDED;
    case 16: return EQUAL_LOWER(name, n, "proxy-connection") ? PROXY_CONNECTION : FORWARDED;
    case 17:
        if (EQUAL_LOWER(name, n, "transfer-encoding")) return TRANSFER_ENCODING;
        return EQUAL_LOWER(name, n, "x-forwarded-proto") ? DROPPED : FORWARDED;
    case 23: return EQUAL_LOWER(name, n, "x-forwarded-client-cert") ? DROPPED : FORWARDED;
    default: return FORWARDED;
    }
}

/* request_wire.connection_flags: the "close" and "keep-alive" tokens of a Connection value as llhttp
 * reads them (comma-separated, spaces and tabs around each ignored, any case) */
static void connection_flags(const char *v, Py_ssize_t n, int *close, int *keep_alive) {
    const char *end = v + n;
    for (;;) {
        const char *comma = memchr(v, ',', (size_t)(end - v));
        const char *token = v, *token_end = comma != NULL ? comma : end;
        trim_ows(&token, &token_end);
        if (EQUAL_LOWER(token, token_end - token, "close")) *close = 1;
        else if (EQUAL_LOWER(token, token_end - token, "keep-alive")) *keep_alive = 1;
        if (comma == NULL) return;
        v = comma + 1;
    }
}

/* request_wire.plain_path: a target that paths.split_target leaves as it is (origin-form, no query,
 * no fragment, no "/." or "%2" that could make a dot-segment) */
static int plain_path(const char *t, Py_ssize_t n) {
    if (n == 0 || t[0] != '/') return 0;
    for (Py_ssize_t i = 0; i < n; i++) {
        char c = t[i];
        if (c == '?' || c == '#') return 0;
        if (i + 1 < n && ((c == '/' && t[i + 1] == '.') || (c == '%' && t[i + 1] == '2'))) return 0;
    }
    return 1;
}

/* A field whose repeated lines are joined with "," (RFC 9110 §5.3); a copy only from the second on */
struct joined {
    const char *text;
    Py_ssize_t n;
    char *copy; /* PyMem buffer once a second value came */
    int present;
};

static int join(struct joined *field, const char *value, Py_ssize_t n) {
    if (!field->present) {
        field->text = value;
        field->n = n;
        field->present = 1;
        return 0;
    }
    char *grown = PyMem_Realloc(field->copy, (size_t)(field->n + 1 + n));
    if (grown == NULL) return -1;
    if (field->copy == NULL) memcpy(grown, field->text, (size_t)field->n);
    grown[field->n] = ',';
    memcpy(grown + field->n + 1, value, (size_t)n);
    field->copy = grown;
    field->text = grown;
    field->n += 1 + n;
    return 0;
}

static PyObject *joined_bytes(const struct joined *field) {
    return PyBytes_FromStringAndSize(field->present ? field->text : "", field->present ? field->n : 0);
}

/* The bytes of the last request's method, Host and User-Agent: most requests repeat them, and the
 * same object again costs no allocation, no free, and compares by identity (message.read_head) */
static PyObject *last_method, *last_host, *last_agent;

static PyObject *repeated_bytes(PyObject **last, const char *text, Py_ssize_t n) {
    PyObject *kept = *last;
    if (kept != NULL && PyBytes_GET_SIZE(kept) == n && memcmp(PyBytes_AS_STRING(kept), text, (size_t)n) == 0)
        return Py_NewRef(kept);
    PyObject *fresh = PyBytes_FromStringAndSize(text, n);
    if (fresh != NULL) Py_XSETREF(*last, Py_NewRef(fresh));
    return fresh;
}

#define JOINED 7 /* host, content_length, connection, expect, upgrade, x_forwarded_for, user_agent */

/* The request head at p (base: the start of the bytes object), as request_fields answers */
static PyObject *read_request(const char *base, const char *p, const char *limit) {
    while (p < limit && (*p == '\r' || *p == '\n')) p++; /* empty lines before it (RFC 9112 §2.2) */

    /* the request line: method SP target SP "HTTP/d.d", CRLF; no version is HTTP/0.9 (llhttp reads
     * the headers after it all the same; the gateway refuses the version) */
    const char *nl = memchr(p, '\n', (size_t)(limit - p));
    if (nl == NULL) Py_RETURN_NONE;
    const char *line_end = nl > p && nl[-1] == '\r' ? nl - 1 : nl;
    const char *space = memchr(p, ' ', (size_t)(line_end - p));
    if (space == NULL || space == p) Py_RETURN_NONE;
    const char *method = p, *target = space + 1, *target_end = line_end;
    long version_number = 9;
    const char *tail = line_end - 9; /* " HTTP/d.d" */
    if (line_end - space >= 10 && tail[0] == ' ' && memcmp(tail + 1, "HTTP/", 5) == 0) {
        if (tail[7] != '.' || tail[6] < '0' || tail[6] > '9' || tail[8] < '0' || tail[8] > '9') Py_RETURN_NONE;
        version_number = (tail[6] - '0') * 10 + (tail[8] - '0');
        target_end = tail;
    }
    /* llhttp accepts several spaces around the target and reports it without them: so must this, or
     * routing would see "/admin " where the backend reads "/admin" */
    while (target < target_end && *target == ' ') target++;
    while (target_end > target && target_end[-1] == ' ') target_end--;
    if (target == target_end) Py_RETURN_NONE;
    if (version_number == 9 && memchr(target, ' ', (size_t)(target_end - target)) != NULL) Py_RETURN_NONE;
    Py_ssize_t method_n = space - p, target_n = target_end - target;
    p = nl + 1;

    struct lines_out out;
    lines_init(&out);
    Py_ssize_t count = 0;
    struct joined host = {0}, length = {0}, connection = {0}, expect = {0}, upgrade = {0}, xff = {0}, agent = {0};
    int chunked = 0, close = 0, keep_alive = 0;
    PyObject *result = NULL;

    for (;;) {
        if (p < limit && *p == '\n') {
            p += 1;
            break;
        }
        if (limit - p >= 2 && p[0] == '\r' && p[1] == '\n') {
            p += 2;
            break;
        }
        nl = memchr(p, '\n', (size_t)(limit - p));
        if (nl == NULL || nl == p) goto unparsable;
        line_end = nl[-1] == '\r' ? nl - 1 : nl;
        const char *colon = memchr(p, ':', (size_t)(line_end - p));
        if (colon == NULL || colon == p) goto unparsable;
        const char *value = colon + 1, *value_end = line_end;
        trim_ows(&value, &value_end);
        Py_ssize_t name_n = colon - p, value_n = value_end - value;
        count++;
        int failed = 0;
        switch (classify(p, name_n)) {
        case HOST: /* the last one counts, as before this reader (http1 kept overwriting it) */
            host.text = value;
            host.n = value_n;
            host.present = 1;
            break;
        case CONTENT_LENGTH: failed = join(&length, value, value_n); break;
        case TRANSFER_ENCODING: chunked = 1; break; /* llhttp refuses a request whose last coding is not chunked */
        case CONNECTION:
            connection_flags(value, value_n, &close, &keep_alive);
            if (!plain_connection(value, value_n)) failed = join(&connection, value, value_n);
            break;
        case PROXY_CONNECTION: connection_flags(value, value_n, &close, &keep_alive); break;
        case EXPECT: failed = join(&expect, value, value_n); break;
        case UPGRADE: failed = join(&upgrade, value, value_n); break;
        case FORWARDED_FOR: failed = join(&xff, value, value_n); break;
        case DROPPED: break;
        case USER_AGENT:
            if (join(&agent, value, value_n) < 0) {
                failed = 1;
                break;
            }
            /* fall through: forwarded too */
        case FORWARDED: failed = put_line(&out, p, limit, name_n, value, value_n); break;
        }
        if (failed) {
            PyErr_NoMemory();
            goto done;
        }
        p = nl + 1;
    }

    int expect_continue = expect.present && EQUAL_LOWER(expect.text, expect.n, "100-continue");
    /* llhttp_should_keep_alive: HTTP/1.1 and later minors unless "close"; else only with
     * "keep-alive" (requests never need the connection's end to delimit them) */
    int keeps = version_number / 10 > 0 && version_number % 10 > 0 ? !close : keep_alive;
    PyObject *items[16] = {
        PyLong_FromSsize_t(p - base),
        repeated_bytes(&last_method, method, method_n),
        PyBytes_FromStringAndSize(target, target_n),
        PyLong_FromLong(version_number),
        PyBytes_FromStringAndSize(out.data, out.used),
        repeated_bytes(&last_host, host.present ? host.text : "", host.present ? host.n : 0),
        joined_bytes(&length),
        Py_NewRef(chunked ? Py_True : Py_False),
        joined_bytes(&connection),
        Py_NewRef(expect_continue ? Py_True : Py_False),
        joined_bytes(&upgrade),
        joined_bytes(&xff),
        repeated_bytes(&last_agent, agent.present ? agent.text : "", agent.present ? agent.n : 0),
        PyLong_FromSsize_t(count),
        Py_NewRef(keeps ? Py_True : Py_False),
        Py_NewRef(plain_path(target, target_n) ? Py_True : Py_False),
    };
    result = tuple_of(items, 16);
    goto done;

unparsable:
    result = Py_NewRef(Py_None);
done:
    lines_free(&out);
    struct joined *all[JOINED] = {&host, &length, &connection, &expect, &upgrade, &xff, &agent};
    for (int i = 0; i < JOINED; i++) PyMem_Free(all[i]->copy);
    return result;
}

static PyObject *request_fields(PyObject *module, PyObject *const *args, Py_ssize_t nargs) {
    (void)module;
    const char *base, *p, *limit;
    int readable = head_arguments(args, nargs, "request_fields(head: bytes, start: int)", &base, &p, &limit);
    if (readable <= 0) return readable < 0 ? NULL : Py_NewRef(Py_None);
    return read_request(base, p, limit);
}

/* The methods a lone request may have: common ones llhttp knows, none with a meaning of its own for
 * the connection (CONNECT) */
static int plain_method(const char *m, Py_ssize_t n) {
    switch (n) {
    case 3: return memcmp(m, "GET", 3) == 0 || memcmp(m, "PUT", 3) == 0;
    case 4: return memcmp(m, "HEAD", 4) == 0 || memcmp(m, "POST", 4) == 0;
    case 5: return memcmp(m, "PATCH", 5) == 0;
    case 6: return memcmp(m, "DELETE", 6) == 0;
    case 7: return memcmp(m, "OPTIONS", 7) == 0;
    default: return 0;
    }
}

/* lone_request(data) -> the fields of request_fields(data, 0) | None
 * When `data` is exactly one complete request head in the strict reading (_wire_util.h): a plain
 * method, one space, an origin-form target of visible ASCII, one space, "HTTP/1.1" CRLF, strict
 * header lines; no Content-Length or Transfer-Encoding (no body), no Upgrade or Expect, Connection
 * at most "keep-alive". llhttp would accept such a head and end the message at its last byte, so
 * http1.py serves it without feeding llhttp. None: anything else (the caller feeds llhttp). */
static PyObject *lone_request(PyObject *module, PyObject *data) {
    (void)module;
    const char *base, *limit;
    if (!bytes_argument(data, "lone_request(data: bytes)", &base, &limit)) return NULL;
    const char *p = base;
    const char *method = p;
    while (*p >= 'A' && *p <= 'Z') p++;
    if (*p != ' ' || !plain_method(method, p - method) || p[1] != '/') Py_RETURN_NONE;
    p++;
    while (char_class[(unsigned char)*p] & TARGET) p++;
    if (limit - p < 11 || memcmp(p, " HTTP/1.1\r\n", 11) != 0) Py_RETURN_NONE;
    struct strict_lines found;
    if (!strict_lines(p + 11, limit, &found) || found.end != limit || found.lengths) Py_RETURN_NONE;
    return read_request(base, base, limit);
}

static PyMethodDef methods[] = {
    {"request_fields", (PyCFunction)(void (*)(void))request_fields, METH_FASTCALL,
     "request_fields(head, start) -> the fields of the request head at head[start:] | None"},
    {"lone_request", lone_request, METH_O, "lone_request(data) -> request_fields(data, 0) when data is one strict head"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module_def = {PyModuleDef_HEAD_INIT, "_request_wire", NULL, -1, methods};

PyMODINIT_FUNC PyInit__request_wire(void) {
    char_class_init();
    return PyModule_Create(&module_def);
}
