/* profile_out.c -- owns the heap profile's files (profile_out.h).  Calls:
 * symbol.h and report.h (names), stack.h (the sites' stacks), os.h
 * (scratch space, /proc/self/maps), lock.h, options.h (wdi_fmt).  Files
 * are written with open, write and rename; nothing is allocated. */
#define _GNU_SOURCE
#include "debug/profile_out.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h> /* rename */
#include <string.h>
#include <unistd.h>

#include "base/lock.h"
#include "base/options.h"
#include "debug/report.h"
#include "debug/stack.h"
#include "debug/symbol.h"
#include "os/os.h"

/* Frames looked at for warden's own entry point when warden is linked
 * into the program (its frames above the entry are few). */
#define ENTRY_SCAN 16
/* Addresses symbolized per call (each call is one helper run, or one per
 * module with addr2line: symbol.h). */
#define SYM_CHUNK 2048
/* Bytes of names kept per address (function, file, module strings). */
#define SYM_TEXT 1024

/* The flame graph's geometry, in pixels. */
#define SVG_WIDTH 1200
#define SVG_MARGIN 10
#define SVG_FRAME 16
#define SVG_TOP 40

/* --- scratch space: one mapping per array, unmapped after the dump ---------- */

#define SCRATCH_MAPS 16

static struct {
    void *at[SCRATCH_MAPS];
    size_t size[SCRATCH_MAPS];
    int n;
} scratch;

/* count * each bytes of zeroed address space (pages become memory when
 * touched), or NULL. */
static void *scratch_take(size_t count, size_t each) {
    size_t bytes = wd_align_up(count * each + 1, wdi_os_page_size());
    void *p;
    if (scratch.n == SCRATCH_MAPS || wdi_os_reserve(bytes, &p) != 0)
        return NULL;
    scratch.at[scratch.n] = p;
    scratch.size[scratch.n++] = bytes;
    return p;
}

static void scratch_release(void) {
    while (scratch.n > 0) {
        scratch.n--;
        wdi_os_unmap(scratch.at[scratch.n], scratch.size[scratch.n]);
    }
}

/* --- output: a buffered file, renamed into place when complete ------------- */

static struct {
    int fd;
    int err; /* the first errno seen */
    size_t used;
    char buf[1 << 16];
    char path[WD_OPTION_STR_MAX + 64];
    char tmp[WD_OPTION_STR_MAX + 96];
} out;

