"""lrplan.Plan: every field by keyword or dotted path, plan files, and refusals in the CLI's
words."""

import pickle

import pytest

import lrplan
from conftest import run_cli
from support import PLANS, toml_text, write_plan

# Plans the schedule crate refuses, as fields; the CLI names the same violations.
BAD = {
    "negative-lr": {"lr.init": -1.0, "epochs.total": 0},
    "min-above-init": {"lr.init": 1e-3, "lr.min": 1e-2, "optimizer.momentum": 1.0},
    "limits-crossed": {"lr.limit_max": 1e-4, "lr.limit_min": 1e-3},
    "ratios": {"decay.warmup_iters_ratio": 1.5, "decay.no_aug_iter_ratio": -0.1},
    "step-too-fine": {"decay.kind": "step", "decay.step_num": 50, "epochs.total": 20,
                      "phases.freeze_epochs": 5},
    "freeze-longer-than-run": {"epochs.total": 10, "phases.freeze_batch_size": 0},
    "start-past-total": {"epochs.start": 300},
    "iteration-without-count": {"updates.per": "iteration"},
    "iteration-both-counts": {"updates.per": "iteration", "updates.iters_per_epoch": 10,
                              "updates.dataset_size": 100},
    "dataset-smaller-than-batch": {"updates.per": "iteration", "updates.dataset_size": 10},
    "too-many-steps": {"updates.per": "iteration", "updates.iters_per_epoch": 100000000,
                       "epochs.total": 100000, "phases.freeze": False},
}

# Files that do not parse: TOML errors and values of the wrong kind, with the line named.
UNPARSED = {
    "syntax": "[lr]\ninit = = 1\n",
    "unknown-key": "[lr]\ninti = 0.001\n",
    "wrong-kind": '[decay]\nkind = "cosine"\n',
    "wrong-type": "[lr]\nnbs = 1.5\n",
}


def cli_error(cli, directory, name) -> str:
    """What `lrplan NAME.toml` prints on standard error when it refuses the file."""
    out = run_cli(cli, f"{name}.toml", cwd=directory)
    assert out.returncode == 1 and out.stdout == ""
    return out.stderr


@pytest.mark.parametrize("name", BAD)
def test_an_invalid_plan_raises_the_clis_text(name, cli, tmp_path, monkeypatch):
    fields = BAD[name]
    write_plan(tmp_path, name, fields)
    stderr = cli_error(cli, tmp_path, name)
    monkeypatch.chdir(tmp_path)
    with pytest.raises(lrplan.PlanError) as loaded:
        lrplan.Plan.load(f"{name}.toml")
    assert stderr == f"lrplan: {loaded.value}\n"
    with pytest.raises(ValueError) as built:
        lrplan.Plan(fields)
    assert stderr == f"lrplan: {name}.toml: {built.value}\n"
    with pytest.raises(lrplan.PlanError) as read:
        lrplan.Plan.from_toml(toml_text(fields))
    assert str(read.value) == str(built.value)
    named = [v.field for v in built.value.violations]
    assert named and all(v.field in str(built.value) for v in built.value.violations)
    assert [str(v) for v in built.value.violations] == [
        str(v) for v in loaded.value.violations
    ]
    assert set(named) <= {f.path for f in lrplan.FIELDS}
    # The same refusal by keyword, from another valid plan.
    with pytest.raises(lrplan.PlanError) as replaced:
        lrplan.Plan().replace(**{p.replace(".", "_"): v for p, v in fields.items()})
    assert str(replaced.value) == str(built.value)


@pytest.mark.parametrize("name", UNPARSED)
def test_a_file_that_does_not_parse_raises_the_clis_text(name, cli, tmp_path, monkeypatch):
    (tmp_path / f"{name}.toml").write_text(UNPARSED[name])
    stderr = cli_error(cli, tmp_path, name)
    monkeypatch.chdir(tmp_path)
    with pytest.raises(lrplan.PlanError) as loaded:
        lrplan.Plan.load(f"{name}.toml")
    assert stderr == f"lrplan: {loaded.value}\n"
    assert "line 2" in stderr and loaded.value.violations == ()
    with pytest.raises(lrplan.PlanError) as read:
        lrplan.Plan.from_toml(UNPARSED[name])
    assert stderr == f"lrplan: {name}.toml: {read.value}\n"


def test_a_utf16_file_is_refused_as_the_cli_refuses_it(cli, tmp_path, monkeypatch):
    (tmp_path / "wide.toml").write_bytes("[lr]\ninit = 0.001\n".encode("utf-16"))
    stderr = cli_error(cli, tmp_path, "wide")
    monkeypatch.chdir(tmp_path)
    with pytest.raises(lrplan.PlanError) as loaded:
        lrplan.Plan.load("wide.toml")
    assert stderr == f"lrplan: {loaded.value}\n" and "UTF-16" in stderr
    assert lrplan.Plan.from_bytes(b"\xef\xbb\xbf[lr]\ninit = 0.001\n").lr_init == 0.001


def test_a_missing_file_raises_file_not_found(tmp_path):
    with pytest.raises(FileNotFoundError) as e:
        lrplan.Plan.load(tmp_path / "absent.toml")
    assert e.value.filename == str(tmp_path / "absent.toml")


