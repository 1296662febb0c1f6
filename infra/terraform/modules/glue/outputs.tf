output "job_names" {
  description = "Name of each job by key: standardized_processor, curated_processor, semantic_processor, historical_rebuilder, table_maintenance, file_processor."
  value       = merge({ for key, job in aws_glue_job.this : key => job.name }, { file_processor = aws_glue_job.file_processor.name })
}

output "job_arns" {
  description = "ARN of each job by key."
  value       = merge({ for key, job in aws_glue_job.this : key => job.arn }, { file_processor = aws_glue_job.file_processor.arn })
}

output "role_arn" {
  description = "Role the stage jobs and the rebuilder run with."
  value       = aws_iam_role.glue.arn
}

output "file_processor_role_arn" {
  description = "Role the file processor runs with (RAW, the landing files, the manifest documents)."
  value       = aws_iam_role.file_processor.arn
}

output "wheel_s3_uri" {
  description = "The lean-ops wheel Glue installs (--additional-python-modules)."
  value       = "s3://${var.artifacts_bucket}/${aws_s3_object.wheel.key}"
}
