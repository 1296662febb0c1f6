"""AWS Glue job `table_maintenance`: compaction, snapshot expiry, manifest merging and the orphan sweep of one
topic's tables (then the shared tables when due) with Iceberg's Spark procedures (docs/maintenance-spark.md).

Job arguments: --topic_name (required), --dry_run true|false, --lease_holder (the topic pipeline's execution
id), --shared auto|true|false, --home / --schemas (local deployment).
Glue 5.0 settings and the local spark-submit command: docs/spark.md.
"""
from leanops.engines.spark.jobs import main

if __name__ == "__main__":
    main("table_maintenance")
