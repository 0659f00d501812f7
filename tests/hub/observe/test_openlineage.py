"""OpenLineage run events: START/COMPLETE/FAIL per stage, to a file and a real HTTP endpoint,
valid against the spec's JSON schema; a lineage endpoint that is down never fails a stage."""

from __future__ import annotations

import copy
import json
import logging
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

from hub.config import HubConfig, load_config
from hub.errors import ConfigError
from hub.home import Home
from hub.observe import lineage
from tests.hub.config.test_config import VALID, write
from tests.openlineage_spec import validate_event


class Collector(BaseHTTPRequestHandler):
    received: list[tuple[str, str | None, dict[str, Any]]] = []

    def do_POST(self) -> None:  # noqa: N802 - http.server's naming
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.received.append((self.path, self.headers.get("Authorization"), json.loads(body)))
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def endpoint() -> Iterator[tuple[str, list[tuple[str, str | None, dict[str, Any]]]]]:
    received: list[tuple[str, str | None, dict[str, Any]]] = []
    handler = type("Handler", (Collector,), {"received": received})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", received
    server.shutdown()
    server.server_close()


def config_with(settings: dict[str, Any]) -> HubConfig:
    return HubConfig.model_validate(copy.deepcopy(VALID) | {"lineage": settings})


def run_two_stages(config: HubConfig, home: Home) -> None:
    src = config.sources[0]
    with lineage.stage(config, home, f"pull.{src.name}", "run-1", [lineage.source_dataset(home, src)]) as stage:
        stage.outputs = [lineage.landing_output(home, src.name, 3, pa.schema([("ah", pa.string())]))]
    with pytest.raises(RuntimeError, match="boom"):
        with lineage.stage(config, home, "normalize", "run-1", []) as stage:
            stage.outputs = [lineage.table_output(config, home, "filing", 0)]
            raise RuntimeError("boom")


def test_stage_events_reach_a_file_and_an_http_endpoint(
    tmp_path: Path, endpoint: tuple[str, list[Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    url, received = endpoint
    monkeypatch.setenv("LINEAGE_TOKEN", "s3cret-token")
    config = config_with({"namespace": "test-hub", "file": "ol/events.jsonl", "url": url, "api_key_env": "LINEAGE_TOKEN"})
    home = Home(tmp_path)
    run_two_stages(config, home)

    events = [json.loads(line) for line in (tmp_path / "ol" / "events.jsonl").read_text().splitlines()]
    assert [(e["job"]["name"], e["eventType"]) for e in events] == [
        ("pull.c1_filing", "START"), ("pull.c1_filing", "COMPLETE"), ("normalize", "START"), ("normalize", "FAIL")]
    for event in events:
        validate_event(event)
        assert event["job"]["namespace"] == "test-hub" and event["producer"] == lineage.PRODUCER
    # one OpenLineage run per stage, both children of the same hub run
    assert events[0]["run"]["runId"] == events[1]["run"]["runId"] != events[2]["run"]["runId"]
    assert len({e["run"]["facets"]["parent"]["run"]["runId"] for e in events}) == 1
    assert events[1]["inputs"] == [{"namespace": "file", "name": f"{tmp_path}/x.sqlite/t_la", "facets": {},
                                    "inputFacets": {}}]
    assert events[1]["outputs"][0]["outputFacets"]["outputStatistics"]["rowCount"] == 3
    error = events[3]["run"]["facets"]["errorMessage"]
    assert error["message"] == "boom" and "RuntimeError: boom" in error["stackTrace"]
    lineage_of_case_no = events[3]["outputs"][0]["facets"]["columnLineage"]["fields"]["case_no"]["inputFields"]
    assert [(f["name"], f["field"]) for f in lineage_of_case_no] == [(f"{tmp_path}/landing/c1_filing", "ah")]

    # the HTTP endpoint got the same four events, with the token from the environment
    assert [(p, a) for p, a, _ in received] == [("/api/v1/lineage", "Bearer s3cret-token")] * 4
    assert [(b["run"]["runId"], b["eventType"]) for _, _, b in received] == [
        (e["run"]["runId"], e["eventType"]) for e in events]


def test_a_lineage_endpoint_that_is_down_never_fails_a_stage(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.setenv("LINEAGE_TOKEN", "s3cret-token")
    config = config_with({"url": f"http://127.0.0.1:{port}", "api_key_env": "LINEAGE_TOKEN", "timeout_seconds": 2})
    with caplog.at_level(logging.WARNING, logger="hub.observe.lineage"):
        with lineage.stage(config, Home(tmp_path), "publish.spo", "run-1", []) as stage:
            stage.outputs = [lineage.output("file", "/outbox/spo/filing")]
    warnings = [r.getMessage() for r in caplog.records if r.name == "hub.observe.lineage"]
    assert len(warnings) == 2 and all("not emitted" in w for w in warnings)  # START and COMPLETE
    assert not any("s3cret" in r.getMessage() for r in caplog.records)


def test_no_lineage_section_emits_nothing(tmp_path: Path) -> None:
    config = HubConfig.model_validate(copy.deepcopy(VALID))
    with lineage.stage(config, Home(tmp_path), "normalize", "run-1", []) as stage:
        stage.outputs = [lineage.output("file", "x")]
    assert list(tmp_path.iterdir()) == []


def test_database_sources_are_named_without_their_user(tmp_path: Path) -> None:
    data = copy.deepcopy(VALID)
    data["sources"][0]["database"]["url"] = "postgresql+psycopg://hub@db.court.example:5433/cms"  # no user in the name
    src = HubConfig.model_validate(data).sources[0]
    ds = lineage.source_dataset(Home(tmp_path), src)
    assert (ds.namespace, ds.name) == ("postgres://db.court.example:5433", "cms.public.t_la")
    sftp = lineage.source_dataset(Home(tmp_path), HubConfig.model_validate(data).sources[1])
    assert (sftp.namespace, sftp.name) == ("sftp://127.0.0.1:22", ".")


@pytest.mark.parametrize(("settings", "message"), [
    ({"namespace": "x"}, "lineage: lineage needs a target: file"),
    ({"url": "marquez:5000"}, "lineage.url: 'marquez:5000' is not an http(s) URL"),
    ({"file": "x.jsonl", "api_key_env": "lower"}, "lineage.api_key_env: 'lower' is not an environment variable name"),
])
def test_lineage_config_errors_name_the_key(tmp_path: Path, settings: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
        load_config(write(tmp_path, copy.deepcopy(VALID) | {"lineage": settings}))
