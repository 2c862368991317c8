/* symbol.c -- owns symbolization: from code addresses to modules, names
 * and lines (symbol.h).  Calls: dladdr (the loader's tables), the helper
 * process (vfork, execve, pipe2, poll, waitpid), options.h (symbolize=,
 * wdi_fmt), os.h (the page size).  Runs only while a report is printed,
 * under report.c's lock; saves and restores errno, since a report may be
 * printed from inside free, which must never change it. */
#define _GNU_SOURCE
#include "debug/symbol.h"

#include <dlfcn.h>
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <link.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "base/options.h"
#include "os/os.h"

extern char **environ;

/* How long one helper run may take before it is killed and its frames keep
 * module+offset: addr2line reads a big program's debug information in a
 * few seconds. */
#define HELPER_DEADLINE_MS 20000

/* out[i].state */
enum { SYM_NONE = 0, SYM_ASK = 1, SYM_RUN = 2, SYM_DONE = 3 }; /* below 0: same pc as out[-state - 1] */

/* --- text kept for the caller ---------------------------------------------- */

typedef struct text_s {
    char *buf;
    size_t cap, used;
    const char *last; /* the last string kept: file names repeat frame after frame */
} text_t;

/* A copy of s[0 .. len) in the caller's text, or NULL when it is full. */
static const char *text_keep(text_t *t, const char *s, size_t len) {
    if (t->last != NULL && strlen(t->last) == len && memcmp(t->last, s, len) == 0)
        return t->last;
    if (t->used + len + 1 > t->cap)
        return NULL;
    char *d = t->buf + t->used;
    memcpy(d, s, len);
    d[len] = '\0';
    t->used += len + 1;
    t->last = d;
    return d;
}

/* --- modules ---------------------------------------------------------------- */

/* Where the program itself is loaded: dladdr of its program headers, which
 * the first segment holds. */
static uintptr_t program_base(void) {
    Dl_info info;
    void *phdr = (void *)getauxval(AT_PHDR);
    return phdr != NULL && dladdr(phdr, &info) ? (uintptr_t)info.dli_fbase : 0;
}

/* What to subtract from an address to get the module's own address (what
 * addr2line takes).  A program linked at fixed addresses (ET_EXEC) uses
 * its addresses as they are; a position-independent program or a shared
 * object (ET_DYN) is shifted by where it was loaded, base minus the page
 * of its first segment's address (that address is 0 for all ld makes by
 * default). */
static uintptr_t load_bias(uintptr_t base) {
    const ElfW(Ehdr) *eh = (const ElfW(Ehdr) *)base;
    if (memcmp(eh->e_ident, ELFMAG, SELFMAG) != 0)
        return base;
    if (eh->e_type == ET_EXEC)
        return 0;
    const ElfW(Phdr) *ph = (const ElfW(Phdr) *)(base + eh->e_phoff);
    for (int i = 0; i < eh->e_phnum; i++)
        if (ph[i].p_type == PT_LOAD)
            return base - (ph[i].p_vaddr & ~(uintptr_t)(wdi_os_page_size() - 1));
    return base;
}

/* The program's path for the helper: dladdr names it by argv[0], which may
 * be relative or found on PATH; /proc/self/exe would name the helper once
 * it runs. */
static const char *program_path(text_t *text) {
    static char path[4096];
    ssize_t len = readlink("/proc/self/exe", path, sizeof path - 1);
    return len > 0 ? text_keep(text, path, (size_t)len) : NULL;
}

/* Module, offset and exported name of the frame pcs[i] (looked up at
 * pc - 1: a call that never returns may be the last instruction of its
 * function, and its return address the next function's first). */
static void locate(wdi_sym_t *out, int i, const void *pc, uintptr_t program, text_t *text) {
    wdi_sym_t *s = &out[i];
    memset(s, 0, sizeof *s);
    Dl_info info;
    if (!dladdr((const char *)pc - 1, &info) || info.dli_fbase == NULL)
        return;
    s->base = (uintptr_t)info.dli_fbase;
    s->in_program = s->base == program;
    s->offset = (uintptr_t)pc - load_bias(s->base);
    if (info.dli_sname != NULL && info.dli_saddr != NULL) {
        s->symbol = text_keep(text, info.dli_sname, strlen(info.dli_sname));
        s->symbol_off = (uintptr_t)pc - (uintptr_t)info.dli_saddr;
    }
    for (int j = 0; j < i; j++) {
        if (out[j].base == s->base) { /* a module seen already */
            s->module = out[j].module;
            s->state = out[j].state == SYM_NONE ? SYM_NONE : SYM_ASK;
            return;
        }
    }
    const char *path = s->in_program ? program_path(text) : NULL;
    if (path == NULL && info.dli_fname != NULL)
        path = text_keep(text, info.dli_fname, strlen(info.dli_fname));
    s->module = path;
    /* The vDSO and deleted files have no file to read. */
    s->state = path != NULL && access(path, R_OK) == 0 ? SYM_ASK : SYM_NONE;
}

