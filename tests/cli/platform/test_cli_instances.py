"""``fluidstack instances ...`` against the emulator."""

from __future__ import annotations

import json
import shlex
import threading
import time
from typing import Any, Dict, List

import pytest
import yaml
from cli_support import Fs, create_instance, lines

from fluidstack.cli import state as cli_state
from fluidstack.testing import EmulatorHandle


def running_instance(fs: Fs, emulator: EmulatorHandle, *extra: str) -> Dict[str, Any]:
    created = create_instance(fs, *extra)
    emulator.advance(3600)
    doc: Dict[str, Any] = fs.json("instances", "get", created["id"])
    assert doc["status"] == "running"
    return doc


# -- list / get --------------------------------------------------------------------


def test_list_without_instances_prints_a_hint_and_no_table(fs: Fs) -> None:
    result = fs("instances", "list")
    assert result.stdout == ""
    assert "No instances" in result.stderr


def test_list_json_is_one_document_parsed_back(fs: Fs, ssh_key: str) -> None:
    assert fs.json("instances", "list") == []
    created = create_instance(fs, "--name", "trainer")
    listed = fs.json("instances", "list")
    assert [i["id"] for i in listed] == [created["id"]]
    assert listed[0]["name"] == "trainer"
    assert listed[0]["configuration"]["gpu_model"]["name"] == "RTX_A5000_24GB"


def test_global_output_option_before_the_command_works_too(fs: Fs, ssh_key: str) -> None:
    created = create_instance(fs)
    result = fs("-o", "json", "instances", "list")
    assert json.loads(result.stdout)[0]["id"] == created["id"]


def test_list_table_shows_status_and_hourly_cost(
    fs: Fs, ssh_key: str, emulator: EmulatorHandle
) -> None:
    instance = running_instance(fs, emulator, "--name", "gpu-box")
    result = fs("instances", "list")
    header, *rows = lines(result.stdout)
    assert header.split()[:3] == ["ID", "NAME", "STATUS"]
    assert "$/HOUR" in header
    row = next(r for r in rows if instance["id"] in r)
    assert "gpu-box" in row
    assert "running" in row
    assert "1x RTX_A5000_24GB" in row
    price = instance["current_gpu_hr_cost"]
    assert f"${price:.2f}" in row
    assert "1 instance, " in result.stdout
    assert "\x1b[" not in result.stdout  # no colours when not on a terminal


def test_list_quiet_prints_ids_only(fs: Fs, ssh_key: str) -> None:
    first = create_instance(fs)["id"]
    second = create_instance(fs)["id"]
    result = fs("instances", "list", "-q")
    assert sorted(lines(result.stdout)) == sorted([first, second])
    assert result.stderr == ""


def test_list_filters_by_status(fs: Fs, ssh_key: str, emulator: EmulatorHandle) -> None:
    running = running_instance(fs, emulator)["id"]
    pending = create_instance(fs)["id"]
    assert lines(fs("instances", "list", "--status", "running", "-q").stdout) == [running]
    assert lines(fs("instances", "list", "--status", "PENDING", "-q").stdout) == [pending]


def test_get_table_yaml_and_json(fs: Fs, ssh_key: str, emulator: EmulatorHandle) -> None:
    instance = running_instance(fs, emulator)
    table = fs("instances", "get", instance["id"]).stdout
    assert instance["id"] in table
    assert f"ubuntu@{instance['ip_address']}" in table
    assert "/hour" in table
    doc = yaml.safe_load(fs("instances", "get", instance["id"], "-o", "yaml").stdout)
    assert doc["id"] == instance["id"]
    assert doc["ssh_port"] == instance["ssh_port"]


def test_age_and_cost_so_far_are_measured_on_the_servers_clock(
    fs: Fs, ssh_key: str, emulator: EmulatorHandle
) -> None:
    # The emulator's clock runs hours ahead of this machine's: measured against the
    # local clock, the instance was created in the future and had cost $0.00.
    emulator.advance(5 * 3600)
    instance = running_instance(fs, emulator)  # created, then one simulated hour
    emulator.advance(3600)
    table = fs("instances", "get", instance["id"]).stdout
    created = next(line for line in lines(table) if line.startswith("Created"))
    # Two simulated hours, give or take the Date header's one-second resolution.
    assert any(f"({age} ago)" in created for age in ("1h 59m", "2h 0m", "2h 1m")), created
    so_far = next(line for line in lines(table) if line.startswith("Cost so far"))
    assert "$0.00" not in so_far
    assert "estimate, over 2h" in so_far or "estimate, over 1h 59m" in so_far, so_far


