"""The ``minicnn`` command line (also ``python -m minicnn``).

  minicnn train --model lenet5 --dataset fashion-mnist --epochs 5 --out runs/lenet5
  minicnn train --resume runs/lenet5          continue an interrupted run exactly
  mpiexec -n 2 minicnn train --distributed    data-parallel over MPI ranks (minicnn[dist])
  minicnn eval --checkpoint runs/lenet5/best.npz   (or --model NAME: untrained, a smoke test)
  minicnn predict --checkpoint runs/lenet5/best.npz shoe.png       (or --model NAME, untrained)
  minicnn summary resnet20                     a model name or a checkpoint; or --model NAME,
                                               --checkpoint FILE; --input-shape C,H,W
  minicnn export runs/lenet5 --format onnx     the checkpoint's model as ONNX (minicnn[onnx])
  minicnn viz gradcam --checkpoint runs/lenet5/best.npz --image shoe.png --out cam.png
  minicnn explore runs/lenet5 --image 3        one test image through every layer: an HTML page
  minicnn explain conv2d --padding 1           what conv2d computes, step by step
  minicnn explain conv2d --backward --groups 2  its backward pass (dW, dX by col2im), grouped
  minicnn data info fashion-mnist              (or: data fetch NAME)
  minicnn info                                 version, backends, threads, BLAS, CUDA
  minicnn bench all --json FILE --plot PNG     speed against PyTorch
  minicnn bench models --inference --threads 2  eval forward vs PyTorch, ONNX Runtime
  minicnn bench overhead                       small work, each framework in its own process
  minicnn docs --notebooks notebooks/          the docs chapters as Jupyter notebooks (--list)

eval, predict and summary take a checkpoint of minicnn train (--checkpoint FILE, a run
directory meaning its best.npz) or a model name (--model NAME, from minicnn.models.list_models());
eval and predict build a named model with random weights for --dataset as minicnn train would
(default fashion-mnist) and warn that it is untrained. summary also takes either as its one
positional argument (a model name, else a checkpoint path) and, without --input-shape, uses the
model's native input (1,28,28 MNIST, 3,32,32 CIFAR, 3,224,224 ImageNet models) or the
checkpoint's images.

Exit codes: 0 success; 1 a missing, damaged or foreign data set, checkpoint or image, a missing
optional extra, a run directory in use by another run, a file that cannot be written (permissions,
read-only or full disk), a training whose loss became NaN or infinite, (bench) an answer that
differs from PyTorch's, or an unexpected error; 2 a bad option or value; 130 interrupted (Ctrl-C);
141 the output pipe closed early (`minicnn ... | head`), as a process killed by SIGPIPE. Every
error is one line "minicnn: error: ..." saying what is wrong and what to do; --debug (before or
after the command, or MINICNN_DEBUG=1) prints the traceback before it.
"""
import argparse
import dataclasses
import errno
import inspect
import os
import sys
import traceback
import warnings

EXIT_OK, EXIT_FAILURE, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130
EXIT_BROKEN_PIPE = 141  # 128 + SIGPIPE (13): what a shell reports for `yes | head -1`


def _info(args):
    from .backends import info

    for key, value in info().items():
        print(f"{key + ':':11s}{value}")
    return EXIT_OK


# ------------------------------------------------------------------ train


def _train(args):
    from . import distributed
    from .training import (
        RUNTIME_OPTIONS,
        ConfigError,
        TrainConfig,
        Trainer,
        dataset_info,
        require_matplotlib,
    )
    from .training.rundir import RunDirLock

    if getattr(args, "distributed", False) or (args.resume and distributed.launched_by_mpi()):
        # join the job first: an error below on one rank (an option, --resume, the data) then
        # ends every rank through main()'s abort instead of leaving the others in a collective
        # (a resumed run is distributed when its checkpoint says so, even without the option)
        distributed.init()
    given = {f.name: getattr(args, f.name) for f in dataclasses.fields(TrainConfig)
             if hasattr(args, f.name)}
    if args.config is not None:
        if args.resume is not None:
            raise ConfigError("--config starts a run; --resume continues one with its own "
                              "options: drop --config")
        given = {**_read_config_file(args.config, TrainConfig), **given}
    if given.get("plot"):  # asked for explicitly: fail now, not silently skip it at the end
        require_matplotlib()
    if args.resume is not None:
        fixed = sorted(set(given) - set(RUNTIME_OPTIONS))
        if fixed:
            raise ConfigError("--resume continues a run with the options it was started with; "
                              f"drop {', '.join('--' + f.replace('_', '-') for f in fixed)} "
                              "(only --threads, --workers, --data-root, --device, --plot, "
                              "--no-plot, --distributed, --timeout, --detect-anomaly and "
                              "--tensorboard may change)")
        trainer = Trainer.resume(args.resume, **given)
    else:
        config = TrainConfig(**given).validate()
        if config.out is None:
            config.out = _free_run_dir(config.model, dataset_info(config.dataset)[0])
        else:
            RunDirLock.check_free(config.out)  # a run in progress: say whose
            if os.path.exists(os.path.join(config.out, "last.npz")):
                raise ConfigError(f"--out {config.out} already holds a run (last.npz): continue "
                                  f"it with --resume {config.out}, or choose another --out")
        trainer = Trainer(config)
    trainer.fit()
    return EXIT_OK


