/* The per-frame loops of the decode, one pass per frame (docs/performance.md):
 *
 * - `layers`: the link/IP/UDP/TCP classification of `_fast` in lisptrace/ingest/layers.py;
 * - `data`:   the LISP data header + inner IP header of `_fast_data` in
 *             lisptrace/ingest/decode.py;
 * - `control_keys`: the control-payload cache keys of `_shape_key` in decode.py.
 *
 * Both compute exactly what the numpy code computes, row for row. The numpy code reads
 * fixed-width windows out of the whole batch buffer (`_gather`): a window may run past the
 * frame into the following frames' bytes, bytes past the end of the buffer read as 0, and a
 * window whose start lies outside the buffer (negative, or at/after its end) is all zeros.
 * `window` below does the same: a direct copy when the window is inside the buffer, `byte_at`
 * (0 outside [0, len)) at the buffer's end. Arithmetic follows the numpy dtypes (no overflow
 * is possible in either: every sum below fits easily in 32 bits).
 *
 * No numpy headers: the buffer and the numpy columns come through the buffer protocol, the
 * Python side allocates every output with the right dtype, and each buffer's length is
 * checked here (ValueError) before anything is written. The GIL is released around the loops.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>

static inline unsigned char byte_at(const unsigned char *b, Py_ssize_t len, int64_t pos) {
    return pos >= 0 && pos < (int64_t)len ? b[pos] : 0;
}

/* `width` bytes from `at` into `w`, as `_gather` reads them. */
static inline void window(const unsigned char *b, Py_ssize_t len, int64_t at, int width,
                          unsigned char *w) {
    if (at >= 0 && at <= (int64_t)len - width) {
        memcpy(w, b + at, (size_t)width);
    } else if (at < 0 || at >= (int64_t)len) {
        memset(w, 0, (size_t)width);
    } else {
        for (int k = 0; k < width; k++)
            w[k] = byte_at(b, len, at + k);
    }
}

/* Frames lie hundreds of bytes apart in a batch buffer of megabytes: the loops are bound by
 * memory latency, so they ask for the headers of the frame PREFETCH rows ahead. (A macro: GCC
 * drops a call to a function whose only effect is a prefetch, as a call without effects.) */
#ifndef PREFETCH
#define PREFETCH 16
#endif
#if defined(__GNUC__) || defined(__clang__)
#define prefetch(b, len, at)                                                                   \
    do {                                                                                       \
        int64_t at_ = (at);                                                                    \
        if (at_ >= 0 && at_ < (int64_t)(len) - 128) {                                          \
            __builtin_prefetch((b) + at_);                                                     \
            __builtin_prefetch((b) + at_ + 64);                                                \
        }                                                                                      \
    } while (0)
#else
#define prefetch(b, len, at) ((void)0)
#endif

static inline int32_t be16(const unsigned char *p) { return (int32_t)p[0] << 8 | p[1]; }

/* The IPv4 header checksum over 20 bytes is right: the one's complement sum of the ten
 * native-order 16-bit words, folded twice, is 0xFFFF (the numpy code sums `view(uint16)`). */
static inline int ipv4_checksum_ok(const unsigned char *p) {
    uint32_t s = 0;
    for (int k = 0; k < 10; k++) {
        uint16_t word;
        memcpy(&word, p + 2 * k, 2);
        s += word;
    }
    s = (s & 0xFFFF) + (s >> 16);
    s = (s & 0xFFFF) + (s >> 16);
    return s == 0xFFFF;
}

/* Checks that `b` holds exactly `count` items of `size` bytes; else ValueError, returns 0. */
static int sized(Py_buffer *b, Py_ssize_t count, Py_ssize_t size, const char *name) {
    if (b->len != count * size) {
        PyErr_Format(PyExc_ValueError, "%s: %zd bytes, expected %zd (%zd items of %zd bytes)",
                     name, b->len, count * size, count, size);
        return 0;
    }
    return 1;
}

static void release(Py_buffer *b, int count) {
    for (int k = 0; k < count; k++)
        PyBuffer_Release(&b[k]);
}

/* -- layers ----------------------------------------------------------------------------- */

enum {
    L_BUF, L_OFFSET, L_CAPLEN, L_LINKTYPE,
    L_FAST, L_L3, L_VERSION, L_PROTO, L_L4, L_L4LEN, L_POFF, L_PLEN, L_SPORT, L_DPORT, L_KIND,
    L_SRC, L_DST, L_COUNT
};

