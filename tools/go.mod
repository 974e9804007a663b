module github.com/seed-b62e15c8/qwenedit/tools

go 1.26.0

require (
	github.com/seed-b62e15c8/qwenedit v0.0.0
	github.com/stretchr/testify v1.12.1
)

require (
	github.com/segmentio/asm v1.2.1 // indirect
	go.yaml.in/yaml/v3 v3.0.5 // indirect
	golang.org/x/sys v0.50.0 // indirect
)

replace github.com/seed-b62e15c8/qwenedit => ../
