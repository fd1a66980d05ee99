/* A block cache for numpy's large arrays (NEP 49 data memory handler).
 *
 * The decode allocates and frees the same few hundred large arrays for every batch (columns of
 * ~50,000 rows, their masks and temporaries). From glibc's heap they fragment it: its resident
 * size creeps up for seconds before levelling off. Handed out by mmap they cost a page fault
 * per page every time. Here a freed large block is kept, by size class, for the next array of
 * that class: reused pages, no faults, no fragmentation, and a bounded cache (beyond
 * CACHE_BYTES a freed block is unmapped). Small arrays go to malloc as before.
 *
 * install() sets the handler for the calling thread's context (numpy keeps it in a context
 * variable: every thread that wants it calls install()) and returns the previous handler;
 * restore(previous) puts it back. stats() returns the cache's counters, trim() unmaps the
 * cached blocks.
 */
#define PY_SSIZE_T_CLEAN
#define NPY_NO_DEPRECATED_API NPY_1_22_API_VERSION
#include <Python.h>
#include <numpy/arrayobject.h>
#include <malloc.h>
#include <pthread.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>

#define HEADER 64                      /* bytes before the data: keeps it 64-byte aligned */
#define LARGE ((size_t)256 << 10)      /* blocks of this size and more are cached */
#define HUGE ((size_t)64 << 20)        /* and not above: mapped and unmapped as they come */
#define CACHE_BYTES ((size_t)96 << 20) /* the most the free lists hold */
#define CLASSES 64
/* A batch a little larger than the ones before needs a class no block has yet: it maps one,
 * and the blocks of the class below then wait unused in the cache. Taking those for arrays of
 * the classes below (at most SPARE classes, ~25 %, larger than asked) keeps them in use. */
#define SPARE 2

typedef struct Block {
    size_t cap;           /* bytes mapped (with the header); 0: from malloc */
    struct Block *next;   /* in a free list */
} Block;

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static Block *free_list[CLASSES];
static size_t cached, mapped, hits, maps, unmaps;

/* Size classes: 8 per power of two (at most 12.5 % more than asked): index and bytes. */
static int class_of(size_t n, size_t *bytes) {
    int top = 63 - __builtin_clzll((unsigned long long)(n - 1)); /* 2^top < n <= 2^(top+1) */
    int shift = top - 3;
    size_t step = (size_t)1 << shift;
    size_t rounded = (n + step - 1) & ~(step - 1); /* 9..16 steps */
    *bytes = rounded;
    int index = (top - 18) * 8 + (int)(rounded >> shift) - 9;
    return index < 0 ? 0 : (index >= CLASSES ? CLASSES - 1 : index);
}

/* A block of at least `total` bytes: a cached one of its class or, failing that, of one of the
 * SPARE classes above it (`*reused` set: its bytes are what its last array left), else a fresh
 * mapping (zero). */
static Block *take(size_t total, int *reused) {
    size_t bytes;
    int k = class_of(total, &bytes);
    Block *b = NULL;
    *reused = 0;
    if (total <= HUGE) {
        pthread_mutex_lock(&lock);
        for (int j = k; j <= k + SPARE && j < CLASSES && b == NULL; j++) {
            for (Block **p = &free_list[j]; *p != NULL; p = &(*p)->next) {
                if ((*p)->cap == bytes || (j > k && (*p)->cap >= total)) {
                    b = *p;
                    *p = b->next;
                    cached -= b->cap;
                    hits++;
                    break;
                }
            }
        }
        pthread_mutex_unlock(&lock);
        if (b != NULL) {
            *reused = 1;
            return b;
        }
    }
    void *m = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (m == MAP_FAILED) {
        return NULL;
    }
    b = (Block *)m;
    b->cap = bytes;
    __atomic_add_fetch(&maps, 1, __ATOMIC_RELAXED);
    __atomic_add_fetch(&mapped, bytes, __ATOMIC_RELAXED);
    return b;
}

static void unmap_block(Block *b) {
    __atomic_add_fetch(&unmaps, 1, __ATOMIC_RELAXED);
    __atomic_sub_fetch(&mapped, b->cap, __ATOMIC_RELAXED);
    munmap(b, b->cap);
}

static void give_back(Block *b) {
    if (b->cap <= HUGE) {
        size_t bytes;
        int k = class_of(b->cap, &bytes);
        pthread_mutex_lock(&lock);
        if (cached + b->cap <= CACHE_BYTES) {
            b->next = free_list[k];
            free_list[k] = b;
            cached += b->cap;
            b = NULL;
        }
        pthread_mutex_unlock(&lock);
    }
    if (b != NULL) {
        unmap_block(b);
    }
}

static void *data_of(Block *b) { return b == NULL ? NULL : (char *)b + HEADER; }
static Block *block_of(void *p) { return (Block *)((char *)p - HEADER); }

