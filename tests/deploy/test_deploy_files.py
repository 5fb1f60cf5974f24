"""The files operators deploy with (deploy/) hold to the hub they deploy.

No container engine runs here, so the image is not built: the Dockerfile is
linted, the Kubernetes manifests are validated against the schemas, and
every setting, port and path the files name is checked against the hub.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from importlib import resources
from pathlib import Path

import pytest

from heartline_hub.settings import SETTINGS, Settings

DEPLOY = Path(__file__).parents[2] / "deploy"
MANIFESTS = sorted((DEPLOY / "kubernetes").glob("*.yaml"))
FILES = [DEPLOY / "Dockerfile", DEPLOY / "compose.yaml", DEPLOY / "haproxy" / "haproxy.cfg",
         *MANIFESTS]  # fmt: skip
NOT_THE_HUBS = {"PYTHONUNBUFFERED"}
"""Environment variables the files set for Python itself."""


def tool(name: str) -> str:
    return str(Path(sys.executable).with_name(name))


def test_the_dockerfile_passes_hadolint() -> None:
    run = subprocess.run(
        [tool("hadolint"), "--no-color", str(DEPLOY / "Dockerfile")],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert run.returncode == 0, run.stdout + run.stderr


@pytest.mark.parametrize("manifest", MANIFESTS, ids=lambda path: path.name)
def test_each_manifest_is_valid_against_the_kubernetes_schemas(manifest: Path) -> None:
    run = subprocess.run(
        [tool("kubernetes-validate"), "--strict", str(manifest)],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert run.returncode == 0, run.stdout + run.stderr
    assert "passed" in run.stdout + run.stderr


def test_every_environment_variable_named_is_a_setting_of_the_hub() -> None:
    settings = {setting.env for setting in SETTINGS}
    named = {
        name
        for path in FILES
        for name in re.findall(r"\b(REDIS_URL|HEARTLINE_[A-Z_]+|PYTHON[A-Z_]+)\b", path.read_text())
    }
    assert named - NOT_THE_HUBS <= settings, sorted(named - NOT_THE_HUBS - settings)
    assert {"REDIS_URL", "HEARTLINE_HUB_ID", "HEARTLINE_DRAIN_TIMEOUT_S"} <= named


def test_the_port_and_paths_named_are_the_hubs() -> None:
    port = str(Settings().port)
    texts = {path.name: path.read_text() for path in FILES}
    assert f"EXPOSE {port}" in texts["Dockerfile"]
    assert f"containerPort: {port}" in texts["deployment.yaml"]
    assert re.findall(r"server hub\d hub\d:(\d+)", texts["haproxy.cfg"]) == [port, port]
    document = json.loads(resources.files("heartline_hub").joinpath("openapi.json").read_text())
    named_paths = {p for text in texts.values() for p in re.findall(r"(/(?:readyz|healthz))", text)}
    assert named_paths == {"/readyz", "/healthz"}
    assert named_paths <= set(document["paths"])


def test_the_grace_period_outlasts_the_pause_and_the_drain() -> None:
    deployment = (DEPLOY / "kubernetes" / "deployment.yaml").read_text()
    config = (DEPLOY / "kubernetes" / "configmap.yaml").read_text()
    grace = int(re.findall(r"terminationGracePeriodSeconds: (\d+)", deployment)[0])
    pause = int(re.findall(r'command: \["sleep", "(\d+)"\]', deployment)[0])
    drain = float(re.findall(r'HEARTLINE_DRAIN_TIMEOUT_S: "([\d.]+)"', config)[0])
    assert grace > pause + drain
