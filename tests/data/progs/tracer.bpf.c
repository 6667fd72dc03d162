// SPDX-License-Identifier: GPL-2.0
/*
 * tracer.bpf.c - the "large real tool" object of the corpus.
 *
 * Targets REAL kernel BTF (4.18 .. 7.1, x86_64 and arm64).  Several programs in
 * one object (tracepoints, kprobe, ksyscall, raw_tp), one global subprogram and
 * one static subprogram that both carry relocations, plus:
 *   - field relocations over ~25 kernel types (task_struct, mm_struct, cred,
 *     nsproxy, pid, files_struct, file, dentry, inode, sock, sk_buff, ...),
 *     pointer chains (t->real_parent->tgid), array indexing (args[2],
 *     numbers[0]), flexible arrays (trace_event_raw_*::__data), members that
 *     live in anonymous structs/unions on some kernels (mm_struct::arg_start,
 *     file::f_path, dentry::d_name), typedef'd members (kuid_t.val);
 *   - flavors: task_struct___old.state vs task_struct.__state,
 *     kernfs_node___new.__parent vs kernfs_node.parent, enum bpf_func_id___x;
 *   - bitfield reads (BPF_CORE_READ_BITFIELD_PROBED) of sock::sk_protocol
 *     (a bitfield before 5.6, a u16 afterwards) and sk_buff::pkt_type;
 *   - TYPE_EXISTS (struct bpf_iter_num: only >= 6.4), TYPE_SIZE (struct file),
 *     TYPE_ID_LOCAL (task_struct), TYPE_ID_TARGET (bpf_iter_num), ENUMVAL_EXISTS and
 *     ENUMVAL_VALUE (enum bpf_func_id, enum pid_type), FIELD_EXISTS, _SIZE.
 *   - pt_regs relocations from BPF_KPROBE/BPF_KSYSCALL; the arch is selected
 *     with -D__TARGET_ARCH_x86 or -D__TARGET_ARCH_arm64.
 * No vmlinux.h: every kernel type is declared locally (only the members used)
 * with preserve_access_index.
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

/* bpf_tracing.h picks the kernel's pt_regs member names when vmlinux.h-style
 * local kernel types are in use. */
#define __VMLINUX_H__ 1
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_tracing.h>

#define __pai __attribute__((preserve_access_index))

typedef __u32 u32;
typedef __u64 u64;
typedef __u16 u16;
typedef __u8 u8;
typedef int pid_t;
typedef long long loff_t;
typedef unsigned int fmode_t;
typedef unsigned int dev_t;
typedef unsigned short umode_t;
typedef unsigned long size_t;

#if defined(__TARGET_ARCH_x86)
struct pt_regs {
	unsigned long r15, r14, r13, r12, bp, bx, r11, r10, r9, r8;
	unsigned long ax, cx, dx, si, di, orig_ax, ip, cs, flags, sp, ss;
} __pai;
#elif defined(__TARGET_ARCH_arm64)
struct user_pt_regs {
	__u64 regs[31];
	__u64 sp;
	__u64 pc;
	__u64 pstate;
} __pai;
struct pt_regs {
	union {
		struct user_pt_regs user_regs;
		struct {
			__u64 regs[31];
			__u64 sp;
			__u64 pc;
			__u64 pstate;
		};
	};
	__u64 orig_x0;
} __pai;
#else
#error "build with -D__TARGET_ARCH_x86 or -D__TARGET_ARCH_arm64"
#endif

/* ---- scheduler / process types ---- */
typedef struct { unsigned int val; } kuid_t;
typedef struct { unsigned int val; } kgid_t;

struct trace_entry {
	unsigned short type;
	unsigned char flags;
	unsigned char preempt_count;
	int pid;
} __pai;

struct trace_event_raw_sched_switch {
	struct trace_entry ent;
	char prev_comm[16];
	pid_t prev_pid;
	int prev_prio;
	long prev_state;
	char next_comm[16];
	pid_t next_pid;
	int next_prio;
	char __data[0];
} __pai;

