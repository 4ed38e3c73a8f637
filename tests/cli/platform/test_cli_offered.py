"""Issue 28 item 5: a bad GPU type or region gets one clear list of what is offered."""

from __future__ import annotations

from cli_support import Fs


def test_a_bad_gpu_type_gets_one_list(fs: Fs, ssh_key: str) -> None:
    result = fs("instances", "create", "--gpu-type", "NOT_A_GPU_1GB", expect=1)
    names = sorted({c["gpu_type"] for c in fs.json("configurations", "list")})
    assert result.stderr.count("Offered GPU types") == 1
    assert f"Offered GPU types: {', '.join(names)}." in result.stderr
    assert [ln for ln in result.stderr.splitlines() if ln.startswith("error:")] == [  # no dump
        result.stderr.splitlines()[-1]
    ]
    assert "enum" not in result.stderr.lower()


def test_a_bad_region_gets_one_list(fs: Fs, ssh_key: str) -> None:
    result = fs(
        "instances", "create", "--gpu-type", "RTX_A5000_24GB", "--region", "MARS_1", expect=1
    )
    regions = sorted({r for c in fs.json("configurations", "list") for r in c["regions"]})
    assert f"Offered regions: {', '.join(regions)}." in result.stderr
    assert result.stderr.count("error:") == 1
    assert "enum" not in result.stderr.lower()
