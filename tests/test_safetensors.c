/* SPDX-License-Identifier: MIT */
/* tests/test_safetensors.c — safetensors checkpoints: round trip, atomic save, strict parsing of
 * malformed headers, load_into errors, truncation, and interchange with a numpy reference. */
#define _POSIX_C_SOURCE 200809L
#define _XOPEN_SOURCE 700 /* mknod */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <time.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <unistd.h>
#include "cg_internal.h"
#include "cgrad/io.h"
#include "io/atomic_file.h"
#include "alloc_probe.h"

/* ---- helpers ------------------------------------------------------------- */
static char tmpdir[256];

static int setup(void **s) {
    (void)s;
    strcpy(tmpdir, "/tmp/cgrad_st_XXXXXX");
    return mkdtemp(tmpdir) ? 0 : -1;
}
static int teardown(void **s) {
    (void)s;
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    return system(cmd) == 0 ? 0 : -1;
}

static const char *tpath(const char *name) {
    static char buf[4][512];
    static int k;
    k = (k + 1) % 4;
    snprintf(buf[k], sizeof buf[k], "%s/%s", tmpdir, name);
    return buf[k];
}

static bool exists(const char *path) { struct stat sb; return stat(path, &sb) == 0; }

/* The save temporaries of path still there: "<path>.<16 hex digits>.tmp" in its directory. */
static int temporaries_of(const char *path) {
    char dir[512];
    snprintf(dir, sizeof dir, "%s", path);
    char *slash = strrchr(dir, '/');
    const char *base = slash ? slash + 1 : path;
    if (slash) *slash = '\0';
    else strcpy(dir, ".");
    size_t bl = strlen(base);
    DIR *d = opendir(dir);
    if (!d) return 0;
    int k = 0;
    for (struct dirent *e; (e = readdir(d));) {
        size_t n = strlen(e->d_name);
        if (n == bl + 21 && !strncmp(e->d_name, base, bl) && e->d_name[bl] == '.' && !strcmp(e->d_name + n - 4, ".tmp"))
            k++;
    }
    closedir(d);
    return k;
}

/* 8-byte length + json + ndata bytes (0x11 filler). Caller frees. */
static unsigned char *make_file(const char *json, size_t ndata, size_t *size) {
    size_t n = strlen(json);
    unsigned char *b = malloc(8 + n + ndata + 1);
    for (int i = 0; i < 8; i++) b[i] = (unsigned char)((uint64_t)n >> (8 * i));
    memcpy(b + 8, json, n);
    memset(b + 8 + n, 0x11, ndata);
    *size = 8 + n + ndata;
    return b;
}

/* Parse json + ndata bytes from memory; returns the status, closes any result. */
static cg_status parse(const char *json, size_t ndata, cg_safetensors **keep) {
    size_t size;
    unsigned char *b = make_file(json, ndata, &size);
    cg_safetensors *st = (cg_safetensors *)1;
    cg_status s = cg_safetensors_open_mem(b, size, "case.safetensors", &st);
    free(b);
    if (s != CG_OK) assert_null(st);
    if (keep) *keep = st;
    else cg_safetensors_close(st);
    return s;
}

static void expect_bad(const char *json, size_t ndata, const char *needle) {
    cg_clear_error();
    cg_status s = parse(json, ndata, NULL);
    if (s == CG_OK || !strstr(cg_last_error(), needle) || !strstr(cg_last_error(), "case.safetensors"))
        fail_msg("header %s (+%zu bytes): status %d, message \"%s\", wanted \"%s\"", json, ndata, s,
                 cg_last_error(), needle);
}

static unsigned char *read_all(const char *path, size_t *size) {
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *b = malloc((size_t)n + 1);
    assert_int_equal(fread(b, 1, (size_t)n, f), (size_t)n);
    fclose(f);
    *size = (size_t)n;
    return b;
}

static void write_all(const char *path, const void *b, size_t n) {
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(b, 1, n, f), n);
    fclose(f);
}

/* ---- round trip ---------------------------------------------------------- */
static void test_round_trip_is_bit_exact(void **s) {
    (void)s;
    float special[] = { -0.0f, INFINITY, -INFINITY, NAN, 1e-45f, 3.4028235e38f, 1.0f / 3.0f, -7.25f };
    cg_manual_seed(3);
    cg_named_tensor items[] = {
        { "z.last", cg_tensor_randn(3, CG_SHAPE(2, 1, 3), NULL) },
        { "b.weight", cg_tensor_from_array(1, CG_SHAPE(8), special) },
        { "a", cg_tensor_randn(2, CG_SHAPE(2, 3), NULL) },
        { "na\"me\\with\nescapes \xc3\xa9", cg_tensor_full(1, CG_SHAPE(1), 42.0f) },
    };
    cg_kv meta[] = { { "epoch", "12" }, { "note", "quote \" backslash \\ newline \n tab \t \x01 \xe4\xb8\xad" } };
    const char *path = tpath("rt.safetensors");
    assert_int_equal(cg_safetensors_save(path, items, 4, meta, 2), CG_OK);

    size_t size;
    unsigned char *raw = read_all(path, &size);
    uint64_t hlen = 0;
    for (int i = 7; i >= 0; i--) hlen = hlen << 8 | raw[i];
    assert_int_equal(hlen % 8, 0);   /* data 8-byte aligned */
    free(raw);

    cg_safetensors *st;
    assert_int_equal(cg_safetensors_open(path, &st), CG_OK);
    assert_int_equal(cg_safetensors_count(st), 4);
    for (int64_t i = 1; i < 4; i++)   /* name order */
        assert_true(strcmp(cg_safetensors_at(st, i - 1)->name, cg_safetensors_at(st, i)->name) < 0);
    assert_null(cg_safetensors_at(st, 4));
    assert_null(cg_safetensors_at(st, -1));
    for (int i = 0; i < 4; i++) {
        const cg_st_tensor *v = cg_safetensors_find(st, items[i].name);
        assert_non_null(v);
        assert_int_equal(v->dtype, CG_ST_F32);
        assert_int_equal(v->ndim, cg_tensor_ndim(items[i].tensor));
        for (int d = 0; d < v->ndim; d++) assert_int_equal(v->shape[d], cg_tensor_shape(items[i].tensor)[d]);
        assert_int_equal(v->numel, cg_tensor_numel(items[i].tensor));
        assert_int_equal(v->nbytes, 4 * v->numel);
        assert_int_equal((uintptr_t)v->data % 4, 0);
        assert_memory_equal(v->data, cg_tensor_cdata(items[i].tensor), (size_t)v->nbytes);
    }
    assert_null(cg_safetensors_find(st, "missing"));
    assert_string_equal(cg_safetensors_meta(st, "epoch"), "12");
    assert_string_equal(cg_safetensors_meta(st, "note"), meta[1].value);
    assert_null(cg_safetensors_meta(st, "nope"));
    assert_int_equal(cg_safetensors_meta_count(st), 2);
    const char *k, *v;
    assert_int_equal(cg_safetensors_meta_at(st, 0, &k, &v), CG_OK);
    assert_string_equal(k, "epoch");
    assert_int_not_equal(cg_safetensors_meta_at(st, 2, &k, &v), CG_OK);

    /* load_into fresh tensors: bit-exact copies. */
    cg_named_tensor dst[4];
    for (int i = 0; i < 4; i++)
        dst[i] = (cg_named_tensor){ items[i].name,
                                    cg_tensor_zeros(cg_tensor_ndim(items[i].tensor), cg_tensor_shape(items[i].tensor)) };
    assert_int_equal(cg_safetensors_load_into(st, dst, 4), CG_OK);
    for (int i = 0; i < 4; i++) {
        assert_memory_equal(cg_tensor_cdata(dst[i].tensor), cg_tensor_cdata(items[i].tensor),
                            4 * (size_t)cg_tensor_numel(items[i].tensor));
        cg_tensor_free(dst[i].tensor);
        cg_tensor_free(items[i].tensor);
    }
    cg_safetensors_close(st);
    cg_safetensors_close(NULL);
}