struct trace_event_raw_sys_enter {
	struct trace_entry ent;
	long id;
	unsigned long args[6];
	char __data[0];
} __pai;

struct trace_event_raw_sched_process_exec {
	struct trace_entry ent;
	u32 __data_loc_filename;
	pid_t pid;
	pid_t old_pid;
	char __data[0];
} __pai;

struct pid_namespace {
	unsigned int level;
} __pai;

struct upid {
	int nr;
	struct pid_namespace *ns;
} __pai;

struct pid {
	unsigned int level;
	struct upid numbers[1];
} __pai;

struct nsproxy {
	struct pid_namespace *pid_ns_for_children;
} __pai;

struct cred {
	kuid_t uid;
	kgid_t gid;
	kuid_t euid;
} __pai;

struct mm_struct {
	unsigned long arg_start;
	unsigned long arg_end;
	unsigned long total_vm;
} __pai;

struct sched_entity {
	u64 vruntime;
} __pai;

struct kernfs_node {
	struct kernfs_node *parent;
	const char *name;
} __pai;

/* >= 6.15 renamed kernfs_node::parent to __parent */
struct kernfs_node___new {
	struct kernfs_node___new *__parent;
	const char *name;
} __pai;

struct cgroup {
	int level;
	struct kernfs_node *kn;
} __pai;

struct css_set {
	struct cgroup *dfl_cgrp;
} __pai;

struct fdtable {
	unsigned int max_fds;
	struct file **fd;
} __pai;

struct files_struct {
	struct fdtable *fdt;
} __pai;

struct signal_struct {
	int nr_threads;
} __pai;

struct task_struct {
	unsigned int __state;
	unsigned int flags;
	int prio;
	struct sched_entity se;
	struct mm_struct *mm;
	int exit_code;
	pid_t pid;
	pid_t tgid;
	struct task_struct *real_parent;
	struct task_struct *group_leader;
	struct pid *thread_pid;
	u64 start_time;
	const struct cred *cred;
	char comm[16];
	struct nsproxy *nsproxy;
	struct files_struct *files;
	struct signal_struct *signal;
	struct css_set *cgroups;
} __pai;

/* < 5.14 kernels: 'volatile long state' instead of 'unsigned int __state' */
struct task_struct___old {
	long state;
} __pai;

/* ---- VFS types ---- */
struct qstr {
	union {
		struct {
			u32 hash;
			u32 len;
		};
		u64 hash_len;
	};
	const unsigned char *name;
} __pai;

struct super_block {
	dev_t s_dev;
	unsigned long s_magic;
} __pai;

struct inode {
	umode_t i_mode;
	struct super_block *i_sb;
	unsigned long i_ino;
	loff_t i_size;
} __pai;

struct dentry {
	struct dentry *d_parent;
	struct qstr d_name;
	struct inode *d_inode;
} __pai;

struct vfsmount;

struct path {
	struct vfsmount *mnt;
	struct dentry *dentry;
} __pai;

struct file {
	fmode_t f_mode;
	struct inode *f_inode;
	unsigned int f_flags;
	struct path f_path;
	loff_t f_pos;
} __pai;

struct bpf_iter_num {
	__u64 __opaque[1];
} __pai;

/* ---- networking types ---- */
struct sock_common {
	__be32 skc_daddr;
	__be32 skc_rcv_saddr;
	__be16 skc_dport;
	__u16 skc_num;
	unsigned short skc_family;
} __pai;

struct sock {
	struct sock_common __sk_common;
	u16 sk_type;
	u16 sk_protocol;
} __pai;

struct inet_sock {
	struct sock sk;
	__be16 inet_sport;
} __pai;

struct net_device {
	char name[16];
	int ifindex;
} __pai;

