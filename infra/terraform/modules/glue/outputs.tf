output "job_names" {
  description = "Name of each job by key: standardized_processor, curated_processor, semantic_processor, historical_rebuilder."
  value       = { for key, job in aws_glue_job.this : key => job.name }
}

output "job_arns" {
  description = "ARN of each job by key."
  value       = { for key, job in aws_glue_job.this : key => job.arn }
}

output "role_arn" {
  description = "Role the jobs run with."
  value       = aws_iam_role.glue.arn
}

output "wheel_s3_uri" {
  description = "The lean-ops wheel Glue installs (--additional-python-modules)."
  value       = "s3://${var.artifacts_bucket}/${aws_s3_object.wheel.key}"
}
