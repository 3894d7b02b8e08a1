"""Breaks "the entry point loads": imports a module its package does not depend on."""

import cashier_kit_no_such_dependency  # noqa: F401
