variable "name" {
  description = "Project name: queues <name>-ingest(-dlq), streams <name>-<topic>."
  type        = string
}

variable "account_id" {
  description = "AWS account id."
  type        = string
}

variable "region" {
  description = "AWS region."
  type        = string
}

variable "partition" {
  description = "AWS partition."
  type        = string
}

variable "topics" {
  description = "Topics with a delivery stream to raw.<topic>_staging."
  type        = list(string)
}

variable "kms_key_arn" {
  description = "Project KMS key (streams, Firehose's S3 writes, log group)."
  type        = string
}

variable "lake_bucket" {
  description = "Name of the lake bucket (Iceberg warehouse and Firehose error prefix)."
  type        = string
}

variable "warehouse_prefix" {
  description = "Key prefix of the Iceberg warehouse in the lake bucket."
  type        = string
}

variable "raw_database" {
  description = "Glue database of the RAW zone."
  type        = string
}

variable "log_retention_days" {
  description = "Retention of Firehose's log group."
  type        = number
  default     = 365
}

variable "forwarder_function_arn" {
  description = "ARN of the sqs_to_firehose function."
  type        = string
}

variable "forwarder_timeout_seconds" {
  description = "Timeout of sqs_to_firehose: the queue's visibility timeout is 6x (AWS's advice for Lambda triggers)."
  type        = number
}

variable "forwarder_batch_size" {
  description = "Messages per sqs_to_firehose invocation."
  type        = number
  default     = 100
}

variable "forwarder_batching_window_seconds" {
  description = "How long the event source mapping gathers messages before invoking (needed for batches over 10)."
  type        = number
  default     = 5
}

variable "forwarder_max_concurrency" {
  description = "Concurrent sqs_to_firehose invocations the event source mapping starts at most (2-1000)."
  type        = number
  default     = 10
}

variable "max_receive_count" {
  description = "Receives before SQS moves a message to the DLQ (seed 001: failures after 5 attempts)."
  type        = number
  default     = 5
}

variable "message_retention_seconds" {
  description = "How long the ingestion queue keeps a message."
  type        = number
  default     = 345600
}

variable "firehose_buffering_size_mb" {
  description = "Firehose buffer size (MiB) before a delivery (one Iceberg commit to RAW)."
  type        = number
  default     = 128
}

variable "firehose_buffering_interval_seconds" {
  description = "Firehose buffer interval (seconds) before a delivery (one Iceberg commit to RAW)."
  type        = number
  default     = 300
}

variable "dlq_drainer_function_arn" {
  description = "ARN of the dlq_drainer function."
  type        = string
}

variable "dlq_drainer_function_name" {
  description = "Name of the dlq_drainer function (for the EventBridge invoke permission)."
  type        = string
}

variable "dlq_drain_schedule" {
  description = "EventBridge schedule expression of the drainer."
  type        = string
  default     = "rate(30 minutes)"
}
