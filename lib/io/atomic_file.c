/* SPDX-License-Identifier: MIT */
/* lib/io/atomic_file.c — write "<path>.<random>.tmp" exclusively, fsync, rename over path (see
 * atomic_file.h), with terminating signals optionally deferred meanwhile. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include "cg_internal.h"
#include "atomic_file.h"

/* ---- signals during a save ------------------------------------------------ */
/* SIGINT, SIGTERM and SIGHUP that would kill the process (default disposition) are deferred
 * while a save has its temporary file: a handler records them, and once the temporary is renamed
 * or removed the old disposition is restored and the signal re-sent to the process, which then
 * ends as it would have. A handler that blocks them in the saving thread only would not do:
 * another thread (OpenMP's, OpenBLAS's) would take a process-directed signal and die with the
 * temporary half written. Dispositions are process-wide, so concurrent saves share one
 * installation (a depth count under a mutex); signals the program ignores or handles itself are
 * left alone. Only a writer opened with defer_signals touches them (programs opt in). */
static const int defer_sigs[] = { SIGINT, SIGTERM, SIGHUP };
#define N_DEFER ((int)(sizeof defer_sigs / sizeof defer_sigs[0]))
static pthread_mutex_t defer_lock = PTHREAD_MUTEX_INITIALIZER;
static int defer_depth;
static bool defer_installed[N_DEFER];
static struct sigaction defer_old[N_DEFER];
static volatile sig_atomic_t defer_caught[N_DEFER];

static void defer_handler(int sig) {
    for (int i = 0; i < N_DEFER; i++)
        if (defer_sigs[i] == sig) defer_caught[i] = 1;
}

static void signals_defer(void) {
    pthread_mutex_lock(&defer_lock);
    if (defer_depth++ == 0) {
        for (int i = 0; i < N_DEFER; i++) {
            struct sigaction old, sa;
            defer_installed[i] = false;
            defer_caught[i] = 0;
            if (sigaction(defer_sigs[i], NULL, &old) != 0 || (old.sa_flags & SA_SIGINFO) || old.sa_handler != SIG_DFL)
                continue;
            memset(&sa, 0, sizeof sa);
            sa.sa_handler = defer_handler;
            sigemptyset(&sa.sa_mask);
            for (int j = 0; j < N_DEFER; j++) sigaddset(&sa.sa_mask, defer_sigs[j]);
            sa.sa_flags = SA_RESTART;
            if (sigaction(defer_sigs[i], &sa, NULL) == 0) {
                defer_old[i] = old;
                defer_installed[i] = true;
            }
        }
    }
    pthread_mutex_unlock(&defer_lock);
}

/* Restore the dispositions; a signal caught meanwhile is re-sent now (and then ends the process). */
static void signals_restore(void) {
    int resend[N_DEFER], n = 0;
    pthread_mutex_lock(&defer_lock);
    if (--defer_depth == 0) {
        for (int i = 0; i < N_DEFER; i++) {
            if (!defer_installed[i]) continue;
            sigaction(defer_sigs[i], &defer_old[i], NULL);
            defer_installed[i] = false;
            if (defer_caught[i]) resend[n++] = defer_sigs[i];
            defer_caught[i] = 0;
        }
    }
    pthread_mutex_unlock(&defer_lock);
    for (int i = 0; i < n; i++) kill(getpid(), resend[i]);
}

/* ---- where the file goes --------------------------------------------------- */
/* PATH may be absent or a regular file, which the save replaces; anything else is refused. */
static cg_status check_target(const char *who, const char *path) {
    struct stat sb;
    if (lstat(path, &sb) != 0) {
        if (errno == ENOENT) return CG_OK;
        return cg_error(CG_EIO, "%s %s: cannot stat it: %s", who, path, strerror(errno));
    }
    if (S_ISLNK(sb.st_mode))
        return cg_error(CG_EIO, "%s %s: it is a symbolic link; refusing to replace it "
                        "(save to the path it points to instead)", who, path);
    if (!S_ISREG(sb.st_mode))
        return cg_error(CG_EIO, "%s %s: it exists and is not a regular file (a directory, "
                        "device, FIFO or socket); refusing to replace it", who, path);
    return CG_OK;
}

/* Is the file at tmp still the one this save created (same device and inode, not a link)? */
static bool still_ours(const cg_atomic_file *w) {
    struct stat sb;
    return lstat(w->tmp, &sb) == 0 && S_ISREG(sb.st_mode) && sb.st_dev == w->dev && sb.st_ino == w->ino;
}

/* Closes, removes the temporary if it is still ours, restores the signals: w is finished. */
static void finish(cg_atomic_file *w) {
    if (w->f) fclose(w->f);
    w->f = NULL;
    /* failure: leave the old file, drop the partial one, and only the one this writer created */
    if (w->created && still_ours(w)) unlink(w->tmp);
    w->created = false;
    cg_free(w->tmp);
    w->tmp = NULL;
    if (w->deferred) signals_restore();   /* a signal that came meanwhile is delivered now */
    w->deferred = false;
}