def _read_config_file(path, config_class):
    """The options of a ``--config`` TOML file as a dict of TrainConfig field names; ConfigError
    for an unknown key or a file that is not TOML, FileNotFoundError for a missing one."""
    from ._compat import tomllib
    from .training import ConfigError

    with open(path, "rb") as f:
        try:
            table = tomllib.load(f)
        except tomllib.TOMLDecodeError as e:
            raise ConfigError(f"--config {path}: not valid TOML ({e})") from None
    fields = {f.name for f in dataclasses.fields(config_class)}
    options = {key.replace("-", "_"): value for key, value in table.items()}
    unknown = sorted(k for k in options if k not in fields)
    if unknown:
        raise ConfigError(f"--config {path}: unknown option(s) {', '.join(unknown)}; the keys "
                          "are minicnn train's options without -- (see minicnn train --help)")
    return options


def _free_run_dir(model, dataset):
    """runs/<model>-<dataset>, or the first of -2, -3, ... that holds no run yet (nor a run
    starting, which holds its lock before it writes last.npz)."""
    from .training.rundir import RunDirLock

    base = os.path.join("runs", f"{model}-{dataset}")
    path, n = base, 1
    while os.path.exists(os.path.join(path, "last.npz")) or RunDirLock.is_held(path):
        n += 1
        path = f"{base}-{n}"
    return path


# ------------------------------------------------------------------ eval, predict, summary


def _eval(args):
    from .training import evaluate_checkpoint, format_evaluation

    result = evaluate_checkpoint(args.checkpoint, dataset=args.dataset, data_root=args.data_root,
                                 batch_size=args.batch_size, workers=args.workers,
                                 model=args.model)
    _warn_untrained(args.model)
    print(f"checkpoint: {args.checkpoint}" if args.model is None
          else f"model: {args.model} (random weights)")
    print(format_evaluation(result, result["classes"],
                            f"{result['dataset']} test set ({result['count']} images)"))
    return EXIT_OK


def _predict(args):
    from .training import predict_files

    predictions = predict_files(args.checkpoint, args.images, args.topk, model=args.model,
                                dataset=args.dataset)
    _warn_untrained(args.model)
    for image, top in zip(args.images, predictions):
        print(image)
        width = max(len(name) for name, _ in top)
        for name, prob in top:
            print(f"  {name:<{width}}  {prob:7.2%}")
    return EXIT_OK


def _warn_untrained(model):
    if model is not None:
        _warn(f"--model {model} has random weights (untrained): a smoke test of the pipeline, "
              "its results are chance level")


def _summary(args):
    from . import models
    from .training import ConfigError, build_model, check_model, load_checkpoint_model
    from .utils.summary import summary

    name, checkpoint = args.model, args.checkpoint
    if args.source in models.list_models():
        name = args.source
    elif args.source is not None:
        if not os.path.exists(args.source):
            raise ConfigError(f"{args.source!r} is neither a model ("
                              f"{', '.join(models.list_models())}) nor a checkpoint file")
        checkpoint = args.source
    if checkpoint is not None:
        if args.num_classes is not None or args.small_input:
            raise ConfigError("--num-classes and --small-input go with a model name only: a "
                              "checkpoint fixes its model")
        model, ckpt = load_checkpoint_model(checkpoint)
        name = ckpt["config"]["model"]
        shape = args.input_shape or (ckpt["dataset"]["channels"], *ckpt["dataset"]["image_size"])
    else:
        check_model(name)
        shape = args.input_shape or models.native_input_shape(name)
        num_classes = args.num_classes or \
            inspect.signature(getattr(models, name)).parameters["num_classes"].default
    try:
        if checkpoint is None:
            model = build_model(name, num_classes, shape[0], shape[1:], args.small_input)
        table = summary(model, shape, batch_size=args.batch_size)
    except (ValueError, RuntimeError) as e:
        raise ConfigError(f"model {name!r} does not accept input shape "
                          f"{','.join(map(str, shape))}: {e}") from None
    if args.rf:  # after the plain pass, so that an error here is the receptive field's own
        try:
            table = summary(model, shape, batch_size=args.batch_size, rf=True)
        except ValueError as e:
            raise ConfigError(f"--rf: {e}") from None
    print(table)
    return EXIT_OK


