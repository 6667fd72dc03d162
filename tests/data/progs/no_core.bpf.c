// SPDX-License-Identifier: GPL-2.0
/*
 * no_core.bpf.c - an object WITH .BTF and .BTF.ext (func_info, line_info) but
 * WITHOUT any CO-RE relocation record.
 *
 * A socket filter that only touches its context (struct __sk_buff, a UAPI
 * type that the verifier rewrites; it is NOT marked preserve_access_index)
 * and a global counter.  A minimizer must treat it as "nothing to keep".
 */
typedef unsigned char __u8;
typedef unsigned short __u16;
typedef unsigned int __u32;
typedef unsigned long long __u64;
typedef signed char __s8;
typedef short __s16;
typedef int __s32;
typedef long long __s64;
typedef __u16 __be16;
typedef __u32 __be32;
typedef __u32 __wsum;

#include <bpf/bpf_helpers.h>

/* leading part of the UAPI struct __sk_buff (layout is fixed ABI) */
struct __sk_buff {
	__u32 len;
	__u32 pkt_type;
	__u32 mark;
	__u32 queue_mapping;
	__u32 protocol;
};

__u64 seen_packets;
__u64 seen_bytes;

SEC("socket")
int no_core_filter(struct __sk_buff *skb)
{
	__sync_fetch_and_add(&seen_packets, 1);
	__sync_fetch_and_add(&seen_bytes, skb->len);
	/* accept only PACKET_HOST (0) frames */
	return skb->pkt_type == 0 ? skb->len : 0;
}

char LICENSE[] SEC("license") = "GPL";
