"""The `lore-remote` kind: another Lore deployment, asked at question time through its Knowledge API
(knowledge/federation.py); nothing of it is synced or stored here. It lives beside the federation that
serves it and registers through the `lore.connectors` entry points like every other kind."""

from __future__ import annotations

from knowledge.kinds import fields
from knowledge.kinds.checks import without_trailing_slash
from knowledge.kinds.contract import LOCATION, ConnectorKind, FieldSpec

REMOTE_KIND = "lore-remote"

KIND = ConnectorKind(
    name=REMOTE_KIND,
    label="Another Lore (federated search: asked at question time, nothing copied)",
    summary="another Lore deployment, searched through its Knowledge API at question time",
    order=60,
    location_type="url",
    location_hint="the other Lore's API URL, e.g. https://lore.hr.example.com",
    location_word="the URL",
    normalise=without_trailing_slash,
    single_location=True,
    credentials="required",
    overrides=False,
    fields=[
        fields.source_id("hr-lore"),
        FieldSpec(
            name=LOCATION,
            label="Its API URL",
            hint="The base URL of the other Lore's `lore api`, as this Lore reaches it.",
            placeholder="https://lore.hr.example.com",
        ),
        fields.access(
            "Comma-separated: public, group:NAME or user:EMAIL. The other Lore also limits what its "
            "key may read.",
            "Who here may see its results",
            "group:staff",
        ),
        fields.every(
            "Health check", "How often `/lore sources` checks that it answers: 30m, 1h, 6h, or manual."
        ),
        fields.credentials(
            f"{fields.SECRET_WHERE} holding an API key of the other Lore (`lore apikey create` there).",
            "LORE_SECRET_HR_LORE or /run/secrets/hr-lore",
            label="Its API key (a reference, never the key)",
        ),
    ],
    usage="<id> <https://other-lore> access=group:x credentials=LORE_SECRET_X",
    question_time=True,
)
