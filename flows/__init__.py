"""Prefect flows: they only wire the plain functions of ``sor_pipeline`` into tasks and flows.

Importing this package exports the runtime environment from the settings (Prefect's home under
``SOR_HOME``, telemetry off, ephemeral-server timeout) before Prefect itself is imported.
"""

from sor_pipeline.config.settings import apply_runtime_env, get_settings

apply_runtime_env(get_settings())