struct sk_buff {
	struct net_device *dev;
	unsigned int len;
	unsigned int data_len;
	__u8 pkt_type:3;
	__u32 mark;
	__be16 protocol;
	unsigned char *head;
	u16 network_header;
} __pai;

/* ---- enums ---- */
enum bpf_func_id {
	BPF_FUNC_unspec = 0,
	BPF_FUNC_map_lookup_elem = 1,
	BPF_FUNC_probe_read_kernel = 113,
	BPF_FUNC_ringbuf_output = 130,
	BPF_FUNC_get_current_task_btf = 158,
	BPF_FUNC_loop = 181,
};

/* flavored enum type and enumerator names: both match 'bpf_func_id' */
enum bpf_func_id___x {
	BPF_FUNC_user_ringbuf_drain___x = 209,
};

enum pid_type {
	PIDTYPE_PID,
	PIDTYPE_TGID,
	PIDTYPE_PGID,
	PIDTYPE_SID,
	PIDTYPE_MAX,
};

/* ---- output ---- */
#define TRACER_MAP_RINGBUF 27

struct {
	__uint(type, TRACER_MAP_RINGBUF);
	__uint(max_entries, 1 << 18);
} events SEC(".maps");

struct event {
	__u32 kind;
	__u32 pid;
	__u32 tgid;
	__u32 ppid;
	__u64 v[10];
	char comm[16];
	char name[32];
};

struct features {
	__u32 has_iter_num;
	__u32 file_size;
	__u32 local_task_id;
	__u32 kernel_iter_num_id;
	__u32 has_bpf_loop;
	__u32 ringbuf_output_id;
	__u32 has_user_ringbuf_drain;
	__u32 pidtype_tgid;
	__u32 has_new_state;
	__u32 comm_size;
};

struct features feats;

static __always_inline void emit(struct event *e)
{
	bpf_ringbuf_output(&events, e, sizeof(*e), 0);
}

/* task state: '__state' (>= 5.14) or '___old' flavor 'state' */
static __always_inline long task_state(struct task_struct *t)
{
	if (bpf_core_field_exists(t->__state))
		return BPF_CORE_READ(t, __state);
	return BPF_CORE_READ((struct task_struct___old *)t, state);
}

/* static subprogram with relocations of its own */
static __noinline __u32 task_ns_pid(struct task_struct *t)
{
	struct pid *p = BPF_CORE_READ(t, thread_pid);
	unsigned int level = BPF_CORE_READ(p, level);
	__u32 nr = BPF_CORE_READ(p, numbers[0].nr);
	__u32 ns_level = BPF_CORE_READ(t, nsproxy, pid_ns_for_children, level);

	return nr + (level << 20) + (ns_level << 24);
}

/* global subprogram with relocations: fills an event from a task pointer */
__noinline int tracer_fill_task(struct event *e, __u64 task_addr)
{
	struct task_struct *t = (struct task_struct *)task_addr;

	if (!e)
		return 0;
	e->pid = BPF_CORE_READ(t, pid);
	e->tgid = BPF_CORE_READ(t, tgid);
	e->ppid = BPF_CORE_READ(t, real_parent, tgid);
	e->v[0] = BPF_CORE_READ(t, group_leader, pid);
	e->v[1] = BPF_CORE_READ(t, start_time);
	e->v[2] = BPF_CORE_READ(t, cred, uid.val);
	e->v[3] = BPF_CORE_READ(t, cred, euid.val);
	e->v[4] = BPF_CORE_READ(t, flags);
	bpf_core_read_str(e->comm, sizeof(e->comm), &t->comm);
	return 1;
}