def test_get_unknown_instance_is_one_error_line_exit_1(fs: Fs) -> None:
    result = fs("instances", "get", "no-such-id", expect=1)
    assert result.stdout == ""
    assert lines(result.stderr) == [lines(result.stderr)[0]]
    assert result.stderr.startswith("error: 404 Not Found: ")
    assert "Traceback" not in result.stderr


def test_debug_shows_the_calls_and_the_traceback_but_never_the_key(
    fs: Fs, emulator: EmulatorHandle
) -> None:
    result = fs("--debug", "instances", "get", "no-such-id", expect=1)
    assert "debug: GET /instances/no-such-id -> 404" in result.stderr
    assert "Traceback" in result.stderr
    assert "API key from env" in result.stderr
    assert emulator.api_key not in result.stderr + result.stdout


# -- create ------------------------------------------------------------------------


def test_create_prints_the_new_instance_and_how_to_wait(fs: Fs, ssh_key: str) -> None:
    result = fs("instances", "create", "--gpu-type", "RTX_A5000_24GB", "--name", "a")
    assert "Created instance" in result.stderr
    assert "fluidstack instances wait" in result.stderr
    assert "RTX_A5000_24GB" in result.stdout


def test_create_json_stdout_is_only_the_document(fs: Fs, ssh_key: str) -> None:
    result = fs(
        "instances", "create", "--gpu-type", "RTX_A5000_24GB", "--gpu-count", "2", "-o", "json"
    )
    doc = json.loads(result.stdout)
    assert doc["gpu_type"] == "RTX_A5000_24GB"
    assert fs.json("instances", "get", doc["id"])["configuration"]["gpu_count"] == 2


def test_create_quiet_prints_the_id(fs: Fs, ssh_key: str) -> None:
    result = fs("-q", "instances", "create", "--gpu-type", "RTX_A5000_24GB")
    (ident,) = lines(result.stdout)
    assert fs.json("instances", "get", ident)["id"] == ident


def test_create_passes_region_os_and_key(fs: Fs, ssh_key: str, emulator: EmulatorHandle) -> None:
    fs("ssh-keys", "add", "other", str(_pub(fs, ssh_key)))
    created = create_instance(
        fs, "--region", "ICELAND", "--os", "ubuntu_22_04_lts_nvidia", "--ssh-key", "other"
    )
    doc = fs.json("instances", "get", created["id"])
    assert doc["configuration"]["region"] == "ICELAND"
    assert doc["operating_system_label"] == "ubuntu_22_04_lts_nvidia"
    assert doc["ssh_keys"] == ["other"]


def _pub(fs: Fs, name: str) -> str:
    import os

    return os.path.expanduser("~/.ssh/id_ed25519.pub")


def test_gpu_types_in_any_case_and_the_offered_ones_on_a_refusal(fs: Fs, ssh_key: str) -> None:
    created = fs.json("instances", "create", "--gpu-type", "rtx_a5000_24gb")
    assert created["gpu_type"] == "RTX_A5000_24GB"
    result = fs("instances", "create", "--gpu-type", "NOT_A_GPU_1GB", expect=1)
    offered = fs.json("configurations", "list")
    names = sorted({c["gpu_type"] for c in offered})
    assert f"Offered GPU types: {', '.join(names)}." in result.stderr


def test_create_without_gpu_type_is_a_usage_error(fs: Fs, ssh_key: str) -> None:
    result = fs("instances", "create", expect=2)
    assert "--gpu-type" in result.stderr


def test_create_repeated_region_needs_cheapest(fs: Fs, ssh_key: str) -> None:
    result = fs(
        "instances",
        "create",
        "--gpu-type",
        "A40_48GB",
        "--region",
        "NORWAY",
        "--region",
        "SWEDEN",
        expect=2,
    )
    assert "--cheapest" in result.stderr


