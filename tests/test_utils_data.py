"""minicnn.utils.data against torch.utils.data: the same pipelines give the same batches
(shapes, dtypes, values, container types), the same sizes and orders where no randomness is
involved, and the same error types; random draws are reproducible under minicnn.manual_seed
and are permutations."""
import threading
from collections import namedtuple

import numpy as np
import pytest

import minicnn
import minicnn.utils.data as md
from minicnn.data import transforms as T

Point = namedtuple("Point", "x y")


def as_numpy(t):
    """A torch or minicnn tensor as (ndarray, dtype name)."""
    if isinstance(t, minicnn.Tensor):
        return t.numpy(), str(t.dtype)
    return t.numpy(), str(t.dtype).removeprefix("torch.")


def assert_same(ours, theirs, torch):
    """Same container structure, and tensors of the same shape, dtype and values."""
    if isinstance(theirs, torch.Tensor):
        assert isinstance(ours, minicnn.Tensor), type(ours)
        (a, da), (b, db) = as_numpy(ours), as_numpy(theirs)
        assert da == db and a.shape == b.shape
        np.testing.assert_array_equal(a, b)
    elif isinstance(theirs, dict):
        assert type(ours) is type(theirs) and list(ours) == list(theirs)
        for k in theirs:
            assert_same(ours[k], theirs[k], torch)
    elif isinstance(theirs, (list, tuple)):
        assert type(ours) is type(theirs) and len(ours) == len(theirs), (ours, theirs)
        for a, b in zip(ours, theirs):
            assert_same(a, b, torch)
    else:
        assert ours == theirs


def run_both(torch, make, **kwargs):
    """Build one pipeline with each library (``make(lib, tensor)``) and return both batch lists."""
    ours = list(md.DataLoader(make(md, minicnn.tensor), **kwargs))
    theirs = list(torch.utils.data.DataLoader(make(torch.utils.data, torch.tensor), **kwargs))
    return ours, theirs


class Samples:
    """A map-style data set of fixed samples (no __getitems__), for either library."""

    def __init__(self, samples):
        self.samples = samples

    def __len__(self):
        return len(self.samples)

    def __getitem__(self, i):
        return self.samples[i]


def images(n=10):
    return [(np.full((1, 2, 3), i, np.float32), i) for i in range(n)]


# ---------------------------------------------------------------- data sets


def test_tensor_dataset_matches_torch(torch):
    def make(lib, tensor):
        x = tensor(np.arange(30, dtype=np.float32).reshape(10, 3))
        return lib.TensorDataset(x, tensor(np.arange(10) % 3))

    ours, theirs = make(md, minicnn.tensor), make(torch.utils.data, torch.tensor)
    assert len(ours) == len(theirs) == 10
    assert_same(list(ours[4]), list(theirs[4]), torch)
    assert_same(list(ours[-1]), list(theirs[-1]), torch)
    for kwargs in ({"batch_size": 4}, {"batch_size": 4, "drop_last": True}, {"batch_size": None},
                   {"batch_size": 3, "collate_fn": lambda b: b}):
        a, b = run_both(torch, make, **kwargs)
        assert len(a) == len(b)
        if "collate_fn" in kwargs:  # the samples themselves
            a, b = ([[list(s) for s in batch] for batch in out] for out in (a, b))
        assert_same(a, b, torch)
    with pytest.raises(AssertionError, match="Size mismatch"):
        md.TensorDataset(minicnn.zeros(3), minicnn.zeros(4))
    with pytest.raises(AssertionError, match="Size mismatch"):
        torch.utils.data.TensorDataset(torch.zeros(3), torch.zeros(4))


