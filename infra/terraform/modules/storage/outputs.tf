output "lake_bucket_name" {
  description = "Bucket of the Iceberg warehouse (s3://<bucket>/warehouse) and Firehose's failed records."
  value       = aws_s3_bucket.data["lake"].bucket
}

output "lake_bucket_arn" {
  description = "ARN of the lake bucket."
  value       = aws_s3_bucket.data["lake"].arn
}

output "artifacts_bucket_name" {
  description = "Bucket of the Glue scripts, the wheel, the Lambda layer and the topic schemas."
  value       = aws_s3_bucket.data["artifacts"].bucket
}

output "artifacts_bucket_arn" {
  description = "ARN of the artifacts bucket."
  value       = aws_s3_bucket.data["artifacts"].arn
}

output "landing_bucket_name" {
  description = "Bucket of the NDJSON landing files (seed-003 file workflow)."
  value       = aws_s3_bucket.data["landing"].bucket
}

output "landing_bucket_arn" {
  description = "ARN of the landing bucket."
  value       = aws_s3_bucket.data["landing"].arn
}

output "access_logs_bucket_name" {
  description = "Bucket of the data buckets' S3 server access logs."
  value       = aws_s3_bucket.access_logs.bucket
}

output "glue_database_names" {
  description = "Glue database of each zone: raw, standardized, curated, semantic."
  value       = { for zone, db in aws_glue_catalog_database.zone : zone => db.name }
}
