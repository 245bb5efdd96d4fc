/* SPDX-License-Identifier: MIT */
/* tests/python/net_run.c — cgrad's side of the Python package's tests (tests/python.cmake).
 *
 *   net_run run CKPT C,H,W IN.f32 OUT.f32   build the checkpoint's net from its "net" spec for
 *        examples of shape [C,H,W] (or [F]), restore the weights, and write the eval-mode outputs
 *        of the N examples of IN.f32 (raw little-endian float32, N x C x H x W) to OUT.f32 (raw
 *        float32, N x outputs), one forward of the whole batch.
 *   net_run save SPEC C,H,W SEED OUT        the net of SPEC initialised from SEED, saved with
 *        cg_checkpoint_save (a file cgrad wrote, for the safetensors writer's byte check).
 * Exit 0, or 1 with cgrad's message. */
#include <cgrad/cgrad.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int fail(const char *what) {
    fprintf(stderr, "net_run: %s: %s\n", what, cg_last_error());
    return 1;
}

static int parse_shape(const char *s, int64_t *shape) {
    int n = 0;
    char *end;
    while (n < 3) {
        shape[n++] = strtoll(s, &end, 10);
        if (*end != ',') break;
        s = end + 1;
    }
    return *end ? -1 : n;
}

int main(int argc, char **argv) {
    int64_t shape[4];
    if (argc == 6 && !strcmp(argv[1], "save")) {
        int nd = parse_shape(argv[3], shape);
        if (nd < 1) { fprintf(stderr, "net_run: bad shape %s\n", argv[3]); return 2; }
        cg_manual_seed(strtoull(argv[4], NULL, 10));
        cg_module *net = cg_net_from_spec(argv[2], nd, shape, NULL);
        if (!net) return fail("spec");
        cg_status s = cg_checkpoint_save(argv[5], net, NULL, NULL, 0);
        cg_module_free(net);
        return s == CG_OK ? 0 : fail("save");
    }
    if (argc != 6 || strcmp(argv[1], "run")) {
        fprintf(stderr, "usage: net_run run CKPT C,H,W IN.f32 OUT.f32 | net_run save SPEC C,H,W SEED OUT\n");
        return 2;
    }
    int nd = parse_shape(argv[3], shape + 1);
    if (nd < 1) { fprintf(stderr, "net_run: bad shape %s\n", argv[3]); return 2; }
    cg_safetensors *st;
    if (cg_safetensors_open(argv[2], &st) != CG_OK) return fail(argv[2]);
    const char *spec = cg_safetensors_meta(st, "net");
    if (!spec) { fprintf(stderr, "net_run: %s has no net spec\n", argv[2]); return 1; }
    cg_module *net = cg_net_from_spec(spec, nd, shape + 1, NULL);
    if (!net) return fail("spec");
    if (cg_checkpoint_restore(st, net, NULL) != CG_OK) return fail("restore");
    cg_safetensors_close(st);
    cg_module_train(net, false);

    FILE *f = fopen(argv[4], "rb");
    if (!f) { perror(argv[4]); return 1; }
    fseek(f, 0, SEEK_END);
    long bytes = ftell(f);
    fseek(f, 0, SEEK_SET);
    int64_t per = 1;
    for (int d = 1; d <= nd; d++) per *= shape[d];
    if (bytes <= 0 || bytes % (long)(per * 4)) { fprintf(stderr, "net_run: %s: %ld bytes\n", argv[4], bytes); return 1; }
    shape[0] = bytes / (per * 4);
    float *x = malloc((size_t)bytes);
    if (!x || fread(x, 1, (size_t)bytes, f) != (size_t)bytes) { fprintf(stderr, "net_run: read %s\n", argv[4]); return 1; }
    fclose(f);
    cg_tensor *in = cg_tensor_from_data(CG_F32, nd + 1, shape, x);
    bool was = cg_set_grad_enabled(false);
    cg_tensor *out = cg_module_forward(net, in);
    cg_set_grad_enabled(was);
    if (!out) return fail("forward");
    FILE *o = fopen(argv[5], "wb");
    int64_t n = cg_tensor_numel(out);
    if (!o || fwrite(cg_tensor_cdata(out), 4, (size_t)n, o) != (size_t)n || fclose(o)) { perror(argv[5]); return 1; }
    cg_tensor_free(in);
    cg_tape_release();
    cg_module_free(net);
    free(x);
    return 0;
}
