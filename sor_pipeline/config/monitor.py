"""Monitoring thresholds: :class:`MonitorSettings`, the ``monitor`` section of the pipeline Settings
(``Settings().monitor``; environment ``SOR_MONITOR_<FIELD>``, TOML table ``[monitor]``).

Units are in the field names (``_s`` seconds, ``_bps`` basis points, ``_share`` a fraction in [0, 1],
``_ratio`` today / trailing median). Severities are ``info`` < ``warn`` < ``error``; an ``error``
breach stops the nightly before training (:func:`sor_pipeline.monitoring.has_errors`).
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

Severity = Literal["info", "warn", "error"]
SEVERITIES: tuple[Severity, ...] = ("info", "warn", "error")

#: Canonical tables whose absence for the date is an error (the nightly cannot run without them).
REQUIRED_TABLES: tuple[str, ...] = ("parent_orders", "child_orders", "fills", "quotes", "nbbo")
#: Tables whose absence is a warning (features degrade, nothing is wrong by construction).
OPTIONAL_TABLES: tuple[str, ...] = ("depth", "trades", "venues")


class MonitorSettings(BaseModel):
    """Thresholds and alert channel of the monitor (a section of Settings; see the module docstring)."""

    model_config = ConfigDict(extra="forbid", validate_default=True)

    # --- data-feed health -----------------------------------------------------------------------
    session_open: str | None = Field(None, description="Session start override, HH:MM in Settings.market.timezone; "
                                                        "None = the exchange calendar's (Settings.market.calendar).")
    session_close: str | None = Field(None, description="Session end override, HH:MM; None = the exchange "
                                                         "calendar's (early closes included).")
    quote_gap_s: float = Field(300.0, gt=0, description="Longest tolerated gap between quotes of a "
                                                        "(symbol, venue) within the session, seconds, "
                                                        "until quote_gap_min_history days calibrate it.")
    quote_gap_include_edges: bool = Field(True, description="Count open->first quote and last quote->close.")
    quote_gap_margin: float = Field(2.0, gt=0, description="Calibrated gap threshold = this x the median of the "
                                                           "venue's longest daily gap over the trailing days.")
    quote_gap_min_s: float = Field(60.0, gt=0, description="Floor of the calibrated gap threshold, seconds.")
    quote_gap_min_history: int = Field(3, ge=1, description="Fewer trailing days -> the fixed quote_gap_s.")
    quote_gap_recompute_days: int = Field(5, ge=0, description="Trailing days without monitoring rows whose "
                                                               "gaps are measured from their quotes.")
    bad_quote_warn_share: float = Field(0.01, ge=0, le=1, description="Flagged or crossed venue quotes, share.")
    bad_quote_error_share: float = Field(0.25, ge=0, le=1)
    nbbo_crossed_warn_share: float = Field(0.01, ge=0, le=1, description="Crossed NBBO updates, share.")
    nbbo_crossed_error_share: float = Field(0.25, ge=0, le=1)
    fills_without_quotes_warn_share: float = Field(0.0, ge=0, le=1,
                                                   description="Warn when the share of fills with no NBBO "
                                                               "at/before the fill exceeds this.")
    fills_without_quotes_error_share: float = Field(0.05, ge=0, le=1)
    trailing_days: int = Field(20, ge=1, description="Trailing lake partitions for row counts and venue sets.")
    row_count_min_history: int = Field(3, ge=1, description="Fewer trailing partitions -> info, no verdict.")
    row_count_warn_low: float = Field(0.5, gt=0, description="Warn when rows < this x trailing median.")
    row_count_warn_high: float = Field(2.0, gt=0, description="Warn when rows > this x trailing median.")
    row_count_error_low: float = Field(0.2, gt=0, description="Error when rows < this x trailing median.")
    row_count_error_high: float = Field(5.0, gt=0, description="Error when rows > this x trailing median.")
    required_tables: list[str] = Field(default_factory=lambda: list(REQUIRED_TABLES))
    optional_tables: list[str] = Field(default_factory=lambda: list(OPTIONAL_TABLES))
    missing_venue_severity: Severity = "error"

    # --- drift ----------------------------------------------------------------------------------
    psi_bins: int = Field(10, ge=2, description="Quantile bins of the reference window.")
    psi_epsilon: float = Field(1e-4, gt=0, description="Floor of a bin's share (empty bins).")
    psi_warn: float = Field(0.1, ge=0)
    psi_error: float | None = Field(0.25, ge=0, description="PSI at which drift is severe.")
    drift_severe_severity: Severity = Field("warn", description="Severity of PSI >= psi_error; 'error' makes "
                                                                 "severe drift stop the nightly.")
    drift_min_rows: int = Field(50, ge=1, description="Fewer rows on either side -> info, no PSI verdict.")
    psi_calibration_quantile: float = Field(0.99, gt=0.5, lt=1, description="Calibrated PSI warn threshold: "
                                            "this upper prediction bound of one reference day's PSI against the "
                                            "other reference days (log-normal, Student t; at least psi_warn).")
    psi_calibration_min_days: int = Field(3, ge=2, description="Fewer reference days -> the fixed psi_warn.")

    # --- model health ---------------------------------------------------------------------------
    model_bias_warn_bps: float = Field(2.0, ge=0, description="|mean(predicted - realized)| per venue, bps.")
    fill_calibration_warn: float = Field(0.10, ge=0, le=1, description="|mean p_fill - fill rate| per venue.")
    brier_warn: float = Field(0.25, ge=0, le=1, description="Brier score of p_fill per venue (0.25 = coin).")
    champion_vs_static_warn_bps: float = Field(0.5, description="Warn when the champion's IPW cost exceeds "
                                                                 "the static waterfall's by more, bps.")
    router_fallback_warn_share: float = Field(0.05, ge=0, le=1, description="Parents with a router fallback.")
    router_fallback_error_share: float | None = Field(None, ge=0, le=1)
    model_min_rows: int = Field(20, ge=1, description="Fewer scored rows per venue -> info, no verdict.")

    # --- alerts ---------------------------------------------------------------------------------
    alert_webhook_url: str | None = Field(None, description="JSON POST target for alerts; None = no webhook.")
    alert_timeout_s: float = Field(5.0, gt=0, description="Webhook request timeout, seconds.")
    alert_min_severity: Severity = Field("warn", description="Lowest breach severity that raises an alert.")
    severity_overrides: dict[str, Severity] = Field(
        default_factory=dict, description="check name -> severity of its breaches (e.g. {\"psi_feature\": \"error\"}).")
