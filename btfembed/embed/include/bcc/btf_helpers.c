/* SPDX-License-Identifier: Apache-2.0 */
/*
 * btf_helpers.c - bcc libbpf-tools' ensure_core_btf()/cleanup_core_btf()
 * over a table generated with `btfembed generate ... --prefix bcc_core`
 * (see btf_helpers.h).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "btfembed.h"
#include "btf_helpers.h"

/* From the generated min_core_btfs.c (--prefix bcc_core). */
int bcc_core_btf_path(struct btfembed_btf *out);

static struct btfembed_btf btfembed__bcc_btf;
static char *btfembed__bcc_path;

int ensure_core_btf(struct bpf_object_open_opts *opts)
{
	int rc;

	if (!opts)
		return -EINVAL;
	rc = bcc_core_btf_path(&btfembed__bcc_btf);
	if (rc == BTFEMBED_KERNEL_BTF)
		return 0;
	if (rc == BTFEMBED_NO_MATCH || rc == BTFEMBED_AMBIGUOUS)
		return -EINVAL;
	if (rc < 0)
		return rc;
	btfembed__bcc_path = strdup(btfembed__bcc_btf.path);
	if (!btfembed__bcc_path) {
		btfembed_release(&btfembed__bcc_btf);
		return -ENOMEM;
	}
	opts->btf_custom_path = btfembed__bcc_path;
	return 0;
}

void cleanup_core_btf(struct bpf_object_open_opts *opts)
{
	if (!opts || !btfembed__bcc_path || opts->btf_custom_path != btfembed__bcc_path)
		return;
	opts->btf_custom_path = NULL;
	free(btfembed__bcc_path);
	btfembed__bcc_path = NULL;
	btfembed_release(&btfembed__bcc_btf);
}
