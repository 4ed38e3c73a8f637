"""``fluidstack atlas login`` against a token endpoint that locked the client out
(issue 23 item 6): one line saying so, nothing stored."""

from __future__ import annotations

import httpx
from cli_support import Fs, Home

from fluidstack.emulator import EmulatorServer, EmulatorSettings


def test_a_locked_out_login_is_one_line_and_stores_nothing(fs_no_creds: Fs, home: Home) -> None:
    # Locked for 120 s: longer than the SDK waits for, so it backs off and gives up.
    settings = EmulatorSettings(
        port=0, log_level="warning", auth_attempt_limit=1, auth_attempt_window=120.0
    )
    with EmulatorServer(settings) as server:
        wrong = {
            "grant_type": "client_credentials",
            "client_id": "fs-emulator-client",
            "client_secret": "a-wrong-guess",
        }
        assert httpx.post(server.base_url + "/oauth/token", data=wrong).status_code == 401
        result = fs_no_creds(
            "atlas", "login", "--url", server.base_url, "--client-id", "fs-emulator-client",
            input="fs-emulator-secret\n", expect=1,
        )  # fmt: skip
    errors = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(errors) == 1, result.stderr
    assert "too_many_attempts" in errors[0], errors
    assert "fs-emulator-secret" not in result.stderr
    assert not home.config_file.exists()
