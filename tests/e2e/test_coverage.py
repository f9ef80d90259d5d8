"""The README's API coverage table is what `xapi-server api-coverage --summary` prints now."""
import os
import re
import subprocess

from conftest import BINARY, ROOT


def test_readme_shows_the_current_api_coverage():
    out = subprocess.run([BINARY, "api-coverage", "--summary"], capture_output=True, text=True, check=True,
                         timeout=60).stdout
    assert re.match(r"\d+ of \d+ messages implemented", out)
    with open(os.path.join(ROOT, "README.md")) as f:
        readme = f.read()
    shown = readme.split("<!-- api-coverage -->\n", 1)[1].split("<!-- /api-coverage -->", 1)[0]
    assert shown == out, "README.md's coverage table is stale: run scripts/api-coverage --summary"
