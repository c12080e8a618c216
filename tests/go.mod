module github.com/hyperscaledesignhub/DesignSystems/tests

go 1.26.0

require (
	github.com/hyperscaledesignhub/DesignSystems/shared v0.0.0
	github.com/stretchr/testify v1.12.1 // indirect
)

replace github.com/hyperscaledesignhub/DesignSystems/shared => ../shared
