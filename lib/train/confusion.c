/* SPDX-License-Identifier: MIT */
/* lib/train/confusion.c — the confusion of an evaluation in memory linear in the classes: per
 * class its examples, correct and predicted counts (three arrays of K), and the off-diagonal
 * (true, predicted) pairs that occurred in an open-addressing hash table (at most one entry per
 * distinct pair seen, so never more than the examples counted). A net with 20,000 outputs
 * evaluated on 64 images holds 480 KB of arrays and 64 pairs, not a 3.2 GB matrix. */
#include <stdlib.h>
#include <string.h>
#include "cg_internal.h"
#include "cgrad/train.h"

struct cg_confusion {
    int64_t classes;
    int64_t *total, *correct, *predicted;   /* [classes] each */
    /* the off-diagonal pairs: key = truth * classes + pred, -1 where empty; cap a power of two */
    int64_t *keys, *counts;
    int64_t cap, used;
};

#define CONFUSION_MAX_CLASSES ((int64_t)1 << 31)   /* keys truth * classes + pred stay below 2^62 */

cg_confusion *cg_confusion_new(int64_t classes) {
    if (classes < 1 || classes > CONFUSION_MAX_CLASSES) {
        cg_error(CG_EINVAL, "cg_confusion_new: classes %lld is outside 1..%lld", (long long)classes,
                 (long long)CONFUSION_MAX_CLASSES);
        return NULL;
    }
    cg_confusion *c = cg_calloc(1, sizeof *c);
    if (!c) return NULL;
    c->classes = classes;
    c->total = cg_calloc((size_t)classes * 3, sizeof *c->total);
    if (!c->total) {
        cg_free(c);
        cg_error(CG_ENOMEM, "cg_confusion_new: %lld classes: out of memory for 3 x %lld counts", (long long)classes,
                 (long long)classes);
        return NULL;
    }
    c->correct = c->total + classes;
    c->predicted = c->total + 2 * classes;
    return c;
}

void cg_confusion_free(cg_confusion *c) {
    if (!c) return;
    cg_free(c->total);
    cg_free(c->keys);
    cg_free(c->counts);
    cg_free(c);
}

void cg_confusion_reset(cg_confusion *c) {
    if (!c) return;
    memset(c->total, 0, (size_t)c->classes * 3 * sizeof *c->total);
    if (c->keys) memset(c->keys, 0xff, (size_t)c->cap * sizeof *c->keys);   /* every key -1 */
    c->used = 0;
}

int64_t cg_confusion_classes(const cg_confusion *c) { return c ? c->classes : 0; }

static uint64_t slot_of(int64_t key, int64_t cap) {
    uint64_t h = (uint64_t)key * 0x9E3779B97F4A7C15ull;   /* Fibonacci hashing */
    return (h ^ (h >> 29)) & (uint64_t)(cap - 1);
}

/* The slot holding key, or the empty slot where it would go. */
static int64_t find(const cg_confusion *c, int64_t key) {
    uint64_t i = slot_of(key, c->cap);
    while (c->keys[i] != -1 && c->keys[i] != key) i = (i + 1) & (uint64_t)(c->cap - 1);
    return (int64_t)i;
}

static cg_status grow(cg_confusion *c) {
    int64_t cap = c->cap ? c->cap * 2 : 64;
    int64_t *keys = cg_malloc((size_t)cap * sizeof *keys), *counts = cg_malloc((size_t)cap * sizeof *counts);
    if (!keys || !counts) {
        cg_free(keys);
        cg_free(counts);
        return cg_error(CG_ENOMEM, "cg_confusion_add: out of memory for %lld confused pairs", (long long)cap / 2);
    }
    memset(keys, 0xff, (size_t)cap * sizeof *keys);
    int64_t *okeys = c->keys, *ocounts = c->counts, ocap = c->cap;
    c->keys = keys;
    c->counts = counts;
    c->cap = cap;
    for (int64_t i = 0; i < ocap; i++)
        if (okeys[i] != -1) {
            int64_t j = find(c, okeys[i]);
            c->keys[j] = okeys[i];
            c->counts[j] = ocounts[i];
        }
    cg_free(okeys);
    cg_free(ocounts);
    return CG_OK;
}

cg_status cg_confusion_add(cg_confusion *c, int64_t truth, int64_t pred) {
    if (!c) return cg_error(CG_EINVAL, "cg_confusion_add: c is NULL");
    if (truth < 0 || truth >= c->classes || pred < 0 || pred >= c->classes)
        return cg_error(CG_EINVAL, "cg_confusion_add: (true %lld, predicted %lld) is outside 0..%lld",
                        (long long)truth, (long long)pred, (long long)c->classes - 1);
    if (truth != pred) {
        if (2 * (c->used + 1) > c->cap) {   /* load at most 1/2 */
            cg_status s = grow(c);
            if (s) return s;
        }
        int64_t key = truth * c->classes + pred, i = find(c, key);
        if (c->keys[i] == -1) {
            c->keys[i] = key;
            c->counts[i] = 0;
            c->used++;
        }
        c->counts[i]++;
    } else {
        c->correct[truth]++;
    }
    c->total[truth]++;
    c->predicted[pred]++;
    return CG_OK;
}

