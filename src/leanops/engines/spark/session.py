"""A local Spark session on the very catalog and warehouse the embedded engine uses.

PyIceberg keeps the catalog in SQLite (`<home>/catalog.db`, SQL catalog named `leanops`). Spark opens
the same file through Iceberg's `JdbcCatalog` and the SQLite JDBC driver, under the same catalog
name (the `catalog_name` column must match) and with `jdbc.schema-version=V1`. Nothing is fetched
from Maven: the Iceberg runtime jar comes from the PyPI package `snowpark-connect-deps-iceberg`
(pinned 1.0.2: Iceberg 1.10.2 for Spark 3.5 / Scala 2.12) and the JDBC driver from Debian's
`libxerial-sqlite-jdbc-java` (or any sqlite-jdbc jar named by $LEANOPS_SQLITE_JDBC_JAR).

SQLite lock leak (Iceberg 1.10.2): `JdbcCatalog.initialize()` leaves two JDBC ResultSets open
(`DatabaseMetaData.getTables` / `getColumns`). On SQLite an unfinished statement is an open read
transaction, so the pooled connection keeps a SHARED lock on catalog.db for the life of the JVM and
every PyIceberg commit fails with "database is locked". Every other catalog query closes its
statements, so right after initialization `spark_session` reconnects the pool's idle connections
(`_release_init_locks`), which finalizes the leaked statements. Iceberg's rewrite procedures
(rewrite_data_files, rewrite_position_delete_files) run in a clone of the session, whose catalog is
initialized again: the session therefore sets `jdbc.init-catalog-tables=false` once its own catalog
is up, so a clone's catalog skips the leaking metadata queries.

One JVM per process: the first call starts Spark with the jars and the Iceberg extensions; every
call returns a new session of it whose catalog `leanops` points at the given deployment, so two
deployments (two homes) can be opened one after another in the same process.
"""
from __future__ import annotations

import importlib.util
import os
import sys
import threading
from pathlib import Path
from typing import TYPE_CHECKING

from leanops.config import CATALOG_NAME, Settings
from leanops.errors import ConfigError

if TYPE_CHECKING:  # pyspark is optional
    from pyspark.sql import SparkSession

ICEBERG_PACKAGE = "snowpark_connect_deps_iceberg"
ICEBERG_RUNTIME_JAR = "iceberg-spark-runtime-3.5_2.12-*.jar"  # pyspark 3.5 is built for Scala 2.12
SQLITE_JDBC_ENV = "LEANOPS_SQLITE_JDBC_JAR"
SQLITE_JDBC_CANDIDATES = (  # where Debian's libxerial-sqlite-jdbc-java puts the jar
    Path("/usr/share/java/sqlite-jdbc.jar"),
    Path("/usr/share/java/xerial-sqlite-jdbc.jar"),
)
DEFAULT_MASTER = "local[*]"
MASTER_ENV = "LEANOPS_SPARK_MASTER"
DRIVER_MEMORY_ENV = "LEANOPS_SPARK_DRIVER_MEMORY"
DEFAULT_DRIVER_MEMORY = "4g"  # local[*] runs the executors inside the driver: Spark's 1g default is too small
SHUFFLE_PARTITIONS = 4
INSTALL_HINT = "pip install 'lean-ops[spark]' (or scripts/setup-spark.sh)"

_lock = threading.Lock()


