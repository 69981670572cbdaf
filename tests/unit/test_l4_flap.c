/* Reclamation under load (l4/lb/health.c, proc.c, common/balance.c): two
 * "worker" threads pick instances through the current snapshot's Maglev
 * balancer as fast as they can, a "health" thread flaps two instances up
 * and down (each flip rebuilds the table and retires the old one), and the
 * main thread publishes a new snapshot every few milliseconds (old
 * snapshots, with their balancers, are freed when the last holder lets
 * go). Every pick must name an instance of the snapshot it was made on;
 * run under ASan (make asan), any read of a freed table or snapshot fails. */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "../../l4/lb/health.h"
#include "../../l4/lb/proc.h"
#include "hash.h"

#define RUN_MS 1500

static const char conf[] = "node_name = \"flap\";\n"
			   "services = ( { name = \"web\"; listen = [ \"127.0.0.1:1\" ];\n"
			   "  balance = \"maglev\"; instances = (\n"
			   "  { address = \"127.0.0.1:2\"; }, { address = \"127.0.0.1:3\"; },\n"
			   "  { address = \"127.0.0.1:4\"; } ); } );\n";

static struct l4_proc proc;
static char path[64];
static atomic_bool stop;
static atomic_ulong picks, flips, bad;

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static struct l4_config *build(void)
{
	struct l4_config *c;
	struct cfg_err err;

	cfg_err_init(&err);
	assert_int_equal(l4_config_parse(path, &c, &err), 0);
	assert_int_equal(l4_config_attach(c, &proc.st, 2, &err), 0);
	return c;
}

static void *picker(void *arg)
{
	unsigned index = (unsigned)(uintptr_t)arg;
	uint64_t rng = index + 1;

	while (!atomic_load(&stop)) {
		struct l4_config *c = l4_proc_config(&proc);
		const struct l4_service *s = &c->svc[0];
		struct balance_worker *bw = balance_worker(s->bal, index);

		for (int k = 0; k < 2000; k++) {
			int i = balance_pick(bw, hash_splitmix_next(&rng), NULL);

			if (i < 0 || (size_t)i >= s->n_inst)
				atomic_fetch_add(&bad, 1);
		}
		atomic_fetch_add(&picks, 2000);
		snap_put(&c->hdr);
	}
	return NULL;
}

static void *flapper(void *arg)
{
	struct l4_config *c = l4_proc_config(&proc);
	struct l4_inst_rt *rt[2] = {c->svc[0].inst[0].rt, c->svc[0].inst[1].rt};
	unsigned n = 0;

	snap_put(&c->hdr); /* records outlive snapshots: keep the pointers */
	l4_mw = metrics_worker(proc.reg, proc.health_writer);
	while (!atomic_load(&stop)) {
		struct l4_inst_rt *r = rt[n++ & 1];

		l4_inst_set_up(r, !atomic_load(&r->up));
		l4_health_refresh(&proc, "web", r);
		atomic_fetch_add(&flips, 1);
	}
	return NULL;
}

static void test_flapping_and_reloads_under_picks(void **state)
{
	pthread_t t[3];
	unsigned reloads = 0;
	int fd;

	strcpy(path, "/tmp/test_l4_flap_XXXXXX");
	fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, conf, sizeof(conf) - 1), (ssize_t)sizeof(conf) - 1);
	close(fd);
	assert_int_equal(l4_proc_init(&proc, 2, "flap"), 0);
	proc.nofile = 1024;
	l4_mw = metrics_worker(proc.reg, proc.main_writer);
	l4_proc_publish(&proc, build(), false);
	assert_int_equal(pthread_create(&t[0], NULL, picker, (void *)0), 0);
	assert_int_equal(pthread_create(&t[1], NULL, picker, (void *)1), 0);
	assert_int_equal(pthread_create(&t[2], NULL, flapper, NULL), 0);
	for (uint64_t end = now_ms() + RUN_MS; now_ms() < end; reloads++) {
		l4_proc_publish(&proc, build(), false);
		usleep(2000);
	}
	atomic_store(&stop, true);
	for (int i = 0; i < 3; i++)
		pthread_join(t[i], NULL);
	printf("picks %lu, flips %lu, snapshots %u\n", atomic_load(&picks), atomic_load(&flips),
	       reloads);
	assert_int_equal(atomic_load(&bad), 0);
	assert_true(atomic_load(&picks) > 10000 && atomic_load(&flips) > 20 && reloads > 10);
	unlink(path);
	l4_mw = NULL;
	l4_proc_fini(&proc);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_flapping_and_reloads_under_picks),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
