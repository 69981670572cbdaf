/* Real-time scheduling, locked memory, capability drop; see vrrp_sched.h.
 * Capabilities go through capset(2) and prctl(2) directly: two bit masks
 * are all we need, and the build links no libcap. */
#include "vrrp_sched.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <pthread.h>
#include <sched.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#define KEEP_CAPS ((1ull << CAP_NET_RAW) | (1ull << CAP_NET_ADMIN))

/* AddressSanitizer reserves terabytes of shadow memory: mlockall() would
 * try to fault it all in. Sanitizer builds are for tests; they skip it. */
#if defined(__SANITIZE_ADDRESS__)
#define VRRP_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define VRRP_ASAN 1
#endif
#endif

int vrrp_sched_realtime(int priority)
{
	struct sched_param sp = {.sched_priority = priority};

	if (priority <= 0)
		return 0;
	/* Reset-on-fork: children (scripts) start SCHED_OTHER even if spawned
	 * without POSIX_SPAWN_SETSCHEDULER. */
	if (sched_setscheduler(0, SCHED_RR | SCHED_RESET_ON_FORK, &sp) < 0)
		return -errno;
	return 0;
}

/* Touches the stack the loop will use, so MCL_CURRENT locks it too. */
static void __attribute__((noinline)) prefault_stack(void)
{
	volatile char buf[VRRP_SCHED_STACK_PREFAULT];

	for (size_t i = 0; i < sizeof(buf); i += 4096)
		buf[i] = 0;
}

int vrrp_sched_lock_memory(void)
{
	struct rlimit rl = {RLIM_INFINITY, RLIM_INFINITY};
	int flags = MCL_CURRENT | MCL_FUTURE;

#ifdef VRRP_ASAN
	return -ENOTSUP;
#endif
	prefault_stack();
	/* Once CAP_IPC_LOCK is dropped, MCL_FUTURE makes every new mapping
	 * count against RLIMIT_MEMLOCK: past it, malloc and posix_spawn fail.
	 * Lock future pages only when the limit could be lifted; otherwise
	 * lock what the advert path already holds (it allocates nothing). */
	if (setrlimit(RLIMIT_MEMLOCK, &rl) < 0)
		flags = MCL_CURRENT;
	if (mlockall(flags) < 0)
		return -errno;
	return flags & MCL_FUTURE ? 1 : 0;
}

int vrrp_sched_thread_stacks(size_t bytes)
{
	pthread_attr_t at;
	int rc = pthread_attr_init(&at);

	if (!rc)
		rc = pthread_attr_setstacksize(&at, bytes);
	if (!rc)
		rc = pthread_setattr_default_np(&at);
	pthread_attr_destroy(&at);
	return -rc;
}

static int last_cap(void)
{
	char buf[16] = "";
	int fd = open("/proc/sys/kernel/cap_last_cap", O_RDONLY | O_CLOEXEC);
	ssize_t n = fd >= 0 ? read(fd, buf, sizeof(buf) - 1) : -1;

	if (fd >= 0)
		close(fd);
	if (n <= 0)
		return CAP_LAST_CAP;
	buf[n] = '\0';
	return atoi(buf);
}

int vrrp_caps_drop(void)
{
	struct __user_cap_header_struct hdr = {.version = _LINUX_CAPABILITY_VERSION_3, .pid = 0};
	struct __user_cap_data_struct data[2] = {{0}};
	int last = last_cap();

	/* The bounding set first: dropping from it needs CAP_SETPCAP. */
	for (int c = 0; c <= last && c < 64; c++)
		if (!(KEEP_CAPS & (1ull << c)) && prctl(PR_CAPBSET_DROP, c, 0, 0, 0) < 0 &&
		    errno != EINVAL)
			return -errno;
	if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0 && errno != EINVAL)
		return -errno;
	data[0].effective = data[0].permitted = (uint32_t)KEEP_CAPS;
	data[1].effective = data[1].permitted = (uint32_t)(KEEP_CAPS >> 32);
	if (syscall(SYS_capset, &hdr, data) < 0)
		return -errno;
	return 0;
}