def test_concat_dataset_indexing_matches_torch(torch):
    parts = [list(range(3)), list(range(10, 15)), [], list(range(20, 22))]
    ours = md.ConcatDataset(parts)
    theirs = torch.utils.data.ConcatDataset(parts)
    assert len(ours) == len(theirs) == 10 and ours.cumulative_sizes == theirs.cumulative_sizes
    for i in range(-10, 10):
        assert ours[i] == theirs[i]
    for lib, ds in ((md, ours), (torch.utils.data, theirs)):
        with pytest.raises(ValueError, match="absolute value"):
            ds[-11]
        with pytest.raises(IndexError):
            ds[10]
        with pytest.raises(AssertionError):
            lib.ConcatDataset([])
    both = md.TensorDataset(minicnn.arange(2)) + md.TensorDataset(minicnn.arange(3))
    assert isinstance(both, md.ConcatDataset) and len(both) == 5 and both[3][0].item() == 1


def test_subset_and_random_split_sizes_match_torch(torch):
    for n, lengths in ((10, [3, 7]), (10, [0.3, 0.7]), (11, [0.5, 0.5]), (7, [0.2, 0.2, 0.6]),
                       (30, [0.1, 0.2, 0.3, 0.4]), (5, [5, 0]), (4, [0.25, 0.25, 0.25, 0.25])):
        ours = md.random_split(range(n), lengths)
        theirs = torch.utils.data.random_split(range(n), lengths)
        assert [len(p) for p in ours] == [len(p) for p in theirs]
        merged = sorted(x for part in ours for x in (part[i] for i in range(len(part))))
        assert merged == list(range(n))
    for lib in (md, torch.utils.data):
        with pytest.raises(ValueError, match="Sum of input lengths"):
            lib.random_split(range(10), [3, 6])
        with pytest.raises(ValueError, match="Fraction at index 1"):
            lib.random_split(range(10), [0.5, 1.5, -1.0])
        with pytest.warns(UserWarning, match="Length of split at index 1 is 0"):
            lib.random_split(range(2), [0.9, 0.1])
    with pytest.raises(TypeError, match="numpy.random.Generator"):
        md.random_split(range(4), [2, 2], generator=torch.Generator())
    sub = md.Subset(Samples(list("abcdef")), [5, 0, 3])
    assert sub[0] == "f" and sub[-1] == "d" and sub.__getitems__([2, 0]) == ["d", "f"]


def test_random_split_reproducible_under_manual_seed():
    minicnn.manual_seed(5)
    first = [p.indices.tolist() for p in md.random_split(range(20), [0.5, 0.5])]
    minicnn.manual_seed(5)
    assert [p.indices.tolist() for p in md.random_split(range(20), [0.5, 0.5])] == first
    assert [p.indices.tolist() for p in md.random_split(range(20), [0.5, 0.5])] != first
    a = md.random_split(range(20), [15, 5], generator=np.random.default_rng(1))
    b = md.random_split(range(20), [15, 5], generator=np.random.default_rng(1))
    assert [p.indices.tolist() for p in a] == [p.indices.tolist() for p in b]


# ---------------------------------------------------------------- samplers


def test_sequential_and_batch_samplers_match_torch(torch):
    tud = torch.utils.data
    assert list(md.SequentialSampler(range(7))) == list(tud.SequentialSampler(range(7)))
    assert len(md.SequentialSampler(range(7))) == 7
    for n, size, drop in ((10, 3, False), (10, 3, True), (9, 3, True), (2, 5, False),
                          (2, 5, True), (0, 2, False)):
        ours = md.BatchSampler(md.SequentialSampler(range(n)), size, drop)
        theirs = tud.BatchSampler(tud.SequentialSampler(range(n)), size, drop)
        assert list(ours) == list(theirs) and len(ours) == len(theirs)
    for bad in (0, -1, 2.5, True):
        for lib in (md, tud):
            with pytest.raises(ValueError, match="batch_size should be a positive integer"):
                lib.BatchSampler(range(4), bad, False)
    for lib in (md, tud):
        with pytest.raises(ValueError, match="drop_last should be a boolean"):
            lib.BatchSampler(range(4), 2, 1)


