"""Static checks of deploy/: the Dockerfile's pins agree with setup.py and the lock, the Flex
Template metadata is valid JSON whose every parameter is a real ``c4 build`` flag, scripts parse.
"""

from __future__ import annotations

import json
import re
import subprocess

import pytest

from pipeline.build_command import build_parser
from tests.conftest import REPO

DEPLOY = REPO / "deploy"
SCRIPTS = sorted(DEPLOY.glob("*.sh"))


def _setup_beam_version() -> str:
    match = re.search(r'BEAM = "apache-beam\[gcp\]==([0-9.]+)"', (REPO / "setup.py").read_text())
    assert match, "setup.py no longer pins BEAM = 'apache-beam[gcp]==X'"
    return match.group(1)


def _dockerfile_lines() -> list[str]:
    text = (DEPLOY / "Dockerfile").read_text().replace("\\\n", " ")
    return [line.strip() for line in text.splitlines() if line.strip() and not line.startswith("#")]


def test_dockerfile_base_image_is_beam_python311_at_setup_pin():
    froms = [line.split()[1] for line in _dockerfile_lines() if line.startswith("FROM ")]
    assert froms[-1] == f"apache/beam_python3.11_sdk:{_setup_beam_version()}"


def test_dockerfile_smoke_test_asserts_the_same_beam_version():
    text = (DEPLOY / "Dockerfile").read_text()
    assert f"apache_beam.__version__ == '{_setup_beam_version()}'" in text


def test_lock_pins_the_same_beam_and_python_311():
    lock = (REPO / "requirements.lock").read_text()
    assert f"apache-beam=={_setup_beam_version()}" in lock.splitlines()
    assert 'python_requires=">=3.11,<3.12"' in (REPO / "setup.py").read_text()


def test_dockerfile_installs_package_with_lock_then_pip_check_and_smoke_test():
    runs = [line for line in _dockerfile_lines() if line.startswith("RUN ")]
    install = next(r for r in runs if "pip install" in r)
    assert "-c requirements.lock" in install and re.search(r"pip install .* \.(\s|$)", install)
    assert "pip check" in install
    smoke = next(r for r in runs if "import apache_beam, filters, pipeline" in r)
    assert "c4 build" in smoke and "site-packages" in smoke


def test_dockerfile_copies_only_existing_paths():
    for line in _dockerfile_lines():
        if line.startswith("COPY ") and "--from=" not in line:
            for src in line.split()[1:-1]:
                assert (REPO / src).exists(), f"Dockerfile copies missing {src}"


# A Flex launcher tag as Google publishes them: a release date and a release candidate, in either
# spelling seen on gcr.io/dataflow-templates-base (20240812-rc01, 20260122_RC00).
_LAUNCHER_TAG = re.compile(r"^[0-9]{8}[-_](rc|RC)[0-9]{2}$")


def _pin_problem(image: str) -> str | None:
    """Why a ``FROM`` image is not pinned (a digest or a tag other than ``latest``), or None."""
    if "@sha256:" in image:
        return None
    name, _, tag = image.rpartition(":")
    if not name or "/" in tag:  # no tag at all (the colon was a registry port, or absent)
        return f"{image}: no tag"
    if tag == "latest":
        return f"{image}: pinned to :latest"
    return None


def _from_images() -> list[str]:
    return [line.split()[1] for line in _dockerfile_lines() if line.startswith("FROM ")]


@pytest.mark.parametrize(
    ("image", "ok"),
    [
        ("gcr.io/dataflow-templates-base/python311-template-launcher-base:latest", False),
        ("gcr.io/dataflow-templates-base/python311-template-launcher-base", False),
        ("localhost:5000/launcher", False),
        ("gcr.io/dataflow-templates-base/python311-template-launcher-base:20240812-rc01", True),
        ("apache/beam_python3.11_sdk@sha256:" + "0" * 64, True),
    ],
)
def test_pin_check_refuses_latest_and_untagged(image, ok):
    assert (_pin_problem(image) is None) == ok


def test_every_base_image_is_pinned():
    problems = [p for p in map(_pin_problem, _from_images()) if p]
    assert not problems, problems