PyDoc_STRVAR(layers_doc,
"layers(buf, offset, caplen, linktype, control, data, gpe,\n"
"       fast, l3_offset, ip_version, ip_proto, l4_offset, l4_length, payload_offset,\n"
"       payload_length, sport, dport, kind, src, dst) -> None\n\n"
"The vectorised path of decode_layers (layers._fast) over n frames: `offset` int64,\n"
"`caplen` int32, `linktype` int64 (n each); `control`, `data`, `gpe` the LISP ports. Writes\n"
"`fast` (bool, every row) and, in the rows it decodes only, the other Layers columns:\n"
"l3_offset, l4_offset, l4_length, payload_offset, payload_length, sport, dport int32,\n"
"ip_version, kind uint8, ip_proto int16, src and dst (n, 16) uint8 (sport/dport only for\n"
"UDP/TCP, src/dst bytes 0-9 not for IPv4).");

static PyObject *layers(PyObject *Py_UNUSED(self), PyObject *args) {
    Py_buffer v[L_COUNT];
    long long control, data, gpe;
    memset(v, 0, sizeof v);
    if (!PyArg_ParseTuple(args, "y*y*y*y*LLLw*w*w*w*w*w*w*w*w*w*w*w*w*", &v[L_BUF],
                          &v[L_OFFSET], &v[L_CAPLEN], &v[L_LINKTYPE], &control, &data, &gpe,
                          &v[L_FAST], &v[L_L3], &v[L_VERSION], &v[L_PROTO], &v[L_L4],
                          &v[L_L4LEN], &v[L_POFF], &v[L_PLEN], &v[L_SPORT], &v[L_DPORT],
                          &v[L_KIND], &v[L_SRC], &v[L_DST]))
        return NULL;
    Py_ssize_t n = v[L_OFFSET].len / 8;
    if (!(sized(&v[L_OFFSET], n, 8, "offset") && sized(&v[L_CAPLEN], n, 4, "caplen") &&
          sized(&v[L_LINKTYPE], n, 8, "linktype") && sized(&v[L_FAST], n, 1, "fast") &&
          sized(&v[L_L3], n, 4, "l3_offset") && sized(&v[L_VERSION], n, 1, "ip_version") &&
          sized(&v[L_PROTO], n, 2, "ip_proto") && sized(&v[L_L4], n, 4, "l4_offset") &&
          sized(&v[L_L4LEN], n, 4, "l4_length") && sized(&v[L_POFF], n, 4, "payload_offset") &&
          sized(&v[L_PLEN], n, 4, "payload_length") && sized(&v[L_SPORT], n, 4, "sport") &&
          sized(&v[L_DPORT], n, 4, "dport") && sized(&v[L_KIND], n, 1, "kind") &&
          sized(&v[L_SRC], n, 16, "src") && sized(&v[L_DST], n, 16, "dst"))) {
        release(v, L_COUNT);
        return NULL;
    }
    const unsigned char *b = v[L_BUF].buf;
    const Py_ssize_t len = v[L_BUF].len;
    const int64_t *offset = v[L_OFFSET].buf;
    const int32_t *caplen = v[L_CAPLEN].buf;
    const int64_t *linktype = v[L_LINKTYPE].buf;
    unsigned char *fast = v[L_FAST].buf;
    int32_t *l3_offset = v[L_L3].buf;
    uint8_t *ip_version = v[L_VERSION].buf;
    int16_t *ip_proto = v[L_PROTO].buf;
    int32_t *l4_offset = v[L_L4].buf, *l4_length = v[L_L4LEN].buf;
    int32_t *payload_offset = v[L_POFF].buf, *payload_length = v[L_PLEN].buf;
    int32_t *sport = v[L_SPORT].buf, *dport = v[L_DPORT].buf;
    uint8_t *kind = v[L_KIND].buf;
    uint8_t *src = v[L_SRC].buf, *dst = v[L_DST].buf;

    Py_BEGIN_ALLOW_THREADS
    for (Py_ssize_t i = 0; i < n; i++) {
        if (i + PREFETCH < n)
            prefetch(b, len, offset[i + PREFETCH]);
        const int64_t start = offset[i];
        const int32_t cap = caplen[i];
        const int64_t lt = linktype[i];
        unsigned char link[20], h[56];
        int32_t l3 = -1;
        int fam = 0;
        fast[i] = 0;

        /* link layer: where the IP header starts, and the family it announces (0: any) */
        if (lt == 1 || lt == 113 || lt == 276) { /* Ethernet (one 802.1Q tag), SLL, SLL2 */
            window(b, len, start, 20, link);
            int at = lt == 1 ? 12 : lt == 113 ? 14 : 0;
            int32_t off = lt == 1 ? 14 : lt == 113 ? 16 : 20;
            int32_t et = be16(link + at);
            if (lt == 1 && et == 0x8100) {
                et = be16(link + 16);
                off += 4;
            }
            if (et == 0x0800 || et == 0x86DD) {
                l3 = off;
                fam = et == 0x0800 ? 4 : 6;
            }
        } else if (lt == 101 || lt == 12 || lt == 14) { /* raw IP */
            l3 = 0;
        } else if (lt == 228 || lt == 229) { /* raw IPv4, raw IPv6 */
            l3 = 0;
            fam = lt == 228 ? 4 : 6;
        } else if (lt == 0 || lt == 108) { /* BSD null (host order), OpenBSD loop (big) */
            window(b, len, start, 20, link);
            int64_t le = (int64_t)link[3] << 24 | link[2] << 16 | link[1] << 8 | link[0];
            int64_t be = (int64_t)link[0] << 24 | link[1] << 16 | link[2] << 8 | link[3];
            int64_t af = lt == 108 ? be : le > 0xFFFF ? be : le;
            int v6 = af == 10 || af == 24 || af == 28 || af == 30;
            if (af == 2 || v6) {
                l3 = 4;
                fam = v6 ? 6 : 4;
            }
        }
        if (l3 < 0 || cap < l3 + 20)
            continue;

        /* IP header */
        window(b, len, start + l3, 56, h);
        const int ver = h[0] >> 4;
        if (fam != 0 && fam != ver)
            continue;
        int v4 = h[0] == 0x45, v6 = ver == 6;
        int32_t l4len = 0;
        int proto = 0;
        if (v4) {
            int32_t tlen4 = be16(h + 2);
            int frag4 = (h[6] & 0x3F) | h[7];
            v4 = tlen4 >= 20 && cap >= l3 + tlen4 && frag4 == 0 && ipv4_checksum_ok(h);
            l4len = tlen4 - 20;
            proto = h[9];
        } else if (v6) {
            int32_t plen6 = be16(h + 4);
            int nh6 = h[6];
            v6 = cap >= l3 + 40 + plen6 && nh6 != 0 && nh6 != 43 && nh6 != 44 && nh6 != 51 &&
                 nh6 != 60;
            l4len = plen6;
            proto = nh6;
        }
        if (!(v4 || v6))
            continue;

        /* upper layer */
        const int32_t l4 = v4 ? 20 : 40;
        const unsigned char *t = h + l4; /* 14 bytes: h[20:34] or h[40:54] */
        const int32_t sp = be16(t), dp = be16(t + 2), ulen = be16(t + 4);
        const int udp = proto == 17, tcp = proto == 6;
        const int32_t doff = (t[12] >> 4) * 4;
        if (udp && !(ulen >= 8 && ulen == l4len))
            continue;
        if (tcp && !(l4len >= 20 && doff >= 20 && doff <= l4len))
            continue;
        const int32_t hdr = udp ? 8 : tcp ? doff : 0;

        /* kind: later rules win, as the numpy assignments do */
        const int ctl = sp == control || dp == control;
        uint8_t k = 0;
        if (udp && dp == gpe)
            k = 3; /* LISP_GPE */
        if (udp && dp == data)
            k = 2; /* LISP_DATA */
        if (udp && ctl)
            k = 1; /* LISP_CONTROL */
        if (tcp && ctl)
            k = 4; /* LISP_TCP */
        if (v6 && (proto == 135 || proto == 62))
            k = 5; /* MIP6 */
        if (v6 && proto == 58 && l4len >= 1 && t[0] == 134)
            k = 6; /* ICMPV6_RA */

        fast[i] = 1;
        l3_offset[i] = l3;
        ip_version[i] = v4 ? 4 : 6;
        ip_proto[i] = (int16_t)proto;
        l4_offset[i] = l3 + l4;
        l4_length[i] = l4len;
        payload_offset[i] = l3 + l4 + hdr;
        payload_length[i] = l4len - hdr;
        if (udp || tcp) {
            sport[i] = sp;
            dport[i] = dp;
        }
        kind[i] = k;
        uint8_t *s = src + 16 * i, *d = dst + 16 * i;
        if (v6) {
            memcpy(s, h + 8, 16);
            memcpy(d, h + 24, 16);
        } else {
            s[10] = s[11] = d[10] = d[11] = 0xFF;
            memcpy(s + 12, h + 12, 4);
            memcpy(d + 12, h + 16, 4);
        }
    }
    Py_END_ALLOW_THREADS

    release(v, L_COUNT);
    Py_RETURN_NONE;
}

