module github.com/jetlog/jetlog/services/alerter

go 1.26.0

require (
	github.com/expr-lang/expr v1.17.8
	github.com/jetlog/jetlog/libs v0.0.0
)

require go.yaml.in/yaml/v3 v3.0.6 // indirect

replace github.com/jetlog/jetlog/libs => ../../libs
