"""ferroq.engine_info(): what the engine chose, checked against the machine's own
description of itself (numpy's CPU feature detection or /proc/cpuinfo, and the
platform) and against the environment variables that override the choice, each in
a fresh process (they are read once)."""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys

import ferroq
import pytest
from ferroq import _core

ISAS = ("avx512", "avx2", "neon", "portable")


def cpu_flags() -> set[str] | None:
    """The x86 features this process may use, from numpy's own run-time dispatch
    (which, like ferroq, checks that the OS saves the wider registers), else from
    /proc/cpuinfo; lower case, as in /proc/cpuinfo."""
    try:
        from numpy._core._multiarray_umath import __cpu_features__
    except ImportError:
        pass
    else:
        names = {"AVX2": "avx2", "FMA3": "fma", "AVX512F": "avx512f", "AVX512VL": "avx512vl"}
        if set(names) <= set(__cpu_features__):
            return {flag for name, flag in names.items() if __cpu_features__[name]}
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("flags"):
                    return set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return None


def expected_isa(flags: set[str] | None, *, no_simd: bool = False, no_avx512: bool = False) -> str | None:
    """What the engine should pick here, from the machine's description; None where
    this test cannot tell."""
    machine = platform.machine().lower()
    if machine in ("aarch64", "arm64"):
        return "portable" if no_simd else "neon"
    if machine not in ("x86_64", "amd64") or flags is None:
        return None
    if no_simd or not {"avx2", "fma"} <= flags:
        return "portable"
    if not no_avx512 and {"avx512f", "avx512vl"} <= flags:
        return "avx512"
    return "avx2"


def info_in_subprocess(**env_overrides: str) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FERROQ_")}
    env.update(env_overrides)
    program = "import json, ferroq; print(json.dumps(ferroq.engine_info()._asdict()))"
    out = subprocess.run(
        [sys.executable, "-c", program], env=env, capture_output=True, check=True, text=True, timeout=120
    ).stdout
    return json.loads(out)


def test_engine_info_in_this_process():
    info = ferroq.engine_info()
    assert isinstance(info, ferroq.EngineInfo)
    assert info.instruction_set in ISAS
    expected = expected_isa(cpu_flags(), no_simd=bool(os.environ.get("FERROQ_NO_SIMD", "") not in ("", "0")))
    if expected is not None and os.environ.get("FERROQ_NO_AVX512", "") in ("", "0"):
        assert info.instruction_set == expected
    # conftest.py sets FERROQ_CACHE_BYTES=0: "unknown", so every state is blocked.
    assert info.cache_bytes is None
    assert info.default_threads == _core.default_threads() >= 1
    assert info.available_memory > 0
    again = ferroq.engine_info()  # chosen once per process, but the free memory is read at each call
    assert again._replace(available_memory=0) == info._replace(available_memory=0)


def test_the_instruction_set_follows_the_cpu_and_the_environment():
    flags = cpu_flags()
    default = info_in_subprocess()
    assert default["instruction_set"] in ISAS
    expected = expected_isa(flags)
    if expected is not None:
        assert default["instruction_set"] == expected
    assert info_in_subprocess(FERROQ_NO_SIMD="1")["instruction_set"] == "portable"
    # "0" and "" leave SIMD on.
    assert info_in_subprocess(FERROQ_NO_SIMD="0")["instruction_set"] == default["instruction_set"]
    no_avx512 = info_in_subprocess(FERROQ_NO_AVX512="1")["instruction_set"]
    assert no_avx512 != "avx512"
    if expected is not None:
        assert no_avx512 == expected_isa(flags, no_avx512=True)


def test_the_cache_size_can_be_overridden():
    assert info_in_subprocess(FERROQ_CACHE_BYTES="12345")["cache_bytes"] == 12345
    assert info_in_subprocess(FERROQ_CACHE_BYTES="0")["cache_bytes"] is None
    # Not a number of bytes: refused, naming the variable (it was taken as "unknown").
    with pytest.raises(subprocess.CalledProcessError) as err:
        info_in_subprocess(FERROQ_CACHE_BYTES="lots")
    assert "FERROQ_CACHE_BYTES (environment variable)" in err.value.stderr
    found = info_in_subprocess()["cache_bytes"]
    if os.path.isdir("/sys/devices/system/cpu/cpu0/cache"):  # Linux describes its caches there
        assert found is not None and found >= 1 << 16


def sysfs_largest_cache() -> int | None:
    """The reference: the largest cache sysfs lists for CPU 0."""
    root = "/sys/devices/system/cpu/cpu0/cache"
    sizes = []
    try:
        for entry in os.scandir(root):
            if entry.name.startswith("index"):
                with open(os.path.join(entry.path, "size")) as f:
                    text = f.read().strip().upper()
                scale = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30}.get(text[-1:], 1)
                sizes.append(int(text.rstrip("KMG")) * scale)
    except (OSError, ValueError):
        return None
    return max(sizes, default=None)


def test_the_machine_cache_ignores_the_override():
    # conftest.py's FERROQ_CACHE_BYTES=0 hides the cache from blocking, not from this.
    assert _core.cache_bytes() is None
    assert _core.system_cache_bytes() == sysfs_largest_cache()