SEC("tracepoint/sched/sched_switch")
int tp_sched_switch(struct trace_event_raw_sched_switch *ctx)
{
	struct task_struct *t = (void *)bpf_get_current_task();
	struct event e = {};

	e.kind = 1;
	e.pid = ctx->prev_pid;
	e.tgid = ctx->next_pid;
	e.v[0] = ctx->prev_state;
	e.v[1] = ctx->prev_prio;
	e.v[2] = task_state(t);
	e.v[3] = BPF_CORE_READ(t, se.vruntime);
	e.v[4] = BPF_CORE_READ(t, prio);
	e.v[5] = task_ns_pid(t);
	bpf_probe_read_kernel(e.comm, sizeof(e.comm), &ctx->next_comm[0]);
	emit(&e);
	return 0;
}

SEC("tracepoint/raw_syscalls/sys_enter")
int tp_sys_enter(struct trace_event_raw_sys_enter *ctx)
{
	struct task_struct *t = (void *)bpf_get_current_task();
	struct event e = {};

	e.kind = 2;
	e.v[0] = ctx->id;
	e.v[1] = ctx->args[0];
	e.v[2] = ctx->args[2];
	e.v[3] = BPF_CORE_READ(t, mm, arg_start);
	e.v[4] = BPF_CORE_READ(t, mm, arg_end);
	e.v[5] = BPF_CORE_READ(t, files, fdt, max_fds);
	e.v[6] = BPF_CORE_READ(t, signal, nr_threads);
	e.v[7] = BPF_CORE_READ(t, exit_code);
	tracer_fill_task(&e, (__u64)t);
	emit(&e);
	return 0;
}

SEC("tracepoint/sched/sched_process_exec")
int tp_exec(struct trace_event_raw_sched_process_exec *ctx)
{
	struct task_struct *t = (void *)bpf_get_current_task();
	struct cgroup *cg = BPF_CORE_READ(t, cgroups, dfl_cgrp);
	struct kernfs_node *kn = BPF_CORE_READ(cg, kn);
	unsigned int off = ctx->__data_loc_filename & 0xFFFF;
	struct event e = {};

	e.kind = 3;
	e.pid = ctx->pid;
	e.tgid = ctx->old_pid;
	e.v[0] = bpf_core_field_offset(ctx->__data);
	e.v[1] = BPF_CORE_READ(cg, level);
	bpf_probe_read_kernel_str(e.name, sizeof(e.name), (void *)ctx + off);
	if (bpf_core_field_exists(struct kernfs_node___new, __parent))
		e.v[2] = (__u64)BPF_CORE_READ((struct kernfs_node___new *)kn, __parent);
	else
		e.v[2] = (__u64)BPF_CORE_READ(kn, parent);
	bpf_probe_read_kernel_str(e.comm, sizeof(e.comm), BPF_CORE_READ(kn, name));
	emit(&e);
	return 0;
}

SEC("kprobe/vfs_read")
int BPF_KPROBE(kp_vfs_read, struct file *file, char *buf, size_t count)
{
	struct dentry *de = BPF_CORE_READ(file, f_path.dentry);
	struct inode *ino = BPF_CORE_READ(file, f_inode);
	struct event e = {};

	e.kind = 4;
	e.v[0] = count;
	e.v[1] = BPF_CORE_READ(ino, i_ino);
	e.v[2] = BPF_CORE_READ(ino, i_mode);
	e.v[3] = BPF_CORE_READ(ino, i_size);
	e.v[4] = BPF_CORE_READ(ino, i_sb, s_magic);
	e.v[5] = BPF_CORE_READ(ino, i_sb, s_dev);
	e.v[6] = BPF_CORE_READ(file, f_flags);
	e.v[7] = BPF_CORE_READ(file, f_mode);
	e.v[8] = BPF_CORE_READ(file, f_pos);
	e.v[9] = BPF_CORE_READ(de, d_name.len);
	bpf_probe_read_kernel_str(e.name, sizeof(e.name), BPF_CORE_READ(de, d_name.name));
	bpf_probe_read_kernel_str(e.comm, sizeof(e.comm), BPF_CORE_READ(de, d_parent, d_name.name));
	emit(&e);
	return 0;
}