/* -- data ------------------------------------------------------------------------------- */

enum {
    D_BUF, D_START, D_PLEN,
    D_M, D_FLAGS, D_NMV, D_WORD, D_PROTO, D_SPORT, D_DPORT, D_PORTS, D_ILEN, D_IS6, D_SRC, D_DST,
    D_COUNT
};

PyDoc_STRVAR(data_doc,
"data(buf, start, plen, control, data, m, flags, nonce_map_version, word, proto, sport,\n"
"     dport, has_ports, inner_length, is6, src, dst) -> count\n\n"
"The vectorised LISP data path (decode._fast_data) over n rows: `start` (where the LISP\n"
"header is in `buf`) and `plen` (the UDP payload length), int64 each; `control`, `data`\n"
"the LISP ports. Writes `m` (bool, n): the row is plain (decodable here). For the plain rows,\n"
"in order, from index 0 (the first `count` items; the arrays hold n): `flags` uint8 (the\n"
"LISP flags byte), `nonce_map_version` int64 (bytes 1-3), `word` int64 (bytes 4-7, the\n"
"IID/LSBs), `proto` uint8, `sport`/`dport` int64, `has_ports` bool, `inner_length` int64,\n"
"`is6` bool, and `src`, `dst` (n, 16) uint8: the inner addresses, IPv4-mapped for IPv4.\n"
"Returns the number of plain rows.");

