"""Build script for minicnn's compiled parts.

The Cython extension ``minicnn.backends._cpu`` wraps the C99 kernels in ``csrc/cpu``. The
kernels are compiled with ``-O3`` and OpenMP, the Cython glue (argument handling only) with
``-O1``, all without debug information, one source per core in parallel (``MINICNN_BUILD_JOBS``,
default: the number of cores), longest first; each source is named as it starts (``pip install
-v`` shows it). OpenMP is test-compiled first, and a compiler without it gets a warning and a
serial build (the kernels guard every pragma with ``#ifdef _OPENMP``).

The optional CUDA module: ``csrc/cuda/*.cu`` compiled by nvcc, in one invocation, into
``minicnn/backends/cuda/libminicnn_cuda.so`` (loaded with ctypes; the CUDA runtime linked
statically so that the library loads on machines without a GPU). ``MINICNN_CUDA``: ``auto``
(default: build when nvcc is found -- ``$NVCC``, ``$CUDA_HOME/bin/nvcc``, then PATH -- and an
NVIDIA driver is installed, i.e. where the module can be used; warn and go on CPU-only when nvcc
fails), ``1`` (build whenever nvcc is found, driver or not; missing or failing nvcc is an error),
``0`` (skip). ``MINICNN_CUDA_ARCH``: the compute capabilities to build, e.g. ``"75,80,90"``
(the default: sm_75, sm_80, sm_90 and PTX for the last, which newer GPUs JIT-compile).
"""
import ctypes
import os
import shutil
import subprocess
import sys
import tempfile
import warnings
from concurrent.futures import ThreadPoolExecutor
from glob import glob

import numpy as np
from Cython.Build import cythonize
from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

CPU_SOURCES = sorted(glob(os.path.join("csrc", "cpu", "*.c")))
CUDA_SOURCES = sorted(glob(os.path.join("csrc", "cuda", "*.cu")))
# the kernel sources that take longest to compile (measured), started first
SLOWEST = ("conv_f32.c", "conv_f64.c")
CUDA_DEPENDS = CUDA_SOURCES + sorted(glob(os.path.join("csrc", "cuda", "*.h"))
                                     + glob(os.path.join("csrc", "cuda", "*.cuh")))
CUDA_LIB = os.path.join("minicnn", "backends", "cuda", "libminicnn_cuda.so")
CUDA_DEFAULT_ARCH = "75,80,90"  # nvcc 13 starts at sm_75; never one GPU only

OPENMP_PROBE = """
#include <omp.h>
int main(void) {
    int n = 0;
    #pragma omp parallel reduction(+:n)
    n += 1;
    return n > 0 ? 0 : 1;
}
"""


def _compiler_supports(compiler, compile_flags, link_flags):
    """Compile and link a tiny OpenMP program with ``compiler`` and the given flags."""
    tmp = tempfile.mkdtemp(prefix="minicnn-omp-")
    try:
        src = os.path.join(tmp, "probe.c")
        with open(src, "w") as f:
            f.write(OPENMP_PROBE)
        objects = compiler.compile([src], output_dir=tmp, extra_postargs=compile_flags)
        compiler.link_executable(objects, "probe", output_dir=tmp, extra_postargs=link_flags)
        return True
    except Exception:  # any compile or link failure means "no OpenMP here"
        return False
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _find_nvcc():
    """nvcc from $NVCC, $CUDA_HOME/bin or PATH; None when there is none."""
    candidates = [os.environ.get("NVCC")]
    if os.environ.get("CUDA_HOME"):
        candidates.append(os.path.join(os.environ["CUDA_HOME"], "bin", "nvcc"))
    candidates.append(shutil.which("nvcc"))
    return next((c for c in candidates if c and os.access(c, os.X_OK)), None)


def _nvidia_driver_present():
    """Whether the NVIDIA driver's libcuda, which the CUDA module needs at run time, loads."""
    try:
        ctypes.CDLL("libcuda.so.1")
        return True
    except OSError:
        return False