def test_random_samplers_draw_permutations_reproducibly(torch):
    minicnn.manual_seed(0)
    first = list(md.RandomSampler(range(50)))
    assert sorted(first) == list(range(50))
    minicnn.manual_seed(0)
    sampler = md.RandomSampler(range(50))
    assert list(sampler) == first and list(sampler) != first  # a new order each epoch

    with_gen = md.RandomSampler(range(8), generator=np.random.default_rng(3))
    again = md.RandomSampler(range(8), generator=np.random.default_rng(3))
    assert [list(with_gen) for _ in range(3)] == [list(again) for _ in range(3)]

    longer = list(md.RandomSampler(range(4), num_samples=10))  # 2 permutations and 2 more
    assert len(longer) == 10 and sorted(longer[:4]) == sorted(longer[4:8]) == [0, 1, 2, 3]
    drawn = list(md.RandomSampler(range(3), replacement=True, num_samples=3000))
    assert len(drawn) == 3000 and set(drawn) == {0, 1, 2}

    assert sorted(md.SubsetRandomSampler([7, 3, 9])) == [3, 7, 9]
    for lib in (md, torch.utils.data):
        with pytest.raises(TypeError, match="replacement should be a boolean"):
            lib.RandomSampler(range(3), replacement=1)
        with pytest.raises(ValueError, match="num_samples should be a positive integer"):
            lib.RandomSampler(range(3), num_samples=0)
        with pytest.raises(ValueError, match="num_samples should be a positive integer"):
            lib.RandomSampler([])


def test_weighted_random_sampler(torch):
    tud = torch.utils.data
    drawn = np.array(list(md.WeightedRandomSampler([0.0, 1.0, 3.0], 20000,
                                                   generator=np.random.default_rng(0))))
    assert set(drawn.tolist()) == {1, 2} and abs((drawn == 2).mean() - 0.75) < 0.02
    once = list(md.WeightedRandomSampler([1.0, 0.0, 5.0, 2.0], 4, replacement=False))
    assert sorted(once) == [0, 1, 2, 3] and once[-1] == 1  # the zero weight comes last
    assert len(md.WeightedRandomSampler([1, 2], 5)) == 5
    for lib in (md, tud):
        with pytest.raises(ValueError, match="num_samples should be a positive integer"):
            lib.WeightedRandomSampler([1.0, 2.0], 0)
        with pytest.raises(ValueError, match="weights should be a 1d sequence"):
            lib.WeightedRandomSampler([[1.0, 2.0]], 2)
        with pytest.raises(RuntimeError, match="probability entry < 0"):
            list(lib.WeightedRandomSampler([1.0, -1.0], 2))
        with pytest.raises(RuntimeError, match="without replacement"):
            list(lib.WeightedRandomSampler([1.0, 1.0], 3, replacement=False))


# ---------------------------------------------------------------- collation


COLLATE_CASES = {
    "ints": [0, 1, 2],
    "floats": [0.5, 1.5],
    "bools": [True, False],
    "strings": ["a", "b"],
    "numpy scalars": [np.float32(1), np.float32(2)],
    "arrays": [np.zeros((2, 3), np.float32), np.ones((2, 3), np.float32)],
    "int arrays": [np.arange(3, dtype=np.int32), np.arange(3, dtype=np.int32)],
    "tuples": [(np.zeros(2), 0), (np.ones(2), 1)],
    "lists": [[1, 2.5], [3, 4.5]],
    "dicts": [{"x": np.ones(2, np.float32), "y": 1, "name": "a"},
              {"x": np.zeros(2, np.float32), "y": 2, "name": "b"}],
    "nested": [{"pair": (1, "s"), "seq": [np.float32(1), 2.0]},
               {"pair": (3, "t"), "seq": [np.float32(3), 4.0]}],
}


@pytest.mark.parametrize("name", COLLATE_CASES)
def test_default_collate_matches_torch(name, torch):
    batch = COLLATE_CASES[name]
    assert_same(md.default_collate(batch), torch.utils.data.default_collate(batch), torch)


