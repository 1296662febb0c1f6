variable "name" {
  description = "Project name: the topic is <name>-alerts, alarms <name>-..."
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
  description = "KMS key of the alerts topic."
  type        = string
}

variable "alert_emails" {
  description = "E-mail subscriptions of the alerts topic."
  type        = list(string)
  default     = []
}

variable "dlq_name" {
  description = "Name of the ingestion DLQ (its oldest message's age is alarmed)."
  type        = string
}

variable "dlq_max_age_seconds" {
  description = "Alarm when the DLQ's oldest message, or a topic's oldest raw.dlq_errors row, is older than this (seed 004: 7 days)."
  type        = number
  default     = 604800
}

variable "state_machine_arns" {
  description = "State machines by key: each gets an ExecutionsFailed alarm."
  type        = map(string)
}

variable "glue_job_names" {
  description = "Glue jobs whose FAILED/TIMEOUT/ERROR runs are sent to the alerts topic."
  type        = list(string)
}

variable "lambda_function_names" {
  description = "Lambda functions by key: each gets an Errors alarm."
  type        = map(string)
}

variable "landing_dlq_name" {
  description = "Name of the landing events DLQ (its oldest message's age is alarmed)."
  type        = string
}

variable "landing_dlq_max_age_seconds" {
  description = "Alarm when the landing DLQ's oldest message is older than this (default 5 minutes: any message there is an untracked file waiting for an operator)."
  type        = number
  default     = 300
}

variable "topics" {
  description = "Topics the health check reports: each gets the alarms of local.health_alarms."
  type        = list(string)
}

variable "health_check_function_arn" {
  description = "The health_check function the schedule runs."
  type        = string
}

variable "health_check_function_name" {
  description = "Name of the health_check function (the schedule's invoke permission)."
  type        = string
}

variable "health_check_schedule" {
  description = "How often the health check publishes its metrics (the alarms' period is 5 minutes)."
  type        = string
  default     = "rate(5 minutes)"
}

variable "health_namespace" {
  description = "CloudWatch namespace of the health check's metrics."
  type        = string
  default     = "LeanOps"
}

variable "curation_lag_threshold_records" {
  description = "Alarm when a topic has more records than this waiting for Curated (seed 004: 100,000)."
  type        = number
  default     = 100000
}

variable "semantic_lag_threshold_seconds" {
  description = "Alarm when a topic's oldest Curated change has waited longer than this for Semantic (seed 004: 2 hours)."
  type        = number
  default     = 7200
}

variable "drift_threshold_entries" {
  description = "Alarm when a check finds more new drift-log entries than this (seed 004: any new entry)."
  type        = number
  default     = 0
}
