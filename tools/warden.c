/* warden.c -- the warden command: runs a program on libwarden.so.
 *
 *   warden run [-o OPTIONS] -- PROGRAM [ARGS...]
 *   warden check | stats [--json] [-o FILE] | profile [-o DIR] | map [-o FILE.svg]
 *
 * Each verb is a thin front-end over the library's options (warden(1),
 * docs/options.md): it finds libwarden.so.0 next to itself (the installed
 * layout, bin/../lib..., or the build tree, where both sit in build/), checks
 * that LD_PRELOAD can work for the program (dynamically linked, same ELF
 * class and machine as the library, not setuid), puts the library first in
 * LD_PRELOAD, appends the verb's options to WARDEN_OPTIONS and replaces
 * itself with the program (execv): the program's pid, signals and exit
 * status are the command's own.  warden's own errors are one line on stderr
 * and exit status 2.
 *
 * Never linked with the library, and free to use stdio and malloc: it is
 * an ordinary program that is gone before the program starts. */
#define _GNU_SOURCE
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#ifndef WD_VERSION
#error "WD_VERSION: the project's version, given by CMake"
#endif
/* The library's directory relative to the command's (CMake's
 * CMAKE_INSTALL_LIBDIR seen from CMAKE_INSTALL_BINDIR). */
#ifndef WD_BIN_TO_LIB
#define WD_BIN_TO_LIB "../lib"
#endif
#define WD_LIBRARY "libwarden.so.0" /* the SONAME: what the runtime package ships */

#define EXIT_USAGE 2
#define SCRIPT_DEPTH 4 /* #! interpreters followed, as the kernel does */

typedef struct verb_s verb_t;

/* What the command line asked for. */
typedef struct request_s {
    const verb_t *verb;
    const char *options; /* run -o OPTIONS: appended to WARDEN_OPTIONS */
    const char *output;  /* stats/map -o FILE, profile -o DIR */
    int json;            /* stats --json */
    char **argv;         /* the program and its arguments */
} request_t;

struct verb_s {
    const char *name;
    const char *usage;   /* after "warden NAME " */
    const char *summary; /* one line for warden --help */
    const char *help;    /* the verb's options, for warden NAME --help */
    /* Appends the verb's library options (key=value:...) to buf. */
    int (*options)(const request_t *rq, char *buf, size_t size);
    const char *o_long;         /* -o's long name: --options, --output or NULL */
    const char *output_default; /* --output when not given */
    int output_is_dir;          /* --output names a directory */
    int json;                   /* takes --json */
};

/* --- errors ------------------------------------------------------------------ */