static void test_empty_and_edge_files_parse(void **s) {
    (void)s;
    cg_safetensors *st;
    /* Regression (fuzzer + UBSan): an empty header once passed NULL to qsort. */
    assert_int_equal(parse("{}", 0, &st), CG_OK);
    assert_int_equal(cg_safetensors_count(st), 0);
    cg_safetensors_close(st);
    assert_int_equal(parse("  {\"__metadata__\":{}}   \n\t ", 0, &st), CG_OK);
    cg_safetensors_close(st);
    /* A scalar, a zero-size tensor, escapes incl. a surrogate pair, any field order. */
    assert_int_equal(parse("{\"s\":{\"shape\":[],\"dtype\":\"F32\",\"data_offsets\":[8,12]},"
                           "\"e\":{\"dtype\":\"F32\",\"shape\":[0,3],\"data_offsets\":[0,0]},"
                           "\"\\u00e9\\ud83d\\ude00\\/\\t\":{\"dtype\":\"I64\",\"shape\":[1],\"data_offsets\":[0,8]}}",
                           12, &st), CG_OK);
    assert_int_equal(cg_safetensors_count(st), 3);
    const cg_st_tensor *t = cg_safetensors_find(st, "s");
    assert_non_null(t);
    assert_int_equal(t->ndim, 0);
    assert_int_equal(t->numel, 1);
    t = cg_safetensors_find(st, "e");
    assert_int_equal(t->numel, 0);
    t = cg_safetensors_find(st, "\xc3\xa9\xf0\x9f\x98\x80/\t");
    assert_non_null(t);
    assert_int_equal(t->dtype, CG_ST_I64);
    assert_string_equal(cg_st_dtype_name(t->dtype), "I64");
    assert_int_equal(cg_st_dtype_size(t->dtype), 8);
    cg_safetensors_close(st);
}

/* ---- atomic save --------------------------------------------------------- */
static float first_value(const char *path) {
    cg_safetensors *st;
    assert_int_equal(cg_safetensors_open(path, &st), CG_OK);
    float v;
    memcpy(&v, cg_safetensors_find(st, "x")->data, 4);
    cg_safetensors_close(st);
    return v;
}

static void test_atomic_save(void **s) {
    (void)s;
    const char *path = tpath("atomic.safetensors");
    cg_tensor *x = cg_tensor_full(1, CG_SHAPE(3), 1.0f);
    cg_named_tensor it = { "x", x };
    assert_int_equal(cg_safetensors_save(path, &it, 1, NULL, 0), CG_OK);
    assert_float_equal(first_value(path), 1.0f, 0);
    cg_tensor_fill_(x, 2.0f);
    assert_int_equal(cg_safetensors_save(path, &it, 1, NULL, 0), CG_OK);   /* replaces */
    assert_float_equal(first_value(path), 2.0f, 0);
    assert_int_equal(temporaries_of(path), 0);

    /* A missing directory: CG_EIO naming the path; the old file elsewhere is untouched. */
    const char *bad = tpath("no/such/dir/model.safetensors");
    cg_tensor_fill_(x, 3.0f);
    assert_int_equal(cg_safetensors_save(bad, &it, 1, NULL, 0), CG_EIO);
    assert_non_null(strstr(cg_last_error(), bad));
    assert_float_equal(first_value(path), 2.0f, 0);

    /* The target is a directory: refused, no temporary left. */
    const char *dir = tpath("adir");
    assert_int_equal(mkdir(dir, 0700), 0);
    assert_int_equal(cg_safetensors_save(dir, &it, 1, NULL, 0), CG_EIO);
    assert_non_null(strstr(cg_last_error(), dir));
    assert_int_equal(temporaries_of(dir), 0);

    /* A relative path exercises the "." directory sync. */
    char cwd[512];
    assert_non_null(getcwd(cwd, sizeof cwd));
    assert_int_equal(chdir(tmpdir), 0);
    assert_int_equal(cg_safetensors_save("rel.safetensors", &it, 1, NULL, 0), CG_OK);
    assert_int_equal(chdir(cwd), 0);
    assert_float_equal(first_value(tpath("rel.safetensors")), 3.0f, 0);
    cg_tensor_free(x);
}

