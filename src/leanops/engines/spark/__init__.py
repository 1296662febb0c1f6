"""The Spark engine (optional extra `lean-ops[spark]`).

    from leanops.engines.spark import spark_session
    spark = spark_session(settings)          # opens the same catalog + warehouse as the embedded engine
    spark.table("leanops.raw.events_staging").count()
"""
from leanops.engines.spark.session import catalog_conf, find_iceberg_jar, find_sqlite_jdbc_jar, spark_session

__all__ = ["catalog_conf", "find_iceberg_jar", "find_sqlite_jdbc_jar", "spark_session"]
