"""rtcstats plugin: upload and analysis of WebRTC stats dumps (webrtc-internals and rtcstats files)."""