def test_create_without_any_ssh_key_says_how_to_add_one(fs: Fs) -> None:
    result = fs("instances", "create", "--gpu-type", "RTX_A5000_24GB", expect=2)
    assert "fluidstack ssh-keys add" in result.stderr


def test_create_with_several_keys_asks_which(fs: Fs, ssh_key: str) -> None:
    fs("ssh-keys", "add", "second", _pub(fs, ssh_key))
    result = fs("instances", "create", "--gpu-type", "RTX_A5000_24GB", expect=2)
    assert "--ssh-key" in result.stderr
    assert "laptop" in result.stderr


def test_create_rejected_by_the_api_exits_1_with_the_server_message(fs: Fs, ssh_key: str) -> None:
    result = fs("instances", "create", "--gpu-type", "NOT_A_GPU", expect=1)
    assert lines(result.stderr)[-1].startswith("error: 422 Unprocessable Entity: gpu_type: ")
    assert "Traceback" not in result.stderr


# -- cheapest / dry run ------------------------------------------------------------


def test_dry_run_prints_the_plan_cheapest_first_and_creates_nothing(fs: Fs, ssh_key: str) -> None:
    plan = fs.json("instances", "create", "--cheapest", "--dry-run", "--gpu-count", "2")
    prices = [o["price_per_hour"] for o in plan["options"]]
    assert prices
    assert prices == sorted(prices)
    assert all(o["gpu_count"] == 2 for o in plan["options"])
    assert fs.json("instances", "list") == []
    table = fs("instances", "create", "--cheapest", "--dry-run", "--gpu-type", "A40_48GB")
    assert "A40_48GB" in table.stdout
    assert "$/HOUR" in table.stdout


def test_cheapest_creates_the_cheapest_in_stock_option(
    fs: Fs, ssh_key: str, emulator: EmulatorHandle
) -> None:
    plan = fs.json("instances", "create", "--cheapest", "--dry-run", "--gpu-type", "A40_48GB")
    options = plan["options"]
    assert len(options) >= 1
    created = fs.json("instances", "create", "--cheapest", "--gpu-type", "A40_48GB")
    doc = fs.json("instances", "get", created["id"])
    assert doc["configuration"]["region"] == options[0]["region"]


def test_cheapest_falls_back_when_the_cheapest_region_is_out_of_stock(
    fs: Fs, ssh_key: str, emulator: EmulatorHandle
) -> None:
    plan = fs.json(
        "instances",
        "create",
        "--cheapest",
        "--dry-run",
        "--gpu-type",
        "RTX_A4000_16GB",
        "--region",
        "NORWAY",
        "--region",
        "SWEDEN",
    )
    regions = [o["region"] for o in plan["options"]]
    assert sorted(regions) == ["NORWAY", "SWEDEN"]
    emulator.set_capacity("RTX_A4000_16GB", regions[0], 0)
    created = fs.json(
        "instances",
        "create",
        "--cheapest",
        "--gpu-type",
        "RTX_A4000_16GB",
        "--region",
        "NORWAY",
        "--region",
        "SWEDEN",
    )
    assert fs.json("instances", "get", created["id"])["configuration"]["region"] == regions[1]


def test_max_price_below_every_offer_fails_clearly(fs: Fs, ssh_key: str) -> None:
    result = fs("instances", "create", "--gpu-type", "A40_48GB", "--max-price", "0.01", expect=1)
    assert lines(result.stderr)[-1].startswith("error: no configuration")
    assert "fluidstack configurations list" in result.stderr


# -- wait --------------------------------------------------------------------------


def test_wait_after_the_clock_moves_prints_the_instance_and_ssh_hint(
    fs: Fs, ssh_key: str, emulator: EmulatorHandle
) -> None:
    created = create_instance(fs)
    emulator.advance(600)
    result = fs("instances", "wait", created["id"], "-o", "json")
    doc = json.loads(result.stdout)
    assert doc["status"] == "running"
    assert f"ssh -p {doc['ssh_port']} ubuntu@{doc['ip_address']}" in result.stderr
    assert f"{created['id']}: running" in result.stderr


def test_wait_times_out_with_exit_1_and_leaves_the_instance(
    fs: Fs, ssh_key: str, emulator: EmulatorHandle
) -> None:
    created = create_instance(fs)
    result = fs(
        "instances",
        "wait",
        created["id"],
        "--timeout",
        "0.3",
        "--poll-interval",
        "0.05",
        expect=1,
    )
    assert "did not become running" in result.stderr
    assert f"fluidstack instances delete {created['id']}" in result.stderr
    assert fs.json("instances", "get", created["id"])["status"] == "pending"


