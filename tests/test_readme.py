"""The README's set-up commands are the ones CI runs, its Python example runs, and its tables match the repo."""

import importlib.util
import re
import sys
from pathlib import Path

ROOT = Path(__file__).parent.parent


def _setup_commands() -> list[str]:
    section = ROOT.joinpath("README.md").read_text().split("## Set up", 1)[1].split("\n## ", 1)[0]
    return [block.strip() for block in re.findall(r"```bash\n(.*?)```", section, re.S)]


def test_readme_opens_with_two_setup_commands_that_ci_runs():
    commands = _setup_commands()
    assert len(commands) == 2 and all("\n" not in c for c in commands)
    assert (commands[0].endswith("pip install --no-build-isolation -e '.[basicsr,mmagic]' && wm demo")
            and commands[1].endswith("pytest"))
    ci = ROOT.joinpath(".ci", "run").read_text()
    venv, activate, rest = commands[0].split(" && ", 2)
    assert venv in ci and activate in ci and rest in ci
    assert commands[1] in ci


def test_readme_python_example_runs(tmp_path, monkeypatch, sample_paths):
    text = ROOT.joinpath("README.md").read_text()
    code = re.search(r"```python\n(.*?)```", text, re.S).group(1)
    monkeypatch.chdir(tmp_path)
    Path("cat.png").write_bytes(sample_paths[0].read_bytes())
    exec(compile(code, "README.md", "exec"), {})
    assert Path("cat_marked.png").exists()


def test_readme_layout_names_every_module_of_the_core():
    layout = ROOT.joinpath("README.md").read_text().split("## Layout", 1)[1]
    core = ROOT / "wm_plugin"
    parts = [p.name for p in core.glob("*.py") if p.name != "__init__.py"]
    parts += [p.name + "/" for p in core.iterdir() if p.is_dir() and p.name not in ("__pycache__", "samples")]
    missing = [name for name in parts if not re.search(rf"(^|\s){re.escape(name)}(\s|$)", layout, re.M)]
    assert not missing, f"README's Layout does not name {missing}"


def test_readme_surrogate_table_is_the_rendering_of_the_results_on_disk(monkeypatch):
    spec = importlib.util.spec_from_file_location("surrogate_table", ROOT / "benchmarks" / "surrogate_table.py")
    table = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, spec.name, table)  # its dataclass looks itself up there
    spec.loader.exec_module(table)
    rendered = table.render()
    assert rendered.count("\n") > 10 and "**" in rendered  # rows, and detected cells among them
    readme = ROOT.joinpath("README.md").read_text()
    assert table.MARKERS[0] + rendered + table.MARKERS[1] in readme, (
        "README's surrogate table is stale: run python benchmarks/surrogate_table.py --readme README.md")
