"""AWS Glue job `file_processor` (seed 003): one manifest of landed NDJSON files into RAW as one commit.

Job arguments: --manifest_id (required; the Step Functions file-manifest workflow passes it),
--MANIFEST_PATH (the manifest document in S3), and the deployment's --catalog/--warehouse/--state.
A Python shell job is enough (no Spark): docs/landing.md.
"""
from leanops.engines.spark.jobs import main

if __name__ == "__main__":
    main("file_processor")