def test_default_collate_namedtuples_tensors_and_errors(torch):
    ours = md.default_collate([Point(1, 2.0), Point(3, 4.0)])
    theirs = torch.utils.data.default_collate([Point(1, 2.0), Point(3, 4.0)])
    assert type(ours) is Point
    assert_same(list(ours), list(theirs), torch)
    stacked = md.default_collate([minicnn.ones(2, 3), minicnn.zeros(2, 3)])
    assert_same(stacked, torch.utils.data.default_collate([torch.ones(2, 3), torch.zeros(2, 3)]),
                torch)
    w = minicnn.ones(2, requires_grad=True)
    out = md.default_collate([w, w * 2])
    out.sum().backward()
    np.testing.assert_array_equal(w.grad.numpy(), [3, 3])  # the graph is kept

    for lib in (md, torch.utils.data):
        with pytest.raises(RuntimeError, match="stack expects each tensor to be equal size"):
            lib.default_collate([np.zeros((2, 2)), np.zeros((3, 2))])
        with pytest.raises(RuntimeError, match="each element in list of batch"):
            lib.default_collate([[1, 2], [3]])
        with pytest.raises(TypeError, match="default_collate: batch must contain"):
            lib.default_collate([object(), object()])
        with pytest.raises(TypeError, match="default_collate: batch must contain"):
            lib.default_collate([np.array(["a"]), np.array(["b"])])
    with pytest.raises(ValueError, match="one shape"):  # also a ValueError, like minicnn.stack
        md.default_collate([minicnn.zeros(2), minicnn.zeros(3)])


def test_default_convert_matches_torch(torch):
    for data in ((np.ones(2), 3, "s"), {"k": np.float32(2), "v": [np.arange(2)]},
                 Point(np.ones(1), 2), np.array(["a"]), 1.5):
        ours, theirs = md.default_convert(data), torch.utils.data.default_convert(data)
        if isinstance(data, np.ndarray):
            assert ours is data and theirs is data
        else:
            assert_same(list(ours) if isinstance(ours, Point) else ours,
                        list(theirs) if isinstance(theirs, Point) else theirs, torch)
    array = np.zeros(3, np.float32)
    assert md.default_convert(array).numpy() is array  # no copy


# ---------------------------------------------------------------- DataLoader


@pytest.mark.parametrize("kwargs", [{}, {"batch_size": 4}, {"batch_size": 4, "drop_last": True},
                                    {"batch_size": None}, {"batch_size": 20},
                                    {"batch_size": 3, "num_workers": 2}])
def test_loader_batches_match_torch(kwargs, torch):
    ours, theirs = run_both(torch, lambda lib, tensor: Samples(images()), **kwargs)
    assert len(ours) == len(theirs)
    assert_same(ours, theirs, torch)
    assert len(md.DataLoader(Samples(images()), **kwargs)) == \
        len(torch.utils.data.DataLoader(Samples(images()), **kwargs))


def test_loader_over_dict_samples_and_batch_sampler(torch):
    samples = [{"x": np.full(2, i, np.float32), "label": i, "weight": i / 2} for i in range(7)]
    for kwargs in ({"batch_size": 3}, {"batch_sampler": [[0, 6], [2, 3, 4]]},
                   {"sampler": [6, 5, 4, 0], "batch_size": 2}):
        ours, theirs = run_both(torch, lambda lib, tensor: Samples(samples), **kwargs)
        assert_same(ours, theirs, torch)


def counting(lib, n):
    class Iterable(lib.IterableDataset):
        def __iter__(self):
            info = lib.get_worker_info()
            start, step = (0, 1) if info is None else (info.id, info.num_workers)
            return (np.float32(i) for i in range(start, n, step))

        def __len__(self):
            return n

    return Iterable()


@pytest.mark.parametrize("kwargs", [{"batch_size": 3}, {"batch_size": 3, "drop_last": True},
                                    {"batch_size": None}, {"batch_size": 2, "num_workers": 2},
                                    {"batch_size": 4, "num_workers": 2}])