int64_t cg_confusion_count(const cg_confusion *c, int64_t truth, int64_t pred) {
    if (!c || truth < 0 || truth >= c->classes || pred < 0 || pred >= c->classes) return 0;
    if (truth == pred) return c->correct[truth];
    if (!c->used) return 0;
    int64_t i = find(c, truth * c->classes + pred);
    return c->keys[i] == -1 ? 0 : c->counts[i];
}

int64_t cg_confusion_total(const cg_confusion *c, int64_t truth) {
    return c && truth >= 0 && truth < c->classes ? c->total[truth] : 0;
}

int64_t cg_confusion_pairs(const cg_confusion *c) { return c ? c->used : 0; }

/* Is pair (ka, na) before (kb, nb): the larger count first, then the smaller key (true, then predicted). */
static bool before(int64_t na, int64_t ka, int64_t nb, int64_t kb) { return na != nb ? na > nb : ka < kb; }

int64_t cg_confusion_top_pairs(const cg_confusion *c, int64_t k, int64_t *truth, int64_t *pred, int64_t *count) {
    if (!c || k < 1 || !truth || !pred || !count) return 0;
    /* One pass over the table keeping the best k in insertion order: O(pairs x k), and nothing
     * allocated (k is a handful for a summary). The result is sorted, ties by (true, predicted). */
    int64_t n = 0;
    for (int64_t i = 0; i < c->cap; i++) {
        if (c->keys[i] == -1) continue;
        int64_t key = c->keys[i], cnt = c->counts[i];
        if (n == k && !before(cnt, key, count[n - 1], truth[n - 1] * c->classes + pred[n - 1])) continue;
        int64_t j = n < k ? n++ : k - 1;
        while (j > 0 && before(cnt, key, count[j - 1], truth[j - 1] * c->classes + pred[j - 1])) {
            truth[j] = truth[j - 1];
            pred[j] = pred[j - 1];
            count[j] = count[j - 1];
            j--;
        }
        truth[j] = key / c->classes;
        pred[j] = key % c->classes;
        count[j] = cnt;
    }
    return n;
}

/* ---- the tables -------------------------------------------------------------------------- */
static void class_label(char *buf, size_t cap, const char *const *names, int64_t k, int w) {
    if (names) snprintf(buf, cap, "%-*s", w, names[k]);
    else snprintf(buf, cap, "class %lld", (long long)k);
}

void cg_confusion_fprint(FILE *f, const cg_confusion *c, const char *const *names) {
    if (!f || !c) return;
    const int64_t classes = c->classes;
    const bool full = classes <= CG_CONFUSION_FULL_MAX;
    int w = 5; /* the name column: the longest name, at least "class 9" */
    for (int64_t k = 0; names && k < classes; k++) w = (int)strlen(names[k]) > w ? (int)strlen(names[k]) : w;
    if (w > 64) w = 64;
    char label[80];
    int64_t empty = 0;
    for (int64_t k = 0; k < classes; k++) empty += c->total[k] == 0;
    if (full) fprintf(f, "\nPer-class accuracy:\n");
    else
        fprintf(f, "\nPer-class accuracy (the %lld classes with test examples; %lld of %lld have none):\n",
                (long long)(classes - empty), (long long)empty, (long long)classes);
    for (int64_t k = 0; k < classes; k++) {
        int64_t total = c->total[k];
        if (!full && !total) continue;
        class_label(label, sizeof label, names, k, w);
        fprintf(f, "  %s: %5lld/%5lld (%5.1f%%)\n", label, (long long)c->correct[k], (long long)total,
                total ? 100.0 * (double)c->correct[k] / (double)total : 0.0);
    }
    if (!full) {
        enum { TOP = CG_CONFUSION_TOP_PAIRS };
        int64_t t[TOP], p[TOP], n[TOP], m = cg_confusion_top_pairs(c, TOP, t, p, n);
        fprintf(f, "\nMost confused pairs (true -> predicted; %lld of %lld distinct pairs):\n", (long long)m,
                (long long)c->used);
        if (!m) fprintf(f, "  none: every example was predicted as its class\n");
        for (int64_t i = 0; i < m; i++) {
            char a[80], b[80];
            class_label(a, sizeof a, names, t[i], 0);
            class_label(b, sizeof b, names, p[i], 0);
            fprintf(f, "  %s -> %s: %lld (%.1f%% of %s)\n", a, b, (long long)n[i],
                    100.0 * (double)n[i] / (double)c->total[t[i]], a);
        }
        fprintf(f, "\nConfusion matrix: not printed for %lld classes (more than %d); the pairs above are its "
                "largest off-diagonal entries.\n", (long long)classes, CG_CONFUSION_FULL_MAX);
        return;
    }
    fprintf(f, "\nConfusion matrix (rows: true class, columns: predicted):\n");
    if (names) {
        fprintf(f, "  columns:");
        for (int64_t k = 0; k < classes; k++) fprintf(f, " %lld=%s", (long long)k, names[k]);
        fprintf(f, "\n");
    }
    fprintf(f, "      %*s", names ? w + 1 : 0, "");
    for (int64_t k = 0; k < classes; k++) fprintf(f, "%6lld", (long long)k);
    fprintf(f, "\n");
    for (int64_t r = 0; r < classes; r++) {
        if (names) fprintf(f, "  %2lld %-*s: ", (long long)r, w, names[r]);
        else fprintf(f, "  %2lld: ", (long long)r);
        for (int64_t k = 0; k < classes; k++) fprintf(f, "%6lld", (long long)cg_confusion_count(c, r, k));
        fprintf(f, "\n");
    }
}