static void test_save_argument_errors(void **s) {
    (void)s;
    cg_tensor *x = cg_tensor_zeros(1, CG_SHAPE(2));
    const char *path = tpath("args.safetensors");
    cg_named_tensor dup[] = { { "w", x }, { "w", x } };
    assert_int_equal(cg_safetensors_save(path, dup, 2, NULL, 0), CG_EINVAL);
    assert_non_null(strstr(cg_last_error(), "duplicate tensor name 'w'"));
    cg_named_tensor reserved = { "__metadata__", x };
    assert_int_equal(cg_safetensors_save(path, &reserved, 1, NULL, 0), CG_EINVAL);
    cg_named_tensor badutf = { "\xff", x };
    assert_int_equal(cg_safetensors_save(path, &badutf, 1, NULL, 0), CG_EINVAL);
    assert_non_null(strstr(cg_last_error(), "UTF-8"));
    cg_named_tensor nul = { "w", NULL };
    assert_int_equal(cg_safetensors_save(path, &nul, 1, NULL, 0), CG_EINVAL);
    cg_kv m[] = { { "k", "1" }, { "k", "2" } };
    assert_int_equal(cg_safetensors_save(path, dup, 1, m, 2), CG_EINVAL);
    assert_non_null(strstr(cg_last_error(), "duplicate metadata key 'k'"));
    assert_int_equal(cg_safetensors_save(NULL, dup, 1, NULL, 0), CG_EINVAL);
    assert_false(exists(path));
    cg_tensor_free(x);
}

/* ---- malformed input ----------------------------------------------------- */
#define T(shape, off) "{\"dtype\":\"F32\",\"shape\":" shape ",\"data_offsets\":" off "}"

static void test_malformed_headers_are_errors(void **s) {
    (void)s;
    expect_bad("[1,2]", 0, "must be a JSON object");
    expect_bad("\"str\"", 0, "must be a JSON object");
    expect_bad("{\"a\":" T("[2]", "[0,8]") ",\"a\":" T("[2]", "[8,16]") "}", 16, "duplicate tensor name 'a'");
    expect_bad("{\"a\":" T("[2]", "[0,8]") "}", 4, "run past the data section");
    expect_bad("{\"a\":" T("[2]", "[0,8]") ",\"b\":" T("[2]", "[4,12]") "}", 12, "overlap");
    expect_bad("{\"a\":" T("[1]", "[0,4]") ",\"b\":" T("[1]", "[8,12]") "}", 12, "leave a gap");
    expect_bad("{\"a\":" T("[1]", "[4,8]") "}", 8, "leave a gap");
    expect_bad("{\"a\":" T("[3]", "[0,8]") "}", 8, "needs 12 bytes");
    expect_bad("{\"a\":" T("[-1]", "[0,0]") "}", 0, "negative dimension");
    expect_bad("{\"a\":" T("[4294967296,4294967296,0]", "[0,0]") "}", 0, "absurd");
    expect_bad("{\"a\":" T("[9007199254740993]", "[0,0]") "}", 0, "integer too large");
    expect_bad("{\"a\":" T("[99999999999999999999999999]", "[0,0]") "}", 0, "integer too large");
    expect_bad("{\"a\":" T("[2.0]", "[0,8]") "}", 8, "fraction or exponent");
    expect_bad("{\"a\":" T("[2e0]", "[0,8]") "}", 8, "fraction or exponent");
    expect_bad("{\"a\":" T("[02]", "[0,8]") "}", 8, "leading zero");
    expect_bad("{\"a\":" T("[2]", "[8,0]") "}", 8, "begin <= end");
    expect_bad("{\"a\":" T("[2]", "[0,8,8]") "}", 8, "more than 2 entries");
    expect_bad("{\"a\":" T("[2]", "[8]") "}", 8, "must hold 2 integers");
    expect_bad("{\"a\":" T("[1,1,1,1,1,1,1,1,1]", "[0,4]") "}", 4, "more than 8 entries");
    expect_bad("{\"a\":" T("null", "[0,4]") "}", 4, "expected '['");
    expect_bad("{\"a\":" T("[1]", "[0,4]") "} x", 4, "trailing garbage");
    expect_bad("{\"a\":" T("[1]", "[0,4]") "}{}", 4, "trailing garbage");
    expect_bad("{\"a\":" T("[1]", "[0,4]") "}", 8, "trailing garbage");   /* data past the tensors */
    expect_bad("{}", 4, "trailing garbage");
    expect_bad("{\"a\":{\"dtype\":\"F128\",\"shape\":[1],\"data_offsets\":[0,4]}}", 4, "unknown dtype");
    expect_bad("{\"a\":{\"dtype\":\"F32\",\"shape\":[1]}}", 0, "lacks \"data_offsets\"");
    expect_bad("{\"a\":{\"shape\":[1],\"data_offsets\":[0,4]}}", 4, "lacks \"dtype\"");
    expect_bad("{\"a\":{\"dtype\":\"F32\",\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", 4, "duplicate field");
    expect_bad("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4],\"x\":1}}", 4, "unknown field");
    expect_bad("{\"a\":" T("[1]", "[0,4]") ",}", 4, "expected a string");
    expect_bad("{\"a\" " T("[1]", "[0,4]") "}", 4, "expected ':'");
    expect_bad("{\"a\":" T("[1]", "[0,4]") " \"b\":1}", 4, "expected ',' or '}'");
    expect_bad("{\"a", 0, "unterminated string");
    expect_bad("{\"a\\", 0, "unterminated string");
    expect_bad("{ ", 0, "expected a string");
    expect_bad("{", 0, "too short");
    expect_bad("{\"a\\x\":1}", 0, "invalid escape");
    expect_bad("{\"a\\u12G4\":1}", 0, "4 hex digits");
    expect_bad("{\"a\\u12\"}", 0, "4 hex digits");
    expect_bad("{\"\\ud800\":1}", 0, "without a low surrogate");
    expect_bad("{\"\\ud800\\u0041\":1}", 0, "without a low surrogate");
    expect_bad("{\"\\udc00\":1}", 0, "lone low surrogate");
    expect_bad("{\"a\\u0000b\":1}", 0, "NUL");
    expect_bad("{\"a\xff\":1}", 0, "invalid UTF-8");
    expect_bad("{\"a\xc0\x80\":1}", 0, "invalid UTF-8");        /* overlong */
    expect_bad("{\"a\xed\xa0\x80\":1}", 0, "invalid UTF-8");    /* encoded surrogate */
    expect_bad("{\"a\xe4\xb8\":1}", 0, "invalid UTF-8");        /* cut sequence */
    expect_bad("{\"a\tb\":1}", 0, "control character");
    expect_bad("{\"__metadata__\":{\"k\":1}}", 0, "only strings");
    expect_bad("{\"__metadata__\":{\"k\":\"1\",\"k\":\"2\"}}", 0, "duplicate __metadata__ key 'k'");
    expect_bad("{\"__metadata__\":{},\"__metadata__\":{}}", 0, "duplicate \"__metadata__\"");
    expect_bad("{\"__metadata__\":[]}", 0, "expected '{'");
    expect_bad("{\"a\":[]}", 0, "expected '{'");
}