static int in_module(const void *pc, uintptr_t base) {
    Dl_info info;
    return dladdr(pc, &info) && (uintptr_t)info.dli_fbase == base;
}

int wdi_symbol_in_warden(const void *pc) {
    uintptr_t self;
    Dl_info info;
    if (!dladdr((const void *)(uintptr_t)wdi_symbol_in_warden, &info))
        return 0;
    self = (uintptr_t)info.dli_fbase;
    return self != program_base() && in_module((const char *)pc - 1, self);
}

typedef struct {
    uintptr_t base, lo, hi;
} code_range_t;

static int code_of(struct dl_phdr_info *info, size_t size, void *arg) {
    (void)size;
    code_range_t *r = arg;
    if ((uintptr_t)info->dlpi_addr != r->base)
        return 0;
    for (unsigned i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        if (ph->p_type == PT_LOAD && (ph->p_flags & PF_X)) {
            r->lo = r->base + ph->p_vaddr;
            r->hi = r->lo + ph->p_memsz;
            return 1;
        }
    }
    return 0;
}

/* The code of the shared object that holds addr, [*lo, *hi); 0 when addr
 * is the program's. */
static int module_code(const void *addr, uintptr_t *lo, uintptr_t *hi) {
    Dl_info info;
    if (!dladdr(addr, &info) || (uintptr_t)info.dli_fbase == program_base())
        return 0;
    code_range_t r = {load_bias((uintptr_t)info.dli_fbase), 0, 0};
    dl_iterate_phdr(code_of, &r);
    if (r.hi == 0)
        return 0;
    *lo = r.lo;
    *hi = r.hi;
    return 1;
}

int wdi_symbol_warden_code(uintptr_t *lo, uintptr_t *hi) {
    return module_code((const void *)(uintptr_t)wdi_symbol_warden_code, lo, hi);
}

int wdi_symbol_libc_code(uintptr_t *lo, uintptr_t *hi) {
    return module_code((const void *)(uintptr_t)getpid, lo, hi);
}

/* The loader's own: _dl_find_object (glibc 2.35) lies in ld.so. */
int wdi_symbol_loader_code(uintptr_t *lo, uintptr_t *hi) {
    return module_code((const void *)(uintptr_t)_dl_find_object, lo, hi);
}

/* --- the helper process ---------------------------------------------------- */

/* Finds name in the directories of PATH, into path (cap bytes).  By hand:
 * execvp may allocate. */
static int find_on_path(const char *name, char *path, size_t cap) {
    const char *dirs = getenv("PATH");
    size_t nlen = strlen(name);
    if (dirs == NULL)
        dirs = "/usr/bin:/bin";
    for (;;) {
        const char *end = strchr(dirs, ':');
        size_t len = end ? (size_t)(end - dirs) : strlen(dirs);
        const char *dir = len ? dirs : "."; /* an empty entry is the current directory */
        size_t dlen = len ? len : 1;
        if (dlen + 1 + nlen + 1 <= cap) {
            memcpy(path, dir, dlen);
            path[dlen] = '/';
            memcpy(path + dlen + 1, name, nlen + 1);
            if (access(path, X_OK) == 0)
                return 1;
        }
        if (end == NULL)
            return 0;
        dirs = end + 1;
    }
}

/* The child's side, between vfork and execve: it shares the parent's
 * memory, so it writes nothing but its own stack.  Handlers the program
 * installed are set back to the default before signals are let through
 * (the handler would run on the parent's memory), as posix_spawn does. */
WD_NORETURN static void helper_child(const char *path, char *const argv[], char *const env[],
                                     const int fds[3], const sigset_t *mask) {
    for (int sig = 1; sig < NSIG; sig++) {
        struct sigaction sa;
        if (sigaction(sig, NULL, &sa) == 0 && sa.sa_handler != SIG_DFL &&
            sa.sa_handler != SIG_IGN) {
            memset(&sa, 0, sizeof sa);
            sa.sa_handler = SIG_DFL;
            sigaction(sig, &sa, NULL);
        }
    }
    sigprocmask(SIG_SETMASK, mask, NULL);
    if (dup2(fds[0], 0) < 0 || dup2(fds[1], 1) < 0 || (fds[2] >= 0 && dup2(fds[2], 2) < 0))
        wdi_os_exit(127);
    execve(path, argv, env);
    wdi_os_exit(127);
}

