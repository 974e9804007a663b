package main

import "net/url"

// chargeNote is what the command says about the bill before a paid call to
// the API at base. MuleRouter charges every task, so the note says so; a
// server on this machine (examples/fakeserver, a mock, a proxy under test)
// is not MuleRouter and charges nothing by itself, and calling every call
// to it charged would teach users to read past the one warning that costs
// money. Loopback is judged as for plain http: 127.0.0.0/8, ::1, localhost.
func chargeNote(base string) string {
	if isLocal(base) {
		return "a local server, charged only if it forwards the call to MuleRouter"
	}
	return "this call is charged"
}

// batchChargeNote is chargeNote for a batch's many calls.
func batchChargeNote(base string) string {
	if isLocal(base) {
		return "a local server, charged only if it forwards the calls to MuleRouter"
	}
	return "each new task is charged"
}

// isLocal reports a base URL on this machine.
func isLocal(base string) bool {
	u, err := url.Parse(base)
	return err == nil && isLoopback(u.Hostname())
}