def _export(args):
    import json

    from .creation import zeros
    from .onnx import MAX_OPSET, MIN_OPSET, ExportError, export
    from .training import ConfigError, InputFileError, load_checkpoint_model

    if not MIN_OPSET <= args.opset <= MAX_OPSET:
        raise ConfigError(f"--opset must be from {MIN_OPSET} to {MAX_OPSET}, got {args.opset}")
    if not os.path.exists(args.source):
        raise FileNotFoundError(f"{args.source}: no such checkpoint file or run directory")
    model, ckpt = load_checkpoint_model(args.source)
    info, name = ckpt["dataset"], ckpt["config"]["model"]
    shape = args.input_shape or (info["channels"], *info["image_size"])
    out = args.out
    if out is None:  # next to the checkpoint: best.npz -> best.onnx (a run directory: its best)
        base = os.path.join(args.source, "best.npz") if os.path.isdir(args.source) \
            else args.source
        out = os.path.splitext(base)[0] + ".onnx"
    metadata = {"model": name, "classes": json.dumps(info["classes"]),
                "input": "images scaled to [0, 1], then (x - mean) / std per channel",
                "mean": json.dumps(info["mean"]), "std": json.dumps(info["std"])}
    try:
        export(model, zeros(1, *shape), out, opset_version=args.opset, metadata=metadata)
    except ExportError as e:
        raise InputFileError(f"{args.source}: its model {name!r} cannot be exported: {e}") \
            from None
    except (ValueError, RuntimeError) as e:
        raise ConfigError(f"model {name!r} does not accept input shape "
                          f"{','.join(map(str, shape))}: {e}") from None
    print(f"wrote {out}: {name} as ONNX opset {args.opset}, input 'input' "
          f"(batch, {', '.join(map(str, shape))}), output 'output' (batch, "
          f"{len(info['classes'])}); feed images scaled to [0, 1] and normalized with mean "
          f"{info['mean']} and std {info['std']} (stored in the model's metadata)")
    return EXIT_OK


# ------------------------------------------------------------------ viz, explain


def _viz(args):
    import numpy as np

    from . import no_grad, tensor
    from .training import ConfigError, InputFileError, load_checkpoint_model, read_images
    from .utils import viz

    model, ckpt = load_checkpoint_model(args.checkpoint)
    info = ckpt["dataset"]
    out = args.out or f"{args.what}.png"
    title = f"{ckpt['config']['model']} on {info['name']}"
    try:
        if args.what == "curves":
            viz.plot_curves(ckpt["history"], out, title=title)
        elif args.what == "filters":
            viz.plot_filters(model, out, layer=args.layer)
        else:
            if args.image is None:
                raise ConfigError(f"viz {args.what} needs --image FILE")
            x = tensor(read_images([args.image], info))
            if args.what == "features":
                maps, source = viz.feature_maps(model, x, args.layer, return_layer=True)
                viz.plot_feature_maps(maps[0], out, title=f"{source}: {maps.shape[1]} maps of "
                                      f"{args.image}")
            else:
                with no_grad():
                    probs = viz.softmax(model(x).numpy())[0]
                predicted = int(probs.argmax())
                target = _class_index(args.target, info["classes"])
                # the predicted class, and beside it the chosen one on the same absolute scale
                targets = [predicted] + ([target] if target not in (None, predicted) else [])
                if args.what == "gradcam":  # weighted by p: a class ruled out looks cold
                    heat = [viz.grad_cam(model, x, args.layer, t, by_probability=True)[0]
                            for t in targets]
                    what = "Grad-CAM x p(class)"
                else:
                    heat = [viz.saliency(model, x, t)[0] for t in targets]
                    what = "saliency |d logit / d pixel|"
                viz.plot_heatmap(x.numpy()[0], np.stack(heat), out, title=f"{what}: {title}",
                                 titles=[f"{info['classes'][t]!r} p={probs[t]:.3f}"
                                         for t in targets])
    except InputFileError:  # an image it cannot read: a bad file, not a bad option
        raise
    except ValueError as e:
        raise ConfigError(str(e)) from None
    print(f"wrote {out}")
    return EXIT_OK


def _class_index(target, classes):
    """--target: a class index or name (None: the model's top class)."""
    if target is None:
        return None
    if target in classes:
        return classes.index(target)
    if target.isdigit() and int(target) < len(classes):
        return int(target)
    raise ValueError(f"--target must be a class index 0..{len(classes) - 1} or one of "
                     f"{', '.join(classes)}; got {target!r}")


def _explore(args):
    from .utils.explore import explore_checkpoint

    target = args.target
    if target is not None and target.isdigit():
        target = int(target)
    print(explore_checkpoint(args.source, image=args.image, file=args.file, target=target,
                             out=args.out, data_root=args.data_root, max_mb=args.max_mb))
    return EXIT_OK


def _explain(args):
    from . import explain
    from .training import ConfigError

    try:
        if args.op == "conv2d":
            explain.conv2d(stride=args.stride or 1, padding=args.padding,
                           dilation=args.dilation, groups=args.groups, backward=args.backward,
                           in_channels=args.in_channels)
        elif args.op in ("maxpool", "avgpool"):
            pool = explain.max_pool2d if args.op == "maxpool" else explain.avg_pool2d
            pool(kernel_size=args.kernel_size, stride=args.stride, padding=args.padding)
        elif args.op == "softmax":
            explain.softmax_cross_entropy()
        elif args.op == "edges":
            explain.edge_filters()
        else:
            explain.batch_norm()
    except ValueError as e:
        raise ConfigError(str(e)) from None
    return EXIT_OK


