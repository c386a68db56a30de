"""Model and dataset registry: a store (S3 or a folder), signed bundles, promotion and a sync loop.

Modules: ``store`` (bytes in and out of S3 or ``file://``), ``registry`` (layout, push, pull,
promote, rollback), ``sync`` (follow ``current``; bundles are signed and opened by
``shared.model.signing`` and ``shared.model.open_bundle``),
``settings`` and ``cli`` (the ``signstream push|pull|models|promote|rollback|signing-key`` commands).
"""
