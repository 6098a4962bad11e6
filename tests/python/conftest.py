"""pytest set-up: the package from python/ (or the installed one) and the repository root as the working folder."""
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
if os.environ.get("PIPELINE_TEST_INSTALLED") != "1":
    sys.path.insert(0, os.path.join(ROOT, "python"))
os.chdir(ROOT)