/* The helper's environment: the program's less LD_PRELOAD and
 * WARDEN_OPTIONS.  A helper under warden would check itself, and a report
 * of its own at exit would start helpers in turn, without end.  Static
 * storage, filled before vfork: reports are printed one at a time (the
 * report's lock), and the child may not write the parent's memory. */
#define HELPER_ENV_MAX 1024
static char *helper_env[HELPER_ENV_MAX + 1];

static char *const *helper_environ(void) {
    size_t n = 0;
    for (char **e = environ; e != NULL && *e != NULL && n < HELPER_ENV_MAX; e++)
        if (strncmp(*e, "LD_PRELOAD=", 11) != 0 && strncmp(*e, "WARDEN_OPTIONS=", 15) != 0)
            helper_env[n++] = *e;
    helper_env[n] = NULL;
    return helper_env;
}

/* Starts path with argv, reading fds[0], its output on fds[1] and its
 * error messages on fds[2] (when >= 0); returns its pid or -1.  Every
 * signal is blocked around vfork so that none runs a handler in the
 * child. */
static pid_t helper_start(const char *path, char *const argv[], const int fds[3]) {
    char *const *env = helper_environ();
    sigset_t all, old;
    sigfillset(&all);
    sigprocmask(SIG_BLOCK, &all, &old);
    pid_t pid = vfork();
    if (pid == 0)
        helper_child(path, argv, env, fds, &old);
    sigprocmask(SIG_SETMASK, &old, NULL);
    return pid;
}

