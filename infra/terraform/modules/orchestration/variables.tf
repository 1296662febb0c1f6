variable "name" {
  description = "Project name: state machines are <name>-orchestrator, <name>-topic-pipeline, ..."
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

variable "kms_key_arn" {
  description = "Project KMS key (log groups; the alerts topic and FileManifests are encrypted with it)."
  type        = string
}

variable "log_retention_days" {
  description = "Retention of the state machines' log groups."
  type        = number
  default     = 365
}

variable "enable_tracing" {
  description = "X-Ray tracing of the state machines."
  type        = bool
  default     = true
}

variable "map_mode" {
  description = "INLINE (orchestrator.asl.json) or DISTRIBUTED (orchestrator_distributed.asl.json)."
  type        = string
  default     = "INLINE"

  validation {
    condition     = contains(["INLINE", "DISTRIBUTED"], var.map_mode)
    error_message = "map_mode: INLINE or DISTRIBUTED."
  }
}

variable "max_concurrency" {
  description = "Topics at once: the scheduled input {\"max_concurrency\": N} of the orchestrator."
  type        = number
}

variable "schedule_expression" {
  description = "EventBridge schedule of the orchestrator."
  type        = string
  default     = "rate(15 minutes)"
}

variable "schedule_enabled" {
  description = "Whether the orchestrator schedule is enabled."
  type        = bool
  default     = true
}

variable "fetch_active_topics_arn" {
  description = "ARN of the fetch_active_topics function (the orchestrator's first step)."
  type        = string
}

variable "flow_step_arn" {
  description = "ARN of the flow_step function (the Python steps of the topic pipeline and the rebuilder)."
  type        = string
}

variable "glue_job_names" {
  description = "Glue job names by key: standardized_processor, curated_processor, semantic_processor, table_maintenance, historical_rebuilder, file_processor (the file-manifest workflow's job)."
  type        = map(string)
}

variable "file_manifests_table_name" {
  description = "DynamoDB table of the file manifests."
  type        = string
}

variable "file_manifests_table_arn" {
  description = "ARN of the FileManifests table."
  type        = string
}

variable "alerts_topic_arn" {
  description = "SNS alerts topic the workflows publish failures to."
  type        = string
}