/* One line, `warden: <message>`, and exit status 2. */
static void __attribute__((noreturn, format(printf, 1, 2))) die(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fputs("warden: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    exit(EXIT_USAGE);
}

/* snprintf that dies rather than truncate a path or an option string. */
static void __attribute__((format(printf, 3, 4))) fmt(char *buf, size_t size, const char *f, ...) {
    va_list ap;
    va_start(ap, f);
    int n = vsnprintf(buf, size, f, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= size)
        die("a path or an option string is too long (%.40s...)", buf);
}

/* --- the verbs' options -------------------------------------------------------- */

static int options_run(const request_t *rq, char *buf, size_t size) {
    fmt(buf, size, "%s", rq->options ? rq->options : "");
    return 0;
}

static int options_check(const request_t *rq, char *buf, size_t size) {
    (void)rq;
    fmt(buf, size, "check=1");
    return 0;
}

static int options_stats(const request_t *rq, char *buf, size_t size) {
    const char *mode = rq->json ? "stats=json" : "stats=1";
    if (rq->output)
        fmt(buf, size, "%s:stats_file=%s", mode, rq->output);
    else
        fmt(buf, size, "%s", mode);
    return 0;
}

/* The profiler writes PREFIX.prof, PREFIX.folded and PREFIX.svg. */
static int options_profile(const request_t *rq, char *buf, size_t size) {
    fmt(buf, size, "profile=%s/heap", rq->output);
    return 0;
}

static int options_map(const request_t *rq, char *buf, size_t size) {
    fmt(buf, size, "map=%s", rq->output);
    return 0;
}

static const verb_t verbs[] = {
    {"run", "[-o OPTIONS] [--] PROGRAM [ARGS...]", "run PROGRAM on warden",
     "  -o, --options OPTIONS  added to WARDEN_OPTIONS, e.g. -o stats=1:verbose=1\n"
     "                         (docs/options.md, warden(1))\n",
     options_run, "--options", NULL, 0, 0},
    {"check", "[--] PROGRAM [ARGS...]", "find memory errors and leaks (check=1)",
     "  Heap overflows, writes after free, double and invalid frees, mismatched\n"
     "  new/delete and leaks, each reported with call stacks (build PROGRAM with -g).\n"
     "  More options through WARDEN_OPTIONS: leaks=all, abort_on_error=1,\n"
     "  error_exitcode=N ...\n",
     options_check, NULL, NULL, 0, 0},
    {"stats", "[--json] [-o FILE] [--] PROGRAM [ARGS...]", "statistics at exit (stats=1)",
     "  --json               one JSON object (stats=json) instead of text lines\n"
     "  -o, --output FILE    write them to FILE (stats_file=FILE), not stderr\n",
     options_stats, "--output", NULL, 0, 1},
    {"profile", "[-o DIR] [--] PROGRAM [ARGS...]", "heap profile: DIR/heap.prof, .folded, .svg",
     "  -o, --output DIR     where the profile goes (default: warden-profile,\n"
     "                       created when missing); profile=DIR/heap\n",
     options_profile, "--output", "warden-profile", 1, 0},
    {"map", "[-o FILE.svg] [--] PROGRAM [ARGS...]", "a picture of the heap at exit (SVG)",
     "  -o, --output FILE    the SVG file (default: warden-map.svg); map=FILE\n",
     options_map, "--output", "warden-map.svg", 0, 0},
};
#define VERB_COUNT (sizeof verbs / sizeof verbs[0])

/* --- help ---------------------------------------------------------------------- */

static void usage_all(void) {
    printf("usage: warden VERB [OPTIONS] [--] PROGRAM [ARGS...]\n"
           "Runs PROGRAM with the warden allocator (libwarden.so in LD_PRELOAD).\n\nverbs:\n");
    for (size_t i = 0; i < VERB_COUNT; i++)
        printf("  %-8s %s\n", verbs[i].name, verbs[i].summary);
    printf("\n  warden VERB --help    the verb's options\n"
           "  warden --version      the version\n\n"
           "LD_PRELOAD and WARDEN_OPTIONS are kept: libwarden comes first in\n"
           "LD_PRELOAD, the verb's options after the user's in WARDEN_OPTIONS (the\n"
           "last value of an option wins).  The exit status is PROGRAM's; warden's\n"
           "own errors exit with 2.  See warden(1).\n");
}

static void usage_verb(const verb_t *v) {
    printf("usage: warden %s %s\n%s.\n\n%s", v->name, v->usage, v->summary, v->help);
}

static const verb_t *verb_find(const char *name) {
    for (size_t i = 0; i < VERB_COUNT; i++)
        if (strcmp(verbs[i].name, name) == 0)
            return &verbs[i];
    return NULL;
}

/* --- the command line ----------------------------------------------------------- */

/* -o X, -oX, --long X, --long=X.  Returns the value or NULL when arg is not
 * this option; *i moves past a separate value. */
static const char *option_value(int argc, char **argv, int *i, const char *longname) {
    const char *arg = argv[*i];
    size_t n = strlen(longname);
    const char *val = NULL;
    if (strncmp(arg, "-o", 2) == 0)
        val = arg + 2;
    else if (strncmp(arg, longname, n) == 0 && (arg[n] == '\0' || arg[n] == '='))
        val = arg[n] == '=' ? arg + n + 1 : arg + n;
    else
        return NULL;
    if (*val != '\0')
        return val;
    if (*i + 1 >= argc)
        die("%s: option %s needs a value", argv[0], arg);
    return argv[++*i];
}

/* Reads the verb's options up to the program (after "--" or at the first
 * word that is not an option). */
static void parse_verb(request_t *rq, int argc, char **argv) {
    const verb_t *v = rq->verb;
    int i = 1;
    for (; i < argc && argv[i][0] == '-'; i++) {
        const char *arg = argv[i], *val;
        if (strcmp(arg, "--") == 0) {
            i++;
            break;
        }
        if (strcmp(arg, "-h") == 0 || strcmp(arg, "--help") == 0) {
            usage_verb(v);
            exit(0);
        }
        if (v->json && strcmp(arg, "--json") == 0)
            rq->json = 1;
        else if (v->o_long && (val = option_value(argc, argv, &i, v->o_long)))
            *(strcmp(v->o_long, "--options") == 0 ? &rq->options : &rq->output) = val;
        else
            die("%s: unknown option '%s' (try 'warden %s --help')", v->name, arg, v->name);
    }
    if (i >= argc)
        die("%s: no program given (try 'warden %s --help')", v->name, v->name);
    rq->argv = argv + i;
    if (rq->output == NULL)
        rq->output = v->output_default;
}

/* --- output paths ---------------------------------------------------------------- */

/* Absolute, since the program may change directory before it writes. */
static void path_absolute(const char *path, char *out, size_t size) {
    char cwd[4096];
    if (path[0] == '/') {
        fmt(out, size, "%s", path);
        return;
    }
    if (getcwd(cwd, sizeof cwd) == NULL)
        die("cannot read the current directory: %s", strerror(errno));
    fmt(out, size, "%s/%s", cwd, path);
}

/* Opens FILE for writing as the program will; a file this created is
 * removed again, so that a program that writes nothing leaves nothing. */
static void output_file_check(const char *path) {
    struct stat st;
    int existed = stat(path, &st) == 0;
    int fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0666);
    if (fd < 0)
        die("cannot write %s: %s", path, strerror(errno));
    close(fd);
    if (!existed)
        unlink(path);
}

