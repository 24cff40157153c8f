"""The exceptions robnetzoo raises for problems the *user* can fix.

Library code raises these and never exits; the CLI maps every ``RobnetzooError`` to one line
on stderr and exit code 2. Anything else escaping is a bug (exit 1, traceback with ``--debug``).
Each message names the problem and the fix, so it can be shown as it is.
"""

from __future__ import annotations


class RobnetzooError(Exception):
    """Base class: a problem with the user's input or environment, not a bug in robnetzoo."""


class InvalidInput(RobnetzooError, ValueError):
    """An argument, genotype, tensor or file that is well-formed but wrong for the request."""


class NotFound(RobnetzooError, LookupError):
    """A model, repository, file or data set that does not exist where we looked."""


class IntegrityError(RobnetzooError):
    """A file that exists but is corrupt, truncated, or does not match its config."""


class MissingDependency(RobnetzooError, ImportError):
    """An optional extra is needed for this feature (the message names the pip command)."""
