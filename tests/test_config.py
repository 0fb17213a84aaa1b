"""Config loading: every shipped file, overrides, `base:`, exact error messages, round trip."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from trainers.config import Config, load_config
from utils import config as cfgio
from utils.errors import ChromaFillError

CONFIGS = sorted(Path(__file__).resolve().parent.parent.joinpath("configs").glob("*.yaml"))


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.name)
def test_every_shipped_config_loads(path: Path) -> None:
    config = load_config(path)
    assert isinstance(config, Config)


def test_shipped_configs_exist() -> None:
    names = {p.name for p in CONFIGS}
    assert {"smoke.yaml", "dacon.yaml"} <= names


def test_overrides_parse_yaml_scalars_and_lists(tmp_path: Path) -> None:
    path = write(tmp_path, "a.yaml", "experiment: {name: a}\n")
    config = load_config(path, ["train.epochs=7", "train.optim.lr_g=1e-3", "train.optim.betas=[0.9, 0.99]",
                                "train.ema.enabled=false", "experiment.name=b"])
    assert config.train.epochs == 7
    assert config.train.optim.lr_g == pytest.approx(1e-3)
    assert config.train.optim.betas == (0.9, 0.99)
    assert config.train.ema.enabled is False
    assert config.experiment.name == "b"


def test_yaml_1_2_scalars_off_is_a_string_not_false(tmp_path: Path) -> None:
    path = write(tmp_path, "a.yaml", "train: {amp: bf16}\n")
    assert load_config(path, ["train.amp=off"]).train.amp == "off"
    assert load_config(path, ["train.ema.enabled=False"]).train.ema.enabled is False


def test_base_inheritance_merges_deeply(tmp_path: Path) -> None:
    write(tmp_path, "parent.yaml", "train: {epochs: 3, batch_size: 2}\nexperiment: {seed: 5}\n")
    child = write(tmp_path, "child.yaml", "base: parent.yaml\ntrain: {batch_size: 8}\n")
    config = load_config(child)
    assert (config.train.epochs, config.train.batch_size, config.experiment.seed) == (3, 8, 5)


def test_base_cycle_is_an_error(tmp_path: Path) -> None:
    write(tmp_path, "a.yaml", "base: b.yaml\n")
    b = write(tmp_path, "b.yaml", "base: a.yaml\n")
    with pytest.raises(ChromaFillError, match="cycle"):
        load_config(b)


@pytest.mark.parametrize(
    "override, message",
    [
        ("train.epoch=3", "command-line override: train.epoch: unknown key; did you mean 'train.epochs'?"),
        ("trian.epochs=3", "command-line override: trian: unknown key; did you mean 'train'?"),
        ("train.epochs=ten", "command-line override: train.epochs: got 'ten', expected an integer"),
        ("train.epochs=0", "command-line override: train.epochs: got 0, expected a value >= 1"),
        ("train.optim.lr_g=-0.1", "command-line override: train.optim.lr_g: got -0.1, expected a value > 0.0"),
        ("train.batch_size=2.5", "command-line override: train.batch_size: got 2.5, expected an integer"),
        ("data.format=csv", "command-line override: data.format: got 'csv', expected one of 'dacon', 'photos', 'samples'"),
        ("train.ema.enabled=maybe", "command-line override: train.ema.enabled: got 'maybe', expected true or false"),
        ("train.optim.betas=[0.5]", "command-line override: train.optim.betas: got [0.5], expected a list of 2 numbers"),
        ("experiment.name=a/b", "command-line override: experiment.name: got 'a/b', expected a non-empty folder name without '/'"),
    ],
)
def test_override_errors_name_key_value_and_expectation(tmp_path: Path, override: str, message: str) -> None:
    path = write(tmp_path, "a.yaml", "experiment: {name: a}\n")
    with pytest.raises(ChromaFillError) as info:
        load_config(path, [override])
    assert str(info.value) == message


def test_file_errors_name_the_file(tmp_path: Path) -> None:
    path = write(tmp_path, "bad.yaml", "train:\n  epochs: 0\n")
    with pytest.raises(ChromaFillError) as info:
        load_config(path)
    assert str(info.value) == f"{path}: train.epochs: got 0, expected a value >= 1"


def test_unknown_nested_key_in_file(tmp_path: Path) -> None:
    path = write(tmp_path, "bad.yaml", "train:\n  optim:\n    lr_gen: 0.1\n")
    with pytest.raises(ChromaFillError) as info:
        load_config(path)
    assert str(info.value) == f"{path}: train.optim.lr_gen: unknown key; did you mean 'train.optim.lr_g'?"


def test_section_given_a_scalar(tmp_path: Path) -> None:
    path = write(tmp_path, "bad.yaml", "train: 5\n")
    with pytest.raises(ChromaFillError) as info:
        load_config(path)
    assert str(info.value) == f"{path}: train: got 5, expected a mapping of keys"


def test_missing_empty_and_malformed_files(tmp_path: Path) -> None:
    with pytest.raises(ChromaFillError) as info:
        load_config(tmp_path / "nope.yaml")
    assert str(info.value) == f"{tmp_path / 'nope.yaml'}: config file not found"
    empty = write(tmp_path, "empty.yaml", "")
    with pytest.raises(ChromaFillError) as info:
        load_config(empty)
    assert str(info.value) == f"{empty}: the file is empty; expected a mapping of config sections"
    broken = write(tmp_path, "broken.yaml", "train:\n  epochs: [1, 2\n")
    with pytest.raises(ChromaFillError, match=r"broken.yaml: YAML syntax error at line 3"):
        load_config(broken)


def test_malformed_override(tmp_path: Path) -> None:
    path = write(tmp_path, "a.yaml", "experiment: {name: a}\n")
    with pytest.raises(ChromaFillError) as info:
        load_config(path, ["train.epochs"])
    assert str(info.value) == "override 'train.epochs': expected key.sub=value"


def test_resolved_config_round_trips(tmp_path: Path) -> None:
    config = load_config(CONFIGS[0], ["train.epochs=11"])
    out = tmp_path / "config.yaml"
    cfgio.dump(config, out)
    assert "base" not in yaml.safe_load(out.read_text())
    assert load_config(out) == config


def test_reference_covers_every_key_with_help() -> None:
    rows = cfgio.reference(Config)
    keys = [r[0] for r in rows]
    assert len(keys) == len(set(keys))
    for required in ("experiment.name", "experiment.output_dir", "experiment.seed", "data.format", "data.root",
                     "train.epochs", "train.batch_size"):
        assert required in keys
    assert all(r[3] for r in rows), [r[0] for r in rows if not r[3]]
