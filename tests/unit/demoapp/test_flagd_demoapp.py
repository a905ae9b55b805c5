"""The demo app as a process, its flag evaluated by the OpenFeature SDK and flagd's
in-process resolver from a flagd file (``--flagd-file``): the new code path fails
while the flag is on, and the app's own SDK sees the switch go off.

Loopback only; the file is replaced as ``FlagSpecSync`` replaces it.
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from e2e.dataplane.flagsync import write_flagd_file
from e2e.demoapp.__main__ import main
from tests.support.waiting import eventually
from tests.unit.demoapp.flagd_files import flag_document, switched_off

ROOT = Path(__file__).resolve().parents[3]
FLAG = "new-checkout"


@pytest.fixture
def flag_file(tmp_path: Path) -> Path:
    path = tmp_path / "flags.flagd.json"
    write_flagd_file(path, flag_document())
    return path


@pytest.fixture
def app_url(flag_file: Path) -> Iterator[str]:
    command = [
        sys.executable, "-m", "e2e.demoapp", "--port=0", "--revision=v2",
        f"--flag={FLAG}", "--flag-error-rate=1.0", f"--flagd-file={flag_file}",
    ]  # fmt: skip
    proc = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline().strip()
        assert line.startswith("listening on http://127.0.0.1:"), line
        yield line.removeprefix("listening on ")
        proc.terminate()
        assert proc.wait(timeout=10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()


def flag_metrics(http: httpx.Client, url: str) -> dict[str, float]:
    text = http.get(f"{url}/metrics").text
    return {
        sample.name: sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.labels.get("flag") == FLAG
    }


def test_requests_fail_while_the_flag_is_on_and_succeed_once_the_file_switches_it_off(
    flag_file: Path, app_url: str
) -> None:
    with httpx.Client(trust_env=False, timeout=5) as http:
        assert [http.get(f"{app_url}/").status_code for _ in range(5)] == [500] * 5
        before = flag_metrics(http, app_url)
        assert before == {
            "demo_flag_enabled": 1.0,
            "demo_flag_observed_off_timestamp_seconds": 0.0,
        }

        written = time.time()
        write_flagd_file(flag_file, switched_off(flag_document()))
        eventually(
            lambda: flag_metrics(http, app_url)["demo_flag_enabled"] == 0.0,
            timeout=2.0,
            interval=0.01,
            what="the app's SDK sees the flag off",
        )
        assert [http.get(f"{app_url}/").status_code for _ in range(20)] == [200] * 20
        after = flag_metrics(http, app_url)
    observed_off = after["demo_flag_observed_off_timestamp_seconds"]
    assert written < observed_off < written + 2.0
    print(
        f"\nflagd file switched off → demo app's in-process SDK observed it off: "
        f"{observed_off - written:.3f}s"
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--flag=f"], "exactly one flag source"),
        (["--flag=f", "--unleash-url=http://127.0.0.1:1", "--flagd-file=x.json"], "exactly one"),
        (["--flagd-file=x.json"], "--flagd-file needs --flag"),
    ],
)
def test_the_flag_needs_exactly_one_source(
    args: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["--port=0", "--revision=x", *args])
    assert exited.value.code == 2
    assert message in capsys.readouterr().err