static void test_bad_length_prefix(void **s) {
    (void)s;
    cg_safetensors *st;
    unsigned char b[32] = { 0 };
    /* Shorter than the length field. */
    assert_int_equal(cg_safetensors_open_mem(b, 5, "p", &st), CG_EIO);
    assert_non_null(strstr(cg_last_error(), "truncated"));
    assert_int_equal(cg_safetensors_open_mem(b, 0, "p", &st), CG_EIO);
    /* Header length past the end: no allocation of that size is attempted. */
    b[0] = 0xff; b[1] = 0xff; b[2] = 0xff; b[3] = 0xff; b[4] = 0xff; b[5] = 0xff; b[6] = 0xff; b[7] = 0x7f;
    assert_int_not_equal(cg_safetensors_open_mem(b, 32, "p", &st), CG_OK);
    assert_non_null(strstr(cg_last_error(), "100 MB"));
    memset(b, 0, 8);
    b[0] = 100;
    assert_int_equal(cg_safetensors_open_mem(b, 32, "p", &st), CG_EIO);
    assert_non_null(strstr(cg_last_error(), "header length 100"));
    uint64_t big = 200000000;   /* > 100 MB, in a file that really is small */
    for (int i = 0; i < 8; i++) b[i] = (unsigned char)(big >> (8 * i));
    assert_int_equal(cg_safetensors_open_mem(b, 32, "p", &st), CG_EFORMAT);
    assert_non_null(strstr(cg_last_error(), "100 MB"));
    memcpy(b, "# cgrad\n", 8);   /* a text file: said as such, before its "length" */
    assert_int_equal(cg_safetensors_open_mem(b, 32, "README.md", &st), CG_EFORMAT);
    assert_non_null(strstr(cg_last_error(), "README.md: not a safetensors file: it starts with text (\"# cgrad \")"));
    memset(b, 0, 8);   /* length 0 */
    assert_int_equal(cg_safetensors_open_mem(b, 8, "p", &st), CG_EFORMAT);
    assert_null(st);
    assert_int_equal(cg_safetensors_open(tpath("does-not-exist"), &st), CG_EIO);
    assert_non_null(strstr(cg_last_error(), "does-not-exist"));
    assert_int_equal(cg_safetensors_open(tmpdir, &st), CG_EIO);   /* a directory */
    assert_non_null(strstr(cg_last_error(), "not a regular file"));
    const char *fifo = tpath("fifo");   /* must neither hang waiting for a writer nor read it */
    assert_int_equal(mkfifo(fifo, 0600), 0);
    assert_int_equal(cg_safetensors_open(fifo, &st), CG_EIO);
    assert_non_null(strstr(cg_last_error(), "not a regular file"));
    assert_int_equal(cg_safetensors_open_mem(NULL, 8, "p", &st), CG_EINVAL);
}

static void test_header_error_names_byte_offset(void **s) {
    (void)s;
    const char *json = "{\"a\":" T("[1]", "[0,4]") " x}";
    char want[64];
    snprintf(want, sizeof want, "byte %zu of the file", (size_t)(strrchr(json, 'x') - json) + 8);
    expect_bad(json, 4, want);
}

/* ---- truncation ---------------------------------------------------------- */
static void test_truncated_files_always_error(void **s) {
    (void)s;
    cg_named_tensor items[] = {
        { "w", cg_tensor_arange(0, 12, 1) }, { "b", cg_tensor_full(1, CG_SHAPE(3), -1.0f) },
    };
    cg_kv meta[] = { { "step", "100" } };
    const char *path = tpath("full.safetensors"), *cut = tpath("cut.safetensors");
    assert_int_equal(cg_safetensors_save(path, items, 2, meta, 1), CG_OK);
    size_t size;
    unsigned char *raw = read_all(path, &size);
    cg_safetensors *st;
    assert_int_equal(cg_safetensors_open_mem(raw, size, "full", &st), CG_OK);
    cg_safetensors_close(st);
    for (size_t n = 0; n < size; n++) {
        cg_clear_error();
        cg_status rc = cg_safetensors_open_mem(raw, n, "cut", &st);
        if (rc == CG_OK || st || !cg_last_error()[0]) fail_msg("cut at %zu of %zu: status %d", n, size, rc);
        if (n % 5 == 0) {   /* and through a real file */
            write_all(cut, raw, n);
            cg_clear_error();
            rc = cg_safetensors_open(cut, &st);
            if (rc == CG_OK || st || !strstr(cg_last_error(), cut)) fail_msg("file cut at %zu: status %d", n, rc);
        }
    }
    /* A file that grew a byte is trailing garbage. */
    unsigned char *more = malloc(size + 1);
    memcpy(more, raw, size);
    more[size] = 0;
    assert_int_equal(cg_safetensors_open_mem(more, size + 1, "more", &st), CG_EFORMAT);
    free(more);
    free(raw);
    cg_tensor_free(items[0].tensor);
    cg_tensor_free(items[1].tensor);
}

/* ---- what sits at PATH and PATH.tmp is not ours to follow, replace or delete ---------------- */
static char *slurp(const char *path) {   /* small text file, NUL-terminated; caller frees */
    size_t n;
    unsigned char *b = read_all(path, &n);
    b[n] = 0;
    return (char *)b;
}

