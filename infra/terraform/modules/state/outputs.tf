output "table_names" {
  description = "Every table's name by suffix (the state store's tables, FileManifests among them)."
  value       = { for suffix, table in aws_dynamodb_table.this : suffix => table.name }
}

output "table_arns" {
  description = "Every table's ARN by suffix."
  value       = { for suffix, table in aws_dynamodb_table.this : suffix => table.arn }
}

output "state_table_arns" {
  description = "ARNs of the state store's tables (leanops.state.dynamodb.TABLES, FileManifests among them) and of their indexes, for the runtime roles."
  value = concat([for suffix in keys(local.state_tables) : aws_dynamodb_table.this[suffix].arn],
  [for suffix, table in local.state_tables : "${aws_dynamodb_table.this[suffix].arn}/index/*" if table.index_name != null])
}

output "table_prefix" {
  description = "The tables' name prefix (LEANOPS_STATE=dynamodb://<prefix>)."
  value       = var.table_prefix
}

output "file_manifests_table_name" {
  description = "Name of the FileManifests table (seed-003 file workflow)."
  value       = aws_dynamodb_table.this["FileManifests"].name
}

output "file_manifests_table_arn" {
  description = "ARN of the FileManifests table."
  value       = aws_dynamodb_table.this["FileManifests"].arn
}

output "drift_log_stream_arn" {
  description = "Stream of the DriftLog table (NEW_IMAGE): the Snowflake refresh's trigger."
  value       = aws_dynamodb_table.this["DriftLog"].stream_arn
}
