"""pytest fixtures shared by the test modules."""

import pytest


@pytest.fixture(scope="session")
def live_vdso_file(tmp_path_factory):
    import vdsotime

    path = tmp_path_factory.mktemp("live") / "vdso.so"
    path.write_bytes(vdsotime.vdso_image())
    return path
