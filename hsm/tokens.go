package hsm

type Token struct {
	Label, Serial, Manufacturer, Model string
	Slot                               uint
	// LoggedIn is true when List logged in (or the process already was),
	// so private objects are included in Keys.
	LoggedIn bool
	Keys     []KeyInfo
}

// KeyInfo describes a key pair (or a lone public or private key) on a
// token. Objects are paired by CKA_ID and label.
type KeyInfo struct {
	Label string
	ID    []byte
	// Algorithm is spelt as for Generate ("ecdsa-p256", "rsa-2048", ...);
	// "unknown" when the token hides what is needed to tell.
	Algorithm string
	// Private and Public say which objects were seen. Private keys
	// usually show only after a login.
	Private, Public bool
	// URI opens the key (module-path included, no PIN).
	URI string
}
