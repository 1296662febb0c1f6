variable "name" {
  description = "Name of the queue; its dead-letter queue is <name>-dlq."
  type        = string
}

variable "visibility_timeout_seconds" {
  description = "Visibility timeout: a multiple of the consumer's timeout (AWS advises 6x for Lambda)."
  type        = number
}

variable "message_retention_seconds" {
  description = "How long the queue keeps a message."
  type        = number
}

variable "max_receive_count" {
  description = "Receives before a message moves to the dead-letter queue."
  type        = number
}

variable "send_statements" {
  description = "Allow statements for the queue's policy, without Resource (the module sets it to the queue)."
  type        = any # a list of objects of different shapes (a tuple)
  default     = []
}
