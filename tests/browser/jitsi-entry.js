// Entry of the stock @jitsi/rtcstats client for jitsi.html: the package is ES modules with
// dependencies, so the test bundles this file with esbuild into one script (an IIFE) that exposes
// the client's two modules, unchanged, as window.jitsiRtcstats.
import rtcstatsInit from '@jitsi/rtcstats/rtcstats';
import traceInit from '@jitsi/rtcstats/trace-ws';

window.jitsiRtcstats = {rtcstatsInit, traceInit};