/* Creates DIR when missing (not its parents), then a file in it. */
static void output_dir_check(const char *path) {
    char probe[4200];
    if (mkdir(path, 0777) != 0 && errno != EEXIST)
        die("cannot create directory %s: %s", path, strerror(errno));
    fmt(probe, sizeof probe, "%s/.warden-XXXXXX", path);
    int fd = mkstemp(probe);
    if (fd < 0)
        die("cannot write in %s: %s", path, strerror(errno));
    close(fd);
    unlink(probe);
}

/* WARDEN_OPTIONS has no quoting: ':' separates options. */
static void output_prepare(request_t *rq, char *abs, size_t size) {
    if (rq->output == NULL)
        return;
    if (rq->output[0] == '\0')
        die("%s: empty output name", rq->verb->name);
    path_absolute(rq->output, abs, size);
    if (strchr(abs, ':') != NULL)
        die("cannot pass %s in WARDEN_OPTIONS: the name contains ':'", abs);
    if (rq->verb->output_is_dir)
        output_dir_check(abs);
    else
        output_file_check(abs);
    rq->output = abs;
}

/* --- the program ------------------------------------------------------------------ */

/* execvp's search: a name with a '/' is a path; else the first executable
 * regular file of that name in PATH. */
static void program_find(const char *name, char *out, size_t size) {
    struct stat st;
    if (strchr(name, '/') != NULL) {
        if (stat(name, &st) != 0)
            die("no such program: %s", name);
        fmt(out, size, "%s", name);
        return;
    }
    const char *path = getenv("PATH");
    if (path == NULL || *path == '\0')
        path = "/usr/local/bin:/usr/bin:/bin";
    while (*path != '\0') {
        size_t len = strcspn(path, ":");
        fmt(out, size, "%.*s/%s", (int)len, len ? path : ".", name);
        if (stat(out, &st) == 0 && S_ISREG(st.st_mode) && access(out, X_OK) == 0)
            return;
        path += len + (path[len] == ':');
    }
    die("no such program: %s", name);
}

/* The ELF header and whether a PT_INTERP is among the program headers:
 * without one the program is linked statically (static-pie included) and
 * no dynamic loader will ever read LD_PRELOAD.  -1: not ELF or unreadable. */
