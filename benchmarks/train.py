"""End-to-end training on a real data set: ``minicnn train``'s engine against the same model and
recipe written as an idiomatic PyTorch script, whole epochs alternating, on the same machine
and threads.

Both sides start from the same weights (copied from the minicnn model) and use the same
optimizer, schedule (stepped per batch) and label smoothing. The data pipeline is part of the
time on both sides:

* minicnn: ``minicnn train``'s DataLoader (seeded shuffle, per-image transforms, batching);
* PyTorch (``--torch-data idiomatic``, the default): what a PyTorch user writes, a
  ``torch.utils.data.Dataset`` over the same uint8 images whose ``__getitem__`` does
  torchvision's ToTensor, RandomCrop(padding) and RandomHorizontalFlip (with ``--augment``) and
  Normalize on one image, and a ``torch.utils.data.DataLoader(shuffle=True,
  num_workers=--torch-workers)``; torchvision's own transforms are written out with torch ops,
  as torchvision is not installed here;
* ``--torch-data shared``: torch gets minicnn's very batches (torch.from_numpy, no copy), which
  times the model step alone and makes both runs see the same data.

Epochs alternate (minicnn epoch k, then torch epoch k) so both see the same machine conditions.
Reported per epoch: training wall time (data included), images/s and test accuracy.

    python benchmarks/train.py --model lenet5 --dataset fashion-mnist --epochs 5
    python benchmarks/train.py --model convnet --epochs 10 --augment --lr 0.1 \
        --label-smoothing 0.1 --torch-epochs 1     # torch timed on the first epoch only

The twin models are the ones the tests check against minicnn (minicnn.bench.torch_models).
"""
import argparse
import os
import tempfile
import time

import numpy as np

import minicnn
from minicnn.bench import harness
from minicnn.training import TrainConfig, Trainer
from minicnn.utils import to_torch_state_dict


def torch_recipe(torch, trainer, model):
    """The torch optimizer and schedule that Trainer._make_optimizer/_make_scheduler build."""
    c = trainer.config
    if c.optimizer == "sgd":
        opt = torch.optim.SGD(model.parameters(), lr=c.lr, momentum=c.momentum,
                              weight_decay=c.weight_decay)
    else:
        cls = torch.optim.Adam if c.optimizer == "adam" else torch.optim.AdamW
        opt = cls(model.parameters(), lr=c.lr, weight_decay=c.weight_decay)
    if c.scheduler != "onecycle" or c.warmup_epochs:
        raise SystemExit("benchmarks/train.py mirrors the onecycle schedule without warmup only")
    kwargs = {}
    if c.optimizer == "sgd":
        kwargs = dict(cycle_momentum=c.momentum > 0, max_momentum=c.momentum,
                      base_momentum=min(0.85, c.momentum))
    sched = torch.optim.lr_scheduler.OneCycleLR(
        opt, max_lr=c.lr, total_steps=c.epochs * len(trainer.train_loader), pct_start=0.3,
        **kwargs)
    return opt, sched


def raw_arrays(dataset):
    """(uint8 images (N, H, W) or (N, H, W, C), int64 labels) of a minicnn dataset or Subset."""
    indices = getattr(dataset, "indices", None)
    base = dataset.dataset if indices is not None else dataset
    if indices is None:
        return base.data, base.targets
    return base.data[indices], base.targets[indices]


def torch_loader(torch, dataset, info, batch_size, train, augment, workers):
    """The idiomatic PyTorch input pipeline over ``dataset``'s images (module docstring)."""
    images, labels = raw_arrays(dataset)
    mean = torch.tensor(info["mean"], dtype=torch.float32).view(-1, 1, 1)
    std = torch.tensor(info["std"], dtype=torch.float32).view(-1, 1, 1)
    size = images.shape[1]
    pad = 4 if size >= 32 else 2
    flip = info["name"] != "mnist"

    class Images(torch.utils.data.Dataset):
        def __len__(self):
            return len(labels)

        def __getitem__(self, i):
            img = torch.from_numpy(images[i])
            x = (img.permute(2, 0, 1) if img.ndim == 3 else img.unsqueeze(0)).float().div(255)
            if train and augment:  # RandomCrop(size, padding=pad), RandomHorizontalFlip()
                x = torch.nn.functional.pad(x, (pad, pad, pad, pad))
                top, left = torch.randint(0, 2 * pad + 1, (2,)).tolist()
                x = x[:, top:top + size, left:left + size]
                if flip and torch.rand(1).item() < 0.5:
                    x = x.flip(-1)
            return (x - mean) / std, int(labels[i])

    return torch.utils.data.DataLoader(Images(), batch_size=batch_size, shuffle=train,
                                       num_workers=workers)


def torch_epoch(torch, model, opt, sched, loader, epoch, label_smoothing):
    """One training epoch; ``loader`` is a torch DataLoader, or minicnn's (shared batches)."""
    shared = hasattr(loader, "set_epoch")
    if shared:
        loader.set_epoch(epoch)
    model.train()
    seen = 0
    start = time.perf_counter()
    for x, y in loader:
        if shared:
            x, y = torch.from_numpy(x.numpy()), torch.from_numpy(y.numpy())
        loss = torch.nn.functional.cross_entropy(model(x), y, label_smoothing=label_smoothing)
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
        seen += len(y)
    return time.perf_counter() - start, seen