def find_iceberg_jar() -> Path:
    """The Iceberg Spark runtime jar (Spark 3.5, Scala 2.12) inside the installed PyPI package."""
    spec = importlib.util.find_spec(ICEBERG_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise ConfigError(f"the Iceberg Spark runtime is not installed (package {ICEBERG_PACKAGE}); "
                          f"run: {INSTALL_HINT}")
    for location in spec.submodule_search_locations:
        jars = sorted((Path(location) / "jars").glob(ICEBERG_RUNTIME_JAR))
        if jars:
            return jars[-1]
    raise ConfigError(f"no {ICEBERG_RUNTIME_JAR} in the installed {ICEBERG_PACKAGE} "
                      f"({list(spec.submodule_search_locations)}); reinstall: {INSTALL_HINT}")


def find_sqlite_jdbc_jar() -> Path:
    """The SQLite JDBC driver jar: $LEANOPS_SQLITE_JDBC_JAR, else Debian's location."""
    override = os.environ.get(SQLITE_JDBC_ENV)
    if override:
        path = Path(override)
        if not path.is_file():
            raise ConfigError(f"{SQLITE_JDBC_ENV}={override}: no such file")
        return path
    for path in SQLITE_JDBC_CANDIDATES:
        if path.is_file():
            return path
    raise ConfigError("the SQLite JDBC driver jar was not found (looked at "
                      + ", ".join(str(p) for p in SQLITE_JDBC_CANDIDATES)
                      + f"); run: apt-get install libxerial-sqlite-jdbc-java, or set {SQLITE_JDBC_ENV}")


def submit_args() -> list[str]:
    """spark-submit options that put the jars where a JVM started by spark-submit needs them.

    Under spark-submit the driver JVM is running before lean-ops builds its session, so the jars
    (and the JDBC driver on the driver's own class path) must come on the command line.
    """
    jars = [str(find_iceberg_jar()), str(find_sqlite_jdbc_jar())]
    return ["--jars", ",".join(jars), "--driver-class-path", os.pathsep.join(jars)]


def catalog_conf(settings: Settings) -> dict[str, str]:
    """Session settings that make Spark's catalog `leanops` the deployment's catalog and warehouse."""
    prefix = f"spark.sql.catalog.{CATALOG_NAME}"
    if settings.catalog == "glue":  # AWS: the Glue Data Catalog and S3, as the driver's PyIceberg sees them
        conf = {
            prefix: "org.apache.iceberg.spark.SparkCatalog",
            f"{prefix}.catalog-impl": "org.apache.iceberg.aws.glue.GlueCatalog",
            f"{prefix}.io-impl": "org.apache.iceberg.aws.s3.S3FileIO",
            f"{prefix}.warehouse": settings.catalog_properties()["warehouse"],
            "spark.sql.defaultCatalog": CATALOG_NAME,
            "spark.sql.session.timeZone": "UTC",
        }
        if settings.aws_endpoint:
            conf[f"{prefix}.glue.endpoint"] = conf[f"{prefix}.s3.endpoint"] = settings.aws_endpoint
        return conf
    return {
        prefix: "org.apache.iceberg.spark.SparkCatalog",
        f"{prefix}.catalog-impl": "org.apache.iceberg.jdbc.JdbcCatalog",
        f"{prefix}.uri": f"jdbc:sqlite:{settings.home / 'catalog.db'}",
        f"{prefix}.jdbc.schema-version": "V1",
        f"{prefix}.warehouse": settings.warehouse_dir.as_uri(),
        # PyIceberg commits beside Spark: always load the current metadata, never a cached table
        f"{prefix}.cache-enabled": "false",
        "spark.sql.defaultCatalog": CATALOG_NAME,
        "spark.sql.session.timeZone": "UTC",
        "spark.sql.shuffle.partitions": str(SHUFFLE_PARTITIONS),
    }


def _jvm_conf(master: str) -> dict[str, str]:
    jars = [str(find_iceberg_jar()), str(find_sqlite_jdbc_jar())]
    return {
        "spark.master": master,
        "spark.app.name": "lean-ops",
        "spark.driver.memory": os.environ.get(DRIVER_MEMORY_ENV) or DEFAULT_DRIVER_MEMORY,
        "spark.jars": ",".join(jars),
        # also on the driver's own class path: java.sql.DriverManager only sees drivers there
        "spark.driver.extraClassPath": os.pathsep.join(jars),
        "spark.sql.extensions": "org.apache.iceberg.spark.extensions.IcebergSparkSessionExtensions",
        "spark.sql.catalogImplementation": "in-memory",
        "spark.ui.enabled": "false",
        "spark.ui.showConsoleProgress": "false",
        "spark.pyspark.python": sys.executable,
        "spark.pyspark.driver.python": sys.executable,
        "spark.sql.session.timeZone": "UTC",
        "spark.sql.shuffle.partitions": str(SHUFFLE_PARTITIONS),
        "spark.default.parallelism": str(SHUFFLE_PARTITIONS),
    }


def _base_session(master: str, provided: bool = False) -> "SparkSession":
    """The process's Spark session. `provided`: the platform (AWS Glue with `--datalake-formats
    iceberg`, EMR) brings Iceberg, so no jars are added and its own configuration stands."""
    try:
        from pyspark.sql import SparkSession
    except ImportError as exc:
        raise ConfigError(f"pyspark is not installed; run: {INSTALL_HINT}") from exc
    active = SparkSession.getActiveSession()
    if active is None and provided:
        active = SparkSession.builder.config(
            "spark.sql.extensions", "org.apache.iceberg.spark.extensions.IcebergSparkSessionExtensions").getOrCreate()
    if active is None:
        # Python workers run this interpreter (and so find lean-ops and DuckDB): a SparkContext
        # started from Python takes its worker executable from the environment, not from the conf
        os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
        builder = SparkSession.builder
        for key, value in _jvm_conf(master).items():
            builder = builder.config(key, value)
        active = builder.getOrCreate()
        active.sparkContext.setLogLevel("WARN")
    extensions = active.sparkContext.getConf().get("spark.sql.extensions", "") or ""
    if "IcebergSparkSessionExtensions" not in extensions:
        raise ConfigError("a Spark session without the Iceberg extensions is already running in this "
                          "process; stop it before calling spark_session()")
    return active


def spark_session(settings: Settings, master: str | None = None) -> "SparkSession":
    """A Spark session whose default catalog `leanops` is this deployment's Iceberg catalog.

    `master` (default $LEANOPS_SPARK_MASTER or local[*]) applies when this call starts the JVM.
    """
    settings.warehouse_dir.mkdir(parents=True, exist_ok=True)
    with _lock:
        base = _base_session(master or os.environ.get(MASTER_ENV) or DEFAULT_MASTER, provided=settings.catalog == "glue")
        session = base.newSession()  # own SQL conf and catalog manager: the catalog binds to this home
    for key, value in catalog_conf(settings).items():
        session.conf.set(key, value)
    _release_init_locks(session)
    if settings.catalog != "glue":
        # the catalog tables exist now; sessions cloned from this one (Iceberg's rewrite actions clone
        # the session) must not initialize them again, which would leak the lock of the module doc
        session.conf.set(f"spark.sql.catalog.{CATALOG_NAME}.jdbc.init-catalog-tables", "false")
    return session


def _private(obj, cls, name: str):
    field = cls.getDeclaredField(name)
    field.setAccessible(True)
    return field.get(obj)


def _release_init_locks(session: "SparkSession") -> None:
    """Initialize the catalog now, then reconnect its idle JDBC connections (see the module doc)."""
    jvm = session.sparkContext._jvm
    gateway = session.sparkContext._gateway
    # loads + initializes the plugin under this session's conf (SQL runs with the session active);
    # the catalog manager then hands out that same instance
    session.sql(f"SHOW NAMESPACES IN {CATALOG_NAME}").collect()
    spark_catalog = session._jsparkSession.sessionState().catalogManager().catalog(CATALOG_NAME)
    cls = jvm.java.lang.Class
    catalog = _private(spark_catalog, cls.forName("org.apache.iceberg.spark.SparkCatalog"), "icebergCatalog")
    if catalog.getClass().getName() == "org.apache.iceberg.CachingCatalog":
        catalog = _private(catalog, cls.forName("org.apache.iceberg.CachingCatalog"), "catalog")
    if catalog.getClass().getName() != "org.apache.iceberg.jdbc.JdbcCatalog":
        return
    pool = _private(catalog, cls.forName("org.apache.iceberg.jdbc.JdbcCatalog"), "connections")
    pool_cls = cls.forName("org.apache.iceberg.jdbc.JdbcClientPool")
    clients = _private(pool, cls.forName("org.apache.iceberg.ClientPoolImpl"), "clients")
    signature = gateway.new_array(cls, 1)
    signature[0] = cls.forName("java.sql.Connection")
    reconnect = pool_cls.getDeclaredMethod("reconnect", signature)
    reconnect.setAccessible(True)
    with _lock:
        for _ in range(clients.size()):
            connection = clients.pollFirst()
            if connection is None:
                break
            args = gateway.new_array(jvm.java.lang.Object, 1)
            args[0] = connection
            clients.addLast(reconnect.invoke(pool, args))
