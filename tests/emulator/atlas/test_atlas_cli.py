"""The Atlas flags of ``python -m fluidstack.emulator``: clients, regions, token lifetime."""

from __future__ import annotations

import signal
import subprocess
import sys
from typing import List

import httpx
import pytest
from process_support import start_emulator

from fluidstack.emulator import (
    DEV_ATLAS_CLIENT_ID,
    DEV_ATLAS_CLIENT_SECRET,
    EmulatorSettings,
)
from fluidstack.emulator.__main__ import build_parser, settings_from_args


def token(url: str, client_id: str, secret: str) -> httpx.Response:
    return httpx.post(
        f"{url}/oauth/token",
        data={"grant_type": "client_credentials", "client_id": client_id, "client_secret": secret},
    )


def test_development_client_is_announced_on_stderr(
    processes: List[subprocess.Popen[str]],
) -> None:
    process, url = start_emulator()
    processes.append(process)
    assert token(url, DEV_ATLAS_CLIENT_ID, DEV_ATLAS_CLIENT_SECRET).status_code == 200
    process.send_signal(signal.SIGTERM)
    out, err = process.communicate(timeout=10)
    assert DEV_ATLAS_CLIENT_ID in err
    assert out == ""


def test_clients_regions_and_token_ttl_flags(processes: List[subprocess.Popen[str]]) -> None:
    process, url = start_emulator(
        "--atlas-client", "alpha:one", "--atlas-client", "beta:two",
        "--atlas-regions", "ap-south-1,eu-west-2,eu-north-1",
        "--token-ttl", "500", "--time-scale", "10",
    )  # fmt: skip
    processes.append(process)
    assert token(url, DEV_ATLAS_CLIENT_ID, DEV_ATLAS_CLIENT_SECRET).status_code == 401
    alpha = token(url, "alpha", "one").json()
    assert alpha["expires_in"] == 500  # real seconds, whatever the time scale
    beta = token(url, "beta", "two").json()
    orgs = [
        httpx.get(
            f"{url}/api/v1alpha1/organizations",
            headers={"authorization": f"Bearer {t['access_token']}"},
        ).json()[0]["id"]
        for t in (alpha, beta)
    ]
    assert orgs[0] != orgs[1]
    regions = httpx.get(
        f"{url}/api/v1alpha1/regions", headers={"authorization": f"Bearer {alpha['access_token']}"}
    ).json()
    assert [r["name"] for r in regions] == ["ap-south-1", "eu-west-2", "eu-north-1"]
    process.send_signal(signal.SIGTERM)
    _, err = process.communicate(timeout=10)
    assert "one" not in err.split()
    assert "two" not in err.split()


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--atlas-client", "no-secret"], "ID:SECRET"),
        (["--atlas-client", "a:x", "--atlas-client", "a:y"], "twice"),
        (["--atlas-regions", "Bad Name"], "invalid Atlas region"),
        (["--atlas-regions", "a,a"], "twice"),
        (["--token-ttl", "0"], "positive"),
    ],
)
def test_bad_atlas_flags_exit_2(flags: List[str], message: str) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "fluidstack.emulator", "--port", "0", *flags],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 2
    assert message in result.stdout + result.stderr
    assert "a:y" not in result.stdout + result.stderr


def test_settings_mirror_the_flags() -> None:
    args = build_parser().parse_args(
        ["--atlas-client", "x:y", "--atlas-regions", "r1,r2", "--token-ttl", "60"]
    )
    settings = settings_from_args(args)
    assert settings.atlas_clients == ["x:y"]
    assert settings.atlas_regions == ["r1", "r2"]
    assert settings.token_ttl == 60.0
    defaults = EmulatorSettings()
    assert defaults.atlas_regions == ["eu-north-1", "us-east-1"]
    assert defaults.effective_atlas_clients == [(DEV_ATLAS_CLIENT_ID, DEV_ATLAS_CLIENT_SECRET)]
    assert defaults.token_ttl == 3600.0
    with pytest.raises(ValueError, match="ID:SECRET"):
        EmulatorSettings(atlas_clients=[":"])


def test_settings_repr_hides_client_secrets() -> None:
    settings = EmulatorSettings(atlas_clients=["client:very-secret-value"])
    assert "very-secret-value" not in repr(settings)
