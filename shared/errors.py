"""Typed errors raised at the boundaries of the shared contract."""


class SignstreamError(Exception):
    """Base for every error signstream reports to a user as one line."""


class SpecMismatchError(SignstreamError):
    """A model, request or dataset does not fit the feature spec it is used with."""


class DatasetError(SignstreamError):
    """A dataset file is unreadable or its arrays are malformed."""


class BundleError(SignstreamError):
    """A model bundle is incomplete, tampered with or malformed."""


class ProtocolError(SignstreamError):
    """A request or binary payload does not follow the wire protocol."""
