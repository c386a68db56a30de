"""Model and dataset registry: a store (S3 or a folder), signed bundles, promotion and a sync loop.

Modules: ``store`` (bytes in and out of S3 or ``file://``), ``registry`` (layout, push, pull,
promote, rollback), ``signing`` (ed25519 over manifest.json), ``sync`` (follow ``current``),
``settings`` and ``cli`` (the ``signstream push|pull|models|promote|rollback|signing-key`` commands).
"""
