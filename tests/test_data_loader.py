"""minicnn.data.DataLoader: batching, shuffling from a seed, epochs, worker threads (same
batches, exceptions, clean early exit), collation, Subset and random_split."""
import threading

import numpy as np
import pytest

import minicnn
from minicnn.data import DataLoader, Subset, default_collate, random_split
from minicnn.data import transforms as T


class IndexDataset:
    """__getitem__ only: image i is filled with i, its label is i."""

    def __init__(self, n, shape=(1, 2, 2)):
        self.n, self.shape = n, shape

    def __len__(self):
        return self.n

    def __getitem__(self, i):
        if not 0 <= i < self.n:
            raise IndexError(i)
        return np.full(self.shape, i, np.float32), i


class BatchDataset:
    """With __getitems__ and a random transform, like minicnn's data sets."""

    def __init__(self, n=50, fail_at=None):
        rng = np.random.default_rng(0)
        self.data = rng.integers(0, 256, (n, 8, 8, 1), dtype=np.uint8)
        self.targets = np.arange(n, dtype=np.int64)
        self.transform = T.Compose([T.ToTensor(), T.RandomCrop(8, padding=2),
                                    T.RandomHorizontalFlip(), T.RandomErasing(p=0.5)])
        self.fail_at, self.returned = fail_at, []

    def __len__(self):
        return len(self.targets)

    def __getitem__(self, i):
        return self.transform(self.data[i]), int(self.targets[i])

    def __getitems__(self, indices):
        if self.fail_at is not None and self.fail_at in indices:
            raise KeyError(f"bad sample {self.fail_at}")
        out = self.transform(self.data[indices]), self.targets[indices]
        self.returned.append(out[0])
        return out


def labels_of(loader):
    return [y.numpy().tolist() for _, y in loader]


def test_batches_len_and_drop_last():
    loader = DataLoader(IndexDataset(10), batch_size=4)
    batches = list(loader)
    assert len(loader) == 3 and len(batches) == 3
    assert [tuple(x.shape) for x, _ in batches] == [(4, 1, 2, 2), (4, 1, 2, 2), (2, 1, 2, 2)]
    x, y = batches[0]
    assert isinstance(x, minicnn.Tensor) and x.dtype == np.float32 and y.dtype == np.int64
    assert labels_of(loader) == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]
    np.testing.assert_array_equal(batches[2][0].numpy()[:, 0, 0, 0], [8, 9])
    dropped = DataLoader(IndexDataset(10), batch_size=4, drop_last=True)
    assert len(dropped) == 2 and labels_of(dropped) == [[0, 1, 2, 3], [4, 5, 6, 7]]
    assert len(DataLoader(IndexDataset(8), batch_size=4, drop_last=True)) == 2
    assert len(DataLoader(IndexDataset(3), batch_size=4, drop_last=True)) == 0


def test_shuffle_reproducible_and_new_each_epoch():
    a = DataLoader(IndexDataset(40), batch_size=8, shuffle=True, seed=3)
    b = DataLoader(IndexDataset(40), batch_size=8, shuffle=True, seed=3)
    epochs_a = [labels_of(a) for _ in range(3)]
    epochs_b = [labels_of(b) for _ in range(3)]
    assert epochs_a == epochs_b
    assert epochs_a[0] != epochs_a[1] != epochs_a[2]
    for epoch in epochs_a:  # every index exactly once per epoch
        assert sorted(i for batch in epoch for i in batch) == list(range(40))
    other_seed = DataLoader(IndexDataset(40), batch_size=8, shuffle=True, seed=4)
    assert labels_of(other_seed) != epochs_a[0]
    assert a.epoch == 3
    a.set_epoch(1)  # a resumed run sees the order of epoch 1 again
    assert labels_of(a) == epochs_a[1] and a.epoch == 2
    expected = np.random.default_rng([3, 1, 0]).permutation(40)
    assert [i for batch in epochs_a[1] for i in batch] == expected.tolist()


def test_seed_none_follows_manual_seed():
    loader = DataLoader(IndexDataset(30), batch_size=30, shuffle=True)
    minicnn.manual_seed(7)
    first = labels_of(loader)
    minicnn.manual_seed(7)
    loader.set_epoch(0)
    assert labels_of(loader) == first
    assert labels_of(loader) != first


