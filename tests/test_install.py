"""The package installs anywhere: the wheel holds every package and the bundled bars, the version comes from the
installed metadata, and the ``skills`` console script runs from an unrelated folder."""

import ast
import os
import re
import shutil
import site
import subprocess
import sys
import time
from pathlib import Path

import pytest

import skills
from skills._version import _checkout_version
from skills.data import default_data_path, load_ohlcv, load_universe

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    tomllib = pytest.importorskip("tomli")

REPO = Path(__file__).resolve().parents[1]
PYPROJECT = tomllib.loads((REPO / "pyproject.toml").read_text())
SOURCES = ("pyproject.toml", "requirements.txt", "README.md", "skills", "data")


def test_the_wheel_lists_every_package_and_maps_the_bundled_data():
    setuptools = PYPROJECT["tool"]["setuptools"]
    code = {".".join(init.parent.relative_to(REPO).parts) for init in (REPO / "skills").rglob("__init__.py")}
    data = REPO / "data"
    folders = [data, *(path for path in data.rglob("*") if path.is_dir() and path.name != "__pycache__")]
    bundled = {".".join(("skills", "bundled_data", *folder.relative_to(data).parts)): folder for folder in folders}
    assert sorted(setuptools["packages"]) == sorted(code | set(bundled))
    assert setuptools["package-dir"] == {"skills.bundled_data": "data"}
    assert PYPROJECT["project"]["scripts"] == {"skills": "skills.cli:main"}
    shipped = {path.relative_to(data).as_posix() for package, folder in bundled.items()
               for pattern in setuptools["package-data"][package] for path in folder.glob(pattern)}
    on_disk = {path.relative_to(data).as_posix() for path in data.rglob("*")
               if path.is_file() and path.suffix not in (".py", ".pyc")}
    assert shipped == on_disk
    assert {"AAPL.csv", "README.md", "universe/sp500_5yr.csv.gz", "universe/README.md"} <= shipped


def test_the_version_of_a_checkout_is_pyprojects():
    assert skills.__version__ == PYPROJECT["project"]["version"] == _checkout_version()
    assert re.fullmatch(r"\d+\.\d+\.\d+\S*", skills.__version__)


def test_the_default_data_path_of_a_checkout_is_its_data_folder():
    folder = default_data_path()
    assert folder == REPO / "data"
    assert len(load_ohlcv(folder / "AAPL.csv")) == 3379
    assert (folder / "universe" / "sp500_5yr.csv.gz").is_file()


