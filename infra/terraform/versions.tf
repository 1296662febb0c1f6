terraform {
  required_version = ">= 1.6.0"

  required_providers {
    aws = {
      source = "hashicorp/aws"
      # 5.x: the Iceberg destination of Firehose (iceberg_configuration) needs a recent 5.x; verified with 5.100.0.
      version = "~> 5.80"
    }
  }
}
