"""Model files: safetensors + JSON card round trip, no pickle, clear errors; optimizer state round trip."""

from __future__ import annotations

import json

import pytest
import torch

import temnn
from temnn import TemnnError
from temnn.nn import build_model
from temnn.nn.checkpoints import CARD_VERSION, find_checkpoints, restore_checkpoint, save_checkpoint

SMALL = {
    "msdnet": dict(layers=4, width=2, kernel=3, max_dilation=3, seed=5),
    "unet": dict(levels=2, filters=4, kernel=3, block_layers=3),
    "unetpp": dict(levels=2, filters=2, kernel=3, block_layers=2),
}


@pytest.mark.parametrize("arch", sorted(SMALL))
def test_round_trip_gives_identical_outputs(tmp_path, arch, monkeypatch):
    torch.manual_seed(0)
    net = build_model(arch, 2, 3, **SMALL[arch]).eval()
    card = {"task": {"label": "Disk", "channels": 3, "activation": "softmax"}, "normalizedistance": 12.0}
    stem = temnn.save_model(net, tmp_path / "model", card)
    assert stem == tmp_path / "model"
    weights = (tmp_path / "model.safetensors").read_bytes()
    header = json.loads(weights[8 : 8 + int.from_bytes(weights[:8], "little")])  # safetensors, not a pickle
    assert "__metadata__" in header

    def no_pickle(*args, **kwargs):
        raise AssertionError("load_model must not unpickle")

    monkeypatch.setattr(torch, "load", no_pickle)
    x = torch.randn(1, 2, 24, 24)
    for path in (tmp_path / "model", tmp_path / "model.json", tmp_path / "model.safetensors", tmp_path):
        loaded = temnn.load_model(path)
        assert not loaded.training
        assert loaded.config == net.config
        assert loaded.task.activation == "softmax"
        assert torch.equal(loaded(x), net(x))
    saved = json.loads((tmp_path / "model.json").read_text())
    assert saved["format_version"] == CARD_VERSION and saved["architecture"]["name"] == arch
    assert saved["temnn_version"] == temnn.__version__ and saved["normalizedistance"] == 12.0


def test_card_errors(tmp_path):
    net = build_model("unet", 1, 1, levels=1, filters=2, kernel=3, block_layers=1)
    temnn.save_model(net, tmp_path / "m")
    card = json.loads((tmp_path / "m.json").read_text())
    (tmp_path / "m.json").write_text(json.dumps({**card, "format_version": CARD_VERSION + 1}))
    with pytest.raises(TemnnError, match=f"format version {CARD_VERSION + 1}.*reads version {CARD_VERSION}"):
        temnn.load_model(tmp_path / "m")
    (tmp_path / "m.json").write_text(json.dumps(card))
    other = build_model("unet", 1, 1, levels=1, filters=3, kernel=3, block_layers=1)
    temnn.save_model(other, tmp_path / "other")
    (tmp_path / "other.safetensors").replace(tmp_path / "m.safetensors")  # weights of another model
    with pytest.raises(TemnnError, match="do not match the card"):
        temnn.load_model(tmp_path / "m")
    (tmp_path / "empty").mkdir()
    with pytest.raises(TemnnError, match="no model here"):
        temnn.load_model(tmp_path / "empty")
    (tmp_path / "x.json").write_text('{"hello": 1}')
    with pytest.raises(TemnnError, match="not a temnn model card"):
        temnn.load_model(tmp_path / "x")


def test_checkpoint_restores_optimizer_and_rng_exactly(tmp_path):
    torch.manual_seed(0)
    net = build_model("msdnet", 1, 2, layers=3, kernel=3, max_dilation=2)
    opt = torch.optim.Adam(net.parameters(), lr=1e-2, amsgrad=True)
    x = torch.randn(2, 1, 12, 12)
    for _ in range(3):
        opt.zero_grad()
        net(x).square().mean().backward()
        opt.step()
    save_checkpoint(tmp_path, 3, net, opt, {"training": {}}, state={"best_val_loss": 0.5})
    expected_rng = torch.rand(3)
    assert list(find_checkpoints(tmp_path)) == [3]

    torch.manual_seed(123)
    net2 = build_model("msdnet", 1, 2, layers=3, kernel=3, max_dilation=2)
    opt2 = torch.optim.Adam(net2.parameters(), lr=1.0, amsgrad=True)
    card = restore_checkpoint(find_checkpoints(tmp_path)[3], net2, opt2)
    assert card["checkpoint"]["best_val_loss"] == 0.5
    assert torch.equal(torch.rand(3), expected_rng)
    assert opt2.param_groups[0]["lr"] == 1e-2
    state, state2 = opt.state_dict()["state"], opt2.state_dict()["state"]
    assert state.keys() == state2.keys()
    for pid, entries in state.items():
        assert entries.keys() == state2[pid].keys() and all(torch.equal(v, state2[pid][k]) for k, v in entries.items())
    # one more step on both gives the same weights
    for model, optimizer in ((net, opt), (net2, opt2)):
        optimizer.zero_grad()
        model(x).square().mean().backward()
        optimizer.step()
    for p, q in zip(net.parameters(), net2.parameters()):
        assert torch.equal(p, q)


def test_incomplete_checkpoint_is_ignored(tmp_path):
    net = build_model("unet", 1, 1, levels=1, filters=2, kernel=3, block_layers=1)
    opt = torch.optim.Adam(net.parameters())
    save_checkpoint(tmp_path, 1, net, opt, {})
    save_checkpoint(tmp_path, 2, net, opt, {})
    (tmp_path / "checkpoints" / "epoch_0002.json").unlink()  # crash before the card was written
    assert list(find_checkpoints(tmp_path)) == [1]
