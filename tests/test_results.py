"""The measured results shipped in the package (llm_anatomy.results): loader, files, packaging."""

from __future__ import annotations

import json
import re
from fnmatch import fnmatch
from pathlib import Path

import pytest

import llm_anatomy.results as results

ROOT = Path(__file__).resolve().parents[1]
FOLDER = Path(results.__file__).parent


def test_available_lists_every_json_file_of_the_folder():
    on_disk = sorted(p.stem for p in FOLDER.glob("*.json"))
    assert on_disk, "no result is shipped"
    assert results.available() == on_disk


@pytest.mark.parametrize("name", sorted(p.stem for p in FOLDER.glob("*.json")))
def test_every_committed_result_parses(name):
    loaded = results.load(name)
    assert isinstance(loaded, dict) and loaded
    assert loaded == json.loads((FOLDER / f"{name}.json").read_text(encoding="utf-8"))


def test_unknown_name_names_the_available_results():
    with pytest.raises(ValueError, match="no result named 'gpt_thruput'") as err:
        results.load("gpt_thruput")
    for name in results.available():
        assert name in str(err.value)


@pytest.mark.parametrize("name", ["gpt_throughput.json", "../pyproject", "", "__init__"])
def test_names_that_are_not_results_are_refused(name):
    with pytest.raises(ValueError, match="available: "):
        results.load(name)


def test_a_name_must_be_a_string():
    with pytest.raises(TypeError, match="must be a string"):
        results.load(Path("gpt_throughput"))


def test_every_result_a_page_loads_is_shipped():
    pages = "\n".join(p.read_text(encoding="utf-8") for p in (ROOT / "docs").glob("*/*.md"))
    loaded = set(re.findall(r"""results\.load\(["']([^"']+)["']\)""", pages))
    assert loaded, "no page loads a result"
    assert loaded <= set(results.available())


def test_the_results_are_package_data():
    """pyproject declares the JSON files as package data, so a (non-editable) wheel has them."""
    tomllib = pytest.importorskip("tomllib")  # the standard library from Python 3.11
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    patterns = config["tool"]["setuptools"]["package-data"]["llm_anatomy.results"]
    for file in FOLDER.glob("*.json"):
        assert any(fnmatch(file.name, pattern) for pattern in patterns), file.name


def test_the_throughput_results_hold_both_comparisons():
    speed = results.load("gpt_throughput")
    for config in speed["training"].values():
        assert {"ours", "llms_from_scratch", "transformers", "ours_best", "transformers_best"} <= set(config["models"])
        for model in config["models"].values():
            spread = model["step_seconds_spread"]
            assert spread["min"] <= spread["q1"] <= spread["median"] <= spread["q3"] <= spread["max"]
            assert len(model["step_seconds"]) >= 5
    assert set(speed["matmul_peak_flops"]) == {"float32", "bfloat16"}
    assert set(speed["targets"]) == {"same_precision_vs_transformers", "best_vs_llms_from_scratch",
                                     "best_vs_transformers_best", "generation_vs_transformers"}