static bool is_link(const char *path) { struct stat sb; return lstat(path, &sb) == 0 && S_ISLNK(sb.st_mode); }

static void test_save_does_not_follow_or_delete_a_planted_tmp(void **s) {
    (void)s;
    cg_named_tensor it = { "x", cg_tensor_full(1, CG_SHAPE(3), 1.0f) };
    const char *path = tpath("planted.safetensors"), *victim = tpath("victim.txt");
    char tmp[600];
    /* A link at the old, predictable temporary name "<path>.tmp" (ln -s victim.txt
     * planted.safetensors.tmp): the temporary's name is random now, so the save succeeds, and the
     * link is neither followed nor removed. */
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    write_all(victim, "victim", 6);
    assert_int_equal(symlink(victim, tmp), 0);
    assert_int_equal(cg_safetensors_save(path, &it, 1, NULL, 0), CG_OK);
    char *v = slurp(victim);
    assert_string_equal(v, "victim");            /* not overwritten */
    free(v);
    assert_true(is_link(tmp));                   /* not removed */
    assert_false(is_link(path));                 /* path is a file of its own */
    assert_float_equal(first_value(path), 1.0f, 0);
    /* Someone else's regular file there is neither overwritten nor deleted, and blocks nothing. */
    assert_int_equal(unlink(tmp), 0);
    write_all(tmp, "theirs", 6);
    cg_tensor_fill_(it.tensor, 2.0f);
    assert_int_equal(cg_safetensors_save(path, &it, 1, NULL, 0), CG_OK);
    v = slurp(tmp);
    assert_string_equal(v, "theirs");
    free(v);
    assert_float_equal(first_value(path), 2.0f, 0);
    assert_int_equal(unlink(tmp), 0);
    assert_int_equal(temporaries_of(path), 0);
    /* Two writers of one path at once get two temporaries (the second does not fail on the first's). */
    cg_atomic_file w1, w2;
    assert_int_equal(cg_atomic_file_open(&w1, "test", path, false), CG_OK);
    assert_int_equal(cg_atomic_file_open(&w2, "test", path, false), CG_OK);
    assert_string_not_equal(w1.tmp, w2.tmp);
    assert_int_equal(temporaries_of(path), 2);
    cg_atomic_file_abort(&w1);
    cg_atomic_file_abort(&w2);
    assert_int_equal(temporaries_of(path), 0);
    cg_tensor_free(it.tensor);
}

static void test_save_refuses_a_target_that_is_not_a_regular_file(void **s) {
    (void)s;
    cg_named_tensor it = { "x", cg_tensor_full(1, CG_SHAPE(3), 1.0f) };
    /* A FIFO (as a device node would, where mknod is allowed): refused, left as it was. */
    const char *fifo = tpath("target-fifo");
    assert_int_equal(mkfifo(fifo, 0600), 0);
    assert_int_equal(cg_safetensors_save(fifo, &it, 1, NULL, 0), CG_EIO);
    assert_non_null(strstr(cg_last_error(), fifo));
    assert_non_null(strstr(cg_last_error(), "not a regular file"));
    struct stat sb;
    assert_int_equal(lstat(fifo, &sb), 0);
    assert_true(S_ISFIFO(sb.st_mode));
    assert_int_equal(temporaries_of(fifo), 0);
    /* A character device: refused before anything is written. Only as a non-root user, who cannot
     * write /dev anyway: as root, a build without the fix would replace the system's /dev/null. */
    if (geteuid() != 0 && stat("/dev/null", &sb) == 0 && S_ISCHR(sb.st_mode)) {
        assert_int_equal(cg_safetensors_save("/dev/null", &it, 1, NULL, 0), CG_EIO);
        assert_non_null(strstr(cg_last_error(), "/dev/null"));
        assert_non_null(strstr(cg_last_error(), "not a regular file"));
        assert_int_equal(stat("/dev/null", &sb), 0);
        assert_true(S_ISCHR(sb.st_mode));
    }
    /* A private device node (mknod c 1 3, where allowed: root with CAP_MKNOD) likewise. */
    const char *dev = tpath("target-dev");
    if (mknod(dev, S_IFCHR | 0600, makedev(1, 3)) == 0) {
        assert_int_equal(cg_safetensors_save(dev, &it, 1, NULL, 0), CG_EIO);
        assert_non_null(strstr(cg_last_error(), "not a regular file"));
        assert_int_equal(lstat(dev, &sb), 0);
        assert_true(S_ISCHR(sb.st_mode));
    }
    /* A symlink at PATH is refused (documented in io.h): neither the link nor its target changes. */
    const char *target = tpath("link-target.safetensors"), *link = tpath("link.safetensors");
    assert_int_equal(cg_safetensors_save(target, &it, 1, NULL, 0), CG_OK);
    size_t n0;
    unsigned char *before = read_all(target, &n0);
    assert_int_equal(symlink(target, link), 0);
    cg_tensor_fill_(it.tensor, 5.0f);
    assert_int_equal(cg_safetensors_save(link, &it, 1, NULL, 0), CG_EIO);
    assert_non_null(strstr(cg_last_error(), link));
    assert_non_null(strstr(cg_last_error(), "symbolic link"));
    assert_true(is_link(link));
    size_t n1;
    unsigned char *after = read_all(target, &n1);
    assert_int_equal(n0, n1);
    assert_memory_equal(before, after, n0);
    free(before);
    free(after);
    assert_int_equal(temporaries_of(link), 0);
    /* A dangling link likewise. */
    const char *dangling = tpath("dangling.safetensors");
    assert_int_equal(symlink(tpath("nowhere"), dangling), 0);
    assert_int_equal(cg_safetensors_save(dangling, &it, 1, NULL, 0), CG_EIO);
    assert_true(is_link(dangling));
    assert_false(exists(tpath("nowhere")));
    cg_tensor_free(it.tensor);
}

/* ---- a signal during a save leaves no temporary ---------------------------------------------- */
static void *sleeper(void *arg) { (void)arg; for (;;) pause(); return NULL; }

