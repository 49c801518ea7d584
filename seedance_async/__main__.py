"""``python -m seedance_async`` runs the command-line interface."""

from __future__ import annotations

from seedance_async.cli import main

raise SystemExit(main())