static int extension_v6(int nh) {
    switch (nh) {
    case 0: case 43: case 44: case 50: case 51: case 60: case 135: case 139: case 140:
    case 253: case 254:
        return 1;
    default:
        return 0;
    }
}

static PyObject *data_rows(PyObject *Py_UNUSED(self), PyObject *args) {
    Py_buffer v[D_COUNT];
    long long control, data;
    memset(v, 0, sizeof v);
    if (!PyArg_ParseTuple(args, "y*y*y*LLw*w*w*w*w*w*w*w*w*w*w*w*", &v[D_BUF], &v[D_START],
                          &v[D_PLEN], &control, &data, &v[D_M], &v[D_FLAGS], &v[D_NMV],
                          &v[D_WORD], &v[D_PROTO], &v[D_SPORT], &v[D_DPORT], &v[D_PORTS],
                          &v[D_ILEN], &v[D_IS6], &v[D_SRC], &v[D_DST]))
        return NULL;
    Py_ssize_t n = v[D_START].len / 8;
    if (!(sized(&v[D_START], n, 8, "start") && sized(&v[D_PLEN], n, 8, "plen") &&
          sized(&v[D_M], n, 1, "m") && sized(&v[D_FLAGS], n, 1, "flags") &&
          sized(&v[D_NMV], n, 8, "nonce_map_version") && sized(&v[D_WORD], n, 8, "word") &&
          sized(&v[D_PROTO], n, 1, "proto") && sized(&v[D_SPORT], n, 8, "sport") &&
          sized(&v[D_DPORT], n, 8, "dport") && sized(&v[D_PORTS], n, 1, "has_ports") &&
          sized(&v[D_ILEN], n, 8, "inner_length") && sized(&v[D_IS6], n, 1, "is6") &&
          sized(&v[D_SRC], n, 16, "src") && sized(&v[D_DST], n, 16, "dst"))) {
        release(v, D_COUNT);
        return NULL;
    }
    const unsigned char *b = v[D_BUF].buf;
    const Py_ssize_t len = v[D_BUF].len;
    const int64_t *start = v[D_START].buf, *plen = v[D_PLEN].buf;
    unsigned char *m = v[D_M].buf;
    uint8_t *flags = v[D_FLAGS].buf, *proto_out = v[D_PROTO].buf;
    int64_t *nmv_out = v[D_NMV].buf, *word_out = v[D_WORD].buf;
    int64_t *sport = v[D_SPORT].buf, *dport = v[D_DPORT].buf, *ilen_out = v[D_ILEN].buf;
    unsigned char *has_ports = v[D_PORTS].buf, *is6 = v[D_IS6].buf;
    uint8_t *src = v[D_SRC].buf, *dst = v[D_DST].buf;
    Py_ssize_t count = 0;

    Py_BEGIN_ALLOW_THREADS
    for (Py_ssize_t j = 0; j < n; j++) {
        if (j + PREFETCH < n)
            prefetch(b, len, start[j + PREFETCH]);
        const int64_t st = start[j], pl = plen[j];
        unsigned char h[52], u[4];
        m[j] = 0;
        window(b, len, st, 52, h);
        const int f = h[0];
        const int64_t nmv = (int64_t)h[1] << 16 | h[2] << 8 | h[3];
        const int64_t word = (int64_t)h[4] << 24 | h[5] << 16 | h[6] << 8 | h[7];
        const int fn = (f & 0x80) != 0, fe = (f & 0x20) != 0, fv = (f & 0x10) != 0;
        const int fi = (f & 0x08) != 0, fp = (f & 0x04) != 0;
        /* flags the codec reports anomalies for, and key phases: left to the codec */
        if (!(pl >= 8 + 20 && (f & 0x03) == 0 && !fp) || (fe && !fn) || (fn && fv) ||
            (fi && (word >> 8) == 0xFFFFFF))
            continue;
        const unsigned char *inner = h + 8; /* 44 bytes */
        const int64_t ilen = pl - 8;
        /* IPv4, no options, whole, not a fragment, header checksum right */
        const int v4 = inner[0] == 0x45 && be16(inner + 2) == ilen &&
                       ((inner[6] & 0x3F) | inner[7]) == 0 && ipv4_checksum_ok(inner);
        /* IPv6 without extension headers, whole */
        const int v6 = (inner[0] >> 4) == 6 && pl >= 8 + 40 && be16(inner + 4) + 40 == ilen &&
                       !extension_v6(inner[6]);
        if (!(v4 || v6))
            continue;
        const int proto = v4 ? inner[9] : inner[6];
        const int64_t hl = v4 ? 20 : 40;
        const unsigned char *t = inner + hl;
        const int64_t sp = be16(t), dp = be16(t + 2);
        const int64_t upper = ilen - hl;
        const int is_udp = proto == 17, is_tcp = proto == 6;
        if (is_udp) { /* consistent length, no checksum (IPv4 only), not LISP inside */
            window(b, len, st + 8 + hl + 4, 4, u);
            const int64_t ulen = be16(u), ucs = be16(u + 2);
            if (!(upper >= 8 && ulen == upper && ucs == 0 && v4 && dp != data &&
                  sp != control && dp != control))
                continue;
        }
        if (proto == 2 || (is_tcp && upper < 4))
            continue;

        m[j] = 1;
        const Py_ssize_t c = count++;
        flags[c] = (uint8_t)f;
        nmv_out[c] = nmv;
        word_out[c] = word;
        proto_out[c] = (uint8_t)proto;
        sport[c] = sp;
        dport[c] = dp;
        has_ports[c] = (is_udp || is_tcp || proto == 132) && upper >= 4;
        ilen_out[c] = ilen;
        is6[c] = (unsigned char)v6;
        uint8_t *s = src + 16 * c, *d = dst + 16 * c;
        if (v6) {
            memcpy(s, inner + 8, 16);
            memcpy(d, inner + 24, 16);
        } else {
            memset(s, 0, 10);
            memset(d, 0, 10);
            s[10] = s[11] = d[10] = d[11] = 0xFF;
            memcpy(s + 12, inner + 12, 4);
            memcpy(d + 12, inner + 16, 4);
        }
    }
    Py_END_ALLOW_THREADS

    release(v, D_COUNT);
    return PyLong_FromSsize_t(count);
}