def test_iterable_dataset_matches_torch(kwargs, torch):
    ours, theirs = run_both(torch, lambda lib, tensor: counting(lib, 11), **kwargs)
    assert_same(ours, theirs, torch)
    loader = md.DataLoader(counting(md, 11), **kwargs)
    assert len(loader) == len(torch.utils.data.DataLoader(counting(torch.utils.data, 11),
                                                          **kwargs))


def test_iterable_dataset_len_chain_and_errors(torch):
    class NoLen(md.IterableDataset):
        def __iter__(self):
            return iter(range(3))

    with pytest.raises(TypeError, match="has no len"):
        len(md.DataLoader(NoLen()))
    assert [b.tolist() for b in md.DataLoader(NoLen(), batch_size=2)] == [[0, 1], [2]]
    chained = NoLen() + NoLen()
    assert isinstance(chained, md.ChainDataset) and list(chained) == [0, 1, 2, 0, 1, 2]
    with pytest.raises(AssertionError):
        md.ConcatDataset([NoLen()])
    for lib in (md, torch.utils.data):
        data = counting(lib, 4)
        for kwargs in ({"shuffle": True}, {"sampler": [0, 1]}, {"batch_sampler": [[0, 1]]}):
            with pytest.raises(ValueError, match="DataLoader with IterableDataset: expected "
                                                 "unspecified"):
                lib.DataLoader(data, **kwargs)


def test_bad_loader_arguments_raise_as_torch(torch):
    cases = [({"shuffle": True, "sampler": [0, 1]}, "sampler option is mutually exclusive"),
             ({"batch_sampler": [[0]], "batch_size": 2}, "batch_sampler option is mutually"),
             ({"batch_sampler": [[0]], "drop_last": True}, "batch_sampler option is mutually"),
             ({"batch_sampler": [[0]], "shuffle": True}, "batch_sampler option is mutually"),
             ({"batch_size": None, "drop_last": True}, "batch_size=None option disables"),
             ({"num_workers": -1}, "num_workers option should be non-negative"),
             ({"timeout": -1}, "timeout option should be non-negative"),
             ({"prefetch_factor": 2}, "prefetch_factor option could only be specified"),
             ({"persistent_workers": True}, "persistent_workers option needs num_workers > 0"),
             ({"batch_size": 0}, "batch_size should be a positive integer")]
    for kwargs, match in cases:
        for lib in (md, torch.utils.data):
            with pytest.raises(ValueError, match=match):
                lib.DataLoader(Samples(images(4)), **kwargs)
    for lib in (md, torch.utils.data):
        loader = lib.DataLoader(Samples(images(4)))
        with pytest.raises(ValueError, match="batch_size attribute should not be set after"):
            loader.batch_size = 2
    with pytest.raises(TypeError, match="numpy.random.Generator"):
        md.DataLoader(Samples(images(4)), shuffle=True, generator=torch.Generator())


def test_shuffle_is_a_reproducible_permutation():
    def epoch(loader):
        return [i for _, y in loader for i in y.tolist()]

    minicnn.manual_seed(3)
    loader = md.DataLoader(Samples(images(20)), batch_size=6, shuffle=True)
    first, second = epoch(loader), epoch(loader)
    assert sorted(first) == sorted(second) == list(range(20)) and first != second
    minicnn.manual_seed(3)
    again = md.DataLoader(Samples(images(20)), batch_size=6, shuffle=True)
    assert [epoch(again), epoch(again)] == [first, second]
    a = md.DataLoader(Samples(images(20)), batch_size=6, shuffle=True,
                      generator=np.random.default_rng(9))
    b = md.DataLoader(Samples(images(20)), batch_size=6, shuffle=True,
                      generator=np.random.default_rng(9))
    assert [epoch(a), epoch(a)] == [epoch(b), epoch(b)]
    assert a.sampler.generator is not None and loader.sampler.generator is None


