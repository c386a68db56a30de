"""The contract both sides of signstream share: feature spec, normalisation, protocol, bundles, datasets."""

__version__ = "0.1.0"