static int count_tmp_files(const char *dir) {
    DIR *d = opendir(dir);
    assert_non_null(d);
    int k = 0;
    struct dirent *e;
    while ((e = readdir(d))) if (strstr(e->d_name, ".tmp")) k++;
    closedir(d);
    return k;
}

static void test_signal_during_save_leaves_no_temporary(void **s) {
    (void)s;
    char dir[600];
    snprintf(dir, sizeof dir, "%s/sig", tmpdir);
    assert_int_equal(mkdir(dir, 0700), 0);
    char path[700];
    snprintf(path, sizeof path, "%s/big.safetensors", dir);
    cg_named_tensor it = { "w", cg_tensor_full(1, CG_SHAPE(2 << 20), 0.25f) };   /* 8 MB */
    const int sigs[3] = { SIGINT, SIGTERM, SIGHUP };
    int interrupted = 0;
    for (int trial = 0; trial < 24; trial++) {
        pid_t pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
            /* Another thread with the signals unblocked, as OpenMP's and OpenBLAS's are: blocking
             * them in the saving thread alone would not keep the process alive. */
            pthread_t th;
            if (pthread_create(&th, NULL, sleeper, NULL) != 0) _exit(4);
            cg_safetensors_set_defer_signals(true);   /* as the programs do */
            for (;;)
                if (cg_safetensors_save(path, &it, 1, NULL, 0) != CG_OK) {
                    fprintf(stderr, "child: %s\n", cg_last_error());
                    _exit(3);
                }
        }
        struct timespec ts = { 0, (long)(2 + (trial * 7) % 40) * 1000000L };
        nanosleep(&ts, NULL);
        int sig = sigs[trial % 3];
        assert_int_equal(kill(pid, sig), 0);
        int status;
        assert_int_equal(waitpid(pid, &status, 0), pid);
        if (!WIFSIGNALED(status)) fail_msg("trial %d: the child exited with %d instead of dying of signal %d",
                                           trial, WIFEXITED(status) ? WEXITSTATUS(status) : -1, sig);
        assert_int_equal(WTERMSIG(status), sig);   /* the signal still ends the process */
        interrupted++;
        int left = count_tmp_files(dir);
        if (left) fail_msg("trial %d: signal %d left %d temporary file(s) in %s", trial, sig, left, dir);
        if (exists(path)) {   /* whatever is there is a complete checkpoint */
            cg_safetensors *st;
            assert_int_equal(cg_safetensors_open(path, &st), CG_OK);
            cg_safetensors_close(st);
        }
    }
    assert_int_equal(interrupted, 24);
    cg_tensor_free(it.tensor);
}

/* ---- signal deferral is opt-in ------------------------------------------------------------ */
/* Polls SIGINT's disposition while the main thread saves: counts how often it was not SIG_DFL. */
typedef struct { atomic_int stop; atomic_int seen; } poll_state;
static void *poll_sigint(void *arg) {
    poll_state *ps = arg;
    while (!atomic_load(&ps->stop)) {
        struct sigaction sa;
        if (sigaction(SIGINT, NULL, &sa) == 0 && ((sa.sa_flags & SA_SIGINFO) || sa.sa_handler != SIG_DFL))
            atomic_fetch_add(&ps->seen, 1);
    }
    return NULL;
}

/* Saves (up to max times, stopping once a handler was seen) with a poller running; returns the
 * number of polls that saw a handler on SIGINT. */
static int handler_seen_during_saves(const char *path, const cg_named_tensor *it, int max) {
    poll_state ps;
    atomic_init(&ps.stop, 0);
    atomic_init(&ps.seen, 0);
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, poll_sigint, &ps), 0);
    for (int i = 0; i < max && !atomic_load(&ps.seen); i++) assert_int_equal(cg_safetensors_save(path, it, 1, NULL, 0), CG_OK);
    atomic_store(&ps.stop, 1);
    pthread_join(th, NULL);
    return atomic_load(&ps.seen);
}

static void test_signal_deferral_is_opt_in(void **s) {
    (void)s;
    struct sigaction before, after;
    assert_int_equal(sigaction(SIGINT, NULL, &before), 0);
    assert_true(before.sa_handler == SIG_DFL);
    cg_named_tensor it = { "w", cg_tensor_full(1, CG_SHAPE(1 << 20), 0.5f) };   /* 4 MB */
    const char *path = tpath("optin.safetensors");
    /* Off by default: a library caller's saves never install a handler. */
    assert_false(cg_safetensors_set_defer_signals(false));
    assert_int_equal(handler_seen_during_saves(path, &it, 40), 0);
    /* On (the programs' setting): a handler is there while the temporary exists ... */
    assert_false(cg_safetensors_set_defer_signals(true));
    assert_true(handler_seen_during_saves(path, &it, 2000) > 0);
    /* ... and gone after the save. */
    assert_true(cg_safetensors_set_defer_signals(false));
    assert_int_equal(sigaction(SIGINT, NULL, &after), 0);
    assert_true(after.sa_handler == SIG_DFL && !(after.sa_flags & SA_SIGINFO));
    assert_int_equal(temporaries_of(tpath("optin.safetensors")), 0);
    cg_tensor_free(it.tensor);
}

/* The writer itself: the handler exists exactly from open to commit/abort, and only when asked. */
static void test_atomic_file_defers_signals_only_when_asked(void **s) {
    (void)s;
    const char *path = tpath("aw.bin");
    struct sigaction sa;
    for (int defer = 0; defer < 2; defer++) {
        cg_atomic_file w;
        assert_int_equal(cg_atomic_file_open(&w, "test", path, defer), CG_OK);
        assert_true(exists(w.tmp));
        assert_int_equal(temporaries_of(path), 1);
        assert_int_equal(sigaction(SIGTERM, NULL, &sa), 0);
        assert_int_equal(sa.sa_handler != SIG_DFL, defer);
        assert_int_equal(cg_atomic_file_write(&w, "abc", 3), CG_OK);
        if (defer) assert_int_equal(cg_atomic_file_commit(&w), CG_OK);
        else cg_atomic_file_abort(&w);
        assert_int_equal(temporaries_of(path), 0);
        assert_int_equal(exists(path), defer);   /* abort leaves path as it was (absent) */
        assert_int_equal(sigaction(SIGTERM, NULL, &sa), 0);
        assert_true(sa.sa_handler == SIG_DFL);
    }
    /* Its refusals name the caller. */
    assert_int_equal(symlink(path, tpath("aw.link")), 0);
    cg_atomic_file w;
    assert_int_equal(cg_atomic_file_open(&w, "who", tpath("aw.link"), true), CG_EIO);
    assert_non_null(strstr(cg_last_error(), "who "));
    assert_non_null(strstr(cg_last_error(), "symbolic link"));
    assert_int_equal(sigaction(SIGTERM, NULL, &sa), 0);
    assert_true(sa.sa_handler == SIG_DFL);
}

