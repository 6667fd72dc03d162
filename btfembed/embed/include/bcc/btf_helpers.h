/* SPDX-License-Identifier: Apache-2.0 */
/*
 * btf_helpers.h - a drop-in for bcc libbpf-tools' btf_helpers.h, backed by
 * BTF that btfembed embedded (pack format 3) instead of the
 * min_core_btfs.tar.gz archive.
 *
 * Replace libbpf-tools' btf_helpers.c and the tarball object with:
 *
 *     btfembed build *.bpf.o --kernels btfhub-archive --out-dir out \
 *         --emit c --output min_core_btfs --prefix bcc_core
 *     cc -c min_core_btfs.c -I"$(btfembed --includedir)"        # link -lz
 *     cc -c "$(btfembed --includedir)/bcc/btf_helpers.c" -I"$(btfembed --includedir)"
 *
 * The tools' sources stay as they are:
 *
 *     LIBBPF_OPTS(bpf_object_open_opts, open_opts);
 *     err = ensure_core_btf(&open_opts);
 *     if (err) { fprintf(stderr, "failed to fetch necessary BTF for CO-RE: %s\n", strerror(-err)); ... }
 *     obj = tool_bpf__open_opts(&open_opts);
 *     ...
 *     cleanup_core_btf(&open_opts);
 *
 * ensure_core_btf(): 0 and opts untouched when the kernel has its own BTF
 * (/sys/kernel/btf/vmlinux); 0 with opts->btf_custom_path set to the
 * embedded BTF of the running kernel (a path owned by these helpers, valid
 * until cleanup_core_btf()); -EINVAL when no embedded BTF fits this kernel
 * (as bcc's helper when the tarball has none), or the runtime's negative
 * errno (-EBADMSG: corrupt embedded data, -ENOMEM ...).  The runtime's
 * rules and environment variables apply (BTFEMBED_FORCE, BTFEMBED_KEY,
 * BTFEMBED_HOST_ROOT, BTFEMBED_DEBUG ...: see btfembed.h).
 *
 * cleanup_core_btf(): releases what ensure_core_btf() set up and clears
 * opts->btf_custom_path; a path it did not set is left alone (unlike
 * bcc's, which unlinks and frees whatever is there).
 *
 * One ensure/cleanup pair at a time (the tools' pattern); not thread-safe.
 */
#ifndef __BTF_HELPERS_H
#define __BTF_HELPERS_H

#include <bpf/libbpf.h>

int ensure_core_btf(struct bpf_object_open_opts *opts);
void cleanup_core_btf(struct bpf_object_open_opts *opts);

#endif /* __BTF_HELPERS_H */
