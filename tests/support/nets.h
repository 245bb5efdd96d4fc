/* SPDX-License-Identifier: MIT */
/* tests/support/nets.h — the seed network for tests, built from its one definition
 * (apps/nets/seed.net, as CG_SEED_NET_SPEC) for [N,1,28,28] inputs. */
#ifndef CGRAD_TEST_NETS_H
#define CGRAD_TEST_NETS_H
#include <cgrad/cgrad.h>
#include "seed_net.h"

/* The caller's (cg_module_free); fails the test (cmocka) if the spec does not build. */
cg_module *test_seed_net(void);
#endif