static void out_flush(void) {
    for (size_t off = 0; off < out.used && out.err == 0;) {
        ssize_t w = write(out.fd, out.buf + off, out.used - off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            out.err = w < 0 ? errno : EIO;
        else
            off += (size_t)w;
    }
    out.used = 0;
}

static void out_bytes(const char *s, size_t n) {
    while (n > 0) {
        if (out.used == sizeof out.buf)
            out_flush();
        size_t k = sizeof out.buf - out.used < n ? sizeof out.buf - out.used : n;
        memcpy(out.buf + out.used, s, k);
        out.used += k, s += k, n -= k;
    }
}

static void out_str(const char *s) { out_bytes(s, strlen(s)); }

/* One piece formatted by wdi_fmt (at most 1 KiB). */
static void out_fmt(const char *fmt, ...) {
    char line[1024];
    va_list ap;
    va_start(ap, fmt);
    size_t n = wdi_vfmt(line, sizeof line, fmt, ap);
    va_end(ap);
    out_bytes(line, n);
}

/* A number with one decimal, from tenths. */
static void out_tenths(uint64_t tenths) {
    out_fmt("%zu.%zu", (size_t)(tenths / 10), (size_t)(tenths % 10));
}

/* At most max characters of s, escaped for XML text and attributes. */
static void out_xml(const char *s, size_t max) {
    for (size_t i = 0; s[i] != '\0' && i < max; i++) {
        switch (s[i]) {
        case '&': out_str("&amp;"); break;
        case '<': out_str("&lt;"); break;
        case '>': out_str("&gt;"); break;
        case '"': out_str("&quot;"); break;
        default:
            if ((unsigned char)s[i] >= 0x20)
                out_bytes(&s[i], 1);
        }
    }
}

/* A function name in a folded stack: ';' separates frames there. */
static void out_folded_name(const char *s) {
    for (; *s != '\0'; s++) {
        char c = *s == ';' ? ':' : (unsigned char)*s < 0x20 ? ' ' : *s;
        out_bytes(&c, 1);
    }
}

static int out_open(const char *prefix, const char *ext) {
    wdi_fmt(out.path, sizeof out.path, "%s.%s", prefix, ext);
    wdi_fmt(out.tmp, sizeof out.tmp, "%s.tmp.%d", out.path, (int)getpid());
    out.used = 0;
    out.err = 0;
    out.fd = open(out.tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    return out.fd < 0 ? errno : 0;
}

/* Writes what is left, closes, and renames the file into place; 0 or an
 * errno value (the temporary file is removed then). */
static int out_close(void) {
    out_flush();
    if (close(out.fd) != 0 && out.err == 0)
        out.err = errno;
    if (out.err == 0 && rename(out.tmp, out.path) != 0)
        out.err = errno;
    if (out.err != 0)
        unlink(out.tmp);
    return out.err;
}

/* --- the dump's picture of the sites -------------------------------------------- */

typedef struct row_s {
    uint64_t in_n, in_b, al_n, al_b;
    int depth; /* frames in pcs */
    int first; /* pcs[first .. depth) are the program's: warden's own are left out */
    int lost;  /* the samples whose stack was not kept */
    void *pcs[WD_STACK_MAX];
} row_t;

/* What one code address is called: its function and the functions inlined
 * into it there, outermost first. */
typedef struct pcinfo_s {
    const char *name[WDI_SYM_INLINE];
    int n;
    int entry; /* one of the names is an allocation entry point */
    int own;   /* or one of warden's functions on the way to the profiler */
} pcinfo_t;

/* The flame graph's tree: a node per function on a path, its children in
 * name order. */
typedef struct node_s {
    const char *name;
    uint32_t child, sibling; /* 0: none (node 0 is the root) */
    uint64_t total, self;
} node_t;

static struct {
    row_t *rows;
    size_t nrows;
    uintptr_t *pcs; /* distinct addresses, sorted */
    size_t npcs;
    pcinfo_t *info; /* info[i] names pcs[i] */
    char *names;    /* names made here (module+0xOFF) */
    size_t names_used, names_cap;
    node_t *nodes;
    size_t nnodes, nodes_cap;
    uint64_t in_n, in_b, al_n, al_b;
} d;

static wd_lock_t write_lock = WD_LOCK_INIT;

/* The k-th site of the dump's list (wdi_prof_write): the lost slot last;
 * UINT32_MAX for an entry still being written. */
static uint32_t site_nth(_Atomic(uint32_t) *list, size_t n, uint32_t lost, size_t k) {
    return k == n ? lost : atomic_load_explicit(&list[k], memory_order_acquire) - 1;
}

/* Copies the sites with samples into rows, with their stacks. */
static int rows_fill(wdi_prof_site_t *sites, _Atomic(uint32_t) *list, size_t n, uint32_t lost) {
    size_t used = 0;
    for (size_t k = 0; k <= n; k++) {
        uint32_t i = site_nth(list, n, lost, k);
        used += i != UINT32_MAX &&
                atomic_load_explicit(&sites[i].alloc_n, memory_order_relaxed) != 0;
    }
    d.rows = scratch_take(used + 1, sizeof(row_t));
    if (d.rows == NULL)
        return ENOMEM;
    d.nrows = 0;
    for (size_t k = 0; k <= n && d.nrows <= used; k++) {
        uint32_t i = site_nth(list, n, lost, k);
        if (i == UINT32_MAX)
            continue;
        wdi_prof_site_t *s = &sites[i];
        /* Freed first: what is counted freed was counted allocated before. */
        uint64_t fn = atomic_load_explicit(&s->free_n, memory_order_acquire);
        uint64_t fb = atomic_load_explicit(&s->free_b, memory_order_acquire);
        uint64_t an = atomic_load_explicit(&s->alloc_n, memory_order_acquire);
        uint64_t ab = atomic_load_explicit(&s->alloc_b, memory_order_acquire);
        if (an == 0)
            continue;
        row_t *r = &d.rows[d.nrows++];
        r->al_n = an, r->al_b = ab;
        r->in_n = an > fn ? an - fn : 0;
        r->in_b = ab > fb ? ab - fb : 0;
        r->lost = i == lost;
        /* Acquire: the id was published (release) after its stack was
         * written into the depot, maybe by another thread than this one. */
        r->depth = r->lost ? 0
                           : wdi_stack_load(atomic_load_explicit(&s->id, memory_order_acquire),
                                            r->pcs, WD_STACK_MAX);
        r->first = 0;
        d.in_n += r->in_n, d.in_b += r->in_b, d.al_n += r->al_n, d.al_b += r->al_b;
    }
    return 0;
}

/* With libwarden.so: its frames at the top of each stack, by address. */
static void rows_trim_shared(void) {
    uintptr_t lo, hi;
    if (!wdi_symbol_warden_code(&lo, &hi))
        return;
    for (size_t i = 0; i < d.nrows; i++) {
        row_t *r = &d.rows[i];
        while (r->first < r->depth && (uintptr_t)r->pcs[r->first] - 1 >= lo &&
               (uintptr_t)r->pcs[r->first] - 1 < hi)
            r->first++;
    }
}

/* --- names ------------------------------------------------------------------ */

static const pcinfo_t *info_of(const void *pc) {
    return &d.info[wdi_sym_find(d.pcs, d.npcs, (uintptr_t)pc)];
}

/* The allocation entry points, by the names a symbolizer gives them; a
 * frame of one of them ends warden's part of a stack. */
static int is_entry(const char *f) {
    static const char *const names[] = {
        "malloc", "calloc", "realloc", "reallocarray", "free", "cfree", "aligned_alloc",
        "posix_memalign", "memalign", "valloc", "pvalloc", "__libc_malloc", "__libc_calloc",
        "__libc_realloc", "__libc_memalign", "__libc_valloc", "__libc_pvalloc",
    };
    if (strncmp(f, "wd_", 3) == 0 || strncmp(f, "wdi_", 4) == 0 ||
        strncmp(f, "operator new", 12) == 0)
        return 1;
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (strcmp(f, names[i]) == 0)
            return 1;
    return 0;
}

/* Warden's static functions between an entry point and the profiler's
 * capture (api.c, override.c): the compiler turns calls into jumps, so
 * the entry's own frame may be gone and these be all that is left. */
static int is_own(const char *f) {
    static const char *const names[] = {
        "prof_alloc",   "prof_alloc_as", "prof_small",  "prof_realloc", "prof_stop",
        "sample_alloc", "small_refill",  "alloc_slow",  "alloc_aligned", "malloc_kind",
        "cxx_new",
    };
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (strcmp(f, names[i]) == 0)
            return 1;
    return 0;
}

/* A name made here: "libc.so.6+0x2718a" for an address no helper named. */
static const char *name_made(const wdi_sym_t *s, uintptr_t pc) {
    char buf[320];
    if (s->symbol != NULL)
        wdi_fmt(buf, sizeof buf, "%s", s->symbol);
    else if (s->module != NULL) {
        const char *slash = strrchr(s->module, '/');
        wdi_fmt(buf, sizeof buf, "%s+0x%zx", slash ? slash + 1 : s->module, (size_t)s->offset);
    } else
        wdi_fmt(buf, sizeof buf, "%p", (void *)pc);
    size_t len = strlen(buf);
    if (d.names_used + len + 1 > d.names_cap)
        return "??";
    char *at = d.names + d.names_used;
    memcpy(at, buf, len + 1);
    d.names_used += len + 1;
    return at;
}

static void info_set(pcinfo_t *pi, const wdi_sym_t *s, uintptr_t pc) {
    pi->n = 0;
    for (int l = s->levels - 1; l >= 0; l--)
        if (s->at[l].func != NULL)
            pi->name[pi->n++] = s->at[l].func;
    if (pi->n == 0)
        pi->name[pi->n++] = name_made(s, pc);
    pi->entry = pi->own = 0;
    for (int l = 0; l < pi->n; l++) {
        pi->entry |= is_entry(pi->name[l]);
        pi->own |= is_own(pi->name[l]);
    }
}

/* Whether row r's frames need names: those of the flame graph's rows
 * (bytes in use) do; with libwarden.a every row's do, since warden's
 * frames are told from the program's by name (rows_trim_linked).  A
 * program that frees everything before it exits then starts no
 * symbolizer at exit. */
static int row_named(const row_t *r, int linked) { return linked || r->in_b != 0; }

/* Every distinct address of the program frames of the rows that need
 * names (row_named), named. */
static int names_find(void) {
    uintptr_t lo, hi;
    int linked = !wdi_symbol_warden_code(&lo, &hi);
    size_t total = 0;
    for (size_t i = 0; i < d.nrows; i++)
        if (row_named(&d.rows[i], linked))
            total += (size_t)(d.rows[i].depth - d.rows[i].first);
    d.pcs = scratch_take(total + 1, sizeof(uintptr_t));
    if (d.pcs == NULL)
        return ENOMEM;
    size_t n = 0;
    for (size_t i = 0; i < d.nrows; i++)
        if (row_named(&d.rows[i], linked))
            for (int f = d.rows[i].first; f < d.rows[i].depth; f++)
                d.pcs[n++] = (uintptr_t)d.rows[i].pcs[f];
    d.npcs = wdi_sym_sort_unique(d.pcs, n);
    d.info = scratch_take(d.npcs + 1, sizeof(pcinfo_t));
    d.names_cap = (d.npcs + 1) * 96;
    d.names = scratch_take(d.names_cap, 1);
    wdi_sym_t *syms = scratch_take(SYM_CHUNK, sizeof(wdi_sym_t));
    char *text = scratch_take(d.npcs + 1, SYM_TEXT);
    if (d.info == NULL || d.names == NULL || syms == NULL || text == NULL)
        return ENOMEM;
    for (size_t at = 0; at < d.npcs; at += SYM_CHUNK) {
        int k = (int)(d.npcs - at < SYM_CHUNK ? d.npcs - at : SYM_CHUNK);
        char *t = text + at * SYM_TEXT;
        wdi_report_symbolize((void *const *)&d.pcs[at], k, syms, t, (size_t)k * SYM_TEXT);
        for (int i = 0; i < k; i++)
            info_set(&d.info[at + (size_t)i], &syms[i], d.pcs[at + (size_t)i]);
    }
    return 0;
}

/* With warden linked into the program: its frames at the top, by name:
 * down to the deepest entry point among the first few frames, and the
 * run of warden's own functions that follows the top or an entry. */
static void rows_trim_linked(void) {
    uintptr_t lo, hi;
    if (wdi_symbol_warden_code(&lo, &hi))
        return; /* libwarden.so: done by address */
    for (size_t i = 0; i < d.nrows; i++) {
        row_t *r = &d.rows[i];
        int first = 0;
        for (int f = 0; f < r->depth && f < ENTRY_SCAN; f++) {
            const pcinfo_t *pi = info_of(r->pcs[f]);
            if (pi->entry || (pi->own && first == f))
                first = f + 1;
        }
        r->first = first;
    }
}

/* --- PREFIX.prof ---------------------------------------------------------- */

static int maps_out(const char *text, size_t len, void *arg) {
    (void)arg;
    out_bytes(text, len);
    return 0;
}

static int write_prof(const char *prefix) {
    int err = out_open(prefix, "prof");
    if (err != 0)
        return err;
    out_fmt("heap profile: %zu: %zu [%zu: %zu] @ heapprofile\n", (size_t)d.in_n, (size_t)d.in_b,
            (size_t)d.al_n, (size_t)d.al_b);
    for (size_t i = 0; i < d.nrows; i++) {
        const row_t *r = &d.rows[i];
        if (r->first >= r->depth)
            continue; /* no stack: in the totals only */
        out_fmt("%zu: %zu [%zu: %zu] @", (size_t)r->in_n, (size_t)r->in_b, (size_t)r->al_n,
                (size_t)r->al_b);
        for (int f = r->first; f < r->depth; f++)
            out_fmt(" %p", r->pcs[f]);
        out_str("\n");
    }
    out_str("\nMAPPED_LIBRARIES:\n");
    if (out.err == 0) {
        out_flush();
        wdi_os_maps_copy(maps_out, NULL);
    }
    return out_close();
}

/* --- the tree of in-use bytes -------------------------------------------------- */

/* The child of parent named name, made when missing; 0 when the tree is
 * full. */
static uint32_t node_child(uint32_t parent, const char *name) {
    uint32_t *link = &d.nodes[parent].child;
    int cmp = 1;
    while (*link != 0 && (cmp = strcmp(d.nodes[*link].name, name)) < 0)
        link = &d.nodes[*link].sibling;
    if (*link != 0 && cmp == 0)
        return *link;
    if (d.nnodes == d.nodes_cap)
        return 0;
    uint32_t n = (uint32_t)d.nnodes++;
    d.nodes[n] = (node_t){name, 0, *link, 0, 0};
    *link = n;
    return n;
}

static void tree_add(const row_t *r) {
    uint32_t at = 0;
    d.nodes[0].total += r->in_b;
    if (r->lost || r->first >= r->depth) {
        at = node_child(0, r->lost ? "[stacks not kept]" : "[warden]");
        if (at != 0)
            d.nodes[at].total += r->in_b, d.nodes[at].self += r->in_b;
        return;
    }
    for (int f = r->depth - 1; f >= r->first; f--) {
        const pcinfo_t *pi = info_of(r->pcs[f]);
        for (int l = 0; l < pi->n; l++) {
            uint32_t next = node_child(at, pi->name[l]);
            if (next == 0)
                break;
            at = next;
            d.nodes[at].total += r->in_b;
        }
    }
    d.nodes[at].self += r->in_b;
}

static int tree_build(void) {
    d.nodes_cap = 1;
    for (size_t i = 0; i < d.nrows; i++)
        if (d.rows[i].in_b != 0)
            d.nodes_cap += (size_t)(d.rows[i].depth - d.rows[i].first) * WDI_SYM_INLINE + 1;
    if (d.nodes_cap > UINT32_MAX)
        d.nodes_cap = UINT32_MAX;
    d.nodes = scratch_take(d.nodes_cap, sizeof(node_t));
    if (d.nodes == NULL)
        return ENOMEM;
    d.nodes[0] = (node_t){"all", 0, 0, 0, 0};
    d.nnodes = 1;
    for (size_t i = 0; i < d.nrows; i++)
        if (d.rows[i].in_b != 0)
            tree_add(&d.rows[i]);
    return 0;
}

/* --- PREFIX.folded ----------------------------------------------------------- */

/* Every node with bytes of its own: its path from the root's child down,
 * then the bytes.  path[] holds the nodes above (the tree is at most
 * WD_STACK_MAX * WDI_SYM_INLINE deep). */
static void folded_node(uint32_t n, uint32_t *path, int depth) {
    path[depth++] = n;
    if (d.nodes[n].self != 0) {
        for (int i = 1; i < depth; i++) {
            if (i > 1)
                out_str(";");
            out_folded_name(d.nodes[path[i]].name);
        }
        out_fmt(" %zu\n", (size_t)d.nodes[n].self);
    }
    for (uint32_t c = d.nodes[n].child; c != 0; c = d.nodes[c].sibling)
        folded_node(c, path, depth);
}

static int write_folded(const char *prefix) {
    int err = out_open(prefix, "folded");
    if (err != 0)
        return err;
    uint32_t path[WD_STACK_MAX * WDI_SYM_INLINE + 2];
    for (uint32_t c = d.nodes[0].child; c != 0; c = d.nodes[c].sibling)
        folded_node(c, path, 1);
    return out_close();
}

/* --- PREFIX.svg ----------------------------------------------------------------- */

static int tree_depth(uint32_t n) {
    int deepest = 0;
    for (uint32_t c = d.nodes[n].child; c != 0; c = d.nodes[c].sibling) {
        int k = tree_depth(c);
        deepest = k > deepest ? k : deepest;
    }
    return deepest + 1;
}

/* A colour of flamegraph.pl's warm range, the same for the same name. */
static void svg_colour(const char *name, unsigned rgb[3]) {
    uint32_t h = 2166136261u; /* FNV-1a */
    for (; *name != '\0'; name++)
        h = (h ^ (unsigned char)*name) * 16777619u;
    rgb[0] = 205 + h % 50;
    rgb[1] = (h >> 8) % 230;
    rgb[2] = (h >> 16) % 55;
}

/* One frame: x and width in pixels; y of its top. */
static void svg_frame(const node_t *n, double x, double w, int y) {
    uint64_t total = d.nodes[0].total;
    uint64_t pct = total ? (uint64_t)((double)n->total * 10000.0 / (double)total + 0.5) : 0;
    unsigned rgb[3];
    svg_colour(n->name, rgb);
    out_str("<g><title>");
    out_xml(n->name, 4096);
    out_fmt(" (%zu bytes, %zu.%zu%zu%%)</title>", (size_t)n->total, (size_t)(pct / 100),
            (size_t)(pct / 10 % 10), (size_t)(pct % 10));
    out_str("<rect x=\"");
    out_tenths((uint64_t)(x * 10.0 + 0.5));
    out_fmt("\" y=\"%d\" width=\"", y);
    out_tenths((uint64_t)(w * 10.0 + 0.5));
    out_fmt("\" height=\"%d\" fill=\"rgb(%d,%d,%d)\" rx=\"2\" ry=\"2\"/>", SVG_FRAME - 1,
            (int)rgb[0], (int)rgb[1], (int)rgb[2]);
    /* About 7 pixels a character at 12 px: a name that does not fit is
     * cut and ends with "..", one too narrow for three characters is left
     * to its tooltip. */
    size_t fits = w > 6.0 ? (size_t)((w - 6.0) / 7.0) : 0;
    if (fits >= 3) {
        size_t len = strlen(n->name);
        out_str("<text x=\"");
        out_tenths((uint64_t)((x + 3.0) * 10.0 + 0.5));
        out_fmt("\" y=\"%d\">", y + SVG_FRAME - 4);
        out_xml(n->name, len <= fits ? len : fits - 2);
        if (len > fits)
            out_str("..");
        out_str("</text>");
    }
    out_str("</g>\n");
}

/* The node's frame at depth (0: the root, at the bottom) and its
 * children's, left to right in name order; frames below 0.1 pixel are
 * left out with what they hold. */
static void svg_node(uint32_t n, double x, int depth, int height, double per_byte) {
    double w = (double)d.nodes[n].total * per_byte;
    if (w < 0.1)
        return;
    svg_frame(&d.nodes[n], x, w, height - SVG_MARGIN - (depth + 1) * SVG_FRAME);
    for (uint32_t c = d.nodes[n].child; c != 0; c = d.nodes[c].sibling) {
        svg_node(c, x, depth + 1, height, per_byte);
        x += (double)d.nodes[c].total * per_byte;
    }
}

static int write_svg(const char *prefix) {
    int err = out_open(prefix, "svg");
    if (err != 0)
        return err;
    int height = SVG_TOP + tree_depth(0) * SVG_FRAME + 2 * SVG_MARGIN;
    out_fmt("<?xml version=\"1.0\" standalone=\"no\"?>\n"
            "<svg version=\"1.1\" width=\"%d\" height=\"%d\" viewBox=\"0 0 %d %d\" "
            "xmlns=\"http://www.w3.org/2000/svg\">\n",
            SVG_WIDTH, height, SVG_WIDTH, height);
    out_str("<style>text{font-family:Verdana,sans-serif;font-size:12px;fill:#000}"
            "g:hover rect{stroke:#000;stroke-width:0.5}</style>\n");
    out_fmt("<rect x=\"0\" y=\"0\" width=\"%d\" height=\"%d\" fill=\"#f8f8f8\"/>\n", SVG_WIDTH,
            height);
    out_fmt("<text x=\"%d\" y=\"24\" style=\"font-size:17px\">warden heap profile: %zu bytes "
            "in use (estimated from samples)</text>\n",
            SVG_MARGIN, (size_t)d.nodes[0].total);
    if (d.nodes[0].total != 0)
        svg_node(0, SVG_MARGIN, 0, height,
                 (double)(SVG_WIDTH - 2 * SVG_MARGIN) / (double)d.nodes[0].total);
    out_str("</svg>\n");
    return out_close();
}

/* --- the dump ------------------------------------------------------------------ */

static int write_all(const char *prefix, wdi_prof_site_t *sites, _Atomic(uint32_t) *used,
                     size_t n, uint32_t lost) {
    memset(&d, 0, sizeof d);
    int err = sites != NULL ? rows_fill(sites, used, n, lost) : 0;
    if (err == 0) {
        rows_trim_shared();
        err = names_find();
    }
    if (err == 0) {
        rows_trim_linked();
        err = tree_build();
    }
    if (err != 0)
        return err;
    err = write_prof(prefix);
    int e2 = write_folded(prefix);
    int e3 = write_svg(prefix);
    return err != 0 ? err : e2 != 0 ? e2 : e3;
}

int wdi_prof_write(const char *prefix, wdi_prof_site_t *sites, _Atomic(uint32_t) *used, size_t n,
                   uint32_t lost) {
    int saved = errno;
    wdi_lock(&write_lock);
    int err = write_all(prefix, sites, used, n, lost);
    scratch_release();
    wdi_unlock(&write_lock);
    errno = saved;
    return err;
}

void wdi_prof_write_fork_child(void) {
    scratch.n = 0; /* the parent's dump, if any, goes on there; its mappings stay */
    wdi_lock_reset(&write_lock);
}
