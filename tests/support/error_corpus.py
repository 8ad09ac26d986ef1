"""Error messages in the shapes that Airflow, dbt, Spark, Snowflake, BigQuery, PostgreSQL,
Fivetran and Airbyte print them, each with the group an on-call engineer would put it in.

Same group: one cause, seen from other runs, pipelines, clients, hosts or client libraries
(other ids, numbers, times, hosts, stack frames). Different groups with similar words are there
on purpose: another schema, another missing table, a timeout against a refused connection,
another exit code. The failure signature tests and bench/signatures.py read this list.
"""

from __future__ import annotations

from itertools import combinations
from typing import NamedTuple


class Example(NamedTuple):
    group: str
    message: str


def _python_traceback(frames: int, last_line: str, *, log_prefix: bool = True) -> str:
    lines = []
    if log_prefix:
        lines.append(
            "[2024-05-02, 02:10:33 UTC] {taskinstance.py:2905} ERROR - Task failed with exception"
        )
    lines.append("Traceback (most recent call last):")
    for number in range(frames):
        lines.append(
            f'  File "/home/airflow/.local/lib/python3.11/site-packages/acme/step_{number}.py",'
            f" line {40 + number}, in run_{number}"
        )
        lines.append(f"    return run_{number + 1}(context, attempt={number})")
    lines.append(last_line)
    return "\n".join(lines)


def _java_frames(count: int, package: str = "org.apache.spark.sql.execution") -> str:
    return "".join(
        f"\n\tat {package}.Stage{n}.apply(Stage{n}.scala:{100 + n})" for n in range(count)
    )


_LONG_SQL = "SELECT " + ",\n       ".join(f"o.column_{n}" for n in range(1500))

