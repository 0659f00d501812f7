"""OpenLineage run events for each stage (pull, normalize, publish, deliver).

With a ``lineage:`` section in ``hub.yaml`` every stage emits START, then COMPLETE or FAIL,
naming its input and output datasets with schema, column-lineage and row-count facets, to a
JSON Lines file and/or an HTTP endpoint (Marquez and other OpenLineage consumers), through
the ``openlineage-python`` client. Each stage is its own OpenLineage run whose parent is the
Dagster run. Lineage is an observer: an endpoint that is down costs a warning, never a stage.

Dataset names follow OpenLineage's naming conventions: ``postgres://host:port`` +
``db.schema.table``, ``mysql://host:port`` + ``db.table``, ``sftp://host:port`` + folder,
``file`` + absolute path for landing folders, outboxes and the SQLite / DuckDB files (a
table is ``<file>/<table>``).
"""

from __future__ import annotations

import datetime as dt
import logging
import traceback
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import pyarrow as pa
import sqlalchemy as sa
from openlineage.client import OpenLineageClient
from openlineage.client.event_v2 import (
    InputDataset,
    Job,
    OutputDataset,
    Run,
    RunEvent,
    RunState,
)
from openlineage.client.generated import (
    column_lineage_dataset,
    error_message_run,
    job_type_job,
    output_statistics_output_dataset,
    parent_run,
    schema_dataset,
)
from openlineage.client.transport.file import FileConfig, FileTransport
from openlineage.client.transport.http import (
    ApiKeyTokenProvider,
    HttpConfig,
    HttpTransport,
    TokenProvider,
)
from openlineage.client.transport.transport import Transport
from openlineage.client.uuid import generate_new_uuid

from hub.config import Agreement, HubConfig, SftpDropSource, Source, secret
from hub.home import Home
from hub.observe.column_lineage import ColumnInput, extract_inputs, normalized_inputs
from schemas.tables import stored_fields

PRODUCER = "https://case-exchange-hub.example/hub"
PARENT_JOB = "dagster_run"
log = logging.getLogger(__name__)


@dataclass
class Stage:
    """A stage's datasets; the stage may add outputs (with row counts) before it completes."""

    inputs: list[InputDataset]
    outputs: list[OutputDataset] = field(default_factory=list)


def _transports(config: HubConfig, home: Home) -> list[Transport]:
    settings = config.lineage
    if settings is None:
        return []
    out: list[Transport] = []
    if settings.file:
        path = home.resolve(settings.file)
        path.parent.mkdir(parents=True, exist_ok=True)
        out.append(FileTransport(FileConfig(log_file_path=str(path), append=True)))
    if settings.url:
        token = secret(settings.api_key_env, "lineage.api_key_env")
        out.append(HttpTransport(HttpConfig(
            url=settings.url, endpoint=settings.endpoint, timeout=settings.timeout_seconds,
            auth=ApiKeyTokenProvider({"api_key": token}) if token else TokenProvider({}),
            retry={"total": 2, "read": 2, "connect": 2, "backoff_factor": 0.2,
                   "status_forcelist": [500, 502, 503, 504], "allowed_methods": ["POST"]},
        )))
    return out


def _run_uuid(run_id: str) -> str:
    """Dagster run ids are UUIDs already; anything else (tests, the CLI) maps to a stable one."""
    try:
        return str(uuid.UUID(run_id))
    except ValueError:
        return str(uuid.uuid5(uuid.NAMESPACE_URL, f"{PRODUCER}/run/{run_id}"))


@contextmanager
def stage(config: HubConfig, home: Home, job: str, run_id: str, inputs: list[InputDataset]) -> Iterator[Stage]:
    """Wrap one stage: START now, COMPLETE with the stage's outputs, or FAIL with the error."""
    transports = _transports(config, home)
    current = Stage(inputs)
    if not transports:
        yield current
        return
    clients = [OpenLineageClient(transport=t) for t in transports]
    namespace = config.lineage.namespace  # type: ignore[union-attr]
    parent = parent_run.ParentRunFacet(
        run=parent_run.Run(runId=_run_uuid(run_id)), job=parent_run.Job(namespace=namespace, name=PARENT_JOB))
    run = Run(runId=str(generate_new_uuid()), facets={"parent": parent})
    ol_job = Job(namespace=namespace, name=job, facets={"jobType": job_type_job.JobTypeJobFacet(
        processingType="BATCH", integration="CASE_EXCHANGE_HUB", jobType="STAGE")})

    def emit(state: RunState, outputs: list[OutputDataset], run_: Run = run) -> None:
        event = RunEvent(eventType=state, eventTime=dt.datetime.now(dt.UTC).isoformat(), run=run_, job=ol_job,
                         inputs=current.inputs, outputs=outputs, producer=PRODUCER)
        for client in clients:
            try:
                client.emit(event)
            except Exception as exc:  # noqa: BLE001 - lineage observes; it must not fail the stage
                log.warning("OpenLineage %s event for %s not emitted (%s): %s",
                            state.value, job, client.transport.kind, type(exc).__name__)

    emit(RunState.START, [])
    try:
        yield current
    except BaseException as exc:
        error = error_message_run.ErrorMessageRunFacet(
            message=str(exc) or type(exc).__name__, programmingLanguage="python",
            stackTrace="".join(traceback.format_exception(exc)))
        emit(RunState.FAIL, current.outputs, Run(runId=run.runId, facets={**run.facets, "errorMessage": error}))
        raise
    emit(RunState.COMPLETE, current.outputs)


