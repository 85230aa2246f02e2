// The call of jitsi.html: the stock @jitsi/rtcstats client (bundled, window.jitsiRtcstats), set up as
// jitsi-meet sets it up, streams a loopback call to ?endpoint= (the client appends /<meeting> and its
// statsSessionId); each connection sends ?polls= getstats, then the client's close() ends the socket
// (code 3001, conference left). ?endpoint-id= is the participant's id in the identity message. With
// ?reconnect=1 the call goes on until the client's socket closed without its 3001 (the test kills the
// server), the client reconnected and sent ?polls= more getstats of PC_0. The outcome is left in
// window.callResult for the test ({sent, received, statsSessionId, messages, closeCode, closes} or
// {error}); window.statsSent counts the getstats of PC_0 sent so far.
'use strict';

(async () => {
    const params = new URLSearchParams(location.search);
    const polls = Number(params.get('polls') || 3);
    const reconnect = params.get('reconnect') === '1';
    // What the client hands to the socket, as sent (the test compares it with the stored dump).
    const messages = [];
    const send = WebSocket.prototype.send;
    WebSocket.prototype.send = function (data) {
        messages.push(data);
        return send.call(this, data);
    };
    const statsOf = (pcId) => messages.filter((text) => {
        const message = JSON.parse(text);
        return message.type === 'stats-entry' && message.data.startsWith(`["getstats","${pcId}"`);
    }).length;
    // The close codes the client saw (a broken socket, failed reconnects), and PC_0's getstats count
    // once it is connected again after the first of them.
    const closes = [];
    let statsAtReconnect = null;
    const reconnected = (trace) => {
        if (!closes.length || !trace.isConnected()) {
            return false;
        }
        statsAtReconnect ??= statsOf('PC_0');
        return statsOf('PC_0') >= statsAtReconnect + polls;
    };
    try {
        let left;
        const closing = new Promise((resolve) => { left = resolve; });
        const closed = (event) => {
            if (event.code === 3001) {
                left(event);
            } else {
                closes.push(event.code);
            }
        };
        const {rtcstatsInit, traceInit} = window.jitsiRtcstats;
        const trace = traceInit({
            endpoint: params.get('endpoint'),
            meetingFqn: params.get('meeting'),
            onCloseCallback: closed,
            useLegacy: false,
        });
        rtcstatsInit(trace, {pollInterval: 1000, useLegacy: false});
        trace.connect(false);
        // Identity facts as jitsi-meet sends them (conference and endpoint ids, display name).
        const meeting = params.get('meeting');
        trace.identity('identity', null, {
            confID: meeting,
            confName: meeting.split('/').pop(),
            endpointId: params.get('endpoint-id'),
            displayName: 'Loopback Tester',
            applicationName: 'mediaplane tests',
        });
        const call = await loopbackCall({until: () => {
            window.statsSent = statsOf('PC_0');
            return statsOf('PC_0') >= polls && statsOf('PC_1') >= polls && (!reconnect || reconnected(trace));
        }});
        // The connections' close entries went out synchronously; the close frame follows them.
        trace.close();
        const closeEvent = await closing;
        const statsSessionId = JSON.parse(messages[0]).statsSessionId;
        window.callResult = {...call, statsSessionId, messages, closeCode: closeEvent.code, closes};
    } catch (error) {
        window.callResult = {error: String(error && error.stack || error)};
    }
})();
