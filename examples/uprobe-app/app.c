/* A small application whose own struct a uprobe program reads with CO-RE.
 *
 * Built in two versions with different layouts of struct app_req (the
 * same fields, reordered, with new ones), as a new release of a
 * traced program would be:
 *
 *     cc -g -O1 -o app-v1 app.c
 *     cc -g -O1 -DAPP_V2 -o app-v2 app.c
 *
 * It fills one request, hands it to handle_req() (the probed function) and
 * prints the values it passed, so a test can compare them with what the BPF
 * program read.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Named so that no kernel type has the same name: libbpf searches the
 * kernel's types and the application's as one list (see README). */
#ifndef APP_V2
struct app_req {
	int kind;
	long long id;
	long value;
	char tag[8];
};
#else
struct app_req {
	char tag[16];
	unsigned long flags;
	long value;
	long long id;
	int kind;
};
#endif

/* noinline and used: the uprobe is attached to this symbol. */
__attribute__((noinline, used)) long handle_req(struct app_req *r)
{
	__asm__ volatile("" : : "r"(r) : "memory");
	return r->value + (long)r->id + r->kind;
}

int main(int argc, char **argv)
{
	struct app_req r;

	memset(&r, 0, sizeof(r));
	r.id = argc > 1 ? atoi(argv[1]) : 42;
	r.value = argc > 2 ? atol(argv[2]) : 4242;
	strcpy(r.tag, "req");
	handle_req(&r);
	printf("id=%lld value=%ld\n", (long long)r.id, (long)r.value);
	return 0;
}
