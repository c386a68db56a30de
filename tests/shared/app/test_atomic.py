"""Writing through a temporary name (shared/app/atomic.py)."""


def test_files_get_the_users_umask_and_private_ones_stay_private(tmp_path):
    """A dataset, a bundle or a report is read by others (a service account); a key file is not."""
    import os

    from shared.app.atomic import atomic_file

    old = os.umask(0o022)
    try:
        with atomic_file(tmp_path / "data.npz") as fh:
            fh.write(b"x")
        with atomic_file(tmp_path / "key.pem", private=True) as fh:
            fh.write(b"secret")
    finally:
        os.umask(old)
    assert (tmp_path / "data.npz").stat().st_mode & 0o777 == 0o644
    assert (tmp_path / "key.pem").stat().st_mode & 0o777 == 0o600
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data.npz", "key.pem"]  # no temporary left