def test_flex_launcher_is_the_python311_line_at_a_dated_tag():
    launcher = next(i for i in _from_images() if "template-launcher-base" in i)
    name, _, tag = launcher.rpartition(":")
    assert name == "gcr.io/dataflow-templates-base/python311-template-launcher-base"
    assert _LAUNCHER_TAG.match(tag), f"{tag} is not a dated launcher tag (YYYYMMDD-rcNN)"
    # The README names the same tag, so a bump touches both.
    assert tag in (DEPLOY / "README.md").read_text()


def test_dockerfile_entrypoint_and_flex_launcher():
    lines = _dockerfile_lines()
    assert 'ENTRYPOINT ["/opt/apache/beam/boot"]' in lines
    assert "ENV FLEX_TEMPLATE_PYTHON_PY_FILE=/template/flex_main.py" in lines
    assert any(
        "python311-template-launcher-base" in line for line in lines if line.startswith("FROM")
    )


def test_dockerignore_keeps_what_the_dockerfile_copies():
    ignore = (DEPLOY / "Dockerfile.dockerignore").read_text().splitlines()
    for needed in (
        "!setup.py",
        "!requirements.lock",
        "!filters/",
        "!pipeline/",
        "!deploy/flex_main.py",
    ):
        assert needed in ignore


def _metadata() -> dict:
    return json.loads((DEPLOY / "metadata.json").read_text())


def test_metadata_is_valid_flex_template_metadata():
    meta = _metadata()
    assert meta["name"] and meta["description"]
    names = [p["name"] for p in meta["parameters"]]
    assert len(names) == len(set(names))
    for param in meta["parameters"]:
        assert {"name", "label", "helpText"} <= param.keys()
        for regex in param.get("regexes", []):
            re.compile(regex)
    required = [p["name"] for p in meta["parameters"] if not p.get("isOptional", False)]
    assert required == ["output"]


def test_metadata_parameters_are_real_valued_c4_build_flags():
    actions = {a.dest: a for a in build_parser()._actions if a.option_strings and a.dest != "help"}
    for param in _metadata()["parameters"]:
        action = actions.get(param["name"])
        assert action is not None, f"{param['name']} is not a c4 build flag"
        # Flex passes --name=value: a store_true flag would refuse the value.
        assert action.nargs != 0, f"{param['name']} takes no value"


@pytest.mark.parametrize(
    ("name", "good", "bad"),
    [
        ("output", "gs://my-bucket/c4", "/local/dir"),
        ("crawl", "CC-MAIN-2019-18,CC-MAIN-2019-22", "2019-18"),
        ("config", "en.noclean", "en_noclean"),
        ("c4_version", "2.2.0", "3.0.1x"),
        ("max_wet_files", "10", "0"),
        ("blocklist_urls", "gs://my-bucket/blocklists/urls.txt", "/home/me/urls.txt"),
        ("blocklist_domains", "gs://my-bucket/domains.txt", "domains.txt"),
    ],
)
def test_metadata_regexes_accept_and_refuse(name, good, bad):
    param = next(p for p in _metadata()["parameters"] if p["name"] == name)
    assert all(re.match(r, good) for r in param["regexes"])
    assert not all(re.match(r, bad) for r in param["regexes"])


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.name)
def test_scripts_parse(script):
    subprocess.run(["bash", "-n", str(script)], check=True)


def test_scripts_refuse_missing_settings_with_one_line_each(tmp_path):
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
    done = subprocess.run(
        ["bash", str(DEPLOY / "submit_image.sh"), "--dry_run"],
        env=env,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert [line.split()[1] for line in lines] == ["PROJECT", "REGION", "BUCKET"]


def test_flex_main_launches_through_submit():
    text = (DEPLOY / "flex_main.py").read_text()
    assert "from pipeline.cloud.submit import launch_template" in text


def test_dockerfile_smoke_test_asserts_the_compiled_core():
    # The image has gcc: pip install . builds filters._native, and the image must not ship without.
    assert "assert filters.kernels.COMPILED" in (DEPLOY / "Dockerfile").read_text()
