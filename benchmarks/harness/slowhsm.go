package main

import _ "embed"

// slowHSMSource is the network-HSM stand-in: a PKCS#11 module forwarding to
// SoftHSM that holds each signature's session for SLOWHSM_DELAY_US. The
// harness compiles it with cc; signet loads it through module-path= like any
// token's module, so the pool, the sessions and the delay are all real.
//
//go:embed slowhsm/slowhsm.c
var slowHSMSource []byte
