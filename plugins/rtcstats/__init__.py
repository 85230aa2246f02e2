"""rtcstats plugin: upload and analysis of WebRTC stats dumps (webrtc-internals and rtcstats files)."""

from plugins.rtcstats import compiled

# Before any parser module is imported: a compiled module whose source changed must run as Python.
compiled.install()
