"""tap-quickbooks: settings schema and stream list."""

from __future__ import annotations

import os
import typing as t

from singer_sdk import Tap
from singer_sdk import typing as th
from singer_sdk.helpers._classproperty import classproperty
from singer_sdk.helpers.capabilities import PluginCapabilities, TapCapabilities
from typing_extensions import override

from tap_quickbooks import settings as qbo_settings
from tap_quickbooks import streams
from tap_quickbooks.errors import SettingError
from tap_quickbooks.output import FastSingerWriter

if t.TYPE_CHECKING:
    from singer_sdk import Stream

D = qbo_settings.DEFAULTS
# Numbers and flags `load_settings` also accepts as strings (config files written by hand).
_COERCED = (
    "window_days",
    "page_size",
    "minor_version",
    "max_requests_per_minute",
    "max_concurrent_requests",
    "request_timeout",
    "max_retries",
    "include_deletes",
    "max_window_failures",
    "parallel_realms",
    "max_total_requests",
    "max_buffered_pages",
)


class TapQuickBooks(Tap):
    """Singer tap for QuickBooks Online: invoices, customers and items."""

    name = "tap-quickbooks"
    # No BATCH (bookmarks must follow emitted RECORDs) and no ACTIVATE_VERSION (incremental).
    capabilities: t.ClassVar[list[t.Any]] = [
        TapCapabilities.CATALOG,
        TapCapabilities.STATE,
        TapCapabilities.DISCOVER,
        PluginCapabilities.ABOUT,
        PluginCapabilities.STREAM_MAPS,
        PluginCapabilities.FLATTENING,
        PluginCapabilities.STRUCTURED_LOGGING,
    ]
    message_writer_class = FastSingerWriter
    settings: qbo_settings.Settings

    config_jsonschema = th.PropertiesList(
        th.Property(
            "client_id",
            th.StringType,
            required=True,
            description="OAuth 2.0 client id of your Intuit app (Keys & credentials).",
        ),
        th.Property(
            "client_secret",
            th.StringType,
            required=True,
            secret=True,
            description="OAuth 2.0 client secret of your Intuit app.",
        ),
        th.Property(
            "refresh_token",
            th.StringType,
            secret=True,
            description=(
                "OAuth 2.0 refresh token of the company (one per realm, comma-separated in "
                "realm_id order, for several). Intuit rotates it: the latest token is kept in "
                "the token store and used until you configure a different one. Not needed for "
                "a company connected with `tap-quickbooks authorize`."
            ),
        ),
        th.Property(
            "realm_id",
            th.StringType,
            required=True,
            description="QuickBooks company id (digits); several as a comma-separated list.",
        ),
        th.Property(
            "environment",
            th.StringType,
            default=D["environment"],
            allowed_values=["production", "sandbox"],
            description="Intuit API environment; picks the default api_url.",
        ),
        th.Property(
            "api_url",
            th.StringType,
            description="API base URL override (default from environment).",
        ),
        th.Property(
            "auth_url",
            th.StringType,
            description="OAuth 2.0 token endpoint override (default Intuit's).",
        ),
        th.Property(
            "start_date",
            th.DateTimeType,
            required=True,
            description="Earliest MetaData.LastUpdatedTime to extract (inclusive).",
        ),
        th.Property(
            "end_date",
            th.DateTimeType,
            description="Latest MetaData.LastUpdatedTime to extract (exclusive); "
            "default: when the run starts.",
        ),
        th.Property(
            "window_days",
            th.IntegerType,
            default=D["window_days"],
            description="Width of each extraction window in days (1..3660); every window "
            "costs a count request, then its pages and, past one page, a verifying count "
            "every 25 pages.",
        ),
        th.Property(
            "page_size",
            th.IntegerType,
            default=D["page_size"],
            description="Rows per query page (1..1000).",
        ),
        th.Property(
            "minor_version",
            th.IntegerType,
            default=D["minor_version"],
            description="QBO API minorversion sent with every request (75 or more).",
        ),
        th.Property(
            "token_store_path",
            th.StringType,
            default=D["token_store_path"],
            description="JSON file (mode 0600) holding the latest refresh token per app and realm.",
        ),
        th.Property(
            "token_store_url",
            th.StringType,
            secret=True,
            description="postgresql:// URL of a token store shared by runs on several machines "
            "(tables tap_quickbooks.tokens and token_rotations); replaces token_store_path. "
            "Needs the tap's `postgres` extra (psycopg).",
        ),
        th.Property(
            "max_requests_per_minute",
            th.IntegerType,
            default=D["max_requests_per_minute"],
            description="Client-side request budget per realm, shared by all streams "
            "(Intuit allows 500).",
        ),
        th.Property(
            "max_concurrent_requests",
            th.IntegerType,
            default=D["max_concurrent_requests"],
            description="Pages fetched at once per realm (1..10; Intuit allows 10).",
        ),
        th.Property(
            "request_timeout",
            th.NumberType,
            default=D["request_timeout"],
            description="Seconds before a request is abandoned and retried.",
        ),
        th.Property(
            "max_retries",
            th.IntegerType,
            default=D["max_retries"],
            description="Retries of a request after 429, 5xx, timeouts, resets or "
            "truncated bodies (0..20).",
        ),
        th.Property(
            "user_agent",
            th.StringType,
            description="User-Agent header (default tap-quickbooks/<version>).",
        ),
        th.Property(
            "include_deletes",
            th.BooleanType,
            default=D["include_deletes"],
            description="Emit tombstones of deleted invoices from CDC (_sdc_deleted_at).",
        ),
        th.Property(
            "max_window_failures",
            th.IntegerType,
            default=D["max_window_failures"],
            description="Stop after this many consecutive failed attempts at a window.",
        ),
        th.Property(
            "parallel_realms",
            th.BooleanType,
            default=D["parallel_realms"],
            description="Read the companies of realm_id at once (each with its own budget, "
            "concurrency and state); false: one after another.",
        ),
        th.Property(
            "max_total_requests",
            th.IntegerType,
            default=D["max_total_requests"],
            description="Requests in flight across all companies read at once (1..1000); each "
            "gets an equal share, at most max_concurrent_requests.",
        ),
        th.Property(
            "max_buffered_pages",
            th.IntegerType,
            default=D["max_buffered_pages"],
            description="Pages read and waiting to be written, across all companies read at "
            "once (1..1000).",
        ),
    ).to_dict()

    @classproperty
    def _env_var_config(cls) -> dict[str, t.Any]:
        """Settings from `TAP_QUICKBOOKS_*` variables (`--config ENV`).

        A variable that is not a number where one is expected is a setting error.
        """
        try:
            return super()._env_var_config  # type: ignore[no-any-return]
        except ValueError:
            for name, schema in cls.config_jsonschema["properties"].items():
                variable = f"{cls._env_var_prefix}{name.upper()}"
                value = os.environ.get(variable)
                if value is None or "integer" not in str(schema.get("type")):
                    continue
                try:
                    int(value)
                except ValueError:
                    problem = f"must be an integer; environment variable {variable} is {value!r}"
                    raise SettingError(name, problem) from None
            raise

    @override
    def _validate_config(self, *, raise_errors: bool = True) -> list[str]:
        """Validate settings first with one-line errors naming the setting."""
        if raise_errors:
            self.settings = qbo_settings.load_settings(
                self._config, default_user_agent=f"{self.name}/{self.plugin_version}"
            )
            realm = self._config.get("realm_id")
            if isinstance(realm, list | tuple):  # accepted as a list; the schema says string
                self._config["realm_id"] = ",".join(str(r) for r in realm)
            for name in _COERCED:  # e.g. "75" is accepted: hand the schema check the number
                if isinstance(self._config.get(name), str):
                    self._config[name] = getattr(self.settings, name)
        return super()._validate_config(raise_errors=raise_errors)

    @override
    def discover_streams(self) -> list[Stream]:
        return [stream_type(tap=self) for stream_type in streams.STREAM_TYPES]
