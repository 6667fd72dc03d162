/* A uprobe CO-RE program reading the traced application's struct app_req.
 *
 * struct app_req below is the program's local view of the application's
 * type: only the fields it reads, with preserve_access_index so that libbpf
 * relocates each access against the target BTF (here: the application's
 * types merged with the kernel's, as btfembed --userspace writes them).
 * struct pt_regs is a kernel type (x86_64 register names): one BTF holds
 * both.
 *
 *     clang -g -O2 -target bpf -D__TARGET_ARCH_x86 -I/usr/include/$(uname -m)-linux-gnu \
 *           -c req_probe.bpf.c -o req_probe.bpf.o
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>

struct pt_regs {
	unsigned long di;   /* first argument on x86_64 */
} __attribute__((preserve_access_index));

struct app_req {
	long long id;
	long value;
} __attribute__((preserve_access_index));

struct seen {
	long long id;
	long value;
	unsigned int hits;
};

struct seen seen = {};

SEC("uprobe")
int req_probe(struct pt_regs *ctx)
{
	struct app_req *r = (struct app_req *)ctx->di;

	seen.id = BPF_CORE_READ_USER(r, id);
	seen.value = BPF_CORE_READ_USER(r, value);
	seen.hits++;
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