PyDoc_STRVAR(control_keys_doc,
"control_keys(buf, starts, lengths, blank_auth) -> (keys, nonce_at)\n\n"
"The control-payload cache keys of `_shape_key` in lisptrace/ingest/decode.py for the\n"
"payloads buf[starts[i]:starts[i] + lengths[i]] (int64 columns, not negative): a list of\n"
"keys, each a 1-tuple of the payload with its nonce (and, with `blank_auth`, the\n"
"Authentication Data of a Map-Register/-Notify/-Notify-Ack) zeroed, or the payload's bytes\n"
"when nothing was blanked; and an int64 array `nonce_at` with the offset of the blanked\n"
"nonce, or -1.");

/* Where the blanked nonce is (-1: none) and the Authentication Data to blank (`*auth_len`
 * bytes from 16), as `_shape_key` decides them. */
static int64_t shape_of(const unsigned char *p, int64_t n, int blank_auth, int64_t *auth_len) {
    *auth_len = 0;
    if (n < 12)
        return -1;
    int t = p[0] >> 4;
    if (t >= 1 && t <= 6) {
        if (t >= 3 && t <= 5 && blank_auth && n >= 16) {
            int64_t alen = (int64_t)be16(p + 14);
            if (alen > 0 && alen <= n - 16)
                *auth_len = alen;
        }
        return 4;
    }
    if (t == 8 && n >= 4 + 20 + 8 + 12 && p[4] == 0x45 && p[13] == 17) {
        int inner = p[32] >> 4;
        if (p[30] == 0 && p[31] == 0 && inner >= 1 && inner <= 6)
            return 36;
    }
    return -1;
}

