package schema

//go:generate go run ../../hack/schema -o ../../schema/prometheusmtls.schema.json
