"""``ssh-keys``, ``configurations``, ``templates``, ``balance``, ``api-keys`` on the emulator."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest
import yaml
from cli_support import PRIVATE_KEY, PUBLIC_KEY, Fs, Home, lines, write_key_pair

from fluidstack.cli import state as cli_state
from fluidstack.client import FluidStack
from fluidstack.testing import EmulatorHandle

RSA_KEY = "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQDJ me@old-laptop"

# -- ssh-keys ----------------------------------------------------------------------


def test_add_defaults_to_id_ed25519_pub(fs: Fs, home: Home) -> None:
    write_key_pair(home.path / ".ssh", "id_ed25519")
    write_key_pair(home.path / ".ssh", "id_rsa", RSA_KEY)
    result = fs("ssh-keys", "add", "laptop")
    assert "id_ed25519.pub" in result.stderr
    (key,) = fs.json("ssh-keys", "list")
    assert key["name"] == "laptop"
    assert key["public_key"] == PUBLIC_KEY


def test_add_falls_back_to_id_rsa_pub(fs: Fs, home: Home) -> None:
    write_key_pair(home.path / ".ssh", "id_rsa", RSA_KEY)
    fs("ssh-keys", "add", "old")
    assert fs.json("ssh-keys", "list")[0]["public_key"] == RSA_KEY


def test_add_without_any_key_file_explains_how_to_make_one(fs: Fs) -> None:
    result = fs("ssh-keys", "add", "laptop", expect=2)
    assert "ssh-keygen" in result.stderr
    assert result.stderr.startswith("error: ")


def test_add_from_a_file_and_from_stdin(fs: Fs, home: Home) -> None:
    pub = write_key_pair(home.path / "keys", "work")
    fs("ssh-keys", "add", "work", str(pub))
    fs("ssh-keys", "add", "piped", "-", input=RSA_KEY + "\n")
    keys = {k["name"]: k["public_key"] for k in fs.json("ssh-keys", "list")}
    assert keys == {"work": PUBLIC_KEY, "piped": RSA_KEY}


def test_add_refuses_a_private_key_file_and_names_the_public_one(fs: Fs, home: Home) -> None:
    write_key_pair(home.path / ".ssh", "id_ed25519")
    private = home.path / ".ssh" / "id_ed25519"
    result = fs("ssh-keys", "add", "oops", str(private), expect=2)
    assert "is a private key" in result.stderr
    assert f"{private}.pub" in result.stderr
    assert "BEGIN" not in result.stderr
    assert fs.json("ssh-keys", "list") == []


def test_add_refuses_a_private_key_on_stdin(fs: Fs) -> None:
    result = fs("ssh-keys", "add", "oops", "-", input=PRIVATE_KEY, expect=2)
    assert "standard input is a private key" in result.stderr


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("", "is empty"),
        ("hello world\n", "not an OpenSSH public key"),
        (PUBLIC_KEY + "\n" + RSA_KEY + "\n", "holds 2 keys"),
    ],
)
def test_add_refuses_what_is_not_one_public_key(
    fs: Fs, home: Home, content: str, message: str
) -> None:
    path = home.path / "bad.pub"
    path.write_text(content)
    result = fs("ssh-keys", "add", "bad", str(path), expect=2)
    assert message in result.stderr


def test_add_a_missing_file(fs: Fs) -> None:
    result = fs("ssh-keys", "add", "x", "/no/such/file.pub", expect=2)
    assert "no such file" in result.stderr


def test_list_table_shows_type_and_fingerprint_and_delete(fs: Fs, home: Home) -> None:
    write_key_pair(home.path / ".ssh", "id_ed25519")
    fs("ssh-keys", "add", "laptop")
    table = fs("ssh-keys", "list").stdout
    assert "laptop" in table
    assert "ssh-ed25519" in table
    assert "SHA256:" in table
    assert lines(fs("ssh-keys", "list", "-q").stdout) == ["laptop"]
    fs("ssh-keys", "delete", "laptop")
    assert fs.json("ssh-keys", "list") == []
    result = fs("ssh-keys", "delete", "laptop", expect=1)
    assert result.stderr.startswith("error: 404")


# -- configurations / templates ----------------------------------------------------


def test_configurations_are_sorted_by_price_with_both_prices(
    fs: Fs, fluidstack_client: FluidStack
) -> None:
    rows = fs.json("configurations", "list")
    totals = [r["price_per_hour"] for r in rows]
    assert totals == sorted(totals)
    catalog = {str(c.gpu_type): c for c in fluidstack_client.configurations.list()}
    expected_rows = sum(len(set(c.gpu_counts)) for c in catalog.values())
    assert len(rows) == expected_rows
    for row in rows:
        config = catalog[row["gpu_type"]]
        assert Decimal(str(row["price_per_gpu_hour"])) == config.price_per_gpu_hour
        assert Decimal(str(row["price_per_hour"])) == config.price_per_hour(row["gpu_count"])


def test_stopped_prices_are_per_instance_and_every_price_is_a_number(
    fs: Fs, fluidstack_client: FluidStack
) -> None:
    catalog = {str(c.gpu_type): c for c in fluidstack_client.configurations.list()}
    rows = [r for r in fs.json("configurations", "list") if r["gpu_count"] > 1]
    assert rows
    for row in rows:
        config = catalog[row["gpu_type"]]
        prices = {k: v for k, v in row.items() if "price" in k}
        assert all(isinstance(v, float) for v in prices.values()), prices
        per_gpu = config.stopped_price_per_hour  # the API's field is per GPU
        assert Decimal(str(row["stopped_price_per_gpu_hour"])) == per_gpu
        assert Decimal(str(row["stopped_price_per_hour"])) == per_gpu * row["gpu_count"]
    eight = next(r for r in rows if r["gpu_count"] == max(r["gpu_count"] for r in rows))
    table = fs("configurations", "list", "--gpu-type", eight["gpu_type"]).stdout
    line = next(
        x for x in lines(table) if x.split()[:2] == [eight["gpu_type"], str(eight["gpu_count"])]
    )
    from fluidstack.cli.render import money

    assert line.split()[4] == money(Decimal(str(eight["stopped_price_per_hour"])))


def test_configurations_filters(fs: Fs) -> None:
    rows = fs.json(
        "configurations", "list", "--gpu-type", "a100", "--min-gpus", "2", "--max-price", "20"
    )
    assert rows
    for row in rows:
        assert "A100" in row["gpu_type"]
        assert row["gpu_count"] >= 2
        assert row["price_per_hour"] <= 20
    everywhere = fs.json("configurations", "list")
    region = everywhere[0]["regions"][0]
    in_region = fs.json("configurations", "list", "--region", region.lower())
    assert in_region
    assert all(r["regions"] == [region] for r in in_region)


def test_configurations_table_and_empty_result(fs: Fs) -> None:
    table = fs("configurations", "list", "--gpu-type", "RTX_A5000").stdout
    header = lines(table)[0]
    assert "$/GPU-HOUR" in header
    assert "$/HOUR" in header
    assert "RTX_A5000_24GB" in table
    empty = fs("configurations", "list", "--gpu-type", "no-such-gpu")
    assert empty.stdout == ""
    assert "No configuration matches" in empty.stderr


def test_configurations_reject_bad_numbers(fs: Fs) -> None:
    assert "--min-gpus" in fs("configurations", "list", "--min-gpus", "0", expect=2).stderr
    assert "--max-price" in fs("configurations", "list", "--max-price", "x", expect=2).stderr


def test_templates_list(fs: Fs, fluidstack_client: FluidStack) -> None:
    labels = [str(t.label) for t in fluidstack_client.templates.list()]
    assert [t["label"] for t in fs.json("templates", "list")] == labels
    assert lines(fs("templates", "list", "-q").stdout) == labels
    assert labels[0] in fs("templates", "list").stdout


# -- balance / api-keys ------------------------------------------------------------


def test_balance_in_every_format(fs: Fs, emulator: EmulatorHandle) -> None:
    emulator.set_balance(1234.5)
    assert fs("balance").stdout.strip() == "$1,234.50"
    assert fs.json("balance") == {"balance": 1234.5}
    assert yaml.safe_load(fs("balance", "-o", "yaml").stdout) == {"balance": 1234.5}
    assert fs("balance", "-q").stdout.strip() == "1234.50"


def test_api_keys_create_list_delete(
    fs: Fs, emulator: EmulatorHandle, monkeypatch: pytest.MonkeyPatch
) -> None:
    created = fs("api-keys", "create", "ci")
    secret = created.stdout.strip()
    assert secret
    assert "not shown again" in created.stderr
    listed = fs.json("api-keys", "list")
    new = next(k for k in listed if k["name"] == "ci")
    assert fs.json("balance", env={"FLUIDSTACK_API_KEY": secret})["balance"] >= 0
    assert "--yes" in fs("api-keys", "delete", new["id"], expect=2).stderr
    monkeypatch.setattr(cli_state, "stdin_is_terminal", lambda: True)
    fs("api-keys", "delete", new["id"], input="n\n", expect=1)
    fs("api-keys", "delete", new["id"], input="y\n")
    assert new["id"] not in [k["id"] for k in fs.json("api-keys", "list")]
    result = fs("balance", env={"FLUIDSTACK_API_KEY": secret}, expect=1)
    assert result.stderr.startswith("error: 401")


def test_api_keys_create_json_carries_the_secret(fs: Fs) -> None:
    doc = json.loads(fs("api-keys", "create", "json-key", "-o", "json").stdout)
    assert doc["api_key"]
    assert doc["name"] == "json-key"
