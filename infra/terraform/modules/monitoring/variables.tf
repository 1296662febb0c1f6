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
  description = "Alarm when the DLQ's oldest message is older than this (default 7 days: the drainer has stopped draining)."
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
