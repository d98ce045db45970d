"""The PyTorch side of the TorchScript tests (crates/trainer/tests/torchscript.rs): models
defined here (TorchScript needs their source in a file), scripted or traced for the trainer,
and the references the trainer is held to, computed in eager PyTorch.

usage:
  ts_models.py models DIR SPEC...        write each SPEC into DIR (one Python start for many):
    NAME-CLASSES-script, NAME-CLASSES-trace   model NAME, seeded, as TorchScript (SPEC.pt),
                                              and the original's groups of it by tensor name
                                              (SPEC.groups.json)
    NAME-CLASSES-SEED.pth, ...-SEED.safetensors
                                              its eager state dict, values drawn from SEED
  ts_models.py train MODEL.pt DATA LRS KIND FROZEN OUT
                                         steps of the original's training in eager PyTorch
                                         from MODEL.pt's weights; LRS comma-separated
  ts_models.py check RUN_DIR NAME...     NAME.pt (last, best) loads and equals the run's
                                         NAME.safetensors

NAME: net, scaled, tied, reassign, flat, noparams (defined here) or tv-ARCH, a torchvision model
(tv-resnet18).
"""
import json
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F
from safetensors.torch import load_file, save_file


class Block(nn.Module):
    """A user class: a bias-free conv, a BatchNorm2d named `bn`, a PReLU."""

    def __init__(self, cin, cout):
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, 3, padding=1, bias=False)
        self.bn = nn.BatchNorm2d(cout)
        self.act = nn.PReLU()

    def forward(self, x):
        return self.act(self.bn(self.conv(x)))


class Net(nn.Module):
    """Every case of the group rule: BatchNorm1d/2d, PReLU, LayerNorm, a Linear named
    `bn_proj` (a weight in group 0 by name alone), a bias-free conv, nested Sequentials,
    a Dropout (the freeze phase must switch it off in the backbone)."""

    def __init__(self, classes):
        super().__init__()
        self.features = nn.Sequential(
            Block(3, 8),
            nn.Sequential(nn.Conv2d(8, 8, 3, padding=1), nn.ReLU(), nn.Sequential(Block(8, 8))),
        )
        self.bn_proj = nn.Linear(8, 16)
        self.norm = nn.LayerNorm(16)
        self.bn1d = nn.BatchNorm1d(16)
        self.drop = nn.Dropout(0.0)
        self.fc = nn.Linear(16, classes)

    def logits(self, x):
        h = self.features(x).mean((2, 3))
        return self.fc(self.drop(self.bn1d(self.norm(self.bn_proj(h)))))

    def forward(self, x):
        return self.logits(x)


class Scaled(Net):
    """Net with a parameter named neither weight nor bias, which the original's loop never
    reaches; the trainer puts it in group 1."""

    def __init__(self, classes):
        super().__init__(classes)
        self.scale = nn.Parameter(torch.ones(1))

    def forward(self, x):
        return self.logits(x) * self.scale


class Tied(Net):
    """Net whose fc shares its weight with another layer."""

    def __init__(self, classes):
        super().__init__(classes)
        self.twin = nn.Linear(16, classes)
        self.twin.weight = self.fc.weight

    def forward(self, x):
        return self.logits(x) + self.twin.bias


class Reassign(nn.Module):
    """Counts its calls in a buffer it replaces instead of updating in place."""

    def __init__(self, classes):
        super().__init__()
        self.fc = nn.Linear(3, classes)
        self.register_buffer("calls", torch.zeros(1))

    def forward(self, x):
        self.calls = self.calls + 1
        return self.fc(x.mean((2, 3)))


class Flat(nn.Module):
    """Wrong output shape: one score per image and class, flattened."""

    def __init__(self, classes):
        super().__init__()
        self.fc = nn.Linear(3, classes)

    def forward(self, x):
        return self.fc(x.mean((2, 3))).flatten()


class NoParams(nn.Module):
    """Logits without a single parameter."""

    def __init__(self, classes):
        super().__init__()
        self.classes = classes

    def forward(self, x):
        return x.mean((2, 3))[:, : self.classes]


MODELS = {
    "net": Net,
    "scaled": Scaled,
    "tied": Tied,
    "reassign": Reassign,
    "flat": Flat,
    "noparams": NoParams,
}


def build(name, classes):
    if name.startswith("tv-"):
        try:
            import torchvision
        except ImportError:
            sys.exit("torchvision is missing: run scripts/setup.sh (scripts/requirements.txt)")
        return torchvision.models.get_model(name[3:], num_classes=int(classes))
    return MODELS[name](int(classes))