# ------------------------------------------------------------------ data


def _data(args):
    from . import data
    from .training import dataset_info

    name = dataset_info(args.name)[0]
    if args.action == "fetch":
        print(f"{name}: files in {data.fetch(name, root=args.data_root)}")
    else:
        print(data.info(name, root=args.data_root))
    return EXIT_OK


# ------------------------------------------------------------------ docs


def _docs(args):
    from .utils import notebooks

    if args.notebooks is None:
        paths = notebooks.chapters(args.source)
        width = max(len(path.name) for path in paths)
        for path in paths:
            print(f"{path.name:<{width}}  {notebooks.chapter_title(path)}")
    else:
        for path in notebooks.write_notebooks(args.notebooks, args.source):
            print(f"wrote {path}")
    return EXIT_OK


# ------------------------------------------------------------------ bench


def _bench(args):
    from . import bench

    report = bench.run(args.what, threads=args.threads, repeat=args.repeat, cases=args.cases,
                       quick=args.quick, device=args.device, inference=args.inference,
                       batch=args.batch, json=args.json, plot=args.plot)
    return EXIT_FAILURE if report.failures else EXIT_OK


# ------------------------------------------------------------------ the parser


def _input_shape(text):
    try:
        shape = tuple(int(s) for s in text.split(","))
    except ValueError:
        shape = ()
    if len(shape) != 3 or min(shape) < 1:
        raise argparse.ArgumentTypeError(f"expected C,H,W (three positive integers, e.g. "
                                         f"3,32,32), got {text!r}")
    return shape


def _positive_int(text):
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


