/* SPDX-License-Identifier: MIT */
/* tests/support/nets.c — see nets.h. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include "nets.h"

cg_module *test_seed_net(void) {
    cg_module *m = cg_net_from_spec(CG_SEED_NET_SPEC, 3, CG_SHAPE(1, 28, 28), NULL);
    if (!m) fail_msg("the seed net spec: %s", cg_last_error());
    return m;
}