def torch_accuracy(torch, model, loader):
    model.eval()
    correct = total = 0
    with torch.no_grad():
        for x, y in loader:
            if not isinstance(x, torch.Tensor):  # minicnn's loader
                x, y = torch.from_numpy(x.numpy()), torch.from_numpy(y.numpy())
            pred = model(x).argmax(1).numpy()
            correct += int((pred == y.numpy()).sum())
            total += len(y)
    return correct / total


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--model", default="lenet5")
    p.add_argument("--dataset", default="fashion-mnist")
    p.add_argument("--epochs", type=int, default=5)
    p.add_argument("--torch-epochs", type=int, help="torch epochs to run (default: all)")
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--lr", type=float)
    p.add_argument("--augment", action="store_true")
    p.add_argument("--label-smoothing", type=float, default=0.0)
    p.add_argument("--threads", type=int, default=os.cpu_count())
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--torch-data", choices=("idiomatic", "shared"), default="idiomatic",
                   help="torch's input pipeline (module docstring)")
    p.add_argument("--torch-workers", type=int, default=0,
                   help="num_workers of torch's DataLoader (default 0, PyTorch's)")
    p.add_argument("--json")
    args = p.parse_args()

    import torch

    from minicnn.bench import torch_models

    minicnn.set_num_threads(args.threads)
    torch.set_num_threads(args.threads)
    out = tempfile.mkdtemp(prefix="minicnn-bench-train-")
    trainer = Trainer(TrainConfig(model=args.model, dataset=args.dataset, epochs=args.epochs,
                                  batch_size=args.batch_size, lr=args.lr, augment=args.augment,
                                  label_smoothing=args.label_smoothing, seed=args.seed,
                                  threads=args.threads, out=os.path.join(out, "run")),
                      stream=open(os.devnull, "w"))
    info = trainer.data_info
    twin_kw = dict(num_classes=len(info["classes"]), in_channels=info["channels"])
    if args.model == "lenet5":
        twin_kw["input_size"] = info["image_size"][0]
    twin = torch_models.build(args.model, **twin_kw)
    twin.load_state_dict(to_torch_state_dict(trainer.model))
    opt, sched = torch_recipe(torch, trainer, twin)
    torch_epochs = args.epochs if args.torch_epochs is None else args.torch_epochs
    if args.torch_data == "idiomatic":
        train_loader = torch_loader(torch, trainer.train_set, info, args.batch_size, True,
                                    args.augment, args.torch_workers)
        test_loader = torch_loader(torch, trainer.test_set, info, args.batch_size, False,
                                   False, args.torch_workers)
        torch.manual_seed(args.seed)
    else:
        train_loader, test_loader = trainer.train_loader, trainer.test_loader

    print(f"# {harness.cpu_model()}, {args.threads} threads, {args.model} on {args.dataset}, "
          f"batch {args.batch_size}, {trainer.config.optimizer} lr {trainer.config.lr:g} "
          f"onecycle, augment={args.augment}, label smoothing {args.label_smoothing}, "
          f"torch data {args.torch_data} (workers {args.torch_workers}), "
          f"{time.strftime('%Y-%m-%d')}")
    print("epoch  minicnn s  img/s   test acc | torch s  img/s   test acc | time ratio")
    rows = []
    for epoch in range(args.epochs):
        r = trainer.train_epoch(epoch)
        mc_time = len(trainer.train_set) / r["images_per_s"]
        mc_acc = trainer.evaluate(trainer.test_loader)["acc"]
        row = {"epoch": epoch + 1, "minicnn_s": mc_time, "minicnn_img_s": r["images_per_s"],
               "minicnn_test_acc": mc_acc}
        text = f"{epoch + 1:5d}  {mc_time:9.1f}  {r['images_per_s']:6.0f}  {mc_acc:8.2%} |"
        if epoch < torch_epochs:
            t_time, seen = torch_epoch(torch, twin, opt, sched, train_loader, epoch,
                                       args.label_smoothing)
            t_acc = torch_accuracy(torch, twin, test_loader)
            row.update(torch_s=t_time, torch_img_s=seen / t_time, torch_test_acc=t_acc)
            text += (f" {t_time:7.1f}  {seen / t_time:6.0f}  {t_acc:8.2%} |"
                     f" {mc_time / t_time:10.2f}")
        print(text, flush=True)
        rows.append(row)
    ratios = [r["minicnn_s"] / r["torch_s"] for r in rows if "torch_s" in r]
    if ratios:
        print(f"# median epoch-time ratio minicnn/torch: {np.median(ratios):.2f}")
    if args.json:
        harness.write_json(args.json, rows, harness.host_info(args.threads), args=vars(args))


if __name__ == "__main__":
    main()