# --- datasets ------------------------------------------------------------------------------

def source_dataset(home: Home, src: Source) -> InputDataset:
    """Where a source's rows are read: the database table or the SFTP drop folder."""
    if isinstance(src, SftpDropSource):
        return InputDataset(namespace=f"sftp://{src.sftp.host}:{src.sftp.port}", name=src.sftp.remote_dir)
    url = sa.make_url(src.database.url)
    backend, table = url.get_backend_name(), src.database.table
    if backend == "sqlite":
        return InputDataset(namespace="file", name=f"{home.resolve(url.database or '')}/{table}")
    host = f"{url.host or 'localhost'}:{url.port or {'postgresql': 5432, 'mysql': 3306}.get(backend, 0)}"
    scheme = {"postgresql": "postgres"}.get(backend, backend)
    name = f"{url.database}.public.{table}" if backend == "postgresql" else f"{url.database}.{table}"
    return InputDataset(namespace=f"{scheme}://{host}", name=name)


def landing_name(home: Home, source: str) -> str:
    return str(home.landing / source)


def table_name(home: Home, table: str) -> str:
    """A warehouse table's dataset name: the lakehouse's folder under the home, then the table
    (the same name wherever hub.yaml keeps the catalog and files, so lineage graphs stay joined)."""
    return f"{home.lake}/{table}"


def _schema(schema: pa.Schema | list[tuple[str, str, str | None]]) -> schema_dataset.SchemaDatasetFacet:
    fields = [(f.name, str(f.type), None) for f in schema] if isinstance(schema, pa.Schema) else schema
    return schema_dataset.SchemaDatasetFacet(fields=[
        schema_dataset.SchemaDatasetFacetFields(name=n, type=t, description=d) for n, t, d in fields])


def _columns(by_column: dict[str, list[tuple[str, str, ColumnInput]]]) -> column_lineage_dataset.ColumnLineageDatasetFacet:
    """column -> [(namespace, dataset name, input)] as OpenLineage column lineage."""
    kinds = {"identity": ("DIRECT", "IDENTITY"), "parse": ("DIRECT", "TRANSFORMATION"),
             "derive": ("DIRECT", "TRANSFORMATION"), "mask": ("DIRECT", "TRANSFORMATION"),
             "hash": ("DIRECT", "TRANSFORMATION")}
    return column_lineage_dataset.ColumnLineageDatasetFacet(fields={
        column: column_lineage_dataset.Fields(inputFields=[
            column_lineage_dataset.InputField(namespace=ns, name=name, field=i.column, transformations=[
                column_lineage_dataset.Transformation(type=kinds[i.transformation][0], subtype=kinds[i.transformation][1],
                                                      description=i.transformation, masking=i.masked)])
            for ns, name, i in inputs
        ])
        for column, inputs in by_column.items()
    })


def _stats(rows: int) -> dict[str, output_statistics_output_dataset.OutputStatisticsOutputDatasetFacet]:
    return {"outputStatistics": output_statistics_output_dataset.OutputStatisticsOutputDatasetFacet(rowCount=rows)}


def landing_output(home: Home, source: str, rows: int, schema: pa.Schema | None) -> OutputDataset:
    facets = {"schema": _schema(schema)} if schema is not None else {}
    return OutputDataset(namespace="file", name=landing_name(home, source), facets=facets, outputFacets=_stats(rows))


def table_output(config: HubConfig, home: Home, record_type: str, rows: int) -> OutputDataset:
    """A shared table with its documented schema and the source columns each column comes from;
    ``rows``: the versions the run stored in it."""
    fields = [(f.name, f.type, f"{f.zh} / {f.en}") for f in stored_fields(record_type)]
    lineage = {column: [("file", landing_name(home, i.source), i) for i in inputs]
               for column, inputs in normalized_inputs(config, record_type).items()}
    return OutputDataset(namespace="file", name=table_name(home, record_type),
                         facets={"schema": _schema(fields), "columnLineage": _columns(lineage)},
                         outputFacets=_stats(rows))


def extract_outputs(
    home: Home, agreement: Agreement, outbox: str, datasets: dict[str, tuple[pa.Schema, int]]
) -> list[OutputDataset]:
    """Each published dataset (its schema and row count) with the columns it came from."""
    inputs = extract_inputs(agreement)
    out = []
    for name, (schema, rows) in sorted(datasets.items()):
        lineage = {column: [("file", table_name(home, i.source), i)] for column, i in inputs[name].items()}
        out.append(OutputDataset(namespace="file", name=f"{outbox}/{name}",
                                 facets={"schema": _schema(schema), "columnLineage": _columns(lineage)},
                                 outputFacets=_stats(rows)))
    return out


def dataset(namespace: str, name: str) -> InputDataset:
    return InputDataset(namespace=namespace, name=name)


def output(namespace: str, name: str) -> OutputDataset:
    return OutputDataset(namespace=namespace, name=name)
