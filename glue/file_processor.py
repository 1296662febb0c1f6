"""AWS Glue job `file_processor` (seed 003): one manifest of landed NDJSON files into RAW as one commit.

Job arguments: --manifest_id (required; the Step Functions file-manifest workflow passes it),
--MANIFEST_PATH (the manifest document in S3), and the deployment's --catalog/--warehouse/--state.
A Glue 5.0 job like the others (Python shell jobs run Python 3.9; lean-ops needs 3.10+); it does not
start Spark: docs/landing.md.
"""
from leanops.engines.spark.jobs import main

if __name__ == "__main__":
    main("file_processor")
