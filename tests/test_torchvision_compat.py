import sys
import subprocess

import pytest

import pneumolib._torchvision_compat as compat

pytestmark = pytest.mark.integration  # starts processes: the integration layer


def test_torchvision_imports_after_pneumolib():
    code = "import pneumolib, torchvision, torchvision.models as m; from torchvision.transforms import v2; print(m.resnet18().fc.in_features)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "512"


def test_noop_when_torchvision_already_imported():
    assert "torchvision" in sys.modules
    assert compat.ensure_torchvision_importable() is False


def test_noop_when_extension_loads():
    """Where torchvision's own extension loads (a normal install), nothing is defined."""
    # Load the module file alone: importing the package would already have run the fix.
    code = (
        "import importlib.util, sys\n"
        f"spec = importlib.util.spec_from_file_location('compat', {compat.__file__!r})\n"
        "c = importlib.util.module_from_spec(spec); spec.loader.exec_module(c)\n"
        "c._extension_loads = lambda d: True\n"
        "print(c.ensure_torchvision_importable(), c._fragment, 'torchvision' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False None False"


def test_fix_is_needed_and_applied_here():
    """On a CPU-only torch with the CUDA torchvision wheel, the extension fails and the fix applies."""
    code = (
        "import importlib.util\n"
        f"spec = importlib.util.spec_from_file_location('compat', {compat.__file__!r})\n"
        "c = importlib.util.module_from_spec(spec); spec.loader.exec_module(c)\n"
        "applied = c.ensure_torchvision_importable()\n"
        "import torchvision\n"
        "print(applied)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    import torch

    expected = "True" if torch.version.cuda is None and "+cu" in __import__("torchvision").__version__ else None
    if expected:
        assert out.stdout.strip() == expected
    else:  # a matching CPU/CUDA pair: the extension loads and nothing is needed
        assert out.stdout.strip() == "False"