def test_wait_until_stopped(fs: Fs, ssh_key: str, emulator: EmulatorHandle) -> None:
    instance = running_instance(fs, emulator)
    fs("instances", "stop", instance["id"])
    emulator.advance(600)
    doc = fs.json("instances", "wait", instance["id"], "--until", "stopped")
    assert doc["status"] == "stopped"


def test_wait_rejects_an_unknown_status(fs: Fs) -> None:
    result = fs("instances", "wait", "x", "--until", "asleep", expect=2)
    assert "asleep" in result.stderr


def test_create_wait_json_follows_the_emulator_clock(
    fs: Fs, ssh_key: str, emulator: EmulatorHandle
) -> None:
    """``create --wait``: the clock is advanced while the CLI polls; stdout is one document."""
    done = threading.Event()
    results: List[Any] = []

    def run() -> None:
        try:
            results.append(
                fs(
                    "instances",
                    "create",
                    "--gpu-type",
                    "RTX_A5000_24GB",
                    "--wait",
                    "--poll-interval",
                    "0.02",
                    "-o",
                    "json",
                )
            )
        finally:
            done.set()

    worker = threading.Thread(target=run)
    worker.start()
    deadline = time.monotonic() + 30
    while not done.wait(0.05) and time.monotonic() < deadline:
        emulator.advance(30)
    worker.join(5)
    (result,) = results
    doc = json.loads(result.stdout)
    assert doc["status"] == "running"
    assert doc["ip_address"]
    err = result.stderr
    # One line per status seen (stderr is not a terminal), in lifecycle order.
    seen = [
        line.split(": ", 1)[1].split(" (")[0]
        for line in err.splitlines()
        if line.startswith(f"{doc['id']}: ")
    ]
    lifecycle = ["pending", "provisioning", "starting", "running"]
    assert seen[-1] == "running"
    assert seen == sorted(seen, key=lifecycle.index)
    assert "Connect with: ssh -p" in err


# -- start / stop / rename ---------------------------------------------------------


def test_stop_start_and_rename(fs: Fs, ssh_key: str, emulator: EmulatorHandle) -> None:
    instance = running_instance(fs, emulator)
    stopped = fs.json("instances", "stop", instance["id"])
    assert stopped["status"] in ("stopping", "stopped")
    emulator.advance(600)
    assert fs.json("instances", "get", instance["id"])["status"] == "stopped"
    started = fs("instances", "start", instance["id"])
    assert "Starting" in started.stderr
    renamed = fs.json("instances", "rename", instance["id"], "new-name")
    assert renamed["name"] == "new-name"


def test_start_and_stop_print_the_instance_like_create(
    fs: Fs, ssh_key: str, emulator: EmulatorHandle
) -> None:
    instance = running_instance(fs, emulator)
    stopped = fs("instances", "stop", instance["id"])
    assert "Status" in stopped.stdout
    assert instance["id"] in stopped.stdout
    emulator.advance(600)
    started = fs("instances", "start", instance["id"])
    assert "Status" in started.stdout
    assert "starting" in started.stdout


def test_waits_start_fast(fs_no_creds: Fs) -> None:
    help_text = " ".join(fs_no_creds("instances", "create", "--help").stdout.split())
    assert "polling slows down gradually). [default: 1.0]" in help_text  # 1, 1.5, 2.25...


def test_stopping_a_pending_instance_is_a_409(fs: Fs, ssh_key: str) -> None:
    created = create_instance(fs)
    result = fs("instances", "stop", created["id"], expect=1)
    assert result.stderr.startswith("error: 409 Conflict: ")


# -- delete ------------------------------------------------------------------------


def test_delete_without_a_terminal_requires_yes(fs: Fs, ssh_key: str) -> None:
    created = create_instance(fs)
    result = fs("instances", "delete", created["id"], expect=2)
    assert "--yes" in result.stderr
    assert fs.json("instances", "get", created["id"])["status"] != "terminated"