def test_values_of_the_wrong_type_are_named_with_the_rules_of_the_others():
    with pytest.raises(lrplan.PlanError) as e:
        lrplan.Plan(lr_nbs=1.5, phases_freeze="yes", decay_kind="cosine", lr_init=-1,
                    lr_min=True, epochs_total=-3)
    assert [(v.field, v.rule, v.value) for v in e.value.violations] == [
        ("lr.nbs", "must be a whole number (int) from 0 to 4294967295", "1.5"),
        ("phases.freeze", "must be True or False", "'yes'"),
        ("decay.kind", 'must be one of "cos", "step", "linear", "constant"', "'cosine'"),
        ("lr.min", "must be a number (float or int)", "True"),
        ("epochs.total", "must be at least 0", "-3"),
        ("lr.init", "must be a finite number greater than 0", "-1"),
    ]
    assert str(e.value).startswith("invalid plan: lr.nbs must be a whole number (int) from 0 "
                                   "to 4294967295 (got 1.5); phases.freeze must be True or False")
    with pytest.raises(lrplan.PlanError, match=r"lr.nbs must be at most 4294967295 \(got 2\*\*32\)"
                       .replace("2\\*\\*32", str(2**32))):
        lrplan.Plan(lr_nbs=2**32)
    with pytest.raises(lrplan.PlanError, match="lr.init is required"):
        lrplan.Plan(lr_init=None)


def test_names_that_are_no_field_raise_type_error():
    with pytest.raises(TypeError, match='unknown plan field "lr_int"'):
        lrplan.Plan(lr_int=1e-3)
    with pytest.raises(TypeError, match='unknown plan field "lr.int"'):
        lrplan.Plan({"lr.int": 1e-3})
    with pytest.raises(TypeError, match="plan field lr.init is given twice"):
        lrplan.Plan({"lr.init": 1e-3}, lr_init=2e-3)
    with pytest.raises(TypeError, match="plan field names are strings, not int"):
        lrplan.Plan({1: 2})
    with pytest.raises(AttributeError):
        lrplan.Plan().lr_int
    with pytest.raises(KeyError):
        lrplan.Plan()["lr.int"]


# Two plans that between them give every field a value other than its default.
EVERY_FIELD = {
    "optimizer.kind": "adamw", "optimizer.momentum": 0.9, "optimizer.weight_decay": 1e-3,
    "lr.init": 2e-3, "lr.min": 2e-5, "lr.nbs": 32, "lr.limit_max": 1e-2, "lr.limit_min": 1e-4,
    "decay.kind": "step", "decay.warmup_iters_ratio": 0.1, "decay.warmup_lr_ratio": 0.2,
    "decay.no_aug_iter_ratio": 0.1, "decay.step_num": 5, "epochs.total": 40, "epochs.start": 2,
    "phases.freeze": False, "phases.freeze_epochs": 10, "phases.freeze_batch_size": 4,
    "phases.unfreeze_batch_size": 32, "updates.per": "iteration", "updates.dataset_size": 1000,
    "updates.drop_last": False,
}
EVERY_FIELD_TOO = dict(EVERY_FIELD, **{"updates.dataset_size": None,
                                       "updates.iters_per_epoch": 100})


@pytest.mark.parametrize("fields", [EVERY_FIELD, EVERY_FIELD_TOO])
def test_every_field_is_reachable_by_keyword_path_and_attribute(fields):
    by_path = lrplan.Plan(fields)
    by_keyword = lrplan.Plan(**{path.replace(".", "_"): v for path, v in fields.items()})
    by_file = lrplan.Plan.from_toml(toml_text({k: v for k, v in fields.items() if v is not None}))
    assert by_path == by_keyword == by_file
    assert by_path != lrplan.Plan.default()
    for f in lrplan.FIELDS:
        expected = fields.get(f.path, f.default)
        assert by_path[f.path] == getattr(by_path, f.name) == by_path[f.name] == expected
        assert type(by_path[f.path]) is type(expected)
        assert f.name in dir(by_path)
    assert by_path.to_dict() == {f.path: fields.get(f.path, f.default) for f in lrplan.FIELDS}


def test_the_fields_are_the_schedule_crates():
    names = [f.name for f in lrplan.FIELDS]
    assert names == [f.path.replace(".", "_") for f in lrplan.FIELDS]
    assert len(set(names)) == len(names)
    default = lrplan.Plan.default()
    assert default == lrplan.Plan() and repr(default) == "lrplan.Plan()"
    assert default.to_dict() == {f.path: f.default for f in lrplan.FIELDS}
    # Both plans above set every field to something else than its default.
    assert {f.path for f in lrplan.FIELDS} == {
        p for fields in (EVERY_FIELD, EVERY_FIELD_TOO)
        for p, v in fields.items() if v != default[p]
    }
    kinds = {f.path: (f.kind, f.optional, f.choices) for f in lrplan.FIELDS}
    assert kinds["decay.kind"] == ("choice", False, ("cos", "step", "linear", "constant"))
    assert kinds["lr.limit_max"] == ("float", True, ())
    assert kinds["updates.dataset_size"] == ("int", True, ())
    assert {f.path: f.only_when for f in lrplan.FIELDS}["decay.step_num"] == ("decay.kind", "step")


def test_a_plan_round_trips_through_its_file_and_pickle(tmp_path):
    for fields in PLANS.values():
        plan = lrplan.Plan(fields)
        assert lrplan.Plan.from_toml(plan.to_toml()) == plan
        assert pickle.loads(pickle.dumps(plan)) == plan
        plan.save(tmp_path / "plan.toml")
        assert lrplan.Plan.load(tmp_path / "plan.toml") == plan
        assert eval(repr(plan), {"lrplan": lrplan}) == plan


def test_the_default_plan_file_is_the_clis(cli):
    out = run_cli(cli, "--print-default")
    assert out.returncode == 0 and out.stdout == lrplan.Plan.default().to_toml()