def test_every_third_party_import_is_a_requirement():
    """Each top-level module ``skills/`` imports is the package itself, the standard library, a requirement, or an
    optional extra (torch, only under ``KERAS_BACKEND=torch``)."""
    requirement_names = {re.split(r"[<>=\[; ]", line.strip(), maxsplit=1)[0].lower()
                         for line in (REPO / "requirements.txt").read_text().splitlines()
                         if line.strip() and not line.startswith(("#", "-"))}
    extras = {re.split(r"[<>=\[; ]", spec, maxsplit=1)[0].lower()
              for specs in PYPROJECT["project"]["optional-dependencies"].values() for spec in specs}
    distribution = {"sklearn": "scikit-learn", "yaml": "pyyaml"}
    imported = set()
    for module in (REPO / "skills").rglob("*.py"):
        for node in ast.walk(ast.parse(module.read_text())):
            if isinstance(node, ast.Import):
                imported.update(alias.name.split(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.level == 0:
                imported.add(node.module.split(".")[0])
    third_party = {name for name in imported - set(sys.stdlib_module_names) if name != "skills"}
    assert {"keras", "yaml", "backtrader"} <= third_party
    missing = {name for name in third_party if distribution.get(name, name).lower() not in requirement_names | extras}
    assert not missing, f"imported by skills/ but in no requirements file: {sorted(missing)}"


def _run(command, cwd, env, seconds=None, step=None):
    """Run ``command``, check it exits 0, and add its wall time to ``seconds[step]``."""
    started = time.perf_counter()
    done = subprocess.run([str(part) for part in command], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=600)
    assert done.returncode == 0, f"{command} exited {done.returncode}:\n{done.stdout[-2000:]}\n{done.stderr[-3000:]}"
    if seconds is not None:
        seconds[step] = seconds.get(step, 0.0) + time.perf_counter() - started
    return done


@pytest.mark.integration
def test_the_wheel_installs_and_runs_from_another_folder(tmp_path):
    """Build the wheel, install it alone into a fresh virtualenv that borrows this interpreter's dependencies,
    then run ``skills --help``, ``skills data`` and a one-epoch ``skills train`` from an empty folder."""
    started, seconds = time.perf_counter(), {}
    source = tmp_path / "source"
    source.mkdir()
    for name in SOURCES:
        if (REPO / name).is_dir():
            shutil.copytree(REPO / name, source / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        else:
            shutil.copy2(REPO / name, source / name)
    env = {key: value for key, value in os.environ.items()
           if key not in ("PYTHONPATH", "PYTHONHOME", "PYTHONSTARTUP", "PYTHONSAFEPATH", "VIRTUAL_ENV")}
    env.update(KERAS_HOME=str(tmp_path / "keras_home"), TF_CPP_MIN_LOG_LEVEL="3", MPLBACKEND="Agg")

    _run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "--no-index",
          "-w", tmp_path / "dist", source], tmp_path, env, seconds, "build")
    (wheel,) = (tmp_path / "dist").glob("skills-*.whl")
    leftovers = sorted(path.name + ("/x" if path.is_dir() else "") for path in source.iterdir()
                       if path.name not in SOURCES)
    if leftovers and shutil.which("git") and (REPO / ".git").exists():  # what a build in the checkout leaves
        ignored = subprocess.run(["git", "check-ignore", "--no-index", *leftovers], cwd=REPO, capture_output=True,
                                 text=True).stdout.split()
        assert ignored == leftovers, f"build leftovers git would pick up: {sorted(set(leftovers) - set(ignored))}"

    venv = tmp_path / "venv"
    _run([sys.executable, "-m", "venv", "--system-site-packages", "--without-pip", venv], tmp_path, env, seconds,
         "venv")
    bin_dir = venv / ("Scripts" if os.name == "nt" else "bin")
    python = bin_dir / "python"
    purelib = Path(_run([python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"], tmp_path,
                        env).stdout.strip())
    if sys.prefix != sys.base_prefix:  # a virtualenv's own packages are not the "system" ones: borrow them too
        (purelib / "borrowed_dependencies.pth").write_text("\n".join(site.getsitepackages()) + "\n")
    _run([python, "-m", "pip", "install", "-q", "--no-deps", "--no-index", wheel], tmp_path, env, seconds, "install")

    work = tmp_path / "work"
    work.mkdir()
    probe = ("import sys, skills, skills.data; print(skills.__file__); print(skills.__version__); "
             "print(skills.data.default_data_path()); print('\\n'.join(sys.path))")
    lines = _run([python, "-c", probe], work, env, seconds, "import").stdout.splitlines()
    assert Path(lines[0]).resolve() == (purelib / "skills" / "__init__.py").resolve()
    assert lines[1] == PYPROJECT["project"]["version"]  # from the metadata: no pyproject.toml beside the package
    bundled = Path(lines[2])
    assert bundled.resolve() == (purelib / "skills" / "bundled_data").resolve()
    assert not [entry for entry in lines[3:] if (work / entry).resolve() in (REPO, REPO / "skills")], lines[3:]
    assert load_ohlcv(bundled / "GOOG.csv").equals(load_ohlcv(REPO / "data" / "GOOG.csv"))
    assert len(load_universe(bundled / "universe", on_bad_rows="drop", on_bad_files="skip")) == 249

    script = bin_dir / "skills"
    helped = _run([script, "--help"], work, {**env, "PYTHONVERBOSE": "1"}, seconds, "--help")
    assert "usage: skills" in helped.stdout and "train" in helped.stdout
    loaded = set(re.findall(r"([^\s'\"]+[\\/]skills[\\/]__init__\.py)", helped.stderr))
    assert loaded and all(Path(path).resolve() == (purelib / "skills" / "__init__.py").resolve() for path in loaded)
    assert "--model-path" in _run([script, "train", "--help"], work, env, seconds, "--help").stdout

    summary = _run([script, "data"], work, env, seconds, "data").stdout
    (tickers,) = re.findall(r"^tickers: (.*)$", summary, flags=re.M)
    assert sorted(tickers.split(", ")) == ["AAPL", "GOOG", "NVDA", "ORCL", "YHOO"]
    assert re.search(r"^ test: +\d+ windows", summary, flags=re.M), summary

    bars = (REPO / "data" / "AAPL.csv").read_text().splitlines()
    (work / "bars.csv").write_text("\n".join([bars[0], *bars[-300:]]) + "\n")
    train = [script, "train", "--model", "lstm", "--lstm-units", "4", "--epochs", "1", "--sequence-length", "10",
             "--data-path", "bars.csv", "--model-path", "m.keras", "--quiet"]
    trained = _run(train, work, env, seconds, "train").stdout
    assert re.search(r"^accuracy\s+\d\.\d+", trained, flags=re.M), trained
    assert re.search(r"^macro-F1\s+\d\.\d+", trained, flags=re.M), trained
    for name in ("m.keras", "m.report.json", "m.curves.png", "m.confusion.png"):
        assert (work / name).stat().st_size > 0
    steps = ", ".join(f"{step} {spent:.0f} s" for step, spent in seconds.items())
    print(f"wheel built, installed and run in {time.perf_counter() - started:.0f} s ({steps})")