cg_status cg_atomic_file_open(cg_atomic_file *w, const char *who, const char *path, bool defer_signals) {
    *w = (cg_atomic_file){ .who = who, .path = path };
    cg_status s;
    if ((s = check_target(who, path))) return s;
    /* "<path>.<16 hex digits>.tmp": a name no one can plant in advance (a file or link put at a
     * predictable name would make every save fail), created O_CREAT|O_EXCL|O_NOFOLLOW so that
     * even a guessed one is never followed nor reused: on EEXIST another name is drawn. */
    size_t plen = strlen(path);
    if (!(w->tmp = cg_malloc(plen + 22))) return CG_ENOMEM;
    memcpy(w->tmp, path, plen);
    /* From here until the temporary is renamed or removed, a terminating signal waits (when asked). */
    if (defer_signals) {
        signals_defer();
        w->deferred = true;
    }
    int fd = -1;
    for (int attempt = 0; fd < 0 && attempt < 100; attempt++) {
        uint64_t r = 0;
        if (getrandom(&r, sizeof r, GRND_NONBLOCK) != (ssize_t)sizeof r) {   /* no entropy yet: mix what there is */
            struct timespec ts;
            clock_gettime(CLOCK_REALTIME, &ts);
            r ^= ((uint64_t)ts.tv_nsec << 20) ^ (uint64_t)ts.tv_sec ^ ((uint64_t)getpid() << 40) ^
                 ((uint64_t)(uintptr_t)w * 0x9E3779B97F4A7C15ull) ^ (uint64_t)attempt * 0xBF58476D1CE4E5B9ull;
        }
        snprintf(w->tmp + plen, 22, ".%016llx.tmp", (unsigned long long)r);
        fd = open(w->tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0666);
        if (fd < 0 && errno != EEXIST) break;
    }
    if (fd < 0) {
        s = cg_error(CG_EIO, "%s %s: cannot create a temporary %s: %s", who, path, w->tmp,
                     errno == EEXIST ? "100 random names were all taken" : strerror(errno));
        finish(w);
        return s;
    }
    struct stat tsb;
    if (fstat(fd, &tsb) != 0) {
        s = cg_error(CG_EIO, "%s %s: cannot stat %s: %s", who, path, w->tmp, strerror(errno));
        close(fd);
        unlink(w->tmp);   /* just created by this call (O_EXCL) */
        finish(w);
        return s;
    }
    w->dev = tsb.st_dev;
    w->ino = tsb.st_ino;
    w->created = true;
    if (!(w->f = fdopen(fd, "wb"))) {
        s = cg_error(CG_EIO, "%s %s: cannot open %s: %s", who, path, w->tmp, strerror(errno));
        close(fd);
        finish(w);
        return s;
    }
    return CG_OK;
}

cg_status cg_atomic_file_write(cg_atomic_file *w, const void *p, size_t n) {
    if (n && fwrite(p, 1, n, w->f) != n)
        return cg_error(CG_EIO, "%s %s: writing %s failed: %s", w->who, w->path, w->tmp, strerror(errno));
    return CG_OK;
}

void cg_atomic_file_abort(cg_atomic_file *w) { finish(w); }

cg_status cg_atomic_file_commit(cg_atomic_file *w) {
    cg_status s = CG_OK;
    const char *who = w->who, *path = w->path;
    if (fflush(w->f) != 0 || fsync(fileno(w->f)) != 0) {
        s = cg_error(CG_EIO, "%s %s: flushing %s failed: %s", who, path, w->tmp, strerror(errno));
        goto out;
    }
    int rc = fclose(w->f);
    w->f = NULL;
    if (rc != 0) { s = cg_error(CG_EIO, "%s %s: closing %s failed: %s", who, path, w->tmp, strerror(errno)); goto out; }
    /* Still a path to replace, and still our temporary (the directory may be shared). */
    if ((s = check_target(who, path))) goto out;
    if (!still_ours(w)) {
        s = cg_error(CG_EIO, "%s %s: %s was replaced or removed during the save", who, path, w->tmp);
        w->created = false;
        goto out;
    }
    if (rename(w->tmp, path) != 0) {
        s = cg_error(CG_EIO, "%s %s: renaming %s over it failed: %s", who, path, w->tmp, strerror(errno));
        goto out;
    }
    w->created = false;   /* renamed: nothing to clean up */
    /* Sync the directory so the rename itself is durable (tmp's buffer is longer than path). */
    char *dir = w->tmp;
    const char *slash = strrchr(path, '/');
    if (slash == path) strcpy(dir, "/");
    else if (slash) { memcpy(dir, path, (size_t)(slash - path)); dir[slash - path] = '\0'; }
    else strcpy(dir, ".");
    int dfd = open(dir, O_RDONLY);
    if (dfd >= 0) {
        if (fsync(dfd) != 0 && errno != EINVAL && errno != EROFS)
            s = cg_error(CG_EIO, "%s %s: syncing directory %s failed: %s", who, path, dir, strerror(errno));
        close(dfd);
    }
out:
    finish(w);
    return s;
}
