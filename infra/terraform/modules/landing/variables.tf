variable "name" {
  description = "Project name: queues <name>-landing-events(-dlq), rule <name>-manifest-flush."
  type        = string
}

variable "account_id" {
  description = "AWS account id (the queue admits the landing bucket's notifications of this account only)."
  type        = string
}

variable "landing_bucket" {
  description = "Name of the landing bucket."
  type        = string
}

variable "landing_bucket_arn" {
  description = "ARN of the landing bucket (aws:SourceArn of its notifications)."
  type        = string
}

variable "landing_prefix" {
  description = "Only objects under this key prefix are announced (\"\": the whole bucket)."
  type        = string
  default     = ""
}

variable "builder_function_arn" {
  description = "ARN of the manifest_builder function."
  type        = string
}

variable "builder_function_name" {
  description = "Name of the manifest_builder function (for the EventBridge invoke permission)."
  type        = string
}

variable "builder_timeout_seconds" {
  description = "Timeout of manifest_builder: the queue's visibility timeout is 6x (AWS's advice for Lambda triggers)."
  type        = number
}

variable "batch_size" {
  description = "Messages (S3 notifications) per manifest_builder invocation."
  type        = number
  default     = 10
}

variable "batching_window_seconds" {
  description = "How long the event source mapping gathers messages before invoking."
  type        = number
  default     = 5
}

variable "builder_max_concurrency" {
  description = "Concurrent manifest_builder invocations the event source mapping starts at most (2-1000)."
  type        = number
  default     = 5
}

variable "max_receive_count" {
  description = "Receives before SQS moves an event to the DLQ."
  type        = number
  default     = 5
}

variable "message_retention_seconds" {
  description = "How long the landing events queue keeps a message."
  type        = number
  default     = 345600
}

variable "flush_schedule" {
  description = "EventBridge schedule that runs manifest_builder with {\"flush_due\": true}."
  type        = string
  default     = "rate(5 minutes)"
}