/* ---- a sparse file: the header is checked before the data is read ------------------------ */

static void test_sparse_file_is_refused_without_reading_it(void **s) {
    (void)s;
    cg_named_tensor it = { "w", cg_tensor_full(2, CG_SHAPE(64, 64), 0.5f) };
    const char *path = tpath("sparse.safetensors");
    assert_int_equal(cg_safetensors_save(path, &it, 1, NULL, 0), CG_OK);
    struct stat sb;
    assert_int_equal(stat(path, &sb), 0);
    off_t real = sb.st_size;
    cg_allocator a = largest_allocator;
    cg_safetensors *st = NULL;
    g_largest = 0;
    cg_set_allocator(&a);
    cg_status rc = cg_safetensors_open(path, &st);   /* the real file still opens */
    cg_set_allocator(NULL);
    assert_int_equal(rc, CG_OK);
    cg_safetensors_close(st);
    /* `truncate -s 3G` on it: 3 GB of holes after the tensors. */
    int fd = open(path, O_WRONLY);
    assert_true(fd >= 0);
    assert_int_equal(ftruncate(fd, (off_t)3 << 30), 0);
    close(fd);
    g_largest = 0;
    cg_set_allocator(&a);
    rc = cg_safetensors_open(path, &st);
    cg_set_allocator(NULL);
    if (rc != CG_EFORMAT || g_largest >= (1u << 20))
        print_error("status %d, largest allocation %zu, message \"%s\"\n", rc, g_largest, cg_last_error());
    assert_int_equal(rc, CG_EFORMAT);
    assert_null(st);
    assert_non_null(strstr(cg_last_error(), "sparse.safetensors"));
    assert_non_null(strstr(cg_last_error(), "trailing garbage"));
    assert_true(g_largest < (1u << 20));   /* the header and the tensors' 16 KB, not the 3 GB */
    /* A file shorter than its header covers is still CG_EIO/CG_EFORMAT, without reading past it. */
    fd = open(path, O_WRONLY);
    assert_int_equal(ftruncate(fd, real - 1), 0);
    close(fd);
    assert_int_not_equal(cg_safetensors_open(path, &st), CG_OK);
    assert_non_null(strstr(cg_last_error(), "sparse.safetensors"));
    unlink(path);
    cg_tensor_free(it.tensor);
}

/* ---- load_into ----------------------------------------------------------- */
static void test_load_into_errors(void **s) {
    (void)s;
    cg_tensor *w = cg_tensor_arange(0, 6, 1);
    cg_tensor *w23 = cg_tensor_from_array(2, CG_SHAPE(2, 3), cg_tensor_cdata(w));
    cg_named_tensor items[] = { { "w", w23 } };
    const char *path = tpath("li.safetensors");
    assert_int_equal(cg_safetensors_save(path, items, 1, NULL, 0), CG_OK);
    cg_safetensors *st;
    assert_int_equal(cg_safetensors_open(path, &st), CG_OK);

    cg_tensor *ok = cg_tensor_full(2, CG_SHAPE(2, 3), 9.0f), *t32 = cg_tensor_zeros(2, CG_SHAPE(3, 2));
    cg_named_tensor missing[] = { { "w", ok }, { "nope", ok } };
    assert_int_equal(cg_safetensors_load_into(st, missing, 2), CG_EFORMAT);
    assert_non_null(strstr(cg_last_error(), "no tensor named 'nope'"));
    assert_non_null(strstr(cg_last_error(), path));
    assert_float_equal(cg_tensor_data(ok)[0], 9.0f, 0);   /* nothing copied on failure */
    cg_named_tensor shape[] = { { "w", t32 } };
    assert_int_equal(cg_safetensors_load_into(st, shape, 1), CG_ESHAPE);
    assert_non_null(strstr(cg_last_error(), "[2, 3]"));
    assert_non_null(strstr(cg_last_error(), "[3, 2]"));
    cg_named_tensor flat[] = { { "w", w } };   /* same numel, other rank */
    assert_int_equal(cg_safetensors_load_into(st, flat, 1), CG_ESHAPE);
    cg_named_tensor good[] = { { "w", ok } };
    assert_int_equal(cg_safetensors_load_into(st, good, 1), CG_OK);
    assert_float_equal(cg_tensor_data(ok)[5], 5.0f, 0);
    assert_int_not_equal(cg_safetensors_load_into(NULL, good, 1), CG_OK);
    cg_safetensors_close(st);

    /* dtype: an F64 tensor does not load, but converts through the view. */
    assert_int_equal(parse("{\"w\":{\"dtype\":\"F64\",\"shape\":[2,3],\"data_offsets\":[0,48]}}", 48, &st), CG_OK);
    assert_int_equal(cg_safetensors_load_into(st, good, 1), CG_EFORMAT);
    assert_non_null(strstr(cg_last_error(), "dtype F64"));
    float f[6];
    assert_int_equal(cg_safetensors_to_f32(cg_safetensors_find(st, "w"), f, 6), CG_OK);
    assert_int_equal(cg_safetensors_to_f32(cg_safetensors_find(st, "w"), f, 5), CG_ESHAPE);
    cg_safetensors_close(st);
    assert_int_equal(parse("{\"u\":{\"dtype\":\"U8\",\"shape\":[3],\"data_offsets\":[0,3]}}", 3, &st), CG_OK);
    assert_int_equal(cg_safetensors_to_f32(cg_safetensors_find(st, "u"), f, 3), CG_EFORMAT);
    cg_safetensors_close(st);

    cg_tensor_free(w);
    cg_tensor_free(w23);
    cg_tensor_free(ok);
    cg_tensor_free(t32);
}