@pytest.mark.parametrize("workers", [1, 3])
def test_workers_give_the_same_batches(workers):
    def run(num_workers):
        loader = DataLoader(BatchDataset(), batch_size=7, shuffle=True, seed=11,
                            num_workers=num_workers)
        return [[(x.numpy().copy(), y.numpy().copy()) for x, y in loader] for _ in range(2)]

    serial, threaded = run(0), run(workers)
    for epoch_s, epoch_t in zip(serial, threaded):
        assert len(epoch_s) == len(epoch_t) == 8
        for (xs, ys), (xt, yt) in zip(epoch_s, epoch_t):
            np.testing.assert_array_equal(ys, yt)
            np.testing.assert_array_equal(xs, xt)  # random augmentation included
    assert not np.array_equal(serial[0][0][0], serial[1][0][0])


def test_batches_wrap_the_collated_arrays_without_copy():
    ds = BatchDataset(20)
    for x, _ in DataLoader(ds, batch_size=5):
        assert x.numpy() is ds.returned[-1]


def test_worker_exception_is_reraised_in_main_thread():
    loader = DataLoader(BatchDataset(fail_at=30), batch_size=5, num_workers=2)
    seen = []
    with pytest.raises(KeyError, match="bad sample 30") as info:
        for _, y in loader:
            seen.append(y.numpy())
    assert len(seen) == 6  # the batches before the failing one arrived, in order
    assert any("worker thread" in n and "batch 6" in n for n in info.value.__notes__)
    assert not loader_threads()


def loader_threads():
    return [t for t in threading.enumerate() if t.name.startswith("minicnn-DataLoader")]


def test_early_break_leaves_no_thread():
    loader = DataLoader(BatchDataset(200), batch_size=4, num_workers=3, prefetch_factor=4)
    for i, _ in enumerate(loader):
        if i == 0:
            assert loader_threads()
        if i == 2:
            break
    assert not loader_threads()
    it = iter(loader)
    next(it)
    it.close()
    assert not loader_threads()


def test_collate_getitem_only_and_custom_collate():
    x, y = default_collate([(np.zeros((1, 2, 2), np.float32), 3), (np.ones((1, 2, 2)), 4)])
    assert x.shape == (2, 1, 2, 2) and y.dtype == np.int64 and y.tolist() == [3, 4]
    with pytest.raises(ValueError, match="one shape"):
        default_collate([(np.zeros((2, 2)), 0), (np.zeros((3, 2)), 1)])

    def collate(samples):
        return np.stack([s[0] for s in samples]) * 2, np.array([s[1] for s in samples])

    (x, y), = DataLoader(IndexDataset(3), batch_size=3, collate_fn=collate)
    assert isinstance(x, np.ndarray)  # a collate_fn's batch is yielded as it is, as in PyTorch
    np.testing.assert_array_equal(x[:, 0, 0, 0], [0, 2, 4])
    # a collate_fn gets samples even from a data set with __getitems__
    ds = BatchDataset(6)
    (x, y), = DataLoader(ds, batch_size=6, collate_fn=collate)
    assert x.shape == (6, 1, 8, 8) and not ds.returned


def test_bad_arguments():
    for kwargs, match in (({"batch_size": 0}, "batch_size"), ({"num_workers": -1}, "num_workers"),
                          ({"seed": -2}, "seed"), ({"batch_size": 2.5}, "batch_size"),
                          ({"prefetch_factor": 0}, "prefetch_factor")):
        with pytest.raises(ValueError, match=match):
            DataLoader(IndexDataset(4), **kwargs)
    with pytest.raises(TypeError, match="collate_fn"):
        DataLoader(IndexDataset(4), collate_fn=3)
    with pytest.raises(TypeError, match="__len__"):
        DataLoader(object())
    with pytest.raises(ValueError, match="epoch"):
        DataLoader(IndexDataset(4)).set_epoch(-1)


def test_subset_and_random_split():
    ds = BatchDataset(20)
    sub = Subset(ds, [5, 2, 9])
    assert len(sub) == 3 and sub[1][1] == 2 and sub.targets.tolist() == [5, 2, 9]
    x, y = sub.__getitems__([0, 2])
    assert y.tolist() == [5, 9] and x.shape == (2, 1, 8, 8)
    assert labels_of(DataLoader(Subset(IndexDataset(10), [7, 1]), batch_size=2)) == [[7, 1]]
    parts = random_split(ds, [15, 5], generator=np.random.default_rng(0))
    assert [len(p) for p in parts] == [15, 5]
    assert sorted(np.concatenate([p.indices for p in parts]).tolist()) == list(range(20))
    assert [len(p) for p in random_split(IndexDataset(10), [0.75, 0.25])] == [8, 2]
    with pytest.raises(ValueError, match="summing to 20"):
        random_split(ds, [10, 5])
    with pytest.raises(IndexError, match="Subset"):
        Subset(ds, [25])
