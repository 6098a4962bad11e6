"""Copies the built libpipeline.so into the package (pip install ./python after scripts/setup.sh build).

The library is taken from $PIPELINE_LIBRARY, else from the repository's build/ (or build-cpu/) folder."""
import os
import shutil

from setuptools import setup
from setuptools.command.build_py import build_py

HERE = os.path.dirname(os.path.abspath(__file__))


def find_library():
    env = os.environ.get("PIPELINE_LIBRARY")
    if env:
        return env
    for build in ("build", "build-cpu"):
        p = os.path.join(HERE, "..", build, "libpipeline.so")
        if os.path.exists(p):
            return p
    raise SystemExit("libpipeline.so not found: build the project first (scripts/setup.sh build), or set "
                     "PIPELINE_LIBRARY to its path")


class BuildPy(build_py):
    def run(self):
        super().run()
        dst = os.path.join(self.build_lib, "pipeline", "libpipeline.so")
        os.makedirs(os.path.dirname(dst), exist_ok=True)
        shutil.copyfile(os.path.realpath(find_library()), dst)


setup(cmdclass={"build_py": BuildPy})