CORPUS: list[Example] = [
    # --- Airflow ---
    Example("airflow-return-code-1", "Task exited with return code 1"),
    Example(
        "airflow-return-code-1",
        "[2024-05-02, 02:14:07 UTC] {local_task_job_runner.py:234} INFO - "
        "Task exited with return code 1",
    ),
    Example("airflow-return-code-137", "Task exited with return code 137"),
    Example(
        "airflow-return-code-137",
        "[2024-06-11, 03:00:41 UTC] {local_task_job_runner.py:234} INFO - "
        "Task exited with return code 137",
    ),
    Example("airflow-return-code-sigkill", "Task exited with return code Negsignal.SIGKILL"),
    Example(
        "airflow-bash-exit-1",
        "airflow.exceptions.AirflowException: Bash command failed. "
        "The command returned a non-zero exit code 1.",
    ),
    Example(
        "airflow-bash-exit-1",
        _python_traceback(
            3,
            "airflow.exceptions.AirflowException: Bash command failed. "
            "The command returned a non-zero exit code 1.",
        ),
    ),
    Example(
        "airflow-bash-exit-2",
        "airflow.exceptions.AirflowException: Bash command failed. "
        "The command returned a non-zero exit code 2.",
    ),
    Example("airflow-task-timeout", "airflow.exceptions.AirflowTaskTimeout: Timeout, PID: 4187"),
    Example(
        "airflow-task-timeout",
        _python_traceback(5, "airflow.exceptions.AirflowTaskTimeout: Timeout, PID: 918"),
    ),
    Example(
        "airflow-sensor-timeout",
        "airflow.exceptions.AirflowSensorTimeout: Sensor has timed out; run duration of "
        "3600.21 seconds exceeds the specified timeout of 3600.0.",
    ),
    Example(
        "airflow-sensor-timeout",
        "Sensor has timed out; run duration of 7201.5 seconds exceeds the specified timeout "
        "of 7200.0.",
    ),
    Example(
        "airflow-killed-externally",
        "Executor reports task instance <TaskInstance: daily_sales.load_orders "
        "scheduled__2024-05-01T02:00:00+00:00 [queued]> finished (failed) although the task says "
        "it's queued. (Info: None) Was the task killed externally?",
    ),
    Example(
        "airflow-killed-externally",
        "Executor reports task instance <TaskInstance: crm_sync.extract_contacts "
        "manual__2024-06-03T11:42:17.318220+00:00 map_index=4 [queued]> finished (failed) "
        "although the task says it's queued. (Info: None) Was the task killed externally?",
    ),
    Example(
        "airflow-zombie",
        "Detected zombie job: {'full_filepath': '/opt/airflow/dags/sales.py', "
        "'processor_subdir': '/opt/airflow/dags', 'msg': \"{'DAG Id': 'daily_sales', 'Task Id': "
        "'load_orders', 'Run Id': 'scheduled__2024-05-01T02:00:00+00:00', 'Hostname': "
        "'airflow-worker-2.airflow-worker.airflow.svc.cluster.local', 'External Executor Id': "
        "'8e4b5c6d-1a2b-4c3d-9e8f-0a1b2c3d4e5f'}\", 'simple_task_instance': "
        "<airflow.models.taskinstance.SimpleTaskInstance object at 0x7f3a2b1c4d50>, "
        "'is_failure_callback': True}",
    ),
    Example(
        "airflow-zombie",
        "Detected zombie job: {'full_filepath': '/opt/airflow/dags/crm/hubspot.py', "
        "'processor_subdir': '/opt/airflow/dags', 'msg': \"{'DAG Id': 'crm_sync', 'Task Id': "
        "'extract_deals', 'Run Id': 'manual__2024-06-03T11:42:17.318220+00:00', 'Hostname': "
        "'airflow-worker-0.airflow-worker.airflow.svc.cluster.local', 'External Executor Id': "
        "'f7e6d5c4-b3a2-4190-8f7e-6d5c4b3a2910'}\", 'simple_task_instance': "
        "<airflow.models.taskinstance.SimpleTaskInstance object at 0x7f19d0e2a8b0>, "
        "'is_failure_callback': True}",
    ),
    Example(
        "airflow-pod-failed-orders-sync",
        "airflow.exceptions.AirflowException: Pod orders-sync-h6xq2k9t returned a failure.",
    ),
    Example(
        "airflow-pod-failed-orders-sync",
        "airflow.exceptions.AirflowException: Pod orders-sync-p2m8z4qa returned a failure.",
    ),
    Example(
        "python-key-error-customer-id",
        _python_traceback(4, "KeyError: 'customer_id'"),
    ),
    Example(
        "python-key-error-customer-id",
        _python_traceback(9, "KeyError: 'customer_id'", log_prefix=False)
        + "\n[2024-05-02, 02:10:34 UTC] {taskinstance.py:1206} INFO - Marking task as FAILED. "
        "dag_id=daily_sales, task_id=enrich_orders, run_id=scheduled__2024-05-01T02:00:00+00:00",
    ),
    Example(
        # A traceback far longer than the window the rules read.
        "python-key-error-customer-id",
        _python_traceback(300, "KeyError: 'customer_id'"),
    ),
    Example("python-key-error-order-id", _python_traceback(4, "KeyError: 'order_id'")),
    Example(
        "python-module-missing-pandas",
        _python_traceback(2, "ModuleNotFoundError: No module named 'pandas'"),
    ),
    Example("python-module-missing-pandas", "ModuleNotFoundError: No module named 'pandas'"),
    # --- requests / urllib3 under any Python task ---
    Example(
        "http-connection-refused",
        "requests.exceptions.ConnectionError: HTTPSConnectionPool(host='api.acme.io', port=443): "
        "Max retries exceeded with url: /v2/export?since=2024-05-01 (Caused by "
        "NewConnectionError('<urllib3.connection.HTTPSConnection object at 0x7f9c2a1b3d90>: "
        "Failed to establish a new connection: [Errno 111] Connection refused'))",
    ),
    Example(
        "http-connection-refused",
        "requests.exceptions.ConnectionError: HTTPSConnectionPool(host='ingest.globex.com', "
        "port=8443): Max retries exceeded with url: /api/orders?page=3&per_page=500 (Caused by "
        "NewConnectionError('<urllib3.connection.HTTPSConnection object at 0x7f0a11c2e650>: "
        "Failed to establish a new connection: [Errno 111] Connection refused'))",
    ),
    Example(
        "http-connect-timeout",
        "requests.exceptions.ConnectTimeout: HTTPSConnectionPool(host='api.acme.io', port=443): "
        "Max retries exceeded with url: /v2/export?since=2024-05-01 (Caused by "
        "ConnectTimeoutError(<urllib3.connection.HTTPSConnection object at 0x7f9c2a1b3d90>, "
        "'Connection to api.acme.io timed out. (connect timeout=30)'))",
    ),
    Example(
        "http-name-resolution",
        "requests.exceptions.ConnectionError: HTTPSConnectionPool(host='api.acme.io', port=443): "
        "Max retries exceeded with url: /v2/export?since=2024-05-01 (Caused by "
        'NameResolutionError("<urllib3.connection.HTTPSConnection object at 0x7f9c2a1b3d90>: '
        "Failed to resolve 'api.acme.io' ([Errno -2] Name or service not known)\"))",
    ),
    # --- PostgreSQL, through psql, psycopg, JDBC, SQLAlchemy and dbt ---
    Example("pg-permission-schema-analytics", "ERROR:  permission denied for schema analytics"),
    Example(
        "pg-permission-schema-analytics",
        "psycopg2.errors.InsufficientPrivilege: permission denied for schema analytics\n"
        "LINE 1: SELECT * FROM analytics.orders WHERE updated_at > '2024-05-01'\n"
        "                      ^\n",
    ),
    Example(
        "pg-permission-schema-analytics",
        "org.postgresql.util.PSQLException: ERROR: permission denied for schema analytics"
        + _java_frames(6, "org.postgresql.core.v3"),
    ),
    Example(
        "pg-permission-schema-analytics",
        "Database Error in model fct_orders (models/marts/fct_orders.sql)\n"
        "  permission denied for schema analytics\n"
        "  compiled Code at target/run/shop/models/marts/fct_orders.sql",
    ),
    Example(
        "pg-permission-schema-analytics",
        "sqlalchemy.exc.ProgrammingError: (psycopg2.errors.InsufficientPrivilege) permission "
        "denied for schema analytics\n\n[SQL: " + _LONG_SQL + "\nFROM analytics.orders o]\n"
        "(Background on this error at: https://sqlalche.me/e/14/f405)",
    ),
    Example(
        "pg-permission-schema-staging",
        "psycopg2.errors.InsufficientPrivilege: permission denied for schema staging\n"
        "LINE 1: INSERT INTO staging.customers_raw (id, email) VALUES (1, 'a@b.c')\n"
        "                    ^\n",
    ),
    Example(
        "pg-relation-missing-orders",
        'psycopg2.errors.UndefinedTable: relation "analytics.orders" does not exist\n'
        "LINE 1: SELECT count(*) FROM analytics.orders\n"
        "                             ^\n",
    ),
    Example(
        "pg-relation-missing-orders",
        "Database Error in model orders_daily (models/marts/orders_daily.sql)\n"
        '  relation "analytics.orders" does not exist\n'
        '  LINE 14:   from "warehouse"."analytics"."orders"\n'
        "                  ^\n"
        "  compiled Code at target/run/shop/models/marts/orders_daily.sql",
    ),
    Example(
        "pg-relation-missing-customers",
        'psycopg2.errors.UndefinedTable: relation "analytics.customers" does not exist\n'
        "LINE 3: JOIN analytics.customers c ON c.id = o.customer_id\n"
        "             ^\n",
    ),
    Example(
        "pg-connection-refused",
        'psycopg2.OperationalError: connection to server at "db-7.acme.internal" (10.0.3.17), '
        "port 5432 failed: Connection refused\n"
        "\tIs the server running on that host and accepting TCP/IP connections?\n",
    ),
    Example(
        "pg-connection-refused",
        'connection to server at "pg-main.globex.com" (172.16.40.2), port 6432 failed: '
        "Connection refused\n"
        "\tIs the server running on that host and accepting TCP/IP connections?",
    ),
    Example(
        "pg-connection-timeout",
        'psycopg2.OperationalError: connection to server at "db-3.initech.internal" (10.0.9.4), '
        "port 5432 failed: Connection timed out\n"
        "\tIs the server running on that host and accepting TCP/IP connections?\n",
    ),
    Example(
        "pg-duplicate-key-orders-pkey",
        "psycopg2.errors.UniqueViolation: duplicate key value violates unique constraint "
        '"orders_pkey"\nDETAIL:  Key (order_id)=(1042) already exists.\n',
    ),
    Example(
        "pg-duplicate-key-orders-pkey",
        'ERROR: duplicate key value violates unique constraint "orders_pkey"\n'
        "  Detail: Key (order_id)=(88731) already exists.",
    ),
    Example(
        "pg-duplicate-key-customers-email",
        "psycopg2.errors.UniqueViolation: duplicate key value violates unique constraint "
        '"customers_email_key"\nDETAIL:  Key (email)=(ann.lee@example.com) already exists.\n',
    ),
    Example(
        "pg-deadlock",
        "psycopg2.errors.DeadlockDetected: deadlock detected\n"
        "DETAIL:  Process 48213 waits for ShareLock on transaction 9912834; blocked by process "
        "48190.\nProcess 48190 waits for ShareLock on transaction 9912831; blocked by process "
        "48213.\nHINT:  See server log for query details.\n"
        'CONTEXT:  while updating tuple (1274,18) in relation "orders"\n',
    ),
    Example(
        "pg-deadlock",
        "psycopg2.errors.DeadlockDetected: deadlock detected\n"
        "DETAIL:  Process 902 waits for ShareLock on transaction 55120; blocked by process 877.\n"
        "Process 877 waits for ShareLock on transaction 55119; blocked by process 902.\n"
        "HINT:  See server log for query details.\n"
        'CONTEXT:  while inserting index tuple (0,7) in relation "orders_pkey"\n',
    ),
    Example(
        "pg-invalid-integer",
        'psycopg2.errors.InvalidTextRepresentation: invalid input syntax for type integer: "abc"\n'
        "LINE 1: ...INTO staging.orders (quantity) VALUES ('abc')\n"
        "                                                  ^\n",
    ),
    Example(
        "pg-invalid-integer",
        "org.postgresql.util.PSQLException: ERROR: invalid input syntax for type integer: "
        '"N/A"\n  Where: COPY orders, line 1289, column quantity: "N/A"',
    ),
    Example(
        "pg-invalid-timestamp",
        "psycopg2.errors.InvalidDatetimeFormat: invalid input syntax for type timestamp: "
        '"2024-13-45 25:61:00"\n',
    ),
    Example(
        "pg-password-failed-loader",
        'FATAL:  password authentication failed for user "loader"',
    ),
    Example(
        "pg-password-failed-loader",
        'org.postgresql.util.PSQLException: FATAL: password authentication failed for user "loader"'
        + _java_frames(4, "org.postgresql.core.v3"),
    ),
    Example(
        "pg-password-failed-dbt-runner",
        'FATAL:  password authentication failed for user "dbt_runner"',
    ),
    Example(
        "pg-statement-timeout",
        "psycopg2.errors.QueryCanceled: canceling statement due to statement timeout\n",
    ),
    Example(
        "pg-statement-timeout",
        "ERROR:  canceling statement due to statement timeout\n"
        'CONTEXT:  SQL statement "INSERT INTO analytics.orders_daily SELECT * FROM '
        'staging.orders"\nPL/pgSQL function refresh_orders_daily() line 4 at SQL statement',
    ),
    Example(
        "pg-canceled-by-user",
        "psycopg2.errors.QueryCanceled: canceling statement due to user request\n",
    ),
    Example(
        "pg-disk-full",
        'psycopg2.errors.DiskFull: could not extend file "base/16384/2619": No space left on '
        "device\nHINT:  Check free disk space.\n",
    ),
    Example(
        "pg-disk-full",
        'ERROR:  could not extend file "base/5/1663.4": No space left on device\n'
        "HINT:  Check free disk space.",
    ),
    # --- Snowflake, through its Python connector, dbt and Airflow ---
    Example(
        "snowflake-missing-raw-orders",
        "Database Error in model stg_orders (models/staging/stg_orders.sql)\n"
        "  002003 (42S02): SQL compilation error:\n"
        "  Object 'RAW.SHOP.ORDERS' does not exist or not authorized.\n"
        "  compiled Code at target/run/shop/models/staging/stg_orders.sql",
    ),
    Example(
        "snowflake-missing-raw-orders",
        "snowflake.connector.errors.ProgrammingError: 002003 (42S02): "
        "01b3e5a2-0406-2f8c-0000-5c8d00a1b2c6: SQL compilation error:\n"
        "Object 'RAW.SHOP.ORDERS' does not exist or not authorized.",
    ),
    Example(
        "snowflake-missing-raw-orders",
        _python_traceback(
            6,
            "snowflake.connector.errors.ProgrammingError: 002003 (42S02): "
            "01b3e6f0-0406-3a1d-0000-5c8d00a2c4e8: SQL compilation error:\n"
            "Object 'RAW.SHOP.ORDERS' does not exist or not authorized.",
        ),
    ),
    Example(
        "snowflake-missing-raw-payments",
        "Database Error in model stg_payments (models/staging/stg_payments.sql)\n"
        "  002003 (42S02): SQL compilation error:\n"
        "  Object 'RAW.SHOP.PAYMENTS' does not exist or not authorized.\n"
        "  compiled Code at target/run/shop/models/staging/stg_payments.sql",
    ),
    Example(
        "snowflake-bad-credentials",
        "snowflake.connector.errors.DatabaseError: 250001 (08001): Failed to connect to DB: "
        "acme-xy12345.eu-west-1.snowflakecomputing.com:443. Incorrect username or password was "
        "specified.",
    ),
    Example(
        "snowflake-bad-credentials",
        "250001 (08001): Failed to connect to DB: globex-ab67890.us-east-1.snowflakecomputing.com"
        ":443. Incorrect username or password was specified.",
    ),
    Example(
        "snowflake-jwt-invalid",
        "snowflake.connector.errors.DatabaseError: 250001 (08001): Failed to connect to DB: "
        "acme-xy12345.eu-west-1.snowflakecomputing.com:443. JWT token is invalid.",
    ),
    Example(
        "dbt-snowflake-bad-credentials",
        "Runtime Error\n"
        '  Database error while listing schemas in database "ANALYTICS"\n'
        "  Database Error\n"
        "    250001 (08001): Failed to connect to DB: initech-qq11223.snowflakecomputing.com:443."
        " Incorrect username or password was specified.",
    ),
    Example(
        "snowflake-monitor-transform-wh",
        "000606 (57P03): Warehouse 'TRANSFORM_WH' cannot be resumed because resource monitor "
        "'RM_MONTHLY' has exceeded its quota.",
    ),
    Example(
        "snowflake-monitor-transform-wh",
        "Database Error in model fct_revenue (models/marts/fct_revenue.sql)\n"
        "  000606 (57P03): Warehouse 'TRANSFORM_WH' cannot be resumed because resource monitor "
        "'RM_MONTHLY' has exceeded its quota.\n"
        "  compiled Code at target/run/finance/models/marts/fct_revenue.sql",
    ),
    Example(
        "snowflake-monitor-load-wh",
        "000606 (57P03): Warehouse 'LOAD_WH' cannot be resumed because resource monitor "
        "'RM_LOADING' has exceeded its quota.",
    ),
    Example(
        "snowflake-statement-timeout",
        "000630 (57014): Statement reached its statement or warehouse timeout of 3,600 second(s) "
        "and was canceled.",
    ),
    Example(
        "snowflake-statement-timeout",
        "snowflake.connector.errors.ProgrammingError: 000630 (57014): "
        "01b3e7aa-0406-2f8c-0000-5c8d00a39d12: Statement reached its statement or warehouse "
        "timeout of 7,200 second(s) and was canceled.",
    ),
    Example(
        "snowflake-numeric-value",
        "100038 (22018): Numeric value 'abc' is not recognized",
    ),
    Example(
        "snowflake-numeric-value",
        "Database Error in model fct_orders (models/marts/fct_orders.sql)\n"
        "  100038 (22018): Numeric value 'N/A' is not recognized\n"
        "  compiled Code at target/run/shop/models/marts/fct_orders.sql",
    ),
    Example(
        "snowflake-schema-privileges-staging",
        "003001 (42501): SQL access control error:\n"
        "Insufficient privileges to operate on schema 'STAGING'",
    ),
    Example(
        "snowflake-schema-privileges-marts",
        "003001 (42501): SQL access control error:\n"
        "Insufficient privileges to operate on schema 'MARTS'",
    ),
    # --- dbt's own errors ---
    Example(
        "dbt-test-unique-order-id",
        "Failure in test unique_orders_order_id (models/staging/schema.yml)\n"
        "  Got 3 results, configured to fail if != 0\n\n"
        "  compiled Code at target/compiled/shop/models/staging/schema.yml/"
        "unique_orders_order_id.sql",
    ),
    Example(
        "dbt-test-unique-order-id",
        "Failure in test unique_orders_order_id (models/staging/schema.yml)\n"
        "  Got 12 results, configured to fail if != 0\n\n"
        "  compiled Code at target/compiled/shop/models/staging/schema.yml/"
        "unique_orders_order_id.sql",
    ),
    Example(
        "dbt-test-not-null-customer-id",
        "Failure in test not_null_orders_customer_id (models/staging/schema.yml)\n"
        "  Got 3 results, configured to fail if != 0\n\n"
        "  compiled Code at target/compiled/shop/models/staging/schema.yml/"
        "not_null_orders_customer_id.sql",
    ),
    Example(
        "dbt-missing-node",
        "Compilation Error in model stg_payments (models/staging/stg_payments.sql)\n"
        "  Model 'model.shop.stg_payments' (models/staging/stg_payments.sql) depends on a node "
        "named 'raw_payments' which was not found",
    ),
    # --- BigQuery, through google-cloud-bigquery and dbt ---
    Example(
        "bigquery-orders-not-found",
        "google.api_core.exceptions.NotFound: 404 Not found: Table acme-prod:analytics.orders was "
        "not found in location US\n\nLocation: US\nJob ID: 3f1c0c1e-5a1b-4c7e-9f2e-7d8a1b2c3d4e\n",
    ),
    Example(
        "bigquery-orders-not-found",
        "Database Error in model orders_daily (models/marts/orders_daily.sql)\n"
        "  Not found: Table acme-prod:analytics.orders was not found in location US\n"
        "  compiled Code at target/run/shop/models/marts/orders_daily.sql",
    ),
    Example(
        "bigquery-customers-not-found",
        "google.api_core.exceptions.NotFound: 404 Not found: Table acme-prod:analytics.customers "
        "was not found in location US\n\nLocation: US\n"
        "Job ID: 9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d\n",
    ),
    Example(
        "bigquery-access-denied-orders",
        "google.api_core.exceptions.Forbidden: 403 Access Denied: Table acme-prod:analytics.orders:"
        " User does not have permission to query table acme-prod:analytics.orders, or perhaps it "
        "does not exist in location US.\n\nLocation: US\n"
        "Job ID: 1b2c3d4e-5f6a-4b7c-8d9e-0f1a2b3c4d5e\n",
    ),
    Example(
        "bigquery-quota-exceeded",
        "google.api_core.exceptions.Forbidden: 403 Quota exceeded: Your project exceeded quota for"
        " free query bytes scanned. For more information, see "
        "https://cloud.google.com/bigquery/docs/troubleshoot-quotas\n\nLocation: US\n"
        "Job ID: 0d9c8b7a-6f5e-4d3c-a2b1-0f9e8d7c6b5a\n",
    ),
    Example(
        "bigquery-quota-exceeded",
        "Database Error in model sessions (models/web/sessions.sql)\n"
        "  Quota exceeded: Your project exceeded quota for free query bytes scanned. For more "
        "information, see https://cloud.google.com/bigquery/docs/troubleshoot-quotas\n"
        "  compiled Code at target/run/web/models/web/sessions.sql",
    ),
    Example(
        "bigquery-csv-too-many-errors",
        "google.api_core.exceptions.BadRequest: 400 Error while reading data, error message: CSV "
        "table encountered too many errors, giving up. Rows: 12; errors: 1. Please look into the "
        "errors[] collection for more details. File: "
        "gs://acme-landing/orders/2024-05-01/part-0003.csv",
    ),
    Example(
        "bigquery-csv-too-many-errors",
        "google.api_core.exceptions.BadRequest: 400 Error while reading data, error message: CSV "
        "table encountered too many errors, giving up. Rows: 4411; errors: 1. Please look into "
        "the errors[] collection for more details. File: "
        "gs://globex-drop/exports/customers_20240603.csv",
    ),
    Example(
        "bigquery-cannot-parse-int64",
        "Could not parse 'N/A' as INT64 for field amount (position 3) starting at location 1034 "
        "with message 'Unable to parse'",
    ),
    Example(
        "bigquery-cannot-parse-int64",
        "Could not parse 'abc' as INT64 for field amount (position 7) starting at location 88 "
        "with message 'Unable to parse'",
    ),
    Example(
        "bigquery-resources-exceeded",
        "google.api_core.exceptions.BadRequest: 400 Resources exceeded during query execution: "
        "Not enough resources for query planning - too many subqueries or query is too complex.",
    ),
    # --- Spark ---
    Example(
        "spark-executor-heap",
        "org.apache.spark.SparkException: Job aborted due to stage failure: Task 3 in stage 12.0 "
        "failed 4 times, most recent failure: Lost task 3.3 in stage 12.0 (TID 845) (10.0.3.17 "
        "executor 2): java.lang.OutOfMemoryError: Java heap space"
        + _java_frames(12, "java.base/java.util"),
    ),
    Example(
        "spark-executor-heap",
        "org.apache.spark.SparkException: Job aborted due to stage failure: Task 0 in stage 3.0 "
        "failed 4 times, most recent failure: Lost task 0.3 in stage 3.0 (TID 17) (10.0.7.201 "
        "executor 5): java.lang.OutOfMemoryError: Java heap space",
    ),
    Example(
        "spark-executor-heap",
        _python_traceback(
            4,
            "py4j.protocol.Py4JJavaError: An error occurred while calling o123.save.\n"
            ": org.apache.spark.SparkException: Job aborted due to stage failure: Task 9 in stage "
            "41.0 failed 4 times, most recent failure: Lost task 9.3 in stage 41.0 (TID 2210) "
            "(10.0.5.33 executor 11): java.lang.OutOfMemoryError: Java heap space"
            + _java_frames(30)
            + "\n\nDriver stacktrace:"
            + _java_frames(20, "org.apache.spark.scheduler")
            + "\nCaused by: java.lang.OutOfMemoryError: Java heap space"
            + _java_frames(8, "java.base/java.util"),
        ),
    ),
    Example(
        "spark-yarn-memory",
        "org.apache.spark.SparkException: Job aborted due to stage failure: Task 0 in stage 4.0 "
        "failed 4 times, most recent failure: Lost task 0.3 in stage 4.0 (TID 51) "
        "(ip-10-0-3-17.ec2.internal executor 7): ExecutorLostFailure (executor 7 exited caused by "
        "one of the running tasks) Reason: Container killed by YARN for exceeding memory limits. "
        "12.4 GB of 12 GB physical memory used. Consider boosting "
        "spark.yarn.executor.memoryOverhead.",
    ),
    Example(
        "spark-yarn-memory",
        "org.apache.spark.SparkException: Job aborted due to stage failure: Task 14 in stage 2.0 "
        "failed 4 times, most recent failure: Lost task 14.3 in stage 2.0 (TID 96) "
        "(ip-10-0-8-4.ec2.internal executor 3): ExecutorLostFailure (executor 3 exited caused by "
        "one of the running tasks) Reason: Container killed by YARN for exceeding memory limits. "
        "8.1 GB of 8 GB physical memory used. Consider boosting "
        "spark.yarn.executor.memoryOverhead.",
    ),
    Example(
        "spark-table-missing-sales-orders",
        "pyspark.sql.utils.AnalysisException: [TABLE_OR_VIEW_NOT_FOUND] The table or view "
        "`sales`.`orders` cannot be found. Verify the spelling and correctness of the schema and "
        "catalog.\nIf you did not qualify the name with a schema, verify the current_schema() "
        "output, or qualify the name with the correct schema and catalog.\nTo tolerate the error "
        "on drop use DROP VIEW IF EXISTS or DROP TABLE IF EXISTS.; line 1 pos 14;\n"
        "'Project [*]\n+- 'UnresolvedRelation [sales, orders], [], false\n",
    ),
    Example(
        "spark-table-missing-sales-orders",
        "pyspark.errors.exceptions.captured.AnalysisException: [TABLE_OR_VIEW_NOT_FOUND] The "
        "table or view `sales`.`orders` cannot be found. Verify the spelling and correctness of "
        "the schema and catalog.\nIf you did not qualify the name with a schema, verify the "
        "current_schema() output, or qualify the name with the correct schema and catalog.\nTo "
        "tolerate the error on drop use DROP VIEW IF EXISTS or DROP TABLE IF EXISTS.; line 3 pos "
        "9;\n'Aggregate [customer_id#12], [customer_id#12, sum(amount#14) AS total#30]\n"
        "+- 'Filter (order_date#13 >= 2024-05-01)\n",
    ),
    Example(
        "spark-table-missing-sales-customers",
        "pyspark.sql.utils.AnalysisException: [TABLE_OR_VIEW_NOT_FOUND] The table or view "
        "`sales`.`customers` cannot be found. Verify the spelling and correctness of the schema "
        "and catalog.\nIf you did not qualify the name with a schema, verify the "
        "current_schema() output, or qualify the name with the correct schema and catalog.\nTo "
        "tolerate the error on drop use DROP VIEW IF EXISTS or DROP TABLE IF EXISTS.; line 1 pos "
        "14;\n'Project [*]\n+- 'UnresolvedRelation [sales, customers], [], false\n",
    ),
    Example(
        "spark-file-not-found",
        "java.io.FileNotFoundException: File does not exist: s3a://acme-lake/raw/orders/"
        "dt=2024-05-01/part-00000-3f1c0c1e-5a1b-4c7e-9f2e-7d8a1b2c3d4e-c000.snappy.parquet\n"
        "It is possible the underlying files have been updated. You can explicitly invalidate "
        "the cache in Spark by running 'REFRESH TABLE tableName' command in SQL or by recreating "
        "the Dataset/DataFrame involved." + _java_frames(5),
    ),
    Example(
        "spark-file-not-found",
        "java.io.FileNotFoundException: File does not exist: s3a://globex-lake/curated/events/"
        "dt=2024-06-03/hour=11/part-00042-9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d-c000.snappy.parquet"
        "\nIt is possible the underlying files have been updated. You can explicitly invalidate "
        "the cache in Spark by running 'REFRESH TABLE tableName' command in SQL or by recreating "
        "the Dataset/DataFrame involved.",
    ),
    # --- Fivetran ---
    Example(
        "fivetran-source-refused",
        "Fivetran could not connect to the source database. Connection to "
        "db.acme.com:5432 refused. Check that the hostname and port are correct and that the "
        "postmaster is accepting TCP/IP connections.",
    ),
    Example(
        "fivetran-source-refused",
        "Fivetran could not connect to the source database. Connection to "
        "10.20.4.11:3306 refused. Check that the hostname and port are correct and that the "
        "postmaster is accepting TCP/IP connections.",
    ),
    Example(
        "fivetran-source-timeout",
        "Fivetran could not connect to the source database. The connection attempt to "
        "db.acme.com:5432 timed out after 30 seconds. Check your firewall and SSH tunnel "
        "settings.",
    ),
    Example(
        "fivetran-usage-stripe",
        "Insufficient permissions: the user FIVETRAN_USER does not have USAGE privilege on "
        "schema STRIPE in database RAW.",
    ),
    Example(
        "fivetran-usage-hubspot",
        "Insufficient permissions: the user FIVETRAN_USER does not have USAGE privilege on "
        "schema HUBSPOT in database RAW.",
    ),
    Example(
        "fivetran-destination-denied",
        "Failed to load data into the destination: Access Denied: Table "
        "acme-prod:fivetran_stripe.charge: Permission bigquery.tables.updateData denied on table "
        "acme-prod:fivetran_stripe.charge (or it may not exist).",
    ),
    Example(
        "fivetran-oauth-expired",
        "The OAuth token for this connector has expired or been revoked. Reauthorize the "
        "connector in the Fivetran dashboard.",
    ),
    # --- Airbyte ---
    Example(
        "airbyte-source-exit-1",
        "io.airbyte.workers.exception.WorkerException: Source process exited with non-zero exit "
        "code 1",
    ),
    Example("airbyte-source-exit-1", "Source process exited with non-zero exit code 1"),
    Example(
        "airbyte-destination-exit-137", "Destination process exited with non-zero exit code 137"
    ),
    Example(
        "airbyte-hubspot-rate-limit",
        "Request to https://api.hubapi.com/crm/v3/objects/contacts?limit=100&after=51234 failed "
        "with status code 429 and error message You have reached your secondly limit.",
    ),
    Example(
        "airbyte-hubspot-rate-limit",
        "Request to https://api.hubapi.com/crm/v3/objects/deals?limit=100&after=80321 failed with "
        "status code 429 and error message You have reached your secondly limit.",
    ),
    Example(
        "airbyte-hubspot-unauthorized",
        "Request to https://api.hubapi.com/crm/v3/objects/contacts?limit=100 failed with status "
        "code 401 and error message Authentication credentials not found.",
    ),
    Example(
        "airbyte-refresh-token",
        "Refresh token is invalid or expired. Please re-authenticate to restore access to "
        "Salesforce.",
    ),
    Example(
        "airbyte-generic-connector",
        "Something went wrong in the connector. See the logs for more details.",
    ),
    Example(
        "airbyte-workload-not-started",
        "Airbyte could not start the process within time limit. The workload was claimed but "
        "never started.",
    ),
    Example(
        "airbyte-normalization",
        "io.airbyte.workers.exception.WorkerException: Normalization Failed.",
    ),
]


def pairwise_precision_recall(groups: list[str], predicted: list[str]) -> tuple[float, float]:
    """Of the pairs put together (same ``predicted``), the share that belong together (same
    ``groups``: precision), and of the pairs that belong together, the share put together
    (recall). 1.0 when there is no pair to count."""
    together = belong = both = 0
    for (group_a, predicted_a), (group_b, predicted_b) in combinations(
        zip(groups, predicted, strict=True), 2
    ):
        same_prediction, same_group = predicted_a == predicted_b, group_a == group_b
        together += same_prediction
        belong += same_group
        both += same_prediction and same_group
    return (both / together if together else 1.0, both / belong if belong else 1.0)
