package main

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestChargeNote(t *testing.T) {
	const charged = "this call is charged"
	for base, want := range map[string]string{
		"https://api.mulerouter.ai":           charged,
		"https://api.mulerun.com/prefix":      charged,
		"https://192.0.2.1:8443":              charged,
		"https://127.example.com":             charged,
		"https://localhost.example.com":       charged,
		"::not a url":                         charged,
		"http://127.0.0.1:8080":               "a local server",
		"https://127.1.2.3:8443/prefix":       "a local server",
		"http://[::1]:8080":                   "a local server",
		"http://localhost:8080":               "a local server",
		"https://LOCALHOST":                   "a local server",
		"http://[::ffff:127.0.0.1]:8080/path": "a local server",
	} {
		assert.Contains(t, chargeNote(base), want, base)
		if want != charged {
			assert.NotContains(t, chargeNote(base), charged, base)
		}
	}
}