static int elf_read(int fd, Elf64_Ehdr *eh, int *dynamic) {
    unsigned char buf[sizeof(Elf64_Ehdr)];
    if (pread(fd, buf, sizeof buf, 0) < (ssize_t)sizeof(Elf32_Ehdr) ||
        memcmp(buf, ELFMAG, SELFMAG) != 0)
        return -1;
    int is64 = buf[EI_CLASS] == ELFCLASS64;
    Elf32_Ehdr e32;
    memcpy(&e32, buf, sizeof e32);
    memcpy(eh, buf, sizeof *eh);
    uint64_t off = is64 ? eh->e_phoff : e32.e_phoff;
    unsigned num = is64 ? eh->e_phnum : e32.e_phnum;
    size_t entsize = is64 ? sizeof(Elf64_Phdr) : sizeof(Elf32_Phdr);
    if (!is64)
        eh->e_machine = e32.e_machine;
    *dynamic = 0;
    for (unsigned i = 0; i < num; i++) {
        uint32_t type; /* p_type comes first in both classes */
        if (pread(fd, &type, sizeof type, (off_t)(off + i * entsize)) != sizeof type)
            return -1;
        if (type == PT_INTERP)
            *dynamic = 1;
    }
    return 0;
}

/* "#!/usr/bin/env python3" -> the interpreter, resolved as the kernel (and
 * env) would.  Returns 0 and the path in out, -1 when fd is no script. */
static int script_interpreter(int fd, char *out, size_t size) {
    char line[256];
    ssize_t n = pread(fd, line, sizeof line - 1, 0);
    if (n < 3 || line[0] != '#' || line[1] != '!')
        return -1;
    line[n] = '\0';
    line[strcspn(line, "\n")] = '\0';
    char *save = NULL;
    char *interp = strtok_r(line + 2, " \t", &save);
    char *arg = strtok_r(NULL, " \t", &save);
    if (interp == NULL)
        return -1;
    const char *base = strrchr(interp, '/');
    if (base && strcmp(base + 1, "env") == 0 && arg != NULL && arg[0] != '-')
        program_find(arg, out, size);
    else
        fmt(out, size, "%s", interp);
    return 0;
}

/* The loader runs setuid and setgid programs, and programs with file
 * capabilities (unless root runs them), in secure-execution mode, where it
 * ignores an LD_PRELOAD with a '/' in it.  Returns what makes path so, or
 * NULL. */
static const char *file_secure_exec(const char *path, const struct stat *st) {
    if (st->st_mode & S_ISUID)
        return "setuid";
    if (st->st_mode & S_ISGID)
        return "setgid";
    if (getuid() != 0 && getxattr(path, "security.capability", NULL, 0) > 0)
        return "given file capabilities";
    return NULL;
}

/* Dies when LD_PRELOAD cannot work for path: statically linked, setuid,
 * another ELF class or machine than the library (lib_eh).  Follows #!
 * interpreters.  An unreadable program (mode --x) is let through. */
static void program_check(const char *name, const char *path, const Elf64_Ehdr *lib_eh,
                          int depth) {
    struct stat st;
    char interp[4096];
    int fd = open(path, O_RDONLY | O_CLOEXEC), dynamic;
    Elf64_Ehdr eh;
    if (fd < 0 || fstat(fd, &st) != 0) {
        if (fd >= 0)
            close(fd);
        return;
    }
    if (elf_read(fd, &eh, &dynamic) == 0) {
        close(fd);
        const char *secure = file_secure_exec(path, &st);
        if (secure != NULL)
            die("%s is %s: the dynamic loader ignores LD_PRELOAD for it, "
                "warden cannot work", path, secure);
        if (!dynamic)
            die("%s is statically linked: there is no dynamic loader to read "
                "LD_PRELOAD, warden cannot work (link it with libwarden.a instead)", path);
        if (eh.e_ident[EI_CLASS] != lib_eh->e_ident[EI_CLASS] ||
            eh.e_machine != lib_eh->e_machine)
            die("%s is built for another ELF class or machine than libwarden: "
                "LD_PRELOAD cannot work", path);
        return;
    }
    int script = script_interpreter(fd, interp, sizeof interp);
    close(fd);
    if (script == 0 && depth < SCRIPT_DEPTH) {
        if (stat(interp, &st) != 0)
            die("no such program: %s (the interpreter of %s)", interp, name);
        program_check(name, interp, lib_eh, depth + 1);
    }
}

/* --- the library ------------------------------------------------------------------ */