def _add_train_options(p):
    from . import models
    from .training import DEVICES, OPTIMIZERS, SCHEDULERS, TrainConfig

    d = TrainConfig()
    # SUPPRESS: only the options given appear in args, so --resume can refuse the others
    S = argparse.SUPPRESS
    p.add_argument("--model", default=S, help=f"one of {', '.join(models.list_models())} "
                   f"(default {d.model})")
    p.add_argument("--dataset", default=S,
                   help=f"mnist, fashion-mnist or cifar10 (default {d.dataset})")
    p.add_argument("--epochs", type=int, default=S, help=f"default {d.epochs}")
    p.add_argument("--batch-size", type=int, default=S, help=f"default {d.batch_size}")
    p.add_argument("--optimizer", choices=OPTIMIZERS, default=S, help=f"default {d.optimizer}")
    p.add_argument("--lr", type=float, default=S,
                   help="learning rate (peak lr for onecycle); default 0.05 for sgd, 0.001 for "
                   "adam and adamw")
    p.add_argument("--momentum", type=float, default=S, help=f"SGD momentum (default "
                   f"{d.momentum})")
    p.add_argument("--weight-decay", type=float, default=S, help=f"default {d.weight_decay}")
    p.add_argument("--scheduler", choices=SCHEDULERS, default=S,
                   help=f"learning-rate schedule, stepped every batch (default {d.scheduler})")
    p.add_argument("--warmup-epochs", type=int, default=S,
                   help=f"linear warmup epochs (default {d.warmup_epochs})")
    p.add_argument("--warmup-start-factor", type=float, default=S,
                   help=f"the warmup's first lr as a fraction of --lr (default "
                   f"{d.warmup_start_factor})")
    p.add_argument("--label-smoothing", type=float, default=S,
                   help=f"default {d.label_smoothing}")
    p.add_argument("--augment", action="store_true", default=S,
                   help="random crops with padding and (except for digits) horizontal flips")
    p.add_argument("--random-resized-crop", action="store_true", default=S,
                   help="RandomResizedCrop to the image size (scale 0.08..1, as torchvision)")
    p.add_argument("--rotation", type=float, metavar="DEGREES", default=S,
                   help="RandomRotation by up to DEGREES either way")
    p.add_argument("--color-jitter", type=float, metavar="S", default=S,
                   help="ColorJitter with brightness, contrast and saturation S (e.g. 0.4)")
    p.add_argument("--randaugment", metavar="N,M", default=S,
                   help="RandAugment: N ops of magnitude M (0..30), e.g. 2,9")
    p.add_argument("--autoaugment", action="store_true", default=S,
                   help="AutoAugment with the CIFAR-10 policy")
    p.add_argument("--mixup", type=float, metavar="ALPHA", default=S,
                   help="Mixup of each batch with Beta(ALPHA, ALPHA) (e.g. 0.2; default off)")
    p.add_argument("--cutmix", type=float, metavar="ALPHA", default=S,
                   help="CutMix of each batch (e.g. 1.0; default off); with --mixup, one of "
                   "the two per batch")
    p.add_argument("--ema", type=float, nargs="?", const=0.999, metavar="DECAY", default=S,
                   help="evaluate and keep an exponential moving average of the weights "
                   "(decay 0.999 when DECAY is left out)")
    p.add_argument("--init-from", metavar="FILE", default=S,
                   help="start from the weights of FILE (a minicnn train checkpoint, or a state "
                   "dict saved by minicnn.save or torch.save) that match by name and shape; "
                   "prints what it skipped (e.g. a head of another size)")
    p.add_argument("--freeze", metavar="PATTERNS", default=S,
                   help="comma-separated globs of parameter or module names not to train, "
                   "e.g. 'features.*' (a linear probe)")
    p.add_argument("--freeze-bn", action="store_true", default=S,
                   help="batch norm in eval mode (running statistics kept) with frozen weights")
    p.add_argument("--unfreeze-at", type=int, metavar="EPOCH", default=S,
                   help="train the frozen parameters too from this 1-based epoch on (gradual "
                   "unfreezing)")
    p.add_argument("--head-lr", type=float, metavar="LR", default=S,
                   help="learning rate of the classifier head (the last Linear layer); the "
                   "rest uses --lr")
    p.add_argument("--amp", nargs="?", const="bfloat16", choices=("bfloat16", "float16"),
                   default=S, help="mixed precision: forward and loss under minicnn.autocast "
                   "(bfloat16 when DTYPE is left out; float16 adds a GradScaler). minicnn has no "
                   "16-bit kernels yet: it rounds as PyTorch's autocast, not faster")
    p.add_argument("--small-input", action="store_true", default=S,
                   help="the CIFAR stem of an ImageNet model (3x3 stride-1 first conv, no early "
                   "downsampling), for 28x28 and 32x32 images")
    p.add_argument("--val-split", type=float, default=S,
                   help="fraction of the training set held out for validation, choosing "
                   f"best.npz (default {d.val_split}; 0: best.npz is the last epoch)")
    p.add_argument("--config", metavar="FILE.toml",
                   help="options from a TOML file (keys as the options without --, e.g. "
                   "epochs = 10, randaugment = \"2,9\"); options on the command line win; "
                   "the run directory's config.json keeps the result")
    p.add_argument("--threads", type=int, default=S, help="CPU threads (default: all, or "
                   "OMP_NUM_THREADS)")
    p.add_argument("--seed", type=int, default=S, help=f"default {d.seed}")
    p.add_argument("--out", metavar="DIR", default=S,
                   help="run directory, for last.npz, best.npz, metrics.csv, results.json and "
                   "curves.png; the paths are printed at the end (default "
                   "runs/<model>-<dataset>, numbered when taken)")
    p.add_argument("--resume", metavar="DIR", help="continue the run in DIR exactly")
    p.add_argument("--device", choices=DEVICES, default=S, help=f"default {d.device}")
    p.add_argument("--plot", action="store_true", default=S,
                   help="write DIR/curves.png at the end (the default; with --plot a missing "
                   "matplotlib is an error, without it a one-line note)")
    p.add_argument("--no-plot", dest="plot", action="store_false", default=S,
                   help="do not write DIR/curves.png")
    p.add_argument("--data-root", metavar="DIR", default=S,
                   help="where the data set files are (default: $MINICNN_DATA, "
                   "~/.cache/minicnn/<name>, system locations)")
    p.add_argument("--workers", type=int, default=S,
                   help=f"background data-loading threads (default {d.workers})")
    p.add_argument("--detect-anomaly", action="store_true", default=S,
                   help="train under minicnn.autograd.detect_anomaly (slow, for debugging): a "
                   "NaN gradient stops the run naming the op whose backward made it")
    p.add_argument("--distributed", action="store_true", default=S,
                   help="data-parallel over the ranks of `mpiexec -n N` (needs minicnn[dist]); "
                   "--batch-size is per rank; threads per rank default to cores / ranks")
    p.add_argument("--timeout", type=float, metavar="SECONDS", default=S,
                   help="with --distributed: how long a rank waits for the others in a "
                   "collective before it ends the job with an error (default "
                   f"{d.timeout:g}, 30 minutes, as torch.distributed)")
    p.add_argument("--tensorboard", nargs="?", const=True, metavar="DIR", default=S,
                   help="write TensorBoard event files every epoch (loss, accuracy, lr, "
                   "weight and gradient histograms, first-layer filters) into DIR (default: "
                   "the run directory's tb/); view them with tensorboard --logdir DIR (needs "
                   "minicnn[tensorboard])")


def _add_model_source(p):
    """--checkpoint FILE or --model NAME, exactly one (eval, predict)."""
    from . import models

    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--checkpoint", metavar="FILE",
                     help="a checkpoint of minicnn train (or a run directory: its best.npz)")
    src.add_argument("--model", metavar="NAME",
                     help=f"instead of a checkpoint, a model with random weights (a smoke test; "
                     f"it warns): one of {', '.join(models.list_models())}")