SEC("ksyscall/openat")
int BPF_KSYSCALL(ks_openat, int dfd, const char *filename, int flags)
{
	struct event e = {};

	e.kind = 5;
	e.v[0] = dfd;
	e.v[1] = flags;
	bpf_probe_read_user_str(e.name, sizeof(e.name), filename);
	emit(&e);
	return 0;
}

SEC("kprobe/tcp_v4_connect")
int BPF_KPROBE(kp_tcp_v4_connect, struct sock *sk)
{
	struct event e = {};

	e.kind = 6;
	e.v[0] = BPF_CORE_READ(sk, __sk_common.skc_family);
	e.v[1] = BPF_CORE_READ(sk, __sk_common.skc_daddr);
	e.v[2] = BPF_CORE_READ(sk, __sk_common.skc_rcv_saddr);
	e.v[3] = BPF_CORE_READ(sk, __sk_common.skc_dport);
	e.v[4] = BPF_CORE_READ(sk, __sk_common.skc_num);
	e.v[5] = BPF_CORE_READ((struct inet_sock *)sk, inet_sport);
	e.v[6] = BPF_CORE_READ_BITFIELD_PROBED(sk, sk_protocol);
	e.v[7] = BPF_CORE_READ_BITFIELD_PROBED(sk, sk_type);
	emit(&e);
	return 0;
}

SEC("raw_tp/netif_receive_skb")
int rtp_netif_receive_skb(__u64 *ctx)
{
	struct sk_buff *skb = (struct sk_buff *)ctx[0];
	struct event e = {};

	e.kind = 7;
	e.v[0] = BPF_CORE_READ(skb, len);
	e.v[1] = BPF_CORE_READ(skb, data_len);
	e.v[2] = BPF_CORE_READ(skb, protocol);
	e.v[3] = BPF_CORE_READ(skb, mark);
	e.v[4] = BPF_CORE_READ_BITFIELD_PROBED(skb, pkt_type);
	e.v[5] = (__u64)BPF_CORE_READ(skb, head) + BPF_CORE_READ(skb, network_header);
	e.v[6] = BPF_CORE_READ(skb, dev, ifindex);
	bpf_probe_read_kernel_str(e.name, sizeof(e.name), BPF_CORE_READ(skb, dev, name));
	emit(&e);
	return 0;
}

/* one-shot feature probe: type- and enum-based relocations */
SEC("raw_tp/sys_exit")
int rtp_features(__u64 *ctx)
{
	feats.has_iter_num = bpf_core_type_exists(struct bpf_iter_num);
	feats.file_size = bpf_core_type_size(struct file);
	feats.local_task_id = bpf_core_type_id_local(struct task_struct);
	/* not task_struct: kernels with duplicate task_struct types (4.19
	 * bclinux/kylin, 5.3) would make TYPE_ID_TARGET ambiguous */
	feats.kernel_iter_num_id = bpf_core_type_id_kernel(struct bpf_iter_num);
	feats.has_bpf_loop = bpf_core_enum_value_exists(enum bpf_func_id, BPF_FUNC_loop);
	/* ENUMVAL_VALUE poisons when the enumerator is missing: guard it */
	if (bpf_core_enum_value_exists(enum bpf_func_id, BPF_FUNC_ringbuf_output))
		feats.ringbuf_output_id =
			bpf_core_enum_value(enum bpf_func_id, BPF_FUNC_ringbuf_output);
	feats.has_user_ringbuf_drain =
		bpf_core_enum_value_exists(enum bpf_func_id___x, BPF_FUNC_user_ringbuf_drain___x);
	if (bpf_core_enum_value_exists(enum pid_type, PIDTYPE_TGID))
		feats.pidtype_tgid = bpf_core_enum_value(enum pid_type, PIDTYPE_TGID);
	feats.has_new_state = bpf_core_field_exists(struct task_struct, __state);
	feats.comm_size = bpf_core_field_size(struct task_struct, comm);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
