// The call of rtcstats5.html: our rtcstats#5.0 client streams a loopback call to ?collector=<ws URL>
// until each connection has sent ?polls= getStats, then closes the socket as rtcstats-js's
// trace.close() does: close() without a code. The outcome is left in window.callResult for the test
// ({sent, received, messages, closeCode} or {error}).
'use strict';

(async () => {
    const params = new URLSearchParams(location.search);
    const polls = Number(params.get('polls') || 3);
    const trace = rtcstats5.start(params.get('collector'), {getStatsInterval: 1000});
    try {
        const call = await loopbackCall({
            until: () => Object.values(trace.statsSent).every((count) => count >= polls),
        });
        await trace.drain();
        trace.close();
        const closed = await trace.closed;
        window.callResult = {...call, messages: trace.sent, closeCode: closed.code};
    } catch (error) {
        window.callResult = {error: String(error && error.stack || error)};
    }
})();
