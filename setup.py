"""Build script for minicnn's compiled parts.

The Cython extension ``minicnn.backends._cpu`` wraps the C99 kernels in ``csrc/cpu``. They are
compiled with ``-O3`` and OpenMP; OpenMP is test-compiled first, and a compiler without it gets a
warning and a serial build (the kernels guard every pragma with ``#ifdef _OPENMP``).
"""
import os
import shutil
import sys
import tempfile
import warnings
from glob import glob

import numpy as np
from Cython.Build import cythonize
from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

CPU_SOURCES = sorted(glob(os.path.join("csrc", "cpu", "*.c")))

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


class BuildExt(build_ext):
    """build_ext that adds OpenMP flags when the compiler accepts them, and warns when it does not."""

    def build_extensions(self):
        if os.environ.get("MINICNN_OPENMP", "1") == "0":
            omp_compile, omp_link = [], []
            warnings.warn("MINICNN_OPENMP=0: building minicnn's C kernels without OpenMP (serial).")
        elif _compiler_supports(self.compiler, ["-fopenmp"], ["-fopenmp"]):
            omp_compile, omp_link = ["-fopenmp"], ["-fopenmp"]
        else:
            omp_compile, omp_link = [], []
            msg = ("minicnn: the C compiler does not support OpenMP (-fopenmp); "
                   "building serial kernels. Install a compiler with OpenMP (gcc, or clang with libomp) "
                   "for multi-threaded kernels.")
            warnings.warn(msg)
            print("WARNING: " + msg, file=sys.stderr)
        for ext in self.extensions:
            ext.extra_compile_args = ["-O3"] + omp_compile + ext.extra_compile_args
            ext.extra_link_args = omp_link + ext.extra_link_args
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
