/* tests/tsan/omp_race.c — the TSan stage's control: can it see a race inside an OpenMP region,
 * and does it stay quiet about correct code whose only synchronisation is OpenMP's barrier?
 *
 *   omp_race clean   two worksharing loops, the second reading what the other thread of the team
 *                    wrote in the first, ordered by the barrier between them: no report expected
 *   omp_race racy    the same without the barrier (nowait): ThreadSanitizer must report a race
 *
 * If "racy" passes quietly, the sanitizer does not see into OpenMP regions and the stage's clean
 * runs of the suite prove nothing; if "clean" reports, the runtime's barrier is invisible to it
 * and every parallel kernel would look racy. Built only with -DCGRAD_TSAN=ON (tests/tsan.cmake). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(int argc, char **argv) {
    if (argc != 2 || (strcmp(argv[1], "clean") && strcmp(argv[1], "racy"))) {
        fprintf(stderr, "usage: %s clean|racy\n", argv[0]);
        return 2;
    }
    const int racy = !strcmp(argv[1], "racy");
    enum { N = 1 << 16 };
    float *a = calloc(N, sizeof *a), *b = calloc(N, sizeof *b);
    if (!a || !b) { fprintf(stderr, "%s: out of memory\n", argv[0]); return 2; }
    for (int rep = 0; rep < 3; rep++) {
        #pragma omp parallel num_threads(2)
        {
            #pragma omp for schedule(static) nowait
            for (int i = 0; i < N; i++) a[i] = (float)(i + rep);
            if (!racy) {
                #pragma omp barrier
            }
            #pragma omp for schedule(static)
            for (int i = 0; i < N; i++) b[i] = a[N - 1 - i]; /* the other thread's half of a */
        }
    }
    printf("b[0] = %g\n", (double)b[0]);
    free(a);
    free(b);
    return 0;
}
