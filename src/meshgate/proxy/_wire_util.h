/* Helpers shared by the C forms of the head readers (_wire.c: responses, _request_wire.c: requests). */
#ifndef MESHGATE_WIRE_UTIL_H
#define MESHGATE_WIRE_UTIL_H
#include <Python.h>
#include <string.h>

/* s[0:n], ASCII case folded, equals the lower-case C string `lower` */
static inline int equal_lower(const char *s, Py_ssize_t n, const char *lower) {
    for (Py_ssize_t i = 0; i < n; i++) {
        char c = s[i];
        if (c >= 'A' && c <= 'Z') c = (char)(c + 32);
        if (c != lower[i]) return 0;
    }
    return lower[n] == '\0';
}

/* headers.PLAIN_CONNECTION: Connection values that name no field to drop */
static inline int plain_connection(const char *v, Py_ssize_t n) {
    return equal_lower(v, n, "close") || equal_lower(v, n, "keep-alive") || equal_lower(v, n, "upgrade");
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

/* Append "name: value\r\n" at out[*used] */
static inline void put_line(char *out, Py_ssize_t *used, const char *name, Py_ssize_t name_n,
                            const char *value, Py_ssize_t value_n) {
    Py_ssize_t at = *used;
    memcpy(out + at, name, (size_t)name_n);
    at += name_n;
    out[at++] = ':';
    out[at++] = ' ';
    memcpy(out + at, value, (size_t)value_n);
    at += value_n;
    out[at++] = '\r';
    out[at++] = '\n';
    *used = at;
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

#endif