/* Installed: BINDIR/WD_BIN_TO_LIB/libwarden.so.0; build tree: beside. */
static void library_find(char *out, size_t size) {
    char exe[4096], dir[4096];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n <= 0)
        die("cannot find myself (/proc/self/exe): %s", strerror(errno));
    exe[n] = '\0';
    *strrchr(exe, '/') = '\0';
    const char *where[] = {WD_BIN_TO_LIB, "."};
    for (size_t i = 0; i < 2; i++) {
        fmt(dir, sizeof dir, "%s/%s", exe, where[i]);
        char *real = realpath(dir, NULL);
        if (real == NULL)
            continue;
        fmt(out, size, "%s/%s", real, WD_LIBRARY);
        free(real);
        if (access(out, R_OK) == 0)
            return;
    }
    die("%s not found in %s/%s nor in %s", WD_LIBRARY, exe, WD_BIN_TO_LIB, exe);
}

static void library_header(const char *lib, Elf64_Ehdr *eh) {
    int fd = open(lib, O_RDONLY | O_CLOEXEC), dynamic;
    if (fd < 0 || elf_read(fd, eh, &dynamic) != 0)
        die("cannot read %s", lib);
    close(fd);
}

/* --- the environment, then exec --------------------------------------------------- */

static void env_prepend(const char *name, const char *value) {
    const char *old = getenv(name);
    char *both = NULL;
    if (old != NULL && *old != '\0' && asprintf(&both, "%s:%s", value, old) < 0)
        die("out of memory");
    if (setenv(name, both ? both : value, 1) != 0)
        die("cannot set %s: %s", name, strerror(errno));
    free(both);
}

/* The user's WARDEN_OPTIONS first, the verb's after: the library takes the
 * last value of a key, so the command line wins over the environment. */
static void env_append(const char *name, const char *value) {
    const char *old = getenv(name);
    char *both = NULL;
    if (*value == '\0')
        return;
    if (old != NULL && *old != '\0' && asprintf(&both, "%s:%s", old, value) < 0)
        die("out of memory");
    if (setenv(name, both ? both : value, 1) != 0)
        die("cannot set %s: %s", name, strerror(errno));
    free(both);
}

static void __attribute__((noreturn)) run(request_t *rq) {
    char lib[4200], path[4200], out[4200], opts[8192];
    Elf64_Ehdr lib_eh;
    library_find(lib, sizeof lib);
    if (strpbrk(lib, ": ") != NULL)
        die("cannot put %s in LD_PRELOAD: its path contains ':' or a space", lib);
    library_header(lib, &lib_eh);
    program_find(rq->argv[0], path, sizeof path);
    program_check(rq->argv[0], path, &lib_eh, 0);
    output_prepare(rq, out, sizeof out);
    rq->verb->options(rq, opts, sizeof opts);
    env_prepend("LD_PRELOAD", lib);
    env_append("WARDEN_OPTIONS", opts);
    execv(path, rq->argv);
    if (errno == ENOEXEC) { /* no #! line: a shell script, as execvp does */
        int n = 0;
        while (rq->argv[n] != NULL)
            n++;
        char **sh = calloc((size_t)n + 2, sizeof *sh);
        if (sh == NULL)
            die("out of memory");
        sh[0] = "sh";
        sh[1] = path;
        memcpy(sh + 2, rq->argv + 1, (size_t)n * sizeof *sh);
        execv("/bin/sh", sh);
    }
    die("cannot run %s: %s", path, strerror(errno));
}

int main(int argc, char **argv) {
    request_t rq = {0};
    if (argc < 2)
        die("no verb given (try 'warden --help')");
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
        strcmp(argv[1], "help") == 0) {
        const verb_t *v = argc > 2 ? verb_find(argv[2]) : NULL;
        if (v != NULL)
            usage_verb(v);
        else
            usage_all();
        return 0;
    }
    if (strcmp(argv[1], "--version") == 0) {
        printf("warden %s\n", WD_VERSION);
        return 0;
    }
    rq.verb = verb_find(argv[1]);
    if (rq.verb == NULL)
        die("%s '%s' (try 'warden --help')", argv[1][0] == '-' ? "unknown option" : "unknown verb",
            argv[1]);
    parse_verb(&rq, argc - 1, argv + 1);
    run(&rq);
}