/* The data of a small block from malloc or calloc (marked: not the cache's). */
static void *small(Block *b) {
    if (b != NULL) {
        b->cap = 0;
    }
    return data_of(b);
}

static void *block_malloc(void *ctx, size_t size) {
    (void)ctx;
    size_t total = size + HEADER;
    if (total < size) {
        return NULL;
    }
    if (total < LARGE) {
        return small(malloc(total));
    }
    int reused;
    return data_of(take(total, &reused));
}

static void *block_calloc(void *ctx, size_t nelem, size_t elsize) {
    (void)ctx;
    size_t size;
    if (__builtin_mul_overflow(nelem, elsize, &size) || size + HEADER < size) {
        return NULL;
    }
    size_t total = size + HEADER;
    if (total < LARGE) {
        return small(calloc(1, total));
    }
    int reused;
    Block *b = take(total, &reused);
    if (b != NULL && reused) {
        memset(data_of(b), 0, size); /* a fresh mapping is zero already */
    }
    return data_of(b);
}

static void block_free(void *ctx, void *ptr, size_t size) {
    (void)ctx;
    (void)size;
    if (ptr == NULL) {
        return;
    }
    Block *b = block_of(ptr);
    if (b->cap == 0) {
        free(b);
    } else {
        give_back(b);
    }
}

static void *block_realloc(void *ctx, void *ptr, size_t new_size) {
    if (ptr == NULL) {
        return block_malloc(ctx, new_size);
    }
    Block *b = block_of(ptr);
    size_t total = new_size + HEADER;
    if (total < new_size) {
        return NULL;
    }
    if (b->cap == 0 && total < LARGE) {
        Block *r = realloc(b, total);
        return data_of(r);
    }
    if (b->cap != 0 && total <= b->cap && total * 2 > b->cap) {
        return ptr; /* still fits, and not mostly empty */
    }
    size_t old = b->cap != 0 ? b->cap - HEADER : malloc_usable_size(b) - HEADER;
    void *fresh = block_malloc(ctx, new_size);
    if (fresh == NULL) {
        return NULL;
    }
    memcpy(fresh, ptr, old < new_size ? old : new_size);
    block_free(ctx, ptr, old);
    return fresh;
}

static PyDataMem_Handler handler = {
    "lisptrace_blocks",
    1,
    {NULL, block_malloc, block_calloc, block_realloc, block_free},
};

static PyObject *capsule; /* the handler, as numpy wants it */

static PyObject *install(PyObject *self, PyObject *args) {
    (void)self;
    (void)args;
    return PyDataMem_SetHandler(capsule);
}

static PyObject *restore(PyObject *self, PyObject *previous) {
    (void)self;
    return PyDataMem_SetHandler(previous);
}

static PyObject *stats(PyObject *self, PyObject *args) {
    (void)self;
    (void)args;
    pthread_mutex_lock(&lock);
    size_t c = cached, h = hits;
    pthread_mutex_unlock(&lock);
    return Py_BuildValue("{s:n,s:n,s:n,s:n,s:n,s:n}", "cached", (Py_ssize_t)c, "mapped",
                         (Py_ssize_t)mapped, "hits", (Py_ssize_t)h, "maps", (Py_ssize_t)maps,
                         "unmaps", (Py_ssize_t)unmaps, "limit", (Py_ssize_t)CACHE_BYTES);
}

static PyObject *trim(PyObject *self, PyObject *args) {
    (void)self;
    (void)args;
    Block *all = NULL;
    pthread_mutex_lock(&lock);
    for (int k = 0; k < CLASSES; k++) {
        while (free_list[k] != NULL) {
            Block *b = free_list[k];
            free_list[k] = b->next;
            b->next = all;
            all = b;
        }
    }
    size_t released = cached;
    cached = 0;
    pthread_mutex_unlock(&lock);
    while (all != NULL) {
        Block *b = all;
        all = b->next;
        unmap_block(b);
    }
    return PyLong_FromSize_t(released);
}

static void after_fork_child(void) { pthread_mutex_init(&lock, NULL); }

static PyMethodDef methods[] = {
    {"install", install, METH_NOARGS,
     "Use the block cache for this thread's numpy arrays; returns the previous handler."},
    {"restore", restore, METH_O, "Put back a handler returned by install()."},
    {"stats", stats, METH_NOARGS, "The cache's counters (bytes cached, hits, maps, unmaps)."},
    {"trim", trim, METH_NOARGS, "Unmap every cached block; returns the bytes released."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_blocks", NULL, -1, methods, NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC PyInit__blocks(void) {
    import_array();
    capsule = PyCapsule_New(&handler, "mem_handler", NULL);
    if (capsule == NULL) {
        return NULL;
    }
    pthread_atfork(NULL, NULL, after_fork_child);
    return PyModule_Create(&module);
}
