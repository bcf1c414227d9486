"""tap-quickbooks: the settings schema and the stream list, nothing else."""

from __future__ import annotations

import os
import typing as t

from singer_sdk.helpers.capabilities import PluginCapabilities, TapCapabilities
from typing_extensions import override

from tap_quickbooks import report_streams, streams
from tap_quickbooks import settings as qbo_settings
from tap_quickbooks.errors import SettingError
from tap_quickbooks.output import FastSingerWriter, FastStateWriter
from tap_quickbooks.sdk_internals import InternalsTap

if t.TYPE_CHECKING:
    from singer_sdk import Stream


class TapQuickBooks(InternalsTap):
    """Singer tap for QuickBooks Online: every entity, each one stream."""

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

    config_jsonschema = qbo_settings.config_jsonschema()

    def __init__(self, *args: t.Any, **kwargs: t.Any) -> None:
        """The SDK's tap, writing STATE with :class:`FastStateWriter`."""
        super().__init__(*args, **kwargs)
        if isinstance(self.message_writer, FastSingerWriter):
            self.use_state_writer(FastStateWriter(self.message_writer))

    @classmethod
    @override
    def explain_env_var_error(cls, prefix: str) -> None:
        """Name the `TAP_QUICKBOOKS_*` variable that is not the number it should be."""
        for name, schema in cls.config_jsonschema["properties"].items():
            variable = f"{prefix}{name.upper()}"
            value = os.environ.get(variable)
            if value is None or "integer" not in str(schema.get("type")):
                continue
            try:
                int(value)
            except ValueError:
                problem = f"must be an integer; environment variable {variable} is {value!r}"
                raise SettingError(name, problem) from None

    @override
    def prepare_config(self, config: dict[str, t.Any]) -> None:
        self.settings = qbo_settings.load_settings(
            config, default_user_agent=f"{self.name}/{self.plugin_version}"
        )
        realm = config.get("realm_id")
        if isinstance(realm, list | tuple):  # accepted as a list; the schema says string
            config["realm_id"] = ",".join(str(r) for r in realm)
        for name in qbo_settings.coerced():  # e.g. "75" is accepted: hand the schema the number
            if isinstance(config.get(name), str):
                config[name] = getattr(self.settings, name)
        if isinstance(config.get("entity_overrides"), str):
            config["entity_overrides"] = self.settings.entity_overrides
        known = {stream.entity for stream in streams.STREAM_TYPES}
        unknown = sorted(set(self.settings.entity_overrides) - known)
        if unknown:
            raise SettingError("entity_overrides", f"unknown entities {unknown}")

    @override
    def discover_streams(self) -> list[Stream]:
        types = (*streams.STREAM_TYPES, *report_streams.REPORT_STREAM_TYPES)
        return [stream_type(tap=self) for stream_type in types]
