"""Settings: one frozen class, converted by type hints, merged file <
environment (BTFEMBED_*) < command line in ``merge_settings``; the JSON
schema in docs/ is the one the class generates."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
from pathlib import Path

import pytest

from btfembed.build.settings import KernelSpec, Settings, merge_settings, settings_schema
from btfembed.errors import ConfigError

from conftest import OBJS, REPO, REPO_KERNELS

SCHEMA = REPO / "docs" / "settings.schema.json"


def test_the_checked_in_schema_is_current() -> None:
    assert json.loads(SCHEMA.read_text()) == settings_schema(), (
        "docs/settings.schema.json is stale: regenerate it with python3 -c \"import json, "
        "btfembed.build.settings as s; print(json.dumps(s.settings_schema(), indent=2))\" > docs/settings.schema.json")


def test_the_schema_lists_every_setting_with_its_type_and_choices() -> None:
    props = settings_schema()["properties"]
    names = {f.name for f in dataclasses.fields(Settings)} - {"source"}
    assert set(props) == names
    assert props["jobs"]["type"] == "integer" and props["cache"]["type"] == "boolean"
    assert props["fail_on"]["enum"] == ["never", "ambiguous", "poisoned"]
    assert props["kernels"]["items"]["anyOf"][1]["required"] == ["path"]
    assert all(p["description"] for p in props.values())


def test_settings_are_frozen() -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        Settings().jobs = 3  # type: ignore[misc]


def test_file_then_environment_then_command_line(tmp_path: Path) -> None:
    conf = tmp_path / "btfembed.toml"
    conf.write_text('objects = ["a.o"]\njobs = 2\nout_dir = "from-file"\nreport = "r.json"\n'
                    'arch = ["x86_64"]\n')
    s = merge_settings(str(conf))
    assert (s.jobs, s.out_dir, s.objects) == (2, str(tmp_path / "from-file"), [str(tmp_path / "a.o")])
    assert s.source == str(conf)
    env = {"BTFEMBED_JOBS": "3", "BTFEMBED_OUT_DIR": "from-env", "BTFEMBED_KEEP_GOING": "yes",
           "BTFEMBED_ARCH": "x86_64, arm64", "BTFEMBED_RELEASE": "5.4.0-1-generic",  # the runtimes' variable
           "BTFEMBED_FORCE": "1"}
    s = merge_settings(str(conf), env)
    assert (s.jobs, s.out_dir, s.keep_going, s.arch, s.release) == (3, "from-env", True, ["x86_64", "arm64"], [])
    assert s.report == str(tmp_path / "r.json")  # from the file, untouched
    s = merge_settings(str(conf), env, {"jobs": 4, "kernels": [KernelSpec("sysfs")]})
    assert (s.jobs, s.out_dir, s.kernels) == (4, "from-env", [KernelSpec("sysfs")])


@pytest.mark.parametrize("env, message", [
    ({"BTFEMBED_JOBS": "many"}, "environment variable BTFEMBED_JOBS: setting 'jobs' must be an integer"),
    ({"BTFEMBED_CACHE": "maybe"}, "setting 'cache' must be true or false"),
    ({"BTFEMBED_HEADER_SIZE": "33"}, "header_size must be 24 or 32"),
])
def test_bad_environment_values_are_named(env: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        merge_settings(None, env)


def test_command_line_values_are_checked_by_type() -> None:
    with pytest.raises(ConfigError, match="setting 'jobs' must be an integer"):
        merge_settings(None, {}, {"jobs": "4"})
    with pytest.raises(ConfigError, match="unknown setting 'nope'"):
        merge_settings(None, {}, {"nope": 1})


def test_the_environment_reaches_btfembed_build(tmp_path: Path) -> None:
    import os
    env = {**os.environ, "BTFEMBED_OUT_DIR": str(tmp_path / "env-out"), "BTFEMBED_CACHE": "0",
           "BTFEMBED_JOBS": "1"}
    kernel = REPO_KERNELS / "cilium-testdata_2019-11_x86_64_5.3-approx.btf.xz"
    proc = subprocess.run([sys.executable, "-m", "btfembed", "build", str(OBJS / "task_small.el.o"), "-q",
                           "--kernels", f"{kernel}=cilium/2019-11/x86_64/5.3-approx"],
                          capture_output=True, text=True, env=env, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "env-out" / "btfembed.pack").exists()
    assert not (tmp_path / "btfembed-out").exists()
