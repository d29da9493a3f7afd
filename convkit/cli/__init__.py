"""Command-line wiring; format logic lives in the package, not here."""
