"""End-to-end training on a real data set: ``minicnn train``'s engine against an identical PyTorch
model and recipe, epoch by epoch, on the same machine and threads.

Both sides get the very same batches (minicnn's DataLoader, with its seeded shuffle and
augmentation; torch receives them via torch.from_numpy, no copy), start from the same weights
(copied from the minicnn model), and use the same optimizer, schedule (stepped per batch) and
label smoothing. Epochs alternate (minicnn epoch k, then torch epoch k) so both see the same
machine conditions. Reported per epoch: training wall time, images/s and test accuracy.

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


def torch_epoch(torch, model, opt, sched, loader, epoch, label_smoothing):
    loader.set_epoch(epoch)
    model.train()
    seen = 0
    start = time.perf_counter()
    for x, y in loader:
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
            pred = model(torch.from_numpy(x.numpy())).argmax(1).numpy()
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

    print(f"# {harness.cpu_model()}, {args.threads} threads, {args.model} on {args.dataset}, "
          f"batch {args.batch_size}, {trainer.config.optimizer} lr {trainer.config.lr:g} "
          f"onecycle, augment={args.augment}, label smoothing {args.label_smoothing}, "
          f"{time.strftime('%Y-%m-%d')}")
    print("epoch  minicnn s  img/s   test acc | torch s  img/s   test acc | time ratio")
    rows = []
    for epoch in range(args.epochs):
        r = trainer.train_epoch(epoch)
        n = len(trainer.train_set) // args.batch_size * args.batch_size
        mc_time = n / r["images_per_s"]
        mc_acc = trainer.evaluate(trainer.test_loader)["acc"]
        row = {"epoch": epoch + 1, "minicnn_s": mc_time, "minicnn_img_s": r["images_per_s"],
               "minicnn_test_acc": mc_acc}
        text = f"{epoch + 1:5d}  {mc_time:9.1f}  {r['images_per_s']:6.0f}  {mc_acc:8.2%} |"
        if epoch < torch_epochs:
            t_time, seen = torch_epoch(torch, twin, opt, sched, trainer.train_loader, epoch,
                                       args.label_smoothing)
            t_acc = torch_accuracy(torch, twin, trainer.test_loader)
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