class _Parser(argparse.ArgumentParser):
    """argparse with one-line errors in minicnn's format (sub-parsers inherit it)."""

    def error(self, message):
        print(f"minicnn: error: {message} (see: {self.prog} --help)", file=sys.stderr)
        sys.exit(EXIT_USAGE)


def build_parser():
    from . import models

    parser = _Parser(prog="minicnn", description=__doc__,
                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("train", help="train a model on a data set")
    _add_train_options(p)
    p.set_defaults(func=_train)

    p = sub.add_parser("eval", help="accuracy, per-class accuracy and confusion matrix of a "
                       "checkpoint (or of an untrained model: a smoke test) on a test set")
    _add_model_source(p)
    p.add_argument("--dataset", help="the test set (default: the checkpoint's data set; with "
                   "--model, the one the model is built for: fashion-mnist as in minicnn train)")
    p.add_argument("--data-root", metavar="DIR")
    p.add_argument("--batch-size", type=_positive_int, default=256)
    p.add_argument("--workers", type=int, default=0)
    p.set_defaults(func=_eval)

    p = sub.add_parser("predict", help="top-k classes of image files (PNG, JPEG); warns for each "
                       "image it had to convert (colour, size, light background)")
    _add_model_source(p)
    p.add_argument("images", nargs="+", metavar="IMAGE")
    p.add_argument("--topk", type=_positive_int, default=3, help="default 3")
    p.add_argument("--dataset", help="with --model only: the data set whose classes and images "
                   "the model is built for (default fashion-mnist, as in minicnn train)")
    p.set_defaults(func=_predict)

    p = sub.add_parser("summary", help="layers, output shapes, parameters and multiply-adds of a "
                       "model or a checkpoint's model")
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("source", nargs="?", metavar="MODEL|CHECKPOINT",
                     help="a model name, else a checkpoint file or run directory (the same as "
                     "--model NAME or --checkpoint FILE)")
    src.add_argument("--model", metavar="NAME", help=f"one of {', '.join(models.list_models())}")
    src.add_argument("--checkpoint", metavar="FILE",
                     help="a checkpoint of minicnn train (or a run directory: its best.npz)")
    p.add_argument("--input-shape", type=_input_shape, metavar="C,H,W",
                   help="default: the model's native input (1,28,28 for lenet5 and simple_cnn, "
                   "3,32,32 for the CIFAR models, 3,224,224 for the ImageNet ones; see "
                   "minicnn.models.native_input_shape), or the checkpoint's image shape")
    p.add_argument("--num-classes", type=_positive_int,
                   help="with a model name only; default: the model's own (10, or 1000 for the "
                   "ImageNet models)")
    p.add_argument("--batch-size", type=_positive_int, default=1,
                   help="batch size for the activation memory (default 1)")
    p.add_argument("--small-input", action="store_true",
                   help="with a model name: its CIFAR stem (3x3 stride-1 first conv, no early "
                   "downsampling), as minicnn train --small-input")
    p.add_argument("--rf", action="store_true",
                   help="add each layer's receptive field size, jump (effective stride) and "
                   "start (centre of the first unit's field), in input pixels")
    p.set_defaults(func=_summary)

    p = sub.add_parser("export", help="write a checkpoint's model as an ONNX file for "
                       "onnxruntime, Netron and other tools (needs onnx: minicnn[onnx])")
    p.add_argument("source", metavar="RUN_OR_CHECKPOINT",
                   help="a checkpoint of minicnn train, or a run directory (its best.npz)")
    p.add_argument("--format", choices=("onnx",), default="onnx", help="default onnx")
    p.add_argument("--out", metavar="FILE",
                   help="default: the checkpoint's path ending in .onnx (runs/x/best.onnx)")
    p.add_argument("--opset", type=int, default=17, help="ONNX opset, 17 to 20 (default 17)")
    p.add_argument("--input-shape", type=_input_shape, metavar="C,H,W",
                   help="default: the checkpoint's image shape; the batch size stays dynamic")
    p.set_defaults(func=_export)

    p = sub.add_parser("viz", help="draw filters, feature maps, Grad-CAM, saliency or training "
                       "curves of a checkpoint into a PNG (needs matplotlib)")
    p.add_argument("what", choices=("filters", "features", "gradcam", "saliency", "curves"))
    p.add_argument("--checkpoint", required=True, metavar="FILE",
                   help="a checkpoint of minicnn train (or a run directory: its best.npz)")
    p.add_argument("--image", metavar="FILE", help="the input image (features, gradcam, "
                   "saliency)")
    p.add_argument("--layer", metavar="NAME", help="a module name as in `minicnn summary` "
                   "(default: the first conv for filters and features, the last for gradcam)")
    p.add_argument("--target", metavar="CLASS", help="class index or name for gradcam and "
                   "saliency (default: the predicted class)")
    p.add_argument("--out", metavar="PNG", help="default WHAT.png")
    p.set_defaults(func=_viz)

    p = sub.add_parser("explore", help="write one self-contained HTML page of a checkpoint's "
                       "model on one image: every layer's feature maps, a unit's receptive field, "
                       "filter and arithmetic, the probabilities, Grad-CAM, saliency and the "
                       "run's curves; prints its path")
    p.add_argument("source", metavar="RUN_OR_CHECKPOINT",
                   help="a run directory of minicnn train (its best.npz) or a checkpoint file")
    which = p.add_mutually_exclusive_group()
    which.add_argument("--image", type=int, metavar="N",
                       help="test image N of the checkpoint's data set (default 0)")
    which.add_argument("--file", metavar="IMAGE", help="an image file instead (PNG, JPEG), "
                       "converted as minicnn predict does")
    p.add_argument("--class", dest="target", metavar="CLASS",
                   help="class index or name whose Grad-CAM and saliency show beside the "
                   "predicted class's (default: the true class when the prediction is wrong, "
                   "else the runner-up)")
    p.add_argument("--out", metavar="HTML", help="default RUN/explore.html, or NAME-explore.html "
                   "beside a checkpoint NAME.npz")
    p.add_argument("--data-root", metavar="DIR", help="where to look for the test set")
    p.add_argument("--max-mb", type=float, default=8.0, metavar="MB",
                   help="the page's size limit (default 8): a bigger model keeps the filters, "
                   "then the map channels, of its most active channels only")
    p.set_defaults(func=_explore)

    p = sub.add_parser("explain", help="print step by step what conv2d (im2col + GEMM, and its "
                       "backward), max or average pooling, batch norm or softmax + cross "
                       "entropy computes on a small input, or Sobel edge filters (edges) on a "
                       "Fashion-MNIST image")
    p.add_argument("op", choices=("conv2d", "maxpool", "avgpool", "batchnorm", "softmax",
                                  "edges"))
    p.add_argument("--kernel-size", type=_positive_int, default=2,
                   help="maxpool, avgpool (default 2)")
    p.add_argument("--stride", type=_positive_int,
                   help="conv2d (default 1), maxpool, avgpool (default: the kernel size)")
    p.add_argument("--padding", type=int, default=0, help="default 0")
    p.add_argument("--dilation", type=_positive_int, default=1, help="conv2d (default 1)")
    p.add_argument("--groups", type=_positive_int, default=1,
                   help="conv2d (default 1; depthwise when equal to the channels)")
    p.add_argument("--in-channels", type=_positive_int, metavar="C",
                   help="conv2d: channels of the example image (default 2, or --groups when "
                   "2 is not a multiple of it)")
    p.add_argument("--backward", action="store_true",
                   help="conv2d: also the gradients, dW = grad @ cols^T, dX = col2im(W^T @ grad)")
    p.set_defaults(func=_explain)

    p = sub.add_parser("data", help="download a data set, or show what minicnn knows of it")
    p.add_argument("action", choices=("fetch", "info"))
    p.add_argument("name", help="mnist, fashion-mnist or cifar10")
    p.add_argument("--data-root", metavar="DIR", help="where to put / look for the files")
    p.set_defaults(func=_data)

    p = sub.add_parser("bench", help="speed against PyTorch: the standard op cases and "
                       "training steps (docs/benchmarking.md)")
    p.add_argument("what", nargs="?", choices=("ops", "models", "overhead", "all"),
                   default="all", help="op by op, whole training steps, small work with each "
                   "framework in its own process, or all three (default all)")
    p.add_argument("--threads", type=_positive_int,
                   help="threads for minicnn and PyTorch (default: all cores; overhead: 1)")
    p.add_argument("--repeat", type=_positive_int,
                   help="timed pairs per case (default 10; 3 with --quick)")
    p.add_argument("--json", metavar="FILE", help="write the records and host info to FILE")
    p.add_argument("--plot", metavar="FILE", help="write a PNG of the ratios (needs matplotlib)")
    p.add_argument("--device", choices=("cpu", "cuda"), default="cpu", help="default cpu")
    p.add_argument("--cases", nargs="+", metavar="SUBSTRING",
                   help="only the cases whose label contains one of these (e.g. 5x5, "
                   "batch_norm, resnet20); extra op cases (gelu, group_norm, ...) run only "
                   "when named")
    p.add_argument("--quick", action="store_true",
                   help="a smoke test: 3 timed pairs, 1 warm-up, no batch-1/32 convolutions")
    p.add_argument("--inference", action="store_true",
                   help="models: time the eval-mode forward at batch 1 and 128 against PyTorch "
                   "(NCHW, channels_last) and ONNX Runtime instead of training steps (all: "
                   "as well)")
    p.add_argument("--batch", type=_positive_int,
                   help="models: the training steps' batch size (default 128)")
    p.set_defaults(func=_bench)

    p = sub.add_parser("docs", help="list the docs chapters, or write them as Jupyter "
                       "notebooks generated from their Markdown (needs minicnn[notebooks])")
    what = p.add_mutually_exclusive_group()
    what.add_argument("--list", action="store_true",
                      help="list the chapters with their titles (the default)")
    what.add_argument("--notebooks", metavar="DIR",
                      help="write DIR/NAME.ipynb for every chapter NAME.md (python blocks as "
                      "code cells; bash and other blocks as text, never run)")
    p.add_argument("--source", metavar="DIR", help="the folder of the chapters (default: "
                   "docs/ of the source checkout minicnn runs from)")
    p.set_defaults(func=_docs)

    p = sub.add_parser("info", help="version, backends, OpenMP, threads, BLAS and CUDA")
    p.set_defaults(func=_info)
    debug = dict(action="store_true", help="on an error, show the traceback before the one-line "
                 "message (also: MINICNN_DEBUG=1)")
    parser.add_argument("--debug", **debug)
    for command in sub.choices.values():  # also after the command: minicnn train ... --debug
        command.add_argument("--debug", default=argparse.SUPPRESS, **debug)
    sub.metavar = "{" + ",".join(sub.choices) + "}"  # a missing command lists them
    return parser


def main(argv=None):
    """Run the command line with ``argv`` (default sys.argv[1:]); always raises SystemExit
    with the exit code. Output into a pipe closed early (``minicnn ... | head``) ends it quietly
    with :data:`EXIT_BROKEN_PIPE`."""
    from . import distributed
    from .backends import configure_runtime

    configure_runtime()  # first: OpenMP reads its settings when the C extension loads
    try:
        try:
            code = _run(argv)
        finally:  # flush here, where a closed pipe can be caught (argparse's --help exits too)
            sys.stdout.flush()
    except BrokenPipeError:
        # the recipe of the signal module docs ("Note on SIGPIPE"): stdout to devnull, so that
        # the interpreter's own flush at exit does not fail again
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        code = EXIT_BROKEN_PIPE
    if code != EXIT_OK:  # the other ranks of an MPI job may wait for this one: end them too
        distributed.abort(code)
    sys.exit(code)


def _run(argv):
    """Parse ``argv`` and run the command; returns the exit code, after a one-line message for
    the errors a user can make. Warnings print as one line "minicnn: warning: ..."."""
    from .data import DatasetError
    from .distributed import DistributedTimeoutError
    from .serialization import CheckpointError
    from .training import ConfigError, InputFileError, TrainingDiverged
    from .training.rundir import RunDirBusyError

    args = build_parser().parse_args(argv)
    debug = getattr(args, "debug", False) or os.environ.get("MINICNN_DEBUG") == "1"
    try:
        with warnings.catch_warnings():
            warnings.showwarning = _show_warning
            return args.func(args)
    except ConfigError as e:
        return _error(f"error: {e}", EXIT_USAGE, debug)
    except (DatasetError, FileNotFoundError, CheckpointError, InputFileError, ImportError,
            TrainingDiverged, RunDirBusyError, DistributedTimeoutError) as e:
        return _error(f"error: {e}", EXIT_FAILURE, debug)
    except BrokenPipeError:  # main() ends quietly with EXIT_BROKEN_PIPE
        raise
    except OSError as e:  # an unwritable, read-only or full disk; a file that went away
        return _error(f"error: {_os_error(e)}", EXIT_FAILURE, debug)
    except MemoryError:
        return _error("error: out of memory; try a smaller --batch-size or a smaller model",
                      EXIT_FAILURE, debug)
    except KeyboardInterrupt as e:
        return _error(str(e) or "interrupted", EXIT_INTERRUPTED, debug)
    except Exception as e:  # a bug, not the user's mistake: still one line unless --debug
        return _error(f"error: unexpected {type(e).__name__}: {e} (a bug in minicnn: rerun with "
                      "--debug for the traceback, and please report it)", EXIT_FAILURE, debug)


def _error(message, code, debug=False):
    """Print ``minicnn: message`` on one line (after the traceback with ``--debug``); returns
    ``code``."""
    if debug:
        traceback.print_exc()
    print(f"minicnn: {' '.join(message.split())}", file=sys.stderr)
    return code


_OS_HINTS = {errno.EACCES: "check its permissions, or choose another path",
             errno.EPERM: "check its permissions, or choose another path",
             errno.EROFS: "it is on a read-only file system: choose another path",
             errno.ENOSPC: "the disk is full: free some space, or choose another path",
             errno.EDQUOT: "the disk quota is exhausted: free some space, or choose another path",
             errno.ENOTDIR: "a part of the path is a file, not a directory",
             errno.EISDIR: "it is a directory, not a file"}


def _os_error(e: OSError) -> str:
    """One line for an OSError: the path, what went wrong, what to do."""
    what = e.strerror or str(e)
    hint = _OS_HINTS.get(e.errno)
    if e.filename is None:
        return f"{what}" + (f"; {hint}" if hint else "")
    return f"{e.filename}: {what}" + (f"; {hint}" if hint else "")


def _warn(message):
    print(f"minicnn: warning: {message}", file=sys.stderr)


def _show_warning(message, category, filename, lineno, file=None, line=None):
    _warn(message)