def test_delete_asks_on_a_terminal_and_no_keeps_it(
    fs: Fs, ssh_key: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(cli_state, "stdin_is_terminal", lambda: True)
    created = create_instance(fs)
    result = fs("instances", "delete", created["id"], input="n\n", expect=1)
    assert f"Delete instance {created['id']}?" in result.stderr
    assert "nothing was deleted" in result.stderr
    assert fs.json("instances", "get", created["id"])["status"] != "terminated"


def test_delete_asks_on_a_terminal_and_yes_deletes(
    fs: Fs, ssh_key: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(cli_state, "stdin_is_terminal", lambda: True)
    created = create_instance(fs)
    result = fs("instances", "delete", created["id"], input="y\n")
    assert "Deleted instance" in result.stderr
    assert fs.json("instances", "get", created["id"])["status"] == "terminated"


def test_delete_several_with_yes_reports_each_and_exits_1_on_a_failure(
    fs: Fs, ssh_key: str
) -> None:
    a = create_instance(fs)["id"]
    b = create_instance(fs)["id"]
    result = fs("instances", "delete", a, "missing-id", b, "--yes", "-o", "json", expect=1)
    doc = json.loads(result.stdout)
    assert doc["deleted"] == [a, b]
    assert [f["id"] for f in doc["failed"]] == ["missing-id"]
    assert doc["failed"][0]["status_code"] == 404
    assert "error: missing-id: 404 Not Found" in result.stderr


# -- ssh ---------------------------------------------------------------------------


def _host_key_options(instance_id: str, home: Any) -> List[str]:
    """Host keys are trusted on first use, per instance, in fluidstack's known_hosts."""
    known = home.xdg / "fluidstack" / "known_hosts"
    return [
        "-o",
        f"HostKeyAlias=fluidstack-{instance_id}",
        "-o",
        f"UserKnownHostsFile={known}",
        "-o",
        "StrictHostKeyChecking=accept-new",
    ]


def test_ssh_print_builds_the_command(
    fs: Fs, ssh_key: str, emulator: EmulatorHandle, home: Any
) -> None:
    instance = running_instance(fs, emulator)
    result = fs("instances", "ssh", instance["id"], "--print")
    assert shlex.split(result.stdout) == [
        "ssh",
        "-o",
        "ConnectTimeout=15",
        *_host_key_options(instance["id"], home),
        "-p",
        instance["ssh_port"],
        f"ubuntu@{instance['ip_address']}",
    ]


def test_ssh_print_with_identity_and_extra_args(
    fs: Fs, ssh_key: str, emulator: EmulatorHandle, home: Any
) -> None:
    instance = running_instance(fs, emulator)
    key = home.path / ".ssh" / "id_ed25519"
    result = fs(
        "instances",
        "ssh",
        instance["id"],
        "-i",
        str(key),
        "--print",
        "--",
        "-L",
        "8888:localhost:8888",
        "nvidia-smi",
    )
    assert shlex.split(result.stdout) == [
        "ssh",
        "-o",
        "ConnectTimeout=15",
        *_host_key_options(instance["id"], home),
        "-p",
        instance["ssh_port"],
        "-i",
        str(key),
        f"ubuntu@{instance['ip_address']}",
        "-L",
        "8888:localhost:8888",
        "nvidia-smi",
    ]


def test_ssh_to_an_emulated_instance_says_it_cannot_be_reached(
    fs: Fs, ssh_key: str, emulator: EmulatorHandle
) -> None:
    instance = running_instance(fs, emulator)
    started = time.monotonic()
    result = fs("instances", "ssh", instance["id"], expect=1)
    assert time.monotonic() - started < 10  # it says so, rather than hanging in ssh
    assert "documentation address" in result.stderr
    assert "--print" in result.stderr


def test_ssh_to_an_instance_without_address_says_to_wait(fs: Fs, ssh_key: str) -> None:
    created = create_instance(fs)
    result = fs("instances", "ssh", created["id"], "--print", expect=1)
    assert "has no address yet" in result.stderr
    assert f"fluidstack instances wait {created['id']}" in result.stderr


def test_ssh_with_a_missing_identity_file_is_a_usage_error(fs: Fs) -> None:
    result = fs("instances", "ssh", "x", "-i", "/nonexistent/key", expect=2)
    assert "/nonexistent/key" in result.stderr