def script(name, classes, out, how):
    torch.manual_seed(0)
    m = build(name, classes)
    if how == "trace":
        m = torch.jit.trace(m.eval(), torch.randn(2, 3, 8, 8)).train()
    else:
        m = torch.jit.script(m)
    m.save(out)


def state(name, classes, seed, out):
    torch.manual_seed(int(seed))
    m = build(name, classes)
    # Distinctive values so a loaded tensor is told from a fresh one.
    with torch.no_grad():
        for p in m.parameters():
            p.uniform_(-1, 1)
    sd = {k: v.contiguous() for k, v in m.state_dict().items()}
    if out.endswith(".pth"):
        torch.save(sd, out)
    else:
        save_file(sd, out)


def models(out_dir, *specs):
    for spec in specs:
        name, classes, last = spec.rsplit("-", 2)
        out = f"{out_dir}/{spec}"
        if last in ("script", "trace"):
            script(name, classes, out + ".pt", last)
            groups(name, classes, out + ".groups.json")
        else:
            state(name, classes, last.split(".")[0], out)


def original_groups(model):
    """The original's loop over named_modules(), with isinstance widened to BatchNorm1d/2d/3d
    as the trainer does."""
    pg0, pg1, pg2 = [], [], []
    for k, v in model.named_modules():
        if hasattr(v, "bias") and isinstance(v.bias, nn.Parameter):
            pg2.append(v.bias)
        if isinstance(v, nn.modules.batchnorm._BatchNorm) or "bn" in k:
            pg0.append(v.weight)
        elif hasattr(v, "weight") and isinstance(v.weight, nn.Parameter):
            pg1.append(v.weight)
    return pg0, pg1, pg2


def groups(name, classes, out):
    m = build(name, classes)
    names = {id(p): n for n, p in m.named_parameters()}
    result = {names[id(p)]: g for g, ps in enumerate(original_groups(m)) for p in ps}
    with open(out, "w") as f:
        json.dump(result, f)


def set_frozen(model, frozen):
    """The freeze phase as the trainer defines it, written out independently: tensors whose
    names start with `features.`/`bn_proj.`/... (everything but fc) get no gradient; a module
    runs in eval mode when every tensor under it is frozen; one without tensors follows its
    parent."""
    keys = list(model.state_dict().keys())
    training = {}
    for name, mod in model.named_modules():
        under = [k for k in keys if name == "" or k.startswith(name + ".")]
        if under:
            training[name] = not (frozen and all(not k.startswith("fc.") for k in under))
        else:
            training[name] = training[name.rpartition(".")[0]]
        mod.training = training[name]
    for n, p in model.named_parameters():
        p.requires_grad_(not (frozen and not n.startswith("fc.")))


def train(model_pt, data, lrs, kind, frozen_steps, out):
    torch.set_num_threads(1)
    d = load_file(data)
    m = Net(int(d["classes"].item()))
    m.load_state_dict(torch.jit.load(model_pt).state_dict())
    pg0, pg1, pg2 = original_groups(m)
    lrs = [float(lr) for lr in lrs.split(",")]
    momentum, wd = 0.9, 5e-4
    if kind == "sgd":
        opt = torch.optim.SGD(pg0, lrs[0], momentum=momentum, nesterov=True)
    else:
        opt = torch.optim.AdamW(pg0, lrs[0], betas=(momentum, 0.999), weight_decay=0.0)
    opt.add_param_group({"params": pg1, "weight_decay": wd})
    opt.add_param_group({"params": pg2})
    for k, lr in enumerate(lrs):
        set_frozen(m, k < int(frozen_steps))
        for g in opt.param_groups:
            g["lr"] = lr
        loss = F.cross_entropy(m(d[f"x.{k}"]), d[f"y.{k}"])
        opt.zero_grad()
        loss.backward()
        opt.step()
    save_file({k: v.contiguous() for k, v in m.state_dict().items()}, out)


def check(run, *names):
    for name in names:
        m = torch.jit.load(f"{run}/{name}.pt")
        saved = load_file(f"{run}/{name}.safetensors")
        sd = m.state_dict()
        assert sorted(sd) == sorted(saved), (name, sorted(sd), sorted(saved))
        for k, v in sd.items():
            assert torch.equal(v, saved[k]), f"{name}.pt {k} differs from {name}.safetensors"
        assert m.training, f"{name}.pt is saved in eval mode"
        y = m.eval()(torch.zeros(2, 3, 8, 8))
        assert y.shape == (2, 2), y.shape
    print("ok")


if __name__ == "__main__":
    cmd, args = sys.argv[1], sys.argv[2:]
    {"models": models, "train": train, "check": check}[cmd](*args)
