"""DistributedDataParallel on CPU (gloo, 2 processes) equals one process on the same global batch."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import safetensors.torch
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from torch.nn.parallel import DistributedDataParallel

import temnn
from temnn.nn.loader import ImageSet, make_loader, prepare_batch
from temnn.nn import TrainingOptions, build_model, task_for, train
from temnn.nn.training import make_optimizer, train_step

ARCH = dict(layers=4, width=2, kernel=3, max_dilation=2)


def options(**kw) -> TrainingOptions:
    return TrainingOptions(arch="msdnet", hyperparameters=ARCH, batch_size=4, progress=False, **kw)


def one_step(model: torch.nn.Module, train_set: Path, part: slice) -> None:
    data = ImageSet(train_set)
    batch = next(iter(make_loader(data, batch_size=4, shuffle=False)))
    images, labels = prepare_batch(batch, "cpu", data.parameters.normalizedistance, augment=False)
    optimizer = make_optimizer(model, options())
    train_step(model, task_for(data.parameters), optimizer, images[part], labels[part])


def fresh_model() -> torch.nn.Module:
    torch.manual_seed(0)
    return build_model("msdnet", 1, 3, **ARCH)


def _worker(rank: int, world: int, port: int, train_set: Path, val_set: Path, out: Path, tmp: Path) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    torch.set_num_threads(1)
    dist.init_process_group("gloo", rank=rank, world_size=world)
    try:
        model = fresh_model()
        one_step(DistributedDataParallel(model), train_set, slice(2 * rank, 2 * rank + 2))
        safetensors.torch.save_file(dict(model.state_dict()), str(tmp / f"rank{rank}.safetensors"))
        train(train_set, val_set, out, options(epochs=2))
    finally:
        dist.destroy_process_group()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_ddp_matches_single_process(image_set, tmp_path):
    train_set = image_set("train", "Disk", samples=4, epochs=2)
    val_set = image_set("val", "Disk", samples=3, seed=1)
    mp.spawn(_worker, args=(2, free_port(), train_set, val_set, tmp_path / "ddp", tmp_path), nprocs=2, join=True)

    rank0 = safetensors.torch.load_file(str(tmp_path / "rank0.safetensors"))
    rank1 = safetensors.torch.load_file(str(tmp_path / "rank1.safetensors"))
    single = fresh_model()
    one_step(single, train_set, slice(0, 4))
    for name, value in single.state_dict().items():
        assert torch.equal(rank0[name], rank1[name])
        torch.testing.assert_close(rank0[name], value, rtol=1e-5, atol=1e-6)

    history = train(train_set, val_set, tmp_path / "one", options(epochs=2))
    ddp = temnn.load_model(tmp_path / "ddp" / "checkpoints" / "epoch_0002")
    one = temnn.load_model(tmp_path / "one" / "checkpoints" / "epoch_0002")
    for p, q in zip(ddp.parameters(), one.parameters()):
        torch.testing.assert_close(p, q, rtol=1e-4, atol=1e-5)
    ddp_history = ddp.card["training"]["history"]
    for a, b in zip(ddp_history, history):
        assert abs(a["train_loss"] - b["train_loss"]) < 1e-4 * b["train_loss"]
        assert abs(a["val_loss"] - b["val_loss"]) < 1e-4 * b["val_loss"]  # 3 validation samples split 2 + 1
