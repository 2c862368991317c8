/* measure -- runs a command, then reports its wall time, CPU time and peak RSS.
 *
 * usage: measure [-p LIB] OUT PROG [ARGS...]
 *   -p LIB  sets LD_PRELOAD=LIB for PROG only (measure itself runs without it)
 *   OUT     file that receives one line "wall_s user_s sys_s maxrss_kb status"
 *           ("-" for stdout); status is the exit status, or 128 + the signal
 * Exits with the status it reports.
 *
 * Why a program of its own: ru_maxrss of a child keeps the high-water mark of
 * the image it had between fork and exec, which is its parent's.  Forked from
 * python3 (bench/run), every workload would show python's ~17 MiB as its
 * floor; forked from this small program, the floor is about 1 MiB.
 * PROG's descendants are counted too (their rusage is folded into PROG's when
 * it waits for them), which matters for gcc.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static double now_sec(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static double tv_sec(struct timeval tv) { return (double)tv.tv_sec + (double)tv.tv_usec * 1e-6; }

int main(int argc, char **argv)
{
    const char *preload = NULL;
    int i = 1;
    if (i + 1 < argc && strcmp(argv[i], "-p") == 0) {
        preload = argv[i + 1];
        i += 2;
    }
    if (argc - i < 2) {
        fprintf(stderr, "usage: measure [-p LIB] OUT PROG [ARGS...]\n");
        return 2;
    }
    const char *out = argv[i];
    char **cmd = argv + i + 1;

    double t0 = now_sec();
    pid_t pid = fork();
    if (pid < 0) {
        perror("measure: fork");
        return 2;
    }
    if (pid == 0) {
        if (preload != NULL && setenv("LD_PRELOAD", preload, 1) != 0)
            _exit(127);
        execvp(cmd[0], cmd);
        fprintf(stderr, "measure: cannot run %s\n", cmd[0]);
        _exit(127);
    }
    int st;
    struct rusage ru;
    while (wait4(pid, &st, 0, &ru) < 0) {}
    double wall = now_sec() - t0;
    int status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);

    FILE *f = strcmp(out, "-") == 0 ? stdout : fopen(out, "w");
    if (f == NULL) {
        perror("measure: OUT");
        return 2;
    }
    fprintf(f, "%.6f %.6f %.6f %ld %d\n", wall, tv_sec(ru.ru_utime), tv_sec(ru.ru_stime),
            ru.ru_maxrss, status);
    if (f != stdout)
        fclose(f);
    return status;
}