def test_worker_info_and_init_fn():
    assert md.get_worker_info() is None
    seen, started = [], []

    def sample(i):
        info = md.get_worker_info()
        seen.append((threading.current_thread().name, info.id, info.num_workers))
        return np.float32(i)

    class Lazy(Samples):
        def __getitem__(self, i):
            return sample(i)

    loader = md.DataLoader(Lazy(range(12)), batch_size=2, num_workers=3,
                           worker_init_fn=started.append)
    assert [b.tolist() for b in loader] == [[2 * i, 2 * i + 1] for i in range(6)]
    assert sorted(started) == sorted({w for _, w, _ in seen}) and set(started) <= {0, 1, 2}
    assert all(n == 3 and name.startswith("minicnn-DataLoader") for name, _, n in seen)
    assert md.get_worker_info() is None
    with pytest.raises(RuntimeError, match="Cannot assign"):
        md.WorkerInfo(0, 1, 0, None).id = 3


def test_worker_errors_and_timeout():
    class Failing(md.IterableDataset):
        def __iter__(self):
            yield np.float32(1)
            raise KeyError("broken stream")

    with pytest.raises(KeyError, match="broken stream") as info:
        list(md.DataLoader(Failing(), batch_size=1, num_workers=2))
    assert any("worker thread" in note for note in info.value.__notes__)

    release = threading.Event()

    class Stuck(Samples):
        def __getitem__(self, i):
            release.wait(10)
            return np.float32(i)

    class StuckStream(md.IterableDataset):
        def __iter__(self):
            release.wait(10)
            yield np.float32(0)

    for data in (Stuck(range(2)), StuckStream()):
        release.clear()
        loader = md.DataLoader(data, num_workers=1, timeout=0.01)
        with pytest.raises(RuntimeError, match="DataLoader timed out after 0.01 seconds"):
            try:
                next(iter(loader))
            finally:
                release.set()


def test_getitems_paths():
    class TorchStyle(Samples):
        """__getitems__ returns a list of samples, as PyTorch's contract says."""
        calls = 0

        def __getitems__(self, indices):
            TorchStyle.calls += 1
            return [self.samples[i] for i in indices]

    ds = TorchStyle(images(5))
    (x, y), _ = md.DataLoader(ds, batch_size=3)
    assert TorchStyle.calls == 2 and x.shape == (3, 1, 2, 3) and y.tolist() == [0, 1, 2]
    (x, y), = md.DataLoader(md.Subset(ds, [4, 1]), batch_size=2)  # Subset delegates
    assert TorchStyle.calls == 3 and y.tolist() == [4, 1]
    data = md.TensorDataset(minicnn.arange(6).float(), minicnn.arange(6))  # one index per tensor
    x, y = next(iter(md.DataLoader(data, batch_size=4, shuffle=True)))
    np.testing.assert_array_equal(x.numpy(), y.numpy())
    assert x.dtype == np.float32 and y.dtype == np.int64


def test_minicnn_datasets_through_the_loader(tmp_path):
    from minicnn.data import FashionMNIST

    from helpers import write_fashion_mnist

    train = FashionMNIST(write_fashion_mnist(tmp_path), transform=T.Compose(
        [T.ToTensor(), T.RandomCrop(28, padding=2)]))
    loader = md.DataLoader(train, batch_size=16, shuffle=True, seed=0, num_workers=2)
    batches = list(loader)
    assert len(batches) == len(loader) == 4
    x, y = batches[0]
    assert isinstance(x, minicnn.Tensor) and x.shape == (16, 1, 28, 28) and x.dtype == np.float32
    assert y.dtype == np.int64
    again = md.DataLoader(train, batch_size=16, shuffle=True, seed=0)  # no workers, same batches
    for (xa, ya), (xb, yb) in zip(batches, again):
        np.testing.assert_array_equal(xa.numpy(), xb.numpy())
        np.testing.assert_array_equal(ya.numpy(), yb.numpy())
    assert minicnn.data.DataLoader is md.DataLoader and minicnn.data.Subset is md.Subset
    assert minicnn.utils.data is md
