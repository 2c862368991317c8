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
enum { SYM_NONE = 0, SYM_ASK = 1, SYM_ASKED = 2 }; /* below 0: same pc as out[-state - 1] */

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

int wdi_symbol_warden_code(uintptr_t *lo, uintptr_t *hi) {
    Dl_info info;
    if (!dladdr((const void *)(uintptr_t)wdi_symbol_warden_code, &info) ||
        (uintptr_t)info.dli_fbase == program_base())
        return 0;
    code_range_t r = {load_bias((uintptr_t)info.dli_fbase), 0, 0};
    dl_iterate_phdr(code_of, &r);
    if (r.hi == 0)
        return 0;
    *lo = r.lo;
    *hi = r.hi;
    return 1;
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
                                     int out_fd, int err_fd, const sigset_t *mask) {
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
    if (dup2(out_fd, 1) < 0 || (err_fd >= 0 && dup2(err_fd, 2) < 0))
        _exit(127);
    execve(path, argv, env);
    _exit(127);
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

/* Starts path with argv, its output on out_fd and its error messages on
 * err_fd (when >= 0); returns its pid or -1.  Every signal is blocked
 * around vfork so that none runs a handler in the child. */
static pid_t helper_start(const char *path, char *const argv[], int out_fd, int err_fd) {
    char *const *env = helper_environ();
    sigset_t all, old;
    sigfillset(&all);
    sigprocmask(SIG_BLOCK, &all, &old);
    pid_t pid = vfork();
    if (pid == 0)
        helper_child(path, argv, env, out_fd, err_fd, &old);
    sigprocmask(SIG_SETMASK, &old, NULL);
    return pid;
}

static uint64_t now_ms(void) {
    struct timespec ts = {0, 0};
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* Reads fd into buf (cap bytes) until end of file; returns the bytes read
 * and sets *done when end of file was reached (not a full buffer or the
 * deadline). */
static size_t helper_read(int fd, char *buf, size_t cap, int *done) {
    size_t len = 0;
    uint64_t deadline = now_ms() + HELPER_DEADLINE_MS;
    *done = 0;
    while (len < cap) {
        uint64_t now = now_ms();
        if (now >= deadline)
            break;
        struct pollfd pfd = {fd, POLLIN, 0};
        int r = poll(&pfd, 1, (int)(deadline - now));
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        ssize_t got = read(fd, buf + len, cap - len);
        if (got < 0 && errno == EINTR)
            continue;
        if (got <= 0) {
            *done = got == 0;
            break;
        }
        len += (size_t)got;
    }
    return len;
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
    if (s->levels >= WDI_SYM_INLINE)
        return;
    wdi_sym_level_t *l = &s->at[s->levels++];
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

/* With -a the helper prints each address asked for ("0x" and hex digits),
 * then a function line and a location line per inlining level. */
static void helper_parse(const char *buf, size_t len, wdi_sym_t *out, const int *idx, int k,
                         text_t *text) {
    const char *line = buf, *end = buf + len, *func = NULL;
    size_t flen = 0;
    wdi_sym_t *s = NULL;
    int answer = -1;
    for (;;) {
        const char *nl = memchr(line, '\n', (size_t)(end - line));
        if (nl == NULL)
            return; /* a cut last line is left out */
        size_t ll = (size_t)(nl - line);
        if (ll > 2 && line[0] == '0' && line[1] == 'x') {
            if (++answer >= k)
                return;
            s = &out[idx[answer]];
            func = NULL;
        } else if (s != NULL && func == NULL) {
            func = line, flen = ll;
        } else if (s != NULL) {
            add_level(s, func, flen, line, ll, text);
            func = NULL;
        }
        line = nl + 1;
    }
}

/* The helpers, first found first used.  Both take the same options and,
 * with llvm-symbolizer's GNU style, answer alike.  llvm-symbolizer comes
 * first where it is installed: addr2line 2.40 (Debian 12) names the wrong
 * file, the compilation unit's own, for code that comes from a header
 * when gcc 12 wrote DWARF 5, its default (the line is right). */
static const struct helper_s {
    const char *name;
    const char *style;
} helpers[] = {
    {"llvm-symbolizer", "--output-style=GNU"},
    {"addr2line", NULL},
};

static const struct helper_s *helper;
static char helper_path[4096];
static char helper_out[32768];
static char helper_addrs[WDI_SYM_BATCH][24];

/* One run of the helper for out[idx[0 .. k)), all of one module:
 * `helper [style] -C -f -i -a -e MODULE 0xOFF-1 ...`. */
static void helper_run(wdi_sym_t *out, const int *idx, int k, text_t *text) {
    const char *argv[8 + WDI_SYM_BATCH + 1];
    int a = 0;
    argv[a++] = helper->name;
    if (helper->style != NULL)
        argv[a++] = helper->style;
    argv[a++] = "-C";
    argv[a++] = "-f";
    argv[a++] = "-i";
    argv[a++] = "-a";
    argv[a++] = "-e";
    argv[a++] = out[idx[0]].module;
    for (int m = 0; m < k; m++) {
        wdi_fmt(helper_addrs[m], sizeof helper_addrs[m], "0x%zx", (size_t)(out[idx[m]].offset - 1));
        argv[a++] = helper_addrs[m];
    }
    argv[a] = NULL;
    int fds[2];
    if (pipe2(fds, O_CLOEXEC) != 0)
        return;
    int null_fd = open("/dev/null", O_WRONLY | O_CLOEXEC);
    pid_t pid = helper_start(helper_path, (char *const *)argv, fds[1], null_fd);
    close(fds[1]);
    if (null_fd >= 0)
        close(null_fd);
    size_t len = 0;
    int done = 0;
    if (pid > 0) {
        len = helper_read(fds[0], helper_out, sizeof helper_out, &done);
        helper_reap(pid, done);
    }
    close(fds[0]);
    helper_parse(helper_out, len, out, idx, k, text);
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

/* Every frame still to ask, a module at a time, WDI_SYM_BATCH addresses a
 * run. */
static void ask_helper(wdi_sym_t *out, int n, text_t *text) {
    int idx[WDI_SYM_BATCH];
    for (int i = 0; i < n; i++) {
        if (out[i].state != SYM_ASK)
            continue;
        int k = 0;
        for (int j = i; j < n && k < WDI_SYM_BATCH; j++) {
            if (out[j].state == SYM_ASK && out[j].base == out[i].base) {
                out[j].state = SYM_ASKED;
                idx[k++] = j;
            }
        }
        helper_run(out, idx, k, text);
    }
}

int wdi_symbolize(void *const *pcs, int n, wdi_sym_t *out, char *buf, size_t cap) {
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
    if (!wdi_options.symbolize || getauxval(AT_SECURE))
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
