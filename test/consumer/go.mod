// A module outside qwenedit that uses it exactly as a user would: through
// the module path, with nothing but the public API. CI builds and tests it,
// so a change to a public name or signature of design/api.md breaks CI.
module example.com/qwenedit-consumer

go 1.26.0

require github.com/seed-b62e15c8/qwenedit v0.0.0

require (
	github.com/segmentio/asm v1.2.1 // indirect
	golang.org/x/image v0.47.0 // indirect
	golang.org/x/sync v0.25.0 // indirect
	golang.org/x/sys v0.50.0 // indirect
)

replace github.com/seed-b62e15c8/qwenedit => ../..