static uint64_t now_ms(void) {
    struct timespec ts = {0, 0};
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static void helper_reap(pid_t pid, int finished) {
    int status;
    if (!finished)
        kill(pid, SIGKILL);
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
}

/* One inlining level of an answer: a function line ("??" when unknown)
 * and a location line ("file:line", "file:line (discriminator 2)", "??:0"). */
static void add_level(wdi_sym_t *s, const char *func, size_t flen, const char *loc, size_t llen,
                      text_t *text) {
    /* past the room, each later level takes the last slot: the outermost
     * (the real function) ends there */
    wdi_sym_level_t *l = &s->at[s->levels < WDI_SYM_INLINE ? s->levels++ : WDI_SYM_INLINE - 1];
    l->func = flen == 0 || (flen == 2 && memcmp(func, "??", 2) == 0) ? NULL
                                                                  : text_keep(text, func, flen);
    const char *paren = memchr(loc, '(', llen);
    if (paren != NULL)
        llen = (size_t)(paren - loc);
    while (llen > 0 && loc[llen - 1] == ' ')
        llen--;
    size_t colon = llen;
    while (colon > 0 && loc[colon - 1] != ':')
        colon--;
    if (colon == 0)
        return;
    int line = 0;
    for (size_t k = colon; k < llen && loc[k] >= '0' && loc[k] <= '9'; k++)
        line = line * 10 + (loc[k] - '0');
    if (line <= 0 || (colon - 1 == 2 && memcmp(loc, "??", 2) == 0))
        return;
    l->file = text_keep(text, loc, colon - 1);
    l->line = l->file != NULL ? line : 0;
}

/* The helpers, first found first used.  Both take the same options and,
 * with llvm-symbolizer's GNU style, answer alike.  llvm-symbolizer comes
 * first where it is installed: addr2line 2.40 (Debian 12) names the wrong
 * file, the compilation unit's own, for code that comes from a header
 * when gcc 12 wrote DWARF 5, its default (the line is right).  Both read
 * the addresses from their standard input when the command line names
 * none, and llvm-symbolizer takes the module on each line, so that one
 * run answers for every module: a run costs a process start and a read of
 * each module's debug information, 30 to 100 ms, which a profile written
 * at exit adds to the program's time. */
static const struct helper_s {
    const char *name;
    const char *style;
    int any_module; /* reads `"MODULE" 0xOFF` lines: one run for all */
} helpers[] = {
    {"llvm-symbolizer", "--output-style=GNU", 1},
    {"addr2line", NULL, 0},
};

static const struct helper_s *helper;
static char helper_path[4096];
static char helper_in[8192];
static char helper_out[32768];

/* --- the questions ---------------------------------------------------------- */

/* A file in memory for the helper's standard input, written whole before
 * it starts, so that neither side waits on a full pipe; an unlinked file
 * in /tmp where memfd_create is refused. */
static int input_open(void) {
    int fd = memfd_create("warden-symbolize", MFD_CLOEXEC);
    if (fd < 0)
        fd = open("/tmp", O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
    return fd;
}

/* One line per frame in state SYM_RUN: `"MODULE" 0xOFF` for a helper that
 * reads modules, `0xOFF` for one run with -e MODULE (OFF: the frame's
 * offset less one, its call instruction).  Returns the file, read from its
 * start, or -1. */
static int questions_write(const wdi_sym_t *out, int n) {
    int fd = input_open();
    if (fd < 0)
        return -1;
    size_t used = 0;
    for (int i = 0; i < n; i++) {
        if (out[i].state != SYM_RUN)
            continue;
        if (sizeof helper_in - used < strlen(out[i].module) + 32) {
            if (wdi_write_all(fd, helper_in, used) != 0)
                break;
            used = 0;
        }
        size_t off = (size_t)(out[i].offset - 1), room = sizeof helper_in - used;
        used += helper->any_module
                    ? wdi_fmt(helper_in + used, room, "\"%s\" 0x%zx\n", out[i].module, off)
                    : wdi_fmt(helper_in + used, room, "0x%zx\n", off);
    }
    if (wdi_write_all(fd, helper_in, used) != 0 || lseek(fd, 0, SEEK_SET) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

/* --- the answers ------------------------------------------------------------ */

/* With -a the helper prints each address asked for ("0x" and hex digits),
 * then a function line and a location line per inlining level; the
 * answers come in the order of the questions, the frames in state SYM_RUN
 * from the first on.  Read as they come, a line at a time. */
typedef struct answers_s {
    wdi_sym_t *out;
    int n, next;    /* the next frame asked is at next or after it */
    wdi_sym_t *s;   /* the frame being answered, or NULL */
    int have_func;  /* func holds the level's function line */
    size_t flen;
    char func[512]; /* longer names are cut */
    text_t *text;
} answers_t;

static void answer_line(answers_t *a, const char *line, size_t len) {
    if (len == 0)
        return;
    if (len > 2 && line[0] == '0' && line[1] == 'x') { /* no function name starts so */
        a->s = NULL;
        a->have_func = 0;
        while (a->next < a->n && a->out[a->next].state != SYM_RUN)
            a->next++;
        if (a->next < a->n) {
            a->s = &a->out[a->next++];
            a->s->state = SYM_DONE;
        }
    } else if (a->s != NULL && !a->have_func) {
        a->flen = len < sizeof a->func ? len : sizeof a->func - 1;
        memcpy(a->func, line, a->flen);
        a->have_func = 1;
    } else if (a->s != NULL) {
        add_level(a->s, a->func, a->flen, line, len, a->text);
        a->have_func = 0;
    }
}

/* Reads the helper's output from fd until end of file or the deadline,
 * answering each complete line; a line longer than the buffer is answered
 * with its start.  Returns 1 when end of file was reached. */
static int answers_read(int fd, answers_t *a) {
    size_t len = 0;
    int skip = 0; /* the rest of a line too long is dropped */
    uint64_t deadline = now_ms() + HELPER_DEADLINE_MS;
    for (;;) {
        uint64_t now = now_ms();
        if (now >= deadline)
            return 0;
        struct pollfd pfd = {fd, POLLIN, 0};
        int r = poll(&pfd, 1, (int)(deadline - now));
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return 0;
        ssize_t got = read(fd, helper_out + len, sizeof helper_out - len);
        if (got < 0 && errno == EINTR)
            continue;
        if (got <= 0)
            return got == 0;
        len += (size_t)got;
        size_t at = 0;
        for (;;) {
            const char *nl = memchr(helper_out + at, '\n', len - at);
            if (nl == NULL)
                break;
            if (!skip)
                answer_line(a, helper_out + at, (size_t)(nl - helper_out) - at);
            skip = 0;
            at = (size_t)(nl - helper_out) + 1;
        }
        if (at == 0 && len == sizeof helper_out) {
            if (!skip)
                answer_line(a, helper_out, len);
            skip = 1;
            at = len;
        }
        memmove(helper_out, helper_out + at, len - at);
        len -= at;
    }
}

/* One run of the helper for the frames in state SYM_RUN, all of module
 * (NULL: a helper that reads modules, any module):
 * `helper [style] -C -f -i -a [-e MODULE] < questions`. */
static void helper_run(wdi_sym_t *out, int n, const char *module, text_t *text) {
    const char *argv[10];
    int k = 0;
    argv[k++] = helper->name;
    if (helper->style != NULL)
        argv[k++] = helper->style;
    argv[k++] = "-C";
    argv[k++] = "-f";
    argv[k++] = "-i";
    argv[k++] = "-a";
    if (module != NULL) {
        argv[k++] = "-e";
        argv[k++] = module;
    }
    argv[k] = NULL;
    int in = questions_write(out, n);
    int pipe_fds[2];
    if (in < 0)
        return;
    if (pipe2(pipe_fds, O_CLOEXEC) != 0) {
        close(in);
        return;
    }
    int fds[3] = {in, pipe_fds[1], open("/dev/null", O_WRONLY | O_CLOEXEC)};
    pid_t pid = helper_start(helper_path, (char *const *)argv, fds);
    for (int i = 0; i < 3; i++)
        if (fds[i] >= 0)
            close(fds[i]);
    if (pid > 0) {
        answers_t a = {.out = out, .n = n, .text = text};
        helper_reap(pid, answers_read(pipe_fds[0], &a));
    }
    close(pipe_fds[0]);
}

/* Looks for each helper on PATH (again at every report: PATH may change). */
static int find_helper(void) {
    for (size_t i = 0; i < sizeof helpers / sizeof helpers[0]; i++) {
        if (find_on_path(helpers[i].name, helper_path, sizeof helper_path)) {
            helper = &helpers[i];
            return 1;
        }
    }
    return 0;
}

/* Every frame still to ask: one run for all (a helper that reads modules),
 * else one run per module.  A module whose path a question line cannot
 * hold (a quote or a newline in it) keeps module+offset. */
static void ask_helper(wdi_sym_t *out, int n, text_t *text) {
    for (int i = 0; i < n; i++) {
        if (out[i].state != SYM_ASK)
            continue;
        for (int j = i; j < n; j++) {
            if (out[j].state != SYM_ASK)
                continue;
            if (helper->any_module && strpbrk(out[j].module, "\"\n") != NULL)
                out[j].state = SYM_DONE;
            else if (helper->any_module || out[j].base == out[i].base)
                out[j].state = SYM_RUN;
        }
        helper_run(out, n, helper->any_module ? NULL : out[i].module, text);
        for (int j = i; j < n; j++)
            if (out[j].state == SYM_RUN) /* no answer came */
                out[j].state = SYM_DONE;
    }
}

/* --- many addresses -------------------------------------------------------- */

static void sift_down(uintptr_t *a, size_t root, size_t end) {
    for (size_t child; (child = 2 * root + 1) < end; root = child) {
        if (child + 1 < end && a[child] < a[child + 1])
            child++;
        if (a[root] >= a[child])
            return;
        uintptr_t t = a[root];
        a[root] = a[child], a[child] = t;
    }
}

size_t wdi_sym_sort_unique(uintptr_t *a, size_t n) {
    for (size_t s = n / 2; s > 0; s--)
        sift_down(a, s - 1, n);
    for (size_t end = n; end > 1; end--) {
        uintptr_t t = a[0];
        a[0] = a[end - 1], a[end - 1] = t;
        sift_down(a, 0, end - 1);
    }
    size_t kept = 0;
    for (size_t i = 0; i < n; i++)
        if (kept == 0 || a[kept - 1] != a[i])
            a[kept++] = a[i];
    return kept;
}

size_t wdi_sym_find(const uintptr_t *a, size_t n, uintptr_t pc) {
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (a[mid] < pc)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

/* wdi_symbolize, and wdi_symbolize_quick when helper is 0. */
static int symbolize(void *const *pcs, int n, wdi_sym_t *out, char *buf, size_t cap, int helper) {
    int saved = errno;
    text_t text = {buf, cap, 0, NULL};
    uintptr_t program = program_base();
    for (int i = 0; i < n; i++) {
        locate(out, i, pcs[i], program, &text);
        for (int j = 0; j < i; j++) {
            if (pcs[j] == pcs[i]) { /* asked once, copied below */
                out[i].state = -1 - j;
                break;
            }
        }
    }
    int missing = 0;
    /* A setuid program must not run what the user's PATH names. */
    if (!helper || !wdi_options.symbolize || getauxval(AT_SECURE))
        missing = WDI_SYM_OFF;
    else if (!find_helper())
        missing = WDI_SYM_NO_HELPER;
    else
        ask_helper(out, n, &text);
    for (int i = 0; i < n; i++)
        if (out[i].state < 0)
            out[i] = out[-out[i].state - 1];
    errno = saved;
    return missing;
}

int wdi_symbolize(void *const *pcs, int n, wdi_sym_t *out, char *buf, size_t cap) {
    return symbolize(pcs, n, out, buf, cap, 1);
}

int wdi_symbolize_quick(void *const *pcs, int n, wdi_sym_t *out, char *buf, size_t cap) {
    return symbolize(pcs, n, out, buf, cap, 0);
}
