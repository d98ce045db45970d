"""The planner page's "Use in PyTorch" snippet (web/app.js, `pytorchSnippet`) is a loop this
package runs: filled with a plan file as the page fills it, it trains to the plan's end with the
plan's learning rates."""

import re

import pytest
from torch import nn

import lrplan
from conftest import ROOT
from support import PLANS, Net, bits, loader

TEMPLATE = re.compile(r"const pytorchSnippet = \(plan\) => `([^`]*)`;")
# How app.js takes the comments out of the plan file (a JS regex that Python reads alike).
UNCOMMENT = re.compile(r"pytorchSnippet\(planner\.plan_toml\(\)\.replace\(/(.+)/gm, ''\)\)")


def page_snippet(plan: lrplan.Plan) -> str:
    """The snippet's text for `plan`, as app.js writes it."""
    app = (ROOT / "web" / "app.js").read_text()
    template, uncomment = TEMPLATE.search(app), UNCOMMENT.search(app)
    assert template and uncomment, "web/app.js fills no pytorchSnippet template"
    assert template[1].count("${") == 1 and "\\" not in template[1]
    toml = re.sub(uncomment[1], "", plan.to_toml(), flags=re.M)
    return template[1].replace("${plan}", toml)


@pytest.mark.parametrize("name", ["epoch-cos-freeze-sgd", "iter-step-dataset-adamw"])
def test_the_page_snippet_trains_the_plan(name):
    plan = lrplan.Plan(PLANS[name])
    model = Net()
    batch_sizes = []

    def make_loader(batch_size):
        batch_sizes.append(batch_size)
        return loader(plan, batch_size, seed=len(batch_sizes))

    code = page_snippet(plan)
    scope = {"model": model, "make_loader": make_loader, "criterion": nn.CrossEntropyLoss()}
    exec(compile(code, "pytorch-snippet", "exec"), scope)
    assert scope["plan"] == plan
    assert scope["scheduler"].finished
    assert batch_sizes == [p.batch_size for p in plan.schedule().phases]
    last = plan.schedule().step(-1).lr
    assert [bits(g["lr"]) for g in scope["optimizer"].param_groups] == [bits(last)] * 3