def _gencode_flags(archs):
    """-gencode flags for compute capabilities like "75,80,90" (or "sm_86"): SASS for each, PTX
    for the newest so that later GPUs can JIT-compile it; and the define MC_CUDA_ARCHS that
    lists them."""
    caps = [a.strip().removeprefix("sm_").removeprefix("compute_")
            for a in archs.replace(";", ",").replace(" ", ",").split(",") if a.strip()]
    if not caps or not all(c.isdigit() for c in caps):
        raise ValueError(f"MINICNN_CUDA_ARCH={archs!r}: expected compute capabilities such as "
                         f"'75,80,90'")
    flags = [f"-gencode=arch=compute_{c},code=sm_{c}" for c in caps[:-1]]
    last = caps[-1]
    flags.append(f"-gencode=arch=compute_{last},code=[sm_{last},compute_{last}]")
    # what the library reports it was built for (minicnn names the GPUs it cannot run); one
    # argument with spaces: nvcc splits -D values at commas
    built = " ".join([f"sm_{c}" for c in caps] + [f"compute_{last}"])
    return flags + [f"-DMC_CUDA_ARCHS={built}"]


def build_cuda(out_path):
    """Compile csrc/cuda into ``out_path`` as MINICNN_CUDA asks; skipped when up to date (newer
    than the sources, and built for the same MINICNN_CUDA_ARCH: ``out_path + ".cmd"`` keeps the
    nvcc command)."""
    mode = os.environ.get("MINICNN_CUDA", "auto")
    if mode not in ("auto", "0", "1"):
        raise SystemExit(f"MINICNN_CUDA={mode!r}: expected auto, 0 or 1")
    if mode == "0":
        return
    gencode = _gencode_flags(os.environ.get("MINICNN_CUDA_ARCH", CUDA_DEFAULT_ARCH))
    nvcc = _find_nvcc()
    if nvcc is None:
        if mode == "1":
            raise SystemExit("minicnn: MINICNN_CUDA=1 but nvcc was not found ($NVCC, "
                             "$CUDA_HOME/bin, PATH)")
        print("minicnn: nvcc not found ($NVCC, $CUDA_HOME/bin, PATH): building without the "
              "CUDA module")
        return
    if mode == "auto" and not _nvidia_driver_present():
        print("minicnn: no NVIDIA driver found: building without the CUDA module "
              "(MINICNN_CUDA=1 builds it anyway)")
        return
    cmd = ([nvcc, "-O3", "-shared", "-Xcompiler", "-fPIC", "-cudart", "static", "-std=c++17",
            "-I" + os.path.join("csrc", "cuda")]
           + gencode + CUDA_SOURCES + ["-o", out_path, "-ldl"])
    # up to date: newer than every source and built by the same command (same architectures)
    stamp = out_path + ".cmd"
    newest = max(os.path.getmtime(f) for f in CUDA_DEPENDS)
    if os.path.exists(out_path) and os.path.getmtime(out_path) >= newest \
            and os.path.exists(stamp) and open(stamp).read() == " ".join(cmd):
        return
    os.makedirs(os.path.dirname(out_path), exist_ok=True)
    print("minicnn: compiling the CUDA module: " + " ".join(cmd), flush=True)
    try:
        subprocess.run(cmd, check=True)
        with open(stamp, "w") as f:
            f.write(" ".join(cmd))
    except (OSError, subprocess.CalledProcessError) as exc:
        if mode == "1":
            raise SystemExit(f"minicnn: building the CUDA module failed ({exc}) and "
                             "MINICNN_CUDA=1 requires it") from exc
        msg = f"minicnn: building the CUDA module failed ({exc}); building without it"
        warnings.warn(msg)
        print("WARNING: " + msg, file=sys.stderr)


