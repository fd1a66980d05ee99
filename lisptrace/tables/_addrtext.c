/* Canonical address strings for a column of 16-byte addresses, straight into the buffers of
 * an Arrow string array (lisptrace/tables/schema.py, canonical_from_bin).
 *
 * The text is byte for byte what socket.inet_ntop gives on Linux (glibc's inet_ntop), which
 * the numpy twin of this kernel calls: dotted quad for IPv4; for IPv6 lowercase hex words, the
 * first longest run of two or more zero words as "::", and the last 32 bits as a dotted quad
 * for ::a.b.c.d and ::ffff:a.b.c.d (glibc's rule).
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>

#define MAX_TEXT 46 /* INET6_ADDRSTRLEN */
static const unsigned char V4_MAPPED[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

static char *put_u8(char *t, unsigned v) {
    if (v >= 100) {
        *t++ = (char)('0' + v / 100);
        v %= 100;
        *t++ = (char)('0' + v / 10);
    } else if (v >= 10) {
        *t++ = (char)('0' + v / 10);
    }
    *t++ = (char)('0' + v % 10);
    return t;
}

static char *put_quad(char *t, const unsigned char *q) {
    for (int k = 0; k < 4; k++) {
        if (k)
            *t++ = '.';
        t = put_u8(t, q[k]);
    }
    return t;
}

static char *put_hex(char *t, unsigned v) {
    static const char digits[] = "0123456789abcdef";
    int started = 0;
    for (int shift = 12; shift >= 0; shift -= 4) {
        unsigned d = (v >> shift) & 0xF;
        if (d || started || shift == 0) {
            *t++ = digits[d];
            started = 1;
        }
    }
    return t;
}

static char *put_ipv6(char *t, const unsigned char *a) {
    unsigned w[8];
    for (int i = 0; i < 8; i++)
        w[i] = (unsigned)a[2 * i] << 8 | a[2 * i + 1];
    int best = -1, best_len = 0, cur = -1, cur_len = 0;
    for (int i = 0; i < 8; i++) {
        if (w[i] == 0) {
            if (cur < 0) {
                cur = i;
                cur_len = 1;
            } else {
                cur_len++;
            }
        } else if (cur >= 0) {
            if (best < 0 || cur_len > best_len) {
                best = cur;
                best_len = cur_len;
            }
            cur = -1;
        }
    }
    if (cur >= 0 && (best < 0 || cur_len > best_len)) {
        best = cur;
        best_len = cur_len;
    }
    if (best >= 0 && best_len < 2)
        best = -1;
    for (int i = 0; i < 8; i++) {
        if (best >= 0 && i >= best && i < best + best_len) {
            if (i == best)
                *t++ = ':';
            continue;
        }
        if (i)
            *t++ = ':';
        if (i == 6 && best == 0 && (best_len == 6 || (best_len == 5 && w[5] == 0xFFFF)))
            return put_quad(t, a + 12);
        t = put_hex(t, w[i]);
    }
    if (best >= 0 && best + best_len == 8)
        *t++ = ':';
    return t;
}

/* A column repeats its addresses (a capture has few): the text of each row goes through a
 * small direct-mapped cache keyed by the 16 bytes and the form, so most rows cost a hash, a
 * compare and a fixed-size copy instead of the formatting (a million rows of 300 distinct
 * addresses: 44 -> 25 ms). */
#define CACHE_BITS 10
#define COPY 48 /* bytes copied from a cache entry: MAX_TEXT rounded up; the data has slack */

typedef struct {
    unsigned char key[16];
    unsigned char form; /* 0: empty entry */
    unsigned char len;
    char text[COPY];
} entry;

static size_t slot_of(const unsigned char *x) {
    uint64_t lo, hi;
    memcpy(&lo, x, 8);
    memcpy(&hi, x + 8, 8);
    return (size_t)(((lo * 31) ^ hi) * 0x9E3779B97F4A7C15ull >> (64 - CACHE_BITS));
}

PyDoc_STRVAR(render_doc,
"render(addresses, forms) -> (offsets, data, validity, null_count)\n\n"
"`addresses`: n * 16 bytes; `forms`: n bytes, per row 4 (the dotted quad of the last 4\n"
"bytes if the address is IPv4-mapped, ::ffff:a.b.c.d, else its IPv6 text), 6 (the IPv6 text\n"
"of the 16 bytes) or 0 (null). Returns the buffers of an Arrow string array:\n"
"int32 offsets (n + 1), the UTF-8 data, the validity bitmap (None without nulls) and the\n"
"null count.");

static PyObject *render(PyObject *Py_UNUSED(self), PyObject *args) {
    Py_buffer addr, forms;
    if (!PyArg_ParseTuple(args, "y*y*", &addr, &forms))
        return NULL;
    PyObject *offsets = NULL, *data = NULL, *validity = NULL, *result = NULL;
    Py_ssize_t n = forms.len;
    if (addr.len != 16 * n) {
        PyErr_SetString(PyExc_ValueError, "render: addresses must be 16 bytes per form");
        goto done;
    }
    if (n > (Py_ssize_t)(INT32_MAX / MAX_TEXT)) {
        PyErr_SetString(PyExc_OverflowError, "render: too many rows for int32 offsets");
        goto done;
    }
    offsets = PyBytes_FromStringAndSize(NULL, (n + 1) * 4);
    data = PyBytes_FromStringAndSize(NULL, n * MAX_TEXT + COPY);
    validity = PyBytes_FromStringAndSize(NULL, (n + 7) / 8);
    entry *cache = PyMem_RawCalloc((size_t)1 << CACHE_BITS, sizeof(entry));
    if (!offsets || !data || !validity || !cache) {
        PyMem_RawFree(cache);
        if (!PyErr_Occurred())
            PyErr_NoMemory();
        goto done;
    }
    const unsigned char *a = addr.buf, *f = forms.buf;
    int32_t *off = (int32_t *)PyBytes_AS_STRING(offsets);
    char *start = PyBytes_AS_STRING(data), *t = start;
    unsigned char *valid = (unsigned char *)PyBytes_AS_STRING(validity);
    Py_ssize_t nulls = 0;
    Py_BEGIN_ALLOW_THREADS
    memset(valid, 0, (size_t)((n + 7) / 8));
    for (Py_ssize_t i = 0; i < n; i++) {
        off[i] = (int32_t)(t - start);
        const unsigned char *x = a + 16 * i;
        unsigned char form = f[i];
        if (form != 4 && form != 6) {
            nulls++;
            continue;
        }
        valid[i >> 3] |= (unsigned char)(1u << (i & 7));
        entry *e = &cache[slot_of(x)];
        if (e->form == form && memcmp(e->key, x, 16) == 0) {
            memcpy(t, e->text, COPY);
            t += e->len;
            continue;
        }
        char *end = (form == 4 && memcmp(x, V4_MAPPED, 12) == 0) ? put_quad(t, x + 12)
                                                                : put_ipv6(t, x);
        memcpy(e->key, x, 16);
        e->form = form;
        e->len = (unsigned char)(end - t);
        memcpy(e->text, t, (size_t)(end - t));
        t = end;
    }
    off[n] = (int32_t)(t - start);
    Py_END_ALLOW_THREADS
    PyMem_RawFree(cache);
    if (_PyBytes_Resize(&data, t - start) < 0)
        goto done;
    if (nulls == 0) {
        Py_SETREF(validity, Py_NewRef(Py_None));
    }
    result = Py_BuildValue("OOOn", offsets, data, validity, nulls);
done:
    Py_XDECREF(offsets);
    Py_XDECREF(data);
    Py_XDECREF(validity);
    PyBuffer_Release(&addr);
    PyBuffer_Release(&forms);
    return result;
}

static PyMethodDef methods[] = {
    {"render", render, METH_VARARGS, render_doc},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_addrtext", "Canonical address strings (see schema.py).", -1,
    methods, NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC PyInit__addrtext(void) { return PyModule_Create(&module); }
