"""The result of a benchmark run: its records, a human table, JSON and a plot of the ratios.

A record is a flat dict, one per measured case (see :func:`minicnn.bench.compare` and
:func:`minicnn.bench.run_ops` for the keys each fills). Times are [min, median, max]
milliseconds; a ``ratio`` is the median of the paired ratios (below 1: the candidate, or
minicnn, is faster).
"""
import json
import math

from . import harness

# (key, header, width, format) of every column a table may show; a table shows the columns that
# at least one of its records has. A [min, median, max] list shows its median.
COLUMNS = [
    ("op", "op", -14, "{}"),
    ("case", "case", -30, "{}"),
    ("pass", "pass", -4, "{}"),
    ("reference", "reference", -10, "{}"),
    ("candidate_ms", "cand. ms", 9, "{:.4g}"),
    ("reference_ms", "ref. ms", 9, "{:.4g}"),
    ("minicnn_ms", "minicnn ms", 10, "{:.4g}"),
    ("torch_ms", "torch ms", 9, "{:.4g}"),
    ("torch_cl_ms", "cl ms", 8, "{:.4g}"),
    ("ort_ms", "ort ms", 8, "{:.4g}"),
    ("torch_compile_ms", "compile ms", 10, "{:.4g}"),
    ("minicnn_us", "minicnn us", 10, "{:.3g}"),  # small work (bench overhead): microseconds
    ("torch_us", "torch us", 9, "{:.3g}"),
    ("ratio", "ratio", 6, "{:.2f}"),
    ("ratio_cl", "vs cl", 6, "{:.2f}"),
    ("ratio_compile", "vs comp.", 8, "{:.2f}"),
    ("ratio_vs_best_torch", "torch best", 10, "{:.2f}"),
    ("ratio_ort", "vs ort", 6, "{:.2f}"),
    ("ratio_vs_best", "vs best", 7, "{:.2f}"),
    ("minicnn_img_s", "img/s", 7, "{:.0f}"),
    ("torch_img_s", "torch img/s", 11, "{:.0f}"),
    ("gflops", "GFLOP/s", 8, "{:.1f}"),
    ("gbps", "GB/s", 6, "{:.1f}"),
    ("fraction_of_ceiling", "%ceil", 5, "{:.0%}"),
    # training steps: executed GFLOP/s (Winograd's saved multiplications not counted) / sgemm
    ("executed_fraction", "%sgemm", 6, "{:.0%}"),
    ("minicnn_spread", "spread", 6, "{:.2f}"),  # max / median of the timed calls (batch 1)
    ("torch_spread", "pt spr.", 7, "{:.2f}"),
    ("torch_cl_spread", "cl spr.", 7, "{:.2f}"),
    ("ort_spread", "ort spr.", 8, "{:.2f}"),
    ("max_abs_err", "max abs err", 11, "{:.1e}"),
    ("rel_err", "rel err", 8, "{:.1e}"),
    ("cpu_per_wall", "cpu/wall", 8, "{:.2f}"),
]

# colours of the plot's bars, by op family (records without one: by reference)
_COLOURS = ["tab:blue", "tab:orange", "tab:green", "tab:red", "tab:purple", "tab:brown",
            "tab:pink", "tab:olive", "tab:cyan", "tab:gray"]


