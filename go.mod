module github.com/seed-b62e15c8/qwenedit

go 1.26.0

require (
	github.com/jarcoal/httpmock v1.4.2
	github.com/segmentio/asm v1.2.1
	github.com/stretchr/testify v1.12.1
	golang.org/x/image v0.47.0
	golang.org/x/net v0.62.0
	golang.org/x/sync v0.25.0
	golang.org/x/sys v0.50.0
	golang.org/x/term v0.48.0
)

require (
	go.yaml.in/yaml/v3 v3.0.5 // indirect
	golang.org/x/text v0.43.0 // indirect
)
