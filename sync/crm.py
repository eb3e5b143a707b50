"""Builds the configured CRM connectors and their mappings from the settings."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from pydantic import SecretStr

from connectors.base import CrmConnector
from connectors.hubspot import HubSpotConfig, HubSpotConnector
from connectors.salesforce import SalesforceConfig, SalesforceConnector
from sync.mapping import CompiledMapping, load_mapping
from sync.ratelimits import shared_limits
from sync.settings import ConfigError, Settings

__all__ = ["CRM_CHOICES", "CrmLink", "links"]

CRM_CHOICES = ("salesforce", "hubspot", "all")


@dataclass(frozen=True)
class CrmLink:
    """One CRM object: its connector and its compiled mapping."""

    connector: CrmConnector
    mapping: CompiledMapping


def _secret(value: SecretStr | None) -> str | None:
    return value.get_secret_value() if value is not None else None


def _salesforce(settings: Settings, mapping: CompiledMapping) -> SalesforceConnector:
    sf = settings.salesforce
    return SalesforceConnector(
        SalesforceConfig(
            instance_url=sf.instance_url,
            api_version=sf.api_version,
            auth=sf.auth,
            session_id=_secret(sf.session_id),
            username=sf.username,
            password=_secret(sf.password),
            security_token=_secret(sf.security_token),
            consumer_key=sf.consumer_key,
            consumer_secret=_secret(sf.consumer_secret),
            private_key_file=str(sf.private_key_file) if sf.private_key_file else None,
            domain=sf.domain,
            object_name=mapping.object,
            lookback=timedelta(seconds=settings.sync.lookback_seconds),
            gate=shared_limits(settings),
        )
    )


def _hubspot(settings: Settings, mapping: CompiledMapping) -> HubSpotConnector:
    hs = settings.hubspot
    return HubSpotConnector(
        HubSpotConfig(
            base_url=hs.base_url,
            access_token=_secret(hs.access_token) or "",
            object_type=mapping.object,
            client_id=hs.client_id,
            client_secret=_secret(hs.client_secret),
            refresh_token=_secret(hs.refresh_token),
            lookback=timedelta(seconds=settings.sync.lookback_seconds),
            gate=shared_limits(settings),
        )
    )


def links(settings: Settings, crm: str = "all") -> list[CrmLink]:
    """The enabled CRMs named by ``crm`` (salesforce, hubspot or all), mappings loaded.

    Raises :class:`~sync.mapping.MappingError` for a bad mapping file and
    :class:`ConfigError` for an unknown or disabled CRM.
    """
    if crm not in CRM_CHOICES:
        raise ConfigError(f"--crm must be one of: {', '.join(CRM_CHOICES)} (got {crm!r})")
    out: list[CrmLink] = []
    if crm in ("salesforce", "all") and settings.salesforce.enabled:
        mapping = load_mapping(settings.salesforce.mapping)
        _same_crm(mapping, "salesforce")
        out.append(CrmLink(_salesforce(settings, mapping), mapping))
    if crm in ("hubspot", "all") and settings.hubspot.enabled:
        mapping = load_mapping(settings.hubspot.mapping)
        _same_crm(mapping, "hubspot")
        out.append(CrmLink(_hubspot(settings, mapping), mapping))
    if not out:
        raise ConfigError(f"no enabled CRM matches --crm {crm}")
    return out


def _same_crm(mapping: CompiledMapping, crm: str) -> None:
    if mapping.crm != crm:
        raise ConfigError(f"{mapping.source}: crm = {mapping.crm!r}, but it is the {crm} mapping")