/* ---- interchange with numpy ---------------------------------------------- */
static void test_numpy_interchange(void **s) {
    (void)s;
    if (system("/usr/bin/python3 -c 'import numpy' >/dev/null 2>&1") != 0) {
        print_message("skipped: /usr/bin/python3 with numpy not found\n");
        skip();
    }
    char cmd[1200];
    const char *py = tpath("from_numpy.safetensors");
    snprintf(cmd, sizeof cmd, "/usr/bin/python3 '%s/tests/safetensors_ref.py' write '%s'", CG_SOURCE_DIR, py);
    assert_int_equal(system(cmd), 0);
    cg_safetensors *st;
    assert_int_equal(cg_safetensors_open(py, &st), CG_OK);
    assert_int_equal(cg_safetensors_count(st), 5);
    float f[6];
    const cg_st_tensor *t = cg_safetensors_find(st, "f32");
    assert_int_equal(t->ndim, 2);
    assert_int_equal(cg_safetensors_to_f32(t, f, 6), CG_OK);
    for (int i = 0; i < 6; i++) assert_float_equal(f[i], i * 0.5f - 1, 0);
    t = cg_safetensors_find(st, "f64");
    assert_int_equal(t->dtype, CG_ST_F64);
    double d[3];
    memcpy(d, t->data, sizeof d);
    assert_true(d[0] == 1.5 && d[1] == -2.25 && d[2] == 1e-3);
    t = cg_safetensors_find(st, "i64");
    assert_int_equal(t->dtype, CG_ST_I64);
    int64_t iv[4];
    memcpy(iv, t->data, sizeof iv);
    assert_true(iv[0] == 1 && iv[1] == -2 && iv[2] == 3 && iv[3] == 4000000000LL);
    assert_int_equal(cg_safetensors_to_f32(t, f, 4), CG_OK);
    assert_float_equal(f[1], -2.0f, 0);
    t = cg_safetensors_find(st, "scalar");
    assert_int_equal(t->ndim, 0);
    assert_int_equal(cg_safetensors_to_f32(t, f, 1), CG_OK);
    assert_float_equal(f[0], 3.5f, 0);
    assert_non_null(cg_safetensors_find(st, "caf\xc3\xa9/\xe4\xb8\xad\"q"));
    assert_string_equal(cg_safetensors_meta(st, "framework"), "numpy");
    assert_string_equal(cg_safetensors_meta(st, "note"), "\xcf\x80 \xe2\x89\x88 3.14");
    cg_safetensors_close(st);

    /* cgrad writes, numpy checks (values fixed in safetensors_ref.py:expected_read). */
    float a[6], b[4] = { 1e-8f, -3.0f, 65504.0f, 1.0f / 3.0f };
    for (int i = 0; i < 6; i++) a[i] = i * 0.25f - 0.5f;
    cg_named_tensor items[] = { { "b.weight", cg_tensor_from_array(1, CG_SHAPE(4), b) },
                                { "a", cg_tensor_from_array(2, CG_SHAPE(2, 3), a) } };
    cg_kv meta[] = { { "epoch", "7" } };
    const char *out = tpath("from_cgrad.safetensors");
    assert_int_equal(cg_safetensors_save(out, items, 2, meta, 1), CG_OK);
    snprintf(cmd, sizeof cmd, "/usr/bin/python3 '%s/tests/safetensors_ref.py' check '%s'", CG_SOURCE_DIR, out);
    assert_int_equal(system(cmd), 0);
    cg_tensor_free(items[0].tensor);
    cg_tensor_free(items[1].tensor);
}

/* ---- regressions from fuzzing -------------------------------------------- */
static void test_fuzz_corpus_parses_without_crashing(void **s) {
    (void)s;
    /* Every seed and regression input in tests/fuzz/corpus_safetensors: parse, and read every
     * view and metadata entry (the fuzzer does the same). Validity varies; crashes must not. */
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "ls '%s/tests/fuzz/corpus_safetensors'", CG_SOURCE_DIR);
    FILE *ls = popen(cmd, "r");
    assert_non_null(ls);
    char name[512];
    int files = 0;
    while (fgets(name, sizeof name, ls)) {
        name[strcspn(name, "\n")] = '\0';
        char path[1100];
        snprintf(path, sizeof path, "%s/tests/fuzz/corpus_safetensors/%s", CG_SOURCE_DIR, name);
        cg_safetensors *st;
        if (cg_safetensors_open(path, &st) == CG_OK) {
            for (int64_t i = 0; i < cg_safetensors_count(st); i++) {
                const cg_st_tensor *t = cg_safetensors_at(st, i);
                assert_ptr_equal(cg_safetensors_find(st, t->name), t);
            }
            cg_safetensors_close(st);
        } else {
            assert_true(cg_last_error()[0] != '\0');
        }
        files++;
    }
    pclose(ls);
    assert_true(files >= 4);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip_is_bit_exact),
        cmocka_unit_test(test_empty_and_edge_files_parse),
        cmocka_unit_test(test_atomic_save),
        cmocka_unit_test(test_save_argument_errors),
        cmocka_unit_test(test_malformed_headers_are_errors),
        cmocka_unit_test(test_bad_length_prefix),
        cmocka_unit_test(test_header_error_names_byte_offset),
        cmocka_unit_test(test_truncated_files_always_error),
        cmocka_unit_test(test_save_does_not_follow_or_delete_a_planted_tmp),
        cmocka_unit_test(test_save_refuses_a_target_that_is_not_a_regular_file),
        cmocka_unit_test(test_signal_during_save_leaves_no_temporary),
        cmocka_unit_test(test_signal_deferral_is_opt_in),
        cmocka_unit_test(test_atomic_file_defers_signals_only_when_asked),
        cmocka_unit_test(test_sparse_file_is_refused_without_reading_it),
        cmocka_unit_test(test_load_into_errors),
        cmocka_unit_test(test_numpy_interchange),
        cmocka_unit_test(test_fuzz_corpus_parses_without_crashing),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
