//go:build cgo && unix

package hsm

/*
#cgo LDFLAGS: -ldl
#include <dlfcn.h>
#include <stdlib.h>

// The few PKCS#11 v2.40 types this file needs, in their Unix layout (no
// packing; Windows packs them, hence the unix build tag). A function
// list is a version followed by the functions in the standard's order:
// C_SignInit is the 43rd, C_Sign the 44th.
typedef unsigned long ck_ulong;
typedef struct { ck_ulong mechanism; void *parameter; ck_ulong parameter_len; } ck_mechanism;
typedef struct { unsigned char major, minor; void *fn[68]; } ck_function_list;
typedef ck_ulong (*ck_get_function_list)(ck_function_list **);
typedef ck_ulong (*ck_sign_init)(ck_ulong, ck_mechanism *, ck_ulong);
typedef ck_ulong (*ck_sign)(ck_ulong, unsigned char *, ck_ulong, unsigned char *, ck_ulong *);

#define SIGNET_C_SIGN_INIT 42
#define SIGNET_C_SIGN 43

// signet_load takes another reference to a library that is already
// loaded (RTLD_NOLOAD: the module the session pool uses, never a second
// copy) and returns its function list.
static void *signet_load(const char *path, ck_function_list **list) {
	void *h = dlopen(path, RTLD_NOW | RTLD_NOLOAD);
	if (h == NULL)
		return NULL;
	ck_get_function_list get = (ck_get_function_list)dlsym(h, "C_GetFunctionList");
	if (get == NULL || get(list) != 0 || *list == NULL) {
		dlclose(h);
		return NULL;
	}
	return h;
}

static void signet_unload(void *h) { dlclose(h); }

// signet_sign is C_SignInit and C_Sign in one call. *stage says which
// one returned the result, so that a failed C_Sign, which may leave the
// operation active (CKR_BUFFER_TOO_SMALL), can be told apart.
static ck_ulong signet_sign(ck_function_list *l, ck_ulong session, ck_ulong mech, void *param, ck_ulong param_len,
                            ck_ulong key, unsigned char *in, ck_ulong in_len, unsigned char *out, ck_ulong *out_len, int *stage) {
	ck_mechanism m = { mech, param, param_len };
	*stage = 0;
	ck_ulong rv = ((ck_sign_init)l->fn[SIGNET_C_SIGN_INIT])(session, &m, key);
	if (rv != 0)
		return rv;
	*stage = 1;
	return ((ck_sign)l->fn[SIGNET_C_SIGN])(session, in, in_len, out, out_len);
}

static ck_ulong signet_sign_again(ck_function_list *l, ck_ulong session, unsigned char *in, ck_ulong in_len,
                                  unsigned char *out, ck_ulong *out_len) {
	return ((ck_sign)l->fn[SIGNET_C_SIGN])(session, in, in_len, out, out_len);
}
*/
import "C"

import (
	"fmt"
	"unsafe"

	"github.com/miekg/pkcs11"
)

// signCall signs in one cgo call. miekg/pkcs11 makes C_SignInit and
// C_Sign two calls, and a call that blocks (a network HSM's round trip)
// gives up its Go processor: on a busy machine the goroutine then waits
// for one between the two while holding the session, and pays the
// hand-off twice. One call halves both, and signs into a Go buffer
// without C allocations. It calls into the very library the pool's
// sessions belong to.
type signCall struct {
	handle unsafe.Pointer
	list   *C.ck_function_list
}

func newSignCall(path string, _ *pkcs11.Ctx) (*signCall, error) {
	cpath := C.CString(path)
	defer C.free(unsafe.Pointer(cpath))
	var list *C.ck_function_list
	h := C.signet_load(cpath, &list)
	if h == nil {
		return nil, fmt.Errorf("PKCS#11 module %s: no C_GetFunctionList in the loaded library", path)
	}
	return &signCall{handle: h, list: list}, nil
}

func (s *signCall) close() { C.signet_unload(s.handle) }

// sign runs C_SignInit and C_Sign on session sh. size is the expected
// signature length; a longer one costs a second C_Sign.
func (s *signCall) sign(sh pkcs11.SessionHandle, mech *pkcs11.Mechanism, key pkcs11.ObjectHandle, in []byte, size int) ([]byte, error) {
	out := make([]byte, max(size, 1))
	n := C.ck_ulong(len(out))
	var param unsafe.Pointer
	if len(mech.Parameter) > 0 {
		param = unsafe.Pointer(&mech.Parameter[0])
	}
	var stage C.int
	rv := C.signet_sign(s.list, C.ck_ulong(sh), C.ck_ulong(mech.Mechanism), param, C.ck_ulong(len(mech.Parameter)),
		C.ck_ulong(key), (*C.uchar)(unsafe.Pointer(&in[0])), C.ck_ulong(len(in)), (*C.uchar)(unsafe.Pointer(&out[0])), &n, &stage)
	if rv == pkcs11.CKR_BUFFER_TOO_SMALL && stage == 1 {
		// The operation is still active; n is the length needed.
		out = make([]byte, max(int(n), 1))
		rv = C.signet_sign_again(s.list, C.ck_ulong(sh), (*C.uchar)(unsafe.Pointer(&in[0])), C.ck_ulong(len(in)), (*C.uchar)(unsafe.Pointer(&out[0])), &n)
	}
	if rv != 0 {
		return nil, pkcs11.Error(rv)
	}
	return out[:n], nil
}
