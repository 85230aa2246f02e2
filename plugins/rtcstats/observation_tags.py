"""The observation tags, apart from the analysis: config schemas validate against them cheaply."""

TAGS = (
    "connectivity",
    "security",
    "audio",
    "video",
    "datachannel",
    "outbound",
    "inbound",
    "peripheral",
    "behavior",
    "network",
    "configuration",
    "cpu",
    "bug",
)