static PyObject *control_keys(PyObject *Py_UNUSED(self), PyObject *args) {
    Py_buffer buf, starts, lengths;
    int blank_auth;
    if (!PyArg_ParseTuple(args, "y*y*y*p", &buf, &starts, &lengths, &blank_auth))
        return NULL;
    PyObject *keys = NULL, *nonce_at = NULL, *result = NULL;
    Py_ssize_t n = starts.len / 8;
    if (!sized(&starts, n, 8, "starts") || !sized(&lengths, n, 8, "lengths"))
        goto done;
    const int64_t *s = starts.buf, *l = lengths.buf;
    for (Py_ssize_t i = 0; i < n; i++) {
        if (s[i] < 0 || l[i] < 0) {
            PyErr_SetString(PyExc_ValueError, "control_keys: a negative start or length");
            goto done;
        }
    }
    keys = PyList_New(n);
    nonce_at = PyBytes_FromStringAndSize(NULL, n * 8);
    if (!keys || !nonce_at)
        goto done;
    int64_t *at = (int64_t *)PyBytes_AS_STRING(nonce_at);
    const unsigned char *b = buf.buf;
    for (Py_ssize_t i = 0; i < n; i++) {
        /* clipped to the buffer, as a Python slice buf[start:start + length] is */
        int64_t start = s[i] < (int64_t)buf.len ? s[i] : (int64_t)buf.len;
        int64_t size = l[i] < (int64_t)buf.len - start ? l[i] : (int64_t)buf.len - start;
        const unsigned char *p = b + start;
        int64_t auth_len;
        at[i] = shape_of(p, size, blank_auth, &auth_len);
        PyObject *key = PyBytes_FromStringAndSize((const char *)p, (Py_ssize_t)size);
        if (!key)
            goto done;
        if (at[i] >= 0) {
            char *k = PyBytes_AS_STRING(key);
            memset(k + at[i], 0, 8);
            if (auth_len)
                memset(k + 16, 0, (size_t)auth_len);
            PyObject *shape = PyTuple_New(1);
            if (!shape) {
                Py_DECREF(key);
                goto done;
            }
            PyTuple_SET_ITEM(shape, 0, key);
            key = shape;
        }
        PyList_SET_ITEM(keys, i, key);
    }
    result = Py_BuildValue("OO", keys, nonce_at);
done:
    Py_XDECREF(keys);
    Py_XDECREF(nonce_at);
    PyBuffer_Release(&buf);
    PyBuffer_Release(&starts);
    PyBuffer_Release(&lengths);
    return result;
}

static PyMethodDef methods[] = {
    {"layers", layers, METH_VARARGS, layers_doc},
    {"data", data_rows, METH_VARARGS, data_doc},
    {"control_keys", control_keys, METH_VARARGS, control_keys_doc},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_fastpath",
    "The vectorised layer and LISP data classifiers, one pass per frame (layers._fast, "
    "decode._fast_data).", -1, methods, NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC PyInit__fastpath(void) { return PyModule_Create(&module); }
