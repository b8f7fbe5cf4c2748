/*
 * slowhsm: a PKCS#11 module that stands for a network HSM in signet's
 * benchmarks. It forwards every call to a real module (SoftHSM) and delays
 * each signature by a fixed time inside C_Sign, so the delay holds the
 * session exactly as a round trip to a remote HSM does: a session pool of N
 * sessions then signs at most N / delay signatures per second.
 *
 * Environment: SLOWHSM_MODULE (default /usr/lib/softhsm/libsofthsm2.so),
 * SLOWHSM_DELAY_US (default 10000, i.e. 10 ms).
 *
 * Benchmark-only; the harness compiles it with `cc -shared -fPIC`. It is
 * self-contained (no PKCS#11 headers): CK_FUNCTION_LIST is a CK_VERSION
 * followed by 68 function pointers (PKCS#11 v2.40), C_Sign the 44th.
 */
#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef unsigned long ck_ulong;
typedef ck_ulong ck_rv;
typedef struct { unsigned char major, minor; } ck_version;
typedef struct { ck_version version; void *fn[68]; } function_list;
typedef ck_rv (*get_function_list_fn)(function_list **);
typedef ck_rv (*sign_fn)(ck_ulong session, unsigned char *data, ck_ulong len,
                         unsigned char *sig, ck_ulong *siglen);

#define C_SIGN_INDEX 43
#define CKR_GENERAL_ERROR 5UL
#define CKR_ARGUMENTS_BAD 7UL

static function_list list;
static sign_fn real_sign;
static long delay_us = 10000;
static ck_rv load_rv;
static pthread_once_t once = PTHREAD_ONCE_INIT;

static ck_rv slow_sign(ck_ulong session, unsigned char *data, ck_ulong len,
                       unsigned char *sig, ck_ulong *siglen) {
	/* Callers ask for the length first (sig == NULL); only the call that
	 * signs goes to the "network". */
	if (sig != NULL && delay_us > 0) {
		struct timespec ts = { delay_us / 1000000, (delay_us % 1000000) * 1000 };
		while (nanosleep(&ts, &ts) == -1 && errno == EINTR) {
		}
	}
	return real_sign(session, data, len, sig, siglen);
}

static void load(void) {
	const char *path = getenv("SLOWHSM_MODULE");
	const char *d = getenv("SLOWHSM_DELAY_US");
	if (path == NULL || *path == 0)
		path = "/usr/lib/softhsm/libsofthsm2.so";
	if (d != NULL && *d != 0)
		delay_us = atol(d);
	void *h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
	if (h == NULL) {
		load_rv = CKR_GENERAL_ERROR;
		return;
	}
	get_function_list_fn get = (get_function_list_fn)dlsym(h, "C_GetFunctionList");
	function_list *real = NULL;
	if (get == NULL || get(&real) != 0 || real == NULL) {
		load_rv = CKR_GENERAL_ERROR;
		return;
	}
	memcpy(&list, real, sizeof list);
	real_sign = (sign_fn)list.fn[C_SIGN_INDEX];
	list.fn[C_SIGN_INDEX] = (void *)slow_sign;
}

ck_rv C_GetFunctionList(function_list **out) {
	pthread_once(&once, load);
	if (load_rv != 0)
		return load_rv;
	if (out == NULL)
		return CKR_ARGUMENTS_BAD;
	*out = &list;
	return 0;
}
