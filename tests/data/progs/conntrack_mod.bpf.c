// SPDX-License-Identifier: GPL-2.0
/*
 * Relocations against kernel MODULE types (nf_conntrack) mixed with vmlinux
 * types: struct nf_conn is in vmlinux BTF, nf_conn_acct / nf_conn_counter /
 * nf_conn_help / bpf_ct_opts / nf_conntrack_l4proto only in the module's
 * split BTF.  atomic64_t (reached through the module struct) is a vmlinux
 * typedef of an anonymous struct.  Used with `minimize --module`.
 */
#include <linux/types.h>
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>

typedef struct {
	long long counter;
} atomic64_t;

struct nf_conn {
	unsigned long status;
	unsigned int mark;
} __attribute__((preserve_access_index));

struct nf_conn_counter {
	atomic64_t packets;
	atomic64_t bytes;
} __attribute__((preserve_access_index));

struct nf_conn_acct {
	struct nf_conn_counter counter[2];
} __attribute__((preserve_access_index));

struct nf_conntrack_helper;

struct nf_conn_help {
	struct nf_conntrack_helper *helper;
	__u8 expecting[4];
} __attribute__((preserve_access_index));

struct bpf_ct_opts {
	__s32 netns_id;
	__s32 error;
	__u8 l4proto;
	__u8 dir;
} __attribute__((preserve_access_index));

struct nf_conntrack_l4proto {
	__u16 l4proto;
} __attribute__((preserve_access_index));

struct nf_conntrack_gone___x {
	int nothing;
} __attribute__((preserve_access_index));

struct ct_event {
	unsigned long status;
	unsigned int mark;
	long long packets;
	long long bytes;
	int opts_error;
	int has_help;
	int l4proto_size;
	int gone;
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct ct_event);
} ct_events SEC(".maps");

SEC("kprobe/nf_ct_acct_add")
int conntrack_acct(struct nf_conn *ct)
{
	__u32 zero = 0;
	struct ct_event *e = bpf_map_lookup_elem(&ct_events, &zero);
	struct nf_conn_acct *acct = (void *)ct;  /* stands for nf_conn_acct_find() */
	struct nf_conn_help *help = (void *)ct;
	struct bpf_ct_opts *opts = (void *)ct;

	if (!e)
		return 0;
	e->status = BPF_CORE_READ(ct, status);
	e->mark = BPF_CORE_READ(ct, mark);
	e->packets = BPF_CORE_READ(acct, counter[0].packets.counter);
	e->bytes = BPF_CORE_READ(acct, counter[1].bytes.counter);
	e->opts_error = BPF_CORE_READ(opts, error);
	e->has_help = bpf_core_field_exists(help->helper);
	e->l4proto_size = bpf_core_type_size(struct nf_conntrack_l4proto);
	e->gone = bpf_core_type_exists(struct nf_conntrack_gone___x);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