def _parallel_compile(compiler, jobs):
    """Make ``compiler.compile`` compile its sources ``jobs`` at a time, the slowest first, naming
    each as it starts: the Cython glue at -O1 (it only checks arguments and calls the kernels),
    the kernels as given (-O3)."""
    serial = compiler.compile

    def compile_one(source, output_dir, macros, include_dirs, debug, extra_preargs,
                    extra_postargs, depends):
        post = list(extra_postargs or [])
        if source.endswith(".c") and source.startswith("minicnn"):  # Cython's output
            post.append("-O1")
        print(f"minicnn: compiling {source}", flush=True)
        return serial([source], output_dir, macros, include_dirs, debug, extra_preargs, post,
                      depends)

    def compile_all(sources, output_dir=None, macros=None, include_dirs=None, debug=0,
                    extra_preargs=None, extra_postargs=None, depends=None):
        order = sorted(sources, key=lambda src: (os.path.basename(src) not in SLOWEST,
                                                 -os.path.getsize(src)))
        for obj in compiler.object_filenames(sources, output_dir=output_dir):
            os.makedirs(os.path.dirname(obj) or ".", exist_ok=True)  # not from two threads
        with ThreadPoolExecutor(jobs) as pool:
            done = pool.map(lambda src: compile_one(src, output_dir, macros, include_dirs, debug,
                                                    extra_preargs, extra_postargs, depends),
                            order)
            objects = dict(zip(order, done))
        return [obj for source in sources for obj in objects[source]]

    compiler.compile = compile_all


class BuildExt(build_ext):
    """build_ext that adds OpenMP flags when the compiler accepts them (and warns when it does
    not), compiles the sources in parallel, then builds the optional CUDA module."""

    def run(self):
        super().run()
        in_source = self.inplace or getattr(self, "editable_mode", False)
        build_cuda(CUDA_LIB if in_source else os.path.join(self.build_lib, CUDA_LIB))

    def build_extensions(self):
        if os.environ.get("MINICNN_OPENMP", "1") == "0":
            omp_compile, omp_link = [], []
            warnings.warn("MINICNN_OPENMP=0: building minicnn's C kernels without OpenMP (serial).")
        elif _compiler_supports(self.compiler, ["-fopenmp"], ["-fopenmp"]):
            omp_compile, omp_link = ["-fopenmp"], ["-fopenmp"]
        else:
            omp_compile, omp_link = [], []
            msg = ("minicnn: the C compiler does not support OpenMP (-fopenmp); "
                   "building serial kernels. Install a compiler with OpenMP "
                   "(gcc, or clang with libomp) for multi-threaded kernels.")
            warnings.warn(msg)
            print("WARNING: " + msg, file=sys.stderr)
        for ext in self.extensions:
            # -g0: debug information doubled the compile time of the kernels; -Wno-psabi: GCC's
            # note on passing 64-byte vectors, which the kernels only pass to inlined helpers
            # (the pragma in conv_kernels.h does not silence notes)
            ext.extra_compile_args = (["-O3", "-g0", "-Wno-psabi"] + omp_compile
                                      + ext.extra_compile_args)
            ext.extra_link_args = omp_link + ext.extra_link_args
        jobs = int(os.environ.get("MINICNN_BUILD_JOBS", 0)) or os.cpu_count() or 1
        _parallel_compile(self.compiler, jobs)
        super().build_extensions()


extensions = [
    Extension(
        "minicnn.backends._cpu",
        sources=["minicnn/backends/_cpu.pyx"] + CPU_SOURCES,
        include_dirs=[os.path.join("csrc", "cpu"), np.get_include()],
        # rebuild when a header or an included .pxi changes
        depends=sorted(glob(os.path.join("csrc", "cpu", "*.h")) + glob("minicnn/backends/*.pxi")),
        define_macros=[("NPY_NO_DEPRECATED_API", "NPY_2_0_API_VERSION")],
    )
]

setup(
    ext_modules=cythonize(
        extensions,
        compiler_directives={"language_level": "3", "boundscheck": False, "wraparound": False,
                             "cdivision": True, "embedsignature": True},
    ),
    cmdclass={"build_ext": BuildExt},
)