class Report:
    """Records of a benchmark run, with a table (``str(report)``), JSON and a plot.

    records: list of dicts, one per case (the keys of COLUMNS and any others).
    host: dict describing the machine (:func:`minicnn.bench.harness.host_info`).
    summary: dict of run-wide figures (ceilings, geometric means, peak memory), printed under
    the table and written to the JSON.
    targets: dict label -> ratio drawn as dashed lines on the plot (e.g. the issue's goals).
    columns: the keys the table shows, in order (default: the COLUMNS at least one record
    fills); fixed columns let a runner print rows as they come.
    """

    def __init__(self, records=None, host=None, summary=None, targets=None, columns=None):
        self.records = list(records or [])
        self.host = dict(host or {})
        self.summary = dict(summary or {})
        self.targets = dict(targets or {})
        self.column_keys = columns

    # ------------------------------------------------------------ table

    def columns(self):
        """The COLUMNS entries the table shows."""
        if self.column_keys is not None:
            spec = {c[0]: c for c in COLUMNS}
            return [spec[k] for k in self.column_keys]
        return [c for c in COLUMNS if any(r.get(c[0]) is not None for r in self.records)]

    def header(self, columns=None):
        return " ".join(_cell(h, width) for _, h, width, _ in columns or self.columns())

    def row(self, record, columns=None):
        """One record as a table line; a failed record (key ``error``) shows its error, a
        skipped one (key ``skipped``) why."""
        cells = []
        for key, _, width, fmt in columns or self.columns():
            value = record.get(key)
            if isinstance(value, list):
                value = value[1]
            cells.append(_cell("" if value is None else fmt.format(value), width))
        line = " ".join(cells)
        if record.get("skipped"):
            return f"{line}  skipped: {record['skipped']}"
        return f"{line}  FAILED: {record['error']}" if record.get("error") else line

    def table(self):
        """A human-readable table of the records, then the summary lines."""
        cols = self.columns()
        lines = [self.header(cols)] + [self.row(r, cols) for r in self.records]
        return "\n".join(lines + self.summary_lines())

    def summary_lines(self):
        return [f"# {k}: {_fmt(v)}" for k, v in self.summary.items()]

    __str__ = table

    def __repr__(self):
        return f"<Report: {len(self.records)} records>"

    @property
    def failures(self):
        """The records whose answer check failed (they carry ``error`` and no timings)."""
        return [r for r in self.records if r.get("error")]

    # ------------------------------------------------------------ JSON

    def to_json(self, path):
        """Write ``{"host", "records", "summary", "targets"}`` to ``path``; returns ``path``."""
        harness.write_json(path, self.records, self.host, summary=self.summary,
                           targets=self.targets)
        return path

    @classmethod
    def from_json(cls, path):
        """A Report read back from :meth:`to_json`'s file."""
        with open(path) as f:
            doc = json.load(f)
        return cls(doc["records"], doc.get("host"), doc.get("summary"), doc.get("targets"))

    # ------------------------------------------------------------ plot

    def plot(self, path, title=None):
        """Write a PNG of each record's ratio as horizontal bars on a log axis (the ratio against
        PyTorch's faster layout, ``ratio_vs_best``, where both layouts were measured), with a
        line at 1.0 and dashed lines at ``targets``; bars coloured by op family (or by
        reference). Records without a ratio are left out. Returns ``path``.

        Raises ImportError when matplotlib is missing, ValueError when no record has a ratio.
        """
        try:  # a bare Figure draws with Agg and leaves pyplot's global state alone
            from matplotlib.figure import Figure
            from matplotlib.patches import Rectangle
        except ImportError:
            raise ImportError("Report.plot needs matplotlib: pip install matplotlib "
                              "(or the bench extra: pip install minicnn[bench])") from None

        rows = [r for r in self.records if r.get("ratio") is not None]
        if not rows:
            raise ValueError("Report.plot: no record has a ratio (was PyTorch missing?)")
        ratios = [r.get("ratio_vs_best") or r["ratio"] for r in rows]
        groups = [r.get("family") or r.get("reference") or "" for r in rows]
        colour = {g: _COLOURS[i % len(_COLOURS)] for i, g in enumerate(dict.fromkeys(groups))}
        fig = Figure(figsize=(10, max(2.5, 0.8 + 0.2 * len(rows))))
        ax = fig.subplots()
        ys = list(range(len(rows)))[::-1]  # the first record at the top
        ax.barh(ys, ratios, color=[colour[g] for g in groups], height=0.7)
        for y, value in zip(ys, ratios):
            ax.text(value, y, f" {value:.2f}", va="center", fontsize=6)
        ax.set_yticks(ys, [_label(r) for r in rows], fontsize=7)
        ax.set_ylim(-0.6, len(rows) - 0.4)
        ax.set_xscale("log")
        lo, hi = min(ratios + [0.5]) / 1.2, max(ratios + [2.0]) * 1.3
        ax.set_xlim(lo, hi)
        ticks = [t for t in (0.1, 0.2, 0.3, 0.5, 0.8, 1, 1.25, 1.5, 2, 3, 5, 10, 20, 50)
                 if lo <= t <= hi]
        ax.set_xticks(ticks, [f"{t:g}" for t in ticks])
        ax.minorticks_off()
        at_one = [name for name, value in self.targets.items() if value == 1.0]
        ax.axvline(1.0, color="black", linewidth=1,
                   label="1 = same speed" + "".join(f"; target {n}" for n in at_one))
        others = [(n, v) for n, v in self.targets.items() if v != 1.0]
        for i, (name, value) in enumerate(others):
            ax.axvline(value, color="gray", linestyle=("--", ":", "-.")[i % 3], linewidth=1,
                       label=f"target {name}")
        handles = [Rectangle((0, 0), 1, 1, color=c) for c in colour.values()]
        lines, names = ax.get_legend_handles_labels()
        ax.legend(handles + lines, [g or "ratio" for g in colour] + names, fontsize=7,
                  loc="upper left", bbox_to_anchor=(1.01, 1.0))
        ax.set_xlabel("time ratio, median of paired runs (< 1: faster than the reference; "
                      "against PyTorch's faster layout where both were measured)", fontsize=8)
        host = self.host
        ax.set_title(title or f"{host.get('cpu', '')}, threads {host.get('threads', '?')}, "
                     f"{str(host.get('date', ''))[:10]}", fontsize=8)
        fig.tight_layout()
        fig.savefig(path, dpi=120)
        return path


def say(out, line):
    """Print ``line`` to the stream ``out`` at once (runners report rows as cases finish);
    nothing when ``out`` is None."""
    if out is not None:
        print(line, file=out, flush=True)


def _label(record):
    parts = [str(record[k]) for k in ("op", "case", "pass") if record.get(k) is not None]
    if record.get("reference") is not None and "op" not in record:
        parts.append(f"vs {record['reference']}")
    return " ".join(parts)


def _cell(text, width):
    return f"{text:<{-width}}" if width < 0 else f"{text:>{width}}"


def _fmt(value):
    if isinstance(value, float):
        return f"{value:.3g}" if math.isfinite(value) else str(value)
    if isinstance(value, dict):
        return ", ".join(f"{k} {_fmt(v)}" for k, v in value.items())
    return str(value)
