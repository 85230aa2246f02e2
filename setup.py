"""Builds the Cython extensions of rtcstats' parser and analysis (the rest of the metadata is in setup.cfg).

Each module of plugins.rtcstats.compiled.MODULES is compiled from its own .py source (a .pxd beside it
may add C types) with Cython, which pip installs for the build (pyproject.toml). A build that fails
(no C compiler) is a warning, not an error: those modules then run as Python. After a build,
plugins/rtcstats/compiled-build.json records the SHA-256 of each source compiled, which is how the
plugin notices a source edited since (see plugins/rtcstats/compiled.py).
"""

import json
import os
import runpy
from pathlib import Path

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

HERE = Path(__file__).resolve().parent
COMPILED = runpy.run_path(str(HERE / "plugins" / "rtcstats" / "compiled.py"))


def _extensions():
    try:
        from Cython.Build import cythonize
    except ImportError:  # only when pip's build isolation is off and Cython is not installed
        print("warning: Cython is not installed: the rtcstats parser runs as Python")
        return []
    modules = [
        # no fused multiply-add: a*b+c rounded once is not Python's float arithmetic (mos.py)
        Extension(name, [name.replace(".", "/") + ".py"], extra_compile_args=["-O2", "-ffp-contract=off"])
        for name in COMPILED["MODULES"]
    ]
    # Python semantics throughout: annotations do not become C types (only the .pxd files declare
    # those), so both paths give the same values.
    directives = {"language_level": 3, "annotation_typing": False, "binding": False}
    # one Cython process per core: the analysis modules are most of the build's time
    threads = os.cpu_count() or 1
    return cythonize(
        modules, compiler_directives=directives, build_dir="build/cython", quiet=True, nthreads=threads
    )


class OptionalBuildExt(build_ext):
    """Compiles what it can, then writes the manifest of the sources compiled."""

    def finalize_options(self):
        super().finalize_options()
        if not self.parallel:  # compile the extensions on every core (`-j N` on the command line wins)
            self.parallel = os.cpu_count() or 1

    def run(self):
        self.built = {}
        super().run()
        if not self.extensions:
            return
        first = Path(self.get_ext_fullpath(self.extensions[0].name))
        root = first.parents[len(self.extensions[0].name.split(".")) - 1]
        manifest = root / "plugins" / "rtcstats" / COMPILED["MANIFEST_NAME"]
        manifest.parent.mkdir(parents=True, exist_ok=True)
        manifest.write_text(json.dumps(self.built, indent=1, sort_keys=True) + "\n")

    def build_extension(self, ext):
        try:
            super().build_extension(ext)
        except Exception as err:  # noqa: BLE001 - any compiler failure leaves the Python module in use
            print(f"warning: {ext.name} not compiled ({type(err).__name__}: {err}): it runs as Python")
            return
        self.built[ext.name] = COMPILED["source_digest"](HERE / (ext.name.replace(".", "/") + ".py"))


setup(ext_modules=_extensions(), cmdclass={"build_ext": OptionalBuildExt})
